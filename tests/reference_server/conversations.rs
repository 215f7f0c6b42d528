//! Conversations: create, retrieve, update and delete, with their limits and errors.

use super::*;

// ---------------------------------------------------------------- create and retrieve

#[tokio::test]
async fn create_accepts_no_body_an_empty_body_and_an_empty_object() {
    let api = Api::start().await;
    let bodies = [
        None,
        Some(""),
        Some("{}"),
        Some(r#"{"metadata": null, "items": null}"#),
    ];
    for body in bodies {
        let created = api.send(Method::POST, "/conversations", body).await.ok();
        assert_valid("ConversationResource", &created);
        assert!(is_id(&created["id"], "conv_"), "{created}");
        assert_eq!(created["object"], "conversation");
        assert_eq!(created["metadata"], json!({}));
        let created_at = created["created_at"].as_i64().expect("integer seconds");
        assert!((created_at - now()).abs() < 60, "{created_at}");
        assert_eq!(
            created
                .as_object()
                .expect("object")
                .keys()
                .collect::<Vec<_>>(),
            ["id", "object", "created_at", "metadata"]
        );
    }
}

#[tokio::test]
async fn create_stores_metadata_and_retrieve_answers_the_same() {
    let api = Api::start().await;
    let created = api
        .post(
            "/conversations",
            json!({"metadata": {"topic": "demo", "b": "2"}}),
        )
        .await
        .ok();
    assert_eq!(created["metadata"], json!({"topic": "demo", "b": "2"}));
    let id = created["id"].as_str().expect("id");
    let fetched = api.get(&format!("/conversations/{id}")).await.ok();
    assert_eq!(fetched, created);
}

#[tokio::test]
async fn create_stores_up_to_20_items_in_order_and_rejects_21() {
    let api = Api::start().await;
    let items: Vec<Value> = (0..20).map(|i| user(&format!("m{i}"))).collect();
    let id = api.conversation(json!({"items": items})).await;
    let (_, list) = api.item_ids(&id, "?order=asc&limit=100").await;
    let texts: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| item["content"][0]["text"].as_str().expect("text"))
        .collect();
    let expected: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected);

    let items: Vec<Value> = (0..21).map(|i| user(&format!("m{i}"))).collect();
    api.post("/conversations", json!({"items": items}))
        .await
        .assert_error(
            400,
            "Invalid 'items': array too long. Expected an array with maximum length 20, but got \
             an array with length 21 instead.",
            json!("items"),
            json!("array_above_max_length"),
        );
}

#[tokio::test]
async fn create_rejects_unknown_fields_and_bad_metadata() {
    let api = Api::start().await;
    api.post("/conversations", json!({"metadata": {}, "model": "x"}))
        .await
        .assert_error(
            400,
            "Unknown parameter: 'model'.",
            json!("model"),
            json!("unknown_parameter"),
        );
    let many: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    api.post("/conversations", json!({"metadata": many}))
        .await
        .assert_code(400, "object_above_max_properties", "metadata");
    api.post("/conversations", json!({"metadata": {"k".repeat(65): "v"}}))
        .await
        .assert_code(
            400,
            "property_name_above_max_length",
            &format!("metadata.{}", "k".repeat(65)),
        );
    api.post(
        "/conversations",
        json!({"metadata": {"a": "v".repeat(513)}}),
    )
    .await
    .assert_code(400, "string_above_max_length", "metadata.a");
    api.post("/conversations", json!({"metadata": {"a": 1}}))
        .await
        .assert_code(400, "invalid_type", "metadata.a");
    api.post("/conversations", json!({"metadata": "x"}))
        .await
        .assert_code(400, "invalid_type", "metadata");
    api.post("/conversations", json!({"items": {}}))
        .await
        .assert_code(400, "invalid_type", "items");
    api.post("/conversations", json!({"items": [{"role": "user"}]}))
        .await
        .assert_code(400, "missing_required_parameter", "items[0].content");
    api.send(Method::POST, "/conversations", Some("[]"))
        .await
        .assert_error(400, UNPARSABLE_JSON, Value::Null, Value::Null);
}

#[tokio::test]
async fn unknown_and_malformed_ids_answer_404() {
    let api = Api::start().await;
    let unknown = format!("conv_{}", "0".repeat(48));
    for id in [unknown.as_str(), "not-an-id", "conv_x%20y"] {
        let shown = id.replace("%20", " ");
        let message = format!("Conversation with id '{shown}' not found.");
        let path = format!("/conversations/{id}");
        let answers = [
            api.get(&path).await,
            api.post(&path, json!({"metadata": {"a": "b"}})).await,
            api.delete(&path).await,
            api.get(&format!("{path}/items")).await,
            api.post(&format!("{path}/items"), json!({"items": [user("x")]}))
                .await,
            api.get(&format!("{path}/items/msg_1")).await,
            api.delete(&format!("{path}/items/msg_1")).await,
        ];
        for answer in answers {
            answer.assert_error(404, &message, Value::Null, Value::Null);
        }
    }
}

// ---------------------------------------------------------------- update

#[tokio::test]
async fn update_replaces_metadata_and_persists() {
    let api = Api::start().await;
    let created = api
        .post("/conversations", json!({"metadata": {"a": "1"}}))
        .await
        .ok();
    let id = created["id"].as_str().expect("id");
    let path = format!("/conversations/{id}");
    let updated = api.post(&path, json!({"metadata": {"b": "2"}})).await.ok();
    assert_valid("ConversationResource", &updated);
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["created_at"], created["created_at"]);
    assert_eq!(updated["object"], "conversation");
    assert_eq!(updated["metadata"], json!({"b": "2"}));
    assert_eq!(api.get(&path).await.ok(), updated);

    let cleared = api.post(&path, json!({"metadata": null})).await.ok();
    assert_eq!(cleared["metadata"], json!({}));
    assert_eq!(api.get(&path).await.ok()["metadata"], json!({}));
}

