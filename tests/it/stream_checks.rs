//! Every check kind of a streamed answer against a scripted SSE server (wiremock): a stream that
//! honours the contract passes, and each stream broken one way fails exactly the requirement
//! that owns the broken check, for Responses streams and chat completion streams alike. Also:
//! the dialect follows the operation a step names by path, what a broken stream leaves out of
//! the answer it stands for is one root cause, and snapshots of streams are stable.

use crate::common;

use common::chat_sse::{chat_stream, tool_stream};
use common::{base, failing_by_case, Fixture};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A Responses text stream as the contract wants it, with `edit` applied to its events.
fn responses_stream(edit: impl Fn(&mut Vec<Value>)) -> String {
    let response = |status: &str, output: Value| {
        json!({"id": "resp_1", "object": "response", "created_at": 1, "status": status,
            "error": null, "incomplete_details": null, "instructions": null, "model": "m",
            "output": output, "parallel_tool_calls": true, "temperature": 1.0, "tool_choice": "auto",
            "tools": [], "top_p": 1.0, "metadata": {}})
    };
    let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
    let item = json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "content": [part("a b")]});
    let text = |kind: &str, key: &str, value: &str| json!({"type": kind, "item_id": "msg_1", "output_index": 0, "content_index": 0, key: value, "logprobs": []});
    let mut events = vec![
        json!({"type": "response.created", "response": response("in_progress", json!([]))}),
        json!({"type": "response.in_progress", "response": response("in_progress", json!([]))}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": part("")}),
        text("response.output_text.delta", "delta", "a"),
        text("response.output_text.delta", "delta", " b"),
        text("response.output_text.done", "text", "a b"),
        json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": part("a b")}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item.clone()}),
        json!({"type": "response.completed", "response": response("completed", json!([item]))}),
    ];
    renumber(&mut events);
    edit(&mut events);
    events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
        .collect()
}

fn renumber(events: &mut [Value]) {
    for (n, event) in events.iter_mut().enumerate() {
        event["sequence_number"] = n.into();
    }
}

fn remove(value: &mut Value, key: &str) {
    value.as_object_mut().unwrap().remove(key);
}

/// One scripted answer: the case that asks for it, what it answers, and the requirements its
/// run must fail (none: it must pass).
struct Script {
    name: &'static str,
    chat: bool,
    content_type: &'static str,
    body: String,
    failing: &'static [&'static str],
}

