//! The endpoint spec: the official OpenAPI extract, our overlay on top of it, and the
//! requirements catalogue. Loaded once per process; response validators are compiled on first
//! use and shared by every case.
//!
//! Files (in the spec folder, `specs/` by default):
//! - `openapi.yaml`: the official extract, unmodified ([`extract`] makes it). Replace it with a
//!   newer official file, even the whole document, and nothing else changes (an overlay target
//!   that no longer matches is reported; [`crate::spec_diff`] shows what changed).
//! - `overlay.yaml`: the suite's scope (`x-conformance-scope`: the document is cut down to these
//!   operations before anything reads it) and our additions (limits as
//!   `maxProperties`/`maxLength`, error answers, which operation creates and which deletes a
//!   resource, which [`unsafe_guard`] lets state-changing requests through).
//! - `requirements.yaml`: the catalogue (ID, level, text) that verdicts are reported by.

mod catalogue;
pub(crate) mod extract;
pub(crate) mod overlay;
mod schema_errors;
pub(crate) mod scope;
pub(crate) mod unsafe_guard;

pub use catalogue::{Catalogue, Level, Requirement, GENERAL_API};
pub use schema_errors::{OwnedObject, SchemaError};
pub use scope::OperationRef;

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

/// A validator compiled on first use (or the reason it cannot be).
type CompiledOnce = OnceLock<Result<jsonschema::Validator, String>>;

const DOCUMENT_URI: &str = "urn:conformance:openapi";

/// One operation of the document, indexed by its operationId.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    /// JSON pointer of the operation object, e.g. `#/paths/~1conversations/post`.
    pub pointer: String,
    pub method: String,
    /// The path template relative to the base URL, e.g. `/conversations/{conversation_id}`.
    pub path: String,
    pub path_params: Vec<String>,
    pub query_params: Vec<String>,
    /// Path and query parameters with their schemas, in the document's order.
    pub parameters: Vec<Parameter>,
    /// Status (`200`, `4XX`, `default`) -> JSON pointer of the response schema, if any.
    pub responses: BTreeMap<String, Option<String>>,
    /// JSON pointer of the JSON request body schema, if any.
    pub request_schema: Option<String>,
    /// From `x-conformance-cleanup`: how to delete what this operation creates.
    pub cleanup: Option<Cleanup>,
    /// From `x-conformance-derive`: how the cases derived from the schemas call it.
    pub derive: Option<DeriveConfig>,
    /// `x-conformance-changes-nothing: true`: a POST that only computes its answer
    /// (embeddings), so it may be sent with no cleanup.
    pub changes_nothing: bool,
}

/// One parameter of an operation.
#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    /// `path`, `query`, `header` or `cookie`.
    pub location: String,
    pub required: bool,
    /// JSON pointer of the parameter's schema, if it has one.
    pub schema: Option<String>,
}

/// `x-conformance-derive` on an operation: what the derived cases need to call it (steps that
/// make the resources it works on, and its path parameters from what they captured), and
/// which catalogue requirement each derived case checks.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveConfig {
    /// Steps in the case format, run before the derived request.
    #[serde(default)]
    pub setup: Vec<Value>,
    /// Path parameter -> value, usually a variable captured by `setup` (`{{conv.id}}`).
    #[serde(default)]
    pub path_params: BTreeMap<String, String>,
    /// Query parameters every derived case and probe of the operation sends (unless it probes
    /// that one): a list filtered to what the case made, so that nobody else's data is judged.
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    /// Case path prefix (`metadata`, `metadata/required`, `query.limit`) -> requirements. The
    /// longest prefix that names a requirement of the kind wins.
    #[serde(default)]
    pub requirements: BTreeMap<String, DerivedRequirements>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedRequirements {
    /// A value at the boundary is accepted.
    #[serde(default)]
    pub accept: Option<String>,
    /// A value past the boundary (or of a wrong type, or a missing field) answers 400.
    #[serde(default)]
    pub reject: Option<String>,
    /// The rejection names the field in `param` (and the constraint in `code`).
    #[serde(default)]
    pub param: Option<String>,
    /// A query parameter left out is taken at its `default` (the defaults probes).
    #[serde(default)]
    pub default: Option<String>,
}

