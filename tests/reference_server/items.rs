//! Items: added, listed (limit, after, order, include), validated against the spec, deleted.

use super::*;

// ---------------------------------------------------------------- items

#[tokio::test]
async fn created_items_are_answered_as_a_list_and_validate_against_the_spec() {
    let api = Api::start().await;
    let id = api.conversation(json!({})).await;
    let inputs = json!([
        {"role": "user", "content": "plain"},
        {"type": "message", "role": "assistant", "content": "answer"},
        {"role": "system", "content": "be brief"},
        {"role": "developer", "content": [{"type": "input_text", "text": "dev"}]},
        user("parts"),
        {"role": "user", "content": [
            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
            {"type": "input_file", "file_id": "file-1", "filename": "a.pdf"}
        ]},
        {"type": "message", "role": "assistant", "phase": "commentary", "content": [
            {"type": "output_text", "text": "cited", "annotations": [
                {"type": "file_citation", "file_id": "f", "index": 0, "filename": "a"}
            ]},
            {"type": "refusal", "refusal": "no"}
        ]},
    ]);
    let list = api
        .post(
            &format!("/conversations/{id}/items?include[]=message.output_text.logprobs"),
            json!({ "items": inputs }),
        )
        .await
        .ok();
    assert_valid("ConversationItemList", &list);
    let data = list["data"].as_array().expect("data");
    assert_eq!(data.len(), 7);
    assert_eq!(list["object"], "list");
    assert_eq!(list["has_more"], false);
    assert_eq!(list["first_id"], data[0]["id"]);
    assert_eq!(list["last_id"], data[6]["id"]);
    for item in data {
        assert_valid("ConversationItem", item);
        assert_valid("Message", item);
        assert!(is_id(&item["id"], "msg_"), "{item}");
        assert_eq!(item["type"], "message");
        assert_eq!(item["status"], "completed");
        let fetched = api
            .get(&format!(
                "/conversations/{id}/items/{}",
                item["id"].as_str().expect("id")
            ))
            .await
            .ok();
        assert_eq!(&fetched, item);
    }
    assert_eq!(
        data[0]["content"],
        json!([{"type": "input_text", "text": "plain"}])
    );
    assert_eq!(
        data[1]["content"],
        json!([{"type": "output_text", "text": "answer", "annotations": [], "logprobs": []}])
    );
    assert_eq!(data[1]["role"], "assistant");
    assert_eq!(data[6]["phase"], "commentary");
    // The list holds them newest first.
    let (ids, _) = api.item_ids(&id, "").await;
    let created: Vec<&str> = data
        .iter()
        .rev()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, created);
}

#[test]
fn the_schema_check_itself_tells_a_message_from_a_broken_one() {
    // A placeholder item, or a message without status, must not pass: the check has teeth.
    assert_invalid("ConversationItem", &json!({"id": "string"}));
    assert_invalid(
        "ConversationItem",
        &json!({"type": "message", "id": "msg_1", "role": "user", "content": []}),
    );
    assert_invalid(
        "ConversationItem",
        &json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "x"}]}),
    );
    assert_valid(
        "ErrorResponse",
        &json!({"error": {
            "message": "Item with id 'msg_1' not found in conversation.",
            "type": "invalid_request_error",
            "param": null,
            "code": null
        }}),
    );
}

#[tokio::test]
async fn adding_items_needs_1_to_20_valid_messages() {
    let api = Api::start().await;
    let id = api.conversation(json!({})).await;
    let path = format!("/conversations/{id}/items");
    api.post(&path, json!({})).await.assert_error(
        400,
        "Missing required parameter: 'items'.",
        json!("items"),
        json!("missing_required_parameter"),
    );
    api.send(Method::POST, &path, None).await.assert_code(
        400,
        "missing_required_parameter",
        "items",
    );
    let many: Vec<Value> = (0..21).map(|i| user(&i.to_string())).collect();
    api.post(&path, json!({ "items": many })).await.assert_code(
        400,
        "array_above_max_length",
        "items",
    );
    api.post(&path, json!({"items": []}))
        .await
        .assert_code(400, "empty_array", "items");
    api.post(
        &path,
        json!({"items": [user("ok"), {"role": "robot", "content": "x"}]}),
    )
    .await
    .assert_error(
        400,
        "Invalid value: 'robot'. Supported values are: 'user', 'assistant', 'system', and \
             'developer'.",
        json!("items[1].role"),
        json!("invalid_value"),
    );
    api.post(
        &path,
        json!({"items": [{"type": "function_call_output", "call_id": "c", "output": "o"}]}),
    )
    .await
    .assert_code(400, "invalid_value", "items[0].type");
    api.post(&path, json!({"items": [user("x")], "include": []}))
        .await
        .assert_code(400, "unknown_parameter", "include");
    api.post(
        &format!("{path}?include=bogus"),
        json!({"items": [user("x")]}),
    )
    .await
    .assert_code(400, "invalid_value", "include");
    // Nothing of the rejected calls was stored.
    let (ids, list) = api.item_ids(&id, "").await;
    assert!(ids.is_empty());
    assert_valid("ConversationItemList", &list);
    assert_eq!(list["first_id"], "");
    assert_eq!(list["last_id"], "");
    assert_eq!(list["has_more"], false);
}

