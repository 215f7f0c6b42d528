use super::*;
use chat_sse::{chat_stream, choice, tool_stream};
use serde_json::json;

#[path = "../../tests/common/chat_sse.rs"]
mod chat_sse;

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
    let on_every_chunk = chat_stream(|chunks| {
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
    let good = chat_stream(|_| {});
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
    let good = chat_stream(|_| {});
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
            &chat_stream(|c| c.iter_mut().for_each(|c| c["created"] = json!(1.5))),
            true
        ),
        ["CHT-06"]
    );
    assert_eq!(
        failing(
            &chat_stream(|c| c[1]["object"] = json!("chat.completion")),
            true
        ),
        ["CHT-06"]
    );
    // Invariants.
    assert_eq!(
        failing(&chat_stream(|c| c[2]["id"] = json!("chatcmpl-2")), true),
        ["CHT-07"]
    );
    assert_eq!(
        failing(
            &chat_stream(|c| {
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
            &chat_stream(|c| c[2]["choices"][0]["finish_reason"] = json!("stop")),
            true
        ),
        ["CHT-07"]
    );
    assert_eq!(
        failing(
            &chat_stream(|c| c[3]["choices"][0]["finish_reason"] = Value::Null),
            true
        ),
        ["CHT-07"]
    );
    assert_eq!(
        failing(
            &chat_stream(|c| c[3]["choices"][0]["finish_reason"] = json!("tool_call")),
            true
        ),
        ["CHT-07"]
    );
    // Usage.
    assert_eq!(
        failing(
            &chat_stream(|c| c[1]["usage"] = c[4]["usage"].clone()),
            true
        ),
        ["CHT-08"]
    );
    assert_eq!(
        failing(
            &chat_stream(|c| c[4]["choices"] = choice(json!({}), Value::Null)),
            true
        ),
        ["CHT-08"]
    );
    assert_eq!(
        failing(
            &chat_stream(|c| {
                c.pop();
            }),
            true
        ),
        ["CHT-08"]
    );
    assert_eq!(failing(&chat_stream(|_| {}), false), ["CHT-08"]);
    assert_eq!(
        failing(
            &chat_stream(|c| c[4]["usage"]["total_tokens"] = json!(5)),
            true
        ),
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
            &tool_stream(
                |c| c[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] = json!("f")
            ),
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
