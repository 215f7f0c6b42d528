//! Isolation between parents: a child resource (an item) addressed under another parent (a
//! second conversation) answers 404, for every operation whose path has a parent and a child
//! parameter; after such a delete, the child is still there under its own parent (ITM-11).

use super::{status, success_statuses, Context, Probes};
use serde_json::Value;

/// The requirement every isolation probe checks.
pub const REQUIREMENT: &str = "ITM-11";
/// The variable the second parent is captured in.
const OTHER: &str = "other_parent";

pub fn probes(context: &Context, out: &mut Probes) {
    let op = context.op;
    if op.path_params.len() < 2 || !matches!(op.method.as_str(), "GET" | "DELETE") {
        return;
    }
    let id = format!("{}{}/isolation/other_parent", super::PREFIX, op.id);
    let parent = &op.path_params[0];
    let parent_value = context
        .path_params
        .iter()
        .find(|(name, _)| name == parent)
        .and_then(|(_, v)| v.as_str())
        .unwrap_or_default();
    // `{{conv.id}}` -> `conv`: the setup step that captures it makes the parent.
    let variable = parent_value
        .trim_start_matches("{{")
        .split(['.', '}'])
        .next()
        .unwrap_or_default()
        .to_string();
    let Some(maker) = context
        .setup
        .iter()
        .find(|s| s.capture.iter().any(|(name, _)| *name == variable))
    else {
        out.inconsistent.push((
            id,
            format!("no setup step captures `{variable}`, which gives the parent `{parent}`"),
        ));
        return;
    };
    let mut other = maker.clone();
    other.label = format!("step {} (create another parent)", context.setup.len() + 1);
    other.capture = maker
        .capture
        .iter()
        .filter(|(name, _)| *name == variable)
        .map(|(_, selector)| (OTHER.to_string(), selector.clone()))
        .collect();
    let moved = parent_value.replace(&format!("{{{{{variable}."), &format!("{{{{{OTHER}."));
    let mut call = context.call(
        2,
        &format!("{} under another {parent}", op.method),
        REQUIREMENT,
        status(&[404]),
    );
    for (name, value) in &mut call.path_params {
        if name == parent {
            *value = Value::from(moved.clone());
        }
    }
    let mut steps = vec![other, call];
    if op.method == "DELETE" {
        let Some(retrieve) = context
            .spec
            .operations()
            .find(|o| o.path == op.path && o.method == "GET")
        else {
            out.inconsistent.push((
                id,
                "no GET on the same path shows that the delete changed nothing".into(),
            ));
            return;
        };
        let mut check = context.call(
            3,
            "still there under its own parent",
            REQUIREMENT,
            status(&success_statuses(retrieve)),
        );
        check.operation = Some(retrieve.id.clone());
        check.method = retrieve.method.clone();
        check.body = crate::case::Body::None;
        steps.push(check);
    }
    let title = format!(
        "{} of a child under another {parent} answers 404{}",
        op.id,
        if op.method == "DELETE" {
            " and deletes nothing"
        } else {
            ""
        }
    );
    out.cases
        .push(context.case("isolation", "other_parent", REQUIREMENT, title, steps));
}
