//! Broken inputs: case files, spec folders, flags, case folders with links and pipes, and
//! snapshot names.

use super::*;

// ---------------------------------------------------------------- broken inputs

#[tokio::test]
async fn each_broken_case_file_fails_alone_with_its_location() {
    let not_yaml = "requirement: CRE-02\nsteps: [\n  - operation: createConversation\n";
    let unknown_field =
        "requirement: CRE-02\nsteps:\n- operation: createConversation\n  expect:\n    statsu: 200\n";
    let unknown_operation = "requirement: CRE-02\nsteps:\n- operation: createConvo\n";
    let undefined_variable = "requirement: RET-01\nsteps:\n- operation: getConversation\n  \
                              path_params: {conversation_id: '{{conv.id}}'}\n";
    let fixture = Fixture::new(&[
        ("good.yaml", CREATE_CASE),
        ("not_yaml.yaml", not_yaml),
        ("unknown_field.yaml", unknown_field),
        ("unknown_operation.yaml", unknown_operation),
        ("undefined_variable.yaml", undefined_variable),
    ]);
    let server = honest_server(conversation(json!({"topic": "demo"}))).await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(2);
    run.assert_test("good", "ok");
    for (name, located) in [
        (
            "not_yaml",
            "cases/not_yaml.yaml:3:3: \"-\" is only valid inside a block",
        ),
        ("unknown_field", "cases/unknown_field.yaml:5:5: unknown field `statsu`"),
        (
            "unknown_operation",
            "cases/unknown_operation.yaml:3:14: unknown operation `createConvo`",
        ),
        (
            "undefined_variable",
            "cases/undefined_variable.yaml:3:3: step 1: path_params.conversation_id: undefined variable \
             `conv` in `{{conv.id}}` (defined here: embedding_model, model)\n  |\n\
             3 | - operation: getConversation\n  |   ^\n",
        ),
    ] {
        run.assert_test(name, "FAILED");
        run.assert_contains(located);
    }
}

/// Runs with a copy of the spec that `break_it` changes; answers the run.
async fn run_with_broken_spec(break_it: impl FnOnce(&std::path::Path)) -> Run {
    let fixture = Fixture::new(&[("good.yaml", CREATE_CASE)]);
    let specs = fixture.copy_specs();
    break_it(&specs);
    let spec_dir = specs.display().to_string();
    let run = fixture
        .run("http://127.0.0.1:9/v1", &["--spec-dir", &spec_dir])
        .await;
    run.assert_code(2);
    run
}

fn edit(file: &std::path::Path, change: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(file).unwrap();
    let changed = change(text.clone());
    assert_ne!(
        text,
        changed,
        "the edit changed nothing in {}",
        file.display()
    );
    std::fs::write(file, changed).unwrap();
}

#[tokio::test]
async fn a_broken_spec_folder_is_a_located_error() {
    let unparsable = run_with_broken_spec(|dir| {
        edit(&dir.join("openapi.yaml"), |t| {
            t.replacen("paths:\n", "paths:\n  - [unclosed\n", 1)
        })
    })
    .await;
    let line = unparsable
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{}", unparsable.all()));
    let located = regex::Regex::new(r"^error: \S*openapi\.yaml:\d+:\d+: ").unwrap();
    assert!(located.is_match(line), "{line}");

    let dangling = run_with_broken_spec(|dir| {
        edit(&dir.join("openapi.yaml"), |t| {
            t.replacen(
                "$ref: \"#/components/schemas/ConversationResource\"",
                "$ref: \"#/components/schemas/Nowhere\"",
                1,
            )
        })
    })
    .await;
    // The line of the first such $ref in the committed extract, found rather than counted.
    let extract = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/openapi.yaml"),
    )
    .unwrap();
    let ref_line = extract
        .lines()
        .position(|l| l.contains("$ref: \"#/components/schemas/ConversationResource\""))
        .expect("the extract references ConversationResource")
        + 1;
    dangling.assert_contains(&format!("openapi.yaml:{ref_line}:"));
    dangling.assert_contains("dangling $ref `#/components/schemas/Nowhere`");

    let unmatched = run_with_broken_spec(|dir| {
        edit(&dir.join("overlay.yaml"), |t| {
            t.replacen(
                "target: $.components.schemas.ConversationItemList",
                "target: $.components.schemas.NoSuchList",
                1,
            )
        })
    })
    .await;
    let overlay = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/overlay.yaml"));
    let line = 1 + overlay
        .lines()
        .position(|l| l.ends_with("target: $.components.schemas.ConversationItemList"))
        .unwrap();
    unmatched.assert_contains(&format!(
        "overlay.yaml:{line}:13: overlay target `$.components.schemas.NoSuchList` matches nothing"
    ));
}

// ---------------------------------------------------------------- hostile flags

