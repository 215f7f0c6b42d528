//! The reference server's throughput, against a trivial axum handler as the ceiling.

use crate::{KEY, SERVER_CLIENTS, SERVER_SECONDS};
use serde_json::Value;
use std::time::{Duration, Instant};

pub(crate) struct Throughput {
    pub(crate) retrieve: f64,
    pub(crate) update: f64,
    pub(crate) ceiling_get: f64,
    pub(crate) ceiling_post: f64,
}

/// Requests per second of the reference server for retrieve and update, and of a trivial axum
/// handler answering the same paths with a fixed conversation, each served on a runtime of its
/// own (as `conformance serve` does) and loaded by the same client loop on `clients`.
pub(crate) fn server_throughput(clients: &tokio::runtime::Runtime) -> Throughput {
    let server_runtime = tokio::runtime::Runtime::new().expect("a server runtime");
    let reference = server_runtime
        .block_on(conformance::server::spawn(
            conformance::server::ServerConfig {
                api_key: Some(KEY.into()),
                ..Default::default()
            },
            "127.0.0.1",
            0,
        ))
        .expect("a reference server");
    conformance::target::install_tls_provider();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("a client");
    let base = reference.base_url().to_string();
    let ids = clients.block_on(async {
        let mut ids = Vec::new();
        for _ in 0..SERVER_CLIENTS {
            let created = client
                .post(format!("{base}/conversations"))
                .bearer_auth(KEY)
                .header("Content-Type", "application/json")
                .body(r#"{"metadata":{"topic":"bench"}}"#)
                .send()
                .await
                .expect("create")
                .bytes()
                .await
                .expect("a conversation");
            let created: Value = serde_json::from_slice(&created).expect("a conversation");
            ids.push(created["id"].as_str().expect("an id").to_string());
        }
        ids
    });
    let retrieve = clients.block_on(load(&client, &base, &ids, false));
    let update = clients.block_on(load(&client, &base, &ids, true));
    drop(reference);

    let (trivial, stop) = server_runtime.block_on(trivial_server());
    let ceiling_get = clients.block_on(load(&client, &trivial, &ids, false));
    let ceiling_post = clients.block_on(load(&client, &trivial, &ids, true));
    drop(stop);
    server_runtime.shutdown_timeout(Duration::from_secs(1));
    Throughput {
        retrieve,
        update,
        ceiling_get,
        ceiling_post,
    }
}

/// `SERVER_CLIENTS` loops, each on its own conversation, for `SERVER_SECONDS` after a short
/// warm-up; answers per second.
pub(crate) async fn load(
    client: &reqwest::Client,
    base: &str,
    ids: &[String],
    update: bool,
) -> f64 {
    let warm_up = Duration::from_millis(300);
    let started = Instant::now();
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let client = client.clone();
            let url = format!("{base}/conversations/{id}");
            tokio::spawn(async move {
                let mut counted = 0u64;
                let body = format!(r#"{{"metadata":{{"topic":"bench","client":"{i}"}}}}"#);
                loop {
                    let elapsed = started.elapsed();
                    if elapsed >= warm_up + SERVER_SECONDS {
                        break;
                    }
                    let request = if update {
                        client
                            .post(&url)
                            .header("Content-Type", "application/json")
                            .body(body.clone())
                    } else {
                        client.get(&url)
                    };
                    let response = request.bearer_auth(KEY).send().await.expect("an answer");
                    assert_eq!(response.status(), 200, "{url}");
                    response.bytes().await.expect("a body");
                    if elapsed >= warm_up {
                        counted += 1;
                    }
                }
                counted
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("a client loop");
    }
    total as f64 / SERVER_SECONDS.as_secs_f64()
}

/// The ceiling: axum answering a fixed conversation, reading the update's body, nothing else.
pub(crate) async fn trivial_server() -> (String, tokio::sync::oneshot::Sender<()>) {
    use axum::routing::get;
    const CONVERSATION: &str = r#"{"id":"conv_0123456789abcdef0123456789abcdef0123456789abcdef","object":"conversation","created_at":1700000000,"metadata":{"topic":"bench"}}"#;
    let answer = || async { ([("content-type", "application/json")], CONVERSATION) };
    let app = axum::Router::new().route(
        "/v1/conversations/{id}",
        get(answer).post(|_body: axum::body::Bytes| async move {
            ([("content-type", "application/json")], CONVERSATION)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    (format!("http://{addr}/v1"), tx)
}
