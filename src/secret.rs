//! Secrets (the API key, `env:` header values) never leave the process in clear: every text
//! the harness writes (messages, curl commands, snapshots, reports) passes through
//! [`Secrets::redact`], which also catches a server echoing a key back.

use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// Registers a secret. Very short values are not registered: redacting every `a` in the
    /// output would hide everything and protect nothing.
    pub fn add(&mut self, value: &str) {
        if value.chars().count() >= 4 && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_string());
            // Longest first, so a secret that contains another is replaced whole.
            self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.values {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Redacts every string (and key) of a JSON value.
    pub fn redact_json(&self, value: &Value) -> Value {
        if self.values.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.redact_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.redact(k), self.redact_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replaces_every_occurrence_in_text_and_json() {
        let mut secrets = Secrets::default();
        secrets.add("sk-secret-123");
        secrets.add("ab");
        assert_eq!(
            secrets.redact("Bearer sk-secret-123 and sk-secret-123 ab"),
            "Bearer [redacted] and [redacted] ab"
        );
        assert_eq!(
            secrets.redact_json(&json!({"echo": ["x sk-secret-123"], "sk-secret-123": 1})),
            json!({"echo": ["x [redacted]"], "[redacted]": 1})
        );
    }
}
