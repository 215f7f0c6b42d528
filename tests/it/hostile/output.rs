//! What the harness writes: never a secret a server echoes back, in any spelling, and never
//! target text that drives the terminal or the CI.

use super::*;

// ---------------------------------------------------------------- secrets

const TENANT: &str = "tenant-canary-55aa77";

/// Echoes the key and the tenant header back in bodies and headers, in every way a careless
/// server might.
struct Echo;

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        let echoed = format!("{} {}", header("authorization"), header("x-tenant"));
        let with_header = |t: ResponseTemplate| t.insert_header("x-echo", echoed.as_str());
        match request.method.as_str() {
            "POST" if request.url.path() == "/v1/conversations" => with_header(json_response(
                200,
                json!({"id": CONV, "object": "conversation", "created_at": now(), "metadata": {"echo": echoed}}),
            )),
            "GET" => with_header(error(404, &format!("no conversation for {echoed}"))),
            // A long body whose excerpt is cut at 400 characters in the middle of the key.
            "POST" => {
                let prefix = r#"{"error": {"message": ""#;
                let pad = "x".repeat(391 - prefix.len() - "Bearer ".len());
                let body = format!(
                    r#"{prefix}{pad}{echoed} and more", "type": "invalid_request_error", "param": null, "code": null}}}}"#
                );
                with_header(ResponseTemplate::new(400).set_body_raw(body, "application/json"))
            }
            _ => json_response(200, deleted(CONV)),
        }
    }
}

#[tokio::test]
async fn secrets_never_appear_in_output_messages_curl_snapshots_or_reports() {
    let snapshot =
        "requirement: UPD-04\nsteps:\n- operation: createConversation\n  expect: {status: 200}\n  \
                    snapshot: true\n  observe: {path: metadata.echo}\n";
    let echo_error = "requirement: RET-02\nsteps:\n- operation: getConversation\n  path_params: {conversation_id: conv_x}\n  \
                      expect:\n    status: 404\n    headers:\n      x-echo: {equals: nope}\n    json:\n      error.message: {equals: nope}\n";
    let cut_excerpt = "requirement: UPD-01\nsteps:\n- operation: updateConversation\n  path_params: {conversation_id: conv_x}\n  \
                       body: {metadata: {}}\n  expect: {status: 200}\n";
    let fixture = Fixture::new(&[
        ("snapshot.yaml", snapshot),
        ("echo_error.yaml", echo_error),
        ("cut_excerpt.yaml", cut_excerpt),
    ]);
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(Echo).mount(&server).await;
    let reports = fixture.path().join("reports");
    let file = |name: &str| reports.join(name).display().to_string();
    let (junit, json, markdown, summary) = (
        file("junit.xml"),
        file("report.json"),
        file("matrix.md"),
        file("step-summary.md"),
    );
    // Under GitHub Actions: annotations in the output and the matrix in the step summary.
    let env = [
        ("CONFORMANCE_TEST_TENANT", TENANT),
        ("INSTA_UPDATE", "always"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.as_str()),
    ];
    let flags = [
        "--header",
        "X-Tenant: env:CONFORMANCE_TEST_TENANT",
        "--target-name",
        "echo",
        "--junit",
        &junit,
        "--report-json",
        &json,
        "--report-md",
        &markdown,
    ];
    let pretty = fixture.run_with_env(&base(&server), &flags, &env).await;
    pretty.assert_code(1);
    // The server did get (and echo) both secrets, and the output shows where they were.
    let received = server.received_requests().await.unwrap();
    assert!(received
        .iter()
        .all(|r| r.headers.get("x-tenant").unwrap() == TENANT));
    pretty.assert_contains("snapshot: UPD-04 = \"Bearer [redacted] [redacted]\"");
    pretty.assert_contains("error.message: expected \"nope\", got \"no conversation for Bearer [redacted] [redacted]\"");
    pretty
        .assert_contains("header x-echo: expected \"nope\", got \"Bearer [redacted] [redacted]\"");
    pretty.assert_contains("-H \"Authorization: Bearer $CONFORMANCE_API_KEY\"");
    pretty.assert_contains("-H \"X-Tenant: $CONFORMANCE_TEST_TENANT\"");
    pretty.assert_contains(&format!(
        "body: {{\"error\": {{\"message\": \"{}",
        "x".repeat(10)
    ));
    for written in [
        "snapshots/echo/snapshot@1.snap",
        "reports/report.json",
        "reports/junit.xml",
    ] {
        let text = std::fs::read_to_string(fixture.path().join(written)).expect(written);
        assert!(
            text.contains("Bearer [redacted] [redacted]"),
            "{written}: {text}"
        );
    }
    assert!(fixture.path().join("reports/matrix.md").exists());
    assert!(fixture.path().join("reports/step-summary.md").exists());
    pretty.assert_contains("::error");

    let mut flags_json = flags.to_vec();
    flags_json.extend(["--format", "json", "-Z", "unstable-options"]);
    let json = fixture
        .run_with_env(&base(&server), &flags_json, &env)
        .await;
    json.assert_code(1);

    for (name, text) in [("pretty", pretty.all()), ("json", json.all())] {
        for secret in [KEY, TENANT, "sk-canary", "tenant-canary"] {
            assert!(
                !text.contains(secret),
                "{name} output shows {secret}:\n{text}"
            );
        }
    }
    for (file, bytes) in fixture.files() {
        let text = String::from_utf8_lossy(&bytes);
        for secret in [KEY, TENANT, "sk-canary", "tenant-canary"] {
            assert!(!text.contains(secret), "{} holds {secret}", file.display());
        }
    }
}