/// `x-conformance-cleanup: {operation: deleteConversation, path_params: {conversation_id: id}}`:
/// after a successful call, the resource is recorded and deleted when the case ends.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cleanup {
    pub operation: String,
    /// Path parameter of the delete operation -> selector into the creating response.
    pub path_params: BTreeMap<String, String>,
}

/// The request sent alone before any case (see `crate::preflight`): a GET of the scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// The path below the base URL, its parameters filled in.
    pub path: String,
    /// A DELETE of the same path is in scope: sent when the GET answered 2xx, so nothing the
    /// target made up or created for it is left behind.
    pub delete_on_success: bool,
}

pub struct Spec {
    /// `info.version` of the official document.
    pub version: String,
    /// FNV-1a of the three source files, hex: identifies exactly what a report was judged by.
    pub hash: String,
    pub catalogue: Catalogue,
    /// From `x-conformance-error-codes` at the document's root: constraint keyword (or keyword
    /// path such as `propertyNames.maxLength`) -> the `code` a rejection of it carries.
    pub error_codes: BTreeMap<String, String>,
    document: Arc<Value>,
    operations: BTreeMap<String, Operation>,
    /// The document's operations outside the suite's scope (`x-conformance-scope`).
    outside: Vec<OperationRef>,
    /// Where the scope is declared, for messages: `specs/overlay.yaml`.
    overlay_file: String,
    /// Operations opted in to state-changing requests without a declared cleanup.
    allow_unsafe: std::collections::BTreeSet<String>,
    preflight: Option<Preflight>,
    registry: OnceLock<Result<jsonschema::Registry<'static>, String>>,
    validators: RwLock<HashMap<String, Arc<CompiledOnce>>>,
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec")
            .field("version", &self.version)
            .field("operations", &self.operations.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Spec {
    /// Loads `openapi.yaml`, `overlay.yaml` and `requirements.yaml` from `dir`.
    /// Every error names the file (and line and column where there is one).
    pub fn load(dir: &Path) -> Result<Self, String> {
        Self::load_document(&dir.join("openapi.yaml"), dir)
    }

    /// Loads the document at `document` with the overlay and catalogue of `dir`.
    pub fn load_document(document: &Path, dir: &Path) -> Result<Self, String> {
        let read = |name: &str| {
            let path = if name == "openapi.yaml" {
                document.to_path_buf()
            } else {
                dir.join(name)
            };
            crate::bundle::read_to_string(&path)
                .map(|text| (path.display().to_string(), text))
                .map_err(|e| format!("{}: cannot read the spec file: {e}", path.display()))
        };
        let (doc_file, doc_text) = read("openapi.yaml")?;
        let (overlay_file, overlay_text) = read("overlay.yaml")?;
        let (catalogue_file, catalogue_text) = read("requirements.yaml")?;

        let mut document: Value = match parsed_at_build(&doc_text) {
            Some(document) => document,
            None => crate::yaml::parse(&doc_file, &doc_text)?,
        };
        if !document.is_object() {
            return Err(format!(
                "{doc_file}: not an OpenAPI document (expected a mapping)"
            ));
        }
        let overlay: overlay::Overlay = crate::yaml::parse(&overlay_file, &overlay_text)?;
        let preflight_decl = overlay.scope.as_ref().and_then(|s| s.preflight.clone());
        let (outside, scoped_unsafe) = match &overlay.scope {
            Some(scope) => {
                let (kept, outside) = in_scope(&document, scope, &overlay_file, &doc_file)?;
                if !outside.is_empty() {
                    let keep = kept.iter().map(String::as_str).collect();
                    document = scope::restrict(&document, &keep);
                }
                (outside, scope.allow_unsafe.clone())
            }
            None => (Vec::new(), Vec::new()),
        };
        overlay.apply(&overlay_file, &mut document)?;
        check_local_refs(&document, &doc_file, &doc_text)?;
        let catalogue = Catalogue::parse(&catalogue_file, &catalogue_text)?;

        let operations = index_operations(&document).map_err(|e| format!("{doc_file}: {e}"))?;
        for op in operations.values() {
            check_derive(op, &catalogue)
                .map_err(|e| format!("{overlay_file}: x-conformance-derive of {}: {e}", op.id))?;
            if let Some(cleanup) = &op.cleanup {
                if !operations.contains_key(&cleanup.operation) {
                    return Err(format!(
                        "{overlay_file}: x-conformance-cleanup of {} names unknown operation `{}`",
                        op.id, cleanup.operation
                    ));
                }
            }
        }
        let version = document
            .pointer("/info/version")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let error_codes = match document.get("x-conformance-error-codes") {
            Some(codes) => serde_json::from_value(codes.clone()).map_err(|e| {
                format!("{overlay_file}: x-conformance-error-codes: {e} (expected keyword: code)")
            })?,
            None => BTreeMap::new(),
        };
        let hash = fnv1a([&doc_text, &overlay_text, &catalogue_text]);
        let mut allow_unsafe = std::collections::BTreeSet::new();
        for id in scoped_unsafe {
            if !operations.contains_key(&id.value) {
                return Err(format!(
                    "{overlay_file}:{}:{}: x-conformance-scope.allow_unsafe names `{}`, which is not in the scope",
                    id.referenced.line(),
                    id.referenced.column(),
                    id.value
                ));
            }
            allow_unsafe.insert(id.value);
        }
        let preflight = preflight_of(preflight_decl.as_ref(), &operations, &overlay_file)?;
        Ok(Self {
            version,
            hash,
            catalogue,
            error_codes,
            document: Arc::new(document),
            operations,
            outside,
            overlay_file,
            allow_unsafe,
            preflight,
            registry: OnceLock::new(),
            validators: RwLock::new(HashMap::new()),
        })
    }

    /// The request sent alone before any case; `None` when the scope has no GET to send.
    pub fn preflight(&self) -> Option<&Preflight> {
        self.preflight.as_ref()
    }

    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.get(id)
    }

    pub fn operations(&self) -> impl Iterator<Item = &Operation> {
        self.operations.values()
    }

    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The operation of the document with this id that the suite's scope leaves out.
    pub fn outside_scope(&self, id: &str) -> Option<&OperationRef> {
        self.outside.iter().find(|op| op.id == id)
    }

    /// The operation outside the scope whose method and path template match `path` (a
    /// template itself: `{{var}}` segments match a parameter).
    pub fn outside_scope_at(&self, method: &str, path: &str) -> Option<&OperationRef> {
        self.outside
            .iter()
            .find(|op| op.method.eq_ignore_ascii_case(method) && template_matches(&op.path, path))
    }

    /// Where the scope is declared (`specs/overlay.yaml`), for messages.
    pub fn overlay_file(&self) -> &str {
        &self.overlay_file
    }

    /// Opts these operations in to state-changing requests without a declared cleanup
    /// (`--allow-unsafe`). An id that is no operation in scope is an error.
    pub fn allowing_unsafe(mut self, ids: &[String]) -> Result<Self, String> {
        for id in ids {
            if !self.operations.contains_key(id) {
                let known: Vec<&str> = self.operations.keys().map(String::as_str).collect();
                return Err(format!(
                    "--allow-unsafe {id}: no such operation in scope (the scope has: {})",
                    known.join(", ")
                ));
            }
            self.allow_unsafe.insert(id.clone());
        }
        Ok(self)
    }

    /// Whether the operation was opted in to state-changing requests without a cleanup.
    pub fn unsafe_allowed(&self, id: &str) -> bool {
        self.allow_unsafe.contains(id)
    }

    /// The operation whose method and path template match a concrete request path.
    pub fn match_path(&self, method: &str, path: &str) -> Option<&Operation> {
        self.operations
            .values()
            .find(|op| op.method.eq_ignore_ascii_case(method) && template_matches(&op.path, path))
    }

    /// The response schema pointer for a status: the exact code, then `4XX`-style ranges,
    /// then `default`. `None` when the operation declares nothing for it.
    pub fn response_schema(&self, op: &Operation, status: u16) -> Option<String> {
        let range = format!("{}XX", status / 100);
        [status.to_string(), range, "default".to_string()]
            .iter()
            .find_map(|key| op.responses.get(key))
            .cloned()
            .flatten()
    }

    /// Validates `instance` against the schema at `pointer` (compiled once, then shared).
    /// Answers the errors, one line each with the instance path and the schema path.
    pub fn validate(&self, pointer: &str, instance: &Value) -> Result<Vec<String>, String> {
        let cell = self.compiled(pointer);
        let validator = cell
            .get_or_init(|| self.compile(pointer))
            .as_ref()
            .map_err(Clone::clone)?;
        if validator.is_valid(instance) {
            // Much cheaper than collecting no errors (a `oneOf` stops at its match).
            return Ok(Vec::new());
        }
        Ok(validator
            .iter_errors(instance)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_string() } else { at };
                let schema = e.absolute_keyword_location().map_or_else(
                    || format!("{pointer}{}", e.schema_path()),
                    |uri| uri.as_str().trim_start_matches(DOCUMENT_URI).to_string(),
                );
                format!(
                    "at {at}: {} (schema {schema})",
                    crate::untrusted::excerpt(&e.to_string(), 240)
                )
            })
            .collect())
    }

    /// Compiles, ahead of their first use, the response schemas of these operations and the
    /// error object's, in that order (validation waits for a schema being compiled here).
    pub fn prepare_validators<'a>(&self, operations: impl IntoIterator<Item = &'a str>) {
        let mut pointers: Vec<String> = Vec::new();
        for op in operations.into_iter().filter_map(|id| self.operation(id)) {
            for pointer in op.responses.values().flatten() {
                if !pointers.contains(pointer) {
                    pointers.push(pointer.clone());
                }
            }
        }
        pointers.push("#/components/schemas/ErrorResponse".into());
        for pointer in pointers {
            self.prepare_validator(&pointer);
        }
    }

    /// Compiles the schema at `pointer` unless that is done (one that does not compile is
    /// reported where it is used).
    pub fn prepare_validator(&self, pointer: &str) {
        self.compiled(pointer);
    }

    /// Whether validating against the schema at `pointer` would compile it first.
    pub fn needs_compiling(&self, pointer: &str) -> bool {
        self.validators
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(pointer)
            .is_none_or(|cell| cell.get().is_none())
    }

    /// The cell of a schema's validator, compiled.
    fn compiled(&self, pointer: &str) -> Arc<CompiledOnce> {
        // Read-locked on the hot path: after the first answers every pointer is there.
        let known = self
            .validators
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(pointer)
            .cloned();
        let cell = known.unwrap_or_else(|| {
            let mut map = self.validators.write().unwrap_or_else(|e| e.into_inner());
            map.entry(pointer.to_string()).or_default().clone()
        });
        cell.get_or_init(|| self.compile(pointer));
        cell
    }

    fn compile(&self, pointer: &str) -> Result<jsonschema::Validator, String> {
        let registry = self
            .registry
            .get_or_init(|| {
                jsonschema::Registry::new()
                    .draft(jsonschema::Draft::Draft202012)
                    .add(DOCUMENT_URI, Arc::clone(&self.document))
                    .and_then(|builder| builder.prepare())
                    .map_err(|e| format!("cannot index the OpenAPI document: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)?;
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(registry)
            .build(&json!({ "$ref": format!("{DOCUMENT_URI}{}", encode_fragment(pointer)) }))
            .map_err(|e| format!("cannot compile the schema at {pointer}: {e}"))
    }
}

/// Whether a concrete path (or a case's path with `{{var}}` segments) fits a path template:
/// a `{param}` segment matches any non-empty segment, the others only themselves.
pub(crate) fn template_matches(template: &str, path: &str) -> bool {
    template_prefix_of(template, path) == Some(0)
}

/// How many segments of `path` are left after the template matched its beginning (`None`: it
/// does not).
pub(crate) fn template_prefix_of(template: &str, path: &str) -> Option<usize> {
    let path = path.split('?').next().unwrap_or(path);
    let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
    let template: Vec<&str> = template.trim_matches('/').split('/').collect();
    let fits = template.len() <= actual.len()
        && template
            .iter()
            .zip(&actual)
            .all(|(t, a)| (t.starts_with('{') && !a.is_empty()) || t == a);
    fits.then(|| actual.len() - template.len())
}

/// The ids of the operations in the scope, and the document's other operations. A scope
/// naming an operation the document does not have is a located error.
fn in_scope(
    document: &Value,
    scope: &scope::Scope,
    overlay_file: &str,
    doc_file: &str,
) -> Result<(Vec<String>, Vec<OperationRef>), String> {
    let all = scope::operations_of(document);
    let mut kept = Vec::new();
    for id in &scope.operations {
        if !all.iter().any(|op| op.id == id.value) {
            return Err(format!(
                "{overlay_file}:{}:{}: x-conformance-scope names `{}`, which {doc_file} does not have",
                id.referenced.line(),
                id.referenced.column(),
                id.value
            ));
        }
        kept.push(id.value.clone());
    }
    let outside = all
        .into_iter()
        .filter(|op| !kept.contains(&op.id))
        .collect();
    Ok((kept, outside))
}

/// `specs/openapi.yaml` as the build parsed it (see `build.rs`), when `text` is exactly the
/// file built with: parsing its JSON form takes a tenth of the time of the YAML.
fn parsed_at_build(text: &str) -> Option<Value> {
    const SOURCE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/openapi.yaml"));
    const PARSED: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));
    if text != SOURCE || PARSED.is_empty() {
        return None;
    }
    serde_json::from_str(PARSED).ok()
}

fn index_operations(document: &Value) -> Result<BTreeMap<String, Operation>, String> {
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
fn check_derive(op: &Operation, catalogue: &Catalogue) -> Result<(), String> {
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

/// `#/a/b` of a response or request body object -> pointer of its JSON schema, following a
/// `$ref` on the object itself.
fn schema_pointer(document: &Value, pointer: &str) -> Option<String> {
    let object = document.pointer(pointer.trim_start_matches('#'))?;
    if let Some(target) = object.get("$ref").and_then(Value::as_str) {
        return schema_pointer(document, target);
    }
    let content = object.get("content")?.as_object()?;
    let (media, body) = content
        .iter()
        .find(|(media, _)| media.starts_with("application/json"))?;
    body.get("schema")?;
    Some(format!(
        "{pointer}/content/{}/schema",
        escape_pointer(media)
    ))
}

fn resolve<'v>(document: &'v Value, value: &'v Value) -> &'v Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with("#/") => document.pointer(&r[1..]).unwrap_or(value),
        _ => value,
    }
}

/// A JSON pointer as a URI fragment: characters a fragment cannot hold are percent-encoded.
fn encode_fragment(pointer: &str) -> String {
    const KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'#')
        .remove(b'/')
        .remove(b'~')
        .remove(b'-')
        .remove(b'.')
        .remove(b'_');
    percent_encoding::utf8_percent_encode(pointer, KEPT).to_string()
}

