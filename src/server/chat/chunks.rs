//! The frames of a streamed completion, with the stream deviations.

use serde_json::{json, Value};

use crate::server::deviation::{Deviation, Deviations};

/// The frames of a streamed completion, `data: [DONE]` last.
pub(super) fn chunks(
    completion: &Value,
    tokens: &[String],
    call: Option<&(String, Value, String)>,
    include_usage: bool,
    deviations: Deviations,
) -> String {
    let d = |deviation| deviations.deviates(deviation);
    let choices = completion["choices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    let chunk = |choices: Value| {
        json!({"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
            "model": completion["model"], "service_tier": "default", "system_fingerprint": "fp_conformance", "choices": choices})
    };
    let running = |index: &Value, delta: Value| {
        let mut choice =
            json!({"index": index, "delta": delta, "logprobs": null, "finish_reason": null});
        if d(Deviation::ChatFinishReasonMissing) {
            if let Some(c) = choice.as_object_mut() {
                c.remove("finish_reason");
            }
        }
        json!([choice])
    };
    for choice in &choices {
        let index = &choice["index"];
        match call {
            Some((id, name, arguments)) => {
                out.push(chunk(running(
                    index,
                    json!({"role": "assistant", "content": null, "refusal": null}),
                )));
                let mut first = json!({"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
                if d(Deviation::ToolDeltaArgumentsNull) {
                    first["function"]["arguments"] = Value::Null;
                }
                if d(Deviation::ToolDeltaWithoutType) {
                    if let Some(f) = first.as_object_mut() {
                        f.remove("type");
                    }
                }
                out.push(chunk(running(index, json!({"tool_calls": [first]}))));
                let middle = arguments.len() / 2;
                let middle = (0..=middle)
                    .rev()
                    .find(|&i| arguments.is_char_boundary(i))
                    .unwrap_or(0);
                for piece in [&arguments[..middle], &arguments[middle..]] {
                    let mut delta = json!({"index": 0, "function": {"arguments": piece}});
                    if d(Deviation::ToolDeltaWithoutIndex) {
                        if let Some(f) = delta.as_object_mut() {
                            f.remove("index");
                        }
                    }
                    out.push(chunk(running(index, json!({"tool_calls": [delta]}))));
                }
            }
            None => {
                out.push(chunk(running(
                    index,
                    json!({"role": "assistant", "content": "", "refusal": null}),
                )));
                for token in tokens {
                    out.push(chunk(running(index, json!({"content": token}))));
                }
            }
        }
        let finish = chunk(
            json!([{"index": index, "delta": {}, "logprobs": null, "finish_reason": choice["finish_reason"]}]),
        );
        out.push(finish.clone());
        if d(Deviation::ChatFinishReasonTwice) {
            out.push(finish);
        }
    }
    let usage = completion["usage"].clone();
    if include_usage || d(Deviation::ChatUsageEveryChunk) {
        for c in &mut out {
            c["usage"] = if d(Deviation::ChatUsageEveryChunk) {
                usage.clone()
            } else {
                Value::Null
            };
        }
    }
    if include_usage {
        if d(Deviation::ChatUsageChunkWithChoices) {
            if let Some(last) = out.last_mut() {
                last["usage"] = usage;
            }
        } else {
            let mut last = chunk(json!([]));
            last["usage"] = usage;
            out.push(last);
        }
    }
    let mut body: String = out.iter().map(|c| format!("data: {c}\n\n")).collect();
    if !d(Deviation::ChatWithoutDone) {
        body.push_str("data: [DONE]\n\n");
    }
    body
}
