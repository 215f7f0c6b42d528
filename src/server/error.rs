//! The error object every 4xx answer carries, with the texts the live API uses.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::deviation::{Deviation, Deviations};

/// The `type` of every error this server answers.
const INVALID_REQUEST: &str = "invalid_request_error";

/// `{"error": {"message", "type", "param", "code"}}` together with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) param: Option<String>,
    pub(crate) code: Option<&'static str>,
}

impl ApiError {
    /// 400 with `message`, naming `param`.
    pub(crate) fn bad_request(
        message: String,
        param: impl Into<String>,
        code: &'static str,
    ) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message,
            param: Some(param.into()),
            code: Some(code),
        }
    }

    /// 401: no usable `Authorization: Bearer <key>` header.
    pub(crate) fn missing_api_key() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: "You didn't provide an API key. You need to provide your API key in an \
                      Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), \
                      or as the password field (with blank username) if you're accessing the API \
                      from your browser and are prompted for a username and password. You can \
                      obtain an API key from https://platform.openai.com/account/api-keys."
                .to_owned(),
            param: None,
            code: None,
        }
    }

    /// 401: a key was given but it is not the configured one. `masked` never holds the whole key.
    pub(crate) fn incorrect_api_key(masked: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: format!(
                "Incorrect API key provided: {masked}. You can find your API key at \
                 https://platform.openai.com/account/api-keys."
            ),
            param: None,
            code: Some("invalid_api_key"),
        }
    }

    /// 404 for any path or method this server does not serve.
    pub(crate) fn invalid_url(method: &str, path: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("Invalid URL ({method} {path})"),
            param: None,
            code: None,
        }
    }

    pub(crate) fn conversation_not_found(id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("Conversation with id '{id}' not found."),
            param: None,
            code: None,
        }
    }

    pub(crate) fn item_not_found(item_id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("Item with id '{item_id}' not found in conversation."),
            param: None,
            code: None,
        }
    }

    /// 400 for a body that is not JSON, or not the JSON object the endpoint needs.
    pub(crate) fn unparsable_json() -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: "We could not parse the JSON body of your request. (HINT: This likely means \
                      you aren't using your HTTP library correctly. The OpenAI API expects a JSON \
                      payload, but what was sent was not valid JSON. If you have trouble figuring \
                      out how to fix this, please contact us through our help center at \
                      help.openai.com.)"
                .to_owned(),
            param: None,
            code: None,
        }
    }

    /// 500: what a server answers when it crashes on a request.
    pub(crate) fn server_error() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "The server had an error while processing your request. Sorry about that!"
                .to_owned(),
            param: None,
            code: None,
        }
    }

    /// 413 for a body over `limit` bytes.
    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("Your request body is too large. The maximum size is {limit} bytes."),
            param: None,
            code: Some("request_too_large"),
        }
    }

    /// 408: the body did not arrive within the server's body timeout.
    pub(crate) fn body_timeout(seconds: f64) -> Self {
        Self {
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!("Your request body did not arrive within {seconds} seconds."),
            param: None,
            code: Some("request_timeout"),
        }
    }

    /// 414 for a request target over `limit` bytes.
    pub(crate) fn uri_too_long(limit: usize) -> Self {
        Self {
            status: StatusCode::URI_TOO_LONG,
            message: format!("Your request URL is too long. The maximum length is {limit} bytes."),
            param: None,
            code: Some("uri_too_long"),
        }
    }

    /// 431 for request headers over `limit` bytes or `count` fields.
    pub(crate) fn headers_too_large(limit: usize, count: usize) -> Self {
        Self {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            message: format!(
                "Your request headers are too large. The maximum is {count} headers of {limit} \
                 bytes in all."
            ),
            param: None,
            code: Some("headers_too_large"),
        }
    }

    /// 429: the store is at one of its limits; `what` says which (`--max-conversations`, ...).
    pub(crate) fn store_full(what: &str, code: &'static str) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "This reference server holds {what}; new data is refused (delete some first, \
                 or raise the limit)."
            ),
            param: None,
            code: Some(code),
        }
    }

    pub(crate) fn missing_parameter(param: &str) -> Self {
        Self::bad_request(
            format!("Missing required parameter: '{param}'."),
            param,
            "missing_required_parameter",
        )
    }

    pub(crate) fn unknown_parameter(param: &str) -> Self {
        Self::bad_request(
            format!("Unknown parameter: '{param}'."),
            param,
            "unknown_parameter",
        )
    }

    /// `expected` is a phrase such as "a string" or "an object".
    pub(crate) fn invalid_type(param: &str, expected: &str, got: &Value) -> Self {
        Self::invalid_type_word(param, expected, type_word(got))
    }

    pub(crate) fn invalid_type_word(param: &str, expected: &str, got: &str) -> Self {
        Self::bad_request(
            format!("Invalid type for '{param}': expected {expected}, but got {got} instead."),
            param,
            "invalid_type",
        )
    }

    /// `supported` is the list of allowed values, already quoted and joined (see [`one_of`]).
    pub(crate) fn invalid_value(param: &str, value: &str, supported: &str) -> Self {
        Self::bad_request(
            format!("Invalid value: '{value}'. Supported values are: {supported}."),
            param,
            "invalid_value",
        )
    }

    /// An `invalid_value` error with a message of its own.
    pub(crate) fn invalid_value_message(param: &str, message: String) -> Self {
        Self::bad_request(message, param, "invalid_value")
    }

    pub(crate) fn missing_parameter_message(param: &str, message: String) -> Self {
        Self::bad_request(message, param, "missing_required_parameter")
    }

    pub(crate) fn too_many_properties(param: &str, max: usize, got: usize) -> Self {
        Self::bad_request(
            format!(
                "Invalid '{param}': too many properties. Expected an object with at most {max} \
                 properties, but got an object with {got} properties instead."
            ),
            param,
            "object_above_max_properties",
        )
    }

    /// `param` is the whole path of the property (`metadata.<key>`); the message shows `shown`.
    pub(crate) fn property_name_too_long(
        object: &str,
        param: String,
        shown: &str,
        max: usize,
        got: usize,
    ) -> Self {
        Self::bad_request(
            format!(
                "Invalid property name in '{object}': '{shown}' is too long. Expected a string \
                 with maximum length {max}, but got a string with length {got} instead."
            ),
            param,
            "property_name_above_max_length",
        )
    }

    pub(crate) fn string_too_long(param: &str, max: usize, got: usize) -> Self {
        Self::too_long(
            param,
            ("string", "a string"),
            max,
            got,
            "string_above_max_length",
        )
    }

    pub(crate) fn array_too_long(param: &str, max: usize, got: usize) -> Self {
        Self::too_long(
            param,
            ("array", "an array"),
            max,
            got,
            "array_above_max_length",
        )
    }

    /// `kind` is the JSON type's name and how the message says one of them.
    fn too_long(
        param: &str,
        (kind, a_kind): (&str, &str),
        max: usize,
        got: usize,
        code: &'static str,
    ) -> Self {
        Self::bad_request(
            format!(
                "Invalid '{param}': {kind} too long. Expected {a_kind} with maximum length {max}, \
                 but got {a_kind} with length {got} instead."
            ),
            param,
            code,
        )
    }

    pub(crate) fn empty_array(param: &str) -> Self {
        Self::bad_request(
            format!(
                "Invalid '{param}': empty array. Expected an array with minimum length 1, but got \
                 an empty array instead."
            ),
            param,
            "empty_array",
        )
    }

    pub(crate) fn integer_above_max(param: &str, max: i64, got: &str) -> Self {
        let bound = ("above maximum", "less than or equal to");
        Self::integer_out_of_range(param, bound, max, got, "integer_above_max_value")
    }

    pub(crate) fn integer_below_min(param: &str, min: i64, got: &str) -> Self {
        let bound = ("below minimum", "greater than or equal to");
        Self::integer_out_of_range(param, bound, min, got, "integer_below_min_value")
    }

    /// `bound` says which limit `got` is past, and how the message words it.
    fn integer_out_of_range(
        param: &str,
        (past, within): (&str, &str),
        limit: i64,
        got: &str,
        code: &'static str,
    ) -> Self {
        Self::bad_request(
            format!(
                "Invalid '{param}': integer {past} value. Expected a value {within} {limit}, but \
                 got {got} instead."
            ),
            param,
            code,
        )
    }

    /// The JSON body of the answer.
    pub(crate) fn body(&self, deviations: Deviations) -> Vec<u8> {
        let mut error = Map::new();
        error.insert("message".into(), Value::from(self.message.as_str()));
        if !deviations.deviates(Deviation::ErrorsWithoutType) {
            let kind = if self.status.is_server_error() {
                "server_error"
            } else {
                INVALID_REQUEST
            };
            error.insert("type".into(), Value::from(kind));
        }
        if !deviations.deviates(Deviation::ErrorsWithoutParamCode) {
            error.insert("param".into(), Value::from(self.param.as_deref()));
            error.insert("code".into(), Value::from(self.code));
        }
        let value = if deviations.deviates(Deviation::ErrorsAsDetail) {
            serde_json::json!({ "detail": self.message })
        } else if deviations.deviates(Deviation::ErrorsAsString) {
            serde_json::json!({ "error": self.message })
        } else {
            serde_json::json!({ "error": error })
        };
        // Serialising a `Value` built from strings cannot fail.
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

/// The word the live API uses for the JSON type of `value` ("an integer", "a decimal", ...).
pub(crate) fn type_word(value: &Value) -> &'static str {
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

/// `'a'`, `'a' and 'b'`, `'a', 'b', and 'c'`: the live API's way of listing allowed values.
pub(crate) fn one_of(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_words_follow_the_live_api() {
        assert_eq!(type_word(&json!(null)), "null");
        assert_eq!(type_word(&json!(true)), "a boolean");
        assert_eq!(type_word(&json!(3)), "an integer");
        assert_eq!(type_word(&json!(-3)), "an integer");
        assert_eq!(type_word(&json!(1.5)), "a decimal");
        assert_eq!(type_word(&json!("x")), "a string");
        assert_eq!(type_word(&json!([])), "an array");
        assert_eq!(type_word(&json!({})), "an object");
    }

    #[test]
    fn allowed_values_are_listed_in_english() {
        assert_eq!(one_of(&["a"]), "'a'");
        assert_eq!(one_of(&["asc", "desc"]), "'asc' and 'desc'");
        assert_eq!(one_of(&["a", "b", "c"]), "'a', 'b', and 'c'");
    }

    #[test]
    fn the_body_has_all_four_keys() {
        let body = ApiError::conversation_not_found("conv_x").body(Deviations::default());
        let value: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            value,
            json!({"error": {
                "message": "Conversation with id 'conv_x' not found.",
                "type": "invalid_request_error",
                "param": null,
                "code": null
            }})
        );
    }
}
