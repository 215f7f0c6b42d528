//! Routing, authentication, body reading and the handlers of the eight operations.
//!
//! One handler takes every request and routes it itself, so that every answer, including
//! "no such path" and "wrong method", is the JSON error object with the live API's texts
//! (axum's own rejections answer plain text).

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::answer::{json_response, Answer};
use super::deviation::{Deviation, Deviations};
use super::error::ApiError;
use super::items::{parse_items, NewMessage};
use super::store::{Full, Item, Missing};
use super::validate::{self, Accepts, DEFAULT_LIMIT};
use super::{App, ServerConfig};

/// Largest request body accepted, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;
/// A body over the limit is still read (and dropped) up to this size, so that the client sees
/// the 413 answer instead of a reset connection; past it the connection is given up.
const MAX_DRAINED_BYTES: usize = 8 * MAX_BODY_BYTES;

/// What [`Deviation::StallsAfter500`] and [`Deviation::BreaksUnderBurst`] go by. `open` is
/// 1 while the first request warms the server up.
#[derive(Debug)]
pub(crate) struct Load {
    stall: std::time::Duration,
    stalled_until: std::sync::Mutex<Option<tokio::time::Instant>>,
    requests: std::sync::atomic::AtomicUsize,
    open: std::sync::atomic::AtomicUsize,
}

