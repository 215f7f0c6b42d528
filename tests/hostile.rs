//! The harness under faults: targets that misbehave at the transport level, cleanup that must
//! happen whatever happens (Ctrl-C included), secrets a server echoes back, broken inputs, TLS.
//! Every hostile target is simulated on 127.0.0.1, either by wiremock or by a raw listener that
//! writes the bytes (and the timing) of its answer by hand.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

// ---------------------------------------------------------------- raw loopback servers

/// The head of a request a raw server read.
struct RawRequest {
    method: String,
    head: String,
}

/// Reads one request: its head, then as much body as its Content-Length says.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<RawRequest> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut have = buffer.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        have += n;
    }
    Some(RawRequest {
        method: head.split_whitespace().next()?.to_string(),
        head,
    })
}

/// A loopback server that reads each request and lets `answer` write whatever it likes, then
/// closes the connection. Answers the base URL.
async fn raw_server<F, Fut>(answer: F) -> String
where
    F: Fn(TcpStream, RawRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                if let Some(request) = read_request(&mut stream).await {
                    answer(stream, request).await;
                }
            });
        }
    });
    url
}

/// A status line and headers, ready to be followed by a body.
fn head(status: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// A whole answer with a correct Content-Length.
fn answer(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = head(
        status,
        &[
            ("Content-Type", content_type),
            ("Content-Length", &body.len().to_string()),
        ],
    );
    out.extend_from_slice(body);
    out
}

/// What an honest server answers, by method: enough for [`CREATE_CASE`] and its cleanup.
fn honest_answer(method: &str) -> Vec<u8> {
    let body = match method {
        "DELETE" => json!({"id": CONV, "object": "conversation.deleted", "deleted": true}),
        _ => conversation(json!({"topic": "demo"})),
    };
    answer("200 OK", "application/json", body.to_string().as_bytes())
}

/// Runs [`CREATE_CASE`] against a hostile `url` and checks that the case failed for `cause`
/// (one line), with exit code `code`, no panic, and within the run's time bound.
async fn assert_fails(url: &str, timeout: &str, code: i32, cause: &str) -> Run {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let run = fixture.run(url, &["--timeout", timeout]).await;
    run.assert_code(code);
    run.assert_test("create", "FAILED");
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains(cause))
        .unwrap_or_else(|| panic!("expected {cause:?} in:\n{}", run.all()));
    assert!(line.len() < 300, "the cause is one short line: {line}");
    run.assert_within(Duration::from_secs(20));
    run
}

// ---------------------------------------------------------------- hostile targets

#[tokio::test]
async fn a_refused_connection_fails_every_case_with_exit_code_3() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://127.0.0.1:{port}/v1");
    let fixture = Fixture::new(&[("a.yaml", CREATE_CASE), ("b.yaml", CREATE_CASE)]);
    let run = fixture.run(&url, &["--timeout", "2"]).await;
    run.assert_code(3);
    run.assert_test("a", "FAILED");
    run.assert_test("b", "FAILED");
    run.assert_contains("target: the target does not answer (a first request, GET ");
    run.assert_contains("cannot connect to the target: nothing listens there");
    run.assert_within(Duration::from_secs(20));
}

#[tokio::test]
async fn a_connection_reset_mid_answer_fails_the_case() {
    let url = raw_server(|mut stream, _| async move {
        let mut bytes = head(
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", "500"),
            ],
        );
        bytes.extend_from_slice(br#"{"id": "conv_"#);
        let _ = stream.write_all(&bytes).await;
        let _ = stream.flush().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        // SO_LINGER 0: closing sends a RST instead of a FIN.
        let _ = stream.set_zero_linger();
    })
    .await;
    assert_fails(
        &url,
        "2",
        4,
        "inconclusive: the target reset the connection before the answer was complete",
    )
    .await;
}

