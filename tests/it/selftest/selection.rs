//! What a run selects and refuses: `--list`, filters, `--api`, and usage errors.

use super::*;

#[tokio::test]
async fn listing_starts_nothing_and_filters_select_cases() {
    let fixture = Fixture::new(&[("a/one.yaml", CREATE_CASE), ("b/two.yaml", CREATE_CASE)]);
    let run = fixture.run("http://127.0.0.1:9/v1", &["--list"]).await;
    run.assert_code(0);
    assert_eq!(run.stdout.trim(), "a/one: test\nb/two: test");
    let server = honest_server(conversation(json!({"topic": "demo"}))).await;
    let run = fixture
        .run(
            &base(&server),
            &["b/", "--format", "json", "-Z", "unstable-options"],
        )
        .await;
    run.assert_code(0);
    run.assert_contains("\"name\": \"b/two\"");
    run.assert_lacks("a/one");
}

#[tokio::test]
async fn usage_errors_exit_with_2_and_say_what_to_fix() {
    let fixture = Fixture::new(&[("create.yaml", CREATE_CASE)]);
    let url = "http://127.0.0.1:9/v1";
    let run = fixture.run(url, &["--no-such-flag"]).await;
    run.assert_code(2);
    run.assert_contains("unexpected argument '--no-such-flag'");

    let missing = fixture.path().join("no-specs");
    let run = fixture
        .run(url, &["--spec-dir", missing.to_str().unwrap()])
        .await;
    run.assert_code(2);
    run.assert_contains("no-specs/openapi.yaml: cannot read the spec file");

    // A report that cannot be written is found before anything is sent.
    let blocked = fixture.path().join("cases/create.yaml/junit.xml");
    let run = fixture
        .run(url, &["--junit", blocked.to_str().unwrap()])
        .await;
    run.assert_code(2);
    run.assert_contains("cannot create the folder");
    run.assert_lacks("test create");

    let run = fixture
        .run("http://user:hunter2-canary@127.0.0.1:9/v1", &[])
        .await;
    run.assert_code(2);
    run.assert_contains("base URL `127.0.0.1` holds a user or password");
    run.assert_lacks("hunter2-canary");
}

#[tokio::test]
async fn api_selects_the_cases_and_requirements_of_the_apis_named() {
    let chat = "requirement: CHT-01
steps:
  - operation: createChatCompletion
    body: {model: \"{{model}}\", messages: [{role: user, content: hi}]}
    expect: {status: 200}
";
    let fixture = Fixture::new(&[("chat.yaml", chat), ("conv.yaml", CREATE_CASE)]);
    let run = fixture
        .run("http://127.0.0.1:9/v1", &["--api", "chat", "--list"])
        .await;
    run.assert_code(0);
    assert_eq!(run.stdout.trim(), "chat: test");
    let run = fixture
        .run(
            "http://127.0.0.1:9/v1",
            &["--api", "Conversations,models", "--list"],
        )
        .await;
    assert_eq!(run.stdout.trim(), "conv: test");
    let run = fixture
        .run("http://127.0.0.1:9/v1", &["--api", "chats", "--list"])
        .await;
    run.assert_code(2);
    run.assert_contains("--api `chats`: no such API in the catalogue; name one of: Chat Completions, Conversations, Embeddings, Models, Responses");
    let run = fixture
        .run("http://127.0.0.1:9/v1", &["--api", "general", "--list"])
        .await;
    run.assert_code(2);
    run.assert_contains("comes with every API");

    let server = honest_server(conversation(json!({"topic": "demo"}))).await;
    let run = fixture
        .run(&base(&server), &["--api", "conversations"])
        .await;
    run.assert_code(0);
    run.assert_contains("--api: only Conversations (and what every endpoint owes) were run");
    run.assert_contains("    Conversations:");
    run.assert_lacks("Chat Completions:");
}
