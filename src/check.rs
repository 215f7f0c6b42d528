//! Checks on one response: the implicit ones every answer gets (no 5xx, JSON content type,
//! the spec's schema, the error object) and the case's own expectations.

use crate::case::{format::JsonType, Matcher};
use crate::spec::{Level, Operation, Spec};
use crate::template::{self, Vars};
use crate::verdict::{Finding, FindingKind};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// What came back, read and (when it is JSON) parsed once.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    /// `None`: empty body; `Some(Err)`: not JSON.
    pub json: Option<Result<Value, String>>,
    /// Put together from a stream's parts (see [`Response::assembled`]).
    pub assembled: bool,
}

impl Response {
    pub fn new(status: u16, headers: reqwest::header::HeaderMap, body: Vec<u8>) -> Self {
        let json = (!body.iter().all(u8::is_ascii_whitespace)).then(|| {
            serde_json::from_slice(&body).map_err(|e| {
                let text = String::from_utf8_lossy(&body);
                format!(
                    "the body is not JSON ({e}): {}",
                    crate::untrusted::excerpt(&text, 200)
                )
            })
        });
        Self {
            status,
            headers,
            body,
            json,
            assembled: false,
        }
    }

    /// Marks a body the harness put together from a stream, whose schema its parts were
    /// checked against: the answer schema is not applied to it again.
    pub fn assembled(self) -> Self {
        Self {
            assembled: true,
            ..self
        }
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    pub fn json_value(&self) -> Option<&Value> {
        self.json.as_ref().and_then(|r| r.as_ref().ok())
    }
}

fn finding(requirement: &str, level: Level, summary: String, details: Vec<String>) -> Finding {
    Finding {
        requirement: Some(requirement.to_string()),
        level,
        kind: FindingKind::Requirement,
        summary,
        details,
        step: None,
        cause: None,
    }
}

/// The checks every answer gets, whatever the case expects, each under the requirement the
/// catalogue says owns it (`owns:`): no 5xx (`check no-5xx`, GEN-05); JSON answers say
/// `application/json` (`check json-content-type`, GEN-01); the response schema of the spec for
/// the operation and status, each error under the owner of the object it lies in (`schema
/// NAME`; `step` when none owns it or the answer is another object altogether); on a 4xx the
/// error object (`check error-envelope`, GEN-02, and `check error-param-code`, GEN-03), and
/// nothing else.
pub fn implicit(
    spec: &Spec,
    operation: Option<&Operation>,
    response: &Response,
    step: (&str, Level),
) -> Vec<Finding> {
    let mut out = Vec::new();
    let owner = |check: &str, fallback: &'static str| -> (String, Level) {
        let id = spec.catalogue.owner("check", check).unwrap_or(fallback);
        (
            id.to_string(),
            spec.catalogue.get(id).map_or(Level::Must, |r| r.level),
        )
    };
    let op_name = operation.map_or("(no operation)", |op| op.id.as_str());
    if response.status >= 500 {
        let (id, level) = owner("no-5xx", "GEN-05");
        out.push(Finding {
            cause: Some(format!("no-5xx {op_name} {}", response.status)),
            ..finding(
                &id,
                level,
                format!(
                    "the server answered {} (a 5xx); no request of the suite may",
                    response.status
                ),
                body_excerpt(response),
            )
        });
    }
    if response.json.is_some() {
        let content_type = response.content_type().unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            let (id, level) = owner("json-content-type", "GEN-01");
            out.push(Finding {
                cause: Some(format!("json-content-type {}", media.to_ascii_lowercase())),
                ..finding(
                    &id,
                    level,
                    format!(
                        "Content-Type is `{content_type}`, expected `application/json` on an answer with a body"
                    ),
                    Vec::new(),
                )
            });
        }
    }
    let is_client_error = (400..500).contains(&response.status);
    if let Some(pointer) =
        answer_schema(spec, operation, response.status).filter(|_| !response.assembled)
    {
        let (root_id, root_level) = if is_client_error {
            owner("error-envelope", "GEN-02")
        } else {
            (step.0.to_string(), step.1)
        };
        let unreadable = |summary: String, what: &str| Finding {
            cause: Some(format!("schema {op_name} {} {what}", response.status)),
            ..finding(&root_id, root_level, summary, Vec::new())
        };
        match &response.json {
            None => out.push(unreadable(
                format!(
                    "the {} answer has no body; the spec declares one",
                    response.status
                ),
                "no body",
            )),
            Some(Err(e)) => out.push(unreadable(
                format!(
                    "the {} answer cannot be checked against the spec: {e}",
                    response.status
                ),
                "not JSON",
            )),
            Some(Ok(body)) => match spec.schema_errors(&pointer, body) {
                Ok(errors) if errors.is_empty() => {}
                Ok(errors) if is_client_error => {
                    out.push(schema_finding(
                        &root_id,
                        root_level,
                        "error-envelope",
                        response.status,
                        &errors,
                        body,
                        None,
                    ));
                }
                Ok(errors) => {
                    // An answer that is another object altogether (its `object` is wrong) is
                    // the operation's fault, not a broken shape of the object it should be.
                    let other_object = errors.iter().any(|e| e.at == "/object");
                    let mut by_owner: Vec<(String, Vec<crate::spec::SchemaError>, Vec<String>)> =
                        Vec::new();
                    for error in errors {
                        let owned = spec.owned_object(&pointer, &error.at);
                        // The owned object is the answer itself: its path is the whole path.
                        let at_root = owned
                            .as_ref()
                            .is_none_or(|o| o.path == normalize(&error.at) || error.at == "/");
                        let (id, key) = match owned {
                            Some(o) if !(other_object && at_root) => {
                                let path = o.path.clone();
                                (o.owner, format!("{} {path} {}", o.component, error.keyword))
                            }
                            _ => (
                                step.0.to_string(),
                                format!("{op_name} {} {}", normalize(&error.at), error.keyword),
                            ),
                        };
                        match by_owner.iter_mut().find(|(owner, _, _)| *owner == id) {
                            Some((_, list, keys)) => {
                                list.push(error);
                                keys.push(key);
                            }
                            None => by_owner.push((id, vec![error], vec![key])),
                        }
                    }
                    for (id, errors, keys) in by_owner {
                        let level = if id == step.0 {
                            step.1
                        } else {
                            spec.catalogue.get(&id).map_or(Level::Must, |r| r.level)
                        };
                        let mut keys = keys;
                        keys.sort();
                        keys.dedup();
                        out.push(schema_finding(
                            &id,
                            level,
                            "schema",
                            response.status,
                            &errors,
                            body,
                            Some(keys.join(", ")),
                        ));
                    }
                }
                Err(e) => out.push(Finding {
                    kind: FindingKind::Target,
                    ..finding(&root_id, Level::Must, e, Vec::new())
                }),
            },
        }
    }
    if is_client_error {
        if let Some(body) = response.json_value() {
            if let Ok(errors) = spec.schema_errors(ERROR_SCHEMA, body) {
                if !errors.is_empty() {
                    let (id, level) = owner("error-param-code", "GEN-03");
                    let mut f = schema_finding(
                        &id,
                        level,
                        "error-param-code",
                        response.status,
                        &errors,
                        body,
                        None,
                    );
                    f.summary = "the error object lacks `param` or `code` (each a string or null) or another field of the official Error".into();
                    out.push(f);
                }
            }
        }
    }
    out
}

