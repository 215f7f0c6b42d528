//! The matchers of `expect.json` and `expect.headers`: `equals`, `one_of`, `type`, `pattern`,
//! `absent`, `length`, `contains`, `near_now`.

use crate::case::{format::JsonType, Matcher};
use crate::template::{self, Vars};
use crate::untrusted::compact;
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

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
