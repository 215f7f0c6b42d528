//! Secrets (the API key, `env:` header values) never leave the process in clear: every text
//! the harness writes (messages, curl commands, snapshots, reports, the request log) passes
//! through [`Secrets::redact`], which also catches a server echoing a secret back in another
//! spelling. What is checked is never redacted: answers are checked as they came.

use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are redacted only where they stand as a whole word (`list` in
/// `"object": "list"`, not in `listConversationItems`): any substring would hide half the
/// output, and no encoded form of so short a text is told apart from chance.
pub const WHOLE_WORD_BELOW: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Every spelling of every secret, replaced wherever it appears; longest first.
    values: Vec<String>,
    /// Short secrets (and their JSON spelling), replaced where they stand as a whole word.
    words: Vec<String>,
    /// The first two bytes of every value and word, as a set of 65,536 bits (empty: no
    /// secret): a text in which none of them occurs holds no secret, found in one pass instead
    /// of a search for every spelling.
    openings: Vec<u64>,
    /// A word shorter than two bytes: every text may hold it.
    tiny_word: bool,
}

impl Secrets {
    /// Registers a secret under every spelling a server echoing it back may use: as it is,
    /// JSON-escaped (also with `\/` and `\u` escapes), URL-encoded, and base64-encoded
    /// alone or as `Bearer <secret>`, in the standard and the URL-safe alphabet, also as part
    /// of a longer base64 text.
    pub fn add(&mut self, value: &str) {
        if value.is_empty() {
            return;
        }
        let json = Value::String(value.to_string()).to_string();
        let json = json[1..json.len() - 1].to_string();
        if value.chars().count() < WHOLE_WORD_BELOW {
            for form in [value.to_string(), json] {
                if !self.words.contains(&form) {
                    self.words.push(form);
                }
            }
            self.index_openings();
            return;
        }
        let mut forms = vec![
            value.to_string(),
            json.replace('/', "\\/"),
            json.clone(),
            unicode_escaped(value, false, false),
            unicode_escaped(value, false, true),
            unicode_escaped(value, true, false),
            unicode_escaped(value, true, true),
        ];
        for upper in [false, true] {
            forms.push(percent_encoded(value, false, upper));
            forms.push(percent_encoded(value, true, upper));
        }
        for alphabet in [STANDARD, URL_SAFE] {
            for text in [value.to_string(), format!("Bearer {value}")] {
                let encoded = base64(text.as_bytes(), alphabet);
                forms.push(encoded.trim_end_matches('=').to_string());
                forms.push(encoded);
            }
            forms.extend(base64_cores(value.as_bytes(), alphabet));
        }
        for form in forms {
            if form.len() >= WHOLE_WORD_BELOW && !self.values.contains(&form) {
                self.values.push(form);
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self.index_openings();
    }

    fn index_openings(&mut self) {
        let spellings = || self.values.iter().chain(&self.words);
        let mut openings = vec![0u64; 65_536 / 64];
        for pair in spellings().filter_map(|s| s.as_bytes().get(..2)) {
            let bit = opening(pair[0], pair[1]);
            openings[bit / 64] |= 1 << (bit % 64);
        }
        self.tiny_word = spellings().any(|s| s.len() < 2);
        self.openings = openings;
    }

    /// Whether some spelling of a secret may occur in `text` (`false`: none does).
    fn may_hold_one(&self, text: &str) -> bool {
        if self.tiny_word {
            return true;
        }
        !self.openings.is_empty()
            && text.as_bytes().windows(2).any(|pair| {
                let bit = opening(pair[0], pair[1]);
                self.openings[bit / 64] & (1 << (bit % 64)) != 0
            })
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if !self.may_hold_one(text) {
            return out;
        }
        for secret in &self.values {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        for word in &self.words {
            if out.contains(word.as_str()) {
                out = replace_words(&out, word);
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

/// The bit of two bytes in [`Secrets::openings`].
fn opening(first: u8, second: u8) -> usize {
    usize::from(first) << 8 | usize::from(second)
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `text` with every whole-word `word` replaced.
fn replace_words(text: &str, word: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut before: Option<char> = None;
    while let Some(at) = rest.find(word) {
        let after = rest[at + word.len()..].chars().next();
        let prev = rest[..at].chars().next_back().or(before);
        let whole = !prev.is_some_and(is_word_char) && !after.is_some_and(is_word_char);
        out.push_str(&rest[..at]);
        out.push_str(if whole { REDACTED } else { word });
        before = word.chars().next_back();
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Every character as `\uXXXX` (UTF-16 units), or (`only_non_ascii`) only those past ASCII,
/// as JSON encoders that keep to ASCII write them.
fn unicode_escaped(value: &str, only_non_ascii: bool, upper: bool) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if only_non_ascii && c.is_ascii() {
            out.push(c);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.push_str(&if upper {
                format!("\\u{unit:04X}")
            } else {
                format!("\\u{unit:04x}")
            });
        }
    }
    out
}

/// Percent-encoding of every byte (`all`) or of those outside RFC 3986's unreserved set.
/// By hand: the percent-encoding crate writes neither lower-case hex nor every byte encoded.
fn percent_encoded(value: &str, all: bool, upper: bool) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if !all && (byte.is_ascii_alphanumeric() || b"-._~".contains(&byte)) {
            out.push(byte as char);
        } else if upper {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push_str(&format!("%{byte:02x}"));
        }
    }
    out
}

/// Base64 with `=` padding.
fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let n = group.len();
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let bits = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= n {
                out.push(alphabet[((bits >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What base64 of any text holding `secret` holds of it, for each of the three byte offsets
/// the secret can start at within a group: the characters that depend on the secret's bytes
/// only. A server that base64-encodes `Bearer <key>`, or the key within a longer text,
/// shows one of them.
fn base64_cores(secret: &[u8], alphabet: &[u8; 64]) -> Vec<String> {
    (0..3usize)
        .filter_map(|offset| {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret);
            let encoded = base64(&bytes, alphabet);
            let first = (8 * offset).div_ceil(6);
            let end = 8 * bytes.len() / 6;
            encoded.get(first..end).map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_at_either_end_of_a_text_is_found_and_a_text_without_one_is_kept() {
        let mut secrets = Secrets::default();
        secrets.add("sk-test-0123456789abcdef");
        secrets.add("pw1");
        assert_eq!(secrets.redact("sk-test-0123456789abcdef"), REDACTED);
        assert_eq!(
            secrets.redact("a sk-test-0123456789abcdef"),
            format!("a {REDACTED}")
        );
        let encoded = base64(b"Bearer sk-test-0123456789abcdef", STANDARD);
        assert_eq!(
            secrets.redact(&format!("x {encoded}")),
            format!("x {REDACTED}")
        );
        assert_eq!(
            secrets.redact("pw1 and pw12"),
            format!("{REDACTED} and pw12")
        );
        assert_eq!(secrets.redact("nothing here"), "nothing here");
        let mut tiny = Secrets::default();
        tiny.add("q");
        assert_eq!(tiny.redact("a q b"), format!("a {REDACTED} b"));
    }

    #[test]
    fn replaces_every_occurrence_in_text_and_json() {
        let mut secrets = Secrets::default();
        secrets.add("sk-secret-123");
        assert_eq!(
            secrets.redact("Bearer sk-secret-123 and sk-secret-123"),
            "Bearer [redacted] and [redacted]"
        );
        assert_eq!(
            secrets.redact_json(&json!({"echo": ["x sk-secret-123"], "sk-secret-123": 1})),
            json!({"echo": ["x [redacted]"], "[redacted]": 1})
        );
    }

    #[test]
    fn short_secrets_are_redacted_as_whole_words_only() {
        let mut secrets = Secrets::default();
        secrets.add("list");
        assert_eq!(
            secrets.redact(r#"{"object":"list"} listConversationItems list"#),
            r#"{"object":"[redacted]"} listConversationItems [redacted]"#
        );
    }

    #[test]
    fn every_spelling_an_echo_may_use_is_redacted() {
        let key = "sk-tést/ab+c=9\"d";
        let mut secrets = Secrets::default();
        secrets.add(key);
        let json = Value::String(key.into()).to_string();
        let json = &json[1..json.len() - 1];
        let forms = [
            key.to_string(),
            json.to_string(),
            json.replace('/', "\\/"),
            unicode_escaped(key, false, false),
            unicode_escaped(key, true, true),
            percent_encoded(key, false, true),
            percent_encoded(key, true, false),
            base64(key.as_bytes(), STANDARD),
            base64(format!("Bearer {key}").as_bytes(), URL_SAFE),
            base64(format!("ab{key}").as_bytes(), URL_SAFE)
                .trim_end_matches('=')
                .into(),
        ];
        for form in forms {
            let shown = secrets.redact(&format!("echo: {form} end"));
            assert!(shown.contains(REDACTED), "{form}: {shown}");
            // What is left of the encoded key is at most the edges of its first and last group.
            let left = shown.replace(REDACTED, "");
            assert!(left.len() <= "echo:  end".len() + 8, "{form}: {shown}");
        }
        let embedded = base64(format!("Basic x:{key} and more").as_bytes(), STANDARD);
        let shown = secrets.redact(&embedded);
        assert!(shown.contains(REDACTED), "{shown}");
        assert_eq!(shown, "QmFzaWMgeDp[redacted]CBhbmQgbW9yZQ==");
        assert_eq!(
            base64(b"any carnal pleas", STANDARD),
            "YW55IGNhcm5hbCBwbGVhcw=="
        );
        assert_eq!(secrets.redact("nothing to hide"), "nothing to hide");
    }
}
