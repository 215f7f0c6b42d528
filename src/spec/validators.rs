//! The response validators: each schema compiled once, on first use or ahead of it, against
//! one registry of the whole document, and shared by every answer that needs it.

use super::{encode_fragment, CompiledOnce, Spec, DOCUMENT_URI};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::Arc;

impl Spec {
    /// Validates `instance` against the schema at `pointer` (compiled once, then shared).
    /// Answers the errors, one line each with the instance path and the schema path.
    pub fn validate(&self, pointer: &str, instance: &Value) -> Result<Vec<String>, String> {
        self.when_invalid(pointer, instance, |validator| {
            validator
                .iter_errors(instance)
                .map(|e| {
                    let at = e.instance_path().to_string();
                    let at = if at.is_empty() { "/".to_string() } else { at };
                    let schema = e.absolute_keyword_location().map_or_else(
                        || format!("{pointer}{}", e.schema_path()),
                        |uri| uri.as_str().trim_start_matches(DOCUMENT_URI).to_string(),
                    );
                    format!(
                        "at {at}: {} (schema {schema})",
                        crate::untrusted::excerpt(&e.to_string(), 240)
                    )
                })
                .collect()
        })
    }

    /// `errors` of the validator of the schema at `pointer` (compiled once, then shared) when
    /// `instance` is invalid; none when it is valid, which is much cheaper to learn than that
    /// there are no errors (a `oneOf` stops at its match).
    pub(super) fn when_invalid<T>(
        &self,
        pointer: &str,
        instance: &Value,
        errors: impl FnOnce(&jsonschema::Validator) -> Vec<T>,
    ) -> Result<Vec<T>, String> {
        let cell = self.compiled(pointer);
        let validator = cell
            .get_or_init(|| self.compile(pointer))
            .as_ref()
            .map_err(Clone::clone)?;
        if validator.is_valid(instance) {
            return Ok(Vec::new());
        }
        Ok(errors(validator))
    }

    /// Compiles, ahead of their first use, the response schemas of these operations and the
    /// error object's, in that order (validation waits for a schema being compiled here).
    pub fn prepare_validators<'a>(&self, operations: impl IntoIterator<Item = &'a str>) {
        let mut pointers: Vec<String> = Vec::new();
        for op in operations.into_iter().filter_map(|id| self.operation(id)) {
            for pointer in op.responses.values().flatten() {
                if !pointers.contains(pointer) {
                    pointers.push(pointer.clone());
                }
            }
        }
        pointers.push("#/components/schemas/ErrorResponse".into());
        for pointer in pointers {
            self.prepare_validator(&pointer);
        }
    }

    /// Compiles the schema at `pointer` unless that is done (one that does not compile is
    /// reported where it is used).
    pub fn prepare_validator(&self, pointer: &str) {
        self.compiled(pointer);
    }

    /// Whether validating against the schema at `pointer` would compile it first.
    pub fn needs_compiling(&self, pointer: &str) -> bool {
        self.validators
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(pointer)
            .is_none_or(|cell| cell.get().is_none())
    }

    /// The cell of a schema's validator, compiled.
    pub(super) fn compiled(&self, pointer: &str) -> Arc<CompiledOnce> {
        // Read-locked on the hot path: after the first answers every pointer is there.
        let known = self
            .validators
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(pointer)
            .cloned();
        let cell = known.unwrap_or_else(|| {
            // The cell of the schema the pointer leads to, under both names.
            let canonical = self.canonical(pointer);
            let mut map = self.validators.write().unwrap_or_else(|e| e.into_inner());
            let cell = map.entry(canonical.to_string()).or_default().clone();
            map.insert(pointer.to_string(), Arc::clone(&cell));
            cell
        });
        cell.get_or_init(|| self.compile(&self.canonical(pointer)));
        cell
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

    pub(super) fn compile(&self, pointer: &str) -> Result<jsonschema::Validator, String> {
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
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(registry)
            .build(&json!({ "$ref": format!("{DOCUMENT_URI}{}", encode_fragment(pointer)) }))
            .map_err(|e| format!("cannot compile the schema at {pointer}: {e}"))
    }
}
