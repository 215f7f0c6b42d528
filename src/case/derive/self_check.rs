//! Every derived request checked against the spec before it is sent.

use super::Probe;
use crate::spec::{Operation, Spec};
use serde_json::Value;

/// An accepted request must validate against the spec and a rejected one must not (in the
/// part probed; the rest of it must validate).
pub(super) fn self_check(spec: &Spec, op: &Operation, probe: &Probe) -> Result<(), String> {
    let mut parts: Vec<(String, String, &Value)> = Vec::new();
    if let (Some(body), Some(pointer)) = (&probe.body, &op.request_schema) {
        parts.push(("the body".into(), pointer.clone(), body));
    }
    for (name, value) in &probe.query {
        let pointer = op
            .parameters
            .iter()
            .find(|p| p.location == "query" && &p.name == name)
            .and_then(|p| p.schema.clone())
            .ok_or_else(|| format!("query parameter `{name}` has no schema"))?;
        parts.push((format!("query parameter `{name}`"), pointer, value));
    }
    if let Some(name) = &probe.probed_query {
        let sent = probe.query.iter().any(|(n, _)| n == name);
        let required = op.parameters.iter().any(|p| &p.name == name && p.required);
        let absence_probed = required && !probe.accept;
        if !sent && !absence_probed {
            return Err(format!(
                "query parameter `{name}` is left out, but it is not required"
            ));
        }
    }
    for (what, pointer, value) in parts {
        let errors = spec.validate(&pointer, value)?;
        let probed = match &probe.probed_query {
            Some(name) => what == format!("query parameter `{name}`"),
            None => what == "the body",
        };
        let short = crate::untrusted::compact(value, 300);
        if probed && !probe.accept {
            if errors.is_empty() {
                return Err(format!(
                    "should break the schema at {pointer}, but {what} validates: {short}"
                ));
            }
        } else if let Some(first) = errors.first() {
            return Err(format!(
                "{what} should validate against {pointer}, but does not: {first}; sent: {short}"
            ));
        }
    }
    Ok(())
}
