//! The suite's scope: the operations it covers, declared in the overlay as
//! `x-conformance-scope`. A document with other operations (the whole official file in place
//! of the extract) is cut down to the scope and the components it references before the
//! overlay or anything else reads it, so derived cases, coverage and runs never see another
//! operation. The same cut makes the extract (`conformance spec extract`).

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;
use std::collections::{BTreeSet, HashSet};

pub(crate) const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// `x-conformance-scope` at the root of the overlay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scope {
    /// The operationIds the suite covers.
    pub operations: Vec<Spanned<String>>,
    /// Operations that may change state without a declared cleanup, opted in for every run
    /// of this suite (as `--allow-unsafe` does for one run).
    #[serde(default)]
    pub allow_unsafe: Vec<Spanned<String>>,
}

/// An operation of the document: its id, upper-case method and path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRef {
    pub id: String,
    pub method: String,
    pub path: String,
}

/// Every operation of `document`, in the document's order.
pub(crate) fn operations_of(document: &Value) -> Vec<OperationRef> {
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |method| {
                let id = item.get(*method)?.get("operationId")?.as_str()?;
                Some(OperationRef {
                    id: id.to_string(),
                    method: method.to_uppercase(),
                    path: path.clone(),
                })
            })
        })
        .collect()
}

/// The document cut down to the operations in `keep`: their paths (other methods of a path
/// left out), the tags they name, and the components they reference, transitively (with the
/// security schemes the document and they require). Everything else at the root is kept but
/// `webhooks` and `x-` extensions, which describe other operations. Order is the document's.
pub(crate) fn restrict(document: &Value, keep: &BTreeSet<&str>) -> Value {
    let mut out = Map::new();
    let Some(root) = document.as_object() else {
        return document.clone();
    };
    let mut kept_paths = Map::new();
    if let Some(paths) = root.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let in_scope = |method: &str| {
                item.get(method)
                    .and_then(|op| op.get("operationId"))
                    .and_then(Value::as_str)
                    .is_some_and(|id| keep.contains(id))
            };
            if !METHODS.iter().any(|m| in_scope(m)) {
                continue;
            }
            let cut: Map<String, Value> = item
                .iter()
                .filter(|(key, _)| !METHODS.contains(&key.as_str()) || in_scope(key))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            kept_paths.insert(path.clone(), Value::Object(cut));
        }
    }
    let paths = Value::Object(kept_paths);
    let components = root
        .get("components")
        .map(|components| referenced_components(root, &paths, components));
    let used_tags: HashSet<&str> = paths
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
        .flat_map(|item| METHODS.iter().filter_map(|m| item.get(*m)))
        .flat_map(|op| {
            op.get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(Value::as_str)
        .collect();
    for (key, value) in root {
        match key.as_str() {
            "paths" => {
                out.insert(key.clone(), paths.clone());
            }
            "components" => {
                if let Some(components) = &components {
                    out.insert(key.clone(), components.clone());
                }
            }
            "tags" => {
                let tags: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| {
                        t.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| used_tags.contains(n))
                    })
                    .cloned()
                    .collect();
                out.insert(key.clone(), Value::Array(tags));
            }
            "webhooks" => {}
            _ if key.starts_with("x-") => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// The components that the kept paths (and the root's `security`) reach, each section and
/// entry in the document's order.
fn referenced_components(root: &Map<String, Value>, paths: &Value, components: &Value) -> Value {
    // (section, name) pairs reached so far, and those still to follow.
    let mut reached: HashSet<(String, String)> = HashSet::new();
    let mut todo: Vec<(String, String)> = Vec::new();
    let visit = |value: &Value, todo: &mut Vec<(String, String)>| {
        references(value, &mut |section, name| {
            todo.push((section.to_string(), name.to_string()));
        });
    };
    visit(paths, &mut todo);
    if let Some(security) = root.get("security") {
        security_schemes(security, &mut todo);
    }
    for item in paths.as_object().into_iter().flat_map(|p| p.values()) {
        for op in METHODS.iter().filter_map(|m| item.get(*m)) {
            if let Some(security) = op.get("security") {
                security_schemes(security, &mut todo);
            }
        }
    }
    while let Some(entry) = todo.pop() {
        if reached.contains(&entry) {
            continue;
        }
        if let Some(target) = components.get(&entry.0).and_then(|s| s.get(&entry.1)) {
            visit(target, &mut todo);
        }
        reached.insert(entry);
    }
    let mut out = Map::new();
    for (section, entries) in components.as_object().into_iter().flatten() {
        let kept: Map<String, Value> = entries
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, _)| reached.contains(&(section.clone(), (*name).clone())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            out.insert(section.clone(), Value::Object(kept));
        }
    }
    Value::Object(out)
}

/// Calls `found(section, name)` for every `#/components/<section>/<name>...` string in
/// `value`: `$ref`s, and discriminator mappings, which name schemas the same way.
fn references(value: &Value, found: &mut dyn FnMut(&str, &str)) {
    match value {
        Value::String(text) => {
            if let Some(rest) = text.strip_prefix("#/components/") {
                let mut parts = rest.split('/');
                if let (Some(section), Some(name)) = (parts.next(), parts.next()) {
                    found(section, &name.replace("~1", "/").replace("~0", "~"));
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        Value::Object(map) => map.values().for_each(|v| references(v, found)),
        _ => {}
    }
}

/// The security schemes a `security` list requires (`[{ApiKeyAuth: []}]`).
fn security_schemes(security: &Value, todo: &mut Vec<(String, String)>) {
    for requirement in security.as_array().into_iter().flatten() {
        for name in requirement.as_object().into_iter().flat_map(|m| m.keys()) {
            todo.push(("securitySchemes".into(), name.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_operations_in_scope_and_what_they_reference() {
        let doc = json!({
            "openapi": "3.1.0",
            "security": [{"Key": []}],
            "tags": [{"name": "A"}, {"name": "B"}],
            "paths": {
                "/a": {"parameters": [], "get": {"operationId": "getA", "tags": ["A"],
                    "responses": {"200": {"$ref": "#/components/responses/Ok"}}},
                    "post": {"operationId": "postA"}},
                "/b": {"get": {"operationId": "getB", "tags": ["B"],
                    "responses": {"200": {"$ref": "#/components/schemas/B"}}}}
            },
            "webhooks": {"w": {}},
            "components": {
                "schemas": {"B": {}, "A": {"discriminator": {"mapping": {"x": "#/components/schemas/X"}}},
                    "X": {"$ref": "#/components/schemas/A/properties/y"}},
                "responses": {"Ok": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}},
                "securitySchemes": {"Key": {}, "Admin": {}}
            },
            "x-oaiMeta": {}
        });
        let cut = restrict(&doc, &BTreeSet::from(["getA"]));
        assert_eq!(
            cut,
            json!({
                "openapi": "3.1.0",
                "security": [{"Key": []}],
                "tags": [{"name": "A"}],
                "paths": {"/a": {"parameters": [], "get": doc["paths"]["/a"]["get"]}},
                "components": {
                    "schemas": {"A": doc["components"]["schemas"]["A"], "X": doc["components"]["schemas"]["X"]},
                    "responses": doc["components"]["responses"],
                    "securitySchemes": {"Key": {}}
                }
            })
        );
        let ids: Vec<String> = operations_of(&doc).into_iter().map(|o| o.id).collect();
        assert_eq!(ids, ["getA", "postA", "getB"]);
    }
}
