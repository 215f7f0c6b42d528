//! Regression snapshots of answers, through insta, so `cargo insta review` works on them.
//!
//! Snapshots are taken only of steps whose checks all passed (a broken answer must not
//! become a snapshot to accept), after dynamic values are redacted; a streamed step's
//! snapshot is its events ([`of_stream`]). Each target has its own
//! set: the reference server's under `snapshots/`, another target's under
//! `snapshots/<target-name>/` and only when a target name is given.

use crate::selector::Selector;
use serde_json::Value;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A snapshot a step asks for, taken on the test's own thread once the case is done.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    pub name: String,
    pub value: Value,
}

/// Keys whose values change from run to run, redacted wherever they appear.
const DYNAMIC_KEYS: &[(&str, &str)] = &[
    ("id", "[id]"),
    ("first_id", "[id]"),
    ("last_id", "[id]"),
    ("item_id", "[id]"),
    ("call_id", "[id]"),
    ("response_id", "[id]"),
    ("previous_response_id", "[id]"),
    ("created_at", "[created_at]"),
    ("created", "[created]"),
];

/// What a snapshot of a streamed answer holds: every event in order, its `event:` name (when
/// given) and its data (JSON where it parses, the text otherwise), so that a change of order,
/// of a delta or of the trailer shows.
pub fn of_stream(body: &str) -> Value {
    let events = crate::stream::parse(body)
        .into_iter()
        .map(|event| {
            let mut out = serde_json::Map::new();
            if let Some(name) = event.name {
                out.insert("event".to_owned(), Value::String(name));
            }
            let data = event.json.unwrap_or(Value::String(event.data));
            out.insert("data".to_owned(), data);
            Value::Object(out)
        })
        .collect();
    Value::Array(events)
}

/// `conversations/update/replaces_metadata`, step 2 -> `conversations__update__replaces_metadata@2`.
/// One name per case and step ([`stem`]).
pub fn name(case_id: &str, step: usize) -> String {
    format!("{}@{step}", stem(case_id))
}

/// A case id as a file name, one to one: `/` becomes `__`; a `_` that starts or ends a segment
/// or stands next to another `_`, and every character but letters, digits, `-`, `.` and `_`,
/// becomes `%XX`. So `__` only ever separates segments (`a/b` and `a__b` differ), and the
/// usual names (`replaces_metadata`) stay as they are.
pub fn stem(case_id: &str) -> String {
    let mut out = String::with_capacity(case_id.len() + 8);
    for (i, segment) in case_id.split('/').enumerate() {
        if i > 0 {
            out.push_str("__");
        }
        let chars: Vec<char> = segment.chars().collect();
        for (j, &c) in chars.iter().enumerate() {
            let lone_underscore = c == '_'
                && j > 0
                && j + 1 < chars.len()
                && chars[j - 1] != '_'
                && chars[j + 1] != '_';
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || lone_underscore {
                out.push(c);
            } else {
                let mut utf8 = [0u8; 4];
                for byte in c.encode_utf8(&mut utf8).bytes() {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
        }
    }
    out
}

/// Case ids whose snapshot files would still be one file where names differ only in case
/// (macOS and Windows file systems): each later id with the earlier one it clashes with.
pub fn collisions<'a>(case_ids: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, &'a str)> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut out = Vec::new();
    for id in case_ids {
        match seen.entry(stem(id).to_lowercase()) {
            std::collections::hash_map::Entry::Occupied(first) => out.push((id, *first.get())),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
            }
        }
    }
    out
}

/// For each case file id, whether no case of another file can clash with its cases in
/// [`collisions`]: a case's id is its file's id or that and `/<row>`, so files clash only when
/// their stems are the same in lower case or one is a folder the other is in.
pub fn apart<'a>(file_ids: impl IntoIterator<Item = &'a str>) -> Vec<bool> {
    let keys: Vec<String> = file_ids
        .into_iter()
        .map(|id| stem(id).to_lowercase())
        .collect();
    let mut files: HashMap<&str, usize> = HashMap::new();
    let mut folders: HashSet<&str> = HashSet::new();
    for key in &keys {
        *files.entry(key).or_default() += 1;
        // `__` only ever separates segments in a stem.
        folders.extend(key.match_indices("__").map(|(at, _)| &key[..at]));
    }
    keys.iter()
        .map(|key| {
            files[key.as_str()] == 1
                && !folders.contains(key.as_str())
                && !key
                    .match_indices("__")
                    .any(|(at, _)| files.contains_key(&key[..at]))
        })
        .collect()
}