#[tokio::test]
async fn an_answer_that_never_comes_fails_by_timeout() {
    let url = raw_server(|stream, _| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(stream);
    })
    .await;
    let run = assert_fails(
        &url,
        "1",
        3,
        "no complete answer within the timeout of 1 s (--timeout)",
    )
    .await;
    run.assert_within(Duration::from_secs(10));
}

#[tokio::test]
async fn a_body_that_trickles_a_byte_a_second_fails_by_timeout() {
    let url = raw_server(|mut stream, _| async move {
        let body = conversation(json!({"topic": "demo"})).to_string();
        let length = body.len().to_string();
        let bytes = head(
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", &length),
            ],
        );
        let _ = stream.write_all(&bytes).await;
        for byte in body.bytes() {
            if stream.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .await;
    // The status came: the target is reachable, so the run is inconclusive (4), not
    // "unreachable" (3), and no conformance failure (1).
    let run = assert_fails(
        &url,
        "2",
        4,
        "inconclusive: no complete answer within the timeout of 2 s (--timeout)",
    )
    .await;
    run.assert_within(Duration::from_secs(10));
}

#[tokio::test]
async fn a_truncated_body_fails_the_case() {
    let url = raw_server(|mut stream, _| async move {
        let mut bytes = head(
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", "1000"),
            ],
        );
        bytes.extend_from_slice(br#"{"id": "conv_1", "obj"#);
        let _ = stream.write_all(&bytes).await;
        let _ = stream.shutdown().await;
    })
    .await;
    assert_fails(
        &url,
        "2",
        4,
        "inconclusive: the target closed the connection before the answer was complete (end of file before message length reached)",
    )
    .await;
}

#[tokio::test]
async fn a_body_that_is_not_json_fails_the_schema_check() {
    let url = raw_server(|mut stream, _| async move {
        let bytes = answer("200 OK", "application/json", b"<html>oops</html>");
        let _ = stream.write_all(&bytes).await;
    })
    .await;
    assert_fails(
        &url,
        "2",
        1,
        "CRE-02 MUST: the 200 answer cannot be checked against the spec: the body is not JSON",
    )
    .await;
}

#[tokio::test]
async fn json_with_another_content_type_fails_gen_01() {
    let url = raw_server(|mut stream, request| async move {
        let mut bytes = honest_answer(&request.method);
        let text = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("application/json", "text/html");
        if request.method == "POST" {
            bytes = text.into_bytes();
        }
        let _ = stream.write_all(&bytes).await;
    })
    .await;
    assert_fails(
        &url,
        "2",
        1,
        "GEN-01 MUST: Content-Type is `text/html`, expected `application/json`",
    )
    .await;
}

/// The largest resident set of any child this test process has waited for, in bytes.
#[cfg(target_os = "linux")]
fn largest_child_rss() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    let done = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(done, 0);
    usage.ru_maxrss as u64 * 1024
}

#[tokio::test]
async fn an_endless_body_is_cut_at_8_mib_in_bounded_time_and_memory() {
    let url = raw_server(|mut stream, _| async move {
        // Announces 2 GiB, then sends for as long as anyone reads.
        let _ = stream
            .write_all(&head(
                "200 OK",
                &[
                    ("Content-Type", "application/json"),
                    ("Content-Length", "2147483648"),
                ],
            ))
            .await;
        let chunk = vec![b' '; 64 * 1024];
        while stream.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let run = assert_fails(
        &url,
        "10",
        1,
        "target: the body is larger than 8 MiB; stopped reading",
    )
    .await;
    run.assert_within(Duration::from_secs(10));
    // Every child of this process (the harness runs of these tests, one of which sends a 20 MB
    // body) stayed far below the 2 GiB announced: about 110 MiB is the debug build's own.
    #[cfg(target_os = "linux")]
    assert!(
        largest_child_rss() < 256 * 1024 * 1024,
        "a harness run used {} MiB",
        largest_child_rss() / 1024 / 1024
    );
}

#[tokio::test]
async fn a_gzip_body_that_does_not_decompress_is_an_unusable_answer() {
    let url = raw_server(|mut stream, request| async move {
        assert!(
            request
                .head
                .to_ascii_lowercase()
                .contains("accept-encoding: identity"),
            "{}",
            request.head
        );
        let garbage = b"\x1f\x8b\x08not really gzip at all";
        let mut bytes = head(
            "200 OK",
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
                ("Content-Length", &garbage.len().to_string()),
            ],
        );
        bytes.extend_from_slice(garbage);
        let _ = stream.write_all(&bytes).await;
    })
    .await;
    assert_fails(
        &url,
        "2",
        1,
        "target: unusable answer: its body is encoded with `Content-Encoding: gzip`",
    )
    .await;
}

#[tokio::test]
async fn a_server_error_page_where_a_status_is_owed_fails_that_status_once() {
    let url = raw_server(|mut stream, _| async move {
        let bytes = answer(
            "500 Internal Server Error",
            "text/html",
            b"<h1>Internal Server Error</h1>",
        );
        let _ = stream.write_all(&bytes).await;
    })
    .await;
    assert_fails(&url, "2", 1, "CRE-02 MUST: expected status 200, got 500")
        .await
        .assert_lacks("GEN-05");
}

#[tokio::test]
async fn redirects_are_not_followed_and_the_key_never_reaches_another_host() {
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(json_response(200, conversation(json!({"topic": "demo"}))))
        .mount(&elsewhere)
        .await;
    let looping = MockServer::start().await;
    let own = format!("{}/v1/conversations", looping.uri());
    Mock::given(any())
        .respond_with(ResponseTemplate::new(302).insert_header("location", own.as_str()))
        .mount(&looping)
        .await;
    let run = assert_fails(
        &base(&looping),
        "2",
        1,
        "target: the server redirected (302 to `",
    )
    .await;
    run.assert_contains("redirects are not followed (an API answers directly)");
    // The first request of the run (answered, so the target is there), then the case's.
    assert_eq!(looping.received_requests().await.unwrap().len(), 2);

    let away = MockServer::start().await;
    let target = format!("{}/v1/conversations", elsewhere.uri());
    Mock::given(any())
        .respond_with(ResponseTemplate::new(307).insert_header("location", target.as_str()))
        .mount(&away)
        .await;
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let run = fixture.run(&base(&away), &[]).await;
    run.assert_code(1);
    run.assert_contains(&format!("the server redirected (307 to `{target}`)"));
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "nothing, and so no Authorization header, may reach another host"
    );

    // A step that expects the redirect gets it as its answer.
    let expects =
        "requirement: GEN-05\nsteps:\n- operation: createConversation\n  expect: {status: 302}\n";
    let fixture = Fixture::new(&[("redirect.yaml", expects)]);
    fixture.run(&base(&looping), &[]).await.assert_code(0);
}

// ---------------------------------------------------------------- cleanup

/// What the counting server saw.
#[derive(Debug, Default)]
struct Counts {
    /// Conversations created and not deleted, with their metadata.
    live: BTreeMap<String, Value>,
    created: usize,
    deleted: usize,
    updates: usize,
    gets: usize,
}

/// A conversations server that counts live conversations; it can answer every other update
/// with a wrong status and delay its retrieves.
#[derive(Clone, Default)]
struct Counting {
    counts: Arc<Mutex<Counts>>,
    fail_every_other_update: bool,
    get_delay: Duration,
}

impl Counting {
    async fn start(self) -> (MockServer, Arc<Mutex<Counts>>) {
        let server = MockServer::start().await;
        let counts = Arc::clone(&self.counts);
        Mock::given(any()).respond_with(self).mount(&server).await;
        (server, counts)
    }
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    json_response(
        status,
        json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
    )
}

impl Respond for Counting {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut counts = self.counts.lock().unwrap();
        let id = request
            .url
            .path()
            .strip_prefix("/v1/conversations/")
            .map(str::to_string);
        let body = |id: &str, metadata: &Value| json!({"id": id, "object": "conversation", "created_at": now(), "metadata": metadata});
        match (request.method.as_str(), id) {
            ("POST", None) => {
                counts.created += 1;
                let id = format!("conv_{:048x}", counts.created);
                counts.live.insert(id.clone(), json!({}));
                json_response(200, body(&id, &json!({})))
            }
            ("POST", Some(id)) => {
                counts.updates += 1;
                if self.fail_every_other_update && counts.updates.is_multiple_of(2) {
                    return error(409, "not now");
                }
                let sent: Value = serde_json::from_slice(&request.body).unwrap_or_default();
                match counts.live.get_mut(&id) {
                    Some(metadata) => {
                        *metadata = sent["metadata"].clone();
                        json_response(200, body(&id, metadata))
                    }
                    None => error(404, "no such conversation"),
                }
            }
            ("GET", Some(id)) => match counts.live.get(&id) {
                // Slow on what it holds; an unknown id (the harness's first request) is quick.
                Some(metadata) => {
                    let answer = json_response(200, body(&id, metadata));
                    counts.gets += 1;
                    answer.set_delay(self.get_delay)
                }
                None => error(404, "no such conversation"),
            },
            ("DELETE", Some(id)) => match counts.live.remove(&id) {
                Some(_) => {
                    counts.deleted += 1;
                    json_response(
                        200,
                        json!({"id": id, "object": "conversation.deleted", "deleted": true}),
                    )
                }
                None => error(404, "no such conversation"),
            },
            _ => error(404, "no such path"),
        }
    }
}

