//! Round-trip fidelity of stored strings: every top-level body field that takes a map of
//! strings (metadata) is sent a corpus of keys and values servers are known to mangle
//! (surrounding and inner whitespace, tabs and newlines, case, composed and decomposed forms of
//! the same text, zero-width and combining characters, astral emoji, right-to-left text, quotes
//! and backslashes) and must come back byte for byte, in the write's answer and, after a
//! create, in the retrieve of what it made (GEN-09). Where the map's schema declares a
//! `maxLength` for its keys or values, a second probe sends one pair exactly at those limits,
//! in letters of several bytes ([`at_limit`]). Which fields take such a map is decided by the
//! schema: a field whose schema accepts the corpus map is probed, so a field added to a schema
//! gets its probes with no code change.

use super::pointer::{resolve, resolved_pointer};
use super::{equals, status, success_statuses, Context, Probes};
use crate::selector::Selector;
use crate::spec::{Operation, Spec};
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
    let (Some(pointer), Some(Value::Object(_))) = (&context.op.request_schema, &context.body)
    else {
        return;
    };
    let spec = context.spec;
    let corpus = Value::Object(corpus());
    for (field, field_pointer) in super::unknown_fields::properties(spec, pointer) {
        // The schema decides: a field that takes the corpus map, and no map of a number, is a
        // map of strings (metadata); an open object (options, settings) is not stored as such.
        let accepts = |value: &Value| {
            !super::glance::rejects(spec, &field_pointer, value)
                && matches!(spec.validate(&field_pointer, value), Ok(errors) if errors.is_empty())
        };
        if !accepts(&corpus) || accepts(&serde_json::json!({"k": 1})) {
            continue;
        }
        let title = format!(
            "{} stores every string of `{field}` as it was sent, byte for byte",
            context.op.id
        );
        let sent = Sent {
            field: &field,
            variant: field.clone(),
            map: corpus.clone(),
            title,
            write_requirement: REQUIREMENT.to_string(),
        };
        probe(context, sent, out);
        let (key_limit, value_limit) = limits(spec, &field_pointer);
        if key_limit.is_none() && value_limit.is_none() {
            continue;
        }
        let key = at_limit("key at the limit ", key_limit.unwrap_or(24));
        let value = at_limit("value at the limit ", value_limit.unwrap_or(24));
        let title = format!(
            "{} stores a `{field}` key of {} and a value of {} characters, its limits, byte \
             for byte",
            context.op.id,
            key.chars().count(),
            value.chars().count()
        );
        // Being accepted at the limit is owned where the derived cases of the field say.
        let write_requirement = context
            .op
            .derive
            .as_ref()
            .and_then(|d| d.requirements.get(&field))
            .and_then(|r| r.accept.clone())
            .unwrap_or_else(|| "DER-02".to_string());
        let sent = Sent {
            field: &field,
            variant: format!("{field}-at-limit"),
            map: serde_json::json!({ key: value }),
            title,
            write_requirement,
        };
        probe(context, sent, out);
    }
}

/// One map of strings a fidelity probe writes to a field.
pub struct Sent<'f> {
    pub field: &'f str,
    pub variant: String,
    pub map: Value,
    pub title: String,
    /// Owns the write being accepted; the strings coming back are GEN-09's.
    pub write_requirement: String,
}

/// The probe that writes `sent.map` to its field and expects it back byte for byte; a body the
/// schema rejects is a premise that does not hold, reported by the self-check.
pub fn probe(context: &Context, sent: Sent, out: &mut Probes) {
    let (Some(pointer), Some(Value::Object(body))) = (&context.op.request_schema, &context.body)
    else {
        return;
    };
    let spec = context.spec;
    let Some(retrieve) = retrieve_of(context) else {
        return;
    };
    let Sent {
        field,
        variant,
        map,
        title,
        write_requirement,
    } = sent;
    let mut written = body.clone();
    written.insert(field.to_string(), map.clone());
    let id = format!("{}{}/fidelity/{variant}", super::PREFIX, context.op.id);
    let premise = match spec.is_embedded() {
        true => Ok(Vec::new()),
        false => spec.validate(pointer, &Value::Object(written.clone())),
    };
    match premise {
        Ok(errors) if errors.is_empty() => {}
        Ok(errors) => {
            let first = errors.first().cloned().unwrap_or_default();
            out.inconsistent.push((
                id,
                format!("the strings sent to `{field}` do not validate: {first}"),
            ));
            return;
        }
        Err(e) => {
            out.inconsistent.push((id, e));
            return;
        }
    }
    let Ok(selector) = Selector::parse(field) else {
        return;
    };
    let mut expect = status(&success_statuses(context.op));
    expect
        .json
        .push((selector.clone(), equals(spec, REQUIREMENT, map.clone())));
    let mut write = context.call(1, &format!("write `{field}`"), &write_requirement, expect);
    write.body = crate::case::Body::Json(Value::Object(written));
    if let Ok(whole) = Selector::parse("$") {
        write.capture.push((WRITTEN.to_string(), whole));
    }
    let mut expect = status(&success_statuses(retrieve));
    expect
        .json
        .push((selector, equals(spec, REQUIREMENT, map.clone())));
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
    out.cases
        .push(context.case("fidelity", &variant, REQUIREMENT, title, steps));
}

