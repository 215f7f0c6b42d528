//! Values in case files may use variables and generators.
//!
//! - `{{name}}` or `{{name.path[0]}}`: a variable (a parameter of the row, or a value captured
//!   by an earlier step) and an optional selector into it. A string that is exactly one
//!   `{{...}}` becomes the variable's JSON value (a number stays a number); inside a longer
//!   string the value is interpolated as text.
//! - Generators, objects with one `$`-key, build large values without writing them out:
//!   `{$string: {repeat: "é", count: 512}}`, `{$array: {count: 21, item: ...}}` and
//!   `{$object: {count: 17, key: "k{{index}}", value: ...}}` (`key` may itself be a `$string`).
//!   Inside `item`, `key` and `value` the variable `index` counts from 0.

use crate::selector::{Selector, SelectorError};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

pub type Vars = BTreeMap<String, Value>;

/// Why a value's variables or generators do not check or expand.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `{{{{` in `{text}`")]
    Unclosed { text: String },
    #[error("`{{{{{expr}}}}}` names no variable")]
    NoName { expr: String },
    #[error(transparent)]
    Selector(#[from] SelectorError),
    #[error("undefined variable `{name}` in `{text}` ({})", defined_here(known))]
    Undefined {
        name: String,
        text: String,
        known: Vec<String>,
    },
    #[error("`{kind}` takes a mapping of {}", fields.join(", "))]
    NotMapping {
        kind: &'static str,
        fields: &'static [&'static str],
    },
    #[error("`{kind}` needs `{field}`")]
    MissingField {
        kind: &'static str,
        field: &'static str,
    },
    #[error("`{kind}` has unknown field `{field}` (expected {})", fields.join(", "))]
    UnknownField {
        kind: &'static str,
        field: String,
        fields: &'static [&'static str],
    },
    #[error("variable `{name}` has no value (its capture did not run)")]
    NoValue { name: String },
    #[error("`{{{{{expr}}}}}`: `{name}` has nothing at `{selector}`")]
    NothingAt {
        expr: String,
        name: String,
        selector: Selector,
    },
    #[error("`{kind}.count` must be a whole number up to {MAX_GENERATED}")]
    Count { kind: &'static str },
    #[error("`{what}` must make a string, not {got}")]
    NotString { what: &'static str, got: Value },
    #[error(
        "the generators of this value make more than {} MiB together: make the counts smaller",
        MAX_GENERATED_TOTAL >> 20
    )]
    TooLarge,
}

/// The hint of [`TemplateError::Undefined`]: the variables defined where the text is.
fn defined_here(known: &[String]) -> String {
    if known.is_empty() {
        "no variable is defined here: capture one in an earlier step".to_string()
    } else {
        format!("defined here: {}", known.join(", "))
    }
}

/// The largest count a generator takes; keeps a typo from eating the machine.
const MAX_GENERATED: u64 = 100_000;
/// The most bytes the generators of one value make together: nested generators multiply their
/// counts, and an item may copy a large variable. Large enough for a 20 MB body (a hostile-input
/// case), small enough that a typo costs megabytes, not the machine.
const MAX_GENERATED_TOTAL: u64 = 64 << 20;
/// What one generated element (array item, object entry, scalar) costs against that budget:
/// about its size in memory, so that a bomb of small elements is stopped as early as one of text.
const ELEMENT_COST: u64 = 32;

/// Checks a value before anything runs: every variable is known and every generator is
/// well-formed. `known` holds the variables defined at this point of the case.
pub fn check(value: &Value, known: &BTreeSet<String>) -> Result<(), TemplateError> {
    match value {
        Value::String(s) => check_str(s, known),
        Value::Array(items) => items.iter().try_for_each(|v| check(v, known)),
        Value::Object(map) => match generator(map) {
            Some((kind, spec)) => {
                let mut inner = known.clone();
                inner.insert("index".into());
                let fields: &'static [&'static str] = match kind {
                    "$string" => &["repeat", "count"],
                    "$array" => &["count", "item"],
                    _ => &["count", "key", "value"],
                };
                let spec = spec
                    .as_object()
                    .ok_or(TemplateError::NotMapping { kind, fields })?;
                if let Some(field) = fields.iter().find(|f| !spec.contains_key(**f)) {
                    return Err(TemplateError::MissingField { kind, field });
                }
                if let Some(extra) = spec.keys().find(|k| !fields.contains(&k.as_str())) {
                    return Err(TemplateError::UnknownField {
                        kind,
                        field: extra.clone(),
                        fields,
                    });
                }
                spec.iter().try_for_each(|(_, v)| check(v, &inner))
            }
            None => map.iter().try_for_each(|(k, v)| {
                check_str(k, known)?;
                check(v, known)
            }),
        },
        _ => Ok(()),
    }
}