/// Long instance values would drown the message: keep the head and say how much was cut.
pub(crate) fn shorten(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_string();
    }
    let head: String = text.chars().take(max_chars).collect();
    format!("{head}... ({} more characters)", count - max_chars)
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Every local `$ref` must point somewhere; a dangling one is reported with its line in the
/// source text, so the user sees it before any request is sent.
fn check_local_refs(document: &Value, file: &str, text: &str) -> Result<(), String> {
    fn walk<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(document, &mut refs);
    let at = |r: &str| {
        let (line, col) = text
            .find(r)
            .map(|at| crate::yaml::line_col(text, at))
            .unwrap_or((1, 1));
        format!("{file}:{line}:{col}")
    };
    let target = |r: &str| r.strip_prefix('#').and_then(|p| document.pointer(p));
    for r in refs.iter().filter(|r| r.starts_with('#')) {
        if target(r).is_none() {
            return Err(format!(
                "{}: dangling $ref `{r}`: nothing in the document is at that path",
                at(r)
            ));
        }
    }
    // A `$ref` that leads, through `$ref`s only, back to itself points at nothing.
    for r in refs.iter().filter(|r| r.starts_with('#')) {
        let mut seen = vec![*r];
        let mut next = target(r)
            .and_then(|v| v.get("$ref"))
            .and_then(Value::as_str);
        while let Some(hop) = next.filter(|hop| hop.starts_with('#')) {
            if seen.contains(&hop) {
                return Err(format!(
                    "{}: $ref `{r}` leads back to itself ({} -> {hop})",
                    at(r),
                    seen.join(" -> ")
                ));
            }
            seen.push(hop);
            next = target(hop)
                .and_then(|v| v.get("$ref"))
                .and_then(Value::as_str);
        }
    }
    Ok(())
}

