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

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::answer::json_response;
use super::deviation::{Deviation, Deviations};
use super::error::ApiError;
use super::model::{self, Output};
use super::store::random_id;
use super::validate;
use super::App;

/// Completions kept at most; past it a create with `store` answers 429.
const MAX_COMPLETIONS: usize = 10_000;

/// The request fields of CreateChatCompletionRequest.
const FIELDS: &[&str] = &[
    "messages",
    "model",
    "modalities",
    "verbosity",
    "reasoning_effort",
    "max_completion_tokens",
    "frequency_penalty",
    "presence_penalty",
    "web_search_options",
    "top_logprobs",
    "response_format",
    "audio",
    "store",
    "stream",
    "stop",
    "logit_bias",
    "logprobs",
    "max_tokens",
    "n",
    "prediction",
    "seed",
    "stream_options",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "function_call",
    "functions",
    "metadata",
    "temperature",
    "top_p",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "service_tier",
];

/// The optional fields a strict legacy schema does not know ([`Deviation::ChatUnknownFieldsRejected`]).
const NEWER_FIELDS: &[&str] = &["user", "seed", "safety_identifier", "prompt_cache_key"];

#[derive(Debug, Clone)]
struct Stored {
    completion: Value,
    messages: Vec<Value>,
    /// Order of creation, for listing.
    serial: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Completions(Mutex<(u64, HashMap<String, Stored>)>);

impl Completions {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<String, Stored>)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Answer = Result<Response, ApiError>;

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
            create(app, body)
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

fn ok(value: &Value) -> Answer {
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(value).unwrap_or_default(),
    ))
}

fn bad(param: &str, message: String, code: &'static str) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message,
        param: Some(param.to_owned()),
        code: Some(code),
    }
}

/// `{"object": "list", "data", "first_id", "last_id", "has_more"}` of `values` after `after`.
fn page(values: Vec<Value>, after: Option<&str>, limit: usize) -> Answer {
    let start = match after {
        Some(after) => {
            values
                .iter()
                .position(|v| v["id"] == after)
                .ok_or_else(|| {
                    bad(
                        "after",
                        format!("No object with id '{after}'."),
                        "invalid_value",
                    )
                })?
                + 1
        }
        None => 0,
    };
    let data: Vec<Value> = values[start..].iter().take(limit).cloned().collect();
    let has_more = values.len() > start + data.len();
    let id_at = |v: Option<&Value>| v.map_or(json!(""), |v| v["id"].clone());
    ok(&json!({
        "object": "list",
        "first_id": id_at(data.first()),
        "last_id": id_at(data.last()),
        "data": data,
        "has_more": has_more,
    }))
}

