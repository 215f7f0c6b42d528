//! The `chat.completion` a stream's chunks stand for, which captures and matchers see.

use super::choices;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A tool call as its deltas put it together.
pub(super) struct ToolCall {
    pub(super) id: Value,
    pub(super) name: Value,
    pub(super) arguments: String,
}

/// The `chat.completion` the chunks stand for: per choice index the concatenated content and
/// refusal, the tool calls, the finish reason; the first chunk's id, created and model.
pub(super) fn assemble(
    chunks: &[(usize, &Map<String, Value>)],
    calls: &BTreeMap<(u64, u64), ToolCall>,
    finished: &BTreeMap<u64, (usize, String)>,
    usage: Option<Value>,
) -> Value {
    let first = |key: &str| {
        chunks
            .iter()
            .find_map(|(_, c)| c.get(key).cloned())
            .unwrap_or(Value::Null)
    };
    let mut texts: BTreeMap<u64, (Option<String>, Option<String>)> = BTreeMap::new();
    for (_, chunk) in chunks {
        for choice in choices(chunk) {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let entry = texts.entry(index).or_default();
            for (key, slot) in [("content", &mut entry.0), ("refusal", &mut entry.1)] {
                if let Some(piece) = choice
                    .get("delta")
                    .and_then(|d| d.get(key))
                    .and_then(Value::as_str)
                {
                    slot.get_or_insert_with(String::new).push_str(piece);
                }
            }
        }
    }
    let choices: Vec<Value> = texts
        .into_iter()
        .map(|(index, (content, refusal))| {
            let tool_calls: Vec<Value> = calls
                .iter()
                .filter(|((choice, _), _)| *choice == index)
                .map(|(_, call)| {
                    json!({"id": call.id, "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments}})
                })
                .collect();
            let mut message = json!({"role": "assistant", "content": content, "refusal": refusal});
            if !tool_calls.is_empty() {
                message["tool_calls"] = Value::Array(tool_calls);
            }
            json!({
                "index": index,
                "message": message,
                "finish_reason": finished.get(&index).map(|(_, r)| r.as_str()),
                "logprobs": null,
            })
        })
        .collect();
    let mut completion = json!({
        "id": first("id"),
        "object": "chat.completion",
        "created": first("created"),
        "model": first("model"),
        "choices": choices,
    });
    if let Some(usage) = usage {
        completion["usage"] = usage;
    }
    completion
}
