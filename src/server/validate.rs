//! Validation of request bodies and query strings, with the live API's error texts.

use serde_json::{Map, Value};

use super::deviation::{Deviation, Deviations};
use super::error::{one_of, ApiError};

/// At most this many metadata pairs.
pub(crate) const MAX_METADATA_PAIRS: usize = 16;
/// Metadata keys have at most this many characters (Unicode scalar values, not bytes).
pub(crate) const MAX_METADATA_KEY_CHARS: usize = 64;
/// Metadata values have at most this many characters (Unicode scalar values, not bytes).
pub(crate) const MAX_METADATA_VALUE_CHARS: usize = 512;
/// Items per create call.
pub(crate) const MAX_ITEMS_PER_CALL: usize = 20;
/// Default and bounds of `limit` when listing items.
pub(crate) const DEFAULT_LIMIT: usize = 20;
const MIN_LIMIT: i64 = 1;
const MAX_LIMIT: i64 = 100;

/// The values `include` may take (the spec's `IncludeEnum`).
pub(crate) const INCLUDE_VALUES: &[&str] = &[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
];

/// Parses a request body that must be a JSON object. An empty (or all-whitespace) body is
/// `None`; anything that is not a JSON object answers the live API's "could not parse" error.
pub(crate) fn object_body(
    body: &[u8],
    deviations: Deviations,
) -> Result<Option<Map<String, Value>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        _ if deviations.deviates(Deviation::InvalidJson500) => Err(ApiError::server_error()),
        _ => Err(ApiError::unparsable_json()),
    }
}

/// Rejects the first field of `body` that is not in `allowed`.
pub(crate) fn known_fields(
    body: &Map<String, Value>,
    allowed: &[&str],
    deviations: Deviations,
) -> Result<(), ApiError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(_) if deviations.deviates(Deviation::UnknownFieldsIgnored) => Ok(()),
        Some(unknown) => Err(ApiError::unknown_parameter(unknown)),
        None => Ok(()),
    }
}

/// Validates a `metadata` value and returns the pairs to store (`null` is no pairs).
///
/// Checks run in this order, each over all pairs in the order sent: the type of `metadata`,
/// the number of pairs, every key's length, every value's type, every value's length.
pub(crate) fn metadata(
    value: Value,
    deviations: Deviations,
) -> Result<Map<String, Value>, ApiError> {
    let map = match value {
        Value::Null => return Ok(Map::new()),
        Value::Object(map) => map,
        other => return Err(ApiError::invalid_type("metadata", "an object", &other)),
    };
    let limited = !deviations.deviates(Deviation::MetadataLimitsNotEnforced);
    let length = |text: &str| {
        if deviations.deviates(Deviation::LimitsCountBytes) {
            text.len()
        } else {
            text.chars().count()
        }
    };
    if limited && map.len() > MAX_METADATA_PAIRS {
        return Err(ApiError::too_many_properties(
            "metadata",
            MAX_METADATA_PAIRS,
            map.len(),
        ));
    }
    for key in map.keys() {
        let chars = length(key);
        if limited && chars > MAX_METADATA_KEY_CHARS {
            return Err(ApiError::property_name_too_long(
                "metadata",
                format!("metadata.{key}"),
                &abbreviate(key),
                MAX_METADATA_KEY_CHARS,
                chars,
            ));
        }
    }
    for (key, value) in &map {
        if !value.is_string() && !deviations.deviates(Deviation::NonStringValuesAccepted) {
            return Err(ApiError::invalid_type(
                &format!("metadata.{key}"),
                "a string",
                value,
            ));
        }
    }
    for (key, value) in &map {
        let chars = value.as_str().map_or(0, length);
        if limited && chars > MAX_METADATA_VALUE_CHARS {
            return Err(ApiError::string_too_long(
                &format!("metadata.{key}"),
                MAX_METADATA_VALUE_CHARS,
                chars,
            ));
        }
    }
    if deviations.deviates(Deviation::LongValuesTruncated) {
        let cut = map.into_iter().map(|(key, value)| match value {
            Value::String(text) => (key, Value::from(text.chars().take(256).collect::<String>())),
            other => (key, other),
        });
        return Ok(cut.collect());
    }
    if deviations.deviates(Deviation::MetadataValuesTrimmed) {
        let trimmed = map.into_iter().map(|(key, value)| match value {
            Value::String(text) => (key, Value::from(text.trim())),
            other => (key, other),
        });
        return Ok(trimmed.collect());
    }
    Ok(map)
}