/// The list of stored completions: `model` and `metadata[KEY]` filters, `after`, `limit`
/// (default 20), `order` (default asc).
fn list(app: &App, query: Option<&str>) -> Answer {
    let mut model = None;
    let mut filters: Vec<(String, String)> = Vec::new();
    let mut rest = Vec::new();
    for (name, value) in validate::query_pairs(query) {
        if name == "model" {
            model = Some(value);
        } else if let Some(key) = name
            .strip_prefix("metadata[")
            .and_then(|k| k.strip_suffix(']'))
        {
            filters.push((key.to_owned(), value));
        } else {
            rest.push(format!(
                "{}={}",
                percent_encode(&name),
                percent_encode(&value)
            ));
        }
    }
    let query = validate::query(
        Some(&rest.join("&")),
        validate::Accepts::List,
        app.deviations,
    )?;
    let all = app.chat.lock();
    let mut stored: Vec<&Stored> = all
        .1
        .values()
        .filter(|s| {
            model
                .as_ref()
                .is_none_or(|m| s.completion["model"] == m.as_str())
        })
        .filter(|s| {
            filters
                .iter()
                .all(|(k, v)| s.completion["metadata"][k] == v.as_str())
        })
        .collect();
    stored.sort_by_key(|s| s.serial);
    if query.descending == Some(true) {
        stored.reverse();
    }
    let values = stored.into_iter().map(|s| s.completion.clone()).collect();
    drop(all);
    page(values, query.after.as_deref(), query.limit.unwrap_or(20))
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A number of `body[name]` within `min..=max`, or the error naming it.
fn number_in(
    body: &Map<String, Value>,
    name: &str,
    range: (f64, f64),
    integer: bool,
    deviations: Deviations,
) -> Result<Option<f64>, ApiError> {
    let Some(value) = body.get(name).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let number = value
        .as_f64()
        .filter(|_| !integer || value.is_i64() || value.is_u64())
        .ok_or_else(|| {
            ApiError::invalid_type(name, if integer { "an integer" } else { "a number" }, value)
        })?;
    if deviations.deviates(Deviation::ChatRangesUnchecked) {
        return Ok(Some(number));
    }
    let (min, max) = range;
    let kind = if integer { "integer" } else { "decimal" };
    if number < min {
        return Err(ApiError {
            code: Some(if integer { "integer_below_min_value" } else { "decimal_below_min_value" }),
            ..bad(name, format!("Invalid '{name}': {kind} below minimum value. Expected a value >= {min}, but got {value} instead."), "")
        });
    }
    if number > max {
        return Err(ApiError {
            code: Some(if integer { "integer_above_max_value" } else { "decimal_above_max_value" }),
            ..bad(name, format!("Invalid '{name}': {kind} above maximum value. Expected a value <= {max}, but got {value} instead."), "")
        });
    }
    Ok(Some(number))
}

/// The text the model sees of one message, checked on the way.
fn message_text(index: usize, message: &Value) -> Result<String, ApiError> {
    let at = |field: &str| format!("messages[{index}].{field}");
    let Some(message) = message.as_object() else {
        return Err(ApiError::invalid_type(
            &format!("messages[{index}]"),
            "an object",
            message,
        ));
    };
    match message.get("role") {
        Some(Value::String(role))
            if ["system", "developer", "user", "assistant", "tool"].contains(&role.as_str()) => {}
        None => return Err(ApiError::missing_parameter(&at("role"))),
        Some(Value::String(role)) => {
            return Err(ApiError::invalid_value(
                &at("role"),
                role,
                "'system', 'developer', 'user', 'assistant', 'tool'",
            ))
        }
        Some(other) => return Err(ApiError::invalid_type(&at("role"), "a string", other)),
    }
    match message.get("content") {
        Some(Value::String(text)) => Ok(text.clone()),
        None | Some(Value::Null) if message["role"] == "assistant" => Ok(String::new()),
        None => Err(ApiError::missing_parameter(&at("content"))),
        Some(Value::Array(parts)) => Ok(parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" ")),
        Some(other) => Err(ApiError::invalid_type(
            &at("content"),
            "a string or an array",
            other,
        )),
    }
}

/// A value of each required property of a simple `parameters` schema.
fn arguments_for(parameters: &Value) -> Value {
    let mut out = Map::new();
    let required = parameters["required"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for name in required.iter().filter_map(Value::as_str) {
        let schema = &parameters["properties"][name];
        let value = if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
            first.clone()
        } else {
            match schema["type"].as_str() {
                Some("integer" | "number") => json!(1),
                Some("boolean") => json!(true),
                Some("array") => json!([]),
                Some("object") => arguments_for(schema),
                Some("null") => Value::Null,
                _ => json!("conformance"),
            }
        };
        out.insert(name.to_owned(), value);
    }
    Value::Object(out)
}

