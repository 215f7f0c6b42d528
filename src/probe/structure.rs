//! Structural fidelity of stored items: an operation that adds children from an array field
//! of its body (`items` of create items) and answers them as a list (`data`), and whose path
//! also lists them, is sent one message of
//! every role the schema takes, each with three text parts from the fidelity corpus, then one
//! more message in a second call. Each message must come back as sent (role, parts in order,
//! part types, text byte for byte) in the write's answer, in the list in both orders, and on
//! retrieve by its id. The retrieves also prove the ids unique, within a call and across calls:
//! every message's text differs, so two items sharing an id cannot both be retrieved as sent
//! (ITM-12). Roles and part types come from the schema: a role enum found under the field's
//! items, each tried with output text parts, else input text parts (see [`candidates`]).

use super::pointer::{resolve, resolved_pointer};
use super::{equals, status, success_statuses, Context, Probes};
use crate::case::{Body, Matcher, Step};
use crate::place::Place;
use crate::selector::Selector;
use crate::spec::{Operation, Spec};
use serde_json::{json, Value};

/// The requirement every structure probe checks.
pub const REQUIREMENT: &str = "ITM-12";
/// The variables the two writes' answers are captured in.
const FIRST: &str = "first_call";
const SECOND: &str = "second_call";
/// Text parts per message.
const PARTS: usize = 3;

pub fn probes(context: &Context, out: &mut Probes) {
    let op = context.op;
    let (Some(pointer), Some(Value::Object(base))) = (&op.request_schema, &context.body) else {
        return;
    };
    let spec = context.spec;
    // The write answers the children it made as a list (`data`), as the list does.
    let answers_a_list = |o: &Operation| {
        success_statuses(o).iter().any(|&code| {
            spec.response_schema(o, code).is_some_and(|pointer| {
                super::unknown_fields::properties(spec, &pointer)
                    .get("data")
                    .and_then(|data| array_items(spec, data))
                    .is_some()
            })
        })
    };
    if !answers_a_list(op) {
        return;
    }
    let Some(list) = spec
        .operations()
        .find(|o| o.method == "GET" && o.path == op.path && o.id != op.id)
        .filter(|list| answers_a_list(list))
        .filter(|list| {
            ["order", "limit"]
                .iter()
                .all(|q| list.query_params.iter().any(|p| p == q))
        })
    else {
        return;
    };
    let retrieve = spec.operations().find(|o| {
        o.method == "GET"
            && o.path.starts_with(&format!("{}/{{", op.path))
            && o.path_params.len() == op.path_params.len() + 1
    });
    for (field, field_pointer) in super::unknown_fields::properties(spec, pointer) {
        let Some(items_pointer) = array_items(spec, &field_pointer) else {
            continue;
        };
        let roles = roles(spec, &items_pointer);
        if roles.is_empty() {
            continue;
        }
        let id = format!("{}{}/structure/{field}", super::PREFIX, op.id);
        let with = |messages: Vec<Value>| {
            let mut body = base.clone();
            body.insert(field.clone(), Value::Array(messages));
            Value::Object(body)
        };
        let accepted = |message: &Value| under_some_branch(spec, &items_pointer, message);
        let corpus: Vec<String> = super::fidelity::corpus()
            .values()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let mut texts = corpus.iter().cycle();
        let mut messages = Vec::new();
        for role in &roles {
            let parts: Vec<String> = (0..PARTS)
                .map(|j| format!("{role} {j}: {}", texts.next().map_or("", String::as_str)))
                .collect();
            match candidates(role, &parts).into_iter().find(|m| accepted(m)) {
                Some(message) => messages.push(message),
                None => out.inconsistent.push((
                    id.clone(),
                    format!("no message of role `{role}` with text parts validates"),
                )),
            }
        }
        let Some(extra) = messages.first().map(|m| relabelled(m, "second call")) else {
            continue;
        };
        let mut steps = Vec::new();
        let mut first = context.call(
            1,
            &format!("add a message of every role to `{field}`"),
            REQUIREMENT,
            answered_as(spec, &success_statuses(op), &messages),
        );
        first.body = Body::Json(with(messages.clone()));
        capture(&mut first, FIRST);
        steps.push(first);
        let mut second = context.call(
            2,
            "add one more in a second call",
            REQUIREMENT,
            answered_as(spec, &success_statuses(op), std::slice::from_ref(&extra)),
        );
        second.body = Body::Json(with(vec![extra.clone()]));
        capture(&mut second, SECOND);
        steps.push(second);
        let mut all = messages.clone();
        all.push(extra);
        let ids: Vec<String> = (0..messages.len())
            .map(|i| format!("{{{{{FIRST}.data[{i}].id}}}}"))
            .chain(std::iter::once(format!("{{{{{SECOND}.data[0].id}}}}")))
            .collect();
        for order in ["asc", "desc"] {
            let (mut listed, mut listed_ids) = (all.clone(), ids.clone());
            if order == "desc" {
                listed.reverse();
                listed_ids.reverse();
            }
            let mut expect = answered_as(spec, &success_statuses(list), &listed);
            for (i, id) in listed_ids.iter().enumerate() {
                push(
                    &mut expect.json,
                    &format!("data[{i}].id"),
                    equals(spec, REQUIREMENT, Value::from(id.clone())),
                );
            }
            let mut step = read(
                context,
                list,
                steps.len() + 1,
                &format!("list, order {order}"),
                expect,
            );
            step.query = vec![
                ("order".into(), Value::from(order)),
                ("limit".into(), Value::from(all.len())),
            ];
            steps.push(step);
        }
        if let Some(retrieve) = retrieve {
            let child = retrieve.path_params.last().cloned().unwrap_or_default();
            for (i, (message, id)) in all.iter().zip(&ids).enumerate() {
                let mut expect = status(&success_statuses(retrieve));
                expect_message(spec, &mut expect.json, "", message);
                let mut step = read(
                    context,
                    retrieve,
                    steps.len() + 1,
                    &format!("retrieve message {}", i + 1),
                    expect,
                );
                step.path_params
                    .push((child.clone(), Value::from(id.clone())));
                steps.push(step);
            }
        }
        let title = format!(
            "{} keeps a message of every role as sent: role, parts in order, their types and \
             text, in its answer, the list and on retrieve, under ids of their own",
            op.id
        );
        out.cases
            .push(context.case("structure", &field, REQUIREMENT, title, steps));
    }
}

