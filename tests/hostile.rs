//! The harness under faults: targets that misbehave at the transport level, cleanup that must
//! happen whatever happens (Ctrl-C included), secrets a server echoes back, broken inputs, TLS.
//! Every hostile target is simulated on 127.0.0.1, either by wiremock or by a raw listener that
//! writes the bytes (and the timing) of its answer by hand.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
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
    // Every child of this process (the harness runs of these tests) stayed far below 2 GiB.
    #[cfg(target_os = "linux")]
    assert!(
        largest_child_rss() < 128 * 1024 * 1024,
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
async fn a_server_error_page_fails_gen_05() {
    let url = raw_server(|mut stream, _| async move {
        let bytes = answer(
            "500 Internal Server Error",
            "text/html",
            b"<h1>Internal Server Error</h1>",
        );
        let _ = stream.write_all(&bytes).await;
    })
    .await;
    assert_fails(
        &url,
        "2",
        1,
        "GEN-05 MUST: the server answered 500 (a 5xx); no request of the suite may",
    )
    .await;
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
#[derive(Default)]
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
                "$ref: '#/components/schemas/ConversationResource'",
                "$ref: '#/components/schemas/Nowhere'",
                1,
            )
        })
    })
    .await;
    dangling.assert_contains("openapi.yaml:53:");
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
    unmatched.assert_contains(
        "overlay.yaml:39:13: overlay target `$.components.schemas.NoSuchList` matches nothing",
    );
}

// ---------------------------------------------------------------- TLS

/// An honest server over TLS with a certificate made now, for 127.0.0.1, signed by nobody.
async fn self_signed_server() -> String {
    use tokio_rustls::rustls;
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
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