/// `body[name]` as a number (an integer where `integer` says so) and as it was sent; `None`
/// when absent or null; the `invalid_type` error naming it when it is no such number.
pub(crate) fn number<'b>(
    body: &'b Map<String, Value>,
    name: &str,
    integer: bool,
) -> Result<Option<(f64, &'b Value)>, ApiError> {
    let Some(value) = body.get(name).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let number = value
        .as_f64()
        .filter(|_| !integer || value.is_i64() || value.is_u64())
        .ok_or_else(|| {
            let expected = if integer { "an integer" } else { "a number" };
            ApiError::invalid_type(name, expected, value)
        })?;
    Ok(Some((number, value)))
}

/// How a too-long key is shown in a message: its first 12 and last 4 characters around `...`.
/// The error's `param` carries the whole key.
pub(crate) fn abbreviate(key: &str) -> String {
    const HEAD: usize = 12;
    const TAIL: usize = 4;
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= HEAD + TAIL + 3 {
        return key.to_owned();
    }
    let head: String = chars[..HEAD].iter().collect();
    let tail: String = chars[chars.len() - TAIL..].iter().collect();
    format!("{head}...{tail}")
}

/// Decoded `(name, value)` pairs of a query string, in order. `+` is a space, `%XX` a byte;
/// bytes that do not form UTF-8 become U+FFFD. A pair without `=` has an empty value.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The segments of `path` below `prefix` (none for `prefix` itself), still percent-encoded;
/// `None` for a path outside `prefix` or with an empty segment (`//`, a trailing `/`).
pub(crate) fn segments<'p>(path: &'p str, prefix: &str) -> Option<Vec<&'p str>> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let segments: Vec<&str> = rest.strip_prefix('/')?.split('/').collect();
    (!segments.iter().any(|s| s.is_empty())).then_some(segments)
}

/// Decodes `%XX` escapes (and, in query strings, `+` as a space). Malformed escapes stay as
/// they are.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let text = if plus_is_space {
        std::borrow::Cow::Owned(text.replace('+', " "))
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    percent_encoding::percent_decode_str(&text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The query parameters an endpoint accepts, validated.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) limit: Option<usize>,
    pub(crate) descending: Option<bool>,
    pub(crate) after: Option<String>,
    pub(crate) include: Vec<String>,
}

/// Which query parameters an endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepts {
    /// No query parameter at all.
    Nothing,
    /// `include` only (create items, retrieve item).
    Include,
    /// `limit`, `order`, `after`, `include` (list items).
    List,
}

/// Validates a query string for an endpoint. An unknown parameter answers `unknown_parameter`;
/// `include` is accepted as `include=v` and `include[]=v`, repeatable; for the other parameters
/// the last occurrence counts. An empty `after=` is the same as no `after`.
pub(crate) fn query(
    raw: Option<&str>,
    accepts: Accepts,
    deviations: Deviations,
) -> Result<Query, ApiError> {
    let pairs = query_pairs(raw);
    let allowed: &[&str] = match accepts {
        Accepts::Nothing => &[],
        Accepts::Include => &["include", "include[]"],
        Accepts::List => &["limit", "order", "after", "include", "include[]"],
    };
    let brackets_rejected = deviations.deviates(Deviation::IncludeBracketsRejected);
    if let Some((name, _)) = pairs
        .iter()
        .find(|(n, _)| !allowed.contains(&n.as_str()) || (brackets_rejected && n == "include[]"))
    {
        return Err(ApiError::unknown_parameter(name));
    }
    let mut query = Query::default();
    for (name, value) in pairs {
        match name.as_str() {
            "limit" => query.limit = Some(limit(&value, deviations)?),
            "order" => {
                query.descending = Some(match value.as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => {
                        return Err(ApiError::invalid_value(
                            "order",
                            &value,
                            &one_of(&["asc", "desc"]),
                        ))
                    }
                })
            }
            "after" => query.after = Some(value).filter(|v| !v.is_empty()),
            _ => {
                if !INCLUDE_VALUES.contains(&value.as_str()) {
                    return Err(ApiError::invalid_value(
                        "include",
                        &value,
                        &one_of(INCLUDE_VALUES),
                    ));
                }
                query.include.push(value);
            }
        }
    }
    Ok(query)
}