/// Checks the variables of one string.
pub fn check_str(text: &str, known: &BTreeSet<String>) -> Result<(), TemplateError> {
    for expr in expressions(text)? {
        let (name, selector) = split_expr(expr)?;
        if !known.contains(name) {
            return Err(TemplateError::Undefined {
                name: name.to_string(),
                text: text.to_string(),
                known: known.iter().cloned().collect(),
            });
        }
        let _ = selector;
    }
    Ok(())
}

/// Expands variables and generators; a value with neither (most bodies and expected values)
/// is answered as it is, not copied.
pub fn expand<'v>(value: &'v Value, vars: &Vars) -> Result<Cow<'v, Value>, TemplateError> {
    if is_literal(value) {
        return Ok(Cow::Borrowed(value));
    }
    let mut budget = MAX_GENERATED_TOTAL;
    expand_within(value, vars, &mut budget).map(Cow::Owned)
}

/// No variable (nor an unclosed `{{`) and no generator anywhere in it.
fn is_literal(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.contains("{{"),
        Value::Array(items) => items.iter().all(is_literal),
        Value::Object(map) => {
            generator(map).is_none() && map.iter().all(|(k, v)| !k.contains("{{") && is_literal(v))
        }
        _ => true,
    }
}

/// [`expand`], with `budget` the characters and elements generators may still make.
fn expand_within(value: &Value, vars: &Vars, budget: &mut u64) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) => expand_str_value(s, vars)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| expand_within(v, vars, budget))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => match generator(map) {
            Some((kind, spec)) => generate(kind, spec, vars, budget)?,
            None => {
                let mut out = Map::new();
                for (k, v) in map {
                    out.insert(expand_str(k, vars)?, expand_within(v, vars, budget)?);
                }
                Value::Object(out)
            }
        },
        other => other.clone(),
    })
}