#[tokio::test]
async fn update_accepts_the_limits_counted_in_characters() {
    let api = Api::start().await;
    let id = api.conversation(json!({})).await;
    let path = format!("/conversations/{id}");
    let mut pairs: Map<String, Value> = (0..15).map(|i| (format!("k{i}"), json!("v"))).collect();
    pairs.insert("é".repeat(64), json!("日".repeat(512)));
    let metadata = Value::Object(pairs);
    let updated = api.post(&path, json!({ "metadata": metadata })).await.ok();
    assert_eq!(updated["metadata"], metadata);
    assert_eq!(api.get(&path).await.ok()["metadata"], metadata);
}

#[tokio::test]
async fn update_rejects_over_the_limits_with_the_live_texts_and_changes_nothing() {
    let api = Api::start().await;
    let id = api.conversation(json!({"metadata": {"keep": "me"}})).await;
    let path = format!("/conversations/{id}");
    let many: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    api.post(&path, json!({ "metadata": many }))
        .await
        .assert_error(
            400,
            "Invalid 'metadata': too many properties. Expected an object with at most 16 \
             properties, but got an object with 17 properties instead.",
            json!("metadata"),
            json!("object_above_max_properties"),
        );
    let key = format!("{}{}", "k".repeat(60), "tail5");
    api.post(&path, json!({"metadata": {key.clone(): "v"}}))
        .await
        .assert_error(
            400,
            "Invalid property name in 'metadata': 'kkkkkkkkkkkk...ail5' is too long. Expected a \
             string with maximum length 64, but got a string with length 65 instead.",
            json!(format!("metadata.{key}")),
            json!("property_name_above_max_length"),
        );
    api.post(&path, json!({"metadata": {"long": "é".repeat(513)}}))
        .await
        .assert_error(
            400,
            "Invalid 'metadata.long': string too long. Expected a string with maximum length \
             512, but got a string with length 513 instead.",
            json!("metadata.long"),
            json!("string_above_max_length"),
        );
    for (value, word) in [
        (json!(5), "an integer"),
        (json!(0.5), "a decimal"),
        (json!(false), "a boolean"),
        (json!({"x": "y"}), "an object"),
        (json!(["x"]), "an array"),
        (json!(null), "null"),
    ] {
        api.post(&path, json!({"metadata": {"ok": "fine", "bad": value}}))
            .await
            .assert_error(
                400,
                &format!(
                    "Invalid type for 'metadata.bad': expected a string, but got {word} instead."
                ),
                json!("metadata.bad"),
                json!("invalid_type"),
            );
    }
    for value in [json!("text"), json!(["a"]), json!(3), json!(true)] {
        let word = type_word(&value);
        api.post(&path, json!({ "metadata": value }))
            .await
            .assert_error(
                400,
                &format!(
                    "Invalid type for 'metadata': expected an object, but got {word} instead."
                ),
                json!("metadata"),
                json!("invalid_type"),
            );
    }
    api.post(&path, json!({})).await.assert_error(
        400,
        "Missing required parameter: 'metadata'.",
        json!("metadata"),
        json!("missing_required_parameter"),
    );
    api.post(&path, json!({"metadata": {"a": "b"}, "extra": 1}))
        .await
        .assert_error(
            400,
            "Unknown parameter: 'extra'.",
            json!("extra"),
            json!("unknown_parameter"),
        );
    for body in [
        "{not json",
        "[]",
        "null",
        "\"metadata\"",
        "{\"metadata\": {}} x",
    ] {
        api.send(Method::POST, &path, Some(body))
            .await
            .assert_error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but \
             what was sent was not valid JSON. If you have trouble figuring out how to fix this, \
             please contact us through our help center at help.openai.com.)",
                Value::Null,
                Value::Null,
            );
    }
    assert_eq!(api.get(&path).await.ok()["metadata"], json!({"keep": "me"}));
}

#[tokio::test]
async fn a_json_body_is_accepted_whatever_its_content_type() {
    let api = Api::start().await;
    let id = api.conversation(json!({})).await;
    let url = api.url(&format!("/conversations/{id}"));
    let plain = api
        .client
        .post(&url)
        .bearer_auth("k")
        .header("content-type", "text/plain")
        .body(r#"{"metadata": {"a": "1"}}"#);
    assert_eq!(checked(plain).await.ok()["metadata"], json!({"a": "1"}));
    let none = api
        .client
        .post(&url)
        .bearer_auth("k")
        .body(r#"{"metadata": {"b": "2"}}"#);
    assert_eq!(checked(none).await.ok()["metadata"], json!({"b": "2"}));
}

// ---------------------------------------------------------------- delete

#[tokio::test]
async fn delete_answers_the_deleted_object_then_everything_is_404() {
    let api = Api::start().await;
    let id = api.conversation(json!({"items": [user("x")]})).await;
    let path = format!("/conversations/{id}");
    let deleted = api.delete(&path).await.ok();
    assert_eq!(
        deleted,
        json!({"id": id, "object": "conversation.deleted", "deleted": true})
    );
    assert_valid("DeletedConversationResource", &deleted);
    let message = format!("Conversation with id '{id}' not found.");
    for answer in [
        api.get(&path).await,
        api.post(&path, json!({"metadata": {}})).await,
        api.delete(&path).await,
        api.get(&format!("{path}/items")).await,
    ] {
        answer.assert_error(404, &message, Value::Null, Value::Null);
    }
}
