//! The response validators: each schema compiled once, on first use or ahead of it, against
//! one registry of the whole document, and shared by every answer that needs it.
//!
//! Schemas prepared ahead are compiled together, as one validator whose root holds each under a
//! key of its own. A jsonschema validator shares nothing with another, and the answers' schemas
//! hold the same large components (`Response` is in five of them): compiled together, the 74
//! schemas of the embedded spec's answers and stream events take about 4 ms, against 30 one by
//! one. An instance is checked at its key, and its errors read as if its schema had been
//! compiled alone.

use super::{encode_fragment, Spec, DOCUMENT_URI};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

/// Schemas compiled in one validator: `{"properties": {"0": {"$ref": ...}, "1": ...}}`, or the
/// `$ref` alone when there is one.
pub(super) struct Group {
    pointers: Vec<String>,
    compiled: OnceLock<Result<jsonschema::Validator, String>>,
}

/// Where the validator of one schema is.
pub(super) struct Slot {
    group: Arc<Group>,
    /// Its key in the group's root; none when the group is this schema alone.
    key: Option<String>,
    /// Compiled alone when the group does not compile, so that the error names this schema.
    alone: OnceLock<Result<jsonschema::Validator, String>>,
}

/// One error of an instance, as the messages read it.
pub(super) struct RawError {
    /// JSON pointer into the instance; empty for the whole.
    pub(super) at: String,
    /// The keywords' path from the schema (`/$ref/properties/id/type`).
    pub(super) schema_path: String,
    /// Where the failing keyword is in the document (`#/components/schemas/...`), when known.
    pub(super) location: Option<String>,
    pub(super) message: String,
}

impl Spec {
    /// Validates `instance` against the schema at `pointer` (compiled once, then shared).
    /// Answers the errors, one line each with the instance path and the schema path.
    pub fn validate(&self, pointer: &str, instance: &Value) -> Result<Vec<String>, String> {
        Ok(self
            .when_invalid(pointer, instance)?
            .into_iter()
            .map(|e| {
                let at = if e.at.is_empty() { "/" } else { &e.at };
                let schema = e
                    .location
                    .unwrap_or_else(|| format!("{pointer}{}", e.schema_path));
                format!(
                    "at {at}: {} (schema {schema})",
                    crate::untrusted::excerpt(&e.message, 240)
                )
            })
            .collect())
    }

    /// The errors of `instance` against the schema at `pointer` (compiled once, then shared);
    /// none when it is valid, which is much cheaper to learn than that there are no errors (a
    /// `oneOf` stops at its match).
    pub(super) fn when_invalid(
        &self,
        pointer: &str,
        instance: &Value,
    ) -> Result<Vec<RawError>, String> {
        let slot = self.compiled(pointer);
        let (validator, key) = self.validator_of(&slot, pointer)?;
        Ok(match key {
            None => errors_at(validator, instance, None),
            Some(key) => errors_at(validator, &keyed(key, instance.clone()), Some(key)),
        })
    }

    /// [`Spec::when_invalid`] of an instance the caller owns: moved into the group's wrapper
    /// and back instead of copied (an answer is checked this way).
    pub(super) fn when_invalid_in_place(
        &self,
        pointer: &str,
        instance: &mut Value,
    ) -> Result<Vec<RawError>, String> {
        let slot = self.compiled(pointer);
        let (validator, key) = self.validator_of(&slot, pointer)?;
        let Some(key) = key else {
            return Ok(errors_at(validator, instance, None));
        };
        let wrapped = keyed(key, std::mem::take(instance));
        let errors = errors_at(validator, &wrapped, Some(key));
        if let Value::Object(wrapper) = wrapped {
            if let Some((_, value)) = wrapper.into_iter().next() {
                *instance = value;
            }
        }
        Ok(errors)
    }

