//! Checks of Chat Completions answers (`createChatCompletion`). A streamed answer is `data:`
//! frames of `chat.completion.chunk` objects ending with `data: [DONE]`, no `event:` names: it
//! is checked for framing, each chunk against the spec's chunk schema, the invariants across
//! chunks (one `id` and `created`; a `finish_reason` key on every choice, exactly one non-null
//! per index), the usage chunk `stream_options.include_usage` asks for, and the shape of
//! tool-call deltas. The chunks are then put together into the `chat.completion` they stand
//! for, which captures and matchers see. Every completion, streamed or not, is checked for
//! what a schema cannot say: `choices[i].index` = i, `total_tokens` = prompt + completion, and
//! tool-call `arguments` that parse as JSON.
//!
//! Each kind of check has its owner in the catalogue (`owns: [check chat-stream-framing]`, ...).

mod assemble;
mod completion;
mod stream;
#[cfg(test)]
mod tests;

pub use completion::check_completion;
pub use stream::{check_stream, Checked};

use crate::spec::{Level, Spec};
use crate::verdict::{Finding, FindingKind};
use serde_json::{Map, Value};

/// The operation whose answers these checks are for.
pub const OPERATION: &str = "createChatCompletion";

/// The check kinds of a stream, each owned by one requirement.
pub const STREAM_CHECKS: &[&str] = &[
    "chat-stream-framing",
    "chat-stream-chunk-schema",
    "chat-stream-invariants",
    "chat-stream-usage",
    "chat-stream-tool-calls",
];

/// The check kinds of every completion.
pub const COMPLETION_CHECKS: &[&str] = &[
    "chat-choice-index",
    "chat-usage-arithmetic",
    "chat-tool-arguments",
];

/// Collects findings under the owners of their checks.
struct Findings<'s> {
    spec: &'s Spec,
    out: Vec<Finding>,
}

impl Findings<'_> {
    fn push(&mut self, check: &str, summary: String, details: Vec<String>) {
        let cause = cause_of(&summary);
        self.push_keyed(check, &cause, summary, details);
    }

    /// [`Findings::push`] of a chunk that breaks its schema at `path_and_keyword`
    /// (`/created type`): the cause is that of a completion broken alike (`schema COMPONENT
    /// /created type`), so that under the rule CHT-01 states for both one field broken alike
    /// is one defect.
    fn push_schema(
        &mut self,
        check: &str,
        path_and_keyword: &str,
        summary: String,
        details: Vec<String>,
    ) {
        let cause = format!("schema CreateChatCompletionStreamResponse {path_and_keyword}");
        self.push_cause(check, cause, summary, details);
    }

    /// [`Findings::push`] with the cause given, where two summaries say one defect.
    fn push_keyed(&mut self, check: &str, cause: &str, summary: String, details: Vec<String>) {
        // Findings of one check on chunks of different runs are the same defect.
        self.push_cause(check, format!("{check} {cause}"), summary, details);
    }

    fn push_cause(&mut self, check: &str, cause: String, summary: String, details: Vec<String>) {
        let id = self
            .spec
            .catalogue
            .owner("check", check)
            .unwrap_or("CHT-05");
        let level = self.spec.catalogue.get(id).map_or(Level::Must, |r| r.level);
        let cause = Some(cause);
        self.out.push(Finding {
            requirement: Some(id.to_owned()),
            level,
            kind: FindingKind::Requirement,
            summary,
            details,
            step: None,
            cause,
        });
    }
}

/// What makes two findings of one check the same defect: the summary without what varies
/// from one answer to the next, numbers and the values seen (quoted strings, JSON arrays and
/// objects); what is in backticks (field names, what is expected) stays.
fn cause_of(summary: &str) -> String {
    let text = summary
        .split_once(": ")
        .filter(|(head, _)| head.starts_with("chunk "))
        .map_or(summary, |(_, rest)| rest);
    let mut out = String::with_capacity(text.len());
    let (mut in_backticks, mut in_string, mut escaped, mut depth) = (false, false, false, 0usize);
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '`' if depth == 0 => {
                in_backticks = !in_backticks;
                out.push(c);
            }
            _ if in_backticks => out.push(c),
            '"' => in_string = true,
            '[' | '{' => depth += 1,
            ']' | '}' if depth > 0 => depth -= 1,
            _ if depth > 0 || c.is_ascii_digit() => {}
            _ => out.push(c),
        }
    }
    out
}

/// The choices of a chunk or a completion.
fn choices(chunk: &Map<String, Value>) -> impl Iterator<Item = &Value> {
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}
