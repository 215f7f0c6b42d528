//! What a schema rejects at a glance: a value of a type the schema does not take, or an object
//! with a string property whose value the schema's `enum` or `const` for it leaves out. Said from the
//! document alone, so that a probe choosing what to send compiles no validator for a value that
//! cannot pass. Only ever `true` where the validator would reject too.

use super::pointer::resolve;
use crate::spec::Spec;
use serde_json::Value;

/// How deep `$ref`s and choices are followed before giving up (and compiling after all).
const MAX_DEPTH: usize = 8;

/// Whether the schema at `pointer` rejects `value` by its type or a property's `enum`/`const`.
pub(super) fn rejects(spec: &Spec, pointer: &str, value: &Value) -> bool {
    resolve(spec, pointer).is_some_and(|schema| rejects_at(spec, schema, value, 0))
}

fn rejects_at(spec: &Spec, schema: &Value, value: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let follow = |schema| follow(spec, schema);
    if !takes_type(schema.get("type"), value) {
        return true;
    }
    if schema.get("$ref").is_some() && rejects_at(spec, follow(schema), value, depth + 1) {
        return true;
    }
    if let Some(Value::Array(members)) = schema.get("allOf") {
        if members
            .iter()
            .any(|member| rejects_at(spec, follow(member), value, depth + 1))
        {
            return true;
        }
    }
    for choice in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get(choice) {
            let none = branches
                .iter()
                .all(|branch| rejects_at(spec, follow(branch), value, depth + 1));
            if !branches.is_empty() && none {
                return true;
            }
        }
    }
    let (Value::Object(fields), Some(Value::Object(properties))) =
        (value, schema.get("properties"))
    else {
        return false;
    };
    // Strings only: the validator takes 1.0 for 1, which `==` on values does not.
    let strings = fields.iter().filter(|(_, field)| field.is_string());
    strings.into_iter().any(|(name, field)| {
        properties.get(name).map(follow).is_some_and(|property| {
            let outside_enum = property
                .get("enum")
                .and_then(Value::as_array)
                .is_some_and(|values| !values.contains(field));
            let other_const = property.get("const").is_some_and(|c| c != field);
            outside_enum || other_const
        })
    })
}

/// The schema a `$ref` names, or the schema itself.
fn follow<'s>(spec: &'s Spec, schema: &'s Value) -> &'s Value {
    let target = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| spec.document().pointer(p));
    target.unwrap_or(schema)
}

/// Whether a `type` keyword (absent, one name or a list) takes `value`.
fn takes_type(declared: Option<&Value>, value: &Value) -> bool {
    let name = |t: &Value| t.as_str().map(|t| type_takes(t, value));
    match declared {
        Some(Value::String(_)) => name(declared.unwrap_or(&Value::Null)).unwrap_or(true),
        Some(Value::Array(types)) => types.iter().any(|t| name(t).unwrap_or(true)),
        _ => true,
    }
}

fn type_takes(name: &str, value: &Value) -> bool {
    match (name, value) {
        ("null", Value::Null)
        | ("boolean", Value::Bool(_))
        | ("number", Value::Number(_))
        | ("string", Value::String(_))
        | ("array", Value::Array(_))
        | ("object", Value::Object(_)) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn spec() -> Spec {
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    #[test]
    fn what_is_rejected_at_a_glance_the_validator_rejects_too() {
        let spec = spec();
        let values = [
            json!({"k": "v"}),
            json!({"k": 1}),
            json!("text"),
            json!(3),
            json!(null),
            json!([{"type": "message", "role": "user", "content": "hi"}]),
            json!({"type": "message", "role": "user", "content": "hi"}),
            json!({"type": "item_reference", "id": "msg_1"}),
            json!({"type": "message", "role": "nobody", "content": "hi"}),
        ];
        let mut rejected = 0;
        for op in spec.operations() {
            let Some(body) = &op.request_schema else {
                continue;
            };
            let fields = super::super::unknown_fields::properties(&spec, body);
            let pointers = fields.values().chain(std::iter::once(body));
            for pointer in pointers {
                for value in &values {
                    if rejects(&spec, pointer, value) {
                        rejected += 1;
                        let errors = spec.validate(pointer, value).unwrap();
                        assert!(!errors.is_empty(), "{pointer} takes {value}");
                    }
                }
            }
        }
        assert!(rejected > 20, "{rejected}");
    }

    #[test]
    fn a_type_a_property_enum_and_a_choice_reject() {
        let spec = spec();
        let pointer = "#/components/schemas/InputItem";
        assert!(rejects(&spec, pointer, &json!("text")));
        assert!(!rejects(&spec, pointer, &json!({"type": "message"})));
        assert!(type_takes("integer", &json!(2.0)));
        assert!(!type_takes("integer", &json!(2.5)));
        assert!(!takes_type(Some(&json!(["string", "null"])), &json!({})));
        assert!(takes_type(Some(&json!(["string", "object"])), &json!({})));
    }
}