/// The `maxLength` of a map's keys (`propertyNames`) and of its values
/// (`additionalProperties`), through `$ref`, `anyOf`, `oneOf` and `allOf`.
pub fn limits(spec: &Spec, pointer: &str) -> (Option<usize>, Option<usize>) {
    let (mut keys, mut values) = (None, None);
    let mut todo = vec![pointer.to_string()];
    let mut seen = Vec::new();
    while let Some(pointer) = todo.pop() {
        let pointer = resolved_pointer(spec, &pointer);
        if seen.contains(&pointer) || seen.len() > 64 {
            continue;
        }
        seen.push(pointer.clone());
        let Some(node) = resolve(spec, &pointer) else {
            continue;
        };
        let most = |key: &str| {
            resolve(spec, &format!("{pointer}/{key}"))
                .and_then(|n| n.get("maxLength"))
                .and_then(Value::as_u64)
                .map(|n| n as usize)
        };
        keys = keys.or_else(|| most("propertyNames"));
        values = values.or_else(|| most("additionalProperties"));
        for key in ["allOf", "anyOf", "oneOf"] {
            let count = node.get(key).and_then(Value::as_array).map_or(0, Vec::len);
            todo.extend((0..count).rev().map(|i| format!("{pointer}/{key}/{i}")));
        }
    }
    (keys, values)
}

/// A string of exactly `chars` characters: `label`, then letters of two and three bytes in
/// UTF-8, so that a server counting bytes rejects it. JSON Schema's `maxLength` counts
/// characters (code points); these are all in the Basic Multilingual Plane, one UTF-16 unit
/// each, so that the count is the same for a server that counts UTF-16 units.
pub fn at_limit(label: &str, chars: usize) -> String {
    label
        .chars()
        .chain("\u{e9}\u{4e2d}\u{436}\u{df}\u{5d0}".chars().cycle())
        .take(chars)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec() -> Spec {
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    #[test]
    fn strings_at_the_limit_count_characters_of_several_bytes() {
        let spec = spec();
        assert_eq!(
            limits(&spec, "#/components/schemas/Metadata"),
            (Some(64), Some(512))
        );
        let value = at_limit("value at the limit ", 512);
        assert_eq!(value.chars().count(), 512);
        assert_eq!(value.encode_utf16().count(), 512);
        assert!(value.len() > 900, "{} bytes", value.len());
        assert_eq!(at_limit("a long label", 4), "a lo");
    }

    #[test]
    fn every_map_of_strings_gets_its_strings_at_the_limit_back_byte_for_byte() {
        let spec = spec();
        let cases: Vec<_> = super::super::generate(&spec)
            .into_iter()
            .map(|c| c.unwrap_or_else(|b| panic!("{}: {}", b.id, b.error)))
            .filter(|c| c.id.ends_with("/fidelity/metadata-at-limit"))
            .collect();
        let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "probe/createChatCompletion/fidelity/metadata-at-limit",
                "probe/createConversation/fidelity/metadata-at-limit",
                "probe/createResponse/fidelity/metadata-at-limit",
                "probe/updateChatCompletion/fidelity/metadata-at-limit",
                "probe/updateConversation/fidelity/metadata-at-limit",
            ]
        );
        let create = &cases[1];
        // Being accepted at the limit is the create's own requirement; the bytes are GEN-09's.
        let write = &create.steps[0];
        assert_eq!(write.requirement, "CRE-05");
        let crate::case::Body::Json(body) = &write.body else {
            panic!("a JSON body");
        };
        let (key, value) = body["metadata"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(
            (key.chars().count(), value.as_str().unwrap().chars().count()),
            (64, 512)
        );
        for step in create.steps.iter() {
            let (_, matcher) = &step.expect.json[0];
            assert_eq!(matcher.requirement, REQUIREMENT);
            assert_eq!(matcher.equals.as_ref(), Some(&body["metadata"]));
        }
        assert_eq!(
            create.steps[1].operation.as_deref(),
            Some("getConversation")
        );
    }

    #[test]
    fn a_string_the_schema_rejects_is_a_generator_error_and_is_not_sent() {
        let spec = spec();
        let op = spec
            .operations()
            .find(|o| o.id == "createConversation")
            .unwrap();
        let declared = crate::probe::unknown_fields::Declared::default();
        let context = Context::of(&spec, op, &declared).unwrap();
        let mut out = Probes::default();
        let sent = Sent {
            field: "metadata",
            variant: "metadata-past-limit".into(),
            map: serde_json::json!({"k": at_limit("value ", 513)}),
            title: "a string one past the limit".into(),
            write_requirement: REQUIREMENT.into(),
        };
        probe(&context, sent, &mut out);
        assert!(out.cases.is_empty());
        let [(id, why)] = &out.inconsistent[..] else {
            panic!("{:?}", out.inconsistent);
        };
        assert_eq!(id, "probe/createConversation/fidelity/metadata-past-limit");
        assert!(why.contains("do not validate"), "{why}");
    }
}
