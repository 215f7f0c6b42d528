//! Conversation items: validation of input items and the stored form of a message.
//!
//! Accepted inputs are messages, as `EasyInputMessage` (`{role, content: "text" | [parts]}`,
//! `type` optional) or as a message `Item` (`{type: "message", role, content: [parts]}`).
//! The stored form validates against exactly one branch of the spec's `ConversationItem`
//! (`Message`): `{type, id, status, role, content[, phase]}`, string content becoming one
//! `input_text` part (`output_text` with empty `annotations` and `logprobs` for `assistant`).

use serde_json::{Map, Value};

use super::deviation::{Deviation, Deviations};
use super::error::{one_of, ApiError};
use super::validate::MAX_ITEMS_PER_CALL;

const ROLES: &[&str] = &["user", "assistant", "system", "developer"];
const INPUT_PARTS: &[&str] = &["input_text", "input_image", "input_file"];
const OUTPUT_PARTS: &[&str] = &["output_text", "refusal"];
const STATUSES: &[&str] = &["in_progress", "completed", "incomplete"];
const PHASES: &[&str] = &["commentary", "final_answer"];
const IMAGE_DETAILS: &[&str] = &["low", "high", "auto", "original"];
const FILE_DETAILS: &[&str] = &["auto", "low", "high"];

/// A validated message, waiting for its id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewMessage {
    role: &'static str,
    content: Vec<Value>,
    phase: Option<&'static str>,
}

impl NewMessage {
    /// The stored JSON of this message under `id`, in the spec's key order.
    pub(crate) fn to_json(&self, id: &str, status: Value) -> Vec<u8> {
        let mut item = Map::new();
        item.insert("type".into(), Value::from("message"));
        item.insert("id".into(), Value::from(id));
        item.insert("status".into(), status);
        item.insert("role".into(), Value::from(self.role));
        item.insert("content".into(), Value::Array(self.content.clone()));
        if let Some(phase) = self.phase {
            item.insert("phase".into(), Value::from(phase));
        }
        serde_json::to_vec(&item).unwrap_or_default()
    }
}

