//! Checks of a streamed answer (`stream: true` on a step): the `text/event-stream` body is
//! split into events and checked for framing, each event against the spec's schema for its
//! `type`, the `sequence_number` rules, the grammar of the overlay's
//! `x-conformance-stream-grammar` (data, not code) and the invariants across events (one
//! response id; the deltas make the `.done` text, which is the final output's). The terminal
//! event's `response` then stands for the answer: captures and matchers see it.
//!
//! Each kind of check has its owner in the catalogue (`owns: [check stream-framing]`, ...).
//! A finding names the event index and type, with the events around it.

use crate::spec::{Level, Spec};
use crate::verdict::{Finding, FindingKind};
use serde_json::Value;
use std::collections::BTreeMap;

/// One event of the stream: its `event:` name, its `data:` text and the data as JSON.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
    pub json: Option<Value>,
}

impl Event {
    fn kind(&self) -> &str {
        self.json
            .as_ref()
            .and_then(|j| j.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("?")
    }
}

/// The events of an event-stream body (blank-line separated; `data:` lines joined by `\n`;
/// comments and other fields ignored).
pub fn parse(body: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let normalised = body.replace("\r\n", "\n").replace('\r', "\n");
    for block in normalised.split("\n\n") {
        let mut name = None;
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => name = Some(value.to_owned()),
                "data" => data.push(value),
                _ => {}
            }
        }
        if name.is_none() && data.is_empty() {
            continue;
        }
        let data = data.join("\n");
        let json = serde_json::from_str(&data).ok();
        events.push(Event { name, data, json });
    }
    events
}

/// The checks of one streamed answer.
pub struct Checked {
    pub findings: Vec<Finding>,
    /// The terminal event's `response`, when there is one.
    pub response: Option<Value>,
}

