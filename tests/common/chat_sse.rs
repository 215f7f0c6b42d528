//! Chat completion streams as the contract wants them, to break one way at a time: the stream
//! checks' unit tests (`src/chat/tests.rs`) and their integration tests include this file alike.
#![allow(dead_code)] // each includer uses its own part

use serde_json::{json, Value};

/// A chunk of the stream with these `choices`.
pub fn chunk(choices: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices})
}

/// The `choices` of one choice with this `delta` and `finish_reason`.
pub fn choice(delta: Value, finish: Value) -> Value {
    json!([{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}])
}

/// The chunks as `data:` frames, ended by `[DONE]`.
pub fn frames(chunks: &[Value]) -> String {
    let mut out: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    out.push_str("data: [DONE]\n\n");
    out
}

/// A text stream with its usage chunk (`include_usage`), with `edit` applied.
pub fn chat_stream(edit: impl Fn(&mut Vec<Value>)) -> String {
    let mut chunks = vec![
        chunk(choice(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )),
        chunk(choice(json!({"content": "a"}), Value::Null)),
        chunk(choice(json!({"content": " b"}), Value::Null)),
        chunk(choice(json!({}), json!("stop"))),
        chunk(json!([])),
    ];
    for c in &mut chunks[..4] {
        c["usage"] = Value::Null;
    }
    chunks[4]["usage"] = json!({"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4});
    edit(&mut chunks);
    frames(&chunks)
}

/// A stream calling the tool `f` with `{"a": 1}`, with `edit` applied.
pub fn tool_stream(edit: impl Fn(&mut Vec<Value>)) -> String {
    let call = |d: Value| json!({"tool_calls": [d]});
    let mut chunks = vec![
        chunk(choice(
            json!({"role": "assistant", "content": null}),
            Value::Null,
        )),
        chunk(choice(
            call(
                json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}),
            ),
            Value::Null,
        )),
        chunk(choice(
            call(json!({"index": 0, "function": {"arguments": "{\"a\""}})),
            Value::Null,
        )),
        chunk(choice(
            call(json!({"index": 0, "function": {"arguments": ": 1}"}})),
            Value::Null,
        )),
        chunk(choice(json!({}), json!("tool_calls"))),
    ];
    edit(&mut chunks);
    frames(&chunks)
}
