//! The reference server, black box: it runs on `127.0.0.1:0` and is called over HTTP.
//!
//! Every answer goes through [`Api::send`], which also checks the rules every endpoint must
//! keep: JSON with `Content-Type: application/json`, never 5xx, and on 4xx the error object
//! with all four keys.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use conformance::server::{spawn, RunningServer, ServerConfig};

/// The live API's answer to a body that is not JSON.
const UNPARSABLE_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely \
     means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but \
     what was sent was not valid JSON. If you have trouble figuring out how to fix this, please \
     contact us through our help center at help.openai.com.)";

/// How the live API's messages name a JSON type: `a string`, `an integer`.
fn type_word(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where the pinned spec extract may be, relative to the crate: the project's copy first, then
/// the shared reference folder beside the checkout.
const SPEC_CANDIDATES: &[&str] = &[
    "specs/openapi.yaml",
    "../shared/reference/openai-conversations.openapi.yaml",
];
const SPEC_URI: &str = "https://spec.test/openapi.json";

struct Api {
    server: RunningServer,
    client: reqwest::Client,
    key: Option<String>,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn error(&self) -> &Value {
        &self.body["error"]
    }

    /// Asserts status, message, param and code of an error answer.
    #[track_caller]
    fn assert_error(&self, status: u16, message: &str, param: Value, code: Value) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.body,
            json!({"error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }})
        );
    }

    /// Asserts status, code and param of an error answer.
    #[track_caller]
    fn assert_code(&self, status: u16, code: &str, param: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.error()["code"], code, "{}", self.body);
        assert_eq!(self.error()["param"], param, "{}", self.body);
    }

    #[track_caller]
    fn assert_status(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
    }

    #[track_caller]
    fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        self.body
    }
}

impl Api {
    async fn start() -> Self {
        Self::start_with(None).await
    }

    async fn start_with(api_key: Option<&str>) -> Self {
        let server = spawn(
            ServerConfig {
                api_key: api_key.map(str::to_owned),
                ..ServerConfig::default()
            },
            "127.0.0.1",
            0,
        )
        .await
        .expect("server starts");
        Self {
            server,
            client: {
                conformance::target::install_tls_provider();
                reqwest::Client::new()
            },
            key: Some(api_key.unwrap_or("sk-test").to_owned()),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    async fn send(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        checked(request).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(&body.to_string())).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a conversation and answers its id.
    async fn conversation(&self, body: Value) -> String {
        let created = self.post("/conversations", body).await.ok();
        created["id"].as_str().expect("id").to_owned()
    }

    async fn item_ids(&self, id: &str, query: &str) -> (Vec<String>, Value) {
        let list = self
            .get(&format!("/conversations/{id}/items{query}"))
            .await
            .ok();
        let ids = list["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|item| item["id"].as_str().expect("item id").to_owned())
            .collect();
        (ids, list)
    }
}

/// Sends a request and checks what every answer must be.
async fn checked(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("request is answered");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response.bytes().await.expect("body");
    assert!(!status.is_server_error(), "5xx: {status}");
    assert_eq!(content_type, "application/json", "{status}");
    let body: Value = serde_json::from_slice(&bytes).expect("the body is JSON");
    if status.is_client_error() {
        let error = body["error"].as_object().expect("error object");
        assert_eq!(error.len(), 4, "{body}");
        assert!(error["message"].is_string(), "{body}");
        assert_eq!(error["type"], "invalid_request_error", "{body}");
        assert!(error["param"].is_string() || error["param"].is_null());
        assert!(error["code"].is_string() || error["code"].is_null());
    }
    Answer { status, body }
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("clock")
}

fn is_id(id: &Value, prefix: &str) -> bool {
    id.as_str()
        .and_then(|id| id.strip_prefix(prefix))
        .is_some_and(|hex| {
            hex.len() == 48
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// The spec document, registered whole, and validators for its component schemas.
fn registry() -> &'static jsonschema::Registry<'static> {
    static REGISTRY: OnceLock<jsonschema::Registry<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = SPEC_CANDIDATES
            .iter()
            .find_map(|path| std::fs::read_to_string(root.join(path)).ok())
            .expect("the OpenAPI extract is in specs/ or ../shared/reference/");
        // YAML 1.2 booleans only: the spec has `required: [x, y]`, and `y` is a string.
        let options = serde_saphyr::options! { strict_booleans: true };
        let spec: Value =
            serde_saphyr::from_str_with_options(&text, options).expect("spec is YAML");
        jsonschema::Registry::new()
            .add(SPEC_URI, spec)
            .expect("spec registers")
            .prepare()
            .expect("registry prepares")
    })
}

fn validator(component: &str) -> jsonschema::Validator {
    let schema = json!({"$ref": format!("{SPEC_URI}#/components/schemas/{component}")});
    jsonschema::options()
        .with_registry(registry())
        .build(&schema)
        .expect("schema builds")
}

#[track_caller]
fn assert_valid(component: &str, instance: &Value) {
    let validator = validator(component);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{instance} is not a valid {component}: {errors:?}"
    );
}

#[track_caller]
fn assert_invalid(component: &str, instance: &Value) {
    assert!(
        !validator(component).is_valid(instance),
        "{instance} should not be a valid {component}"
    );
}

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
