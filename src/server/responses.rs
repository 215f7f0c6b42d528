//! The Responses API of the reference server: create (with the built-in [`super::model`],
//! streamed or not), retrieve, delete and the input items of a response.
//!
//! Where the documents are silent, the server decides as follows:
//! - `model` is required (any string); `input` is a string or a list of message items (the
//!   conversation items' rules); other known fields are checked for type and range:
//!   `temperature` 0..=2, `top_p` 0..=1, `top_logprobs` 0..=20, `max_output_tokens` >= 16, an
//!   unknown field answers `unknown_parameter`.
//! - `store` (default true) keeps the response and its input items; an unstored, deleted or
//!   unknown response answers 404 on retrieve, delete, input items and as
//!   `previous_response_id` (`param: "previous_response_id"`).
//! - `previous_response_id` puts the previous responses' input and output before the input:
//!   the model sees them and `usage.input_tokens` counts them. `conversation` (an id or
//!   `{id}`) does the same with the conversation's items, then appends the input and output
//!   items to it, in order, under the ids the response gives them; both at once answer 400.
//! - Input items are listed as conversation items are (`limit`, `order`, `after`), newest
//!   first by default.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::answer::{event_stream, ok, Answer};
use super::deviation::{Deviation, Deviations};
use super::error::ApiError;
use super::items::parse_items;
use super::model::{self, Output};
use super::store::{random_id, Item};
use super::stream;
use super::validate::{self, Accepts, DEFAULT_LIMIT};
use super::App;

/// Responses kept at most; past it a create with `store` answers 429.
const MAX_RESPONSES: usize = 10_000;

const FIELDS: &[&str] = &[
    "model",
    "input",
    "instructions",
    "temperature",
    "top_p",
    "top_logprobs",
    "max_output_tokens",
    "store",
    "stream",
    "metadata",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "previous_response_id",
    "conversation",
    "user",
];

/// A stored response: its object, its input items and the text its context ends with.
#[derive(Debug, Clone)]
struct Stored {
    response: Value,
    input: Vec<Item>,
    context: String,
}

#[derive(Debug, Default)]
pub(crate) struct Responses(Mutex<HashMap<String, Stored>>);

impl Responses {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stored>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The operations under `/v1/responses`; `None` for a path that is none of them.
pub(crate) enum Operation {
    Create,
    Get(String),
    Delete(String),
    InputItems(String),
}

pub(crate) fn operation(method: &axum::http::Method, path: &str) -> Option<Operation> {
    use axum::http::Method;
    let segments = validate::segments(path, "/v1/responses")?;
    let decode = |s: &str| validate::percent_decode(s, false);
    Some(match (method, segments.as_slice()) {
        (&Method::POST, []) => Operation::Create,
        (&Method::GET, [id]) => Operation::Get(decode(id)),
        (&Method::DELETE, [id]) => Operation::Delete(decode(id)),
        (&Method::GET, [id, "input_items"]) => Operation::InputItems(decode(id)),
        _ => return None,
    })
}

pub(crate) fn handle(app: &App, op: Operation, query: Option<&str>, body: &[u8]) -> Answer {
    let deviations = app.deviations;
    match op {
        Operation::Create => {
            validate::query(query, Accepts::Nothing, deviations)?;
            create(app, body)
        }
        Operation::Get(id) => {
            retrieve_query(query, deviations)?;
            let stored = app.responses.lock().get(&id).cloned();
            let stored = stored.ok_or_else(|| not_found(&id, None))?;
            ok(&stored.response)
        }
        Operation::Delete(id) => {
            validate::query(query, Accepts::Nothing, deviations)?;
            app.responses
                .lock()
                .remove(&id)
                .ok_or_else(|| not_found(&id, None))?;
            ok(&json!({"id": id, "object": "response.deleted", "deleted": true}))
        }
        Operation::InputItems(id) => {
            let query = validate::query(query, Accepts::List, deviations)?;
            let stored = app.responses.lock().get(&id).cloned();
            let stored = stored.ok_or_else(|| not_found(&id, None))?;
            input_items(&stored.input, &query, deviations)
        }
    }
}

/// The query of a retrieve: `include` as for conversation items, `stream` and
/// `include_obfuscation` booleans, `starting_after` a non-negative integer. The stream a
/// retrieve may replay is not served: its flag is checked, and the stored object answered.
fn retrieve_query(
    raw: Option<&str>,
    deviations: crate::server::deviation::Deviations,
) -> Result<(), ApiError> {
    let mut rest = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (
            validate::percent_decode(name, true),
            validate::percent_decode(value, true),
        );
        let wrong = |expected: &str| {
            ApiError::bad_request(
                format!("Invalid type for '{name}': expected {expected}, but got a string."),
                &name,
                "invalid_type",
            )
        };
        match name.as_str() {
            "stream" | "include_obfuscation" if value != "true" && value != "false" => {
                return Err(wrong("a boolean"))
            }
            "starting_after" if value.parse::<u64>().is_err() => return Err(wrong("an integer")),
            "stream" | "include_obfuscation" | "starting_after" => {}
            _ => rest.push(pair),
        }
    }
    validate::query(Some(&rest.join("&")), Accepts::Include, deviations).map(drop)
}