fn sse(name: &'static str, chat: bool, body: String, failing: &'static [&'static str]) -> Script {
    Script {
        name,
        chat,
        content_type: "text/event-stream; charset=utf-8",
        body,
        failing,
    }
}

fn scripts() -> Vec<Script> {
    let r = |name, body, failing| sse(name, false, body, failing);
    let c = |name, body, failing| sse(name, true, body, failing);
    let good = responses_stream(|_| {});
    vec![
        r("r_good", good.clone(), &[]),
        // stream-framing
        r(
            "r_done_trailer",
            format!("{good}data: [DONE]\n\n"),
            &["RSP-09"],
        ),
        r(
            "r_event_name",
            good.replacen("event: response.in_progress", "event: response.other", 1),
            &["RSP-09"],
        ),
        Script {
            content_type: "text/plain",
            ..r("r_content_type", good.clone(), &["RSP-09"])
        },
        // stream-event-schema
        r(
            "r_unknown_type",
            responses_stream(|e| {
                e.insert(4, json!({"type": "response.output_text.shout"}));
                renumber(e);
            }),
            &["RSP-13"],
        ),
        r(
            "r_schema",
            responses_stream(|e| e[3]["output_index"] = json!("0")),
            &["RSP-13"],
        ),
        // stream-sequence
        r(
            "r_sequence_gap",
            responses_stream(|e| e[5]["sequence_number"] = 9.into()),
            &["RSP-10"],
        ),
        r(
            "r_sequence_missing",
            responses_stream(|e| e.iter_mut().for_each(|e| remove(e, "sequence_number"))),
            &["RSP-10"],
        ),
        // stream-grammar
        r(
            "r_without_done",
            responses_stream(|e| {
                e.remove(6);
                renumber(e);
            }),
            &["RSP-11"],
        ),
        r(
            "r_after_terminal",
            responses_stream(|e| {
                let mut late = e[5].clone();
                late["sequence_number"] = 10.into();
                e.push(late);
            }),
            &["RSP-11"],
        ),
        // stream-invariants
        r(
            "r_two_ids",
            responses_stream(|e| e[0]["response"]["id"] = "resp_2".into()),
            &["RSP-12"],
        ),
        r(
            "r_deltas",
            responses_stream(|e| e[5]["delta"] = " c".into()),
            &["RSP-12"],
        ),
        r(
            "r_terminal_status",
            responses_stream(|e| e[9]["response"]["status"] = "incomplete".into()),
            &["RSP-12"],
        ),
        c("c_good", chat_stream(|_| {}), &[]),
        c("c_tools_good", tool_stream(|_| {}), &[]),
        // chat-stream-framing
        c(
            "c_without_done",
            chat_stream(|_| {}).replace("data: [DONE]\n\n", ""),
            &["CHT-05"],
        ),
        c(
            "c_not_json",
            chat_stream(|_| {}).replacen("data: {", "data: {oops", 1),
            &["CHT-05"],
        ),
        // chat-stream-chunk-schema
        c(
            "c_created_float",
            chat_stream(|c| c.iter_mut().for_each(|c| c["created"] = json!(1.5))),
            &["CHT-06"],
        ),
        // chat-stream-invariants
        c(
            "c_two_ids",
            chat_stream(|c| c[2]["id"] = json!("chatcmpl-2")),
            &["CHT-07"],
        ),
        c(
            "c_finish_twice",
            chat_stream(|c| c[2]["choices"][0]["finish_reason"] = json!("stop")),
            &["CHT-07"],
        ),
        // chat-stream-usage
        c(
            "c_usage_early",
            chat_stream(|c| c[1]["usage"] = c[4]["usage"].clone()),
            &["CHT-08"],
        ),
        // chat-usage-arithmetic, on the usage chunk
        c(
            "c_usage_sum",
            chat_stream(|c| c[4]["usage"]["total_tokens"] = json!(5)),
            &["CHT-03"],
        ),
        // chat-stream-tool-calls
        c(
            "c_tool_without_index",
            tool_stream(|c| remove(&mut c[2]["choices"][0]["delta"]["tool_calls"][0], "index")),
            &["CHT-09"],
        ),
        c(
            "c_tool_name_repeated",
            tool_stream(|c| {
                c[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] = json!("f")
            }),
            &["CHT-09"],
        ),
        // chat-tool-arguments, on the concatenated arguments
        c(
            "c_tool_arguments",
            tool_stream(|c| {
                c[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] = json!(": 1")
            }),
            &["CHT-10"],
        ),
    ]
}

/// The case that asks the scripted server for `script`: streamed, by operation (or, for
/// `by_path`, by method and path), and marked so that the server knows which answer to give.
fn case(script: &Script, by_path: bool) -> String {
    let (operation, body) = if script.chat {
        let usage = !script.name.starts_with("c_tool");
        (
            "createChatCompletion",
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true,
                "user": script.name, "stream_options": {"include_usage": usage}}),
        )
    } else {
        (
            "createResponse",
            json!({"model": "m", "input": "hi", "stream": true, "store": false,
                "metadata": {"script": script.name}}),
        )
    };
    let requirement = if script.chat { "CHT-05" } else { "RSP-09" };
    let target = if by_path {
        "method: POST\n    path: /chat/completions".to_owned()
    } else {
        format!("operation: {operation}")
    };
    format!(
        "requirement: {requirement}\nsteps:\n  - {target}\n    stream: true\n    body: {body}\n    expect: {{status: 200}}\n"
    )
}

async fn scripted_server(scripts: &[Script]) -> MockServer {
    let server = MockServer::start().await;
    for script in scripts {
        let (route, marker) = if script.chat {
            ("/v1/chat/completions", json!({"user": script.name}))
        } else {
            (
                "/v1/responses",
                json!({"metadata": {"script": script.name}}),
            )
        };
        Mock::given(method("POST"))
            .and(path(route))
            .and(body_partial_json(marker))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(script.body.clone().into_bytes(), script.content_type),
            )
            .mount(&server)
            .await;
    }
    server
}

