//! Cleanup that always finishes: deletes are retried on 5xx and 429 (after Retry-After), what
//! could not be deleted is listed in every report, an unknown id the server answered with 2xx
//! is deleted too, and a created id is read even from an answer that is not strict JSON.

use crate::common;

use common::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers the delete with each status of `statuses` in turn, then with the last.
struct Deletes {
    statuses: Vec<u16>,
    seen: Arc<AtomicUsize>,
}

impl Respond for Deletes {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        let status = self.statuses[n.min(self.statuses.len() - 1)];
        if status == 200 {
            return json_response(200, deleted(CONV));
        }
        let answer = json_response(
            status,
            json!({"error": {"message": "busy", "type": "server_error", "param": null, "code": null}}),
        );
        if status == 429 {
            answer.insert_header("retry-after-ms", "50")
        } else {
            answer
        }
    }
}

async fn server(create: ResponseTemplate, statuses: Vec<u16>) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    let seen = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/v1/conversations"))
        .respond_with(create)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v1/conversations/{CONV}")))
        .respond_with(Deletes {
            statuses,
            seen: Arc::clone(&seen),
        })
        .mount(&server)
        .await;
    (server, seen)
}

#[tokio::test]
async fn a_delete_answered_429_then_503_is_retried_until_it_succeeds() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let created = json_response(200, conversation(json!({"topic": "demo"})));
    let (server, deletes) = server(created, vec![429, 503, 200]).await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(0);
    assert_eq!(deletes.load(Ordering::SeqCst), 3, "{}", run.all());
    run.assert_lacks("left behind");
}

#[tokio::test]
async fn what_cannot_be_deleted_is_listed_in_the_summary_and_every_report() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let created = json_response(200, conversation(json!({"topic": "demo"})));
    let (server, _) = server(created, vec![500]).await;
    let dir = fixture.path().to_path_buf();
    let json_file = dir.join("report.json");
    let md_file = dir.join("report.md");
    let junit_file = dir.join("junit.xml");
    let run = fixture
        .run(
            &base(&server),
            &[
                "--report-json",
                json_file.to_str().unwrap(),
                "--report-md",
                md_file.to_str().unwrap(),
                "--junit",
                junit_file.to_str().unwrap(),
            ],
        )
        .await;
    let line = format!("DELETE {}/conversations/{CONV}", base(&server));
    run.assert_contains("left behind (cleanup could not delete them):");
    run.assert_contains(&line);
    // Bounded: the retries give up within the cleanup's budget.
    run.assert_within(std::time::Duration::from_secs(40));
    let report = read_report(&json_file, &run);
    assert_eq!(report["left_behind"], json!([line]));
    assert!(std::fs::read_to_string(&md_file).unwrap().contains(&line));
    assert!(std::fs::read_to_string(&junit_file)
        .unwrap()
        .contains(&line));
}

#[tokio::test]
async fn an_id_is_read_from_an_answer_that_is_not_strict_json_and_deleted() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let body = format!(
        r#"{{"id": "{CONV}", "object": "conversation", "created_at": 1e400, "metadata": {{"topic": "demo"}}}}"#
    );
    let created = ResponseTemplate::new(200).set_body_raw(body, "application/json");
    let (server, deletes) = server(created, vec![200]).await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(1);
    assert_eq!(deletes.load(Ordering::SeqCst), 1, "{}", run.all());
}

#[tokio::test]
async fn an_unknown_id_the_server_answers_with_2xx_is_deleted() {
    let case = format!(
        "requirement: RET-02\nsteps:\n- operation: getConversation\n  path_params: {{conversation_id: {CONV}}}\n  expect: {{status: 404}}\n"
    );
    let fixture = Fixture::new(&[("unknown.yaml", &case)]);
    let created = json_response(200, conversation(json!({})));
    let (server, deletes) = server(created, vec![200]).await;
    // The server makes up (or creates) what it is asked about.
    Mock::given(method("GET"))
        .and(path(format!("/v1/conversations/{CONV}")))
        .respond_with(json_response(200, conversation(json!({}))))
        .mount(&server)
        .await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(1);
    run.assert_contains("expected status 404, got 200");
    assert_eq!(deletes.load(Ordering::SeqCst), 1, "{}", run.all());
}
