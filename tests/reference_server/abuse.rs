//! Unknown paths and methods, oversized, deep and broken bodies, header floods, broken HTTP.

use super::*;

// ---------------------------------------------------------------- paths and abuse

#[tokio::test]
async fn unknown_paths_and_methods_answer_invalid_url() {
    let api = Api::start().await;
    let id = api.conversation(json!({})).await;
    let cases = [
        (Method::POST, format!("/conversations/{id}/x")),
        (Method::GET, "/nothing".to_owned()),
        (Method::GET, "/conversations".to_owned()),
        (Method::PUT, format!("/conversations/{id}")),
        (Method::PATCH, format!("/conversations/{id}")),
        (Method::DELETE, format!("/conversations/{id}/items")),
        (Method::POST, format!("/conversations/{id}/items/msg_1")),
        (Method::GET, "/conversations/".to_owned()),
        (Method::OPTIONS, format!("/conversations/{id}")),
        (Method::TRACE, "/conversations".to_owned()),
        (
            Method::from_bytes(b"BREW").expect("an extension method"),
            format!("/conversations/{id}"),
        ),
    ];
    for (method, path) in cases {
        let answer = api.send(method.clone(), &path, None).await;
        answer.assert_error(
            404,
            &format!("Invalid URL ({method} /v1{path})"),
            Value::Null,
            Value::Null,
        );
    }
    let outside = api
        .client
        .get(format!(
            "http://{}/v2/conversations?x=1",
            api.server.local_addr()
        ))
        .bearer_auth("k");
    checked(outside).await.assert_error(
        404,
        "Invalid URL (GET /v2/conversations)",
        Value::Null,
        Value::Null,
    );
}

#[tokio::test]
async fn oversized_deep_and_invalid_bodies_are_4xx() {
    let api = Api::start().await;
    let id = api.conversation(json!({})).await;
    let path = format!("/conversations/{id}");
    let big = format!(
        r#"{{"metadata": {{"a": "{}"}}}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let answer = api.send(Method::POST, &path, Some(&big)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.error()["code"], "request_too_large");
    let huge = "x".repeat(20 * 1024 * 1024);
    let request = api.client.post(api.url(&path)).bearer_auth("k").body(huge);
    // Far over the limit the connection may be given up before the body is sent; when an
    // answer arrives it is the 413.
    if let Ok(response) = request.send().await {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    let deep = format!(
        r#"{{"metadata": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    api.send(Method::POST, &path, Some(&deep))
        .await
        .assert_status(400);
    let request = api
        .client
        .post(api.url(&path))
        .bearer_auth("k")
        .body(b"{\"metadata\": {\"a\": \"\xff\xfe\"}}".to_vec());
    let answer = checked(request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.error()["code"], Value::Null);
    // Still intact.
    assert_eq!(api.get(&path).await.ok()["metadata"], json!({}));
}

#[tokio::test]
async fn a_header_flood_is_refused_with_a_4xx() {
    let api = Api::start().await;
    let mut request = api
        .client
        .get(api.url("/conversations/conv_x"))
        .bearer_auth("k");
    for i in 0..500 {
        request = request.header(format!("x-flood-{i}"), "y".repeat(100));
    }
    match request.send().await {
        Ok(response) => assert!(response.status().is_client_error(), "{}", response.status()),
        // Refusing the connection outright is fine too; a 5xx is not.
        Err(error) => assert!(!error.is_status(), "{error}"),
    }
    // The server still serves.
    api.get("/conversations/conv_x").await.assert_status(404);
}

/// Sends raw bytes on a fresh connection and answers what comes back before the server
/// closes it (or 2 s pass).
async fn raw_exchange(api: &Api, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(api.server.local_addr())
        .await
        .expect("connects");
    // The server may answer and close before everything is written: that is fine.
    let _ = stream.write_all(request).await;
    let _ = stream.shutdown().await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn broken_http_gets_a_4xx_or_a_closed_connection_and_the_server_lives_on() {
    let api = Api::start().await;
    let id = api.conversation(json!({})).await;
    let long_header = format!(
        "GET /v1/conversations/{id} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "y".repeat(200 * 1024)
    );
    let long_path = format!(
        "GET /v1/conversations/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "z".repeat(200 * 1024)
    );
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("not HTTP", b"GARBAGE GARBAGE GARBAGE\r\n\r\n".to_vec()),
        ("binary", vec![0u8, 159, 146, 150, 255, 13, 10, 13, 10]),
        ("a huge header", long_header.into_bytes()),
        ("a huge path", long_path.into_bytes()),
        (
            "bad chunked encoding",
            format!("POST /v1/conversations/{id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnope\r\n").into_bytes(),
        ),
        (
            "a body shorter than its Content-Length",
            format!("POST /v1/conversations/{id} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: 100\r\n\r\n{{\"metadata\"").into_bytes(),
        ),
    ];
    for (what, request) in requests {
        let answer = raw_exchange(&api, &request).await;
        let status = answer.get(9..12).unwrap_or_default();
        assert!(
            answer.is_empty() || (answer.starts_with("HTTP/1.1 4") && status != "404"),
            "{what}: {}",
            answer.lines().next().unwrap_or_default()
        );
    }
    // Untouched, and still serving.
    assert_eq!(
        api.get(&format!("/conversations/{id}")).await.ok()["metadata"],
        json!({})
    );
}
