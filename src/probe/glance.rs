//! What a schema rejects at a glance: a value of a type the schema does not take, or an object
//! that lacks a `required` property, has a field `additionalProperties` rejects, or has a
//! string property whose value the schema's `enum` or `const` for it leaves out. Said from the
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
    let Value::Object(fields) = value else {
        return false;
    };
    if lacks_required(schema, fields) || has_forbidden_field(spec, schema, fields, depth) {
        return true;
    }
    let Some(Value::Object(properties)) = schema.get("properties") else {
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

/// Whether the object leaves out a property the schema's `required` names.
fn lacks_required(schema: &Value, fields: &serde_json::Map<String, Value>) -> bool {
    let required = schema.get("required").and_then(Value::as_array);
    required.is_some_and(|names| {
        names
            .iter()
            .filter_map(Value::as_str)
            .any(|name| !fields.contains_key(name))
    })
}

/// Whether a field the schema's `properties` leaves out is one its `additionalProperties`
/// rejects (`false`, or a schema that rejects the field's value at a glance). Not said where
/// `patternProperties` may take the field.
fn has_forbidden_field(
    spec: &Spec,
    schema: &Value,
    fields: &serde_json::Map<String, Value>,
    depth: usize,
) -> bool {
    let Some(additional) = schema.get("additionalProperties") else {
        return false;
    };
    if schema.get("patternProperties").is_some() {
        return false;
    }
    let declared = schema.get("properties").and_then(Value::as_object);
    let mut extra = fields
        .iter()
        .filter(|(name, _)| declared.is_none_or(|d| !d.contains_key(*name)));
    match additional {
        Value::Bool(false) => extra.next().is_some(),
        Value::Object(_) => {
            let additional = follow(spec, additional);
            extra.any(|(_, field)| rejects_at(spec, additional, field, depth + 1))
        }
        _ => false,
    }
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
            Value::Object(crate::probe::fidelity::corpus()),
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
        let message = json!({"type": "message", "role": "user", "content": "hi"});
        assert!(!rejects(&spec, pointer, &message));
        // No role and no content: every message branch requires them.
        let bare = json!({"type": "message"});
        assert!(rejects(&spec, pointer, &bare));
        assert!(!spec.validate(pointer, &bare).unwrap().is_empty());
        assert!(type_takes("integer", &json!(2.0)));
        assert!(!type_takes("integer", &json!(2.5)));
        assert!(!takes_type(Some(&json!(["string", "null"])), &json!({})));
        assert!(takes_type(Some(&json!(["string", "object"])), &json!({})));
    }

    #[test]
    fn a_missing_required_property_and_a_forbidden_field_reject() {
        let spec = spec();
        let prompt = "#/components/schemas/Prompt";
        assert!(rejects(&spec, prompt, &json!({"k": "v"})));
        assert!(!rejects(&spec, prompt, &json!({"id": "pmpt_1"})));
        let logit_bias =
            "#/components/schemas/CreateChatCompletionRequest/allOf/1/properties/logit_bias";
        assert!(rejects(&spec, logit_bias, &json!({"50256": "v"})));
        assert!(!rejects(&spec, logit_bias, &json!({"50256": -100})));
        let closed =
            json!({"type": "object", "properties": {"a": {}}, "additionalProperties": false});
        let fields = |v: Value| v.as_object().cloned().unwrap();
        assert!(has_forbidden_field(
            &spec,
            &closed,
            &fields(json!({"b": 1})),
            0
        ));
        assert!(!has_forbidden_field(
            &spec,
            &closed,
            &fields(json!({"a": 1})),
            0
        ));
        let patterned = json!({"patternProperties": {"^b": {}}, "additionalProperties": false});
        assert!(!has_forbidden_field(
            &spec,
            &patterned,
            &fields(json!({"b": 1})),
            0
        ));
    }
}