fn not_found(id: &str, param: Option<&str>) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("Response with id '{id}' not found."),
        param: param.map(str::to_owned),
        code: None,
    }
}

/// A number of `body[name]` within `min..=max`, or the error naming it.
fn number_in(
    body: &Map<String, Value>,
    name: &str,
    min: f64,
    max: f64,
    integer: bool,
) -> Result<Option<Value>, ApiError> {
    let Some((number, value)) = validate::number(body, name, integer)? else {
        return Ok(None);
    };
    if number < min {
        return Err(ApiError::bad_request(
            format!("Invalid '{name}': number below minimum value. Expected a value >= {min}, but got {value} instead."),
            name,
            if integer { "integer_below_min_value" } else { "decimal_below_min_value" }));
    }
    if number > max {
        return Err(ApiError::bad_request(
            format!("Invalid '{name}': number above maximum value. Expected a value <= {max}, but got {value} instead."),
            name,
            if integer { "integer_above_max_value" } else { "decimal_above_max_value" }));
    }
    Ok(Some(value.clone()))
}

/// The text of stored items, for the model's context.
fn text_of(items: &[Value]) -> String {
    let mut words = Vec::new();
    for item in items {
        let parts = item.get("content").and_then(Value::as_array);
        for part in parts.into_iter().flatten() {
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                words.push(text.to_owned());
            }
        }
    }
    words.join(" ")
}