fn fnv1a(parts: [&str; 3]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut out = String::new();
    let _ = write!(out, "{hash:016x}");
    out
}

/// The preflight the overlay declares, checked against the operations; without one, the first
/// GET of the scope that takes no path parameter.
fn preflight_of(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    #[test]
    fn pointers_become_fragments_with_what_a_fragment_cannot_hold_encoded() {
        assert_eq!(
            encode_fragment("#/paths/~1a~1{id}/get/x y é"),
            "#/paths/~1a~1%7Bid%7D/get/x%20y%20%C3%A9"
        );
    }

    #[test]
    fn indexes_every_operation_in_scope() {
        let spec = spec();
        let update = spec.operation("updateConversation").unwrap();
        assert_eq!(
            (update.method.as_str(), update.path.as_str()),
            ("POST", "/conversations/{conversation_id}")
        );
        assert_eq!(update.path_params, vec!["conversation_id"]);
        assert_eq!(spec.operations().count(), 21);
        let list = spec.operation("listConversationItems").unwrap();
        assert!(list.query_params.contains(&"limit".to_string()));
    }

    #[test]
    fn matches_concrete_paths_to_operations() {
        let spec = spec();
        let op = spec
            .match_path("post", "/conversations/conv_1?x=1")
            .unwrap();
        assert_eq!(op.id, "updateConversation");
        assert!(spec.match_path("POST", "/conversations/conv_1/x").is_none());
    }

    #[test]
    fn overlay_limits_reject_over_the_limit_and_accept_the_boundary() {
        let spec = spec();
        let op = spec.operation("updateConversation").unwrap();
        let schema = op.request_schema.clone().unwrap();
        let long = "é".repeat(512);
        assert!(spec
            .validate(&schema, &json!({"metadata": {"k": long}}))
            .unwrap()
            .is_empty());
        let errors = spec
            .validate(&schema, &json!({"metadata": {"k": "é".repeat(513)}}))
            .unwrap();
        assert!(!errors.is_empty());
        assert!(errors[0].starts_with("at /metadata: "), "{errors:?}");
        assert!(errors[0].contains("more characters)"), "{errors:?}");
    }

    #[test]
    fn schema_errors_name_the_instance_and_schema_paths() {
        let spec = spec();
        let op = spec.operation("getConversation").unwrap();
        let pointer = spec.response_schema(op, 200).unwrap();
        let errors = spec
            .validate(
                &pointer,
                &json!({"id": 1, "object": "conversation", "created_at": 1, "metadata": {}}),
            )
            .unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("at /id: 1 is not of type \"string\""),
            "{errors:?}"
        );
        assert!(errors[0].contains("(schema #/"), "{errors:?}");
    }

    #[test]
    fn error_answers_come_from_the_overlay() {
        let spec = spec();
        let op = spec.operation("updateConversation").unwrap();
        for status in [400, 401, 404, 413, 422] {
            assert!(spec.response_schema(op, status).is_some(), "{status}");
        }
    }

    #[test]
    fn every_declared_schema_compiles() {
        let spec = spec();
        let pointers: Vec<String> = spec
            .operations()
            .flat_map(|op| op.responses.values().flatten().chain(&op.request_schema))
            .cloned()
            .collect();
        assert!(pointers.len() >= 30, "{pointers:?}");
        for pointer in pointers {
            spec.validate(&pointer, &Value::Null)
                .unwrap_or_else(|e| panic!("{pointer}: {e}"));
        }
    }

    #[test]
    fn an_empty_item_list_may_omit_its_ids_but_a_full_one_may_not() {
        let spec = spec();
        let op = spec.operation("listConversationItems").unwrap();
        let pointer = spec.response_schema(op, 200).unwrap();
        let empty = json!({"object": "list", "data": [], "has_more": false, "first_id": null});
        assert!(spec.validate(&pointer, &empty).unwrap().is_empty());
        let item = json!({"type": "message", "id": "msg_1", "status": "completed", "role": "user",
            "content": [{"type": "input_text", "text": "hi"}]});
        let full = json!({"object": "list", "data": [item], "has_more": false});
        let errors = spec.validate(&pointer, &full).unwrap();
        assert!(errors.iter().any(|e| e.contains("first_id")), "{errors:?}");
    }

    #[test]
    fn a_dangling_ref_is_located() {
        let text = "a:\n  b:\n    $ref: '#/nowhere'\n";
        let doc: Value = crate::yaml::parse("x.yaml", text).unwrap();
        let err = check_local_refs(&doc, "x.yaml", text).unwrap_err();
        assert!(
            err.starts_with("x.yaml:3:12: dangling $ref `#/nowhere`"),
            "{err}"
        );
    }

    #[test]
    fn a_ref_cycle_is_located() {
        let text = "a:\n  $ref: '#/b'\nb:\n  $ref: '#/a'\nc:\n  properties: {d: {$ref: '#/c'}}\n";
        let doc: Value = crate::yaml::parse("x.yaml", text).unwrap();
        let err = check_local_refs(&doc, "x.yaml", text).unwrap_err();
        assert_eq!(
            err,
            "x.yaml:2:10: $ref `#/b` leads back to itself (#/b -> #/a -> #/b)"
        );
        // A recursive schema is not a cycle of references.
        let text = "c:\n  properties: {d: {$ref: '#/c'}}\n";
        let doc: Value = crate::yaml::parse("x.yaml", text).unwrap();
        assert!(check_local_refs(&doc, "x.yaml", text).is_ok());
    }

    #[test]
    fn the_form_parsed_at_build_is_the_yaml_parsed_now() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/openapi.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        let built = parsed_at_build(&text).expect("the build parsed specs/openapi.yaml");
        let parsed: Value = crate::yaml::parse("openapi.yaml", &text).unwrap();
        // Key order too: it orders operations and messages.
        assert_eq!(built.to_string(), parsed.to_string());
        assert!(parsed_at_build(&format!("{text}\n# changed\n")).is_none());
    }
}