const PERSISTS_METADATA: &str =
    include_str!("../cases/conversations/update/persists_metadata.yaml");

#[tokio::test]
async fn what_failing_cases_created_is_deleted_all_the_same() {
    let names: Vec<String> = (0..6).map(|i| format!("update_{i}.yaml")).collect();
    let cases: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), PERSISTS_METADATA))
        .collect();
    let fixture = Fixture::new(&cases);
    let (server, counts) = Counting {
        fail_every_other_update: true,
        ..Default::default()
    }
    .start()
    .await;
    let run = fixture.run(&base(&server), &[]).await;
    run.assert_code(1);
    run.assert_contains("expected status 200, got 409");
    run.assert_contains("test result: FAILED. 3 passed; 3 failed");
    let counts = counts.lock().unwrap();
    assert_eq!(counts.created, 6);
    assert_eq!(counts.deleted, 6);
    assert!(counts.live.is_empty(), "left behind: {:?}", counts.live);
}

#[tokio::test]
async fn what_a_timed_out_case_created_is_deleted() {
    let case = "requirement: RET-01\nsteps:\n- operation: createConversation\n  capture: {conv: $}\n\
                - operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n  expect: {status: 200}\n";
    let fixture = Fixture::new(&[("slow.yaml", case)]);
    let (server, counts) = Counting {
        get_delay: Duration::from_secs(30),
        ..Default::default()
    }
    .start()
    .await;
    let run = fixture.run(&base(&server), &["--timeout", "1"]).await;
    run.assert_code(4);
    run.assert_contains("inconclusive: no complete answer within the timeout of 1 s (--timeout)");
    run.assert_within(Duration::from_secs(15));
    let counts = counts.lock().unwrap();
    // Caught in trouble, the case ran once more before it was called inconclusive.
    assert_eq!((counts.created, counts.deleted), (2, 2));
    assert!(counts.live.is_empty());
}

