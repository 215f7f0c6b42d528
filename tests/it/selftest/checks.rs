//! Each check of an answer: a server that breaks it fails the case under the requirement that
//! owns it, saying why, once; snapshots of answers.

use super::*;

#[tokio::test]
async fn a_wrong_status_fails_the_case_and_names_the_requirement() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let broken = answering(
        "POST",
        json_response(201, conversation(json!({"topic": "demo"}))),
    )
    .await;
    let run = fixture.run(&base(&broken), &[]).await;
    run.assert_code(1);
    run.assert_contains("CRE-02 MUST: metadata given at create is answered and persisted");
    run.assert_contains("expected status 200, got 201");
    run.assert_contains("--> cases/create.yaml:3:5 step 1");
    run.assert_contains("reproduce: curl -sS -X POST");

    let honest = honest_server(conversation(json!({"topic": "demo"}))).await;
    let run = fixture.run(&base(&honest), &[]).await;
    run.assert_code(0);
    run.assert_contains("test create ... ok");
}

#[tokio::test]
async fn an_answer_that_breaks_the_schema_fails_with_instance_and_schema_paths() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let mut bad = conversation(json!({"topic": "demo"}));
    bad["created_at"] = json!("yesterday");
    let broken = honest_server(bad).await;
    let run = fixture.run(&base(&broken), &[]).await;
    run.assert_code(1);
    run.assert_contains("the 200 answer does not match its schema in the spec (1 error: at /created_at: type failed)");
    run.assert_contains("at /created_at: \"yesterday\" is not of type \"integer\"");
    run.assert_contains(
        "(schema #/components/schemas/ConversationResource/properties/created_at/type)",
    );
}

#[tokio::test]
async fn a_wrong_json_value_fails_with_expected_and_actual() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let broken = honest_server(conversation(json!({}))).await;
    let run = fixture.run(&base(&broken), &[]).await;
    run.assert_code(1);
    run.assert_contains("metadata: expected {\"topic\":\"demo\"}, got {}");
    run.assert_contains("diff (- expected, + actual):");
}

#[tokio::test]
async fn a_wrong_content_type_fails_gen_01_once_not_again_as_a_header_check() {
    let case = "requirement: GEN-01\nsteps:\n- operation: createConversation\n  expect:\n    status: 200\n    headers:\n      content-type: {pattern: '^application/json'}\n";
    let fixture = Fixture::new(&[("header.yaml", case)]);
    let broken = answering(
        "POST",
        ResponseTemplate::new(200).set_body_raw(conversation(json!({})).to_string(), "text/plain"),
    )
    .await;
    let run = fixture.run(&base(&broken), &[]).await;
    run.assert_code(1);
    run.assert_contains("GEN-01 MUST: Content-Type is `text/plain`");
    // The case's own header check says what GEN-01's implicit check said: reported once.
    run.assert_lacks("header content-type: expected a string matching");

    let honest = honest_server(conversation(json!({}))).await;
    fixture.run(&base(&honest), &[]).await.assert_code(0);
}

#[tokio::test]
async fn a_capture_that_finds_nothing_stops_the_case() {
    let case = "requirement: UPD-02\nsteps:\n- operation: createConversation\n  capture: {conv: conversation.id}\n\
                - operation: getConversation\n  path_params: {conversation_id: '{{conv}}'}\n";
    let fixture = Fixture::new(&[("capture.yaml", case)]);
    let server = honest_server(conversation(json!({}))).await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(1);
    run.assert_contains("capture `conv` captured nothing: nothing is at `conversation.id`");
    let gets: Vec<Request> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "GET" && !r.url.path().ends_with("preflt"))
        .collect();
    assert!(
        gets.is_empty(),
        "the step after a failed capture must not run"
    );

    let case = case.replace("conversation.id", "id");
    let fixture = Fixture::new(&[("capture.yaml", &case)]);
    fixture.run(&base(&server), &[]).await.assert_code(0);
}