// ---------------------------------------------------------------- target text in the output

/// What a hostile body holds: workflow commands and terminal escapes, then a long tail.
const FORGED: &str = "::stop-commands::pwned\n::error file=cases/create.yaml,line=1::forged\n\
                      \x1b]0;title\x07\x1b[2J\u{9b}31m\u{202e}";

#[tokio::test]
async fn target_text_never_drives_the_terminal_or_the_ci() {
    let url = raw_server(|mut stream, request| async move {
        let bytes = match request.method.as_str() {
            "POST" => {
                let body = format!("{FORGED}{}", "x".repeat(5000));
                answer("200 OK", "text/plain", body.as_bytes())
            }
            _ => {
                let body = json!({"error": {"message": FORGED, "type": "invalid_request_error", "param": null, "code": null}});
                answer("404 Not Found", "application/json", body.to_string().as_bytes())
            }
        };
        let _ = stream.write_all(&bytes).await;
    })
    .await;
    let echo_error = "requirement: RET-02\nsteps:\n- operation: getConversation\n  path_params: {conversation_id: conv_x}\n  \
                      expect:\n    status: 404\n    json:\n      error.message: {equals: nope}\n";
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE), ("echo.yaml", echo_error)]);
    let reports = fixture.path().join("reports");
    let (junit, json) = (
        reports.join("junit.xml").display().to_string(),
        reports.join("report.json").display().to_string(),
    );
    let run = fixture
        .run_with_env(
            &url,
            &["--junit", &junit, "--report-json", &json],
            &[("GITHUB_ACTIONS", "true")],
        )
        .await;
    run.assert_code(1);
    run.assert_test("create", "FAILED");
    run.assert_test("echo", "FAILED");
    // The harness's own annotations are still there, and no line of the target's is.
    run.assert_contains("::error file=cases/create.yaml,line=");
    for line in run.all().lines() {
        let line = line.trim_start();
        assert!(
            !line.starts_with("::") || line.starts_with("::error file=cases/"),
            "a line of the output is a workflow command: {line}"
        );
        assert!(!line.contains("stop-commands::pwned%0A"), "{line}");
    }
    run.assert_contains("\\x3a:stop-commands::pwned\\n::error file=cases/create.yaml,line=1::forged\\n\\u{1b}]0;title\\u{7}");
    run.assert_contains("more characters)");
    let report = std::fs::read_to_string(&json).unwrap();
    let junit = std::fs::read_to_string(&junit).unwrap();
    for (name, text) in [
        ("output", run.all()),
        ("report.json", report),
        ("junit.xml", junit),
    ] {
        for bad in ['\x1b', '\x07', '\u{9b}', '\u{202e}'] {
            assert!(!text.contains(bad), "{name} holds {bad:?}:\n{text}");
        }
        assert!(
            !text.contains(&"x".repeat(1000)),
            "{name} holds the whole body"
        );
    }
}

// ---------------------------------------------------------------- secrets in other spellings

/// A key with `/`, `+` and `=` and bytes whose base64 differs between the two alphabets.
const ODD_KEY: &str = "sk-canary/7f3a+9c1e=5b2d??>>~";

