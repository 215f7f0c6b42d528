//! The Chat Completions API of the reference server: create (with the built-in
//! [`super::model`], streamed or not) and the completions created with `store: true`
//! (retrieve, list, messages, update metadata, delete).
//!
//! Where the documents are silent, the server decides as follows:
//! - `model` (any string) and `messages` (a non-empty list of `{role, content}`) are required;
//!   the model sees the text of every message. Ranges: `temperature` 0..=2, `top_p` 0..=1, `n`
//!   1..=128, `frequency_penalty` and `presence_penalty` -2..=2, `top_logprobs` 0..=20 and only
//!   with `logprobs: true`, `max_tokens` and `max_completion_tokens` >= 1. A field the spec does
//!   not declare answers `unknown_parameter`, as the live API does.
//! - With function `tools`, `tool_choice: "required"` calls the first tool, a named function
//!   that one, `"auto"` (the default) the tool the last message names; the arguments give each
//!   required property of the tool's `parameters` a value of its type.
//! - Every choice of `n` is the same answer. A stream sends a role chunk, a chunk per token (or
//!   the call in two pieces), a finish chunk per choice, the usage chunk when
//!   `stream_options.include_usage` asks, then `data: [DONE]`.
//! - Stored completions are listed oldest first by default (`order`, `limit`, `after`,
//!   `model`, `metadata[KEY]=VALUE` filters); their messages are the request's.

mod chunks;
mod create;
mod stored;

pub(crate) use stored::Completions;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use super::answer::{json_response, ok, Answer};
use super::deviation::Deviation;
use super::error::ApiError;
use super::validate;
use super::App;
use stored::{list, page};

pub(crate) enum Operation {
    Create,
    List,
    Get(String),
    Update(String),
    Delete(String),
    Messages(String),
}

pub(crate) fn operation(method: &Method, path: &str) -> Option<Operation> {
    let segments = validate::segments(path, "/v1/chat/completions")?;
    let decode = |s: &str| validate::percent_decode(s, false);
    Some(match (method, segments.as_slice()) {
        (&Method::POST, []) => Operation::Create,
        (&Method::GET, []) => Operation::List,
        (&Method::GET, [id]) => Operation::Get(decode(id)),
        (&Method::POST, [id]) => Operation::Update(decode(id)),
        (&Method::DELETE, [id]) => Operation::Delete(decode(id)),
        (&Method::GET, [id, "messages"]) => Operation::Messages(decode(id)),
        _ => return None,
    })
}

/// Answers `op`; errors in the shape the deviations ask for.
pub(crate) fn handle(app: &App, op: Operation, query: Option<&str>, body: &[u8]) -> Answer {
    let deviations = app.deviations;
    let create = matches!(op, Operation::Create);
    match answer(app, op, query, body) {
        other if !create => other,
        Err(e) if deviations.deviates(Deviation::ChatErrorNotNested) => Ok(json_response(
            e.status,
            serde_json::to_vec(&json!({"message": e.message, "type": "invalid_request_error", "param": e.param, "code": e.code})).unwrap_or_default(),
        )),
        Err(e) if deviations.deviates(Deviation::ChatError200) && e.status.is_client_error() => {
            Ok(json_response(StatusCode::OK, e.body(deviations)))
        }
        other => other,
    }
}

fn answer(app: &App, op: Operation, query: Option<&str>, body: &[u8]) -> Answer {
    let deviations = app.deviations;
    let not_found = |id: &str| ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("Chat completion with id '{id}' not found."),
        param: None,
        code: None,
    };
    match op {
        Operation::Create => {
            validate::query(query, validate::Accepts::Nothing, deviations)?;
            create::create(app, body)
        }
        Operation::List => list(app, query),
        Operation::Get(id) => {
            validate::query(query, validate::Accepts::Nothing, deviations)?;
            let stored = app.chat.lock().1.get(&id).cloned();
            ok(&stored.ok_or_else(|| not_found(&id))?.completion)
        }
        Operation::Update(id) => {
            validate::query(query, validate::Accepts::Nothing, deviations)?;
            let body = validate::object_body(body, deviations)?.unwrap_or_default();
            validate::known_fields(&body, &["metadata"], deviations)?;
            let metadata = match body.get("metadata") {
                None => return Err(ApiError::missing_parameter("metadata")),
                Some(m) => validate::metadata(m.clone(), deviations)?,
            };
            let mut all = app.chat.lock();
            let stored = all.1.get_mut(&id).ok_or_else(|| not_found(&id))?;
            stored.completion["metadata"] = Value::Object(metadata);
            ok(&stored.completion)
        }
        Operation::Delete(id) => {
            validate::query(query, validate::Accepts::Nothing, deviations)?;
            app.chat
                .lock()
                .1
                .remove(&id)
                .ok_or_else(|| not_found(&id))?;
            ok(&json!({"object": "chat.completion.deleted", "id": id, "deleted": true}))
        }
        Operation::Messages(id) => {
            let query = validate::query(query, validate::Accepts::List, deviations)?;
            let stored = app.chat.lock().1.get(&id).cloned();
            let stored = stored.ok_or_else(|| not_found(&id))?;
            let mut messages = stored.messages.clone();
            if query.descending == Some(true) {
                messages.reverse();
            }
            page(messages, query.after.as_deref(), query.limit.unwrap_or(20))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_chat_paths_are_routed_here() {
        assert!(matches!(
            operation(&Method::POST, "/v1/chat/completions"),
            Some(Operation::Create)
        ));
        assert!(
            matches!(operation(&Method::GET, "/v1/chat/completions/x/messages"), Some(Operation::Messages(id)) if id == "x")
        );
        assert!(operation(&Method::GET, "/v1/chat/completionsx").is_none());
        assert!(operation(&Method::PUT, "/v1/chat/completions").is_none());
    }
}
