//! The probes of each constraint: wrong types, enum values, lengths, bounds, array and object
//! sizes, required fields, each at its boundary and past it.

use super::sample::number;
use super::walker::{constraints, types_of, usize_of, At, Frame, Generator, Node, Place, Target};
use super::EXAMPLE;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

impl<'s> Generator<'s> {
    pub(super) fn wrong_types(&mut self, at: &At, pointer: &str, branches: &[Node<'s>]) {
        let mut accepted: Vec<&str> = Vec::new();
        for (_, branch) in branches {
            match types_of(branch) {
                Some(types) => accepted.extend(types),
                None => {
                    self.skip(
                        at.constraint("type"),
                        "a schema of the choice declares no type".into(),
                    );
                    return;
                }
            }
        }
        let overlapping = accepted.iter().enumerate().any(|(i, a)| {
            accepted[i + 1..].iter().any(|b| {
                a == b || matches!((*a, *b), ("integer", "number") | ("number", "integer"))
            })
        });
        if overlapping {
            self.skip(
                at.constraint("*"),
                "two schemas of the choice accept the same type".into(),
            );
            return;
        }
        let accepts =
            |t: &str| accepted.contains(&t) || (t == "integer" && accepted.contains(&"number"));
        let candidates: &[(&str, Value)] = &[
            ("string", json!("text")),
            ("integer", json!(7)),
            ("number", json!(1.5)),
            ("boolean", json!(true)),
            ("object", json!({})),
            ("array", json!([])),
            ("null", Value::Null),
        ];
        let in_query = matches!(at.target, Target::Query(_));
        if in_query
            && accepted
                .iter()
                .any(|t| matches!(*t, "object" | "array" | "string"))
        {
            // A query string is text: only a number's or a boolean's type can be broken there.
            return;
        }
        // The `type` keyword itself where the field declares it, else the field's schema.
        let declares_type = self
            .node(pointer)
            .is_some_and(|(_, node)| node.get("type").is_some());
        let type_at = if declares_type {
            format!("{pointer}/type")
        } else {
            pointer.to_string()
        };
        for (name, value) in candidates {
            if accepts(name) || (in_query && !matches!(*name, "string" | "number")) {
                continue;
            }
            self.emit(
                at,
                at.constraint("type"),
                name,
                false,
                Some(value.clone()),
                type_at.clone(),
                format!(
                    "{name} {} (type {})",
                    crate::untrusted::compact(value, 40),
                    accepted.join(" or ")
                ),
            );
        }
    }

    pub(super) fn enumeration(&mut self, at: &At, pointer: &str, values: &[Value]) {
        let mut names = BTreeSet::new();
        for (i, value) in values.iter().enumerate() {
            let mut name = match value {
                Value::String(s) => s
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect(),
                Value::Number(n) => n.to_string(),
                _ => format!("value_{i}"),
            };
            if name.is_empty() || !names.insert(name.clone()) {
                name = format!("value_{i}");
            }
            self.emit(
                at,
                at.constraint("enum"),
                &name,
                true,
                Some(value.clone()),
                format!("{pointer}/enum"),
                format!("{} (in enum)", crate::untrusted::compact(value, 60)),
            );
        }
        let outside = if values.iter().all(Value::is_string) {
            let mut text = "not-a-listed-value".to_string();
            while values.contains(&Value::from(text.as_str())) {
                text.push('-');
            }
            Value::from(text)
        } else if values.iter().all(Value::is_i64) {
            Value::from(values.iter().filter_map(Value::as_i64).max().unwrap_or(0) + 1)
        } else {
            self.skip(at.constraint("enum"), "an enum of mixed values".into());
            return;
        };
        self.emit(
            at,
            at.constraint("enum"),
            "other",
            false,
            Some(outside.clone()),
            format!("{pointer}/enum"),
            format!("{} (not in enum)", crate::untrusted::compact(&outside, 60)),
        );
    }

    pub(super) fn lengths(&mut self, at: &At, pointer: &str, node: &Value) {
        let constraint = |k: &str| at.constraint(k);
        if let Some(max) = usize_of(node, "maxLength") {
            let at_ = format!("{pointer}/maxLength");
            for (variant, accept, unit, count) in length_variants(max, true) {
                self.emit(
                    at,
                    constraint("maxLength"),
                    variant,
                    accept,
                    Some(Value::from(unit.repeat(count))),
                    at_.clone(),
                    format!("a string of {count} `{unit}` (maxLength {max})"),
                );
            }
        }
        if let Some(min) = usize_of(node, "minLength").filter(|m| *m > 0) {
            let at_ = format!("{pointer}/minLength");
            for (variant, accept, unit, count) in length_variants(min, false) {
                self.emit(
                    at,
                    constraint("minLength"),
                    variant,
                    accept,
                    Some(Value::from(unit.repeat(count))),
                    at_.clone(),
                    format!("a string of {count} `{unit}` (minLength {min})"),
                );
            }
        }
    }

    pub(super) fn bounds(&mut self, at: &At, pointer: &str, node: &Value) {
        let bounds = [
            ("minimum", -1.0, "under", true),
            ("maximum", 1.0, "over", true),
            ("exclusiveMinimum", 1.0, "above_limit", false),
            ("exclusiveMaximum", -1.0, "below_limit", false),
        ];
        for (keyword, step, outer, inclusive) in bounds {
            let Some(limit) = node.get(keyword).and_then(Value::as_f64) else {
                continue;
            };
            let beside = number(limit + step);
            let exact = number(limit);
            // Inclusive: the limit is accepted, one past it rejected. Exclusive: the limit is
            // rejected, one inside it accepted.
            let (accepted, rejected) = if inclusive {
                ((exact.clone(), "at_limit"), (beside, outer))
            } else {
                ((beside, outer), (exact, "at_limit"))
            };
            for ((value, variant), accept) in [(accepted, true), (rejected, false)] {
                self.emit(
                    at,
                    at.constraint(keyword),
                    variant,
                    accept,
                    Some(value.clone()),
                    format!("{pointer}/{keyword}"),
                    format!("{value} ({keyword} {})", number(limit)),
                );
            }
        }
    }

    pub(super) fn array(&mut self, at: &At, pointer: &str, node: &'s Value) {
        let items = node.get("items");
        let element = match items {
            Some(items) => self.sample(&format!("{pointer}/items"), items, at.depth + 1),
            None => Some(Value::from("x")),
        };
        let counted = [("maxItems", 1i64, "over"), ("minItems", -1i64, "under")];
        for (keyword, step, outer) in counted {
            let Some(limit) = usize_of(node, keyword) else {
                continue;
            };
            let Some(element) = element.clone() else {
                self.skip(
                    at.constraint(keyword),
                    format!(
                        "no valid element to fill the array with: give the element schema an \
                         `{EXAMPLE}` in the overlay"
                    ),
                );
                continue;
            };
            let outside = limit as i64 + step;
            let mut variants = vec![("at_limit", true, limit)];
            if outside >= 0 {
                variants.push((outer, false, outside as usize));
            }
            for (variant, accept, count) in variants {
                self.emit(
                    at,
                    at.constraint(keyword),
                    variant,
                    accept,
                    Some(Value::Array(vec![element.clone(); count])),
                    format!("{pointer}/{keyword}"),
                    format!("{count} elements ({keyword} {limit})"),
                );
            }
        }
        if let Some(items) = items {
            let Some(container) = self.sample_branch(pointer, node, at.depth) else {
                self.skip(at.constraint("items"), "cannot build a valid array".into());
                return;
            };
            let inner = at.inner(
                Frame {
                    container,
                    place: Place::Index,
                },
                "items",
                format!("{}[0]", at.param),
            );
            self.walk(&inner, (format!("{pointer}/items"), items));
        }
    }

    pub(super) fn object(&mut self, at: &At, pointer: &str, node: &'s Value) {
        let Some(Value::Object(container)) = self.sample_branch(pointer, node, at.depth) else {
            self.skip(at.constraint("*"), "cannot build a valid object".into());
            return;
        };
        let extra = self.extra_value(pointer, node, at.depth);
        let key_min = node
            .get("propertyNames")
            .and_then(|n| usize_of(n, "minLength"))
            .unwrap_or(1);
        let fresh_key = |i: usize, taken: &Map<String, Value>| {
            let mut key = format!("k{i}");
            while key.chars().count() < key_min {
                key.push('k');
            }
            (!taken.contains_key(&key)).then_some(key)
        };
        // Object size limits.
        let counted = [
            ("maxProperties", 1i64, "over"),
            ("minProperties", -1i64, "under"),
        ];
        for (keyword, step, outer) in counted {
            let Some(limit) = usize_of(node, keyword) else {
                continue;
            };
            let Some(extra) = extra.clone() else {
                self.skip(
                    at.constraint(keyword),
                    "no property can be added to the object".into(),
                );
                continue;
            };
            let outside = limit as i64 + step;
            let mut variants = vec![("at_limit", true, limit)];
            if outside >= container.len() as i64 {
                variants.push((outer, false, outside as usize));
            }
            for (variant, accept, count) in variants {
                if count < container.len() {
                    continue;
                }
                let mut object = container.clone();
                let mut i = 0;
                while object.len() < count {
                    if let Some(key) = fresh_key(i, &object) {
                        object.insert(key, extra.clone());
                    }
                    i += 1;
                }
                self.emit(
                    at,
                    at.constraint(keyword),
                    variant,
                    accept,
                    Some(Value::Object(object)),
                    format!("{pointer}/{keyword}"),
                    format!("{count} properties ({keyword} {limit})"),
                );
            }
        }
        // Property names.
        if let Some(names) = node.get("propertyNames") {
            let names_at = format!("{pointer}/propertyNames");
            match (self.resolve((names_at.clone(), names)), &extra) {
                (Ok((names_at, names)), Some(extra)) => {
                    if let Some(k) =
                        constraints(names).find(|k| !["type", "maxLength", "minLength"].contains(k))
                    {
                        self.skip(
                            at.constraint("propertyNames"),
                            format!("uses `{k}`, which the generator does not handle"),
                        );
                    } else {
                        for keyword in ["maxLength", "minLength"] {
                            let Some(limit) = usize_of(names, keyword).filter(|l| *l > 0) else {
                                continue;
                            };
                            for (variant, accept, unit, count) in
                                length_variants(limit, keyword == "maxLength")
                            {
                                let key = unit.repeat(count);
                                let mut object = container.clone();
                                object.insert(key.clone(), extra.clone());
                                let param = format!("{}.{key}", at.param);
                                let mut probe_at = at.clone();
                                probe_at.param = match at.target {
                                    Target::Body => param,
                                    Target::Query(_) => at.param.clone(),
                                };
                                self.emit(
                                    &probe_at,
                                    at.constraint(&format!("propertyNames.{keyword}")),
                                    variant,
                                    accept,
                                    Some(Value::Object(object)),
                                    format!("{names_at}/{keyword}"),
                                    format!("a key of {count} `{unit}` ({keyword} {limit})"),
                                );
                            }
                        }
                    }
                }
                (Err(reason), _) => self.skip(at.constraint("propertyNames"), reason),
                (_, None) => self.skip(
                    at.constraint("propertyNames"),
                    "no property can be added to the object".into(),
                ),
            }
        }
        // Values of the map.
        if let Some(schema) = node.get("additionalProperties").filter(|s| s.is_object()) {
            let key = fresh_key(0, &container).unwrap_or_else(|| "k_extra".into());
            let inner = at.inner(
                Frame {
                    container: Value::Object(container.clone()),
                    place: Place::Property(key.clone()),
                },
                "additionalProperties",
                format!("{}.{key}", at.param),
            );
            self.walk(&inner, (format!("{pointer}/additionalProperties"), schema));
        }
        // Declared properties, and the absence of the required ones.
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let properties = node.get("properties").and_then(Value::as_object);
        for (name, schema) in properties.into_iter().flatten() {
            let inner = at.property(Value::Object(container.clone()), name);
            if required.contains(&name.as_str()) {
                let mut without = container.clone();
                without.remove(name);
                let mut probe_at = at.clone();
                probe_at.param = inner.param.clone();
                self.emit(
                    &probe_at,
                    format!("{}/required", inner.location()),
                    "absent",
                    false,
                    Some(Value::Object(without)),
                    format!("{pointer}/required"),
                    format!("no `{name}` (a required property)"),
                );
            }
            self.walk(
                &inner,
                (
                    format!(
                        "{pointer}/properties/{}",
                        name.replace('~', "~0").replace('/', "~1")
                    ),
                    schema,
                ),
            );
        }
        for name in required {
            if properties.is_none_or(|p| !p.contains_key(name)) {
                self.skip(
                    at.constraint("required"),
                    format!("required `{name}` is not among the declared properties"),
                );
            }
        }
    }
}

/// The variants of a length limit: `(name, accepted, unit, count)`. Multibyte (`é`, two bytes)
/// and 4-byte (`🙂`, two UTF-16 units) strings catch servers that count bytes or UTF-16.
pub(super) fn length_variants(
    limit: usize,
    maximum: bool,
) -> Vec<(&'static str, bool, &'static str, usize)> {
    if maximum {
        vec![
            ("at_limit", true, "x", limit),
            ("at_limit_multibyte", true, "é", limit),
            ("at_limit_emoji", true, "🙂", limit),
            ("over", false, "x", limit + 1),
            ("over_multibyte", false, "é", limit + 1),
        ]
    } else {
        let mut variants = vec![
            ("at_limit", true, "x", limit),
            ("under", false, "x", limit - 1),
        ];
        if limit > 1 {
            variants.push(("under_multibyte", false, "é", limit - 1));
        }
        variants
    }
}
