//! The index of the operations in scope, read from the document: each operation's path,
//! method, parameters, body and response schemas, its derive settings checked against the
//! catalogue, and the preflight request resolved to an operation.

use super::*;

pub(super) fn index_operations(document: &Value) -> Result<BTreeMap<String, Operation>, String> {
    let mut operations = BTreeMap::new();
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("the document has no `paths`")?;
    for (path, item) in paths {
        for method in scope::METHODS {
            let Some(raw) = item.get(method) else {
                continue;
            };
            let base = format!("#/paths/{}/{method}", escape_pointer(path));
            let id = raw
                .get("operationId")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{} {path} has no operationId", method.to_uppercase()))?;
            let path_level = format!("#/paths/{}/parameters", escape_pointer(path));
            let listed = |at: &str, list: Option<&Value>| -> Vec<(String, Value)> {
                list.and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, p)| match p.get("$ref").and_then(Value::as_str) {
                        Some(r) if r.starts_with("#/") => {
                            (r.to_string(), resolve(document, p).clone())
                        }
                        _ => (format!("{at}/{i}"), p.clone()),
                    })
                    .collect()
            };
            let located: Vec<(String, Value)> = listed(&path_level, item.get("parameters"))
                .into_iter()
                .chain(listed(&format!("{base}/parameters"), raw.get("parameters")))
                .collect();
            let params: Vec<Value> = located.iter().map(|(_, p)| p.clone()).collect();
            let parameters: Vec<Parameter> = located
                .iter()
                .filter_map(|(at, p)| {
                    Some(Parameter {
                        name: p.get("name")?.as_str()?.to_string(),
                        location: p.get("in")?.as_str()?.to_string(),
                        required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                        schema: p.get("schema").map(|_| format!("{at}/schema")),
                    })
                })
                .collect();
            let names_in = |place: &str| -> Vec<String> {
                params
                    .iter()
                    .filter(|p| p.get("in").and_then(Value::as_str) == Some(place))
                    .filter_map(|p| p.get("name").and_then(Value::as_str).map(String::from))
                    .collect()
            };
            let mut responses = BTreeMap::new();
            if let Some(map) = raw.get("responses").and_then(Value::as_object) {
                for (status, response) in map {
                    let pointer = match response.get("$ref").and_then(Value::as_str) {
                        Some(r) => r.to_string(),
                        None => format!("{base}/responses/{}", escape_pointer(status)),
                    };
                    let schema = schema_pointer(document, &pointer);
                    responses.insert(status.to_uppercase(), schema);
                }
            }
            let request_schema = raw
                .get("requestBody")
                .and_then(|_| schema_pointer(document, &format!("{base}/requestBody")));
            let cleanup = match raw.get("x-conformance-cleanup") {
                Some(v) => Some(
                    serde_json::from_value::<Cleanup>(v.clone())
                        .map_err(|e| format!("x-conformance-cleanup of {id}: {e}"))?,
                ),
                None => None,
            };
            let derive = match raw.get("x-conformance-derive") {
                Some(v) => Some(
                    serde_json::from_value::<DeriveConfig>(v.clone())
                        .map_err(|e| format!("x-conformance-derive of {id}: {e}"))?,
                ),
                None => None,
            };
            operations.insert(
                id.to_string(),
                Operation {
                    id: id.to_string(),
                    method: method.to_uppercase(),
                    path: path.clone(),
                    path_params: names_in("path"),
                    query_params: names_in("query"),
                    parameters,
                    responses,
                    request_schema,
                    cleanup,
                    derive,
                    changes_nothing: raw.get("x-conformance-changes-nothing")
                        == Some(&Value::Bool(true)),
                    pointer: base.clone(),
                },
            );
        }
    }
    Ok(operations)
}

/// The requirements an `x-conformance-derive` names exist, and its path parameters are the
/// operation's.
pub(super) fn check_derive(op: &Operation, catalogue: &Catalogue) -> Result<(), String> {
    let Some(derive) = &op.derive else {
        return Ok(());
    };
    for (prefix, ids) in &derive.requirements {
        for (kind, id) in [
            ("accept", &ids.accept),
            ("reject", &ids.reject),
            ("param", &ids.param),
        ] {
            if let Some(id) = id {
                if catalogue.get(id).is_none() {
                    return Err(format!(
                        "requirements.{prefix}.{kind}: unknown requirement `{id}` (not in requirements.yaml)"
                    ));
                }
            }
        }
    }
    let given: Vec<&String> = derive.path_params.keys().collect();
    let mut wanted: Vec<&String> = op.path_params.iter().collect();
    wanted.sort();
    if given != wanted {
        return Err(format!(
            "path_params gives {given:?}; the operation's path parameters are {wanted:?}"
        ));
    }
    Ok(())
}

/// The preflight the overlay declares, checked against the operations; without one, the first
/// GET of the scope that takes no path parameter.
pub(super) fn preflight_of(
    declared: Option<&scope::PreflightDecl>,
    operations: &BTreeMap<String, Operation>,
    overlay_file: &str,
) -> Result<Option<Preflight>, String> {
    let chosen = match declared {
        Some(decl) => {
            let at = format!(
                "{overlay_file}:{}:{}: x-conformance-scope.preflight",
                decl.operation.referenced.line(),
                decl.operation.referenced.column()
            );
            let op = operations.get(&decl.operation.value).ok_or_else(|| {
                format!(
                    "{at} names `{}`, which is not in the scope",
                    decl.operation.value
                )
            })?;
            if op.method != "GET" {
                return Err(format!(
                    "{at}: `{}` is {} {}; the preflight must be a GET, which changes nothing",
                    op.id, op.method, op.path
                ));
            }
            let mut path = op.path.clone();
            for name in &op.path_params {
                let value = decl.path_params.get(name).ok_or_else(|| {
                    format!(
                        "{at}: give path_params.{name} for {} {}",
                        op.method, op.path
                    )
                })?;
                path = path.replace(&format!("{{{name}}}"), value);
            }
            Some((op, path))
        }
        None => operations
            .values()
            .find(|op| op.method == "GET" && op.path_params.is_empty())
            .map(|op| (op, op.path.clone())),
    };
    Ok(chosen.map(|(op, path)| Preflight {
        delete_on_success: operations
            .values()
            .any(|other| other.method == "DELETE" && other.path == op.path),
        path,
    }))
}
