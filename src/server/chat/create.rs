//! Create: the request checked field by field, the built-in model's answer, stored when
//! `store: true` asks, streamed when `stream: true` does.

use serde_json::{json, Map, Value};

use super::chunks::chunks;
use crate::server::answer::{event_stream, ok, Answer};
use crate::server::deviation::{Deviation, Deviations};
use crate::server::error::ApiError;
use crate::server::model::{self, Output};
use crate::server::store::random_id;
use crate::server::validate;
use crate::server::App;

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

/// A number of `body[name]` within `min..=max`, or the error naming it.
fn number_in(
    body: &Map<String, Value>,
    name: &str,
    range: (f64, f64),
    integer: bool,
    deviations: Deviations,
) -> Result<Option<f64>, ApiError> {
    let Some((number, value)) = validate::number(body, name, integer)? else {
        return Ok(None);
    };
    if deviations.deviates(Deviation::ChatRangesUnchecked) {
        return Ok(Some(number));
    }
    let (min, max) = range;
    let kind = if integer { "integer" } else { "decimal" };
    if number < min {
        return Err(ApiError {
            code: Some(if integer { "integer_below_min_value" } else { "decimal_below_min_value" }),
            ..ApiError::bad_request(format!("Invalid '{name}': {kind} below minimum value. Expected a value >= {min}, but got {value} instead."), name, "")
        });
    }
    if number > max {
        return Err(ApiError {
            code: Some(if integer { "integer_above_max_value" } else { "decimal_above_max_value" }),
            ..ApiError::bad_request(format!("Invalid '{name}': {kind} above maximum value. Expected a value <= {max}, but got {value} instead."), name, "")
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

pub(super) fn create(app: &App, body: &[u8]) -> Answer {
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
        return Err(ApiError::bad_request(
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is given.".to_owned(),
            "top_logprobs",
            "invalid_value"));
    }
    let include_usage = match body.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(options)) => {
            if !streamed {
                return Err(ApiError::bad_request(
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled."
                        .to_owned(),
                    "stream_options",
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
                return Err(ApiError::bad_request(
                    "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.".to_owned(),
                    "tool_choice",
                    "invalid_value"))
            }
        },
        Some(Value::Object(choice)) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::missing_parameter("tool_choice.function.name"))?;
            Some(tool_named(name).cloned().ok_or_else(|| {
                ApiError::bad_request(
                    format!("Invalid value for 'tool_choice': no function named '{name}' was specified in the 'tools' parameter."),
                    "tool_choice",
                    "invalid_value")
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
        json!(crate::server::store::now() as f64 + 0.5)
    } else {
        json!(crate::server::store::now())
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
        app.chat.insert(&id, completion.clone(), messages)?;
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
}