#[tokio::test]
async fn ctrl_c_stops_new_cases_cleans_up_the_running_ones_and_exits_130() {
    let case =
        "requirement: RET-01\nsteps:\n- operation: createConversation\n  capture: {conv: $}\n\
                - operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n\
                - operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n";
    let names: Vec<String> = (0..9).map(|i| format!("slow_{i}.yaml")).collect();
    let cases: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), case)).collect();
    let fixture = Fixture::new(&cases);
    let (server, counts) = Counting {
        get_delay: Duration::from_secs(2),
        ..Default::default()
    }
    .start()
    .await;
    let mut command = fixture.command(&base(&server), &["--test-threads", "3"], &[]);
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let started = std::time::Instant::now();
    let child = command.spawn().unwrap();
    // Interrupt while three cases wait on their slow retrieve.
    while counts.lock().unwrap().gets < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no case started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().expect("running") as libc::pid_t;
    // SAFETY: kill only sends a signal to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the harness ends after Ctrl-C")
        .unwrap();
    let run = Run::new(output, started.elapsed());
    run.assert_code(130);
    run.assert_contains("interrupted: no new case starts");
    run.assert_contains("interrupted (Ctrl-C) before step 3; the rest of the case did not run");
    run.assert_contains("not run: interrupted (Ctrl-C)");
    run.assert_contains(
        "interrupted (Ctrl-C): 3 cases ran and deleted the 3 resources they had created \
         (failed deletes are in the notes); 6 cases did not run",
    );
    let counts = counts.lock().unwrap();
    assert_eq!(counts.gets, 3, "no step may start after Ctrl-C");
    assert_eq!((counts.created, counts.deleted), (3, 3));
    assert!(counts.live.is_empty(), "left behind: {:?}", counts.live);
}