fn create(app: &App, body: &[u8]) -> Answer {
    let deviations = app.deviations;
    let body = validate::object_body(body, deviations)?.unwrap_or_default();
    if deviations.deviates(Deviation::ChatUnknownFieldsRejected) {
        if let Some(field) = body.keys().find(|k| NEWER_FIELDS.contains(&k.as_str())) {
            return Err(ApiError::unknown_parameter(field));
        }
    }
    if let Some(field) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError {
            message: format!("Unrecognized request argument supplied: {field}"),
            ..ApiError::unknown_parameter(field)
        });
    }
    let model_name = match body.get("model") {
        Some(Value::String(model)) => model.clone(),
        None | Some(Value::Null) => return Err(ApiError::missing_parameter("model")),
        Some(other) => return Err(ApiError::invalid_type("model", "a string", other)),
    };
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages.clone(),
        Some(Value::Array(_)) => return Err(ApiError::empty_array("messages")),
        None | Some(Value::Null) => return Err(ApiError::missing_parameter("messages")),
        Some(other) => return Err(ApiError::invalid_type("messages", "an array", other)),
    };
    let texts: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| message_text(i, m))
        .collect::<Result<_, _>>()?;
    number_in(&body, "temperature", (0.0, 2.0), false, deviations)?;
    number_in(&body, "top_p", (0.0, 1.0), false, deviations)?;
    number_in(&body, "frequency_penalty", (-2.0, 2.0), false, deviations)?;
    number_in(&body, "presence_penalty", (-2.0, 2.0), false, deviations)?;
    let n = number_in(&body, "n", (1.0, 128.0), true, deviations)?.unwrap_or(1.0) as usize;
    let n = n.clamp(1, 128);
    let max_tokens = number_in(&body, "max_tokens", (1.0, 1e15), true, deviations)?;
    let max_completion = number_in(
        &body,
        "max_completion_tokens",
        (1.0, 1e15),
        true,
        deviations,
    )?;
    let flag = |name: &str| match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid_type(name, "a boolean", other)),
    };
    let store = flag("store")?;
    let streamed = flag("stream")?;
    let logprobs = flag("logprobs")?;
    flag("parallel_tool_calls")?;
    if number_in(&body, "top_logprobs", (0.0, 20.0), true, deviations)?.is_some()
        && !logprobs
        && !deviations.deviates(Deviation::ChatRangesUnchecked)
    {
        return Err(bad(
            "top_logprobs",
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is given.".to_owned(),
            "invalid_value",
        ));
    }
    let include_usage = match body.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(options)) => {
            if !streamed {
                return Err(bad(
                    "stream_options",
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled."
                        .to_owned(),
                    "invalid_value",
                ));
            }
            match options.get("include_usage") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(ApiError::invalid_type(
                        "stream_options.include_usage",
                        "a boolean",
                        other,
                    ))
                }
            }
        }
        Some(other) => return Err(ApiError::invalid_type("stream_options", "an object", other)),
    };
    let metadata = validate::metadata(
        body.get("metadata").cloned().unwrap_or(Value::Null),
        deviations,
    )?;
    let tools = match body.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.clone(),
        Some(other) => return Err(ApiError::invalid_type("tools", "an array", other)),
    };
    for (i, tool) in tools.iter().enumerate() {
        if tool["type"] != "function" {
            return Err(ApiError::invalid_value(
                &format!("tools[{i}].type"),
                tool["type"].as_str().unwrap_or(""),
                "'function'",
            ));
        }
        if !tool["function"]["name"].is_string() {
            return Err(ApiError::missing_parameter(&format!(
                "tools[{i}].function.name"
            )));
        }
    }
    let tool_named = |name: &str| tools.iter().find(|t| t["function"]["name"] == name);
    let forced = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(choice)) if choice == "none" || choice == "auto" => None,
        Some(Value::String(choice)) if choice == "required" => match tools.first() {
            Some(tool) => Some(tool.clone()),
            None => {
                return Err(bad(
                    "tool_choice",
                    "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.".to_owned(),
                    "invalid_value",
                ))
            }
        },
        Some(Value::Object(choice)) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::missing_parameter("tool_choice.function.name"))?;
            Some(tool_named(name).cloned().ok_or_else(|| {
                bad(
                    "tool_choice",
                    format!("Invalid value for 'tool_choice': no function named '{name}' was specified in the 'tools' parameter."),
                    "invalid_value",
                )
            })?)
        }
        Some(other) => {
            return Err(ApiError::invalid_type("tool_choice", "a string or an object", other))
        }
    };
    let input = texts.join(" ");
    let limit = max_completion.or(max_tokens).map(|n| n as u64);
    let auto_tools = if body.get("tool_choice") == Some(&json!("none")) {
        Vec::new()
    } else {
        tools
            .iter()
            .map(|t| json!({"type": "function", "name": t["function"]["name"]}))
            .collect()
    };
    let last_text = texts.last().cloned().unwrap_or_default();
    let called = match &forced {
        Some(tool) => Some(tool.clone()),
        None => match model::generate(&last_text, &auto_tools, None) {
            Output::FunctionCall { name } => tool_named(&name).cloned(),
            Output::Text { .. } => None,
        },
    };
    let output = model::generate(&input, &[], limit);
    let id = random_id("chatcmpl-");
    let created = if deviations.deviates(Deviation::ChatCreatedFloat) {
        json!(super::store::now() as f64 + 0.5)
    } else {
        json!(super::store::now())
    };
    let call = called.map(|tool| {
        let arguments = arguments_for(&tool["function"]["parameters"]).to_string();
        (
            random_id("call_"),
            tool["function"]["name"].clone(),
            arguments,
        )
    });
    let finish_reason = match (&call, &output) {
        (Some(_), _) if deviations.deviates(Deviation::ChatFinishReasonToolCall) => "tool_call",
        (Some(_), _) => "tool_calls",
        (None, Output::Text { cut: true, .. }) => "length",
        (None, _) => "stop",
    };
    let mut message =
        json!({"role": "assistant", "content": null, "refusal": null, "annotations": []});
    let completion_tokens = match &call {
        Some((call_id, name, arguments)) => {
            message["tool_calls"] = json!([{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]);
            1
        }
        None => {
            message["content"] = json!(output.text());
            output.token_count()
        }
    };
    if deviations.deviates(Deviation::ChatWithoutRefusal) {
        if let Some(m) = message.as_object_mut() {
            m.remove("refusal");
        }
    }
    let choices: Vec<Value> = (0..n)
        .map(|i| json!({"index": i, "message": message, "finish_reason": finish_reason, "logprobs": null}))
        .collect();
    let prompt_tokens = model::count_tokens(&input);
    let completion_tokens = completion_tokens * n as u64;
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    });
    let mut completion = json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model_name,
        "choices": choices,
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_conformance",
    });
    if store {
        completion["metadata"] = Value::Object(metadata);
        let messages: Vec<Value> = messages
            .iter()
            .zip(&texts)
            .enumerate()
            .map(|(i, (m, text))| {
                json!({"id": format!("{id}-{i}"), "role": m["role"], "content": text, "refusal": null, "name": m.get("name").cloned().unwrap_or(Value::Null), "content_parts": null})
            })
            .collect();
        let mut all = app.chat.lock();
        if all.1.len() >= MAX_COMPLETIONS {
            return Err(ApiError::store_full(
                &format!("{MAX_COMPLETIONS} chat completions, its limit"),
                "chat_completion_limit_reached",
            ));
        }
        all.0 += 1;
        let serial = all.0;
        all.1.insert(
            id.clone(),
            Stored {
                completion: completion.clone(),
                messages,
                serial,
            },
        );
    }
    if streamed {
        let tokens = match (&call, &output) {
            (None, Output::Text { tokens, .. }) => tokens.clone(),
            _ => Vec::new(),
        };
        return Ok(event_stream(chunks(
            &completion,
            &tokens,
            call.as_ref(),
            include_usage,
            deviations,
        )));
    }
    ok(&completion)
}

