//! The reference server, black box: it runs on `127.0.0.1:0` and is called over HTTP.
//!
//! Every answer goes through [`Api::send`], which also checks the rules every endpoint must
//! keep: JSON with `Content-Type: application/json`, never 5xx, and on 4xx the error object
//! with all four keys.

mod abuse;
mod auth;
mod concurrency;
mod conversations;
mod items;
mod schema;

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use conformance::server::{spawn, RunningServer, ServerConfig};

use schema::{assert_invalid, assert_valid};

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
