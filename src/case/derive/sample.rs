//! Valid values built from a schema: the base of every probe, and the sample the probes of
//! other kinds send.

use super::walker::{constraints, is_null, types_of, usize_of, Generator};
use super::{understood, EXAMPLE, MAX_DEPTH};
use crate::spec::{Operation, Spec};
use serde_json::{Map, Number, Value};

impl<'s> Generator<'s> {
    /// A valid value for a schema: its `x-conformance-example`, else the smallest one the
    /// generator can build; `None` when it cannot.
    pub(super) fn sample(&self, pointer: &str, node: &'s Value, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        if node.get(EXAMPLE).is_some() {
            return self.example(pointer, node);
        }
        let resolved = self.resolve((pointer.to_string(), node)).ok()?;
        if resolved.1.get(EXAMPLE).is_some() {
            return self.example(&resolved.0, resolved.1);
        }
        let branches = self.branches(resolved).ok()?;
        let mut nullable = false;
        for (p, branch) in branches {
            if is_null(branch) {
                nullable = true;
            } else if let Some(value) = self.sample_branch(&p, branch, depth) {
                return Some(value);
            }
        }
        nullable.then_some(Value::Null)
    }

    /// The `x-conformance-example` of a schema, if it validates against that schema (a wrong
    /// one is recorded: the self-check reports it; the embedded spec's are checked by tests).
    pub(super) fn example(&self, pointer: &str, node: &Value) -> Option<Value> {
        let example = node.get(EXAMPLE)?;
        if self.spec.is_embedded() {
            return Some(example.clone());
        }
        let why = match self.spec.validate(pointer, example) {
            Ok(errors) if errors.is_empty() => return Some(example.clone()),
            Ok(errors) => format!(
                "does not validate against its schema: {}",
                errors.join("; ")
            ),
            Err(e) => e,
        };
        self.bad_examples
            .borrow_mut()
            .insert(pointer.to_string(), why);
        None
    }

    pub(super) fn sample_branch(
        &self,
        pointer: &str,
        node: &'s Value,
        depth: usize,
    ) -> Option<Value> {
        if node.get(EXAMPLE).is_some() {
            return self.example(pointer, node);
        }
        if constraints(node).any(|k| !understood(k)) {
            return None;
        }
        if let Some(value) = node.get("const") {
            return Some(value.clone());
        }
        if let Some(first) = node
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|v| v.first())
        {
            return Some(first.clone());
        }
        let first = types_of(node)?.into_iter().find(|t| *t != "null")?;
        Some(match first {
            "string" => {
                let min = usize_of(node, "minLength").unwrap_or(1);
                let max = usize_of(node, "maxLength").unwrap_or(usize::MAX);
                Value::from("x".repeat(min.max(1).min(max)))
            }
            "integer" | "number" => {
                let low = node.get("minimum").and_then(Value::as_f64).or_else(|| {
                    node.get("exclusiveMinimum")
                        .and_then(Value::as_f64)
                        .map(|m| m + 1.0)
                });
                let high = node.get("maximum").and_then(Value::as_f64).or_else(|| {
                    node.get("exclusiveMaximum")
                        .and_then(Value::as_f64)
                        .map(|m| m - 1.0)
                });
                let mut value = 1.0f64;
                if let Some(low) = low {
                    value = value.max(low);
                }
                if let Some(high) = high {
                    value = value.min(high);
                }
                number(value)
            }
            "boolean" => Value::Bool(true),
            "object" => {
                let properties = node.get("properties").and_then(Value::as_object);
                let mut object = Map::new();
                for name in node
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    let value = match properties.and_then(|p| p.get(name)) {
                        Some(schema) => self.sample(
                            &format!(
                                "{pointer}/properties/{}",
                                name.replace('~', "~0").replace('/', "~1")
                            ),
                            schema,
                            depth + 1,
                        )?,
                        None => self.extra_value(pointer, node, depth)?,
                    };
                    object.insert(name.to_string(), value);
                }
                let min = usize_of(node, "minProperties").unwrap_or(0);
                let mut i = 0;
                while object.len() < min {
                    let value = self.extra_value(pointer, node, depth)?;
                    object.entry(format!("k{i}")).or_insert(value);
                    i += 1;
                }
                Value::Object(object)
            }
            "array" => {
                let element = match node.get("items") {
                    Some(items) => self.sample(&format!("{pointer}/items"), items, depth + 1),
                    None => Some(Value::from("x")),
                };
                let min = usize_of(node, "minItems").unwrap_or(0);
                let max = usize_of(node, "maxItems").unwrap_or(usize::MAX);
                match element {
                    // One element makes a more ordinary request than none.
                    Some(element) => Value::Array(vec![element; min.max(1).min(max)]),
                    None if min == 0 => Value::Array(Vec::new()),
                    None => return None,
                }
            }
            "null" => Value::Null,
            _ => return None,
        })
    }

    /// A valid value for a property the object does not declare, if it may have one.
    pub(super) fn extra_value(
        &self,
        pointer: &str,
        node: &'s Value,
        depth: usize,
    ) -> Option<Value> {
        match node.get("additionalProperties") {
            None | Some(Value::Bool(true)) => Some(Value::from("x")),
            Some(Value::Bool(false)) => None,
            Some(schema) => self.sample(
                &format!("{pointer}/additionalProperties"),
                schema,
                depth + 1,
            ),
        }
    }
}

/// A JSON number, integral when it can be.
pub(super) fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// A valid value for the schema at `pointer` (its `x-conformance-example`, else the smallest
/// the generator builds), as the derived cases would send it for `op`; `None` when there is none.
pub fn sample(spec: &Spec, op: &Operation, pointer: &str) -> Option<Value> {
    let generator = Generator::new(spec, op);
    let (p, n) = generator.node(pointer)?;
    generator.sample(&p, n, 0)
}