/// The frames of a streamed completion, `data: [DONE]` last.
fn chunks(
    completion: &Value,
    tokens: &[String],
    call: Option<&(String, Value, String)>,
    include_usage: bool,
    deviations: Deviations,
) -> String {
    let d = |deviation| deviations.deviates(deviation);
    let choices = completion["choices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<Value> = Vec::new();
    let chunk = |choices: Value| {
        json!({"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"],
            "model": completion["model"], "service_tier": "default", "system_fingerprint": "fp_conformance", "choices": choices})
    };
    let running = |index: &Value, delta: Value| {
        let mut choice =
            json!({"index": index, "delta": delta, "logprobs": null, "finish_reason": null});
        if d(Deviation::ChatFinishReasonMissing) {
            if let Some(c) = choice.as_object_mut() {
                c.remove("finish_reason");
            }
        }
        json!([choice])
    };
    for choice in &choices {
        let index = &choice["index"];
        match call {
            Some((id, name, arguments)) => {
                out.push(chunk(running(
                    index,
                    json!({"role": "assistant", "content": null, "refusal": null}),
                )));
                let mut first = json!({"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
                if d(Deviation::ToolDeltaArgumentsNull) {
                    first["function"]["arguments"] = Value::Null;
                }
                if d(Deviation::ToolDeltaWithoutType) {
                    if let Some(f) = first.as_object_mut() {
                        f.remove("type");
                    }
                }
                out.push(chunk(running(index, json!({"tool_calls": [first]}))));
                let middle = arguments.len() / 2;
                let middle = (0..=middle)
                    .rev()
                    .find(|&i| arguments.is_char_boundary(i))
                    .unwrap_or(0);
                for piece in [&arguments[..middle], &arguments[middle..]] {
                    let mut delta = json!({"index": 0, "function": {"arguments": piece}});
                    if d(Deviation::ToolDeltaWithoutIndex) {
                        if let Some(f) = delta.as_object_mut() {
                            f.remove("index");
                        }
                    }
                    out.push(chunk(running(index, json!({"tool_calls": [delta]}))));
                }
            }
            None => {
                out.push(chunk(running(
                    index,
                    json!({"role": "assistant", "content": "", "refusal": null}),
                )));
                for token in tokens {
                    out.push(chunk(running(index, json!({"content": token}))));
                }
            }
        }
        let finish = chunk(
            json!([{"index": index, "delta": {}, "logprobs": null, "finish_reason": choice["finish_reason"]}]),
        );
        out.push(finish.clone());
        if d(Deviation::ChatFinishReasonTwice) {
            out.push(finish);
        }
    }
    let usage = completion["usage"].clone();
    if include_usage || d(Deviation::ChatUsageEveryChunk) {
        for c in &mut out {
            c["usage"] = if d(Deviation::ChatUsageEveryChunk) {
                usage.clone()
            } else {
                Value::Null
            };
        }
    }
    if include_usage {
        if d(Deviation::ChatUsageChunkWithChoices) {
            if let Some(last) = out.last_mut() {
                last["usage"] = usage;
            }
        } else {
            let mut last = chunk(json!([]));
            last["usage"] = usage;
            out.push(last);
        }
    }
    let mut body: String = out.iter().map(|c| format!("data: {c}\n\n")).collect();
    if !d(Deviation::ChatWithoutDone) {
        body.push_str("data: [DONE]\n\n");
    }
    body
}

fn event_stream(body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_give_each_required_property_a_value_of_its_type() {
        let parameters = json!({"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"type": "string", "enum": ["c", "f"]},
            "optional": {"type": "string"}}, "required": ["city", "days", "unit"]});
        assert_eq!(
            arguments_for(&parameters),
            json!({"city": "conformance", "days": 1, "unit": "c"})
        );
        assert_eq!(arguments_for(&Value::Null), json!({}));
    }

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
