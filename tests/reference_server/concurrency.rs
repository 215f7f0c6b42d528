//! Concurrent writers lose nothing; latency delays answers and changes nothing else.

use super::*;

// ---------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_lose_nothing_and_never_tear() {
    let api = Arc::new(Api::start().await);
    let id = api.conversation(json!({})).await;
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let api = Arc::clone(&api);
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let path = format!("/conversations/{id}");
            for n in 0..500 {
                let metadata = json!({"writer": writer.to_string(), "n": n.to_string(), format!("w{writer}"): "x"});
                let answer = api.post(&path, json!({ "metadata": metadata })).await.ok();
                // Each answer is exactly what this request wrote.
                assert_eq!(answer["metadata"], metadata);
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer finishes");
    }
    let last = api.get(&format!("/conversations/{id}")).await.ok();
    let metadata = last["metadata"].as_object().expect("metadata");
    // One whole write, and the last of its writer.
    assert_eq!(metadata.len(), 3, "{last}");
    let writer = metadata["writer"].as_str().expect("writer");
    assert_eq!(metadata["n"], "499", "{last}");
    assert_eq!(metadata[&format!("w{writer}")], "x", "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_item_adds_are_all_kept() {
    let api = Arc::new(Api::start().await);
    let id = api.conversation(json!({})).await;
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let api = Arc::clone(&api);
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..10 {
                let items = json!([
                    user(&format!("{writer}-{n}-a")),
                    user(&format!("{writer}-{n}-b"))
                ]);
                let list = api
                    .post(
                        &format!("/conversations/{id}/items"),
                        json!({ "items": items }),
                    )
                    .await
                    .ok();
                for item in list["data"].as_array().expect("data") {
                    ids.push(item["id"].as_str().expect("id").to_owned());
                }
            }
            ids
        }));
    }
    let mut written = HashSet::new();
    for task in tasks {
        written.extend(task.await.expect("writer finishes"));
    }
    assert_eq!(written.len(), 160);
    let mut listed = HashSet::new();
    let mut after = String::new();
    loop {
        let (page, list) = api
            .item_ids(&id, &format!("?order=asc&limit=100&after={after}"))
            .await;
        listed.extend(page.iter().cloned());
        if list["has_more"] != true {
            break;
        }
        after = page.last().cloned().expect("a full page");
    }
    assert_eq!(listed, written);
}

#[tokio::test]
async fn latency_delays_every_answer_and_changes_nothing_else() {
    let latency = std::time::Duration::from_millis(150);
    let server = spawn(
        ServerConfig {
            latency,
            ..ServerConfig::default()
        },
        "127.0.0.1",
        0,
    )
    .await
    .expect("server starts");
    let mut api = Api::start().await;
    api.server = server;
    for path in ["/conversations/conv_unknown", "/nowhere"] {
        let started = std::time::Instant::now();
        let answer = api.get(path).await;
        assert!(
            started.elapsed() >= latency,
            "{path}: {:?}",
            started.elapsed()
        );
        answer.assert_status(404);
    }
    let started = std::time::Instant::now();
    let created = api.post("/conversations", json!({})).await.ok();
    assert!(started.elapsed() >= latency);
    assert_eq!(created["object"], "conversation");
    // Without it, an answer comes at once.
    let quick = Api::start().await;
    let started = std::time::Instant::now();
    quick.get("/nowhere").await.assert_status(404);
    assert!(started.elapsed() < latency, "{:?}", started.elapsed());
}
