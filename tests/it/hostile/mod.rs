//! The harness under faults: targets that misbehave at the transport level, cleanup that must
//! happen whatever happens (Ctrl-C included), secrets a server echoes back, broken inputs, TLS,
//! and the reference server under abuse. Every hostile target is simulated on 127.0.0.1, either
//! by wiremock or by a raw listener that writes the bytes (and the timing) of its answer by hand.

mod inputs;
mod output;
mod serve;
mod teardown;
mod transport;

use crate::common;

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
        "DELETE" => deleted(CONV),
        _ => conversation(json!({"topic": "demo"})),
    };
    answer("200 OK", "application/json", body.to_string().as_bytes())
}

/// Runs [`CREATE_CASE`] against a hostile `url` and checks that the case failed for `cause`
/// (one line), with exit code `code`, no panic, and within the run's time bound.
async fn assert_fails(url: &str, timeout: &str, code: i32, cause: &str) -> Run {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let run = fixture.run_measured(url, &["--timeout", timeout]).await;
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

/// An error object with `message`.
fn error(status: u16, message: &str) -> ResponseTemplate {
    json_response(
        status,
        json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
    )
}