/// Validates the `items` array of a request. `allow_empty`: create accepts `[]`, adding items
/// does not.
pub(crate) fn parse_items(
    value: Value,
    allow_empty: bool,
    deviations: Deviations,
) -> Result<Vec<NewMessage>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::invalid_type("items", "an array", &value));
    };
    if items.len() > MAX_ITEMS_PER_CALL && !deviations.deviates(Deviation::ItemCountNotLimited) {
        return Err(ApiError::array_too_long(
            "items",
            MAX_ITEMS_PER_CALL,
            items.len(),
        ));
    }
    if items.is_empty() && !allow_empty {
        return Err(ApiError::empty_array("items"));
    }
    let mut messages = items
        .iter()
        .enumerate()
        .map(|(i, item)| message(item, &format!("items[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    for message in &mut messages {
        if message.role == "system" && deviations.deviates(Deviation::ItemsSystemAsDeveloper) {
            message.role = "developer";
        }
        if deviations.deviates(Deviation::ItemPartsReversed) {
            message.content.reverse();
        }
    }
    Ok(messages)
}

fn message(item: &Value, path: &str) -> Result<NewMessage, ApiError> {
    let obj = object(item, path)?;
    if let Some(kind) = obj.get("type") {
        let kind = string(kind, &format!("{path}.type"))?;
        if kind != "message" {
            return Err(ApiError::invalid_value_message(
                &format!("{path}.type"),
                format!(
                    "Invalid value: '{kind}'. Supported values are: 'message' (this reference \
                     server stores message items only)."
                ),
            ));
        }
    }
    fields(
        obj,
        path,
        &["type", "role", "content", "status", "phase", "id"],
    )?;
    let role = choice(required(obj, path, "role")?, &format!("{path}.role"), ROLES)?;
    if let Some(status) = obj.get("status").filter(|s| !s.is_null()) {
        choice(status, &format!("{path}.status"), STATUSES)?;
    }
    let phase = match obj.get("phase").filter(|p| !p.is_null()) {
        Some(phase) => Some(choice(phase, &format!("{path}.phase"), PHASES)?),
        None => None,
    };
    if let Some(id) = obj.get("id").filter(|id| !id.is_null()) {
        string(id, &format!("{path}.id"))?;
    }
    let content_path = format!("{path}.content");
    let content = match required(obj, path, "content")? {
        Value::String(text) if role == "assistant" => vec![output_text(text, Vec::new())],
        Value::String(text) => vec![input_text(text)],
        Value::Array(parts) => parts
            .iter()
            .enumerate()
            .map(|(j, part)| content_part(part, &format!("{content_path}[{j}]"), role))
            .collect::<Result<_, _>>()?,
        other => {
            return Err(ApiError::invalid_type(
                &content_path,
                "one of a string or an array",
                other,
            ))
        }
    };
    Ok(NewMessage {
        role,
        content,
        phase,
    })
}

fn input_text(text: &str) -> Value {
    let mut part = Map::new();
    part.insert("type".into(), Value::from("input_text"));
    part.insert("text".into(), Value::from(text));
    Value::Object(part)
}

fn output_text(text: &str, annotations: Vec<Value>) -> Value {
    let mut part = Map::new();
    part.insert("type".into(), Value::from("output_text"));
    part.insert("text".into(), Value::from(text));
    part.insert("annotations".into(), Value::Array(annotations));
    part.insert("logprobs".into(), Value::Array(Vec::new()));
    Value::Object(part)
}

/// One content part: `input_text`, `input_image`, `input_file` for user, system and developer
/// messages; `output_text` and `refusal` for assistant messages.
fn content_part(part: &Value, path: &str, role: &str) -> Result<Value, ApiError> {
    let obj = object(part, path)?;
    let allowed = if role == "assistant" {
        OUTPUT_PARTS
    } else {
        INPUT_PARTS
    };
    let kind = choice(
        required(obj, path, "type")?,
        &format!("{path}.type"),
        allowed,
    )?;
    let mut stored = Map::new();
    stored.insert("type".into(), Value::from(kind));
    match kind {
        "input_text" => {
            fields(obj, path, &["type", "text", "prompt_cache_breakpoint"])?;
            let text = string(required(obj, path, "text")?, &format!("{path}.text"))?;
            stored.insert("text".into(), Value::from(text));
            cache_breakpoint(obj, path, &mut stored)?;
        }
        "input_image" => {
            fields(
                obj,
                path,
                &[
                    "type",
                    "image_url",
                    "file_id",
                    "detail",
                    "prompt_cache_breakpoint",
                ],
            )?;
            let image_url = optional_string(obj, path, "image_url")?;
            let file_id = optional_string(obj, path, "file_id")?;
            if image_url.is_none() && file_id.is_none() {
                return Err(ApiError::missing_parameter_message(
                    path,
                    format!("Invalid '{path}': an input_image needs 'image_url' or 'file_id'."),
                ));
            }
            let detail = match obj.get("detail").filter(|d| !d.is_null()) {
                Some(detail) => choice(detail, &format!("{path}.detail"), IMAGE_DETAILS)?,
                None => "auto",
            };
            stored.insert(
                "image_url".into(),
                image_url.map_or(Value::Null, Value::from),
            );
            stored.insert("file_id".into(), file_id.map_or(Value::Null, Value::from));
            stored.insert("detail".into(), Value::from(detail));
            cache_breakpoint(obj, path, &mut stored)?;
        }
        "input_file" => {
            fields(
                obj,
                path,
                &[
                    "type",
                    "file_id",
                    "filename",
                    "file_data",
                    "file_url",
                    "detail",
                    "prompt_cache_breakpoint",
                ],
            )?;
            let mut has_source = false;
            for key in ["file_id", "filename", "file_data", "file_url"] {
                if let Some(value) = optional_string(obj, path, key)? {
                    has_source |= key != "filename";
                    stored.insert(key.into(), Value::from(value));
                }
            }
            if !has_source {
                return Err(ApiError::missing_parameter_message(
                    path,
                    format!(
                        "Invalid '{path}': an input_file needs 'file_id', 'file_data' or \
                         'file_url'."
                    ),
                ));
            }
            if let Some(detail) = obj.get("detail").filter(|d| !d.is_null()) {
                let detail = choice(detail, &format!("{path}.detail"), FILE_DETAILS)?;
                stored.insert("detail".into(), Value::from(detail));
            }
            cache_breakpoint(obj, path, &mut stored)?;
        }
        "output_text" => {
            fields(obj, path, &["type", "text", "annotations", "logprobs"])?;
            let text = string(required(obj, path, "text")?, &format!("{path}.text"))?;
            let annotations = list(obj, path, "annotations", annotation)?;
            let logprobs = list(obj, path, "logprobs", logprob)?;
            let mut part = output_text(text, annotations);
            if let Value::Object(part) = &mut part {
                part.insert("logprobs".into(), Value::Array(logprobs));
            }
            return Ok(part);
        }
        _ => {
            fields(obj, path, &["type", "refusal"])?;
            let refusal = string(required(obj, path, "refusal")?, &format!("{path}.refusal"))?;
            stored.insert("refusal".into(), Value::from(refusal));
        }
    }
    Ok(Value::Object(stored))
}

/// `prompt_cache_breakpoint`: absent or null (dropped), or `{"mode": "explicit"}` (kept).
fn cache_breakpoint(
    obj: &Map<String, Value>,
    path: &str,
    stored: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(value) = obj.get("prompt_cache_breakpoint").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let path = format!("{path}.prompt_cache_breakpoint");
    let config = object(value, &path)?;
    fields(config, &path, &["mode"])?;
    let mode = choice(
        required(config, &path, "mode")?,
        &format!("{path}.mode"),
        &["explicit"],
    )?;
    let mut kept = Map::new();
    kept.insert("mode".into(), Value::from(mode));
    stored.insert("prompt_cache_breakpoint".into(), Value::Object(kept));
    Ok(())
}

/// An optional array field whose elements are each checked by `element`; absent or null is `[]`.
fn list(
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
    element: fn(&Value, &str) -> Result<(), ApiError>,
) -> Result<Vec<Value>, ApiError> {
    let path = format!("{path}.{key}");
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(values)) => {
            for (i, value) in values.iter().enumerate() {
                element(value, &format!("{path}[{i}]"))?;
            }
            Ok(values.clone())
        }
        Some(other) => Err(ApiError::invalid_type(&path, "an array", other)),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Num,
    IntArray,
}

