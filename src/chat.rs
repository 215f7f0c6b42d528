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

use crate::spec::{Level, Spec};
use crate::verdict::{Finding, FindingKind};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

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

    /// [`Findings::push`] with the cause given, where two summaries say one defect.
    fn push_keyed(&mut self, check: &str, cause: &str, summary: String, details: Vec<String>) {
        let id = self
            .spec
            .catalogue
            .owner("check", check)
            .unwrap_or("CHT-05");
        let level = self.spec.catalogue.get(id).map_or(Level::Must, |r| r.level);
        // Findings of one check on chunks of different runs are the same defect.
        let cause = Some(format!("{check} {cause}"));
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
                    findings.push(
                        "chat-stream-chunk-schema",
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
                Some(other) => Some(format!(
                    "`finish_reason` {other} is none of {}",
                    allowed.join(", ")
                )),
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

struct ToolCall {
    id: Value,
    name: Value,
    arguments: String,
}

fn choices(chunk: &Map<String, Value>) -> impl Iterator<Item = &Value> {
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The `chat.completion` the chunks stand for: per choice index the concatenated content and
/// refusal, the tool calls, the finish reason; the first chunk's id, created and model.
fn assemble(
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

/// What every completion owes beyond its schema. `streamed`: put together from chunks, whose
/// choice indexes the invariants of the stream have checked already.
pub fn check_completion(spec: &Spec, completion: &Value, streamed: bool) -> Vec<Finding> {
    let mut findings = Findings {
        spec,
        out: Vec::new(),
    };
    let choices = completion
        .get("choices")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !streamed {
        if let Some((i, choice)) = choices
            .iter()
            .enumerate()
            .find(|(i, c)| c.get("index").and_then(Value::as_u64) != Some(*i as u64))
        {
            findings.push(
                "chat-choice-index",
                format!(
                    "`choices[{i}].index` is {}, expected {i} (its position)",
                    choice.get("index").unwrap_or(&Value::Null)
                ),
                Vec::new(),
            );
        }
    }
    if let Some(usage) = completion.get("usage").filter(|u| u.is_object()) {
        let n = |key: &str| usage.get(key).and_then(Value::as_u64);
        if let (Some(prompt), Some(completion), Some(total)) = (
            n("prompt_tokens"),
            n("completion_tokens"),
            n("total_tokens"),
        ) {
            if prompt + completion != total {
                findings.push(
                    "chat-usage-arithmetic",
                    format!("`usage.total_tokens` is {total}, expected prompt_tokens + completion_tokens = {prompt} + {completion} = {}", prompt + completion),
                    Vec::new(),
                );
            }
        }
    }
    for (i, choice) in choices.iter().enumerate() {
        let calls = choice
            .pointer("/message/tool_calls")
            .and_then(Value::as_array);
        for (j, call) in calls.into_iter().flatten().enumerate() {
            let Some(arguments) = call.pointer("/function/arguments").and_then(Value::as_str)
            else {
                continue;
            };
            if serde_json::from_str::<Value>(arguments).is_err() {
                findings.push(
                    "chat-tool-arguments",
                    format!(
                        "`choices[{i}].message.tool_calls[{j}].function.arguments` is not JSON: {}",
                        crate::untrusted::excerpt(arguments, 120)
                    ),
                    Vec::new(),
                );
            }
        }
    }
    findings.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    #[test]
    fn a_cause_leaves_out_the_values_seen_and_keeps_what_is_asked() {
        let twice = |reason: &str, at: usize| {
            cause_of(&format!(
                "chunk {at}: choice 0 has a second non-null `finish_reason` ({reason:?}; the first was in chunk {})",
                at - 1
            ))
        };
        assert_eq!(twice("stop", 4), twice("tool_calls", 9));
        assert_eq!(
            cause_of("the usage chunk has `choices` [{\"index\":0,\"delta\":{}}], expected `[]`"),
            "the usage chunk has `choices` , expected `[]`"
        );
        assert_ne!(
            twice("stop", 4),
            cause_of("chunk 3: a choice has no `finish_reason` key (null until its last chunk)")
        );
    }

    #[test]
    fn usage_before_the_last_chunk_is_one_cause_asked_for_or_not() {
        let spec = spec();
        let on_every_chunk = stream(|chunks| {
            for c in chunks.iter_mut() {
                c["usage"] = json!({"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4});
            }
        });
        let cause = |include_usage| {
            let checked = check_stream(&spec, "text/event-stream", &on_every_chunk, include_usage);
            let causes: Vec<Option<String>> =
                checked.findings.iter().map(|f| f.cause.clone()).collect();
            assert_eq!(causes.len(), 1, "{:?}", checked.findings);
            causes[0].clone()
        };
        assert_eq!(cause(true), cause(false));
    }

    fn chunk(choices: Value) -> Value {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices})
    }

    fn delta(delta: Value, finish: Value) -> Value {
        json!([{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}])
    }

    /// A text stream with a usage chunk, as the contract wants it, with `edit` applied.
    fn stream(edit: impl Fn(&mut Vec<Value>)) -> String {
        let mut chunks = vec![
            chunk(delta(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            )),
            chunk(delta(json!({"content": "a"}), Value::Null)),
            chunk(delta(json!({"content": " b"}), Value::Null)),
            chunk(delta(json!({}), json!("stop"))),
            chunk(json!([])),
        ];
        for c in &mut chunks[..4] {
            c["usage"] = Value::Null;
        }
        chunks[4]["usage"] = json!({"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4});
        edit(&mut chunks);
        frames(&chunks)
    }

    fn frames(chunks: &[Value]) -> String {
        let mut out: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        out.push_str("data: [DONE]\n\n");
        out
    }

    fn tool_stream(edit: impl Fn(&mut Vec<Value>)) -> String {
        let call = |d: Value| json!({"tool_calls": [d]});
        let mut chunks = vec![
            chunk(delta(
                json!({"role": "assistant", "content": null}),
                Value::Null,
            )),
            chunk(delta(
                call(
                    json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}),
                ),
                Value::Null,
            )),
            chunk(delta(
                call(json!({"index": 0, "function": {"arguments": "{\"a\""}})),
                Value::Null,
            )),
            chunk(delta(
                call(json!({"index": 0, "function": {"arguments": ": 1}"}})),
                Value::Null,
            )),
            chunk(delta(json!({}), json!("tool_calls"))),
        ];
        edit(&mut chunks);
        frames(&chunks)
    }

    fn failing(body: &str, include_usage: bool) -> Vec<String> {
        let spec = spec();
        let checked = check_stream(
            &spec,
            "text/event-stream; charset=utf-8",
            body,
            include_usage,
        );
        let mut ids: Vec<String> = checked
            .findings
            .iter()
            .chain(&check_completion(
                &spec,
                checked.completion.as_ref().unwrap_or(&Value::Null),
                true,
            ))
            .filter_map(|f| f.requirement.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    #[test]
    fn a_good_stream_passes_and_is_put_together() {
        let good = stream(|_| {});
        assert_eq!(failing(&good, true), Vec::<String>::new(), "{good}");
        let checked = check_stream(&spec(), "text/event-stream", &good, true);
        let completion = checked.completion.unwrap();
        assert_eq!(completion["choices"][0]["message"]["content"], "a b");
        assert_eq!(completion["choices"][0]["finish_reason"], "stop");
        assert_eq!(completion["usage"]["total_tokens"], 4);
        let tools = tool_stream(|_| {});
        assert_eq!(failing(&tools, false), Vec::<String>::new(), "{tools}");
        let checked = check_stream(&spec(), "text/event-stream", &tools, false);
        let call = &checked.completion.unwrap()["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["arguments"], "{\"a\": 1}");
        assert_eq!(call["function"]["name"], "f");
    }

    #[test]
    fn each_check_kind_fails_its_break() {
        let good = stream(|_| {});
        // Framing.
        assert_eq!(
            failing(&good.replace("data: [DONE]\n\n", ""), true),
            ["CHT-05"]
        );
        assert_eq!(failing(&format!("{good}data: {{}}\n\n"), true), ["CHT-05"]);
        assert_eq!(
            failing(&good.replacen("data: {", "data: {oops", 1), true),
            ["CHT-05"]
        );
        // Chunk schema.
        assert_eq!(
            failing(
                &stream(|c| c.iter_mut().for_each(|c| c["created"] = json!(1.5))),
                true
            ),
            ["CHT-06"]
        );
        assert_eq!(
            failing(&stream(|c| c[1]["object"] = json!("chat.completion")), true),
            ["CHT-06"]
        );
        // Invariants.
        assert_eq!(
            failing(&stream(|c| c[2]["id"] = json!("chatcmpl-2")), true),
            ["CHT-07"]
        );
        assert_eq!(
            failing(
                &stream(|c| {
                    c[1]["choices"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("finish_reason");
                }),
                true
            ),
            ["CHT-07"]
        );
        assert_eq!(
            failing(
                &stream(|c| c[2]["choices"][0]["finish_reason"] = json!("stop")),
                true
            ),
            ["CHT-07"]
        );
        assert_eq!(
            failing(
                &stream(|c| c[3]["choices"][0]["finish_reason"] = Value::Null),
                true
            ),
            ["CHT-07"]
        );
        assert_eq!(
            failing(
                &stream(|c| c[3]["choices"][0]["finish_reason"] = json!("tool_call")),
                true
            ),
            ["CHT-07"]
        );
        // Usage.
        assert_eq!(
            failing(&stream(|c| c[1]["usage"] = c[4]["usage"].clone()), true),
            ["CHT-08"]
        );
        assert_eq!(
            failing(
                &stream(|c| c[4]["choices"] = delta(json!({}), Value::Null)),
                true
            ),
            ["CHT-08"]
        );
        assert_eq!(
            failing(
                &stream(|c| {
                    c.pop();
                }),
                true
            ),
            ["CHT-08"]
        );
        assert_eq!(failing(&stream(|_| {}), false), ["CHT-08"]);
        assert_eq!(
            failing(&stream(|c| c[4]["usage"]["total_tokens"] = json!(5)), true),
            ["CHT-03"]
        );
        // Tool calls.
        assert_eq!(
            failing(
                &tool_stream(|c| {
                    c[2]["choices"][0]["delta"]["tool_calls"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("index");
                }),
                false
            ),
            ["CHT-09"]
        );
        assert_eq!(
            failing(
                &tool_stream(|c| {
                    c[1]["choices"][0]["delta"]["tool_calls"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("type");
                }),
                false
            ),
            ["CHT-09"]
        );
        assert_eq!(
            failing(
                &tool_stream(|c| c[2]["choices"][0]["delta"]["tool_calls"][0]["function"]
                    ["arguments"] = Value::Null),
                false
            ),
            ["CHT-09"]
        );
        assert_eq!(
            failing(
                &tool_stream(|c| c[2]["choices"][0]["delta"]["tool_calls"][0]["function"]
                    ["name"] = json!("f")),
                false
            ),
            ["CHT-09"]
        );
        assert_eq!(
            failing(
                &tool_stream(|c| c[3]["choices"][0]["delta"]["tool_calls"][0]["function"]
                    ["arguments"] = json!(": 1")),
                false
            ),
            ["CHT-10"]
        );
    }

    #[test]
    fn a_completion_owes_indexes_usage_and_json_arguments() {
        let spec = spec();
        let ids = |v: Value| -> Vec<String> {
            check_completion(&spec, &v, false)
                .into_iter()
                .filter_map(|f| f.requirement)
                .collect()
        };
        let good = json!({"choices": [{"index": 0}, {"index": 1, "message": {"tool_calls": [{"function": {"arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}});
        assert!(ids(good.clone()).is_empty());
        let mut bad = good.clone();
        bad["choices"][1]["index"] = json!(0);
        assert_eq!(ids(bad), ["CHT-02"]);
        let mut bad = good.clone();
        bad["usage"]["total_tokens"] = json!(4);
        assert_eq!(ids(bad), ["CHT-03"]);
        let mut bad = good;
        bad["choices"][1]["message"]["tool_calls"][0]["function"]["arguments"] = json!("{");
        assert_eq!(ids(bad), ["CHT-10"]);
    }
}