impl Default for Load {
    fn default() -> Self {
        let ms = std::env::var("CONFORMANCE_SERVE_STALL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(15_000);
        Self {
            stall: std::time::Duration::from_millis(ms),
            stalled_until: std::sync::Mutex::new(None),
            requests: Default::default(),
            open: Default::default(),
        }
    }
}

/// Counts an open request until dropped.
struct Open<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What a server answers for unknown ids when it serves placeholder data
/// ([`Deviation::UnknownIdsPlaceholder`], [`Deviation::UnknownItemsPlaceholder`]).
const PLACEHOLDER_CONVERSATION: &str =
    r#"{"id":"string","object":"conversation","created_at":0,"metadata":{}}"#;
const PLACEHOLDER_DELETED: &str =
    r#"{"id":"string","object":"conversation.deleted","deleted":true}"#;
const PLACEHOLDER_ITEM: &str =
    r#"{"type":"message","id":"string","status":"completed","role":"user","content":[]}"#;

fn ok(body: impl Into<Body>) -> Answer {
    Ok(json_response(StatusCode::OK, body))
}

/// The single entry point of the app.
pub(crate) async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    if !app.config.latency.is_zero() {
        tokio::time::sleep(app.config.latency).await;
    }
    use std::sync::atomic::Ordering::SeqCst;
    let load = &app.load;
    if app.deviates(Deviation::StallsAfter500) {
        let until = *load.stalled_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }
    let number = load.requests.fetch_add(1, SeqCst) + 1;
    let _warming = if app.deviates(Deviation::BreaksUnderBurst) {
        if number == 1 {
            // The first request warms the server up (a pool, a cache); it takes a while.
            load.open.store(1, SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            Some(Open(&load.open))
        } else {
            if load.open.load(SeqCst) > 0 {
                // Arrived while warming up: the overloaded server does not get to it.
                tokio::time::sleep(load.stall).await;
            }
            None
        }
    } else {
        None
    };
    let mut response = match route(&app, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(app.deviations),
    };
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json");
    if app.deviates(Deviation::JsonAsTextPlain) && is_json {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    if app.deviates(Deviation::StallsAfter500) && response.status().is_server_error() {
        *load.stalled_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(tokio::time::Instant::now() + load.stall);
    }
    response
}

/// The operations, by path shape and method.
enum Operation {
    CreateConversation,
    GetConversation(String),
    UpdateConversation(String),
    DeleteConversation(String),
    ListItems(String),
    CreateItems(String),
    GetItem(String, String),
    DeleteItem(String, String),
}

fn operation(method: &Method, path: &str) -> Option<Operation> {
    let segments = validate::segments(path, "/v1/conversations")?;
    let decode = |s: &str| validate::percent_decode(s, false);
    let op = match (method, segments.as_slice()) {
        (&Method::POST, []) => Operation::CreateConversation,
        (&Method::GET, [id]) => Operation::GetConversation(decode(id)),
        (&Method::POST, [id]) => Operation::UpdateConversation(decode(id)),
        (&Method::DELETE, [id]) => Operation::DeleteConversation(decode(id)),
        (&Method::GET, [id, "items"]) => Operation::ListItems(decode(id)),
        (&Method::POST, [id, "items"]) => Operation::CreateItems(decode(id)),
        (&Method::GET, [id, "items", item]) => Operation::GetItem(decode(id), decode(item)),
        (&Method::DELETE, [id, "items", item]) => Operation::DeleteItem(decode(id), decode(item)),
        _ => return None,
    };
    Some(op)
}

impl Operation {
    fn conversation_id(&self) -> Option<&str> {
        match self {
            Operation::CreateConversation => None,
            Operation::GetConversation(id)
            | Operation::UpdateConversation(id)
            | Operation::DeleteConversation(id)
            | Operation::ListItems(id)
            | Operation::CreateItems(id)
            | Operation::GetItem(id, _)
            | Operation::DeleteItem(id, _) => Some(id),
        }
    }
}

async fn route(app: &App, request: Request) -> Answer {
    let (parts, body) = request.into_parts();
    check_head(&parts)?;
    let item_path = parts.uri.path().contains("/items");
    let served_without_key = app.deviates(Deviation::NoKeyServed)
        || (item_path && app.deviates(Deviation::ItemsWithoutAuth));
    if !served_without_key {
        authorize(&parts.headers, &app.config)?;
    }
    let query = parts.uri.query();
    let method = match parts.method {
        Method::PUT | Method::PATCH if app.deviates(Deviation::UndeclaredMethodsAsRetrieve) => {
            Method::GET
        }
        ref method => method.clone(),
    };
    if let Some(op) = super::chat::operation(&method, parts.uri.path()) {
        let body = read_body(app, body, &parts.headers).await?;
        return super::chat::handle(app, op, query, &body);
    }
    if let Some(op) = super::responses::operation(&method, parts.uri.path()) {
        let body = read_body(app, body, &parts.headers).await?;
        return super::responses::handle(app, op, query, &body);
    }
    if let Some(op) = super::models::operation(&method, parts.uri.path()) {
        return super::models::handle(app, op, query);
    }
    if method == Method::POST && super::embeddings::is_path(parts.uri.path()) {
        let body = read_body(app, body, &parts.headers).await?;
        return super::embeddings::create(app, query, &body);
    }
    let Some(op) = operation(&method, parts.uri.path()) else {
        if app.deviates(Deviation::UnknownPath200) {
            return ok("{}");
        }
        if app.deviates(Deviation::UnknownPathText404) {
            return Ok((StatusCode::NOT_FOUND, "Not Found").into_response());
        }
        return Err(ApiError::invalid_url(
            parts.method.as_str(),
            parts.uri.path(),
        ));
    };
    let store = &app.store;
    let deviations = app.deviations;
    if let Some(id) = op.conversation_id() {
        if app.deviates(Deviation::MalformedId500) && !id.starts_with("conv_") {
            return Err(ApiError::server_error());
        }
        if app.deviates(Deviation::UnknownIdsCreated) {
            store.create_if_missing(id);
        }
    }
    match op {
        Operation::CreateConversation => {
            validate::query(query, Accepts::Nothing, deviations)?;
            let body = read_body(app, body, &parts.headers).await?;
            create_conversation(app, &body)
        }
        Operation::GetConversation(id) => {
            validate::query(query, Accepts::Nothing, deviations)?;
            store.get(&id).map_or_else(
                || unknown_conversation(app, &id, PLACEHOLDER_CONVERSATION),
                ok,
            )
        }
        Operation::UpdateConversation(id) => {
            validate::query(query, Accepts::Nothing, deviations)?;
            let body = read_body(app, body, &parts.headers).await?;
            update_conversation(app, &id, &body)
        }
        Operation::DeleteConversation(id) => {
            validate::query(query, Accepts::Nothing, deviations)?;
            if !store.delete(&id) {
                return unknown_conversation(app, &id, PLACEHOLDER_DELETED);
            }
            let deleted = if app.deviates(Deviation::DeleteAnswersOtherShape) {
                serde_json::json!({"id": id, "deleted": true})
            } else {
                serde_json::json!({
                    "id": id,
                    "object": "conversation.deleted",
                    "deleted": true,
                })
            };
            ok(serde_json::to_vec(&deleted).unwrap_or_default())
        }
        Operation::ListItems(id) => {
            let query = validate::query(query, Accepts::List, deviations)?;
            let after = query.after.as_deref();
            let default_limit = if app.deviates(Deviation::ItemsDefaultLimit100) {
                100
            } else {
                DEFAULT_LIMIT
            };
            let page = store
                .list(
                    &id,
                    query.limit.unwrap_or(default_limit),
                    query
                        .descending
                        .unwrap_or(!app.deviates(Deviation::ItemsDefaultOrderAsc)),
                    after,
                )
                .map_err(|missing| match missing {
                    Missing::Conversation => ApiError::conversation_not_found(&id),
                    Missing::Item => {
                        let mut error = ApiError::item_not_found(after.unwrap_or_default());
                        error.param = Some("after".to_owned());
                        error
                    }
                })?;
            ok(item_list(&page.items, page.has_more, deviations))
        }
        Operation::CreateItems(id) => {
            validate::query(query, Accepts::Include, deviations)?;
            let body = read_body(app, body, &parts.headers).await?;
            let messages = items_body(&body, deviations)?;
            let items = store
                .add_items(&id, &messages)
                .ok_or_else(|| ApiError::conversation_not_found(&id))?
                .map_err(full)?;
            ok(item_list(&items, false, deviations))
        }
        Operation::GetItem(id, item_id) => {
            validate::query(query, Accepts::Include, deviations)?;
            let id = holder_of(app, id, &item_id);
            match store.get_item(&id, &item_id) {
                Err(Missing::Item) if app.deviates(Deviation::UnknownItemsPlaceholder) => {
                    ok(PLACEHOLDER_ITEM)
                }
                found => found
                    .map_err(|missing| not_found(missing, &id, &item_id))
                    .and_then(ok),
            }
        }
        Operation::DeleteItem(id, item_id) => {
            validate::query(query, Accepts::Nothing, deviations)?;
            let id = holder_of(app, id, &item_id);
            let conversation = store
                .delete_item(&id, &item_id)
                .map_err(|missing| not_found(missing, &id, &item_id))?;
            if app.deviates(Deviation::ItemDeleteAnswersDeletedObject) {
                let deleted = serde_json::json!({
                    "id": item_id,
                    "object": "conversation.item.deleted",
                    "deleted": true,
                });
                return ok(serde_json::to_vec(&deleted).unwrap_or_default());
            }
            ok(conversation)
        }
    }
}

/// The conversation an item operation works on: the path's, unless the server finds items
/// under any existing conversation ([`Deviation::ItemsAcrossConversations`]).
fn holder_of(app: &App, id: String, item_id: &str) -> String {
    if !app.deviates(Deviation::ItemsAcrossConversations) || app.store.get(&id).is_none() {
        return id;
    }
    app.store.holder_of(item_id).unwrap_or(id)
}

/// 404 for a conversation that does not exist, or `placeholder` when the server makes up data.
fn unknown_conversation(app: &App, id: &str, placeholder: &'static str) -> Answer {
    if app.deviates(Deviation::UnknownIdsPlaceholder) {
        return ok(placeholder);
    }
    Err(ApiError::conversation_not_found(id))
}

fn not_found(missing: Missing, id: &str, item_id: &str) -> ApiError {
    match missing {
        Missing::Conversation => ApiError::conversation_not_found(id),
        Missing::Item => ApiError::item_not_found(item_id),
    }
}

fn create_conversation(app: &App, body: &[u8]) -> Answer {
    let deviations = app.deviations;
    let body = validate::object_body(body, deviations)?;
    if body.is_none() && app.deviates(Deviation::CreateWithoutBodyRejected) {
        return Err(ApiError::unparsable_json());
    }
    let mut body = body.unwrap_or_default();
    validate::known_fields(&body, &["metadata", "items"], deviations)?;
    let metadata = body.remove("metadata").unwrap_or(Value::Null);
    let mut metadata = validate::metadata(metadata, deviations)?;
    if app.deviates(Deviation::CreateIgnoresMetadata) {
        metadata.clear();
    }
    let mut messages = match body.remove("items") {
        None | Some(Value::Null) => Vec::new(),
        Some(items) => parse_items(items, true, deviations)?,
    };
    if app.deviates(Deviation::CreateIgnoresItems) {
        messages.clear();
    }
    ok(app.store.create(&metadata, &messages).map_err(full)?)
}

fn update_conversation(app: &App, id: &str, body: &[u8]) -> Answer {
    let deviations = app.deviations;
    let mut body = validate::object_body(body, deviations)?.unwrap_or_default();
    validate::known_fields(&body, &["metadata"], deviations)?;
    let metadata = body
        .remove("metadata")
        .or_else(|| {
            app.deviates(Deviation::EmptyUpdateAccepted)
                .then_some(Value::Null)
        })
        .ok_or_else(|| ApiError::missing_parameter("metadata"))?;
    if metadata.is_null() && app.deviates(Deviation::NullMetadataRejected) {
        return Err(ApiError::invalid_type("metadata", "an object", &metadata));
    }
    let metadata = validate::metadata(metadata, deviations)?;
    match app.store.update(id, &metadata) {
        Some(updated) => ok(updated.map_err(full)?),
        None => unknown_conversation(app, id, PLACEHOLDER_CONVERSATION),
    }
}

/// The error object for a store at one of its limits.
fn full(full: Full) -> ApiError {
    match full {
        Full::Conversations(n) => ApiError::store_full(
            &format!("{n} conversations, its limit (--max-conversations)"),
            "conversation_limit_reached",
        ),
        Full::Items(n) => ApiError::store_full(
            &format!("{n} items in this conversation at most (--max-items)"),
            "item_limit_reached",
        ),
        Full::Bytes(n) => ApiError::store_full(
            &format!(
                "{} MiB of data, its limit (--max-stored-mib)",
                n / 1024 / 1024
            ),
            "storage_limit_reached",
        ),
    }
}

fn items_body(body: &[u8], deviations: Deviations) -> Result<Vec<NewMessage>, ApiError> {
    let mut body: Map<String, Value> = validate::object_body(body, deviations)?.unwrap_or_default();
    if !deviations.deviates(Deviation::ItemsUnknownFieldsIgnored) {
        validate::known_fields(&body, &["items"], deviations)?;
    }
    let items = body
        .remove("items")
        .ok_or_else(|| ApiError::missing_parameter("items"))?;
    parse_items(items, false, deviations)
}

/// `{"object": "list", "data", "first_id", "last_id", "has_more"}` from pre-serialised items.
/// An empty list has `""` as `first_id` and `last_id` (the spec requires strings).
fn item_list(items: &[Item], has_more: bool, deviations: Deviations) -> Vec<u8> {
    let size: usize = items.iter().map(|i| i.json.len() + 1).sum();
    let mut out = Vec::with_capacity(size + 256);
    out.extend_from_slice(br#"{"object":"list","data":["#);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&item.json);
    }
    out.push(b']');
    if !deviations.deviates(Deviation::ListsWithoutFirstLastIds) {
        let first = items.first().map_or("", |i| i.id.as_str());
        let last = items.last().map_or("", |i| i.id.as_str());
        out.extend_from_slice(br#","first_id":"#);
        push_json_string(&mut out, first);
        out.extend_from_slice(br#","last_id":"#);
        push_json_string(&mut out, last);
    }
    out.extend_from_slice(if has_more {
        br#","has_more":true}"#
    } else {
        br#","has_more":false}"#
    });
    out
}

fn push_json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Checks `Authorization: Bearer <key>`. A missing header, another scheme or an empty key is
/// "no key"; with a configured key, any other key is "incorrect".
fn authorize(headers: &HeaderMap, config: &ServerConfig) -> Result<(), ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .filter(|key| !key.is_empty())
        .ok_or_else(ApiError::missing_api_key)?;
    match &config.api_key {
        Some(expected) if !constant_time_eq(key.as_bytes(), expected.as_bytes()) => {
            Err(ApiError::incorrect_api_key(&mask_key(key)))
        }
        _ => Ok(()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A key as shown in an error: its first 3 and last 4 characters for keys of 20 characters or
/// more (`sk-...abcd`), only `***` for shorter ones. Never the whole key.
pub(crate) fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 20 {
        return "***".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}...{tail}")
}

/// The longest request target (path and query) answered, in bytes; longer answers 414.
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) and header fields answered; more answers 431.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;
pub(crate) const MAX_HEADER_COUNT: usize = 64;

/// 414 and 431 with the error object. The HTTP layer's own limits lie above these (see
/// [`super::listener`]), so these are the ones a client meets.
fn check_head(parts: &axum::http::request::Parts) -> Result<(), ApiError> {
    let uri = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return Err(ApiError::uri_too_long(MAX_URI_BYTES));
    }
    let bytes: usize = parts
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES || parts.headers.len() > MAX_HEADER_COUNT {
        return Err(ApiError::headers_too_large(
            MAX_HEADER_BYTES,
            MAX_HEADER_COUNT,
        ));
    }
    Ok(())
}

/// Reads the whole body within the body timeout (else 408).
async fn read_body(app: &App, body: Body, headers: &HeaderMap) -> Result<Bytes, ApiError> {
    let timeout = app.config.limits.body_timeout;
    tokio::time::timeout(timeout, read_all(body, headers))
        .await
        .unwrap_or_else(|_| Err(ApiError::body_timeout(timeout.as_secs_f64())))
}

/// Reads the whole body, at most [`MAX_BODY_BYTES`]. The `Content-Type` is not looked at: a body
/// that parses as JSON is accepted whatever its declared type, as the live API does.
async fn read_all(mut body: Body, headers: &HeaderMap) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_DRAINED_BYTES as u64) {
        return Err(ApiError::body_too_large(MAX_BODY_BYTES));
    }
    let capacity = declared.map_or(0, |n| n.min(MAX_BODY_BYTES as u64) as usize);
    let mut buffer: Vec<u8> = Vec::with_capacity(capacity);
    let mut total = 0usize;
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(frame) = frame else {
            return Err(ApiError::unparsable_json());
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > MAX_DRAINED_BYTES {
            break;
        }
        if total <= MAX_BODY_BYTES {
            buffer.extend_from_slice(&data);
        }
    }
    if total > MAX_BODY_BYTES {
        return Err(ApiError::body_too_large(MAX_BODY_BYTES));
    }
    Ok(Bytes::from(buffer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_masked() {
        assert_eq!(mask_key("sk-proj-0123456789abcdefwxyz"), "sk-...wxyz");
        assert_eq!(mask_key("short-secret"), "***");
        assert_eq!(mask_key("ключ-ключ-ключ-ключ-ключ"), "клю...ключ");
    }

    #[test]
    fn paths_map_to_operations() {
        let id = |op: Option<Operation>| match op {
            Some(Operation::GetConversation(id)) => id,
            _ => String::from("other"),
        };
        assert_eq!(
            id(operation(&Method::GET, "/v1/conversations/conv_%41b")),
            "conv_Ab"
        );
        assert!(operation(&Method::GET, "/v1/conversations").is_none());
        assert!(operation(&Method::PUT, "/v1/conversations/x").is_none());
        assert!(operation(&Method::GET, "/v1/conversations/").is_none());
        assert!(operation(&Method::GET, "/v1/conversations//items").is_none());
        assert!(operation(&Method::GET, "/v1/conversationsx").is_none());
        assert!(operation(&Method::GET, "/v1/conversations/a/items/b/c").is_none());
        assert!(matches!(
            operation(&Method::DELETE, "/v1/conversations/a/items/b"),
            Some(Operation::DeleteItem(_, _))
        ));
    }

    #[test]
    fn empty_lists_have_empty_ids() {
        let body: Value =
            serde_json::from_slice(&item_list(&[], false, Deviations::default())).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"object": "list", "data": [], "first_id": "", "last_id": "", "has_more": false})
        );
    }
}