/// Checks that `obj` has exactly `spec`'s keys (all required) with the right JSON types.
fn shape(obj: &Map<String, Value>, path: &str, spec: &[(&str, Kind)]) -> Result<(), ApiError> {
    let names: Vec<&str> = spec.iter().map(|(name, _)| *name).collect();
    fields(obj, path, &names)?;
    typed(obj, path, spec)
}

/// Checks that each of `spec`'s keys is present in `obj` with the right JSON type.
fn typed(obj: &Map<String, Value>, path: &str, spec: &[(&str, Kind)]) -> Result<(), ApiError> {
    for &(name, kind) in spec {
        let value = required(obj, path, name)?;
        let field = format!("{path}.{name}");
        match kind {
            Kind::Str => {
                string(value, &field)?;
            }
            Kind::Int if !is_integer(value) => {
                return Err(ApiError::invalid_type(&field, "an integer", value))
            }
            Kind::Num if !value.is_number() => {
                return Err(ApiError::invalid_type(&field, "a number", value))
            }
            Kind::IntArray => {
                let Value::Array(values) = value else {
                    return Err(ApiError::invalid_type(&field, "an array", value));
                };
                for (i, v) in values.iter().enumerate() {
                    if !is_integer(v) {
                        return Err(ApiError::invalid_type(
                            &format!("{field}[{i}]"),
                            "an integer",
                            v,
                        ));
                    }
                }
            }
            Kind::Int | Kind::Num => {}
        }
    }
    Ok(())
}