/// The candidate messages of one role, each part a text: output text parts, else input text
/// parts, as the schema takes them. An assistant message is sent its text as one string: the
/// live API takes only output parts for it, which the official schema takes only with an id and
/// a status (`OutputMessage`), so a string is the one form both agree on; the part type it
/// becomes is the server's choice and not judged.
pub(super) fn candidates(role: &str, texts: &[String]) -> Vec<Value> {
    let message = |content: Value| json!({"type": "message", "role": role, "content": content});
    if role == "assistant" {
        return vec![message(Value::from(texts.join("\n")))];
    }
    let parts = |part: &dyn Fn(&str) -> Value| -> Value {
        Value::Array(texts.iter().map(|t| part(t)).collect())
    };
    vec![
        message(parts(
            &|t| json!({"type": "output_text", "text": t, "annotations": []}),
        )),
        message(parts(&|t| json!({"type": "input_text", "text": t}))),
    ]
}

/// The same message with every text part labelled anew, so its text differs from the original.
fn relabelled(message: &Value, label: &str) -> Value {
    let mut message = message.clone();
    if let Some(text) = message["content"].as_str() {
        message["content"] = Value::from(format!("{label}, {text}"));
    }
    if let Some(parts) = message["content"].as_array_mut() {
        for part in parts {
            if let Some(text) = part["text"].as_str() {
                part["text"] = Value::from(format!("{label}, {text}"));
            }
        }
    }
    message
}

/// Expects a list envelope whose `data` holds exactly `messages`, in order.
fn answered_as(spec: &Spec, statuses: &[u16], messages: &[Value]) -> crate::case::Expect {
    let mut expect = status(statuses);
    push(&mut expect.json, "data", length(spec, messages.len()));
    for (i, message) in messages.iter().enumerate() {
        expect_message(spec, &mut expect.json, &format!("data[{i}]."), message);
    }
    expect
}

/// Matchers that the item at `prefix` has the message's role and its parts' types and text,
/// in order and no more.
fn expect_message(spec: &Spec, json: &mut Vec<(Selector, Matcher)>, prefix: &str, message: &Value) {
    push(
        json,
        &format!("{prefix}role"),
        equals(spec, REQUIREMENT, message["role"].clone()),
    );
    if let Some(text) = message["content"].as_str() {
        push(json, &format!("{prefix}content"), length(spec, 1));
        let text = equals(spec, REQUIREMENT, Value::from(text));
        push(json, &format!("{prefix}content[0].text"), text);
        return;
    }
    let parts = message["content"].as_array().cloned().unwrap_or_default();
    push(json, &format!("{prefix}content"), length(spec, parts.len()));
    for (j, part) in parts.iter().enumerate() {
        for key in ["type", "text"] {
            push(
                json,
                &format!("{prefix}content[{j}].{key}"),
                equals(spec, REQUIREMENT, part[key].clone()),
            );
        }
    }
}

