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
        if value.chars().count() < 4 {
            return;
        }
        // A server echoing the secret inside a JSON string escapes it (quotes, backslashes,
        // control characters): that spelling is a secret too.
        let escaped = Value::String(value.to_string()).to_string();
        let escaped = &escaped[1..escaped.len() - 1];
        for form in [value, escaped] {
            if !self.values.iter().any(|v| v == form) {
                self.values.push(form.to_string());
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
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

    /// Whether any secret appears in `bytes`.
    pub fn appears_in(&self, bytes: &[u8]) -> bool {
        self.values.iter().any(|secret| {
            let secret = secret.as_bytes();
            bytes.windows(secret.len()).any(|w| w == secret)
        })
    }

    /// Redacts raw bytes (an answer's body or header value), which need not be UTF-8.
    pub fn redact_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        let mut out = bytes;
        for secret in &self.values {
            let secret = secret.as_bytes();
            if !out.windows(secret.len()).any(|w| w == secret) {
                continue;
            }
            let mut replaced = Vec::with_capacity(out.len());
            let mut rest = out.as_slice();
            while let Some(at) = rest.windows(secret.len()).position(|w| w == secret) {
                replaced.extend_from_slice(&rest[..at]);
                replaced.extend_from_slice(REDACTED.as_bytes());
                rest = &rest[at + secret.len()..];
            }
            replaced.extend_from_slice(rest);
            out = replaced;
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

    #[test]
    fn redacts_bytes_and_the_json_escaped_spelling() {
        let mut secrets = Secrets::default();
        secrets.add("tenant\"7");
        assert_eq!(
            secrets.redact_bytes(b"{\"echo\": \"tenant\\\"7\", \xff tenant\"7}".to_vec()),
            b"{\"echo\": \"[redacted]\", \xff [redacted]}".to_vec()
        );
        assert_eq!(
            secrets.redact_bytes(b"nothing".to_vec()),
            b"nothing".to_vec()
        );
    }
}