/// Expands a string into a string (JSON values are written as JSON, strings as they are).
pub fn expand_str(text: &str, vars: &Vars) -> Result<String, TemplateError> {
    Ok(match expand_str_value(text, vars)? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

fn expand_str_value(text: &str, vars: &Vars) -> Result<Value, TemplateError> {
    let exprs = expressions(text)?;
    if exprs.is_empty() {
        return Ok(Value::String(text.to_string()));
    }
    let whole = text.trim();
    if exprs.len() == 1 && whole.starts_with("{{") && whole.ends_with("}}") {
        return lookup(exprs[0], vars);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .map(|e| start + e)
            .unwrap_or(rest.len());
        match lookup(&rest[start + 2..end], vars)? {
            Value::String(s) => out.push_str(&s),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[(end + 2).min(rest.len())..];
    }
    out.push_str(rest);
    Ok(Value::String(out))
}

fn lookup(expr: &str, vars: &Vars) -> Result<Value, TemplateError> {
    let (name, selector) = split_expr(expr)?;
    let root = vars.get(name).ok_or_else(|| TemplateError::NoValue {
        name: name.to_string(),
    })?;
    selector
        .find(root)
        .cloned()
        .ok_or_else(|| TemplateError::NothingAt {
            expr: expr.trim().to_string(),
            name: name.to_string(),
            selector: selector.clone(),
        })
}

/// The variables a value refers to, each with the selector into it: `{{p2.data[9].id}}` is
/// `p2` at `$.data[9].id`. What does not parse is left out (loading refused it already).
pub fn references(value: &Value) -> Vec<(String, Selector)> {
    let of_text = |text: &str| -> Vec<(String, Selector)> {
        expressions(text)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|expr| split_expr(expr).ok())
            .map(|(name, selector)| (name.to_string(), selector))
            .collect()
    };
    match value {
        Value::String(text) => of_text(text),
        Value::Array(items) => items.iter().flat_map(references).collect(),
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, value)| of_text(key).into_iter().chain(references(value)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The `{{...}}` expressions of a string, trimmed.
fn expressions(text: &str) -> Result<Vec<&str>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            return Err(TemplateError::Unclosed {
                text: text.to_string(),
            });
        };
        out.push(rest[start + 2..start + 2 + len].trim());
        rest = &rest[start + 2 + len + 2..];
    }
    Ok(out)
}

fn split_expr(expr: &str) -> Result<(&str, Selector), TemplateError> {
    let cut = expr.find(['.', '[']).unwrap_or(expr.len());
    let (name, path) = expr.split_at(cut);
    if name.is_empty() {
        return Err(TemplateError::NoName {
            expr: expr.to_string(),
        });
    }
    let selector = if path.is_empty() {
        Selector::root()
    } else {
        Selector::parse(&format!("${path}"))?
    };
    Ok((name, selector))
}

fn generator(map: &Map<String, Value>) -> Option<(&'static str, &Value)> {
    if map.len() != 1 {
        return None;
    }
    let (key, spec) = map.iter().next()?;
    let kind = ["$string", "$array", "$object"]
        .into_iter()
        .find(|k| k == key)?;
    Some((kind, spec))
}

fn generate(
    kind: &'static str,
    spec: &Value,
    vars: &Vars,
    budget: &mut u64,
) -> Result<Value, TemplateError> {
    let count = expand_within(&spec["count"], vars, budget)?
        .as_u64()
        .filter(|n| *n <= MAX_GENERATED)
        .ok_or(TemplateError::Count { kind })?;
    let mut indexed = vars.clone();
    Ok(match kind {
        "$string" => {
            let unit = match expand_within(&spec["repeat"], vars, budget)? {
                Value::String(unit) => unit,
                scalar @ (Value::Number(_) | Value::Bool(_)) => scalar.to_string(),
                got => {
                    return Err(TemplateError::NotString {
                        what: "$string.repeat",
                        got,
                    })
                }
            };
            spend(budget, count.saturating_mul(unit.len() as u64))?;
            Value::String(unit.repeat(count as usize))
        }
        "$array" => {
            spend(budget, count.saturating_mul(ELEMENT_COST))?;
            let mut items = Vec::new();
            for i in 0..count {
                indexed.insert("index".into(), Value::from(i));
                let item = expand_within(&spec["item"], &indexed, budget)?;
                // The item may hold a large variable: what is copied counts too.
                spend(budget, weight(&item))?;
                items.push(item);
            }
            Value::Array(items)
        }
        _ => {
            spend(budget, count.saturating_mul(ELEMENT_COST))?;
            let mut out = Map::new();
            for i in 0..count {
                indexed.insert("index".into(), Value::from(i));
                let key = match expand_within(&spec["key"], &indexed, budget)? {
                    Value::String(key) => key,
                    got => {
                        return Err(TemplateError::NotString {
                            what: "$object.key",
                            got,
                        })
                    }
                };
                let value = expand_within(&spec["value"], &indexed, budget)?;
                spend(budget, key.len() as u64 + weight(&value))?;
                out.insert(key, value);
            }
            Value::Object(out)
        }
    })
}

/// The size of a value: bytes of text, [`ELEMENT_COST`] per element.
fn weight(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.len() as u64,
        Value::Array(items) => items.iter().map(weight).sum::<u64>() + ELEMENT_COST,
        Value::Object(map) => {
            map.iter()
                .map(|(k, v)| k.len() as u64 + weight(v))
                .sum::<u64>()
                + ELEMENT_COST
        }
        _ => ELEMENT_COST,
    }
}

