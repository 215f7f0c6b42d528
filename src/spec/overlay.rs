//! Our machine-readable additions, kept as an OpenAPI Overlay 1.0 document and applied on top
//! of the unmodified official extract at load time.
//!
//! Supported actions: `update` (deep merge of a mapping into every target; other values
//! replace) and `remove: true`. Targets are JSONPath queries (RFC 9535), as the Overlay spec
//! says: `$.paths['/conversations'].post`, `$.components.schemas.Metadata.anyOf[?@.type ==
//! 'object']`. A target that matches nothing is an error: it means the official document
//! changed under the overlay, and the overlay must be updated.

use crate::yaml::At;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json_path::JsonPath;

/// An overlay action that cannot be applied, at its target in the overlay file.
#[derive(Debug, thiserror::Error)]
#[error("{at}: {problem}")]
pub(crate) struct OverlayError {
    at: At,
    problem: Problem,
}

#[derive(Debug, thiserror::Error)]
enum Problem {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("an action needs `update` or `remove: true`")]
    NoChange,
    #[error(
        "overlay target `{target}` matches nothing in the official document ({what}); the \
         document changed: update the target in the overlay"
    )]
    MatchesNothing { target: String, what: String },
}

/// A target that is not JSONPath: where the parser stopped, and how to write one.
#[derive(Debug, thiserror::Error)]
#[error(
    "overlay target `{text}` is not JSONPath (RFC 9535): {message} at `{rest}`; write it like \
     $.paths['/conversations'].post or $.components.schemas.X.anyOf[?@.type == 'object']"
)]
pub(crate) struct TargetError {
    text: String,
    message: String,
    rest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Overlay {
    #[allow(dead_code)] // required by the Overlay format, not used
    overlay: String,
    #[allow(dead_code)]
    info: Value,
    #[serde(default)]
    #[allow(dead_code)]
    extends: Option<String>,
    actions: Vec<Action>,
    /// The operations the suite covers (see [`super::scope`]); without it, every operation
    /// of the document.
    #[serde(default, rename = "x-conformance-scope")]
    pub(crate) scope: Option<super::scope::Scope>,
}

/// An overlay action, as the user finds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OverlayAction {
    /// `specs/overlay.yaml:12:11`.
    pub at: At,
    pub target: String,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Action {
    target: serde_saphyr::Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    update: Option<Value>,
    #[serde(default)]
    remove: bool,
}

impl Overlay {
    /// Applies every action in order. Errors name the overlay file, line and column.
    pub(crate) fn apply(&self, file: &str, document: &mut Value) -> Result<(), OverlayError> {
        for action in &self.actions {
            let fail = |problem| OverlayError {
                at: At::of(file, &action.target.referenced),
                problem,
            };
            let target = parse_target(&action.target.value).map_err(|e| fail(e.into()))?;
            if !action.remove && action.update.is_none() {
                return Err(fail(Problem::NoChange));
            }
            if action.apply(&target, document) == 0 {
                let what = action.description.as_deref().unwrap_or("this action");
                return Err(fail(Problem::MatchesNothing {
                    target: action.target.value.clone(),
                    what: what.to_string(),
                }));
            }
        }
        Ok(())
    }
}

impl Overlay {
    /// The target of every action, in order.
    pub(crate) fn targets(&self) -> Vec<String> {
        self.actions
            .iter()
            .map(|a| a.target.value.clone())
            .collect()
    }

    /// Every action as the user finds it in `file`.
    pub(crate) fn actions_at(&self, file: &str) -> Vec<OverlayAction> {
        self.actions
            .iter()
            .map(|action| OverlayAction {
                at: At::of(file, &action.target.referenced),
                target: action.target.value.clone(),
                description: action.description.clone(),
            })
            .collect()
    }

    /// Applies every action that can be, and answers the indexes of those whose target
    /// matches nothing (or does not parse).
    pub(crate) fn unmatched(&self, document: &mut Value) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, action) in self.actions.iter().enumerate() {
            let matched = parse_target(&action.target.value)
                .map_or(0, |target| action.apply(&target, document));
            if matched == 0 {
                out.push(i);
            }
        }
        out
    }
}

/// A target as JSONPath, or what is wrong with it and how to write it.
pub(crate) fn parse_target(text: &str) -> Result<JsonPath, TargetError> {
    JsonPath::parse(text).map_err(|e| TargetError {
        text: text.to_string(),
        message: e.message().to_string(),
        rest: text.get(e.position()..).unwrap_or_default().to_string(),
    })
}

impl Action {
    /// Applies the action to every node its target matches; answers how many it changed.
    fn apply(&self, target: &JsonPath, document: &mut Value) -> usize {
        // Pointers, not references: the nodes are changed after the query is done.
        let pointers: Vec<String> = target
            .query_located(document)
            .dedup()
            .locations()
            .map(|path| path.to_json_pointer())
            .collect();
        match &self.update {
            _ if self.remove => {
                // From the last: removing an element leaves the indexes before it as they were.
                pointers
                    .iter()
                    .rev()
                    .filter(|pointer| remove(document, pointer))
                    .count()
            }
            Some(update) => {
                for pointer in &pointers {
                    if let Some(node) = document.pointer_mut(pointer) {
                        merge(node, update);
                    }
                }
                pointers.len()
            }
            None => 0,
        }
    }
}