/// Applies the default redactions, then the step's own (each must match something).
pub fn redact(value: &mut Value, extra: &[(Selector, String)]) -> Result<(), String> {
    redact_dynamic(value);
    for (selector, placeholder) in extra {
        let placeholder = Value::String(placeholder.clone());
        let matched = selector.for_each_mut(value, &mut |node| *node = placeholder.clone());
        if matched == 0 {
            return Err(format!(
                "snapshot redaction `{selector}` matches nothing in the answer: fix or remove it"
            ));
        }
    }
    Ok(())
}

fn redact_dynamic(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match DYNAMIC_KEYS.iter().find(|(k, _)| k == key) {
                    Some((_, placeholder)) if !child.is_null() => {
                        *child = Value::String((*placeholder).to_string())
                    }
                    _ => redact_dynamic(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_dynamic),
        _ => {}
    }
}

/// Where a target's snapshots live, or why it has none.
#[derive(Debug, Clone)]
pub enum SnapshotSet {
    Enabled(PathBuf),
    /// Snapshots are skipped; the reason is said once after the results.
    Skipped(String),
}

impl SnapshotSet {
    /// `root` is relative to the working folder (insta would take a relative one as relative
    /// to this package's source). A set is compared only where its folder exists, or is being
    /// recorded: a run elsewhere writes no snapshot.
    pub fn choose(root: &Path, reference: bool, target_name: Option<&str>) -> Self {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        let recording = std::env::var("INSTA_UPDATE").is_ok_and(|v| v == "always" || v == "new");
        match (reference, target_name) {
            (true, None) if root.is_dir() || recording => Self::Enabled(root),
            (true, None) => Self::Skipped(format!(
                "snapshots: skipped, no snapshot set here ({} does not exist)",
                root.display()
            )),
            (_, Some(name)) => {
                let dir = root.join(name);
                if dir.is_dir() || recording {
                    Self::Enabled(dir)
                } else {
                    Self::Skipped(format!(
                        "snapshots: target `{name}` has no snapshot set ({} does not exist); \
                         record one with INSTA_UPDATE=always, then review it with `cargo insta review`",
                        dir.display()
                    ))
                }
            }
            (false, None) => Self::Skipped(
                "snapshots: skipped for this target; give --target-name NAME to keep a snapshot set for it".into(),
            ),
        }
    }
}

thread_local! {
    /// Set while insta runs, so the panic hook stays quiet for the panic insta uses to report
    /// a mismatch (it becomes the test's failure message instead).
    static EXPECTED_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Installs a panic hook that keeps expected panics quiet and leaves every other panic as
/// it was. Call once, before tests run.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !EXPECTED_PANIC.with(Cell::get) {
            default(info);
        }
    }));
}

