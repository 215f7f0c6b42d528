//! The spec as an input: the whole official document in place of the extract changes
//! nothing and sends nothing outside the scope; `spec extract` makes the committed extract;
//! a state-changing request goes only where a cleanup is declared or an opt-in says so.

use crate::common;

use common::{base, conversation, exec, honest_server, Fixture, CREATE_CASE, KEY};
use conformance::server::Deviation;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use wiremock::MockServer;

const UPSTREAM_COMMIT: &str = "f85dbe223d40e1a31cba812ab2d755c7e98a92a3";
const UPSTREAM_DATE: &str = "2026-08-21T20:48:10Z";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The whole official document (tests/fixtures/openai-openapi), unpacked into `dir`.
fn full_document(dir: &Path) -> PathBuf {
    let packed = std::fs::File::open(root().join("tests/fixtures/openai-openapi/openapi.yaml.gz"))
        .expect("the packed official document");
    let mut text = String::new();
    flate2::read::GzDecoder::new(packed)
        .read_to_string(&mut text)
        .expect("the official document unpacks");
    let file = dir.join("openai-openapi.full.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

/// A spec folder with the whole official document as `openapi.yaml` and this repository's
/// overlay and catalogue.
fn full_spec_dir(dir: &Path) -> PathBuf {
    let specs = dir.join("specs-full");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::rename(full_document(dir), specs.join("openapi.yaml")).unwrap();
    for name in ["overlay.yaml", "requirements.yaml"] {
        std::fs::copy(root().join("specs").join(name), specs.join(name)).unwrap();
    }
    specs
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Every operation of an OpenAPI document: (operationId, METHOD, path template).
fn operations_of(document: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(document).unwrap();
    let doc: Value = conformance::yaml::parse("openapi.yaml", &text).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if let Some(id) = item.get(method).and_then(|op| op["operationId"].as_str()) {
                out.push((id.to_string(), method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn fits(template: &str, path: &str) -> bool {
    // A template with a query of its own (`/responses/{id}?beta=true`) is another operation.
    let (template, template_query) = template.split_once('?').unwrap_or((template, ""));
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if !template_query.is_empty() && !query.split('&').any(|pair| pair == template_query) {
        return false;
    }
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

/// One run of the bundled suite: per case its verdict and the requests it sent
/// (method and status, in order), per requirement its verdict, and every path requested.
struct Judged {
    cases: BTreeMap<String, String>,
    requirements: BTreeMap<String, String>,
    requests: BTreeMap<String, Vec<(String, Option<u16>)>>,
    sent: Vec<(String, String)>,
}

async fn judge(spec_dir: &Path, base_url: &str, dir: &Path, name: &str) -> Judged {
    let report = dir.join(format!("{name}.json"));
    let log = dir.join(format!("{name}.jsonl"));
    let mut list = vec!["run".to_string()];
    if !base_url.is_empty() {
        list.extend(args(&["--base-url", base_url]));
    }
    list.extend(args(&["--timeout", "10", "--spec-dir"]));
    list.push(spec_dir.display().to_string());
    list.push("--report-json".into());
    list.push(report.display().to_string());
    list.push("--record-requests".into());
    list.push(log.display().to_string());
    let run = exec(list, &[]);
    let run = run.await;
    assert!(
        matches!(run.code, 0 | 1),
        "the run ends with verdicts:\n{}",
        run.all()
    );
    let json = common::read_report(&report, &run);
    let verdicts = |list: &Value, key: &str| -> BTreeMap<String, String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c[key].as_str().unwrap().to_string(),
                    c["verdict"].to_string(),
                )
            })
            .collect()
    };
    let mut requests: BTreeMap<String, Vec<(usize, String, Option<u16>)>> = BTreeMap::new();
    let mut sent = Vec::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let logged: conformance::request_log::LoggedRequest = serde_json::from_str(line).unwrap();
        sent.push((logged.method.clone(), logged.path.clone()));
        // A request that got no answer (a connection the server dropped) is sent once more:
        // how often depends on timing, not on the document.
        if logged.status.is_none() {
            continue;
        }
        requests
            .entry(logged.case)
            .or_default()
            .push((logged.step, logged.method, logged.status));
    }
    Judged {
        cases: verdicts(&json["cases"], "id"),
        requirements: verdicts(&json["requirements"], "id"),
        requests: requests
            .into_iter()
            .map(|(case, mut steps)| {
                steps.sort();
                (case, steps.into_iter().map(|(_, m, s)| (m, s)).collect())
            })
            .collect(),
        sent,
    }
}

/// The two runs agree on everything, and the one on the whole document sent nothing to an
/// operation outside the scope.
fn assert_same(extract: &Judged, full: &Judged, full_document: &Path) {
    assert!(extract.cases.len() > 100, "{:?}", extract.cases.len());
    assert_eq!(extract.cases, full.cases, "the same cases and verdicts");
    assert_eq!(extract.requirements, full.requirements);
    assert_eq!(extract.requests, full.requests, "the same requests");
    let scope: BTreeSet<&str> = [
        "createConversation",
        "getConversation",
        "updateConversation",
        "deleteConversation",
        "listConversationItems",
        "createConversationItems",
        "getConversationItem",
        "deleteConversationItem",
        "createResponse",
        "getResponse",
        "deleteResponse",
        "listInputItems",
        "listModels",
        "retrieveModel",
        "createEmbedding",
        "createChatCompletion",
        "listChatCompletions",
        "getChatCompletion",
        "updateChatCompletion",
        "deleteChatCompletion",
        "getChatCompletionMessages",
    ]
    .into();
    let outside: Vec<_> = operations_of(full_document)
        .into_iter()
        .filter(|(id, _, _)| !scope.contains(id.as_str()))
        .collect();
    assert!(outside.len() > 100, "the whole document: {}", outside.len());
    for (method, path) in &full.sent {
        let hit = outside
            .iter()
            .find(|(_, m, template)| m == method && fits(template, path));
        assert!(
            hit.is_none(),
            "{method} {path} is outside the scope: {hit:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_official_document_gives_the_same_cases_verdicts_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let full = full_spec_dir(dir.path());
    let specs = root().join("specs");
    let listed = |spec_dir: &Path| {
        let mut list = args(&["run", "--list", "--spec-dir"]);
        list.push(spec_dir.display().to_string());
        exec(list, &[])
    };
    let (from_extract, from_full) = (listed(&specs).await, listed(&full).await);
    from_full.assert_code(0);
    assert!(from_extract.stdout.lines().count() > 100);
    assert_eq!(
        from_extract.stdout, from_full.stdout,
        "the same list of cases"
    );

    let extract = judge(&specs, "", dir.path(), "extract").await;
    let whole = judge(&full, "", dir.path(), "full").await;
    assert!(extract
        .cases
        .values()
        .all(|v| v == "\"pass\"" || v == "\"info\""));
    assert_same(&extract, &whole, &full.join("openapi.yaml"));

    // And on a server that breaks the contract in every known way at once.
    // Every deviation of the contract; not those of load (a stall, a burst), whose
    // inconclusive cases depend on timing, not on the document.
    let deviating = common::reference_server(
        KEY,
        Deviation::ALL
            .iter()
            .copied()
            .filter(|d| !matches!(d, Deviation::StallsAfter500 | Deviation::BreaksUnderBurst))
            .collect(),
    )
    .await;
    let url = deviating.base_url().to_string();
    let extract = judge(&specs, &url, dir.path(), "extract-deviating").await;
    let whole = judge(&full, &url, dir.path(), "full-deviating").await;
    assert!(extract.cases.values().any(|v| v == "\"fail\""));
    assert_same(&extract, &whole, &full.join("openapi.yaml"));
}

#[tokio::test]
async fn spec_extract_makes_the_committed_extract_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let full = full_document(dir.path());
    let out = dir.path().join("openapi.yaml");
    let mut list = args(&["spec", "extract"]);
    list.push(full.display().to_string());
    list.extend(args(&[
        "--commit",
        UPSTREAM_COMMIT,
        "--commit-date",
        UPSTREAM_DATE,
        "--out",
    ]));
    list.push(out.display().to_string());
    let run = exec(list, &[]).await;
    run.assert_code(0);
    assert!(run.stdout.contains("21 operations"), "{}", run.all());
    let made = std::fs::read_to_string(&out).unwrap();
    let committed = std::fs::read_to_string(root().join("specs/openapi.yaml")).unwrap();
    assert!(made.contains(&format!("# Commit: {UPSTREAM_COMMIT} (2026-08-21)")));
    assert!(made.contains("License: MIT, Copyright (c) OpenAI"));
    assert!(
        made == committed,
        "specs/openapi.yaml is not what `conformance spec extract` makes of \
         tests/fixtures/openai-openapi/openapi.yaml.gz: run it again"
    );
}

#[tokio::test]
async fn an_operation_outside_the_scope_is_a_located_load_error() {
    let fixture = Fixture::new(&[
        (
            "files.yaml",
            "requirement: GEN-05\nsteps:\n  - operation: listFiles\n    expect: {status: 200}\n",
        ),
        (
            "raw.yaml",
            "requirement: GEN-05\nsteps:\n  - method: GET\n    path: /files/file-abc\n",
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let full = full_spec_dir(dir.path());
    let server = MockServer::start().await;
    let mut list = fixture.run_args(&base(&server), &[]);
    list.push("--spec-dir".into());
    list.push(full.display().to_string());
    let run = exec(list, &[]).await;
    run.assert_code(2);
    assert!(
        run.stdout.contains(
            "cases/files.yaml:3:16: operation `listFiles` (GET /files) is outside the suite's scope"
        ),
        "{}",
        run.all()
    );
    assert!(
        run.stdout
            .contains("GET /files/file-abc is operation `retrieveFile`, outside the suite's scope"),
        "{}",
        run.all()
    );
    assert!(server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}

/// This repository's spec with createConversation's cleanup taken out of the overlay.
fn spec_without_cleanup(fixture: &Fixture) -> PathBuf {
    let specs = fixture.copy_specs();
    let overlay = std::fs::read_to_string(specs.join("overlay.yaml")).unwrap();
    let start = overlay
        .find("  # Cleanup: what createConversation makes")
        .unwrap();
    let end = overlay[start..].find("\n\n").unwrap() + start;
    let without = format!("{}{}", &overlay[..start], &overlay[end + 2..]);
    std::fs::write(specs.join("overlay.yaml"), without).unwrap();
    specs
}

#[tokio::test]
async fn a_state_change_without_declared_cleanup_is_refused_unless_opted_in() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let specs = spec_without_cleanup(&fixture);
    let server = honest_server(conversation(serde_json::json!({"topic": "demo"}))).await;
    let with = |extra: &[&str]| {
        let mut list = fixture.run_args(&base(&server), extra);
        list.push("--spec-dir".into());
        list.push(specs.display().to_string());
        exec(list, &[])
    };
    let refused = with(&[]).await;
    refused.assert_code(2);
    assert!(
        refused.stdout.contains(
            "cases/create.yaml:3:5: step 1: createConversation (POST /conversations) may change \
             state and declares no cleanup"
        ),
        "{}",
        refused.all()
    );
    assert!(refused.stdout.contains("--allow-unsafe createConversation"));
    assert!(
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty(),
        "nothing is sent"
    );

    let allowed = with(&["--allow-unsafe", "createConversation"]).await;
    allowed.assert_code(0);
    assert!(
        allowed.stdout.contains(&format!(
            "create: changed, not cleaned up (allowed unsafe: createConversation): POST {}/conversations answered 200",
            base(&server)
        )),
        "{}",
        allowed.all()
    );
    let sent = server.received_requests().await.unwrap_or_default();
    let sent: Vec<String> = sent
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        sent,
        [
            "GET /v1/conversations/conv_00000000000000000000000000000000000000000000preflt",
            "POST /v1/conversations"
        ],
        "the preflight and the create, no delete"
    );

    let unknown = with(&["--allow-unsafe", "createModel"]).await;
    unknown.assert_code(2);
    assert!(
        unknown
            .all()
            .contains("--allow-unsafe createModel: no such operation in scope"),
        "{}",
        unknown.all()
    );
}

/// The pinned extract with the Conversations schemas changed: create's `items` limit, the
/// answered `object`, and the type of `Metadata`, whose overlay target then matches nothing.
fn changed_copy(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("specs/openapi.yaml")).unwrap();
    let mut doc: Value = conformance::yaml::parse("openapi.yaml", &text).unwrap();
    let schemas = &mut doc["components"]["schemas"];
    schemas["CreateConversationBody"]["properties"]["items"]["anyOf"][0]["maxItems"] = 10.into();
    schemas["ConversationResource"]["properties"]["object"]["enum"] =
        serde_json::json!(["conversation.v2"]);
    schemas["Metadata"]["anyOf"][0]["type"] = "array".into();
    let file = dir.join("changed.yaml");
    // JSON is YAML: the copy needs no YAML writer.
    std::fs::write(&file, doc.to_string()).unwrap();
    file
}

#[tokio::test]
async fn spec_diff_names_the_requirements_cases_and_overlay_actions_a_change_affects() {
    let dir = tempfile::tempdir().unwrap();
    let changed = changed_copy(dir.path());
    let pinned = root().join("specs/openapi.yaml");
    let diff = |extra: &[&str]| {
        let mut list = args(&["spec", "diff"]);
        list.push(pinned.display().to_string());
        list.push(changed.display().to_string());
        list.extend(args(extra));
        exec(list, &[])
    };
    let json = diff(&["--format", "json"]).await;
    json.assert_code(0);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    let changes = report["changes"].as_array().unwrap();
    let find = |operation: &str, place: &str| -> &Value {
        changes
            .iter()
            .find(|c| c["operation"] == operation && c["place"] == place)
            .unwrap_or_else(|| panic!("no change of {operation} at {place}: {}", json.stdout))
    };
    let names = |change: &Value, key: &str| -> Vec<String> {
        change[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()
    };

    let limit = find(
        "createConversation",
        "request body: items.anyOf[0].maxItems",
    );
    assert_eq!(
        (
            limit["kind"].as_str(),
            limit["before"].as_u64(),
            limit["after"].as_u64()
        ),
        (Some("limit"), Some(20), Some(10))
    );
    assert!(names(limit, "requirements").contains(&"CRE-06".to_string()));
    assert!(names(limit, "derived_cases")
        .contains(&"derived/createConversation/items/maxItems/over".to_string()));
    assert!(names(limit, "cases").contains(&"conversations/create/with_items".to_string()));
    assert!(!names(limit, "cases")
        .iter()
        .any(|c| c.starts_with("conversations/update/")));

    let answered = find("getConversation", "response 200: object.enum");
    assert_eq!(answered["kind"], "enum");
    assert!(names(answered, "requirements").contains(&"RET-01".to_string()));
    assert!(names(answered, "cases")
        .contains(&"conversations/retrieve/answers_what_create_answered".to_string()));

    let metadata = find("updateConversation", "request body: metadata.anyOf[0].type");
    assert!(names(metadata, "requirements").contains(&"UPD-05".to_string()));
    assert!(names(metadata, "derived_cases")
        .contains(&"derived/updateConversation/metadata/maxProperties/over".to_string()));
    let target = "$.components.schemas.Metadata.anyOf[?(@.type == 'object')]";
    assert_eq!(metadata["overlay_actions"][0]["target"], target);
    assert_eq!(report["broken_overlay_actions"][0]["target"], target);
    let line = 1 + include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/overlay.yaml"))
        .lines()
        .position(|l| l.ends_with(&format!("target: {target}")))
        .unwrap();
    assert!(report["broken_overlay_actions"][0]["at"]
        .as_str()
        .unwrap()
        .ends_with(&format!("overlay.yaml:{line}:13")));
    assert_eq!(
        report["broken_overlay_actions"].as_array().unwrap().len(),
        1
    );
    // Nothing else changed: prose, other operations and unchanged schemas stay quiet.
    assert!(
        changes
            .iter()
            .all(|c| c["place"].as_str().unwrap().ends_with("maxItems")
                || c["place"].as_str().unwrap().ends_with("object.enum")
                || c["place"].as_str().unwrap().ends_with("anyOf[0].type")),
        "{}",
        json.stdout
    );

    let text = diff(&[]).await;
    text.assert_code(0);
    assert!(
        text.stdout
            .contains("limit request body: items.anyOf[0].maxItems: 20 -> 10"),
        "{}",
        text.stdout
    );
    assert!(text
        .stdout
        .contains("overlay actions that match nothing in"));

    // The whole document against its extract: nothing changed in scope.
    let full = full_document(dir.path());
    let mut list = args(&["spec", "diff"]);
    list.push(full.display().to_string());
    list.push(pinned.display().to_string());
    let same = exec(list, &[]).await;
    same.assert_code(0);
    assert!(
        same.stdout
            .contains(": 0 changes in the 21 operations in scope"),
        "{}",
        same.all()
    );
}

/// A Models API on wiremock: the list for a request with a key, the error object without.
async fn models_server(model: Value) -> MockServer {
    use wiremock::matchers::{header_exists, method, path};
    use wiremock::{Mock, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header_exists("authorization"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"object": "list", "data": [model]})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": {"message": "no key", "type": "invalid_request_error", "param": null, "code": null}
        })))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_suite_of_its_own_for_another_operation_runs_with_no_code_change() {
    let suite = root().join("tests/fixtures/models");
    let dir = tempfile::tempdir().unwrap();
    let run_on = |server: &MockServer| {
        let mut list = args(&["run", "--timeout", "5", "--base-url", &base(server)]);
        for (flag, path) in [
            ("--spec-dir", suite.join("specs")),
            ("--cases", suite.join("cases")),
            ("--snapshots", dir.path().join("snapshots")),
        ] {
            list.push(flag.into());
            list.push(path.display().to_string());
        }
        exec(list, &[])
    };

    let honest = models_server(serde_json::json!({
        "id": "gpt-4o", "object": "model", "created": 1686935002, "owned_by": "openai"
    }))
    .await;
    let passed = run_on(&honest).await;
    passed.assert_code(0);
    for name in ["models/list", "models/model_objects", "models/requires_key"] {
        passed.assert_test(name, "ok");
    }
    let sent = honest.received_requests().await.unwrap();
    // The preflight (the scope's first GET without path parameters: listModels), then one
    // request per case: nothing outside the suite's own operation.
    assert_eq!(sent.len(), 4, "the preflight and one request per case");
    assert!(sent
        .iter()
        .all(|r| r.method.as_str() == "GET" && r.url.path() == "/v1/models"));

    let broken = models_server(serde_json::json!({
        "id": "gpt-4o", "object": "engine", "created": "yesterday", "owned_by": "openai"
    }))
    .await;
    let failed = run_on(&broken).await;
    failed.assert_code(1);
    failed.assert_test("models/list", "FAILED");
    failed.assert_test("models/model_objects", "FAILED");
    failed.assert_test("models/requires_key", "ok");
    failed.assert_contains(
        "MOD-01 MUST: `GET /models` answers 200 with a list that validates as ListModelsResponse",
    );
    failed.assert_contains("MOD-02");
    failed.assert_contains("at /data/0/created");

    // Its extract is what `spec extract` makes of the whole document for its scope.
    let out = dir.path().join("openapi.yaml");
    let mut list = args(&["spec", "extract"]);
    list.push(full_document(dir.path()).display().to_string());
    list.extend(args(&[
        "--commit",
        UPSTREAM_COMMIT,
        "--commit-date",
        UPSTREAM_DATE,
        "--spec-dir",
    ]));
    list.push(suite.join("specs").display().to_string());
    list.push("--out".into());
    list.push(out.display().to_string());
    exec(list, &[]).await.assert_code(0);
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(suite.join("specs/openapi.yaml")).unwrap(),
        "tests/fixtures/models/specs/openapi.yaml is not what `spec extract` makes"
    );
}

/// Copies a folder (one level of subfolders, as a suite's `specs/` and `cases/` are).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn an_operation_in_scope_gets_the_probes_its_catalogue_states_with_no_code_change() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("models");
    copy_dir(&root().join("tests/fixtures/models"), &suite);
    // The catalogue states the obligation: every operation in scope gets its probes.
    let catalogue = suite.join("specs/requirements.yaml");
    let mut text = std::fs::read_to_string(&catalogue).unwrap();
    text.push_str(
        "  - id: GEN-04\n    level: SHOULD\n    area: \"Every endpoint\"\n    source: \"live\"\n    \
         text: \"a request without `Authorization` answers 401\"\n",
    );
    std::fs::write(&catalogue, text).unwrap();
    let with = |server: &MockServer| {
        let mut list = args(&["run", "--timeout", "5", "--base-url", &base(server)]);
        for (flag, path) in [
            ("--spec-dir", suite.join("specs")),
            ("--cases", suite.join("cases")),
            ("--snapshots", dir.path().join("snapshots")),
        ] {
            list.push(flag.into());
            list.push(path.display().to_string());
        }
        list
    };
    // The mock serves any Authorization header, also an empty bearer: only that probe warns.
    let server = models_server(serde_json::json!({
        "id": "gpt-4o", "object": "model", "created": 1686935002, "owned_by": "openai"
    }))
    .await;
    let mut listed = with(&server);
    listed.push("--list".into());
    let listed = exec(listed, &[]).await;
    listed.assert_code(0);
    listed.assert_contains("probe/listModels/auth/no_header: test");
    listed.assert_contains("probe/listModels/auth/empty_bearer: test");
    assert!(
        !listed.stdout.contains("/method/"),
        "no method of /models is safe to probe (nothing deletes what they could create):\n{}",
        listed.stdout
    );
    let run = exec(with(&server), &[]).await;
    run.assert_code(0);
    run.assert_test("probe/listModels/auth/no_header", "ok");
    run.assert_contains("GEN-04 SHOULD: expected status 401, got 200");
    run.assert_contains("probe/listModels/auth/empty_bearer");
    let mut strict = with(&server);
    strict.push("--strict".into());
    let strict = exec(strict, &[]).await;
    strict.assert_code(1);
    strict.assert_test("probe/listModels/auth/empty_bearer", "FAILED");
    strict.assert_test("probe/listModels/auth/no_header", "ok");
}

#[tokio::test]
async fn a_stored_string_field_added_to_a_schema_gets_its_probes_with_no_code_change() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let specs = fixture.copy_specs();
    let overlay = specs.join("overlay.yaml");
    let mut text = std::fs::read_to_string(&overlay).unwrap();
    text.push_str(
        "  - target: $.components.schemas.CreateConversationBody.properties\n    \
         description: a second map of strings\n    update:\n      \
         labels: {type: object, additionalProperties: {type: string}}\n",
    );
    std::fs::write(&overlay, text).unwrap();
    let list = exec(
        args(&[
            "run",
            "--list",
            "--spec-dir",
            &specs.display().to_string(),
            "probe/",
        ]),
        &[],
    )
    .await;
    list.assert_code(0);
    // Create stores it (its strings must round-trip); update does not know it.
    list.assert_contains("probe/createConversation/fidelity/labels: test");
    list.assert_contains("probe/createConversation/fidelity/metadata: test");
    list.assert_contains("probe/updateConversation/unknown-field/labels: test");
    list.assert_contains("probe/createConversationItems/unknown-field/labels: test");
    assert!(
        !list
            .stdout
            .contains("probe/createConversation/unknown-field/labels"),
        "{}",
        list.stdout
    );
}