fn is_integer(value: &Value) -> bool {
    value.as_i64().is_some() || value.as_u64().is_some()
}

/// One of the spec's `Annotation` shapes.
fn annotation(value: &Value, path: &str) -> Result<(), ApiError> {
    use Kind::{Int, Str};
    let obj = object(value, path)?;
    let kinds = [
        "file_citation",
        "url_citation",
        "container_file_citation",
        "file_path",
    ];
    let kind = choice(
        required(obj, path, "type")?,
        &format!("{path}.type"),
        &kinds,
    )?;
    let spec: &[(&str, Kind)] = match kind {
        "file_citation" => &[
            ("type", Str),
            ("file_id", Str),
            ("index", Int),
            ("filename", Str),
        ],
        "url_citation" => &[
            ("type", Str),
            ("url", Str),
            ("start_index", Int),
            ("end_index", Int),
            ("title", Str),
        ],
        "container_file_citation" => &[
            ("type", Str),
            ("container_id", Str),
            ("file_id", Str),
            ("start_index", Int),
            ("end_index", Int),
            ("filename", Str),
        ],
        _ => &[("type", Str), ("file_id", Str), ("index", Int)],
    };
    shape(obj, path, spec)
}

/// The spec's `LogProb`, with its `TopLogProb` list.
fn logprob(value: &Value, path: &str) -> Result<(), ApiError> {
    use Kind::{IntArray, Num, Str};
    const TOKEN: &[(&str, Kind)] = &[("token", Str), ("logprob", Num), ("bytes", IntArray)];
    let obj = object(value, path)?;
    fields(obj, path, &["token", "logprob", "bytes", "top_logprobs"])?;
    typed(obj, path, TOKEN)?;
    let top_path = format!("{path}.top_logprobs");
    let top = required(obj, path, "top_logprobs")?;
    let Value::Array(top) = top else {
        return Err(ApiError::invalid_type(&top_path, "an array", top));
    };
    for (i, entry) in top.iter().enumerate() {
        let entry_path = format!("{top_path}[{i}]");
        shape(object(entry, &entry_path)?, &entry_path, TOKEN)?;
    }
    Ok(())
}

fn object<'v>(value: &'v Value, path: &str) -> Result<&'v Map<String, Value>, ApiError> {
    value
        .as_object()
        .ok_or_else(|| ApiError::invalid_type(path, "an object", value))
}

fn string<'v>(value: &'v Value, path: &str) -> Result<&'v str, ApiError> {
    value
        .as_str()
        .ok_or_else(|| ApiError::invalid_type(path, "a string", value))
}

/// A field that may be absent, null, or a string.
fn optional_string<'v>(
    obj: &'v Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<&'v str>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => string(value, &format!("{path}.{key}")).map(Some),
    }
}

fn required<'v>(obj: &'v Map<String, Value>, path: &str, key: &str) -> Result<&'v Value, ApiError> {
    obj.get(key)
        .ok_or_else(|| ApiError::missing_parameter(&format!("{path}.{key}")))
}

/// Rejects the first key of `obj` that is not in `allowed`.
fn fields(obj: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::unknown_parameter(&format!("{path}.{unknown}"))),
        None => Ok(()),
    }
}