#[tokio::test]
async fn should_failures_warn_and_fail_only_with_strict_and_info_is_reported() {
    let should = "requirement: CRE-04\nsteps:\n- operation: createConversation\n  expect:\n    json:\n      id: {pattern: '^conv_'}\n";
    let info = "requirement: UPD-04\nsteps:\n- operation: createConversation\n  observe: {path: metadata.a, present: merge, absent: replace}\n";
    let fixture = Fixture::new(&[("should.yaml", should), ("info.yaml", info)]);
    let mut odd = conversation(json!({}));
    odd["id"] = json!("c-1");
    let server = honest_server(odd).await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(0);
    run.assert_contains("warnings: 1 SHOULD root cause not met (--strict makes them fail):");
    run.assert_contains(
        "    CRE-04 SHOULD: id: expected a string matching /^conv_/, got \"c-1\"   (1 finding in 1 case: should)",
    );
    run.assert_contains("info: UPD-04 = replace");

    let strict = fixture.run(&base(&server), &["--strict"]).await;
    strict.assert_code(1);
    strict.assert_contains("CRE-04 SHOULD: id: expected a string matching");

    let honest = honest_server(conversation(json!({}))).await;
    let run = fixture.run(&base(&honest), &["--strict"]).await;
    run.assert_code(0);
    run.assert_lacks("warnings:");
}

#[tokio::test]
async fn snapshots_are_recorded_per_target_and_a_changed_answer_fails() {
    let case = "requirement: CRE-02\nsteps:\n- operation: createConversation\n  body: {metadata: {topic: demo}}\n  snapshot: true\n";
    let fixture = Fixture::new(&[("snap.yaml", case)]);
    let server = honest_server(conversation(json!({"topic": "demo"}))).await;
    let url = base(&server);

    // No target name: snapshots are skipped, and said so.
    let run = fixture.run(&url, &[]).await;
    run.assert_code(0);
    run.assert_contains("snapshots: skipped for this target");

    // A target name without a set: skipped, with how to record one.
    let run = fixture.run(&url, &["--target-name", "mock"]).await;
    run.assert_code(0);
    run.assert_contains("target `mock` has no snapshot set");

    // Record, then the same answer passes.
    let run = fixture
        .run_with_env(
            &url,
            &["--target-name", "mock"],
            &[("INSTA_UPDATE", "always")],
        )
        .await;
    run.assert_code(0);
    let snap = fixture.path().join("snapshots/mock/snap@1.snap");
    let text = std::fs::read_to_string(&snap).unwrap();
    assert!(text.contains("\"id\": \"[id]\""), "{text}");
    assert!(text.contains("\"created_at\": \"[created_at]\""), "{text}");
    fixture
        .run(&url, &["--target-name", "mock"])
        .await
        .assert_code(0);

    // A changed answer fails as a regression, apart from conformance verdicts.
    let changed = honest_server(conversation(json!({"topic": "demo", "extra": "x"}))).await;
    let case_changed = "requirement: CRE-02\nsteps:\n- operation: createConversation\n  body: {metadata: {topic: demo}}\n  snapshot: true\n";
    assert_eq!(case, case_changed);
    let run = fixture
        .run(&base(&changed), &["--target-name", "mock"])
        .await;
    run.assert_code(1);
    run.assert_contains("snapshot `snap@1` differs from");
    run.assert_contains("cargo insta review");
}

