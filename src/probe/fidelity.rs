//! Round-trip fidelity of stored strings: every top-level body field that takes a map of
//! strings (metadata) is sent a corpus of keys and values servers are known to mangle
//! (surrounding and inner whitespace, tabs and newlines, case, composed and decomposed forms of
//! the same text, zero-width and combining characters, astral emoji, right-to-left text, quotes
//! and backslashes) and must come back byte for byte, in the write's answer and, after a
//! create, in the retrieve of what it made (GEN-09). Which fields take such a map is decided by the schema:
//! a field whose schema accepts the corpus map is probed, so a field added to a schema gets
//! its probe with no code change.

use super::{equals, status, success_statuses, Context, Probes};
use crate::selector::Selector;
use crate::spec::Operation;
use serde_json::{Map, Value};

/// The requirement every fidelity probe checks.
pub const REQUIREMENT: &str = "GEN-09";
/// The variable the write's answer is captured in.
const WRITTEN: &str = "written";

/// Key and value pairs that a server must store as they are: each key shows what it holds.
pub fn corpus() -> Map<String, Value> {
    let pairs: [(&str, &str); 14] = [
        ("surrounding", "  padded both sides  "),
        (" key with spaces ", "value"),
        ("inner", "two  spaces\tand a tab"),
        ("newlines", "line one\nline two\r\n"),
        ("Case", "UPPER lower MiXeD"),
        ("CASE", "another key that differs only in case"),
        ("nfc", "caf\u{e9}"),
        ("nfd", "cafe\u{301}"),
        ("zero_width", "a\u{200b}b\u{feff}c\u{200d}d"),
        ("combining", "Z\u{351}\u{36b}\u{343}a\u{32b}"),
        ("astral", "\u{1f600}\u{1f469}\u{200d}\u{1f4bb}\u{1d11e}"),
        (
            "rtl",
            "\u{5e9}\u{5dc}\u{5d5}\u{5dd} \u{627}\u{644}\u{639}\u{631}\u{628}\u{64a}\u{629}",
        ),
        (
            "quotes",
            "\"double\" 'single' \\backslash\\ \\n not a newline",
        ),
        ("caf\u{e9}\u{1f600}", "a key outside ASCII"),
    ];
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
        .collect()
}

pub fn probes(context: &Context, out: &mut Probes) {
    let (Some(pointer), Some(Value::Object(body))) = (&context.op.request_schema, &context.body)
    else {
        return;
    };
    let spec = context.spec;
    let Some(retrieve) = retrieve_of(context) else {
        return;
    };
    let corpus = Value::Object(corpus());
    for (field, field_pointer) in super::unknown_fields::properties(spec, pointer) {
        // The schema decides: a field that takes the corpus map, and no map of a number, is a
        // map of strings (metadata); an open object (options, settings) is not stored as such.
        let accepts = |value: &Value| matches!(spec.validate(&field_pointer, value), Ok(errors) if errors.is_empty());
        if !accepts(&corpus) || accepts(&serde_json::json!({"k": 1})) {
            continue;
        }
        let mut sent = body.clone();
        sent.insert(field.clone(), corpus.clone());
        let id = format!("{}{}/fidelity/{field}", super::PREFIX, context.op.id);
        match spec.validate(pointer, &Value::Object(sent.clone())) {
            Ok(errors) if errors.is_empty() => {}
            Ok(errors) => {
                let first = errors.first().cloned().unwrap_or_default();
                out.inconsistent
                    .push((id, format!("the corpus body does not validate: {first}")));
                continue;
            }
            Err(e) => {
                out.inconsistent.push((id, e));
                continue;
            }
        }
        let Ok(selector) = Selector::parse(&field) else {
            continue;
        };
        let mut expect = status(&success_statuses(context.op));
        expect
            .json
            .push((selector.clone(), equals(spec, REQUIREMENT, corpus.clone())));
        let mut write = context.call(1, &format!("write `{field}`"), REQUIREMENT, expect);
        write.body = crate::case::Body::Json(Value::Object(sent));
        if let Ok(whole) = Selector::parse("$") {
            write.capture.push((WRITTEN.to_string(), whole));
        }
        let mut expect = status(&success_statuses(retrieve));
        expect
            .json
            .push((selector, equals(spec, REQUIREMENT, corpus.clone())));
        let mut read = context.call(2, "retrieve what was written", REQUIREMENT, expect);
        read.operation = Some(retrieve.id.clone());
        read.method = retrieve.method.clone();
        read.path = retrieve.path.clone();
        read.body = crate::case::Body::None;
        read.path_params = retrieve
            .path_params
            .iter()
            .map(|name| {
                let value = context
                    .path_params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| Value::from(format!("{{{{{WRITTEN}.id}}}}")));
                (name.clone(), value)
            })
            .collect();
        // An update's strings are judged on its answer: whether an update is kept at all is
        // the update's own requirement, which reports a server that answers and forgets.
        let creates = retrieve.path != context.op.path;
        let steps = if creates {
            vec![write, read]
        } else {
            vec![write]
        };
        let title = format!(
            "{} stores every string of `{field}` as it was sent, byte for byte",
            context.op.id
        );
        out.cases
            .push(context.case("fidelity", &field, REQUIREMENT, title, steps));
    }
}

/// The GET that reads back what the operation wrote: the one on its own path (an update), or
/// on its path plus one parameter (a create), which the write's answer `id` fills.
fn retrieve_of<'s>(context: &Context<'s>) -> Option<&'s Operation> {
    let op = context.op;
    if op.method == "GET" {
        return None;
    }
    let spec = context.spec;
    spec.operations().find(|o| {
        o.method == "GET"
            && (o.path == op.path
                || (o.path.starts_with(&format!("{}/{{", op.path))
                    && o.path_params.len() == op.path_params.len() + 1
                    && !o.path[op.path.len() + 1..].contains('/')))
    })
}
