//! Cases derived from the spec's constraints and the overlay, and the coverage they give.

use super::*;

/// A copy of the bundled specs in `fixture` with `actions` appended to the overlay's; answers
/// its folder, for `--spec-dir`.
fn specs_with_overlay(fixture: &Fixture, actions: &str) -> String {
    let specs = fixture.copy_specs();
    let overlay = specs.join("overlay.yaml");
    let text = std::fs::read_to_string(&overlay).unwrap();
    std::fs::write(&overlay, format!("{text}\n{actions}")).unwrap();
    specs.display().to_string()
}

/// The honest server, plus an update that answers 200 whatever it is sent.
async fn server_that_checks_nothing() -> MockServer {
    let server = honest_server(conversation(json!({}))).await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/conversations/{CONV}")))
        .respond_with(json_response(200, conversation(json!({}))))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_server_that_checks_no_limit_fails_the_derived_rejection_and_passes_the_boundary() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let server = server_that_checks_nothing().await;
    let run = fixture
        .run(
            &base(&server),
            &["derived/updateConversation/metadata/maxProperties/"],
        )
        .await;
    run.assert_code(1);
    run.assert_test(
        "derived/updateConversation/metadata/maxProperties/at_limit",
        "ok",
    );
    run.assert_test(
        "derived/updateConversation/metadata/maxProperties/over",
        "FAILED",
    );
    run.assert_contains("UPD-06 MUST: over the limit is rejected with 400");
    run.assert_contains("case: derived from #/components/schemas/Metadata/anyOf/0/maxProperties");
    run.assert_contains(
        "--> #/components/schemas/Metadata/anyOf/0/maxProperties step 2 (17 properties (maxProperties 16))",
    );
    run.assert_contains("expected status 400, got 200");
    run.assert_lacks("test create ");
}

#[tokio::test]
async fn a_rejection_without_param_and_code_warns_and_fails_only_with_strict() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let server = honest_server(conversation(json!({}))).await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/conversations/{CONV}")))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let pairs = body["metadata"].as_object().map_or(0, |m| m.len());
            if pairs > 16 {
                json_response(
                    400,
                    json!({"error": {"message": "too many", "type": "invalid_request_error", "param": null, "code": null}}),
                )
            } else {
                json_response(200, conversation(json!({})))
            }
        })
        .mount(&server)
        .await;
    let filter = "derived/updateConversation/metadata/maxProperties/over";
    let run = fixture.run(&base(&server), &[filter, "--exact"]).await;
    run.assert_code(0);
    run.assert_test(filter, "ok");
    // One answer, one requirement: the `code` is listed under the `param`, one root cause.
    run.assert_contains(
        "UPD-09 SHOULD: error.param: expected \"metadata\", got null (and 1 more finding of this answer, below)",
    );
    let strict = fixture
        .run(&base(&server), &[filter, "--exact", "--strict"])
        .await;
    strict.assert_code(1);
}

#[tokio::test]
async fn a_limit_added_to_the_overlay_becomes_derived_cases_without_code() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let filter = "derived/listConversationItems/query.after/";
    let bundled = fixture.run("", &["--list", filter]).await;
    bundled.assert_code(0);
    assert_eq!(bundled.stdout.trim(), "", "{}", bundled.all());

    let spec_dir = specs_with_overlay(
        &fixture,
        "  - target: $.paths['/conversations/{conversation_id}/items'].get.parameters[?(@.name == 'after')].schema\n    update: {maxLength: 64}\n",
    );
    let run = fixture
        .run("", &["--list", "--spec-dir", &spec_dir, filter])
        .await;
    run.assert_code(0);
    let listed: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        listed,
        [
            "derived/listConversationItems/query.after/maxLength/at_limit: test",
            "derived/listConversationItems/query.after/maxLength/at_limit_multibyte: test",
            "derived/listConversationItems/query.after/maxLength/at_limit_emoji: test",
            "derived/listConversationItems/query.after/maxLength/over: test",
            "derived/listConversationItems/query.after/maxLength/over_multibyte: test",
        ],
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn a_wrong_example_in_the_overlay_fails_the_generator_self_check_and_is_not_sent() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let spec_dir = specs_with_overlay(
        &fixture,
        "  - target: $.components.schemas.InputItem\n    update: {x-conformance-example: {type: message, role: robot, content: hi}}\n",
    );
    let server = server_that_checks_nothing().await;
    let run = fixture
        .run(
            &base(&server),
            &["--spec-dir", &spec_dir, "derived/createConversation/items/"],
        )
        .await;
    // Nothing is built on the wrong example: the item limits are not probed, the rest is.
    run.assert_code(1);
    run.assert_lacks("derived/createConversation/items/maxItems/");
    run.assert_test("derived/createConversation/items/type/string", "FAILED");
    let sent = server.received_requests().await.unwrap();
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|r| !String::from_utf8_lossy(&r.body).contains("robot")),
        "a request was built on the wrong example"
    );

    let run = fixture
        .run(
            &base(&server),
            &["--spec-dir", &spec_dir, "derived/generator-self-check"],
        )
        .await;
    run.assert_code(2);
    run.assert_test("derived/generator-self-check", "FAILED");
    run.assert_contains("generator self-check: ");
    run.assert_contains("not a finding against the server");
    run.assert_contains(
        "x-conformance-example at #/components/schemas/InputItem: does not validate against its schema: ",
    );
}