    /// Compiles, ahead of their first use and together, the response schemas of these
    /// operations, the schemas their streamed events are checked against, and the error
    /// object's (validation waits for them while they are being compiled).
    pub fn prepare_validators<'a>(&self, operations: impl IntoIterator<Item = &'a str>) {
        let mut pointers: Vec<String> = Vec::new();
        for op in operations.into_iter().filter_map(|id| self.operation(id)) {
            pointers.extend(op.responses.values().flatten().cloned());
            pointers.extend(self.event_schemas(&op.pointer));
        }
        pointers.push("#/components/schemas/ErrorResponse".into());
        let group = {
            let mut slots = self.validators.write().unwrap_or_else(|e| e.into_inner());
            let mut members: Vec<(String, String)> = Vec::new();
            // A pointer to nothing would fail the whole group: it fails alone, where it is used.
            let resolves = |p: &str| {
                p.strip_prefix('#')
                    .is_some_and(|p| self.document.pointer(p).is_some())
            };
            for pointer in pointers.into_iter().filter(|p| resolves(p)) {
                let canonical = self.canonical(&pointer).into_owned();
                if !slots.contains_key(&pointer) && !members.iter().any(|(p, _)| *p == pointer) {
                    members.push((pointer, canonical));
                }
            }
            let mut canonicals: Vec<String> = Vec::new();
            for (_, canonical) in &members {
                if !slots.contains_key(canonical) && !canonicals.contains(canonical) {
                    canonicals.push(canonical.clone());
                }
            }
            let group = Arc::new(Group {
                pointers: canonicals.clone(),
                compiled: OnceLock::new(),
            });
            let several = canonicals.len() > 1;
            for (key, canonical) in canonicals.iter().enumerate() {
                let slot = Arc::new(Slot {
                    group: Arc::clone(&group),
                    key: several.then(|| key.to_string()),
                    alone: OnceLock::new(),
                });
                slots.insert(canonical.clone(), slot);
            }
            for (pointer, canonical) in members {
                let slot = Arc::clone(&slots[&canonical]);
                slots.insert(pointer, slot);
            }
            group
        };
        if !group.pointers.is_empty() {
            group.compiled.get_or_init(|| self.compile(&group.pointers));
        }
    }

    /// The schemas the events of an operation's `text/event-stream` answer are checked
    /// against: each branch of a union of `$ref`s (`ResponseStreamEvent`), else the schema.
    fn event_schemas(&self, operation: &str) -> Vec<String> {
        let mut out = Vec::new();
        let responses = self
            .document
            .pointer(&format!("{}/responses", operation.trim_start_matches('#')))
            .and_then(Value::as_object);
        for response in responses.into_iter().flat_map(|r| r.values()) {
            let Some(reference) = response
                .pointer("/content/text~1event-stream/schema/$ref")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let schema = self.document.pointer(reference.trim_start_matches('#'));
            let branches = schema
                .and_then(|s| s.get("anyOf").or_else(|| s.get("oneOf")))
                .and_then(Value::as_array);
            match branches {
                Some(branches) => out.extend(
                    branches
                        .iter()
                        .filter_map(|b| b.get("$ref").and_then(Value::as_str))
                        .map(String::from),
                ),
                None => out.push(reference.to_string()),
            }
        }
        out
    }

    /// Compiles the schema at `pointer` unless that is done (one that does not compile is
    /// reported where it is used).
    pub fn prepare_validator(&self, pointer: &str) {
        let slot = self.compiled(pointer);
        let _ = self.validator_of(&slot, pointer);
    }

    /// Whether validating against the schema at `pointer` would compile it first.
    pub fn needs_compiling(&self, pointer: &str) -> bool {
        let slots = self.validators.read().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = slots.get(pointer) else {
            return true;
        };
        match slot.group.compiled.get() {
            None => true,
            Some(Ok(_)) => false,
            Some(Err(_)) => slot.alone.get().is_none(),
        }
    }

    /// The slot of a schema's validator; a group of its own when it was not prepared.
    fn compiled(&self, pointer: &str) -> Arc<Slot> {
        // Read-locked on the hot path: after the first answers every pointer is there.
        let known = self
            .validators
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(pointer)
            .cloned();
        known.unwrap_or_else(|| {
            // The slot of the schema the pointer leads to, under both names.
            let canonical = self.canonical(pointer);
            let mut slots = self.validators.write().unwrap_or_else(|e| e.into_inner());
            let slot = slots
                .entry(canonical.to_string())
                .or_insert_with(|| {
                    Arc::new(Slot {
                        group: Arc::new(Group {
                            pointers: vec![canonical.to_string()],
                            compiled: OnceLock::new(),
                        }),
                        key: None,
                        alone: OnceLock::new(),
                    })
                })
                .clone();
            slots.insert(pointer.to_string(), Arc::clone(&slot));
            slot
        })
    }

    /// The compiled validator of a slot and the key to check an instance at; compiles the
    /// group, or this schema alone when the group does not compile.
    fn validator_of<'s>(
        &self,
        slot: &'s Slot,
        pointer: &str,
    ) -> Result<(&'s jsonschema::Validator, Option<&'s str>), String> {
        let group = &slot.group;
        match group.compiled.get_or_init(|| self.compile(&group.pointers)) {
            Ok(validator) => Ok((validator, slot.key.as_deref())),
            Err(_) if slot.key.is_some() => slot
                .alone
                .get_or_init(|| self.compile(&[self.canonical(pointer).into_owned()]))
                .as_ref()
                .map(|validator| (validator, None))
                .map_err(Clone::clone),
            Err(e) => Err(e.clone()),
        }
    }

    /// `pointer` through the `$ref`s of schemas that are only a `$ref`: the answers of many
    /// operations (create, retrieve and update of one object) are one component's, compiled
    /// once.
    fn canonical<'p>(&self, pointer: &'p str) -> Cow<'p, str> {
        let mut canonical = Cow::Borrowed(pointer);
        for _ in 0..16 {
            let only_a_ref = canonical
                .strip_prefix('#')
                .and_then(|p| self.document.pointer(p))
                .and_then(Value::as_object)
                .filter(|schema| schema.len() == 1)
                .and_then(|schema| schema.get("$ref"))
                .and_then(Value::as_str)
                .filter(|target| target.starts_with("#/"));
            match only_a_ref {
                Some(target) => canonical = Cow::Owned(target.to_string()),
                None => break,
            }
        }
        canonical
    }

    /// One validator of the schemas at `pointers`: the `$ref` to the one, or each `$ref` under
    /// its index in `properties`.
    fn compile(&self, pointers: &[String]) -> Result<jsonschema::Validator, String> {
        let registry = self
            .registry
            .get_or_init(|| {
                jsonschema::Registry::new()
                    .draft(jsonschema::Draft::Draft202012)
                    .add(DOCUMENT_URI, Arc::clone(&self.document))
                    .and_then(|builder| builder.prepare())
                    .map_err(|e| format!("cannot index the OpenAPI document: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)?;
        let reference = |pointer: &str| json!({ "$ref": format!("{DOCUMENT_URI}{}", encode_fragment(pointer)) });
        let root = match pointers {
            [one] => reference(one),
            several => {
                let keyed: Map<String, Value> = several
                    .iter()
                    .enumerate()
                    .map(|(key, pointer)| (key.to_string(), reference(pointer)))
                    .collect();
                json!({ "properties": keyed })
            }
        };
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(registry)
            .build(&root)
            .map_err(|e| match pointers {
                [one] => format!("cannot compile the schema at {one}: {e}"),
                _ => format!("cannot compile the schemas together: {e}"),
            })
    }
}

/// `instance` as a group's root holds it: under `key`.
fn keyed(key: &str, instance: Value) -> Value {
    Value::Object(Map::from_iter([(key.to_string(), instance)]))
}

/// The errors of `instance` (the group's wrapper when `key` says where in it the checked one
/// is), with the paths as if its schema had been compiled alone.
fn errors_at(
    validator: &jsonschema::Validator,
    instance: &Value,
    key: Option<&str>,
) -> Vec<RawError> {
    if validator.is_valid(instance) {
        return Vec::new();
    }
    let (at, schema_path) = match key {
        Some(key) => (format!("/{key}"), format!("/properties/{key}")),
        None => (String::new(), String::new()),
    };
    validator
        .iter_errors(instance)
        .map(|e| RawError::of(&e, &at, &schema_path))
        .collect()
}

impl RawError {
    /// `error` with the group's `at` and `schema_path` prefixes taken off its paths.
    fn of(error: &jsonschema::ValidationError<'_>, at: &str, schema_path: &str) -> Self {
        let inside = |path: String, prefix: &str| match path.strip_prefix(prefix) {
            Some(rest) => rest.to_string(),
            None => path,
        };
        RawError {
            at: inside(error.instance_path().to_string(), at),
            schema_path: inside(error.schema_path().to_string(), schema_path),
            location: error
                .absolute_keyword_location()
                .map(|uri| uri.as_str().trim_start_matches(DOCUMENT_URI).to_string()),
            message: error.to_string(),
        }
    }
}