/// One finding for schema errors of one owner; its cause is the check, the paths (indices as
/// `*`) and the keywords that failed, so the same broken field is one root cause in any case.
fn schema_finding(
    id: &str,
    level: Level,
    check: &str,
    status: u16,
    errors: &[crate::spec::SchemaError],
    body: &Value,
    key: Option<String>,
) -> Finding {
    let cause = key.unwrap_or_else(|| {
        let mut keys: Vec<String> = errors
            .iter()
            .map(|e| format!("{} {}", normalize(&e.at), e.keyword))
            .collect();
        keys.sort();
        keys.dedup();
        keys.join(", ")
    });
    let first = errors
        .first()
        .map(|e| {
            let branch = e
                .branch
                .as_ref()
                .map(|b| format!(" (closest oneOf branch {b})"))
                .unwrap_or_default();
            format!(": at {}{branch}: {} failed", e.at, e.keyword)
        })
        .unwrap_or_default();
    Finding {
        cause: Some(format!("{check} {cause}")),
        ..finding(
            id,
            level,
            format!(
                "the {status} answer does not match its schema in the spec ({} error{}{first})",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
            errors
                .iter()
                .map(crate::spec::SchemaError::line)
                .chain([format!("body: {}", compact(body, 400))])
                .collect(),
        )
    }
}

/// An instance path with array indices as `*`: `/data/*/status`.
pub fn normalize(at: &str) -> String {
    at.split('/')
        .map(|s| if s.parse::<usize>().is_ok() { "*" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The official error object, checked on every 4xx (GEN-03).
const ERROR_SCHEMA: &str = "#/components/schemas/ErrorResponse";

/// The schema an answer with this status must match: the operation's, or on an unknown path
/// (no operation) the error object for a 4xx.
fn answer_schema(spec: &Spec, operation: Option<&Operation>, status: u16) -> Option<String> {
    let schema = operation.and_then(|op| spec.response_schema(op, status));
    schema.or_else(|| {
        (operation.is_none() && (400..500).contains(&status))
            .then(|| "#/components/schemas/ConformanceErrorResponse".to_string())
    })
}

/// Every schema [`implicit`] checks an answer with this status against.
pub fn schemas(spec: &Spec, operation: Option<&Operation>, status: u16) -> Vec<String> {
    let mut schemas: Vec<String> = answer_schema(spec, operation, status).into_iter().collect();
    if (400..500).contains(&status) {
        schemas.push(ERROR_SCHEMA.to_string());
    }
    schemas
}

fn body_excerpt(response: &Response) -> Vec<String> {
    if response.body.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "body: {}",
        crate::untrusted::excerpt(&String::from_utf8_lossy(&response.body), 400)
    )]
}

/// JSON on one line, cut to `max` characters (secrets redacted before the cut).
pub fn compact(value: &Value, max: usize) -> String {
    crate::untrusted::excerpt(&value.to_string(), max)
}

/// A failed expectation: one line and its details.
pub struct Mismatch {
    pub summary: String,
    pub details: Vec<String>,
}

/// Evaluates one matcher against what is at `subject` (`None` when nothing is there).
pub fn expect(
    what: &str,
    matcher: &Matcher,
    actual: Option<&Value>,
    vars: &Vars,
) -> Result<(), Mismatch> {
    let fail = |summary: String, details: Vec<String>| Err(Mismatch { summary, details });
    let show = |v: Option<&Value>| v.map_or("nothing".to_string(), |v| compact(v, 300));
    let resolved = |v: &Value| {
        template::expand(v, vars).map_err(|e| Mismatch {
            summary: format!("{what}: cannot compute the expected value: {e}"),
            details: Vec::new(),
        })
    };
    if let Some(absent) = matcher.absent {
        match (absent, actual) {
            (true, Some(v)) => {
                return fail(
                    format!("{what}: expected absent, found {}", compact(v, 300)),
                    vec![],
                )
            }
            (false, None) => {
                return fail(format!("{what}: expected present, found nothing"), vec![])
            }
            _ => {}
        }
    }
    let Some(value) = actual else {
        let asks_more = matcher.equals.is_some()
            || matcher.one_of.is_some()
            || matcher.types.is_some()
            || matcher.pattern.is_some()
            || matcher.length.is_some()
            || matcher.contains.is_some()
            || matcher.near_now.is_some();
        return if asks_more {
            fail(format!("{what}: expected a value, found nothing"), vec![])
        } else {
            Ok(())
        };
    };
    if let Some(expected) = &matcher.equals {
        let expected = resolved(expected)?;
        if &expected != value {
            return fail(
                format!(
                    "{what}: expected {}, got {}",
                    compact(&expected, 200),
                    compact(value, 200)
                ),
                diff(&expected, value),
            );
        }
    }
    if let Some(options) = &matcher.one_of {
        let options = options
            .iter()
            .map(resolved)
            .collect::<Result<Vec<_>, _>>()?;
        if !options.contains(value) {
            return fail(
                format!(
                    "{what}: expected one of {}, got {}",
                    compact(&Value::Array(options), 200),
                    show(Some(value))
                ),
                vec![],
            );
        }
    }
    if let Some(types) = &matcher.types {
        if !types.iter().any(|t| has_type(value, *t)) {
            let names: Vec<String> = types
                .iter()
                .map(|t| format!("{t:?}").to_lowercase())
                .collect();
            return fail(
                format!(
                    "{what}: expected type {}, got {} {}",
                    names.join(" or "),
                    type_name(value),
                    compact(value, 200)
                ),
                vec![],
            );
        }
    }
    if let Some(pattern) = &matcher.pattern {
        match value.as_str() {
            Some(s) if pattern.is_match(s) => {}
            _ => {
                return fail(
                    format!(
                        "{what}: expected a string matching /{pattern}/, got {}",
                        compact(value, 200)
                    ),
                    vec![],
                )
            }
        }
    }
    if let Some(length) = matcher.length {
        let actual_len = match value {
            Value::Array(a) => Some(a.len()),
            Value::Object(o) => Some(o.len()),
            Value::String(s) => Some(s.chars().count()),
            _ => None,
        };
        if actual_len != Some(length) {
            return fail(
                format!(
                    "{what}: expected length {length}, got {}",
                    actual_len.map_or_else(
                        || format!("a {} without length", type_name(value)),
                        |l| l.to_string()
                    )
                ),
                vec![],
            );
        }
    }
    if let Some(contained) = &matcher.contains {
        let contained = resolved(contained)?;
        if let Some(missing) = not_contained(&contained, value) {
            return fail(
                format!(
                    "{what}: expected to contain {}, but {missing}",
                    compact(&contained, 200)
                ),
                vec![format!("actual: {}", compact(value, 400))],
            );
        }
    }
    if let Some(tolerance) = matcher.near_now {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()) as i64;
        match value.as_i64() {
            Some(t) if (t - now).unsigned_abs() <= tolerance => {}
            Some(t) => {
                return fail(
                    format!(
                    "{what}: expected unix seconds within {tolerance}s of now ({now}), got {t}{}",
                    if t > now * 100 {
                        " (milliseconds?)"
                    } else {
                        ""
                    }
                ),
                    vec![],
                )
            }
            None => {
                return fail(
                    format!(
                        "{what}: expected an integer of unix seconds, got {}",
                        compact(value, 200)
                    ),
                    vec![],
                )
            }
        }
    }
    Ok(())
}

/// `None` when everything of `expected` is in `actual`; otherwise what is missing.
fn not_contained(expected: &Value, actual: &Value) -> Option<String> {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            want.iter().find_map(|(k, v)| match have.get(k) {
                None => Some(format!("`{k}` is missing")),
                Some(h) if h != v => Some(format!("`{k}` is {}", compact(h, 120))),
                _ => None,
            })
        }
        (Value::Array(want), Value::Array(have)) => want
            .iter()
            .find(|w| !have.contains(w))
            .map(|w| format!("{} is not an element", compact(w, 120))),
        (Value::String(want), Value::String(have)) => {
            (!have.contains(want.as_str())).then(|| "it is not a substring".into())
        }
        (_, actual) => Some(format!("the value is a {}", type_name(actual))),
    }
}