#[tokio::test]
async fn each_stream_check_kind_passes_an_honest_stream_and_fails_its_break() {
    let scripts = scripts();
    let files: Vec<(String, String)> = scripts
        .iter()
        .map(|s| (format!("s/{}.yaml", s.name), case(s, false)))
        .collect();
    let fixture = Fixture::new(
        &files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect::<Vec<_>>(),
    );
    let server = scripted_server(&scripts).await;
    let (run, report) = fixture.run_reporting(&base(&server), &[]).await;
    run.assert_code(1);
    let results = failing_by_case(&report);
    let mut wrong = Vec::new();
    for script in &scripts {
        let (failing, _) = &results[&format!("s/{}", script.name)];
        let expected: BTreeSet<String> = script.failing.iter().map(|s| (*s).to_owned()).collect();
        if *failing != expected {
            wrong.push(format!(
                "{}: failing {failing:?}, expected {expected:?}",
                script.name
            ));
        }
    }
    assert!(wrong.is_empty(), "{}\n{}", wrong.join("\n"), run.all());
    // A finding names the event's index and type, with the events around it.
    run.assert_contains("event 9 (response.completed): its response has `status` \"incomplete\"");
    run.assert_contains("> 5: {\"type\":\"response.output_text.delta\"");
}

#[tokio::test]
async fn a_chat_stream_step_named_by_path_gets_the_chat_stream_checks() {
    let scripts: Vec<Script> = scripts()
        .into_iter()
        .filter(|s| s.name == "c_good" || s.name == "c_without_done")
        .collect();
    let files: Vec<(String, String)> = scripts
        .iter()
        .map(|s| (format!("p/{}.yaml", s.name), case(s, true)))
        .collect();
    let fixture = Fixture::new(
        &files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect::<Vec<_>>(),
    );
    let server = scripted_server(&scripts).await;
    let (run, report) = fixture.run_reporting(&base(&server), &[]).await;
    run.assert_code(1);
    let results = failing_by_case(&report);
    assert_eq!(results["p/c_good"].0, BTreeSet::new(), "{}", run.all());
    assert_eq!(
        results["p/c_without_done"].0,
        BTreeSet::from(["CHT-05".to_owned()]),
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn what_a_broken_stream_leaves_out_of_its_answer_is_one_root_cause() {
    // The matcher on the tool call that the broken deltas left out is the same defect.
    let script = scripts()
        .into_iter()
        .find(|s| s.name == "c_tool_without_index")
        .unwrap();
    let case = case(&script, false).replace(
        "expect: {status: 200}",
        "expect:\n      status: 200\n      json:\n        choices[0].message.tool_calls[0].function.name: {equals: f, requirement: CHT-10}\n        choices[0].finish_reason: {equals: tool_calls, requirement: CHT-11}",
    );
    let fixture = Fixture::new(&[("s/c_tool_without_index.yaml", &case)]);
    let server = scripted_server(&[script]).await;
    let (run, report) = fixture.run_reporting(&base(&server), &[]).await;
    run.assert_code(1);
    let (failing, causes) = &failing_by_case(&report)["s/c_tool_without_index"];
    assert_eq!(
        *failing,
        BTreeSet::from(["CHT-09".to_owned()]),
        "{}",
        run.all()
    );
    assert_eq!(causes.len(), 1, "{causes:?}\n{}", run.all());
    run.assert_contains("(follows from the stream's defect above)");
}

#[tokio::test]
async fn a_stream_snapshot_is_the_same_from_run_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    let args = || {
        [
            "run",
            "--no-derived",
            "--snapshots",
            set.to_str().unwrap(),
            "stream",
        ]
        .map(String::from)
        .to_vec()
    };
    // Recorded against one embedded server, compared against another: other ids, other times.
    let recorded = common::exec(args(), &[("INSTA_UPDATE", "always")]).await;
    recorded.assert_code(0);
    let compared = common::exec(args(), &[]).await;
    compared.assert_code(0);
    compared.assert_lacks("snapshot `");
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    for name in ["responses__stream_text@1.snap", "chat__stream@1.snap"] {
        let text = std::fs::read_to_string(set.join(name)).unwrap();
        assert_eq!(
            text,
            std::fs::read_to_string(committed.join(name)).unwrap(),
            "{name}"
        );
        for dynamic in ["resp_", "msg_", "chatcmpl-"] {
            assert!(!text.contains(dynamic), "{name} keeps an id: {text}");
        }
        assert!(
            text.contains("\"[id]\"") && text.contains("[created"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn every_event_the_reference_server_streams_is_an_event_of_the_spec() {
    use conformance::server::{spawn, ServerConfig};
    let spec = conformance::spec::Spec::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs"),
    )
    .unwrap();
    let server = spawn(ServerConfig::default(), "127.0.0.1", 0)
        .await
        .unwrap();
    conformance::target::install_tls_provider();
    let client = reqwest::Client::new();
    let post = |route: &str, body: Value| {
        client
            .post(format!("{}{route}", server.base_url()))
            .bearer_auth("sk-test")
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(std::time::Duration::from_secs(10))
            .send()
    };
    let answer = post("/conversations", json!({})).await.unwrap();
    let conversation: Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    let tool = json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]);
    let words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen";
    let responses = [
        json!({"model": "m", "input": "a few words", "stream": true}),
        json!({"model": "m", "input": words, "max_output_tokens": 16, "stream": true}),
        json!({"model": "m", "input": "call get_weather", "tools": tool, "stream": true}),
        json!({"model": "m", "input": "in it", "conversation": conversation["id"], "stream": true}),
    ];
    let mut kinds = BTreeSet::new();
    for body in responses {
        let answer = post("/responses", body.clone()).await.unwrap();
        let content_type = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let text = answer.text().await.unwrap();
        let checked = conformance::stream::check(&spec, &content_type, &text);
        let findings: Vec<&str> = checked
            .findings
            .iter()
            .map(|f| f.summary.as_str())
            .collect();
        assert!(findings.is_empty(), "{body}: {findings:?}\n{text}");
        assert!(checked.response.is_some(), "{body}: no terminal event");
        for event in conformance::stream::parse(&text) {
            kinds.insert(event.json.unwrap()["type"].as_str().unwrap().to_owned());
        }
    }
    for kind in [
        "response.output_text.delta",
        "response.function_call_arguments.done",
        "response.completed",
        "response.incomplete",
    ] {
        assert!(kinds.contains(kind), "{kind} never streamed: {kinds:?}");
    }
    let chats = [
        json!({"model": "m", "messages": [{"role": "user", "content": "hi there"}], "stream": true, "n": 2}),
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}}],
            "tool_choice": "required"}),
    ];
    for body in chats {
        let include_usage = body.pointer("/stream_options/include_usage") == Some(&json!(true));
        let answer = post("/chat/completions", body.clone()).await.unwrap();
        let content_type = answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let text = answer.text().await.unwrap();
        let checked = conformance::chat::check_stream(&spec, &content_type, &text, include_usage);
        let completion = checked.completion.clone().unwrap_or_default();
        let findings: Vec<String> = checked
            .findings
            .into_iter()
            .chain(conformance::chat::check_completion(
                &spec,
                &completion,
                true,
            ))
            .map(|f| f.summary)
            .collect();
        assert!(findings.is_empty(), "{body}: {findings:?}\n{text}");
    }
}

#[tokio::test]
async fn matchers_on_a_responses_stream_without_its_end_follow_from_that_defect() {
    let script = sse(
        "r_no_terminal",
        false,
        responses_stream(|e| {
            e.pop();
        }),
        &["RSP-11"],
    );
    let case = case(&script, false).replace(
        "expect: {status: 200}",
        "expect:\n      status: 200\n      json:\n        status: {equals: completed, requirement: RSP-01}\n        output[0].type: {equals: message}",
    );
    let fixture = Fixture::new(&[("s/r_no_terminal.yaml", &case)]);
    let server = scripted_server(&[script]).await;
    let (run, report) = fixture.run_reporting(&base(&server), &[]).await;
    run.assert_code(1);
    let (failing, causes) = &failing_by_case(&report)["s/r_no_terminal"];
    assert_eq!(
        *failing,
        BTreeSet::from(["RSP-11".to_owned()]),
        "{}",
        run.all()
    );
    assert_eq!(causes.len(), 1, "{causes:?}\n{}", run.all());
    run.assert_contains("the stream ends without a terminal event");
}