/// Takes `cost` characters or elements from what the generators of one value may still make.
fn spend(budget: &mut u64, cost: u64) -> Result<(), TemplateError> {
    *budget = budget.checked_sub(cost).ok_or(TemplateError::TooLarge)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        Vars::from([
            ("conv".into(), json!({"id": "conv_1", "created_at": 7})),
            ("value".into(), json!(42)),
        ])
    }

    #[test]
    fn a_whole_string_variable_keeps_its_json_type() {
        assert_eq!(
            expand(&json!("{{ conv.created_at }}"), &vars())
                .unwrap()
                .into_owned(),
            json!(7)
        );
        assert_eq!(
            expand(&json!({"v": "{{value}}"}), &vars())
                .unwrap()
                .into_owned(),
            json!({"v": 42})
        );
        assert_eq!(
            expand(&json!("/conversations/{{conv.id}}/items"), &vars())
                .unwrap()
                .into_owned(),
            json!("/conversations/conv_1/items")
        );
    }

    #[test]
    fn a_value_without_variables_or_generators_is_not_copied_and_an_unclosed_one_fails() {
        let literal = json!({"metadata": {"topic": "demo"}, "n": [1, "two"]});
        assert!(matches!(expand(&literal, &vars()), Ok(Cow::Borrowed(_))));
        assert!(expand(&json!({"a": ["{{value"]}), &vars()).is_err());
        let keyed = json!({"k{{value}}": 1});
        assert_eq!(
            expand(&keyed, &vars()).unwrap().into_owned(),
            json!({"k42": 1})
        );
    }

    #[test]
    fn generators_build_strings_arrays_and_objects() {
        let v = expand(&json!({"$string": {"repeat": "é", "count": 3}}), &vars())
            .unwrap()
            .into_owned();
        assert_eq!(v, json!("ééé"));
        let v = expand(
            &json!({"$object": {"count": 2, "key": "k{{index}}", "value": "v"}}),
            &vars(),
        )
        .unwrap()
        .into_owned();
        assert_eq!(v, json!({"k0": "v", "k1": "v"}));
        let v = expand(
            &json!({"$array": {"count": 2, "item": {"n": "{{index}}"}}}),
            &vars(),
        )
        .unwrap()
        .into_owned();
        assert_eq!(v, json!([{"n": 0}, {"n": 1}]));
    }

    #[test]
    fn check_reports_undefined_variables_and_bad_generators() {
        let known = BTreeSet::from(["conv".to_string()]);
        let err = check(&json!({"a": "{{conv2.id}}"}), &known).unwrap_err();
        assert_eq!(
            err.to_string(),
            "undefined variable `conv2` in `{{conv2.id}}` (defined here: conv)"
        );
        let err = check(&json!("{{conv2}}"), &BTreeSet::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "undefined variable `conv2` in `{{conv2}}` (no variable is defined here: capture \
             one in an earlier step)"
        );
        let err = check(&json!({"$array": {"count": 2}}), &known).unwrap_err();
        assert_eq!(err.to_string(), "`$array` needs `item`");
        let err = check(&json!({"$array": {"count": 2, "item": 1, "x": 1}}), &known).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`$array` has unknown field `x` (expected count, item)"
        );
        let err = check(&json!({"$object": 3}), &known).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`$object` takes a mapping of count, key, value"
        );
        let err = check(&json!("{{conv.data[}}"), &known).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad selector `$.data[`: expected an index, a quoted key or * after `[` at column 8"
        );
        let err = check(&json!("{{ .id}}"), &known).unwrap_err();
        assert_eq!(err.to_string(), "`{{.id}}` names no variable");
        let err = check(&json!("{{conv"), &known).unwrap_err();
        assert_eq!(err.to_string(), "unclosed `{{` in `{{conv`");
        assert!(check(
            &json!({"$array": {"count": 2, "item": "{{index}}"}}),
            &known
        )
        .is_ok());
        assert!(check(&json!("{{index}}"), &known).is_err());
    }

    #[test]
    fn nested_generators_cannot_make_a_huge_value() {
        // Just over the limit, so that a regression costs megabytes, not the machine.
        let bomb =
            json!({"$array": {"count": 2_100, "item": {"$array": {"count": 1_000, "item": 1}}}});
        let err = expand(&bomb, &vars()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the generators of this value make more than 64 MiB together: make the counts smaller"
        );
        let long = json!({"$string": {"repeat": {"$string": {"repeat": "abc", "count": 300}}, "count": 100_000}});
        assert!(expand(&long, &vars()).is_err());
        // A 20 MB body fits: servers are tested with what a hostile client may send.
        let body = json!({"$array": {"count": 200, "item": {"$string": {"repeat": "x", "count": 100_000}}}});
        assert!(expand(&body, &vars()).is_ok());
        let within =
            json!({"$array": {"count": 300, "item": {"$string": {"repeat": "é", "count": 512}}}});
        assert!(expand(&within, &vars()).is_ok());
        let big = Vars::from([("big".into(), json!("x".repeat(1 << 20)))]);
        let copies = json!({"$array": {"count": 70, "item": "{{big}}"}});
        assert!(expand(&copies, &big).is_err());
        let err = expand(&json!({"$string": {"repeat": [7], "count": 2}}), &vars()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`$string.repeat` must make a string, not [7]"
        );
        let err = expand(&json!({"$array": {"count": -1, "item": 1}}), &vars()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`$array.count` must be a whole number up to 100000"
        );
        assert_eq!(
            expand(&json!({"$string": {"repeat": 7, "count": 2}}), &vars())
                .unwrap()
                .into_owned(),
            json!("77")
        );
    }

    #[test]
    fn a_missing_path_is_a_clear_runtime_error() {
        let err = expand(&json!("{{conv.nope}}"), &vars()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`{{conv.nope}}`: `conv` has nothing at `$.nope`"
        );
        let err = expand(&json!("{{nope}}"), &vars()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "variable `nope` has no value (its capture did not run)"
        );
    }
}