#[tokio::test]
async fn flags_that_would_panic_inject_headers_or_overwrite_a_report_are_usage_errors() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let reports = fixture.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let same = reports.join("out.xml").display().to_string();
    let same_dotted = reports.join(".").join("out.xml").display().to_string();
    for (flags, env, message) in [
        (vec!["--timeout", "1e30"], vec![], "--timeout 1000000000000000000000000000000: give a number of seconds above 0 and at most 3600"),
        (vec!["--timeout", "0"], vec![], "give a number of seconds above 0"),
        (vec!["--header", "X-A: b\r\nX-Injected: yes"], vec![], "--header X-A: the value holds a control character"),
        (
            vec!["--header", "X-A: env:CONFORMANCE_TEST_LF"],
            vec![("CONFORMANCE_TEST_LF", "a\nb")],
            "--header X-A: the value (from `CONFORMANCE_TEST_LF`) holds a control character",
        ),
        (vec!["--header", "host: evil.example"], vec![], "--header host: the harness sets Host itself"),
        (vec!["--header", "Content-Length: 0"], vec![], "the harness sets Content-Length itself"),
        (vec!["--header", "Transfer-Encoding: chunked"], vec![], "the harness sets Transfer-Encoding itself"),
        (
            vec!["--header", "Authorization: Bearer other"],
            vec![],
            "--header Authorization: CONFORMANCE_API_KEY is set",
        ),
        (vec!["--junit", &same, "--report-json", &same], vec![], "--junit and --report-json both write"),
        (
            vec!["--report-md", &same, "--record-requests", &same_dotted],
            vec![],
            "--report-md and --record-requests both write",
        ),
    ] {
        let run = fixture.run_with_env("http://127.0.0.1:9/v1", &flags, &env).await;
        run.assert_code(2);
        run.assert_contains(message);
        run.assert_lacks("Injected: yes\n");
        run.assert_within(Duration::from_secs(20));
    }
    assert!(!reports.join("out.xml").exists(), "nothing is written");
}

#[tokio::test]
async fn strict_and_no_derived_are_switches_that_leave_the_filter_alone() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE), ("other.yaml", CREATE_CASE)]);
    let server = honest_server(conversation(json!({"topic": "demo"}))).await;
    let run = fixture.run(&base(&server), &["--strict", "create"]).await;
    run.assert_code(0);
    run.assert_test("create", "ok");
    run.assert_contains("1 filtered out");
    // The fixture ends its arguments with --no-derived: here it comes before the filter.
    let mut args = fixture.run_args(&base(&server), &[]);
    args.retain(|a| a != "--no-derived");
    args.extend(["--no-derived".into(), "create".into()]);
    let run = exec(args, &[]).await;
    run.assert_code(0);
    run.assert_test("create", "ok");
    run.assert_contains("1 filtered out");
    // The variables still take a boolean.
    let run = fixture
        .run_with_env(&base(&server), &["create"], &[("CONFORMANCE_STRICT", "0")])
        .await;
    run.assert_code(0);
    run.assert_contains("1 filtered out");
}