/// A string that must be one of `allowed`; answers the allowed spelling as `'static`.
fn choice(value: &Value, path: &str, allowed: &[&'static str]) -> Result<&'static str, ApiError> {
    let text = string(value, path)?;
    allowed
        .iter()
        .find(|a| **a == text)
        .copied()
        .ok_or_else(|| ApiError::invalid_value(path, text, &one_of(allowed)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_items(value: Value, allow_empty: bool) -> Result<Vec<NewMessage>, ApiError> {
        super::parse_items(value, allow_empty, Deviations::default())
    }

    fn stored(input: Value) -> Value {
        let items = parse_items(json!([input]), false).expect("valid item");
        serde_json::from_slice(&items[0].to_json("msg_1", Value::from("completed"))).expect("json")
    }

    fn rejected(input: Value) -> ApiError {
        parse_items(json!([input]), false).expect_err("rejected")
    }

    #[test]
    fn string_content_becomes_input_text() {
        assert_eq!(
            stored(json!({"role": "user", "content": "Hello!"})),
            json!({"type": "message", "id": "msg_1", "status": "completed", "role": "user",
                   "content": [{"type": "input_text", "text": "Hello!"}]})
        );
    }

    #[test]
    fn assistant_string_content_becomes_output_text() {
        assert_eq!(
            stored(
                json!({"type": "message", "role": "assistant", "content": "Hi", "phase": "final_answer"})
            ),
            json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": "Hi", "annotations": [], "logprobs": []}],
                   "phase": "final_answer"})
        );
    }

    #[test]
    fn parts_are_normalised() {
        let item = stored(
            json!({"role": "developer", "status": "in_progress", "id": "x", "content": [
                {"type": "input_text", "text": "a", "prompt_cache_breakpoint": null},
                {"type": "input_image", "image_url": "https://example.com/a.png"},
                {"type": "input_file", "file_id": "file-1", "filename": null},
            ]}),
        );
        assert_eq!(item["status"], "completed");
        assert_eq!(item["id"], "msg_1");
        assert_eq!(
            item["content"],
            json!([
                {"type": "input_text", "text": "a"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "file_id": null, "detail": "auto"},
                {"type": "input_file", "file_id": "file-1"},
            ])
        );
        let item = stored(json!({"role": "assistant", "content": [
            {"type": "output_text", "text": "b", "annotations": [
                {"type": "url_citation", "url": "https://x", "start_index": 0, "end_index": 1, "title": "t"}
            ], "logprobs": [
                {"token": "b", "logprob": -0.5, "bytes": [98], "top_logprobs": [{"token": "b", "logprob": -0.5, "bytes": [98]}]}
            ]},
            {"type": "refusal", "refusal": "no"},
        ]}));
        assert_eq!(item["content"][0]["annotations"][0]["type"], "url_citation");
        assert_eq!(item["content"][0]["logprobs"][0]["token"], "b");
        assert_eq!(
            item["content"][1],
            json!({"type": "refusal", "refusal": "no"})
        );
    }

    #[test]
    fn item_errors_name_the_field() {
        let cases = [
            (json!("x"), "items[0]", "invalid_type"),
            (
                json!({"content": "x"}),
                "items[0].role",
                "missing_required_parameter",
            ),
            (
                json!({"role": "user"}),
                "items[0].content",
                "missing_required_parameter",
            ),
            (
                json!({"role": "bot", "content": "x"}),
                "items[0].role",
                "invalid_value",
            ),
            (
                json!({"role": 1, "content": "x"}),
                "items[0].role",
                "invalid_type",
            ),
            (
                json!({"role": "user", "content": 5}),
                "items[0].content",
                "invalid_type",
            ),
            (
                json!({"role": "user", "content": "x", "foo": 1}),
                "items[0].foo",
                "unknown_parameter",
            ),
            (
                json!({"type": "function_call", "call_id": "c"}),
                "items[0].type",
                "invalid_value",
            ),
            (
                json!({"type": 3, "role": "user", "content": "x"}),
                "items[0].type",
                "invalid_type",
            ),
            (
                json!({"role": "user", "content": "x", "status": "done"}),
                "items[0].status",
                "invalid_value",
            ),
            (
                json!({"role": "user", "content": "x", "phase": "later"}),
                "items[0].phase",
                "invalid_value",
            ),
            (
                json!({"role": "user", "content": ["x"]}),
                "items[0].content[0]",
                "invalid_type",
            ),
            (
                json!({"role": "user", "content": [{"text": "x"}]}),
                "items[0].content[0].type",
                "missing_required_parameter",
            ),
            (
                json!({"role": "user", "content": [{"type": "output_text", "text": "x"}]}),
                "items[0].content[0].type",
                "invalid_value",
            ),
            (
                json!({"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}),
                "items[0].content[0].type",
                "invalid_value",
            ),
            (
                json!({"role": "user", "content": [{"type": "input_text"}]}),
                "items[0].content[0].text",
                "missing_required_parameter",
            ),
            (
                json!({"role": "user", "content": [{"type": "input_text", "text": 1}]}),
                "items[0].content[0].text",
                "invalid_type",
            ),
            (
                json!({"role": "user", "content": [{"type": "input_image"}]}),
                "items[0].content[0]",
                "missing_required_parameter",
            ),
            (
                json!({"role": "user", "content": [{"type": "input_image", "file_id": "f", "detail": "huge"}]}),
                "items[0].content[0].detail",
                "invalid_value",
            ),
            (
                json!({"role": "user", "content": [{"type": "input_file", "filename": "a"}]}),
                "items[0].content[0]",
                "missing_required_parameter",
            ),
            (
                json!({"role": "assistant", "content": [{"type": "output_text", "text": "x", "annotations": [{"type": "file_path"}]}]}),
                "items[0].content[0].annotations[0].file_id",
                "missing_required_parameter",
            ),
            (
                json!({"role": "assistant", "content": [{"type": "output_text", "text": "x", "annotations": [{"type": "file_path", "file_id": "f", "index": "1"}]}]}),
                "items[0].content[0].annotations[0].index",
                "invalid_type",
            ),
            (
                json!({"role": "assistant", "content": [{"type": "output_text", "text": "x", "logprobs": [{"token": "t", "logprob": 0, "bytes": ["a"], "top_logprobs": []}]}]}),
                "items[0].content[0].logprobs[0].bytes[0]",
                "invalid_type",
            ),
            (
                json!({"role": "assistant", "content": [{"type": "refusal"}]}),
                "items[0].content[0].refusal",
                "missing_required_parameter",
            ),
        ];
        for (input, param, code) in cases {
            let err = rejected(input.clone());
            assert_eq!(err.param.as_deref(), Some(param), "{input}");
            assert_eq!(err.code, Some(code), "{input}");
        }
    }

    #[test]
    fn item_messages_follow_the_live_api() {
        assert_eq!(
            rejected(json!({"role": "bot", "content": "x"})).message,
            "Invalid value: 'bot'. Supported values are: 'user', 'assistant', 'system', and \
             'developer'."
        );
        assert_eq!(
            rejected(json!({"content": "x"})).message,
            "Missing required parameter: 'items[0].role'."
        );
        assert_eq!(
            rejected(json!({"role": "user", "content": 5})).message,
            "Invalid type for 'items[0].content': expected one of a string or an array, but got \
             an integer instead."
        );
    }

    #[test]
    fn item_counts_are_limited() {
        let one = json!({"role": "user", "content": "x"});
        let twenty = Value::Array(vec![one.clone(); 20]);
        assert_eq!(parse_items(twenty, false).expect("20").len(), 20);
        let err = parse_items(Value::Array(vec![one; 21]), false).expect_err("21");
        assert_eq!(err.code, Some("array_above_max_length"));
        assert_eq!(
            err.message,
            "Invalid 'items': array too long. Expected an array with maximum length 20, but got \
             an array with length 21 instead."
        );
        assert_eq!(
            parse_items(json!([]), false).expect_err("empty").code,
            Some("empty_array")
        );
        assert!(parse_items(json!([]), true)
            .expect("empty at create")
            .is_empty());
        assert_eq!(
            parse_items(json!({}), true).expect_err("object").code,
            Some("invalid_type")
        );
    }
}