/// Removes the node at a JSON pointer from its parent (the whole document is not removable).
fn remove(document: &mut Value, pointer: &str) -> bool {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match document.pointer_mut(parent) {
        Some(Value::Object(map)) => map.shift_remove(&key).is_some(),
        Some(Value::Array(items)) => match key.parse::<usize>() {
            Ok(i) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// Overlay `update` semantics: mappings merge recursively, anything else replaces.
fn merge(node: &mut Value, update: &Value) {
    match (node, update) {
        (Value::Object(node), Value::Object(update)) => {
            for (key, value) in update {
                match node.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        node.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (node, update) => *node = update.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn overlay(yaml: &str) -> Overlay {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn update_merges_mappings_and_replaces_other_values() {
        let mut doc = json!({"a": {"b": 1, "c": [1]}, "p": [{"name": "limit"}]});
        overlay(
            "overlay: 1.0.0\ninfo: {title: t, version: '1'}\nactions:\n\
             - target: $.a\n  update: {c: [2], d: true}\n\
             - target: $.p[?(@.name == 'limit')]\n  update: {schema: {maximum: 100}}\n",
        )
        .apply("o.yaml", &mut doc)
        .unwrap();
        assert_eq!(
            doc,
            json!({"a": {"b": 1, "c": [2], "d": true}, "p": [{"name": "limit", "schema": {"maximum": 100}}]})
        );
    }

    #[test]
    fn a_target_that_matches_nothing_is_a_located_error() {
        let mut doc = json!({"a": {}});
        let err = overlay(
            "overlay: 1.0.0\ninfo: {title: t, version: '1'}\nactions:\n- target: $.missing\n  update: {x: 1}\n",
        )
        .apply("specs/overlay.yaml", &mut doc)
        .unwrap_err();
        insta::assert_snapshot!(err, @"specs/overlay.yaml:4:11: overlay target `$.missing` matches nothing in the official document (this action); the document changed: update the target in the overlay");
        let err = overlay("overlay: 1.0.0\ninfo: {}\nactions:\n- target: $.a\n")
            .apply("specs/overlay.yaml", &mut doc)
            .unwrap_err();
        insta::assert_snapshot!(err, @"specs/overlay.yaml:4:11: an action needs `update` or `remove: true`");
    }

    #[test]
    fn remove_deletes_the_target() {
        let mut doc = json!({"a": {"b": 1}});
        overlay("overlay: 1.0.0\ninfo: {}\nactions:\n- target: $.a.b\n  remove: true\n")
            .apply("o", &mut doc)
            .unwrap();
        assert_eq!(doc, json!({"a": {}}));
        let mut doc = json!({"l": [{"k": 1}, {"k": 2}, {"k": 1}, {"k": "a/b~"}], "m": {"a/b~": 0}});
        overlay(
            "overlay: 1.0.0\ninfo: {}\nactions:\n- target: $.l[?@.k == 1]\n  remove: true\n\
             - target: $.m['a/b~']\n  remove: true\n",
        )
        .apply("o", &mut doc)
        .unwrap();
        assert_eq!(doc, json!({"l": [{"k": 2}, {"k": "a/b~"}], "m": {}}));
    }

    #[test]
    fn a_target_that_is_not_jsonpath_is_a_located_error_saying_how_to_write_it() {
        let errors: Vec<String> = ["a.b", "$.p[?(@.n = 1)]", "$.a["]
            .into_iter()
            .map(|bad| {
                overlay(&format!(
                    "overlay: 1.0.0\ninfo: {{}}\nactions:\n- target: {bad}\n  update: {{x: 1}}\n"
                ))
                .apply("specs/overlay.yaml", &mut json!({"a": {}}))
                .unwrap_err()
                .to_string()
            })
            .collect();
        insta::assert_snapshot!(errors.join("\n"), @r"
        specs/overlay.yaml:4:11: overlay target `a.b` is not JSONPath (RFC 9535): parser error at `a.b`; write it like $.paths['/conversations'].post or $.components.schemas.X.anyOf[?@.type == 'object']
        specs/overlay.yaml:4:11: overlay target `$.p[?(@.n = 1)]` is not JSONPath (RFC 9535): in long-hand segment, parser error at `(@.n = 1)]`; write it like $.paths['/conversations'].post or $.components.schemas.X.anyOf[?@.type == 'object']
        specs/overlay.yaml:4:11: overlay target `$.a[` is not JSONPath (RFC 9535): parser error at `[`; write it like $.paths['/conversations'].post or $.components.schemas.X.anyOf[?@.type == 'object']
        ");
    }
}
