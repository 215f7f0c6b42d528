//! Defaults of list operations: every query parameter of a list whose schema declares a
//! `default` (in the official document or added by the overlay where the catalogue states it)
//! is probed by listing twice, once with the parameter stated at its default and once with it
//! left out: both answers must be the same (the same items in the same order, and the rest of
//! the envelope the list schema requires). Where the list's path has an operation that adds
//! children from an array field (create items), the probe first adds one more child than the
//! largest integer default (the default `limit`), in one call of as many as the schema allows
//! and the rest in another, so that the default limit and order are observable across calls.
//!
//! Only lists under a parent the probe sets up are probed: a top-level list also holds what
//! other clients make, which may change between the two reads. The requirement is the one the
//! overlay names for the parameter (`x-conformance-derive.requirements.query.<name>.default`),
//! else GEN-10.

use super::pointer::resolve;
use super::structure::{array_items, candidates, roles, under_some_branch};
use super::{equals, status, success_statuses, Context, Probes};
use crate::case::{Body, Step};
use crate::place::Place;
use crate::selector::Selector;
use crate::spec::{Operation, Spec};
use serde_json::Value;

/// The requirement of a default the overlay gives no owner.
pub const REQUIREMENT: &str = "GEN-10";
/// The variable the list with the default stated is captured in.
const STATED: &str = "stated";
/// Children added for a list whose defaults include no integer: enough to show an order.
const CHILDREN_FOR_ORDER: usize = 3;
/// No more children than this are added to make a default limit observable: above it only
/// the order is probed.
const MOST_CHILDREN: usize = 50;

pub fn probes(context: &Context, out: &mut Probes) {
    let op = context.op;
    let spec = context.spec;
    if op.method != "GET" || op.path_params.is_empty() {
        return;
    }
    let Some(required) = list_envelope(spec, op) else {
        return;
    };
    let defaults = defaults(spec, op);
    if defaults.is_empty() {
        return;
    }
    let filter: Vec<(String, Value)> = op
        .derive
        .as_ref()
        .map(|d| d.query.clone().into_iter().collect())
        .unwrap_or_default();
    let largest = defaults.iter().filter_map(|(_, v)| v.as_u64()).max();
    let children = match largest {
        Some(limit) if (limit as usize) < MOST_CHILDREN => limit as usize + 1,
        _ => CHILDREN_FOR_ORDER,
    };
    let writes = match children_writes(context, children) {
        Ok(writes) => writes,
        Err(why) => {
            let id = format!("{}{}/defaults", super::PREFIX, op.id);
            out.inconsistent.push((id, why));
            return;
        }
    };
    for (name, default) in defaults {
        if filter.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let requirement = op
            .derive
            .as_ref()
            .and_then(|d| d.requirements.get(&format!("query.{name}")))
            .and_then(|r| r.default.clone())
            .unwrap_or_else(|| REQUIREMENT.to_string());
        let mut steps = writes.clone();
        let mut stated = context.call(
            steps.len() + 1,
            &format!("list with `{name}` at its default `{default}`"),
            &requirement,
            status(&success_statuses(op)),
        );
        stated.query = filter.clone();
        stated.query.push((name.clone(), default.clone()));
        if let Ok(whole) = Selector::parse("$") {
            stated.capture.push((STATED.to_string(), whole));
        }
        steps.push(stated);
        let mut expect = status(&success_statuses(op));
        for property in &required {
            if let Ok(selector) = Selector::parse(property) {
                let same = Value::from(format!("{{{{{STATED}.{property}}}}}"));
                // Any field that differs is the default not kept: one defect, that default's.
                let mut matcher = equals(spec, &requirement, same);
                matcher.cause = Some(format!(
                    "the list without `{name}` differs from `{name}` at its default"
                ));
                expect.json.push((selector, matcher));
            }
        }
        let mut omitted = context.call(
            steps.len() + 1,
            &format!("list with `{name}` left out"),
            &requirement,
            expect,
        );
        omitted.query = filter.clone();
        steps.push(omitted);
        let title = format!(
            "{} without `{name}` lists exactly as with `{name}={}`, its default",
            op.id,
            default
                .as_str()
                .map_or_else(|| default.to_string(), str::to_string)
        );
        out.cases
            .push(context.case("defaults", &name, &requirement, title, steps));
    }
}