/// How a careless server may echo [`ODD_KEY`]: `\u`-escaped, URL-encoded, base64 of the key
/// and of `Bearer key` (standard and URL-safe), JSON with `\/`, and base64 of a JSON text
/// holding it.
const ODD_KEY_FORMS: &[&str] = &[
    r"\u0073\u006b\u002d\u0063\u0061\u006e\u0061\u0072\u0079\u002f\u0037\u0066\u0033\u0061\u002b\u0039\u0063\u0031\u0065\u003d\u0035\u0062\u0032\u0064\u003f\u003f\u003e\u003e\u007e",
    "sk-canary%2F7f3a%2B9c1e%3D5b2d%3F%3F%3E%3E~",
    "c2stY2FuYXJ5LzdmM2ErOWMxZT01YjJkPz8+Pn4=",
    "c2stY2FuYXJ5LzdmM2ErOWMxZT01YjJkPz8-Pn4",
    "QmVhcmVyIHNrLWNhbmFyeS83ZjNhKzljMWU9NWIyZD8/Pj5+",
    "QmVhcmVyIHNrLWNhbmFyeS83ZjNhKzljMWU9NWIyZD8_Pj5-",
    r#""sk-canary\/7f3a+9c1e=5b2d??>>~""#,
    "eyJhdXRoIjogIkJlYXJlciBzay1jYW5hcnkvN2YzYSs5YzFlPTViMmQ/Pz4+fiJ9",
];

#[tokio::test]
async fn the_key_echoed_in_any_encoding_is_redacted_in_every_output() {
    let server = MockServer::start().await;
    let mut template = error(404, &ODD_KEY_FORMS.join(" | "));
    for (i, form) in ODD_KEY_FORMS.iter().enumerate() {
        template = template.insert_header(format!("x-echo-{i}").as_str(), *form);
    }
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    let headers: String = (0..ODD_KEY_FORMS.len())
        .map(|i| format!("      x-echo-{i}: {{equals: nope}}\n"))
        .collect();
    let case = format!(
        "requirement: RET-02\nsteps:\n- operation: getConversation\n  path_params: {{conversation_id: conv_x}}\n  \
         expect:\n    status: 404\n    headers:\n{headers}    json:\n      error.message: {{equals: nope}}\n"
    );
    let fixture = Fixture::new(&[("echo.yaml", &case)]);
    let file = |name: &str| fixture.path().join(name).display().to_string();
    let (junit, json, log) = (
        file("junit.xml"),
        file("report.json"),
        file("requests.jsonl"),
    );
    let run = fixture
        .run_with_env(
            &base(&server),
            &[
                "--junit",
                &junit,
                "--report-json",
                &json,
                "--record-requests",
                &log,
            ],
            &[("CONFORMANCE_API_KEY", ODD_KEY)],
        )
        .await;
    run.assert_code(1);
    run.assert_contains(&format!(
        "header x-echo-{}: expected \"nope\", got \"[redacted]\"",
        2
    ));
    let outputs = [
        ("output", run.all()),
        ("junit.xml", std::fs::read_to_string(&junit).unwrap()),
        ("report.json", std::fs::read_to_string(&json).unwrap()),
        ("requests.jsonl", std::fs::read_to_string(&log).unwrap()),
    ];
    for (name, text) in &outputs {
        assert!(
            text.contains("[redacted]"),
            "{name} shows no redaction:\n{text}"
        );
        for form in ODD_KEY_FORMS.iter().chain([&ODD_KEY]) {
            // Not even the middle of one: at most the edge of a base64 group is left.
            let middle = &form[6..form.len() - 6];
            assert!(!text.contains(middle), "{name} shows {form}:\n{text}");
        }
    }
}

#[tokio::test]
async fn a_key_that_is_a_word_of_the_answers_fails_no_check() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let cases = cases.display().to_string();
    // `list` is redacted as a whole word, `conversation` wherever it appears; neither may
    // change what is checked.
    for key in ["list", "conversation"] {
        let (_server, url) = serve(&["--api-key", key]).await;
        let fixture = Fixture::new(&[]);
        let mut args = fixture.run_args(&url, &[]);
        let at = args.iter().position(|a| a == "--cases").unwrap();
        args[at + 1] = cases.clone();
        let run = exec(args, &[("CONFORMANCE_API_KEY", key)]).await;
        run.assert_code(0);
        run.assert_contains("test result: ok.");
        run.assert_within(Duration::from_secs(60));
    }
}