#[tokio::test]
async fn coverage_shows_what_the_suite_exercises_per_operation() {
    let case = "requirement: UPD-05
covers: [derived/updateConversation/metadata/maxProperties/at_limit]
steps:
  - operation: createConversation
    expect: {status: 200}
    capture: {conv: $}
  - operation: updateConversation
    path_params: {conversation_id: '{{conv.id}}'}
    body: {metadata: {$object: {count: 16, key: 'k{{index}}', value: v}}}
    expect: {status: 200}
";
    let fixture = Fixture::new(&[("update.yaml", case)]);
    let run = fixture.coverage(&[]).await;
    run.assert_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let has = |start: &str, end: &str| {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(start) && l.ends_with(end)),
            "expected a line {start:?} ... {end:?} in:\n{}",
            run.stdout
        )
    };
    run.assert_contains("1 hand-written cases, ");
    run.assert_contains("\nupdateConversation (POST /conversations/{conversation_id})\n");
    has("    429 ", " NOT exercised");
    has(
        "    body metadata ",
        " exercised (hand-written 1, derived 22)",
    );
    has(
        "    metadata/maxProperties ",
        "  derived 1; covered by cases/update.yaml",
    );
    has("    items/items.* ", "NOT derived: a choice of 6 schemas (`oneOf` at #/components/schemas/InputItem); the generator enters choices of at most 2");
    run.assert_contains("\ngetConversation (GET /conversations/{conversation_id})\n  statuses (declared by the spec):\n    200      NOT exercised\n");
    run.assert_contains("  constraints: none in a request schema or query parameter\n");
    let again = fixture.coverage(&[]).await;
    assert_eq!(
        run.stdout, again.stdout,
        "coverage output must be deterministic"
    );

    let typo = case.replace("at_limit", "at_limt");
    let fixture = Fixture::new(&[("update.yaml", &typo)]);
    let run = fixture.coverage(&[]).await;
    run.assert_code(0);
    run.assert_contains("1 case is not counted (does not load; the run says why): update");
}

#[tokio::test]
async fn a_server_that_counts_bytes_fails_the_multibyte_boundary() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let server = honest_server(conversation(json!({}))).await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/conversations/{CONV}")))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let too_long = body["metadata"]
                .as_object()
                .is_some_and(|m| m.values().any(|v| v.as_str().is_some_and(|s| s.len() > 512)));
            if too_long {
                json_response(
                    400,
                    json!({"error": {"message": "too long", "type": "invalid_request_error", "param": "metadata.k0", "code": "string_above_max_length"}}),
                )
            } else {
                json_response(200, conversation(json!({})))
            }
        })
        .mount(&server)
        .await;
    let prefix = "derived/updateConversation/metadata/additionalProperties.maxLength/";
    let run = fixture.run(&base(&server), &[prefix]).await;
    run.assert_code(1);
    run.assert_test(&format!("{prefix}at_limit"), "ok");
    run.assert_test(&format!("{prefix}over"), "ok");
    run.assert_test(&format!("{prefix}at_limit_multibyte"), "FAILED");
    run.assert_test(&format!("{prefix}at_limit_emoji"), "FAILED");
    run.assert_contains("UPD-05 MUST: the limits are accepted at the boundary");
    run.assert_contains("expected status 200, got 400");
}