/// Asserts the snapshots of one case; must run on the test's own thread (insta's settings
/// are per thread). Answers one failure line per snapshot that differs.
pub fn assert(dir: &Path, case_file: &Path, requests: &[SnapshotRequest]) -> Vec<String> {
    let mut failures = Vec::new();
    for request in requests {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_sort_maps(true);
        settings.set_omit_expression(true);
        settings.set_input_file(case_file);
        EXPECTED_PANIC.with(|p| p.set(true));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_json_snapshot!(request.name.as_str(), &request.value));
        }));
        EXPECTED_PANIC.with(|p| p.set(false));
        if result.is_err() {
            let file = dir.join(format!("{}.snap", request.name));
            let what = if file.exists() {
                format!("differs from {}", file.display())
            } else {
                format!("is new (no {} yet)", file.display())
            };
            failures.push(format!(
                "snapshot `{}` {what} (a regression check, not a conformance verdict): \
                 review with `cargo insta review`, or accept every change with INSTA_UPDATE=always",
                request.name,
            ));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dynamic_values_are_redacted_everywhere() {
        let mut v = json!({"id": "conv_1", "created_at": 5, "data": [{"id": "msg_1", "text": "hi"}], "first_id": null});
        redact(&mut v, &[]).unwrap();
        assert_eq!(
            v,
            json!({"id": "[id]", "created_at": "[created_at]", "data": [{"id": "[id]", "text": "hi"}], "first_id": null})
        );
    }

    #[test]
    fn a_stream_is_its_events_with_ids_and_times_redacted() {
        let body = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_9\",\"created_at\":7}}\n\n\
                    data: {\"id\":\"chatcmpl-3\",\"created\":8,\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"call_1\"}]}}]}\n\n\
                    data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_2\",\"delta\":\"hi\"}\n\n\
                    data: [DONE]\n\n";
        let mut value = of_stream(body);
        redact(&mut value, &[]).unwrap();
        assert_eq!(
            value,
            json!([
                {"event": "response.created", "data": {"type": "response.created", "response": {"id": "[id]", "created_at": "[created_at]"}}},
                {"data": {"id": "[id]", "created": "[created]", "choices": [{"delta": {"tool_calls": [{"id": "[id]"}]}}]}},
                {"data": {"type": "response.output_text.delta", "item_id": "[id]", "delta": "hi"}},
                {"data": "[DONE]"},
            ])
        );
    }

    #[test]
    fn a_redaction_that_matches_nothing_is_an_error() {
        let mut v = json!({"a": 1});
        let err = redact(&mut v, &[(Selector::parse("b").unwrap(), "[b]".into())]).unwrap_err();
        assert_eq!(
            err,
            "snapshot redaction `b` matches nothing in the answer: fix or remove it"
        );
        redact(&mut v, &[(Selector::parse("a").unwrap(), "[a]".into())]).unwrap();
        assert_eq!(v, json!({"a": "[a]"}));
    }

    #[test]
    fn names_are_flat_and_unique_per_step() {
        assert_eq!(
            name("conversations/update/x/number", 2),
            "conversations__update__x__number@2"
        );
        assert_eq!(name("a/replaces_metadata", 1), "a__replaces_metadata@1");
        let ids = [
            "general/a/b",
            "general/a__b",
            "general/a_/b",
            "general/a/_b",
            "general/a___b",
            "general/a%5F/b",
            "general/a@1",
            "general/a b",
            "general/a%20b",
        ];
        let stems: std::collections::BTreeSet<String> = ids.iter().map(|id| stem(id)).collect();
        assert_eq!(stems.len(), ids.len(), "{stems:?}");
        assert!(stems.iter().all(|s| !s.contains('/') && !s.contains('@')));
    }

    #[test]
    fn ids_that_differ_only_in_case_collide() {
        assert_eq!(
            collisions(["a/Big", "a/big", "a/other"]),
            [("a/big", "a/Big")]
        );
    }

    #[test]
    fn files_are_apart_unless_a_case_of_one_could_clash_with_a_case_of_another() {
        let files = [
            "a/Big",
            "a/big",
            "a/rows",
            "A/Rows/first",
            "b/one",
            "b/one_two",
            "b/one__two",
            "c/x",
            "c/x.y",
        ];
        assert_eq!(
            apart(files),
            [false, false, false, false, true, true, true, true, true]
        );
        // What `apart` promises: files apart share no stem with any case of another file.
        let cases = |file: &str| [file.to_string(), format!("{file}/first")];
        for (i, file) in files.iter().enumerate() {
            let others: Vec<String> = (files.iter().enumerate())
                .filter(|(j, _)| *j != i)
                .flat_map(|(_, other)| cases(other))
                .collect();
            let clash = cases(file).iter().any(|case| {
                let ids = others.iter().map(String::as_str).chain([case.as_str()]);
                collisions(ids).iter().any(|(later, _)| *later == case)
            });
            if apart(files)[i] {
                assert!(!clash, "{file}");
            }
        }
        assert_eq!(apart(["x"]), [true]);
    }
}
