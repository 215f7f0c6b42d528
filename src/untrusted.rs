//! Text the target controls (bodies, header values, error texts, ids) shown safely: it never
//! drives the terminal or the CI, and never shows a secret, not even half of one.
//!
//! [`escape`] shows every control character as an escape (`\n`, `\u{1b}`), also the C1
//! controls and the bidirectional overrides, so the text stays on one line and sends no
//! terminal sequence; and it keeps the text from starting with `::`, so no line of it can be
//! a GitHub Actions workflow command (`::stop-commands::`, a forged `::error`). [`excerpt`]
//! redacts, escapes and cuts long text with a note. Every finding, note, observation and
//! request record of a case passes through [`escape`] when the case ends
//! ([`crate::verdict::CaseOutcome::escape_target_text`]); excerpts are made with [`excerpt`].

use crate::secret::Secrets;
use std::fmt::Write as _;
use std::sync::OnceLock;

/// The run's secrets, for the excerpts cut before the run's output is redacted.
static SECRETS: OnceLock<Secrets> = OnceLock::new();

/// Makes `secrets` the ones every [`excerpt`] redacts (once per process: one target a run).
pub fn install_secrets(secrets: &Secrets) {
    let _ = SECRETS.set(secrets.clone());
}

/// `text` on one line, with no control character and no leading `::`.
pub fn escape(text: &str) -> String {
    if !text.chars().any(needs_escape) && !starts_a_command(text) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    if starts_a_command(&out) {
        let at = out.len() - out.trim_start().len();
        out.replace_range(at..at + 1, "\\x3a");
    }
    out
}

/// At most `max_chars` of `text`, secrets redacted first (so a cut never leaves part of one),
/// then escaped; a longer text ends with `... (N more characters)`.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let redacted = match SECRETS.get() {
        Some(secrets) => secrets.redact(text),
        None => text.to_string(),
    };
    let count = redacted.chars().count();
    if count <= max_chars {
        return escape(&redacted);
    }
    let head: String = redacted.chars().take(max_chars).collect();
    escape(&format!(
        "{head}... ({} more characters)",
        count - max_chars
    ))
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// GitHub's runner reads a line as a command when it starts with `::` after blanks.
fn starts_a_command(text: &str) -> bool {
    text.trim_start().starts_with("::")
}

/// JSON on one line, cut to `max` characters (secrets redacted before the cut).
pub fn compact(value: &serde_json::Value, max: usize) -> String {
    excerpt(&value.to_string(), max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_workflow_commands_are_escaped() {
        assert_eq!(
            escape("ok\n::error::forged\r\x1b]0;title\x07\u{9b}2J\u{202e}"),
            "ok\\n::error::forged\\r\\u{1b}]0;title\\u{7}\\u{9b}2J\\u{202e}"
        );
        assert_eq!(escape("::stop-commands::x"), "\\x3a:stop-commands::x");
        assert_eq!(escape("  ::warning::x"), "  \\x3a:warning::x");
        assert_eq!(escape("plain text: a::b"), "plain text: a::b");
        let once = escape("\n::x\u{1b}");
        assert_eq!(escape(&once), once, "escaping twice changes nothing");
    }

    #[test]
    fn excerpts_are_cut_with_a_note() {
        let long = "é".repeat(500);
        let cut = excerpt(&long, 400);
        assert!(cut.ends_with("... (100 more characters)"), "{cut}");
        assert_eq!(excerpt("short", 400), "short");
    }
}