/// Starts 9 slow cases 3 at a time against a counting server, and once three wait on their
/// slow retrieve sends `signals` (one after the other); answers the run, the counts and the
/// JSON report's text (`None`: not written).
async fn signalled_run(signals: &[libc::c_int]) -> (Run, Counts, Option<String>) {
    let case =
        "requirement: RET-01\nsteps:\n- operation: createConversation\n  capture: {conv: $}\n\
                - operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n\
                - operation: getConversation\n  path_params: {conversation_id: '{{conv.id}}'}\n";
    let names: Vec<String> = (0..9).map(|i| format!("slow_{i}.yaml")).collect();
    let cases: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), case)).collect();
    let fixture = Fixture::new(&cases);
    let (server, counts) = Counting {
        get_delay: Duration::from_secs(2),
        ..Default::default()
    }
    .start()
    .await;
    let json = fixture.path().join("reports/report.json");
    let json_flag = json.display().to_string();
    let mut command = fixture.command(
        &base(&server),
        &["--test-threads", "3", "--report-json", &json_flag],
        &[],
    );
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let started = std::time::Instant::now();
    let child = command.spawn().unwrap();
    while counts.lock().unwrap().gets < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no case started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().expect("running") as libc::pid_t;
    for &signal in signals {
        // SAFETY: kill only sends a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the harness ends after the signal")
        .unwrap();
    let run = Run::new(output, started.elapsed());
    let counts = std::mem::take(&mut *counts.lock().unwrap());
    (run, counts, std::fs::read_to_string(&json).ok())
}

#[tokio::test]
async fn sigterm_stops_like_ctrl_c_cleans_up_writes_the_reports_and_exits_143() {
    let (run, counts, report) = signalled_run(&[libc::SIGTERM]).await;
    run.assert_code(143);
    run.assert_contains("interrupted: no new case starts");
    run.assert_contains("terminated (SIGTERM): 3 cases ran and deleted the 3 resources");
    assert_eq!((counts.created, counts.deleted), (3, 3));
    assert!(counts.live.is_empty(), "left behind: {:?}", counts.live);
    let report: Value = serde_json::from_str(&report.expect("the report is written")).unwrap();
    assert!(
        report["notes"].to_string().contains("terminated (SIGTERM)"),
        "{report}"
    );
}