fn has_type(value: &Value, t: JsonType) -> bool {
    match t {
        JsonType::String => value.is_string(),
        JsonType::Integer => value.is_i64() || value.is_u64(),
        JsonType::Number => value.is_number(),
        JsonType::Boolean => value.is_boolean(),
        JsonType::Object => value.is_object(),
        JsonType::Array => value.is_array(),
        JsonType::Null => value.is_null(),
    }
}

pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A line diff of two JSON documents, when they are big enough for one to help.
fn diff(expected: &Value, actual: &Value) -> Vec<String> {
    if !(expected.is_object() || expected.is_array()) || !(actual.is_object() || actual.is_array())
    {
        return Vec::new();
    }
    let (a, b) = (
        serde_json::to_string_pretty(expected).unwrap_or_default(),
        serde_json::to_string_pretty(actual).unwrap_or_default(),
    );
    let mut lines = vec!["diff (- expected, + actual):".to_string()];
    for change in similar::TextDiff::from_lines(&a, &b).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        lines.push(format!("{sign}{}", change.value().trim_end()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matcher(yaml: &str) -> Matcher {
        let spec = crate::spec::Spec::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs"),
        )
        .unwrap();
        let text = format!(
            "requirement: UPD-01\nsteps:\n- operation: createConversation\n  capture: {{c: $}}\n  expect:\n    json:\n      x: {yaml}\n"
        );
        let case = crate::case::load("x", "x.yaml", &text, &spec)
            .remove(0)
            .unwrap();
        case.steps[0].expect.json[0].1.clone()
    }

    fn check(yaml: &str, actual: Option<Value>) -> Result<(), String> {
        let vars = Vars::from([("c".to_string(), json!({"id": "conv_1"}))]);
        expect("x", &matcher(yaml), actual.as_ref(), &vars).map_err(|m| m.summary)
    }

    #[test]
    fn each_matcher_passes_and_fails() {
        assert!(check("{equals: '{{c.id}}'}", Some(json!("conv_1"))).is_ok());
        assert_eq!(
            check("{equals: 1}", Some(json!(2))).unwrap_err(),
            "x: expected 1, got 2"
        );
        assert!(check("{one_of: [1, 2]}", Some(json!(2))).is_ok());
        assert!(check("{one_of: [1, 2]}", Some(json!(3))).is_err());
        assert!(check("{type: [string, null]}", Some(json!(null))).is_ok());
        assert_eq!(
            check("{type: integer}", Some(json!(1.5))).unwrap_err(),
            "x: expected type integer, got number 1.5"
        );
        assert!(check("{pattern: '^conv_'}", Some(json!("conv_1"))).is_ok());
        assert!(check("{pattern: '^conv_'}", Some(json!("c"))).is_err());
        assert!(check("{absent: true}", None).is_ok());
        assert!(check("{absent: true}", Some(json!(null))).is_err());
        assert!(check("{absent: false}", None).is_err());
        assert!(check("{length: 2}", Some(json!("éé"))).is_ok());
        assert!(check("{length: 2}", Some(json!([1]))).is_err());
        assert!(check("{contains: {a: '1'}}", Some(json!({"a": "1", "b": "2"}))).is_ok());
        assert_eq!(
            check("{contains: {a: '1'}}", Some(json!({"b": "2"}))).unwrap_err(),
            "x: expected to contain {\"a\":\"1\"}, but `a` is missing"
        );
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(check("{near_now: 60}", Some(json!(now))).is_ok());
        assert!(check("{near_now: 60}", Some(json!(now * 1000)))
            .unwrap_err()
            .ends_with("(milliseconds?)"));
        assert_eq!(
            check("{type: string}", None).unwrap_err(),
            "x: expected a value, found nothing"
        );
    }

    #[test]
    fn an_equals_mismatch_on_objects_carries_a_diff() {
        let vars = Vars::new();
        let m = matcher("{equals: {a: '1'}}");
        let err = expect("x", &m, Some(&json!({"a": "2"})), &vars).unwrap_err();
        assert!(
            err.details.iter().any(|l| l == "-  \"a\": \"1\""),
            "{:?}",
            err.details
        );
        assert!(
            err.details.iter().any(|l| l == "+  \"a\": \"2\""),
            "{:?}",
            err.details
        );
    }
}
