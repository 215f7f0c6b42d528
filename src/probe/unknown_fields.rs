//! Unknown fields on every operation with a body: a top-level field the operation's request
//! schema does not declare answers 400 with `code` = `unknown_parameter` (GEN-08, SHOULD).
//! Besides an invented name, every field another operation in scope declares and this one does
//! not is probed: a field known to one operation (`items` at create) is unknown to another
//! (update), and a server that shares one body parser between them accepts it.

use super::{equals, status, Context, Probes};
use crate::selector::Selector;
use crate::spec::Spec;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The requirement every unknown-field probe checks.
pub const REQUIREMENT: &str = "GEN-08";
/// A field no operation declares.
pub const INVENTED: &str = "x_conformance_unknown_field";

pub fn probes(context: &Context, out: &mut Probes) {
    let (Some(pointer), Some(Value::Object(body))) = (&context.op.request_schema, &context.body)
    else {
        return;
    };
    let spec = context.spec;
    let own = properties(spec, pointer);
    let mut unknown: BTreeMap<String, Value> = BTreeMap::new();
    unknown.insert(INVENTED.to_string(), Value::from("x"));
    for (field, value) in context.declared.get(spec) {
        if !own.contains_key(field) {
            unknown.insert(field.clone(), value.clone());
        }
    }
    let op = &context.op.id;
    for (field, value) in unknown {
        let id = format!("{}{op}/unknown-field/{field}", super::PREFIX);
        if own.contains_key(&field) || body.contains_key(&field) {
            out.inconsistent.push((
                id,
                format!("`{field}` is declared by the request schema {pointer}"),
            ));
            continue;
        }
        let mut sent = body.clone();
        sent.insert(field.clone(), value);
        let mut expect = status(&[400]);
        if let Ok(selector) = Selector::parse("error.code") {
            let code = equals(spec, REQUIREMENT, Value::from("unknown_parameter"));
            expect.json.push((selector, code));
        }
        let mut call = context.call(1, &format!("with `{field}`"), REQUIREMENT, expect);
        call.body = crate::case::Body::Json(Value::Object(sent));
        let title = format!("{op} with the unknown top-level field `{field}` answers 400");
        out.cases
            .push(context.case("unknown-field", &field, REQUIREMENT, title, vec![call]));
    }
}

/// Every top-level body field some operation declares, with a value of it sampled from the
/// first operation that does: built once for the probes of every operation.
#[derive(Default)]
pub struct Declared(OnceLock<BTreeMap<String, Value>>);

impl Declared {
    fn get(&self, spec: &Spec) -> &BTreeMap<String, Value> {
        self.0.get_or_init(|| {
            let mut declared = BTreeMap::new();
            for op in spec.operations() {
                let Some(pointer) = &op.request_schema else {
                    continue;
                };
                for (field, field_pointer) in properties(spec, pointer) {
                    if declared.contains_key(&field) {
                        continue;
                    }
                    let value = crate::case::derive::sample(spec, op, &field_pointer)
                        .filter(|v| !v.is_null())
                        .unwrap_or_else(|| Value::from("x"));
                    declared.insert(field, value);
                }
            }
            declared
        })
    }
}

/// The top-level properties of the object schema at `pointer` (through `$ref`s), each with the
/// pointer of its schema.
pub fn properties(spec: &Spec, pointer: &str) -> BTreeMap<String, String> {
    let doc = spec.document();
    let mut pointer = pointer.to_string();
    for _ in 0..16 {
        let Some(node) = pointer.strip_prefix('#').and_then(|p| doc.pointer(p)) else {
            return BTreeMap::new();
        };
        if let Some(target) = node.get("$ref").and_then(Value::as_str) {
            pointer = target.to_string();
            continue;
        }
        let Some(properties) = node.get("properties").and_then(Value::as_object) else {
            // An `allOf` object (CreateResponse): the properties of all its members.
            let Some(members) = node.get("allOf").and_then(Value::as_array) else {
                return BTreeMap::new();
            };
            return (0..members.len())
                .flat_map(|i| properties(spec, &format!("{pointer}/allOf/{i}")))
                .collect();
        };
        return properties
            .keys()
            .map(|name| {
                let escaped = name.replace('~', "~0").replace('/', "~1");
                (name.clone(), format!("{pointer}/properties/{escaped}"))
            })
            .collect();
    }
    BTreeMap::new()
}