#[tokio::test]
async fn a_second_signal_quits_at_once_and_leaves_no_cut_report() {
    let (run, _, report) = signalled_run(&[libc::SIGINT, libc::SIGINT]).await;
    run.assert_code(130);
    run.assert_contains("interrupted again: quitting without cleanup");
    // Written whole or not at all: never an empty or cut file.
    if let Some(report) = report {
        serde_json::from_str::<Value>(&report).expect("a whole report");
    }
}

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
            _ => json_response(
                200,
                json!({"id": CONV, "object": "conversation.deleted", "deleted": true}),
            ),
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
            "cases/undefined_variable.yaml:3:3: step 1: path_params.conversation_id: undefined variable `conv`",
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
    let overlay = include_str!("../specs/overlay.yaml");
    let line = 1 + overlay
        .lines()
        .position(|l| l.ends_with("target: $.components.schemas.ConversationItemList"))
        .unwrap();
    unmatched.assert_contains(&format!(
        "overlay.yaml:{line}:13: overlay target `$.components.schemas.NoSuchList` matches nothing"
    ));
}

// ---------------------------------------------------------------- TLS

/// An honest server over TLS with a certificate made now, for 127.0.0.1, signed by nobody.
async fn self_signed_server() -> String {
    use tokio_rustls::rustls;
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                serve_one(&mut tls).await;
            });
        }
    });
    url
}

async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    if let Some(request) = read_request(stream).await {
        let _ = stream.write_all(&honest_answer(&request.method)).await;
        let _ = stream.shutdown().await;
    }
}

#[tokio::test]
async fn tls_certificates_are_verified_unless_insecure_says_otherwise() {
    let url = self_signed_server().await;
    let run = assert_fails(
        &url,
        "5",
        3,
        "TLS: the certificate is not trusted (invalid peer certificate: UnknownIssuer)",
    )
    .await;
    run.assert_lacks("NOT verified");

    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let run = fixture.run(&url, &["--insecure"]).await;
    run.assert_code(0);
    run.assert_test("create", "ok");
    run.assert_contains("TLS certificates were NOT verified (--insecure)");
}

