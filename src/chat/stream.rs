//! The checks of a streamed answer: framing, each chunk against the schema, the invariants
//! across chunks, the usage chunk and the tool-call deltas; then the completion the chunks
//! put together ([`super::assemble`]).

use super::assemble::{assemble, ToolCall};
use super::{choices, Findings};
use crate::spec::Spec;
use crate::verdict::Finding;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const CHUNK_SCHEMA: &str = "#/components/schemas/CreateChatCompletionStreamResponse";

/// The checks of one streamed answer.
pub struct Checked {
    pub findings: Vec<Finding>,
    /// The completion the chunks put together, when there is a chunk.
    pub completion: Option<Value>,
    /// A broken frame or tool-call delta left the completion short of what the stream said:
    /// what is judged on it then follows from that defect.
    pub incomplete: bool,
}

/// Checks the stream `body` (answered with `content_type`) of a request that asked for the
/// usage chunk or not (`include_usage`).
pub fn check_stream(spec: &Spec, content_type: &str, body: &str, include_usage: bool) -> Checked {
    let events = crate::stream::parse(body);
    let mut findings = Findings {
        spec,
        out: Vec::new(),
    };
    let around = |i: usize| -> Vec<String> {
        let mut details = vec!["frames around it:".to_owned()];
        for (n, event) in events.iter().enumerate().skip(i.saturating_sub(2)).take(5) {
            let mark = if n == i { ">" } else { " " };
            details.push(format!(
                "{mark} {n}: {}",
                crate::untrusted::excerpt(&event.data, 160)
            ));
        }
        details
    };

    // Framing: an event stream of JSON `data:` frames, `[DONE]` last and only there.
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("text/event-stream") {
        findings.push(
            "chat-stream-framing",
            format!("Content-Type is `{content_type}`, expected `text/event-stream` on a streamed answer"),
            Vec::new(),
        );
    }
    let done = events.iter().position(|e| e.data.trim() == "[DONE]");
    match done {
        None => findings.push(
            "chat-stream-framing",
            "the stream does not end with `data: [DONE]`: clients wait for it".to_owned(),
            events.len().checked_sub(1).map(around).unwrap_or_default(),
        ),
        Some(i) if i + 1 < events.len() => findings.push(
            "chat-stream-framing",
            format!(
                "frame {}: {} frame(s) follow `data: [DONE]`, which ends the stream",
                i + 1,
                events.len() - i - 1
            ),
            around(i + 1),
        ),
        Some(_) => {}
    }
    let mut chunks: Vec<(usize, &Map<String, Value>)> = Vec::new();
    let mut frame_broken = false;
    // What follows `[DONE]` is a framing finding only: clients never read it.
    for (i, event) in events.iter().enumerate().take(done.unwrap_or(events.len())) {
        match &event.json {
            Some(Value::Object(chunk)) => chunks.push((i, chunk)),
            _ => {
                frame_broken = true;
                findings.push(
                    "chat-stream-framing",
                    format!("frame {i}: its `data:` is not a JSON object"),
                    around(i),
                );
            }
        }
    }
    if chunks.is_empty() {
        findings.push(
            "chat-stream-framing",
            "the stream has no chunk (no JSON `data:` frame)".to_owned(),
            Vec::new(),
        );
    }

    // Each chunk against the schema. `finish_reason` is the invariants' check, tool-call
    // deltas the tool-call check's, `usage` beyond its shape the usage check's.
    for &(i, chunk) in &chunks {
        let value = Value::Object(chunk.clone());
        match spec.schema_errors(CHUNK_SCHEMA, &value) {
            Ok(errors) => {
                let errors: Vec<_> = errors
                    .into_iter()
                    .filter(|e| !null_where_nullable(spec, e, &value))
                    // `usage` is a `$ref` with `nullable: true` beside it.
                    .filter(|e| !(e.at == "/usage" && value["usage"].is_null()))
                    .filter(|e| {
                        !(e.at.contains("/tool_calls")
                            || e.at.ends_with("/finish_reason")
                            || (e.keyword == "required" && e.message.contains("finish_reason")))
                    })
                    .collect();
                if let Some(first) = errors.first() {
                    findings.push_schema(
                        "chat-stream-chunk-schema",
                        &format!("{} {}", crate::check::normalize(&first.at), first.keyword),
                        format!(
                            "chunk {i}: breaks CreateChatCompletionStreamResponse at {}: {}",
                            if first.at.is_empty() { "/" } else { &first.at },
                            first.message
                        ),
                        around(i),
                    );
                }
            }
            Err(e) => findings.push(
                "chat-stream-chunk-schema",
                format!("chunk {i}: cannot be checked: {e}"),
                Vec::new(),
            ),
        }
    }

    // One id and one `created` throughout.
    for key in ["id", "created"] {
        let first = chunks.iter().find_map(|(_, c)| c.get(key));
        if let Some(&(i, chunk)) = chunks.iter().find(|(_, c)| c.get(key) != first) {
            findings.push(
                "chat-stream-invariants",
                format!(
                    "chunk {i}: `{key}` is {}, the first chunk's is {}: every chunk of a stream carries the same `{key}`",
                    chunk.get(key).map_or("absent".to_owned(), Value::to_string),
                    first.map_or("absent".to_owned(), Value::to_string),
                ),
                around(i),
            );
        }
    }

    // finish_reason: a key on every choice, a value of the enum or null, one non-null per index.
    let allowed: Vec<String> = spec
        .document()
        .pointer(&format!(
            "{}/properties/choices/items/properties/finish_reason/enum",
            CHUNK_SCHEMA.trim_start_matches('#')
        ))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let mut finished: BTreeMap<u64, (usize, String)> = BTreeMap::new();
    let mut invariant_broken = false;
    for &(i, chunk) in &chunks {
        for choice in choices(chunk) {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let problem = match choice.get("finish_reason") {
                None => Some("a choice has no `finish_reason` key (null until its last chunk)".to_owned()),
                Some(Value::Null) => None,
                Some(Value::String(reason)) if allowed.iter().any(|a| a == reason) => {
                    match finished.get(&index) {
                        Some((at, _)) => Some(format!("choice {index} has a second non-null `finish_reason` ({reason:?}; the first was in chunk {at})")),
                        None => {
                            finished.insert(index, (i, reason.clone()));
                            None
                        }
                    }
                }
                Some(other) => {
                    // A value out of the enum is the field's shape, as a completion's is.
                    if !invariant_broken {
                        findings.push_schema(
                            "chat-stream-invariants",
                            "/choices/*/finish_reason enum",
                            format!("chunk {i}: `finish_reason` {other} is none of {}", allowed.join(", ")),
                            around(i),
                        );
                        invariant_broken = true;
                    }
                    None
                }
            };
            if let (Some(problem), false) = (problem, invariant_broken) {
                findings.push(
                    "chat-stream-invariants",
                    format!("chunk {i}: {problem}"),
                    around(i),
                );
                invariant_broken = true;
            }
        }
    }
    let indexes: Vec<u64> = {
        let mut all: Vec<u64> = chunks
            .iter()
            .flat_map(|(_, c)| choices(c))
            .filter_map(|c| c.get("index").and_then(Value::as_u64))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    if let Some(index) = indexes.iter().find(|i| !finished.contains_key(i)) {
        if !invariant_broken {
            findings.push(
                "chat-stream-invariants",
                format!("choice {index} never gets a non-null `finish_reason`"),
                Vec::new(),
            );
        }
    }

    // The usage chunk: asked for, the last chunk, `choices: []`; every other chunk without it.
    let usage_of = |c: &Map<String, Value>| c.get("usage").filter(|u| !u.is_null()).cloned();
    let last = chunks.last().copied();
    let mut usage = None;
    if include_usage {
        match last {
            Some((i, chunk)) if usage_of(chunk).is_some() => {
                if !chunk.get("choices").is_some_and(|c| c == &json!([])) {
                    findings.push(
                        "chat-stream-usage",
                        format!("chunk {i}: the usage chunk has `choices` {}, expected `[]`", chunk.get("choices").map_or("absent".to_owned(), Value::to_string)),
                        around(i),
                    );
                }
                usage = usage_of(chunk);
            }
            Some((i, _)) => findings.push(
                "chat-stream-usage",
                format!("chunk {i}: `stream_options.include_usage` was asked for, but the last chunk has no `usage`"),
                around(i),
            ),
            None => {}
        }
    }
    let early = chunks
        .iter()
        .filter(|(i, _)| !include_usage || Some(*i) != last.map(|l| l.0))
        .find(|(_, c)| usage_of(c).is_some());
    if let Some(&(i, _)) = early {
        let summary = if include_usage {
            format!("chunk {i}: has a non-null `usage`; only the last chunk carries it")
        } else {
            format!("chunk {i}: has a non-null `usage`, which no `stream_options.include_usage` asked for")
        };
        // Asked for or not, it is one defect: usage on a chunk that is not the usage chunk.
        findings.push_keyed(
            "chat-stream-usage",
            "a non-null `usage` outside the asked-for usage chunk",
            summary,
            around(i),
        );
    }

    // Tool-call deltas: `index` on each; `id`, `type`, `function.name` on the first of a call;
    // `arguments` strings; the name not repeated.
    let mut calls: BTreeMap<(u64, u64), ToolCall> = BTreeMap::new();
    let mut tool_broken = false;
    'chunks: for &(i, chunk) in &chunks {
        for choice in choices(chunk) {
            let choice_index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let deltas = choice
                .pointer("/delta/tool_calls")
                .and_then(Value::as_array);
            for delta in deltas.into_iter().flatten() {
                let Some(index) = delta.get("index").and_then(Value::as_u64) else {
                    findings.push("chat-stream-tool-calls", format!("chunk {i}: a tool-call delta has no integer `index`: clients cannot tell which call it continues"), around(i));
                    tool_broken = true;
                    break 'chunks;
                };
                let function = delta.get("function");
                let name = function.and_then(|f| f.get("name"));
                let arguments = function.and_then(|f| f.get("arguments"));
                let problem = match calls.get_mut(&(choice_index, index)) {
                    None => {
                        let missing: Vec<&str> = [
                            ("id", delta.get("id").is_some_and(Value::is_string)),
                            ("type", delta.get("type").is_some_and(|t| t == "function")),
                            ("function.name", name.is_some_and(Value::is_string)),
                        ]
                        .into_iter()
                        .filter(|(_, ok)| !ok)
                        .map(|(key, _)| key)
                        .collect();
                        calls.insert(
                            (choice_index, index),
                            ToolCall {
                                id: delta.get("id").cloned().unwrap_or(Value::Null),
                                name: name.cloned().unwrap_or(Value::Null),
                                arguments: String::new(),
                            },
                        );
                        (!missing.is_empty()).then(|| format!("the first delta of tool call {index} lacks {} (`type` must be \"function\")", missing.join(", ")))
                    }
                    Some(_) if name.and_then(Value::as_str).is_some_and(|n| !n.is_empty()) => Some(format!("a later delta of tool call {index} repeats `function.name`: clients that concatenate deltas get a wrong name")),
                    Some(_) if delta.get("type").is_some_and(|t| t != "function") => Some(format!("a later delta of tool call {index} has `type` {}", delta["type"])),
                    Some(_) => None,
                };
                let problem = problem.or_else(|| match arguments {
                    None | Some(Value::String(_)) => None,
                    Some(other) => Some(format!("`function.arguments` of tool call {index} is {other}, expected a string (a piece of the JSON text)")),
                });
                if let Some(problem) = problem {
                    findings.push(
                        "chat-stream-tool-calls",
                        format!("chunk {i}: {problem}"),
                        around(i),
                    );
                    tool_broken = true;
                    break 'chunks;
                }
                if let (Some(call), Some(Value::String(piece))) =
                    (calls.get_mut(&(choice_index, index)), arguments)
                {
                    call.arguments.push_str(piece);
                }
            }
        }
    }
    // A call whose deltas broke is not put together: its arguments would be judged again.
    if tool_broken {
        calls.clear();
    }
    let completion = (!chunks.is_empty()).then(|| assemble(&chunks, &calls, &finished, usage));
    Checked {
        findings: findings.out,
        incomplete: frame_broken || tool_broken || completion.is_none(),
        completion,
    }
}

/// The chunk schema is written in OpenAPI 3.0's style: `nullable: true` beside a `type`, which
/// JSON Schema does not know. A null where the schema says so is no error.
fn null_where_nullable(spec: &Spec, error: &crate::spec::SchemaError, instance: &Value) -> bool {
    let at_null = instance.pointer(&error.at).is_some_and(Value::is_null);
    let parent = error
        .location
        .trim_start_matches('#')
        .rsplit_once('/')
        .map_or("", |(parent, _)| parent);
    at_null
        && spec
            .document()
            .pointer(parent)
            .and_then(|s| s.get("nullable"))
            == Some(&Value::Bool(true))
}