#[tokio::test]
async fn a_server_error_fails_gen_05_whatever_the_case_expects() {
    let case = "requirement: UPD-15\nsteps:\n- operation: getConversation\n  path_params: {conversation_id: x}\n";
    let fixture = Fixture::new(&[("five.yaml", case)]);
    let server = MockServer::start().await;
    Mock::given(path_regex("^/v1/conversations/.*$"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .mount(&server)
        .await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(1);
    run.assert_contains("GEN-05 MUST: the server answered 502 (a 5xx)");
}

#[tokio::test]
async fn errors_without_the_error_object_fail_gen_02_and_warn_gen_03() {
    let case = "requirement: RET-02\nsteps:\n- operation: getConversation\n  path_params: {conversation_id: conv_x}\n  expect: {status: 404}\n";
    let fixture = Fixture::new(&[("err.yaml", case)]);
    let detail = answering("GET", json_response(404, json!({"detail": "Not Found"}))).await;
    let run = fixture.run(&base(&detail), &[]).await;
    run.assert_code(1);
    run.assert_contains("GEN-02 MUST: the 404 answer does not match its schema in the spec");

    let partial = answering(
        "GET",
        json_response(
            404,
            json!({"error": {"message": "gone", "type": "invalid_request_error"}}),
        ),
    )
    .await;
    let run = fixture.run(&base(&partial), &[]).await;
    run.assert_code(0);
    run.assert_contains("    GEN-03 SHOULD: the error object lacks `param` or `code`");
}

#[tokio::test]
async fn checks_under_a_part_the_answer_lacks_are_one_finding_about_that_part() {
    let case = "requirement: GEN-09
steps:
  - method: GET
    path: /things
    expect:
      status: 200
      json:
        a.b.c: {equals: 1}
        a.b.d: {type: string}
        list: {length: 2}
        list[1].id: {type: string}
        list[0].id: {type: string}
";
    let fixture = Fixture::new(&[("things.yaml", case)]);
    let broken = answering("GET", json_response(200, json!({"list": [{"id": "x"}]}))).await;
    let run = fixture.run(&base(&broken), &[]).await;
    run.assert_code(1);
    run.assert_contains("GEN-09 MUST: a: expected a value, found nothing");
    run.assert_contains("needed for `a.b.c`");
    run.assert_contains("also on this answer: list: expected length 2, got 1");
    run.assert_lacks("a.b.d: expected");
    run.assert_lacks("list[1]");
    run.assert_contains("root causes: 1 ");

    let honest = answering(
        "GET",
        json_response(
            200,
            json!({"a": {"b": {"c": 1, "d": "x"}}, "list": [{"id": "x"}, {"id": "y"}]}),
        ),
    )
    .await;
    let run = fixture.run(&base(&honest), &[]).await;
    run.assert_code(0);
}

#[tokio::test]
async fn an_answer_of_another_status_is_one_finding_its_body_in_the_details() {
    let case = "requirement: RET-02
steps:
  - operation: getConversation
    path_params: {conversation_id: conv_does_not_exist}
    expect: {status: 404}
";
    let fixture = Fixture::new(&[("unknown.yaml", case)]);
    let broken = answering(
        "GET",
        json_response(200, json!({"object": "list", "data": []})),
    )
    .await;
    let run = fixture.run(&base(&broken), &[]).await;
    run.assert_code(1);
    run.assert_contains("RET-02 MUST: expected status 404, got 200");
    run.assert_contains("the answer also breaks its schema: the 200 answer does not match");
    run.assert_contains("root causes: 1 ");
}

#[tokio::test]
async fn an_element_of_another_kind_is_one_finding_not_one_per_field_of_the_kind_asked() {
    let case = "requirement: GEN-09
steps:
  - method: GET
    path: /things
    expect:
      status: 200
      json:
        output[0].type: {equals: function_call}
        output[0].name: {equals: get_weather}
        output[0].call_id: {type: string}
        output[1].id: {type: string}
";
    let fixture = Fixture::new(&[("kinds.yaml", case)]);
    let broken = answering(
        "GET",
        json_response(
            200,
            json!({"output": [{"type": "message", "content": []}, {"id": 7}]}),
        ),
    )
    .await;
    let run = fixture.run(&base(&broken), &[]).await;
    run.assert_code(1);
    run.assert_contains("GEN-09 MUST: output[0].type: expected \"function_call\", got \"message\"");
    run.assert_lacks("output[0].name");
    run.assert_lacks("output[0].call_id");
    // Another element's own check is listed under it: one answer, one root cause.
    run.assert_contains("also on this answer: output[1].id: expected type string");
    run.assert_contains("root causes: 1 ");
}