fn push(json: &mut Vec<(Selector, Matcher)>, selector: &str, matcher: Matcher) {
    if let Ok(selector) = Selector::parse(selector) {
        json.push((selector, matcher));
    }
}

fn length(spec: &Spec, n: usize) -> Matcher {
    let mut matcher = equals(spec, REQUIREMENT, Value::Null);
    matcher.equals = None;
    matcher.length = Some(n);
    matcher
}

fn capture(step: &mut Step, variable: &str) {
    if let Ok(whole) = Selector::parse("$") {
        step.capture.push((variable.to_string(), whole));
    }
}

/// A GET of `read` on what the case set up, numbered `number` after the setup.
fn read(
    context: &Context,
    read: &Operation,
    number: usize,
    name: &str,
    expect: crate::case::Expect,
) -> Step {
    let mut step = context.call(number, name, REQUIREMENT, expect);
    step.operation = Some(read.id.clone());
    step.method = read.method.clone();
    step.path = read.path.clone();
    step.body = Body::None;
    step.at = Place::operation(read);
    step
}

/// Whether `value` is valid under the schema at `pointer`, reading a `oneOf` as `anyOf`: the
/// official item schemas overlap (a user message with parts is both an `EasyInputMessage` and
/// an `InputMessage`), and the API takes such a message.
pub(super) fn under_some_branch(spec: &Spec, pointer: &str, value: &Value) -> bool {
    let pointer = resolved_pointer(spec, pointer);
    let branches = resolve(spec, &pointer)
        .and_then(|node| node.get("oneOf"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if branches == 0 {
        return !super::glance::rejects(spec, &pointer, value)
            && matches!(spec.validate(&pointer, value), Ok(errors) if errors.is_empty());
    }
    (0..branches).any(|i| under_some_branch(spec, &format!("{pointer}/oneOf/{i}"), value))
}

/// The pointer of the items of an array field, following `$ref`s.
pub(super) fn array_items(spec: &Spec, pointer: &str) -> Option<String> {
    let node = resolve(spec, pointer)?;
    (node.get("type").and_then(Value::as_str) == Some("array"))
        .then(|| format!("{}/items", resolved_pointer(spec, pointer)))
}

/// Every value of a `role` enum under the schema at `pointer` (through `$ref`, `oneOf`,
/// `anyOf`, `allOf`), in the order first found.
pub(super) fn roles(spec: &Spec, pointer: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut seen = Vec::new();
    let mut todo = vec![pointer.to_string()];
    while let Some(pointer) = todo.pop() {
        let pointer = resolved_pointer(spec, &pointer);
        if seen.contains(&pointer) || seen.len() > 512 {
            continue;
        }
        seen.push(pointer.clone());
        let Some(node) = resolve(spec, &pointer) else {
            continue;
        };
        let role = format!("{pointer}/properties/role");
        if let Some(values) = resolve(spec, &role)
            .and_then(|r| r.get("enum"))
            .and_then(Value::as_array)
        {
            for value in values.iter().filter_map(Value::as_str) {
                if !found.iter().any(|f| f == value) {
                    found.push(value.to_string());
                }
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            let count = node.get(key).and_then(Value::as_array).map_or(0, Vec::len);
            // In reverse, so that the stack visits the branches in their order.
            todo.extend((0..count).rev().map(|i| format!("{pointer}/{key}/{i}")));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_role_of_the_item_schema_is_sent_and_read_back_by_each_way_of_reading() {
        let spec = Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap();
        assert_eq!(
            roles(&spec, "#/components/schemas/InputItem"),
            ["user", "assistant", "system", "developer"]
        );
        let cases: Vec<_> = super::super::generate(&spec)
            .into_iter()
            .flatten()
            .filter(|c| c.id.contains("/structure/"))
            .collect();
        let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        // Only create items adds children, answers them as a list, and lists them on its path
        // (a chat completion takes `messages` but answers a completion).
        assert_eq!(ids, ["probe/createConversationItems/structure/items"]);
        let steps = &cases[0].steps;
        let Body::Json(body) = &steps[1].body else {
            panic!("the first write has a body");
        };
        let sent: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(sent, ["user", "assistant", "system", "developer"]);
        // Setup, two writes, both list orders, one retrieve per message.
        assert_eq!(steps.len(), 1 + 2 + 2 + 5);
        let texts: std::collections::BTreeSet<String> = steps
            .iter()
            .flat_map(|s| &s.expect.json)
            .filter_map(|(_, m)| m.equals.as_ref()?.as_str().map(str::to_string))
            .filter(|t| t.contains(": "))
            .collect();
        assert!(texts.contains("user 0:   padded both sides  "), "{texts:?}");
    }
}
