//! Authentication: no key, an empty or other scheme, a wrong key, no configured key.

use super::*;

// ---------------------------------------------------------------- authentication

#[tokio::test]
async fn a_request_without_a_key_answers_401() {
    let mut api = Api::start().await;
    api.key = None;
    let answer = api.post("/conversations", json!({})).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let message = answer.error()["message"].as_str().expect("message");
    assert!(message.starts_with(
        "You didn't provide an API key. You need to provide your API key in an Authorization \
         header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
    ));
    assert_eq!(answer.error()["param"], Value::Null);
    assert_eq!(answer.error()["code"], Value::Null);
    // Unknown paths are behind auth too.
    assert_eq!(api.get("/nothing").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_empty_bearer_or_another_scheme_is_no_key() {
    let api = Api::start().await;
    for value in ["Bearer ", "Bearer", "Basic dXNlcjpwYXNz", "sk-test"] {
        let request = api
            .client
            .get(api.url("/conversations/conv_x"))
            .header("authorization", value);
        let answer = checked(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(answer.error()["code"], Value::Null, "{value}");
    }
}

#[tokio::test]
async fn a_wrong_key_answers_401_invalid_api_key_without_echoing_it() {
    let mut api = Api::start_with(Some("sk-right-key-0123456789")).await;
    assert!(api
        .post("/conversations", json!({}))
        .await
        .status
        .is_success());
    let wrong = "sk-wrong-key-abcdefghijklmnopqrstuvwxyz";
    api.key = Some(wrong.to_owned());
    let answer = api.post("/conversations", json!({})).await;
    answer.assert_error(
        401,
        "Incorrect API key provided: sk-...wxyz. You can find your API key at \
         https://platform.openai.com/account/api-keys.",
        Value::Null,
        json!("invalid_api_key"),
    );
    api.key = Some("short".to_owned());
    let answer = api.get("/conversations/conv_x").await;
    assert_eq!(answer.error()["code"], "invalid_api_key");
    assert!(!answer.error()["message"]
        .as_str()
        .unwrap_or_default()
        .contains("short"));
}

#[tokio::test]
async fn without_a_configured_key_any_key_is_accepted() {
    let mut api = Api::start().await;
    api.key = Some("anything-at-all".to_owned());
    assert!(api
        .post("/conversations", json!({}))
        .await
        .status
        .is_success());
}