#[tokio::test]
async fn a_base_url_with_a_query_is_a_usage_error_that_does_not_show_it() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let server = honest_server(conversation(json!({"topic": "demo"}))).await;
    for url in [
        format!("{}?api-key=query-canary-31", base(&server)),
        format!("{}#query-canary-31", base(&server)),
    ] {
        let run = fixture.run(&url, &[]).await;
        run.assert_code(2);
        run.assert_contains("has a query or a fragment: give the URL ending in /v1 alone");
        run.assert_lacks("query-canary-31");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------- snapshot names

#[tokio::test]
async fn every_case_has_snapshot_files_of_its_own() {
    let snapshot = |topic: &str| {
        format!(
            "requirement: CRE-02\nsteps:\n- operation: createConversation\n  body: {{metadata: {{topic: {topic}}}}}\n  \
             expect: {{status: 200}}\n  snapshot: true\n"
        )
    };
    let (slash, underscores, upper, lower) = (
        snapshot("slash"),
        snapshot("underscores"),
        snapshot("upper"),
        snapshot("lower"),
    );
    let fixture = Fixture::new(&[
        ("general/a/b.yaml", slash.as_str()),
        ("general/a__b.yaml", underscores.as_str()),
        ("general/Big.yaml", upper.as_str()),
        ("general/big.yaml", lower.as_str()),
    ]);
    let run = fixture
        .run_with_env("", &[], &[("INSTA_UPDATE", "always")])
        .await;
    run.assert_code(2);
    run.assert_test("general/a/b", "ok");
    run.assert_test("general/a__b", "ok");
    run.assert_test("general/big", "FAILED");
    run.assert_contains(
        "cases/general/big.yaml: its snapshots would be the files of `general/Big` (the names \
         differ only in case): rename one of them",
    );
    let snapshots = fixture.path().join("snapshots");
    let read = |name: &str| std::fs::read_to_string(snapshots.join(name)).unwrap_or_default();
    assert!(read("general__a__b@1.snap").contains("slash"));
    assert!(read("general__a%5F%5Fb@1.snap").contains("underscores"));
}

/// The files read after the spec start as each is checked, before the others are read: a
/// case whose snapshots clash with another file's is still refused before it sends anything,
/// however the files fall between the two.
#[tokio::test]
async fn a_case_refused_for_a_clash_with_another_file_sends_nothing() {
    let snapshot = |topic: &str| {
        format!(
            "requirement: CRE-02\nsteps:\n- operation: createConversation\n  body: {{metadata: {{topic: {topic}}}}}\n  \
             expect: {{status: 200}}\n  snapshot: true\n"
        )
    };
    let rows = "requirement: CRE-02\nparameters:\n  - name: x\n    topic: row\nsteps:\n\
                - operation: createConversation\n  body: {metadata: {topic: \"{{topic}}\"}}\n  \
                expect: {status: 200}\n  snapshot: true\n";
    let mut files: Vec<(String, String)> = (0..120)
        .map(|i| {
            (
                format!("general/many/c{i:03}.yaml"),
                snapshot(&format!("c{i}")),
            )
        })
        .collect();
    files.extend([
        ("general/Big.yaml".to_string(), snapshot("upper")),
        ("general/big.yaml".to_string(), snapshot("lower")),
        ("general/rows.yaml".to_string(), rows.to_string()),
        ("general/rows/X.yaml".to_string(), snapshot("folder")),
    ]);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let fixture = Fixture::new(&files);
    let log = fixture.path().join("requests.jsonl");
    let run = fixture
        .run_with_env(
            "",
            &["--record-requests", log.to_str().unwrap()],
            &[("INSTA_UPDATE", "always")],
        )
        .await;
    run.assert_code(2);
    run.assert_test("general/big", "FAILED");
    // A folder sorts before the file of its name: the row comes second.
    run.assert_test("general/rows/X", "ok");
    run.assert_test("general/rows/x", "FAILED");
    let sent: std::collections::BTreeSet<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["case"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        !sent.contains("general/big") && !sent.contains("general/rows/x"),
        "{sent:?}"
    );
    assert_eq!(sent.len(), 122, "{sent:?}");
}

// ---------------------------------------------------------------- hostile case folders

#[tokio::test]
async fn case_discovery_follows_no_link_reads_no_pipe_and_shows_only_the_line_at_fault() {
    use std::os::unix::fs::symlink;
    let at_fault = format!("requirement: CRE-02\n{KEY}=1\nNEIGHBOUR_CANARY: 1\n");
    let fixture = Fixture::new(&[("good.yaml", CREATE_CASE), ("at_fault.yaml", &at_fault)]);
    let cases = fixture.path().join("cases");
    let outside = fixture.path().join("outside.yaml");
    std::fs::write(
        &outside,
        format!("requirement: CRE-02\nOUTSIDE_CANARY={KEY}\n"),
    )
    .unwrap();
    symlink(&outside, cases.join("outside.yaml")).unwrap();
    symlink("/proc/self/environ", cases.join("environ.yaml")).unwrap();
    symlink("/dev/zero", cases.join("zero.yaml")).unwrap();
    symlink(".", cases.join("loop_a")).unwrap();
    symlink("..", cases.join("loop_b")).unwrap();
    let pipe = std::ffi::CString::new(cases.join("pipe.yaml").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo only reads the path it is given.
    assert_eq!(unsafe { libc::mkfifo(pipe.as_ptr(), 0o600) }, 0);
    std::fs::write(cases.join("big.yaml"), "#".repeat(2 * 1024 * 1024)).unwrap();
    std::fs::write(
        cases.join("latin1.yaml"),
        b"requirement: CRE-02\ntitle: caf\xe9\n",
    )
    .unwrap();

    let listed = fixture.run("http://127.0.0.1:9/v1", &["--list"]).await;
    listed.assert_code(0);
    listed.assert_contains("good: test");
    listed.assert_within(Duration::from_secs(20));

    let server = honest_server(conversation(json!({"topic": "demo"}))).await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(2);
    run.assert_within(Duration::from_secs(30));
    run.assert_test("good", "ok");
    for (name, why) in [
        (
            "outside",
            "cases/outside.yaml: is a symbolic link: case discovery follows no links (copy the \
             file or folder into the cases folder)\n",
        ),
        ("environ", "cases/environ.yaml: is a symbolic link"),
        ("zero", "cases/zero.yaml: is a symbolic link"),
        ("loop_a", "cases/loop_a: is a symbolic link"),
        ("pipe", "cases/pipe.yaml: is not a regular file: not read\n"),
        (
            "big",
            "cases/big.yaml: larger than 1024 KiB: a case file is small; split it\n",
        ),
        (
            "latin1",
            "cases/latin1.yaml:2:11: not UTF-8: save the file as UTF-8\n",
        ),
        ("at_fault", "cases/at_fault.yaml:2:1:"),
    ] {
        run.assert_test(name, "FAILED");
        run.assert_contains(why);
    }
    run.assert_contains("2 | [redacted]=1\n  | ^");
    for shown in [
        KEY,
        "OUTSIDE_CANARY",
        "NEIGHBOUR_CANARY",
        "CONFORMANCE_API_KEY=",
    ] {
        run.assert_lacks(shown);
    }
}