/// A conversation of 25 items (20 at create, 5 added), and the creation order of their ids.
async fn conversation_of_25(api: &Api) -> (String, Vec<String>) {
    let first: Vec<Value> = (0..20).map(|i| user(&format!("m{i}"))).collect();
    let id = api.conversation(json!({ "items": first })).await;
    let rest: Vec<Value> = (20..25).map(|i| user(&format!("m{i}"))).collect();
    let added = api
        .post(
            &format!("/conversations/{id}/items"),
            json!({ "items": rest }),
        )
        .await
        .ok();
    assert_eq!(added["data"].as_array().map(Vec::len), Some(5));
    let (ids, list) = api.item_ids(&id, "?order=asc&limit=100").await;
    assert_eq!(list["has_more"], false);
    let texts: Vec<String> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|i| i["content"][0]["text"].as_str().expect("text").to_owned())
        .collect();
    assert_eq!(texts, (0..25).map(|i| format!("m{i}")).collect::<Vec<_>>());
    (id, ids)
}

#[tokio::test]
async fn the_list_defaults_to_20_newest_first() {
    let api = Api::start().await;
    let (id, ids) = conversation_of_25(&api).await;
    let (page, list) = api.item_ids(&id, "").await;
    let expected: Vec<String> = ids.iter().rev().take(20).cloned().collect();
    assert_eq!(page, expected);
    assert_eq!(list["has_more"], true);
    assert_eq!(list["first_id"], json!(expected[0]));
    assert_eq!(list["last_id"], json!(expected[19]));
    assert_valid("ConversationItemList", &list);
}

#[tokio::test]
async fn limit_and_after_walk_25_items_in_both_orders() {
    let api = Api::start().await;
    let (id, ids) = conversation_of_25(&api).await;
    for (order, expected) in [
        ("asc", ids.clone()),
        ("desc", ids.iter().rev().cloned().collect::<Vec<_>>()),
    ] {
        let mut walked = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = Vec::new();
        loop {
            let query = match &after {
                Some(after) => format!("?order={order}&limit=10&after={after}"),
                None => format!("?order={order}&limit=10"),
            };
            let (page, list) = api.item_ids(&id, &query).await;
            assert_eq!(list["first_id"], json!(page[0]));
            assert_eq!(list["last_id"], json!(page[page.len() - 1]));
            walked.extend(page.iter().cloned());
            pages.push(page.len());
            let has_more = list["has_more"].as_bool().expect("has_more");
            assert_eq!(has_more, walked.len() < 25, "{order} after {after:?}");
            if !has_more {
                break;
            }
            after = page.last().cloned();
        }
        assert_eq!(pages, [10, 10, 5], "{order}");
        assert_eq!(walked, expected, "{order}");
    }
    // A page that ends exactly at the last item has no more.
    let (page, list) = api
        .item_ids(&id, &format!("?order=asc&limit=5&after={}", ids[19]))
        .await;
    assert_eq!(page, ids[20..].to_vec());
    assert_eq!(list["has_more"], false);
    // After the last item: an empty page.
    let (page, list) = api
        .item_ids(&id, &format!("?order=asc&after={}", ids[24]))
        .await;
    assert!(page.is_empty());
    assert_eq!(list["has_more"], false);
}