/// The raw fixture itself is sound: answering honestly, it passes the case the hostile
/// variants fail.
#[tokio::test]
async fn an_honest_raw_server_passes_the_case() {
    let url = raw_server(|mut stream, request| async move {
        let _ = stream.write_all(&honest_answer(&request.method)).await;
    })
    .await;
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    fixture.run(&url, &[]).await.assert_code(0);
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

/// Starts `conformance serve --port 0` with `args`; answers the child and its base URL.
async fn serve(args: &[&str]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_conformance"));
    command
        .args(["serve", "--port", "0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the server starts")
        .unwrap()
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    (child, url)
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
            "cases/outside.yaml: is a symbolic link: case discovery follows no links",
        ),
        ("environ", "cases/environ.yaml: is a symbolic link"),
        ("zero", "cases/zero.yaml: is a symbolic link"),
        ("loop_a", "cases/loop_a: is a symbolic link"),
        ("pipe", "cases/pipe.yaml: is not a regular file: not read"),
        ("big", "cases/big.yaml: larger than 1024 KiB"),
        (
            "latin1",
            "cases/latin1.yaml:2:11: not UTF-8: save the file as UTF-8",
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

// ---------------------------------------------------------------- the reference server

/// `conformance serve --port 0 args`, with at most `descriptors` open files when given.
async fn serve_limited(args: &[&str], descriptors: Option<u64>) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_conformance"));
    command
        .args(["serve", "--port", "0", "--api-key", KEY])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(limit) = descriptors {
        // SAFETY: setrlimit is async-signal-safe and only changes the child's own limit.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut child = command.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the server starts")
        .unwrap()
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|w| w.strip_suffix("/v1"))
        .unwrap()
        .to_string();
    (child, addr)
}

/// Sends `request` (whole, with `Connection: close`) and reads the answer to its end: the
/// status and the body.
async fn exchange(addr: &str, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn request(method: &str, path: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The body is the error object, with `code`.
#[track_caller]
fn assert_error_object(body: &str, code: &str) {
    let value: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert!(value["error"]["message"].is_string(), "{value}");
    assert_eq!(value["error"]["type"], "invalid_request_error", "{value}");
    assert_eq!(value["error"]["code"], code, "{value}");
}

#[tokio::test]
async fn slow_clients_do_not_starve_a_normal_one_even_out_of_descriptors() {
    // 48 descriptors for the whole server, a header timeout far beyond the test: only making
    // room for the prompt client can serve it.
    let (_server, addr) = serve_limited(&["--header-timeout", "600"], Some(48)).await;
    let mut slow = Vec::new();
    let opened = tokio::time::timeout(Duration::from_secs(30), async {
        for _ in 0..300 {
            let mut stream = TcpStream::connect(&addr).await.unwrap();
            stream
                .write_all(b"POST /v1/conversations HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
            slow.push(stream);
        }
    })
    .await;
    assert!(opened.is_ok(), "the server accepts no more connections");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let served = tokio::time::timeout(
        Duration::from_secs(10),
        exchange(&addr, &request("GET", "/v1/conversations/conv_x", "", "")),
    )
    .await
    .expect("a prompt client is served while 300 slow ones are open");
    assert_eq!(served.0, 404, "{served:?}");
    assert!(served.1.contains("not found"), "{served:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(slow);
}

#[tokio::test]
async fn headers_and_bodies_that_do_not_come_in_time_end_the_connection_or_answer_408() {
    let (_server, addr) =
        serve_limited(&["--header-timeout", "1", "--body-timeout", "1"], None).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /v1/conversations/x HTTP/1.1\r\nHost")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "a connection sending its headers slowly is closed"
    );

    let mut head = request("POST", "/v1/conversations", "", &" ".repeat(100));
    head.truncate(head.len() - 90);
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), exchange(&addr, &head))
        .await
        .expect("a body that does not come is answered");
    assert_eq!(status, 408, "{body}");
    assert_error_object(&body, "request_timeout");
}

#[tokio::test]
async fn the_store_is_capped_and_refuses_new_data_with_the_error_object() {
    let (_server, addr) =
        serve_limited(&["--max-conversations", "2", "--max-items", "2"], None).await;
    let create = |body: &str| request("POST", "/v1/conversations", "", body);
    let (status, first) = exchange(&addr, &create("{}")).await;
    assert_eq!(status, 200, "{first}");
    let first: Value = serde_json::from_str(&first).unwrap();
    let id = first["id"].as_str().unwrap();
    assert_eq!(exchange(&addr, &create("{}")).await.0, 200);
    let (status, body) = exchange(&addr, &create("{}")).await;
    assert_eq!(status, 429, "{body}");
    assert_error_object(&body, "conversation_limit_reached");
    let items = r#"{"items": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "user", "content": "c"}]}"#;
    let (status, body) = exchange(
        &addr,
        &request("POST", &format!("/v1/conversations/{id}/items"), "", items),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_error_object(&body, "item_limit_reached");
    // New data is refused, nothing is dropped: deleting makes room again.
    assert_eq!(
        exchange(
            &addr,
            &request("DELETE", &format!("/v1/conversations/{id}"), "", "")
        )
        .await
        .0,
        200
    );
    assert_eq!(exchange(&addr, &create("{}")).await.0, 200);
}

#[tokio::test]
async fn every_4xx_carries_the_error_object_also_413_414_and_431() {
    let (_server, addr) = serve_limited(&[], None).await;
    let long_path = format!("/v1/conversations/{}", "a".repeat(10 * 1024));
    let (status, body) = exchange(&addr, &request("GET", &long_path, "", "")).await;
    assert_eq!(status, 414, "{body}");
    assert_error_object(&body, "uri_too_long");
    let big_header = format!("X-Big: {}\r\n", "b".repeat(20 * 1024));
    let (status, body) = exchange(
        &addr,
        &request("GET", "/v1/conversations/x", &big_header, ""),
    )
    .await;
    assert_eq!(status, 431, "{body}");
    assert_error_object(&body, "headers_too_large");
    let many: String = (0..80).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, body) = exchange(&addr, &request("GET", "/v1/conversations/x", &many, "")).await;
    assert_eq!(status, 431, "{body}");
    assert_error_object(&body, "headers_too_large");
    let huge = format!(
        "{{\"metadata\": {{\"a\": \"{}\"}}}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let (status, body) = exchange(&addr, &request("POST", "/v1/conversations", "", &huge)).await;
    assert_eq!(status, 413, "{body}");
    assert_error_object(&body, "request_too_large");
}

// ---------------------------------------------------------------- big requests

/// A target that answers 413 as soon as the head of a request is in, before reading its body,
/// then closes: gracefully (reading the rest away, as nginx's lingering close does) or with a
/// reset (a close with the body unread).
async fn answers_413_early(reset: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let body = json!({"error": {"message": "too large", "type": "invalid_request_error", "param": null, "code": null}});
                let _ = stream
                    .write_all(&answer(
                        "413 Payload Too Large",
                        "application/json",
                        body.to_string().as_bytes(),
                    ))
                    .await;
                let _ = stream.flush().await;
                if reset {
                    let _ = stream.set_zero_linger();
                    return;
                }
                let _ = stream.shutdown().await;
                let mut rest = vec![0u8; 1 << 16];
                while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
            });
        }
    });
    url
}