/// `limit`: an integer in 1..=100.
fn limit(value: &str, deviations: Deviations) -> Result<usize, ApiError> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    let is_integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !is_integer {
        let got = match value.parse::<f64>() {
            Ok(v) if v.is_finite() => "a decimal",
            _ => "a string",
        };
        return Err(ApiError::invalid_type_word("limit", "an integer", got));
    }
    let negative = value.starts_with('-');
    match value.parse::<i64>() {
        Ok(n) if deviations.deviates(Deviation::LimitNotChecked) => {
            Ok(usize::try_from(n.clamp(MIN_LIMIT, MAX_LIMIT)).unwrap_or(DEFAULT_LIMIT))
        }
        Ok(n) if n > MAX_LIMIT => Err(ApiError::integer_above_max("limit", MAX_LIMIT, value)),
        Ok(n) if n < MIN_LIMIT => Err(ApiError::integer_below_min("limit", MIN_LIMIT, value)),
        // In range, so 1..=100 fits any usize.
        Ok(n) => Ok(usize::try_from(n).unwrap_or(DEFAULT_LIMIT)),
        // Too many digits for an i64: far outside the range either way.
        Err(_) if negative => Err(ApiError::integer_below_min("limit", MIN_LIMIT, value)),
        Err(_) => Err(ApiError::integer_above_max("limit", MAX_LIMIT, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(value: Value) -> Result<Map<String, Value>, ApiError> {
        super::metadata(value, Deviations::default())
    }

    fn query(raw: Option<&str>, accepts: Accepts) -> Result<Query, ApiError> {
        super::query(raw, accepts, Deviations::default())
    }

    fn object_body(body: &[u8]) -> Result<Option<Map<String, Value>>, ApiError> {
        super::object_body(body, Deviations::default())
    }

    fn code(result: Result<impl std::fmt::Debug, ApiError>) -> (Option<String>, &'static str) {
        let err = result.expect_err("should be rejected");
        (err.param, err.code.unwrap_or("null"))
    }

    #[test]
    fn segments_below_a_prefix_and_nothing_else() {
        assert_eq!(segments("/v1/models", "/v1/models"), Some(vec![]));
        assert_eq!(
            segments("/v1/models/m%2F1", "/v1/models"),
            Some(vec!["m%2F1"])
        );
        assert_eq!(
            segments("/v1/models/a/b", "/v1/models"),
            Some(vec!["a", "b"])
        );
        for outside in ["/v1/modelsx", "/v1/models/", "/v1/models//a", "/v1/other"] {
            assert_eq!(segments(outside, "/v1/models"), None, "{outside}");
        }
    }

    #[test]
    fn bodies_must_be_objects() {
        assert_eq!(object_body(b"").expect("empty"), None);
        assert_eq!(object_body(b" \n").expect("blank"), None);
        assert!(object_body(b"{}").expect("object").is_some());
        for bad in [
            &b"[]"[..],
            b"null",
            b"42",
            b"\"x\"",
            b"{",
            b"{} {}",
            b"\xff",
        ] {
            assert_eq!(
                object_body(bad).expect_err("rejected"),
                ApiError::unparsable_json()
            );
        }
    }

    #[test]
    fn deep_nesting_is_a_parse_error_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            object_body(deep.as_bytes()).expect_err("rejected"),
            ApiError::unparsable_json()
        );
    }

    #[test]
    fn metadata_null_is_empty_and_pairs_are_kept_in_order() {
        assert!(metadata(Value::Null).expect("null").is_empty());
        let map = metadata(json!({"b": "1", "a": "2"})).expect("valid");
        assert_eq!(map.keys().collect::<Vec<_>>(), ["b", "a"]);
    }

    #[test]
    fn metadata_limits_count_characters() {
        let mut pairs = Map::new();
        for i in 0..16 {
            pairs.insert(format!("k{i}"), json!("v"));
        }
        pairs.insert("é".repeat(64), json!("é".repeat(512)));
        pairs.remove("k0");
        assert!(metadata(Value::Object(pairs)).is_ok());
    }

    #[test]
    fn metadata_errors_carry_code_and_param() {
        assert_eq!(
            code(metadata(json!("x"))),
            (Some("metadata".into()), "invalid_type")
        );
        assert_eq!(
            code(metadata(json!([]))),
            (Some("metadata".into()), "invalid_type")
        );
        let many: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
        let err = metadata(Value::Object(many)).expect_err("17 pairs");
        assert_eq!(err.code, Some("object_above_max_properties"));
        assert_eq!(
            err.message,
            "Invalid 'metadata': too many properties. Expected an object with at most 16 \
             properties, but got an object with 17 properties instead."
        );
        let key = "k".repeat(65);
        let err = metadata(json!({ key.clone(): "v" })).expect_err("long key");
        assert_eq!(err.code, Some("property_name_above_max_length"));
        assert_eq!(
            err.param.as_deref(),
            Some(format!("metadata.{key}").as_str())
        );
        assert_eq!(
            err.message,
            "Invalid property name in 'metadata': 'kkkkkkkkkkkk...kkkk' is too long. Expected a \
             string with maximum length 64, but got a string with length 65 instead."
        );
        let err = metadata(json!({"a": "v".repeat(513)})).expect_err("long value");
        assert_eq!(err.code, Some("string_above_max_length"));
        assert_eq!(err.param.as_deref(), Some("metadata.a"));
        assert_eq!(
            err.message,
            "Invalid 'metadata.a': string too long. Expected a string with maximum length 512, \
             but got a string with length 513 instead."
        );
        for (value, word) in [
            (json!(1), "an integer"),
            (json!(1.5), "a decimal"),
            (json!(true), "a boolean"),
            (json!({}), "an object"),
            (json!([]), "an array"),
            (json!(null), "null"),
        ] {
            let err = metadata(json!({ "a": value })).expect_err("non-string");
            assert_eq!(err.code, Some("invalid_type"));
            assert_eq!(err.param.as_deref(), Some("metadata.a"));
            assert_eq!(
                err.message,
                format!(
                    "Invalid type for 'metadata.a': expected a string, but got {word} instead."
                )
            );
        }
    }

    #[test]
    fn key_length_is_checked_before_value_types() {
        let err = metadata(json!({"a": 1, "k".repeat(65): "v"})).expect_err("rejected");
        assert_eq!(err.code, Some("property_name_above_max_length"));
    }

    #[test]
    fn short_keys_are_not_abbreviated() {
        assert_eq!(abbreviate("short"), "short");
        assert_eq!(abbreviate(&"ab".repeat(40)), "abababababab...abab");
    }

    #[test]
    fn query_strings_are_decoded() {
        assert_eq!(
            query_pairs(Some("a=1&include%5B%5D=x+y&b&&c=%zz%41")),
            vec![
                ("a".into(), "1".into()),
                ("include[]".into(), "x y".into()),
                ("b".into(), String::new()),
                ("c".into(), "%zzA".into()),
            ]
        );
        assert!(query_pairs(None).is_empty());
        assert_eq!(percent_decode("%ff", false), "\u{fffd}");
        assert_eq!(percent_decode("a+b", false), "a+b");
    }

    #[test]
    fn list_query_is_validated() {
        let q = query(
            Some("limit=5&order=asc&after=msg_1&include=message.output_text.logprobs&include[]=reasoning.encrypted_content"),
            Accepts::List,
        )
        .expect("valid");
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.descending, Some(false));
        assert_eq!(q.after.as_deref(), Some("msg_1"));
        assert_eq!(q.include.len(), 2);
        assert_eq!(
            query(Some("after="), Accepts::List).expect("ok").after,
            None
        );
    }

    #[test]
    fn limit_errors_follow_the_live_api() {
        let err = query(Some("limit=101"), Accepts::List).expect_err("101");
        assert_eq!(err.code, Some("integer_above_max_value"));
        assert_eq!(
            err.message,
            "Invalid 'limit': integer above maximum value. Expected a value less than or equal to \
             100, but got 101 instead."
        );
        let err = query(Some("limit=0"), Accepts::List).expect_err("0");
        assert_eq!(err.code, Some("integer_below_min_value"));
        assert_eq!(
            code(query(Some("limit=-99999999999999999999999"), Accepts::List)),
            (Some("limit".into()), "integer_below_min_value")
        );
        assert_eq!(
            code(query(Some("limit=99999999999999999999999"), Accepts::List)),
            (Some("limit".into()), "integer_above_max_value")
        );
        let err = query(Some("limit=abc"), Accepts::List).expect_err("abc");
        assert_eq!(
            err.message,
            "Invalid type for 'limit': expected an integer, but got a string instead."
        );
        let err = query(Some("limit=2.5"), Accepts::List).expect_err("2.5");
        assert_eq!(
            err.message,
            "Invalid type for 'limit': expected an integer, but got a decimal instead."
        );
        assert_eq!(
            code(query(Some("limit="), Accepts::List)),
            (Some("limit".into()), "invalid_type")
        );
        assert_eq!(
            query(Some("limit=1"), Accepts::List).expect("1").limit,
            Some(1)
        );
        assert_eq!(
            query(Some("limit=100"), Accepts::List).expect("100").limit,
            Some(100)
        );
    }

    #[test]
    fn order_include_and_unknown_parameters_are_rejected() {
        let err = query(Some("order=up"), Accepts::List).expect_err("order");
        assert_eq!(
            err.message,
            "Invalid value: 'up'. Supported values are: 'asc' and 'desc'."
        );
        assert_eq!(err.code, Some("invalid_value"));
        assert_eq!(
            code(query(Some("include[]=nope"), Accepts::Include)),
            (Some("include".into()), "invalid_value")
        );
        assert_eq!(
            code(query(Some("limit=5"), Accepts::Include)),
            (Some("limit".into()), "unknown_parameter")
        );
        assert_eq!(
            code(query(Some("x=1"), Accepts::Nothing)),
            (Some("x".into()), "unknown_parameter")
        );
        assert!(query(Some(""), Accepts::Nothing).is_ok());
    }
}
