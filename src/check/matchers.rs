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
pub fn expect<'m>(
    what: &str,
    matcher: &'m Matcher,
    actual: Option<&Value>,
    vars: &Vars,
) -> Result<(), Mismatch> {
    let fail = |summary: String, details: Vec<String>| Err(Mismatch { summary, details });
    let show = |v: Option<&Value>| v.map_or("nothing".to_string(), |v| compact(v, 300));
    let resolved = |v: &'m Value| {
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
            || matcher.near_now.is_some()
            || matcher.vector_near.is_some();
        return if asks_more {
            fail(format!("{what}: expected a value, found nothing"), vec![])
        } else {
            Ok(())
        };
    };
    if let Some(expected) = &matcher.equals {
        let expected = resolved(expected)?;
        if expected.as_ref() != value {
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
            .map(|v| resolved(v).map(std::borrow::Cow::into_owned))
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
    if let Some(near) = &matcher.vector_near {
        let to = resolved(&near.to)?;
        if let Err(summary) = vector_near(value, &to, near.tolerance) {
            return fail(format!("{what}: {summary}"), vec![]);
        }
    }
    Ok(())
}

/// A vector as an embedding answers it: an array of numbers, or a string of base64 (standard
/// alphabet) of little-endian float32s, as `encoding_format: base64` gives it.
fn vector_of(value: &Value) -> Result<(Vec<f64>, &'static str), String> {
    use base64::Engine as _;
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_f64()
                    .ok_or_else(|| format!("value {i} is {}, not a number", compact(v, 60)))
            })
            .collect::<Result<_, _>>()
            .map(|v| (v, "")),
        Value::String(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("is not base64 ({e}): {}", compact(value, 60)))?;
            if bytes.len() % 4 != 0 {
                return Err(format!(
                    "decodes to {} bytes, not a whole number of float32s",
                    bytes.len()
                ));
            }
            let floats = bytes
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            Ok((floats, " (decoded from base64)"))
        }
        other => Err(format!(
            "expected an array of numbers or base64 of float32s, got {} {}",
            type_name(other),
            compact(other, 60)
        )),
    }
}

/// `vector_near`: `actual` has as many values as `to` and each lies within `tolerance` of
/// `to`'s; either side may be an array of numbers or base64 of little-endian float32s.
pub fn vector_near(actual: &Value, to: &Value, tolerance: f64) -> Result<(), String> {
    let (want, _) = vector_of(to).map_err(|e| format!("the vector to compare with {e}"))?;
    let (have, how) = vector_of(actual)?;
    if have.len() != want.len() {
        return Err(format!(
            "expected a vector of {} values, got {}{how}",
            want.len(),
            have.len()
        ));
    }
    let worst = have
        .iter()
        .zip(&want)
        .enumerate()
        .map(|(i, (h, w))| (i, (h - w).abs()))
        .filter(|(_, d)| d.is_nan() || *d > tolerance)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match worst {
        None => Ok(()),
        Some((i, _)) => Err(format!(
            "value {i} is {}{how}, expected {} within {tolerance}",
            have[i], want[i]
        )),
    }
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
        // An object is found in an element that has its pairs (`{id: x}` in a list of models).
        (Value::Array(want), Value::Array(have)) => want
            .iter()
            .find(|w| match w {
                Value::Object(_) => !have.iter().any(|h| not_contained(w, h).is_none()),
                _ => !have.contains(w),
            })
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
        let models = json!([{"id": "a", "n": 1}, {"id": "b", "n": 2}]);
        assert!(check("{contains: [{id: b}]}", Some(models.clone())).is_ok());
        assert!(check("{contains: [{id: b, n: 1}]}", Some(models.clone())).is_err());
        assert!(check("{contains: [{id: c}]}", Some(models)).is_err());
        assert!(check("{contains: [2]}", Some(json!([1, 2]))).is_ok());
        assert!(check("{contains: [3]}", Some(json!([1, 2]))).is_err());
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

    #[test]
    fn vector_near_decodes_base64_and_fails_on_dimension_value_and_form() {
        use base64::Engine as _;
        let b64 = |floats: &[f32]| {
            let bytes: Vec<u8> = floats.iter().flat_map(|f| f.to_le_bytes()).collect();
            json!(base64::engine::general_purpose::STANDARD.encode(bytes))
        };
        let floats = json!([0.25, -0.5, 0.125]);
        // The same vector as base64, and floats within the tolerance, pass.
        assert_eq!(
            vector_near(&b64(&[0.25, -0.5, 0.125]), &floats, 0.01),
            Ok(())
        );
        assert_eq!(
            vector_near(&json!([0.255, -0.5, 0.12]), &floats, 0.01),
            Ok(())
        );
        // Another dimension (float64s read as float32s), a value out of tolerance, not base64,
        // a byte count that is no whole number of float32s, something else altogether: fail.
        let wide: Vec<u8> = [0.25f64, -0.5, 0.125]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let wide = json!(base64::engine::general_purpose::STANDARD.encode(wide));
        assert_eq!(
            vector_near(&wide, &floats, 0.01).unwrap_err(),
            "expected a vector of 3 values, got 6 (decoded from base64)"
        );
        assert_eq!(
            vector_near(&b64(&[0.25, 0.5, 0.125]), &floats, 0.01).unwrap_err(),
            "value 1 is 0.5 (decoded from base64), expected -0.5 within 0.01"
        );
        assert!(vector_near(&json!("not base64!"), &floats, 0.01)
            .unwrap_err()
            .starts_with("is not base64"));
        assert!(vector_near(&json!("AAAAAAA="), &floats, 0.01)
            .unwrap_err()
            .contains("not a whole number of float32s"));
        assert!(vector_near(&json!({"a": 1}), &floats, 0.01).is_err());
        assert!(vector_near(&json!([0.25, null, 0.125]), &floats, 0.01).is_err());
        // Through the case format, with the vector from a variable and a tolerance of its own.
        let vars = Vars::from([("c".to_string(), floats.clone())]);
        let m = matcher("{vector_near: {to: '{{c}}', tolerance: 0.001}}");
        assert!(expect("x", &m, Some(&b64(&[0.25, -0.5, 0.125])), &vars).is_ok());
        let err = expect("x", &m, Some(&json!([0.25, -0.5, 0.13])), &vars).unwrap_err();
        assert_eq!(
            err.summary,
            "x: value 2 is 0.13, expected 0.125 within 0.001"
        );
        assert!(expect("x", &m, None, &vars).is_err());
    }
}