/// A create whose body is 20 MB of metadata.
const TWENTY_MB_CREATE: &str = "requirement: CRE-02\nsteps:\n- operation: createConversation\n  \
    body: {metadata: {a: {$array: {count: 200, item: {$string: {repeat: x, count: 100000}}}}}}\n  \
    expect: {status: 400}\n";

#[tokio::test]
async fn a_413_answered_before_a_20_mb_body_is_read_is_reported_as_the_413() {
    let url = answers_413_early(false).await;
    let fixture = Fixture::new(&[("big.yaml", TWENTY_MB_CREATE)]);
    let run = fixture.run(&url, &[]).await;
    run.assert_code(1);
    run.assert_contains("expected status 400, got 413");
    run.assert_lacks("Broken pipe");
    run.assert_lacks("reset the connection");
    // The reproduction names the body instead of embedding it.
    let reproduce = run
        .stdout
        .lines()
        .find(|l| l.contains("reproduce:"))
        .unwrap_or_else(|| panic!("{}", run.all()));
    assert!(reproduce.len() < 2000, "{reproduce}");
    assert!(reproduce.contains("--data-binary @"), "{reproduce}");
}

#[tokio::test]
async fn a_413_followed_by_a_reset_is_the_413_or_inconclusive_never_a_failure_of_the_transport() {
    // The reset may reach the client before it reads the answer, which is then lost with the
    // connection: the run can only say so, not guess a verdict.
    let url = answers_413_early(true).await;
    let small = "requirement: CRE-02\nsteps:\n- operation: createConversation\n  \
                 body: {metadata: {a: b}}\n  expect: {status: 400}\n";
    let fixture = Fixture::new(&[("big.yaml", TWENTY_MB_CREATE), ("small.yaml", small)]);
    let run = fixture.run(&url, &[]).await;
    run.assert_code(1);
    run.assert_lacks("Broken pipe");
    let judged_413 = run.stdout.matches("expected status 400, got 413").count();
    let big_inconclusive = run
        .stdout
        .contains("big: step 1: the target reset the connection");
    assert!(
        judged_413 >= 2 || big_inconclusive,
        "the big case is neither the 413 nor inconclusive\n{}",
        run.all()
    );
}