#[tokio::test]
async fn list_query_parameters_are_validated() {
    let api = Api::start().await;
    let id = api.conversation(json!({"items": [user("a")]})).await;
    let path = format!("/conversations/{id}/items");
    api.get(&format!("{path}?limit=101")).await.assert_error(
        400,
        "Invalid 'limit': integer above maximum value. Expected a value less than or equal to \
         100, but got 101 instead.",
        json!("limit"),
        json!("integer_above_max_value"),
    );
    api.get(&format!("{path}?limit=0")).await.assert_error(
        400,
        "Invalid 'limit': integer below minimum value. Expected a value greater than or equal to \
         1, but got 0 instead.",
        json!("limit"),
        json!("integer_below_min_value"),
    );
    api.get(&format!("{path}?limit=ten"))
        .await
        .assert_code(400, "invalid_type", "limit");
    api.get(&format!("{path}?order=newest")).await.assert_error(
        400,
        "Invalid value: 'newest'. Supported values are: 'asc' and 'desc'.",
        json!("order"),
        json!("invalid_value"),
    );
    api.get(&format!("{path}?include[]=everything"))
        .await
        .assert_code(400, "invalid_value", "include");
    api.get(&format!("{path}?page=2"))
        .await
        .assert_code(400, "unknown_parameter", "page");
    api.get(&format!("{path}?after=msg_missing"))
        .await
        .assert_error(
            404,
            "Item with id 'msg_missing' not found in conversation.",
            json!("after"),
            Value::Null,
        );
    for limit in [1, 100] {
        let (page, _) = api.item_ids(&id, &format!("?limit={limit}")).await;
        assert_eq!(page.len(), 1);
    }
}

#[tokio::test]
async fn include_is_accepted_in_both_forms() {
    let api = Api::start().await;
    let id = api.conversation(json!({"items": [user("a")]})).await;
    let (ids, _) = api.item_ids(&id, "").await;
    let item = &ids[0];
    for query in [
        "?include=message.output_text.logprobs",
        "?include[]=message.output_text.logprobs",
        "?include%5B%5D=message.input_image.image_url&include%5B%5D=reasoning.encrypted_content",
        "?include[]=file_search_call.results&include=web_search_call.action.sources",
    ] {
        let (page, _) = api.item_ids(&id, query).await;
        assert_eq!(&page, &ids, "{query}");
        let fetched = api
            .get(&format!("/conversations/{id}/items/{item}{query}"))
            .await
            .ok();
        assert_eq!(fetched["id"], json!(item));
    }
    for query in [
        "?include=reasoning.encrypted_content",
        "?include[]=code_interpreter_call.outputs",
    ] {
        let created = api
            .post(
                &format!("/conversations/{id}/items{query}"),
                json!({"items": [user("b")]}),
            )
            .await
            .ok();
        assert_eq!(created["data"].as_array().map(Vec::len), Some(1));
    }
}

#[tokio::test]
async fn item_delete_answers_the_conversation_and_the_item_is_gone() {
    let api = Api::start().await;
    let created = api
        .post(
            "/conversations",
            json!({"metadata": {"t": "1"}, "items": [user("a"), user("b"), user("c")]}),
        )
        .await
        .ok();
    let id = created["id"].as_str().expect("id");
    let (ids, _) = api.item_ids(id, "?order=asc").await;
    let item_path = format!("/conversations/{id}/items/{}", ids[1]);
    let answer = api.delete(&item_path).await.ok();
    assert_eq!(answer, created);
    assert_valid("ConversationResource", &answer);
    let message = format!("Item with id '{}' not found in conversation.", ids[1]);
    api.get(&item_path)
        .await
        .assert_error(404, &message, Value::Null, Value::Null);
    api.delete(&item_path)
        .await
        .assert_error(404, &message, Value::Null, Value::Null);
    let (left, _) = api.item_ids(id, "?order=asc").await;
    assert_eq!(left, [ids[0].clone(), ids[2].clone()]);
    api.get(&format!("/conversations/{id}/items/msg_unknown"))
        .await
        .assert_error(
            404,
            "Item with id 'msg_unknown' not found in conversation.",
            Value::Null,
            Value::Null,
        );
    // An item of another conversation is not found here.
    let other = api.conversation(json!({"items": [user("z")]})).await;
    let (other_ids, _) = api.item_ids(&other, "").await;
    api.get(&format!("/conversations/{id}/items/{}", other_ids[0]))
        .await
        .assert_status(404);
}