/// The query parameters of `op` whose schema declares a `default`, with it, in the
/// document's order.
fn defaults(spec: &Spec, op: &Operation) -> Vec<(String, Value)> {
    op.parameters
        .iter()
        .filter(|p| p.location == "query")
        .filter_map(|p| {
            let schema = resolve(spec, p.schema.as_deref()?)?;
            Some((p.name.clone(), schema.get("default")?.clone()))
        })
        .collect()
}

/// The properties the list's answer requires, when it answers a list (`data`, an array).
fn list_envelope(spec: &Spec, op: &Operation) -> Option<Vec<String>> {
    success_statuses(op).iter().find_map(|&code| {
        let pointer = spec.response_schema(op, code)?;
        let properties = super::unknown_fields::properties(spec, &pointer);
        array_items(spec, properties.get("data")?)?;
        let required = resolve(spec, &pointer)?.get("required")?.as_array()?;
        let names: Vec<String> = required
            .iter()
            .filter_map(Value::as_str)
            .filter(|name| properties.contains_key(*name))
            .map(str::to_string)
            .collect();
        names.iter().any(|n| n == "data").then_some(names)
    })
}

/// The calls that add `children` children to what the list lists, through the operation on
/// its path that adds them from an array field of its body: as many as the field takes in the
/// first call, the rest in the following ones (none when no operation adds children).
fn children_writes(context: &Context, children: usize) -> Result<Vec<Step>, String> {
    let spec = context.spec;
    let list = context.op;
    let Some((creator, pointer)) = spec.operations().find_map(|o| {
        (o.method == "POST" && o.path == list.path)
            .then_some(o)
            .zip(o.request_schema.clone())
    }) else {
        return Ok(Vec::new());
    };
    let Some(Value::Object(base)) = crate::case::derive::sample(spec, creator, &pointer) else {
        return Ok(Vec::new());
    };
    for (field, field_pointer) in super::unknown_fields::properties(spec, &pointer) {
        let Some(items_pointer) = array_items(spec, &field_pointer) else {
            continue;
        };
        let Some(role) = roles(spec, &items_pointer).into_iter().next() else {
            continue;
        };
        let shaped = |i: usize| candidates(&role, &[format!("child {i} of {children}")]);
        // The children differ only in their text: the shape that validates is found with the
        // first. Each child is checked too, but under the embedded spec, whose choices the
        // crate's tests check (`the_embedded_spec_probes_the_same_without_checking_the_premises`).
        let shape = shaped(0)
            .iter()
            .position(|m| under_some_branch(spec, &items_pointer, m));
        let child = |i: usize| {
            let message = shaped(i).swap_remove(shape?);
            (spec.is_embedded() || under_some_branch(spec, &items_pointer, &message))
                .then_some(message)
        };
        let most = resolve(spec, &field_pointer)
            .and_then(|schema| schema.get("maxItems"))
            .and_then(Value::as_u64)
            .map_or(children - 1, |most| most as usize)
            .clamp(1, (children - 1).max(1));
        let owner = spec
            .catalogue
            .owner("operation", &creator.id)
            .unwrap_or(REQUIREMENT)
            .to_string();
        let mut writes = Vec::new();
        let mut made = 0;
        while made < children {
            let count = most.min(children - made);
            let batch: Option<Vec<Value>> = (made..made + count).map(child).collect();
            let batch = batch.ok_or_else(|| {
                format!(
                    "no `{role}` message with a text validates under `{field}` of {}",
                    creator.id
                )
            })?;
            let mut body = base.clone();
            body.insert(field.clone(), Value::Array(batch));
            // Each child was checked on its own, a `oneOf` read as `anyOf` (see
            // [`under_some_branch`]): the whole body would fail the overlapping branches.
            let body = Value::Object(body);
            let mut write = context.call(
                writes.len() + 1,
                &format!("add {count} to `{field}` in one call"),
                &owner,
                status(&success_statuses(creator)),
            );
            write.operation = Some(creator.id.clone());
            write.method = creator.method.clone();
            write.body = Body::Json(body);
            write.at = Place::operation(creator);
            writes.push(write);
            made += count;
        }
        return Ok(writes);
    }
    Ok(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Case;
    use std::path::Path;

    fn probes() -> Vec<Case> {
        let spec = Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap();
        super::super::generate(&spec)
            .into_iter()
            .map(|c| c.unwrap_or_else(|b| panic!("{}: {}", b.id, b.error)))
            .filter(|c| c.id.contains("/defaults/"))
            .collect()
    }

    #[test]
    fn every_defaulted_parameter_of_a_list_under_a_parent_is_probed_under_its_owner() {
        let cases = probes();
        let owners: Vec<(&str, &str)> = cases
            .iter()
            .map(|c| (c.id.as_str(), c.requirement.as_str()))
            .collect();
        // The order defaults the overlay adds where the catalogue states them, the limit of
        // the spec; a top-level list (chat completions) holds what others make and is not
        // probed.
        assert_eq!(
            owners,
            [
                ("probe/getChatCompletionMessages/defaults/limit", "GEN-10"),
                ("probe/getChatCompletionMessages/defaults/order", "GEN-10"),
                ("probe/listConversationItems/defaults/limit", "ITM-03"),
                ("probe/listConversationItems/defaults/order", "ITM-03"),
                ("probe/listInputItems/defaults/limit", "RSP-06"),
                ("probe/listInputItems/defaults/order", "RSP-06"),
            ]
        );
    }

    #[test]
    fn the_default_limit_is_made_observable_by_writes_in_one_call_and_another() {
        let cases = probes();
        let order = cases
            .iter()
            .find(|c| c.id == "probe/listConversationItems/defaults/order")
            .unwrap();
        let steps = &order.steps;
        // Set-up, 20 items in one call and 1 in another (limit 20, plus one), then both lists.
        assert_eq!(steps.len(), 1 + 2 + 2, "{steps:#?}");
        let added: Vec<usize> = steps[1..3]
            .iter()
            .map(|s| match &s.body {
                Body::Json(body) => body["items"].as_array().unwrap().len(),
                Body::None => 0,
                _ => panic!("a JSON body"),
            })
            .collect();
        assert_eq!(added, [20, 1]);
        assert!(steps[1..3]
            .iter()
            .all(|s| s.operation.as_deref() == Some("createConversationItems")));
        let (stated, omitted) = (&steps[3], &steps[4]);
        assert_eq!(stated.query, [("order".to_string(), Value::from("desc"))]);
        assert!(omitted.query.is_empty());
        // The list left to its default is the stated one: items, order, `has_more`.
        let compared: Vec<(String, Value)> = omitted
            .expect
            .json
            .iter()
            .map(|(s, m)| (s.to_string(), m.equals.clone().unwrap()))
            .collect();
        for property in ["data", "has_more"] {
            let same = Value::from(format!("{{{{stated.{property}}}}}"));
            assert!(
                compared.contains(&(property.to_string(), same)),
                "{compared:?}"
            );
        }
        assert!(omitted
            .expect
            .json
            .iter()
            .all(|(_, m)| m.requirement == "ITM-03"));
    }

    #[test]
    fn each_default_not_kept_is_one_cause_of_its_own_whatever_fields_differ() {
        let cases = probes();
        let causes = |id: &str| -> Vec<Option<String>> {
            let case = cases.iter().find(|c| c.id == id).unwrap();
            let omitted = case.steps.last().unwrap();
            let mut causes: Vec<_> = omitted
                .expect
                .json
                .iter()
                .map(|(_, m)| m.cause.clone())
                .collect();
            causes.dedup();
            causes
        };
        let limit = causes("probe/listConversationItems/defaults/limit");
        let order = causes("probe/listConversationItems/defaults/order");
        assert_eq!(limit.len(), 1, "{limit:?}");
        assert!(limit[0].as_deref().is_some_and(|c| c.contains("`limit`")));
        assert_ne!(limit, order);
    }
}
