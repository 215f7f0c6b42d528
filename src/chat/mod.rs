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
        let id = self
            .spec
            .catalogue
            .owner("check", check)
            .unwrap_or("CHT-05");
        let level = self.spec.catalogue.get(id).map_or(Level::Must, |r| r.level);
        // Findings of one check on chunks of different runs are the same defect.
        let cause = Some(format!("{check} {}", cause_of(&summary)));
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

/// What makes two findings of one check the same defect: the summary without chunk numbers.
fn cause_of(summary: &str) -> String {
    summary
        .split_once(": ")
        .filter(|(head, _)| head.starts_with("chunk "))
        .map_or(summary, |(_, rest)| rest)
        .chars()
        .filter(|c| !c.is_ascii_digit())
        .collect()
}

/// The choices of a chunk or a completion.
fn choices(chunk: &Map<String, Value>) -> impl Iterator<Item = &Value> {
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}