/// Checks `body` (answered with `content_type`) for `requirement`'s step.
pub fn check(spec: &Spec, content_type: &str, body: &str) -> Checked {
    let events = parse(body);
    let mut out = Vec::new();
    let owner = |check: &str, fallback: &str| -> (String, Level) {
        let id = spec.catalogue.owner("check", check).unwrap_or(fallback);
        let level = spec.catalogue.get(id).map_or(Level::Must, |r| r.level);
        (id.to_owned(), level)
    };
    // `check` is the check's name, or `name/rule` for a check of several rules: the rule
    // broken, not the event it was seen on, is what makes it the same defect elsewhere.
    let mut push = |check: &str, fallback: &str, at: Option<usize>, summary: String| {
        let (check, rule) = check.split_once('/').unwrap_or((check, ""));
        let (id, level) = owner(check, fallback);
        let mut details = Vec::new();
        let summary = match at {
            Some(i) => {
                details.push("events around it:".to_owned());
                for (n, event) in events.iter().enumerate().skip(i.saturating_sub(2)).take(5) {
                    let mark = if n == i { ">" } else { " " };
                    details.push(format!(
                        "{mark} {n}: {}",
                        crate::untrusted::excerpt(&event.data, 160)
                    ));
                }
                format!("event {i} ({}): {summary}", events[i].kind())
            }
            None => summary,
        };
        out.push(Finding {
            requirement: Some(id),
            level,
            kind: FindingKind::Requirement,
            summary,
            details,
            step: None,
            cause: Some(match rule {
                "" => format!("{check} {}", summary_cause(check, &events, at)),
                rule => format!("{check} {rule}"),
            }),
        });
    };

    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("text/event-stream") {
        push(
            "stream-framing",
            "RSP-09",
            None,
            format!("Content-Type is `{content_type}`, expected `text/event-stream` on a streamed answer"),
        );
    }
    if events.is_empty() {
        push(
            "stream-framing",
            "RSP-09",
            None,
            "the stream has no event (no `data:` line)".to_owned(),
        );
    }
    for (i, event) in events.iter().enumerate() {
        if event.data.trim() == "[DONE]" {
            push("stream-framing", "RSP-09", Some(i), "`data: [DONE]` ends a chat completions stream; a Responses stream has no such trailer".to_owned());
            continue;
        }
        let Some(json) = &event.json else {
            push(
                "stream-framing",
                "RSP-09",
                Some(i),
                "its `data:` is not JSON".to_owned(),
            );
            continue;
        };
        let kind = json.get("type").and_then(Value::as_str);
        if let (Some(name), Some(kind)) = (&event.name, kind) {
            if name != kind {
                push(
                    "stream-framing",
                    "RSP-09",
                    Some(i),
                    format!("`event: {name}` differs from its data's `type` `{kind}`"),
                );
            }
        }
    }
    let events_json: Vec<(usize, &Value)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.json.as_ref().map(|j| (i, j)))
        .filter(|(_, j)| j.is_object())
        .collect();

    // Each event against the schema of its type.
    let by_type = event_schemas(spec);
    for &(i, json) in &events_json {
        let kind = json.get("type").and_then(Value::as_str).unwrap_or("");
        match by_type.get(kind) {
            None => push(
                "stream-event-schema",
                "RSP-13",
                Some(i),
                format!("`type` `{kind}` is no event of the spec's ResponseStreamEvent"),
            ),
            // A missing or wrong `sequence_number` is the sequence check's alone.
            Some(pointer) => match spec.schema_errors(pointer, json).map(|errors| {
                errors
                    .into_iter()
                    .filter(|e| {
                        !e.at.starts_with("/sequence_number")
                            && !e.message.contains("sequence_number")
                    })
                    .collect::<Vec<_>>()
            }) {
                Ok(errors) if errors.is_empty() => {}
                Ok(errors) => {
                    let first = &errors[0];
                    push(
                        "stream-event-schema",
                        "RSP-13",
                        Some(i),
                        format!(
                            "breaks its schema {pointer}: at {}: {}",
                            if first.at.is_empty() { "/" } else { &first.at },
                            first.message
                        ),
                    );
                }
                Err(e) => push(
                    "stream-event-schema",
                    "RSP-13",
                    Some(i),
                    format!("cannot be checked: {e}"),
                ),
            },
        }
    }

    // sequence_number: on every event, from 0, by 1.
    let mut expected = 0u64;
    for &(i, json) in &events_json {
        match json.get("sequence_number").and_then(Value::as_u64) {
            None => {
                push(
                    "stream-sequence",
                    "RSP-10",
                    Some(i),
                    "it has no integer `sequence_number`".to_owned(),
                );
                break;
            }
            Some(n) if n != expected => {
                push(
                    "stream-sequence",
                    "RSP-10",
                    Some(i),
                    format!("`sequence_number` is {n}, expected {expected} (from 0, by 1)"),
                );
                break;
            }
            Some(_) => expected += 1,
        }
    }

    // The grammar, from the overlay.
    if let Some(grammar) = Grammar::of(spec) {
        let governed: Vec<(usize, &str)> = events_json
            .iter()
            .filter_map(|&(i, j)| j.get("type").and_then(Value::as_str).map(|t| (i, t)))
            .filter(|(_, t)| grammar.governs(t))
            .collect();
        let mut previous: Option<&str> = None;
        let mut broken = false;
        for &(i, kind) in &governed {
            let allowed = match previous {
                None => &grammar.start,
                Some(p) => grammar.after.get(p).unwrap_or(&grammar.end),
            };
            if !allowed.iter().any(|a| a == kind) {
                let after = previous.map_or("at the start".to_owned(), |p| format!("after `{p}`"));
                push(
                    "stream-grammar",
                    "RSP-11",
                    Some(i),
                    format!(
                        "may not come {after}; expected one of {}",
                        if allowed.is_empty() {
                            "nothing (the stream has ended)".to_owned()
                        } else {
                            allowed.join(", ")
                        }
                    ),
                );
                broken = true;
                break;
            }
            previous = Some(kind);
        }
        if !broken {
            if let Some(last) = previous {
                if !grammar.terminal.iter().any(|t| t == last) {
                    push(
                        "stream-grammar/no terminal event",
                        "RSP-11",
                        governed.last().map(|g| g.0),
                        format!(
                            "the stream ends without a terminal event ({})",
                            grammar.terminal.join(", ")
                        ),
                    );
                }
            }
        }
    }

    // Invariants across events.
    let mut first_id: Option<&str> = None;
    for &(i, json) in &events_json {
        if let Some(id) = json.pointer("/response/id").and_then(Value::as_str) {
            match first_id {
                None => first_id = Some(id),
                Some(first) if first != id => {
                    push("stream-invariants/one response id", "RSP-12", Some(i), format!("names response `{id}`, the stream began with `{first}`: one stream is one response"));
                    break;
                }
                Some(_) => {}
            }
        }
    }
    let terminal = events_json.iter().rev().find(|(_, j)| {
        matches!(
            j.get("type").and_then(Value::as_str),
            Some("response.completed" | "response.incomplete" | "response.failed")
        )
    });
    let response = terminal.and_then(|(_, j)| j.get("response").cloned());
    // The terminal event's type says how the response ended; its `status` must say the same.
    if let Some(&(i, json)) = terminal {
        let kind = json.get("type").and_then(Value::as_str).unwrap_or("");
        let status = json.pointer("/response/status").and_then(Value::as_str);
        let expected = kind.trim_start_matches("response.");
        if status != Some(expected) {
            push(
                "stream-invariants/terminal status",
                "RSP-12",
                Some(i),
                format!(
                    "its response has `status` {}, expected \"{expected}\" as the event's type says",
                    status.map_or("absent".to_owned(), |s| format!("{s:?}"))
                ),
            );
        }
    }
    let mut deltas: BTreeMap<(String, u64), String> = BTreeMap::new();
    for &(i, json) in &events_json {
        let key = || {
            (
                json.get("item_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                json.get("content_index")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            )
        };
        match json.get("type").and_then(Value::as_str) {
            Some("response.output_text.delta") => {
                let delta = json.get("delta").and_then(Value::as_str).unwrap_or("");
                deltas.entry(key()).or_default().push_str(delta);
            }
            Some("response.output_text.done") => {
                let text = json.get("text").and_then(Value::as_str).unwrap_or("");
                let joined = deltas.get(&key()).map_or("", String::as_str);
                if joined != text {
                    push(
                        "stream-invariants/text of the deltas",
                        "RSP-12",
                        Some(i),
                        format!("its `text` {text:?} is not the concatenated deltas {joined:?}"),
                    );
                }
                let (item_id, index) = key();
                let final_text = response.as_ref().and_then(|r| {
                    r.get("output")?
                        .as_array()?
                        .iter()
                        .find(|o| o.get("id").and_then(Value::as_str) == Some(&item_id))?
                        .get("content")?
                        .get(usize::try_from(index).ok()?)?
                        .get("text")?
                        .as_str()
                        .map(str::to_owned)
                });
                if let Some(final_text) = final_text {
                    if final_text != text {
                        push(
                            "stream-invariants/text of the output",
                            "RSP-12",
                            Some(i),
                            format!("its `text` {text:?} is not the final output's {final_text:?}"),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    Checked {
        findings: out,
        response,
    }
}

/// What makes two stream findings the same defect: the check and the event's type; for the
/// grammar, the phase of the event out of place (`*.done`), which does not depend on what the
/// stream streams (text or a function call) as its type does.
fn summary_cause(check: &str, events: &[Event], at: Option<usize>) -> String {
    at.and_then(|i| events.get(i)).map_or_else(
        || "stream".to_owned(),
        |e| match (check, e.kind().rsplit_once('.')) {
            ("stream-grammar", Some((_, phase))) => format!("*.{phase} out of place"),
            _ => e.kind().to_owned(),
        },
    )
}

/// The schema pointer of each event type of `ResponseStreamEvent` (by the `type` constant).
fn event_schemas(spec: &Spec) -> BTreeMap<String, String> {
    let doc = spec.document();
    let mut out = BTreeMap::new();
    let union = doc.pointer("/components/schemas/ResponseStreamEvent/anyOf");
    for branch in union.and_then(Value::as_array).into_iter().flatten() {
        let Some(reference) = branch.get("$ref").and_then(Value::as_str) else {
            continue;
        };
        let Some(schema) = doc.pointer(reference.trim_start_matches('#')) else {
            continue;
        };
        let kinds = schema
            .pointer("/properties/type/enum")
            .and_then(Value::as_array);
        for kind in kinds.into_iter().flatten().filter_map(Value::as_str) {
            out.insert(kind.to_owned(), reference.to_owned());
        }
    }
    out
}

/// `x-conformance-stream-grammar` of the overlay: which event may follow which. Types it does
/// not name (reasoning, refusals, annotations, ...) are checked by schema only.
struct Grammar {
    start: Vec<String>,
    after: BTreeMap<String, Vec<String>>,
    terminal: Vec<String>,
    /// What may follow a terminal event: nothing.
    end: Vec<String>,
}

impl Grammar {
    fn of(spec: &Spec) -> Option<Self> {
        let g = spec.document().get("x-conformance-stream-grammar")?;
        let list = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        let after = g
            .get("after")
            .and_then(Value::as_object)?
            .iter()
            .map(|(k, v)| (k.clone(), list(Some(v))))
            .collect();
        Some(Self {
            start: list(g.get("start")),
            after,
            terminal: list(g.get("terminal")),
            end: Vec::new(),
        })
    }

    fn governs(&self, kind: &str) -> bool {
        self.start.iter().any(|s| s == kind)
            || self.terminal.iter().any(|s| s == kind)
            || self.after.contains_key(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    /// A text stream as the grammar wants it, with `edit` applied to its events.
    fn stream(edit: impl Fn(&mut Vec<Value>)) -> String {
        let response = |status: &str, output: Value| {
            serde_json::json!({"id": "resp_1", "object": "response", "created_at": 1, "status": status,
                "error": null, "incomplete_details": null, "instructions": null, "model": "m",
                "output": output, "parallel_tool_calls": true, "temperature": 1.0, "tool_choice": "auto",
                "tools": [], "top_p": 1.0, "metadata": {}})
        };
        let part = |text: &str| serde_json::json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
        let item = serde_json::json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": [part("a b")]});
        let text = |kind: &str, key: &str, value: &str| serde_json::json!({"type": kind, "item_id": "msg_1", "output_index": 0, "content_index": 0, key: value, "logprobs": []});
        let mut events = vec![
            serde_json::json!({"type": "response.created", "response": response("in_progress", serde_json::json!([]))}),
            serde_json::json!({"type": "response.in_progress", "response": response("in_progress", serde_json::json!([]))}),
            serde_json::json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}}),
            serde_json::json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": part("")}),
            text("response.output_text.delta", "delta", "a"),
            text("response.output_text.delta", "delta", " b"),
            text("response.output_text.done", "text", "a b"),
            serde_json::json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": part("a b")}),
            serde_json::json!({"type": "response.output_item.done", "output_index": 0, "item": item.clone()}),
            serde_json::json!({"type": "response.completed", "response": response("completed", serde_json::json!([item]))}),
        ];
        edit(&mut events);
        events
            .iter()
            .enumerate()
            .map(|(n, e)| {
                let mut e = e.clone();
                if e.get("sequence_number").is_none() {
                    e["sequence_number"] = n.into();
                }
                format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or(""))
            })
            .collect()
    }

    fn failing(body: &str) -> Vec<String> {
        let checked = check(&spec(), "text/event-stream; charset=utf-8", body);
        let mut ids: Vec<String> = checked
            .findings
            .iter()
            .filter_map(|f| f.requirement.clone())
            .collect();
        ids.dedup();
        ids
    }

    fn causes(body: &str) -> Vec<String> {
        check(&spec(), "text/event-stream", body)
            .findings
            .into_iter()
            .filter_map(|f| f.cause)
            .collect()
    }

    #[test]
    fn a_broken_rule_is_one_cause_whichever_event_shows_it() {
        // A `.done` skipped is one defect, whatever event comes in its place.
        let no_part_done = causes(&stream(|e| {
            e.remove(6);
        }));
        let no_item_done = causes(&stream(|e| {
            e.drain(6..8);
        }));
        assert_eq!(no_part_done, ["stream-grammar *.done out of place"]);
        assert_eq!(no_part_done, no_item_done);
        let created_twice = causes(&stream(|e| {
            let created = e[0].clone();
            e.insert(2, created);
        }));
        assert_ne!(created_twice, no_part_done);
        // A second response id is one defect on a completed stream and a cut one.
        let other_id = |terminal: &str| {
            causes(&stream(|e| {
                let last = e.len() - 1;
                e[last]["type"] = terminal.into();
                e[last]["response"]["status"] = terminal.trim_start_matches("response.").into();
                e[last]["response"]["id"] = "resp_2".into();
            }))
        };
        assert_eq!(
            other_id("response.completed"),
            ["stream-invariants one response id"]
        );
        assert_eq!(
            other_id("response.completed"),
            other_id("response.incomplete")
        );
    }

    #[test]
    fn each_check_kind_passes_a_good_stream_and_fails_its_break() {
        let good = stream(|_| {});
        assert_eq!(failing(&good), Vec::<String>::new(), "{good}");
        assert_eq!(failing(&format!("{good}data: [DONE]\n\n")), ["RSP-09"]);
        assert_eq!(
            failing(&good.replacen("event: response.in_progress", "event: response.other", 1)),
            ["RSP-09"]
        );
        assert_eq!(
            failing(&stream(|e| e.insert(
                4,
                serde_json::json!({"type": "response.output_text.shout"})
            ))),
            ["RSP-13"]
        );
        assert_eq!(
            failing(&stream(|e| e[5]["sequence_number"] = 9.into())),
            ["RSP-10"]
        );
        assert_eq!(
            failing(&stream(|e| {
                e.remove(6);
            })),
            ["RSP-11"]
        );
        assert_eq!(
            failing(&stream(|e| e[0]["response"]["id"] = "resp_2".into())),
            ["RSP-12"]
        );
        assert_eq!(
            failing(&stream(|e| e[5]["delta"] = " c".into())),
            ["RSP-12"]
        );
        assert_eq!(
            failing(&stream(|e| e[9]["type"] = "response.incomplete".into())),
            ["RSP-12"]
        );
    }

    #[test]
    fn splits_events_and_joins_data_lines() {
        let events = parse(
            "event: a\r\ndata: {\"type\":\ndata: \"a\"}\r\n\r\n: comment\n\ndata: [DONE]\n\n",
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].name.as_deref(), Some("a"));
        assert_eq!(events[0].kind(), "a");
        assert_eq!(events[1].data, "[DONE]");
    }
}