fn create(app: &App, body: &[u8]) -> Answer {
    let deviations = app.deviations;
    let mut body = validate::object_body(body, deviations)?.unwrap_or_default();
    validate::known_fields(&body, FIELDS, deviations)?;
    let model = match body.get("model") {
        Some(Value::String(model)) => model.clone(),
        None | Some(Value::Null) => return Err(ApiError::missing_parameter("model")),
        Some(other) => return Err(ApiError::invalid_type("model", "a string", other)),
    };
    let input = match body.remove("input") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => vec![json!({"role": "user", "content": text})],
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::invalid_type(
                "input",
                "a string or an array",
                &other,
            ))
        }
    };
    let messages = if input.is_empty() {
        Vec::new()
    } else {
        parse_items(Value::Array(input), true, deviations).map_err(|mut e| {
            e.param = e.param.map(|p| p.replacen("items", "input", 1));
            e
        })?
    };
    let temperature = number_in(&body, "temperature", 0.0, 2.0, false)?;
    let top_p = number_in(&body, "top_p", 0.0, 1.0, false)?;
    let top_logprobs = number_in(&body, "top_logprobs", 0.0, 20.0, true)?;
    let max_output_tokens = number_in(&body, "max_output_tokens", 16.0, 1e15, true)?;
    let flag = |name: &str, default: bool| match body.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::invalid_type(name, "a boolean", other)),
    };
    let store = flag("store", true)?;
    let streamed = flag("stream", false)?;
    let parallel_tool_calls = flag("parallel_tool_calls", true)?;
    let instructions = match body.get("instructions") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) => Value::from(s.as_str()),
        Some(other) => return Err(ApiError::invalid_type("instructions", "a string", other)),
    };
    let metadata = validate::metadata(body.remove("metadata").unwrap_or(Value::Null), deviations)?;
    let tools = match body.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.clone(),
        Some(other) => return Err(ApiError::invalid_type("tools", "an array", other)),
    };
    let tools: Vec<Value> = tools
        .iter()
        .enumerate()
        .map(|(i, tool)| function_tool(i, tool))
        .collect::<Result<_, _>>()?;
    let previous = match body.get("previous_response_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => {
            return Err(ApiError::invalid_type(
                "previous_response_id",
                "a string",
                other,
            ))
        }
    };
    let conversation = match body.get("conversation") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Object(c)) => match c.get("id") {
            Some(Value::String(id)) => Some(id.clone()),
            _ => return Err(ApiError::missing_parameter("conversation.id")),
        },
        Some(other) => return Err(ApiError::invalid_type("conversation", "a string", other)),
    };
    if previous.is_some() && conversation.is_some() {
        return Err(ApiError::bad_request(
            "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.".to_owned(),
            "conversation",
            "mutually_exclusive_parameters"));
    }
    let previous = previous.filter(|_| !app.deviates_previous_ignored());
    let mut context = String::new();
    if let Some(id) = &previous {
        let stored = app.responses.lock().get(id).cloned();
        let stored = stored.ok_or_else(|| {
            let mut e = not_found(id, Some("previous_response_id"));
            e.message = format!("Previous response with id '{id}' not found.");
            e
        })?;
        context = stored.context;
    }
    if let Some(id) = &conversation {
        let items = app.store.list(id, usize::MAX, false, None).map_err(|_| {
            let mut e = ApiError::conversation_not_found(id);
            e.param = Some("conversation".to_owned());
            e
        })?;
        let values: Vec<Value> = items
            .items
            .iter()
            .filter_map(|i| serde_json::from_slice(&i.json).ok())
            .collect();
        context = text_of(&values);
    }
    let input_items: Vec<Item> = messages
        .iter()
        .map(|m| {
            let id = random_id("msg_");
            let json = m.to_json(&id, Value::from("completed"));
            Item {
                id,
                json: Bytes::from(json),
            }
        })
        .collect();
    let input_values: Vec<Value> = input_items
        .iter()
        .filter_map(|i| serde_json::from_slice(&i.json).ok())
        .collect();
    let input_text = text_of(&input_values);
    let seen = [context.as_str(), input_text.as_str()]
        .iter()
        .filter(|t| !t.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let limit = max_output_tokens.as_ref().and_then(Value::as_u64);
    let output = model::generate(&input_text, &tools, limit);
    let id = random_id("resp_");
    let item_id = match &output {
        Output::Text { .. } => random_id("msg_"),
        Output::FunctionCall { .. } => random_id("fc_"),
    };
    let cut = matches!(output, Output::Text { cut: true, .. });
    let status = if cut && !app.deviations.deviates(Deviation::CutStatusCompleted) {
        "incomplete"
    } else {
        "completed"
    };
    let output_item = output_item(&output, &item_id, status);
    let usage = model::usage(model::count_tokens(&seen), output.token_count());
    let response = json!({
        "id": id,
        "object": "response",
        "created_at": super::store::now(),
        "status": status,
        "error": null,
        "incomplete_details": if status == "incomplete" { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "model": model,
        "output": [output_item],
        "parallel_tool_calls": parallel_tool_calls,
        "previous_response_id": previous,
        "temperature": temperature.unwrap_or(json!(1.0)),
        "tool_choice": body.get("tool_choice").cloned().unwrap_or(json!("auto")),
        "tools": tools,
        "top_logprobs": top_logprobs.unwrap_or(json!(0)),
        "top_p": top_p.unwrap_or(json!(1.0)),
        "truncation": "disabled",
        "usage": usage,
        "metadata": metadata,
        "conversation": conversation.as_ref().map(|id| json!({"id": id})),
        "text": {"format": {"type": "text"}},
    });
    if let Some(conversation) = &conversation {
        let mut items = input_items.clone();
        items.push(Item {
            id: item_id.clone(),
            json: Bytes::from(serde_json::to_vec(&response["output"][0]).unwrap_or_default()),
        });
        app.store
            .add_raw_items(conversation, items)
            .ok_or_else(|| ApiError::conversation_not_found(conversation))?
            .map_err(|_| {
                ApiError::store_full("its limit of items (--max-items)", "item_limit_reached")
            })?;
    }
    if store {
        let mut responses = app.responses.lock();
        if responses.len() >= MAX_RESPONSES {
            return Err(ApiError::store_full(
                &format!("{MAX_RESPONSES} responses, its limit"),
                "response_limit_reached",
            ));
        }
        let context = [seen.as_str(), output.text().as_str()]
            .iter()
            .filter(|t| !t.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        responses.insert(
            id.clone(),
            Stored {
                response: response.clone(),
                input: input_items,
                context,
            },
        );
    }
    if streamed {
        return Ok(event_stream(stream::events(
            &response,
            &output,
            app.deviations,
        )));
    }
    ok(&response)
}

impl App {
    fn deviates_previous_ignored(&self) -> bool {
        self.deviations
            .deviates(Deviation::PreviousResponseIdIgnored)
    }
}

/// A function tool as the response names it; other tool types answer 400.
fn function_tool(index: usize, tool: &Value) -> Result<Value, ApiError> {
    let kind = tool.get("type").and_then(Value::as_str);
    if kind != Some("function") {
        return Err(ApiError::invalid_value(
            &format!("tools[{index}].type"),
            kind.unwrap_or(""),
            "'function'",
        ));
    }
    let Some(name) = tool.get("name").and_then(Value::as_str) else {
        return Err(ApiError::missing_parameter(&format!("tools[{index}].name")));
    };
    Ok(json!({
        "type": "function",
        "name": name,
        "description": tool.get("description").cloned().unwrap_or(Value::Null),
        "parameters": tool.get("parameters").cloned().unwrap_or(json!({"type": "object", "properties": {}})),
        "strict": tool.get("strict").cloned().unwrap_or(json!(true)),
    }))
}

/// The one output item of `output`, finished.
pub(crate) fn output_item(output: &Output, id: &str, status: &str) -> Value {
    match output {
        Output::Text { .. } => json!({
            "type": "message",
            "id": id,
            "status": if status == "incomplete" { "incomplete" } else { "completed" },
            "role": "assistant",
            "content": [{"type": "output_text", "text": output.text(), "annotations": [], "logprobs": []}],
        }),
        Output::FunctionCall { name } => json!({
            "type": "function_call",
            "id": id,
            "call_id": random_id("call_"),
            "name": name,
            "arguments": "{}",
            "status": "completed",
        }),
    }
}

/// `{"object": "list", "data", "first_id", "last_id", "has_more"}` of a response's input items,
/// paginated as conversation items are.
fn input_items(items: &[Item], query: &validate::Query, deviations: Deviations) -> Answer {
    let descending = query
        .descending
        .unwrap_or(!deviations.deviates(Deviation::InputItemsDefaultOrderAsc));
    let mut ordered: Vec<&Item> = items.iter().collect();
    if descending {
        ordered.reverse();
    }
    let start = match query.after.as_deref() {
        Some(after) => {
            let at = ordered.iter().position(|i| i.id == after).ok_or_else(|| {
                let mut e = ApiError::item_not_found(after);
                e.param = Some("after".to_owned());
                e
            })?;
            at + 1
        }
        None => 0,
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let page: Vec<Value> = ordered[start..]
        .iter()
        .take(limit)
        .filter_map(|i| serde_json::from_slice(&i.json).ok())
        .collect();
    let has_more = ordered.len() > start + page.len();
    let id_at = |v: Option<&Value>| v.and_then(|v| v.get("id")).cloned().unwrap_or(json!(""));
    ok(&json!({
        "object": "list",
        "data": page,
        "first_id": id_at(page.first()),
        "last_id": id_at(page.last()),
        "has_more": has_more,
    }))
}
