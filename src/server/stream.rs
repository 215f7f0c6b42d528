//! The event stream of a streamed response (`stream: true`): `event:` and `data:` lines per
//! event, `sequence_number` from 0 by 1, in the order of the Responses stream grammar
//! (`specs/overlay.yaml`, `x-conformance-stream-grammar`), one terminal event, no `[DONE]`.

use serde_json::{json, Value};

use super::deviation::{Deviation, Deviations};
use super::model::Output;

/// The whole stream of `response` (finished), whose one output item `output` made.
pub(crate) fn events(response: &Value, output: &Output, deviations: Deviations) -> String {
    let mut events: Vec<Value> = Vec::new();
    let mut started = response.clone();
    started["status"] = json!("in_progress");
    started["output"] = json!([]);
    if let Some(started) = started.as_object_mut() {
        started.remove("usage");
    }
    started["incomplete_details"] = Value::Null;
    if deviations.deviates(Deviation::StreamTwoResponseIds) {
        started["id"] = json!(super::store::random_id("resp_"));
    }
    events.push(json!({"type": "response.created", "response": started.clone()}));
    events.push(json!({"type": "response.in_progress", "response": started}));
    let item = &response["output"][0];
    let item_id = item["id"].clone();
    let mut opened = item.clone();
    opened["status"] = json!("in_progress");
    let missing_done = deviations.deviates(Deviation::StreamWithoutDoneEvents);
    match output {
        Output::Text { tokens, .. } => {
            opened["content"] = json!([]);
            events.push(
                json!({"type": "response.output_item.added", "output_index": 0, "item": opened}),
            );
            let empty =
                json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
            events.push(json!({"type": "response.content_part.added", "item_id": item_id, "output_index": 0, "content_index": 0, "part": empty}));
            for token in tokens {
                events.push(json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0, "content_index": 0, "delta": token, "logprobs": []}));
            }
            if !missing_done {
                events.push(json!({"type": "response.output_text.done", "item_id": item_id, "output_index": 0, "content_index": 0, "text": output.text(), "logprobs": []}));
            }
            events.push(json!({"type": "response.content_part.done", "item_id": item_id, "output_index": 0, "content_index": 0, "part": item["content"][0]}));
        }
        Output::FunctionCall { name } => {
            opened["arguments"] = json!("");
            events.push(
                json!({"type": "response.output_item.added", "output_index": 0, "item": opened}),
            );
            events.push(json!({"type": "response.function_call_arguments.delta", "item_id": item_id, "output_index": 0, "delta": "{}"}));
            if !missing_done {
                events.push(json!({"type": "response.function_call_arguments.done", "item_id": item_id, "output_index": 0, "name": name, "arguments": "{}"}));
            }
        }
    }
    events.push(json!({"type": "response.output_item.done", "output_index": 0, "item": item}));
    let terminal = if response["status"] == "incomplete" {
        "response.incomplete"
    } else {
        "response.completed"
    };
    events.push(json!({"type": terminal, "response": response}));
    let mut out = String::new();
    for (n, mut event) in events.into_iter().enumerate() {
        if !deviations.deviates(Deviation::StreamWithoutSequenceNumbers) {
            event["sequence_number"] = json!(n);
        }
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        out.push_str(&format!("event: {kind}\ndata: {event}\n\n"));
    }
    if deviations.deviates(Deviation::StreamDoneTrailer) {
        out.push_str("data: [DONE]\n\n");
    }
    out
}
