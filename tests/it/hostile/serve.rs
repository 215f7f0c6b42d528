//! `conformance serve` under abuse: slow clients, late headers and bodies, a full store, and
//! requests too big for it.

use super::*;

// ---------------------------------------------------------------- the reference server

/// `conformance serve --port 0 args`, with at most `descriptors` open files when given; answers
/// the child and its address (`127.0.0.1:PORT`).
async fn serve_limited(args: &[&str], descriptors: Option<u64>) -> (tokio::process::Child, String) {
    let mut command = serve_command(&["--api-key", KEY]);
    command.args(args);
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
    let (child, url) = start_serving(command).await;
    let addr = url
        .strip_prefix("http://")
        .and_then(|w| w.strip_suffix("/v1"))
        .unwrap_or_else(|| panic!("not a base URL: {url}"))
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
