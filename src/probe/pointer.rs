//! Pointers into the spec's document, with `$ref`s followed: how the probes reach a schema.

use crate::spec::Spec;
use serde_json::Value;

/// The node `pointer` names, with `$ref`s followed to the schema they name.
pub(super) fn resolve<'s>(spec: &'s Spec, pointer: &str) -> Option<&'s Value> {
    let pointer = resolved_pointer(spec, pointer);
    spec.document().pointer(pointer.strip_prefix('#')?)
}

/// `pointer`, with `$ref`s followed to the schema they name.
pub(super) fn resolved_pointer(spec: &Spec, pointer: &str) -> String {
    let mut pointer = pointer.to_string();
    for _ in 0..16 {
        let next = pointer
            .strip_prefix('#')
            .and_then(|p| spec.document().pointer(p))
            .and_then(|node| node.get("$ref"))
            .and_then(Value::as_str);
        match next {
            Some(target) => pointer = target.to_string(),
            None => break,
        }
    }
    pointer
}
