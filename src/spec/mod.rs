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
mod hash;
mod index;
pub(crate) mod overlay;
#[cfg(test)]
mod prose;
mod schema_errors;
pub(crate) mod scope;
pub(crate) mod unsafe_guard;
mod validators;

pub use catalogue::{Catalogue, Level, Requirement, GENERAL_API};
pub use schema_errors::{OwnedObject, SchemaError};
pub use scope::OperationRef;

use index::{check_derive, index_operations, preflight_of};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

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
    /// The spec embedded in this binary (see [`Spec::is_embedded`]).
    embedded: bool,
    registry: OnceLock<Result<jsonschema::Registry<'static>, String>>,
    validators: RwLock<HashMap<String, Arc<validators::Slot>>>,
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
        let embedded = crate::bundle::is_bundled(document) && crate::bundle::is_bundled(dir);
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
        // The embedded document was parsed by the build: its YAML is not even read.
        let prebuilt = embedded
            && !PARSED_BY_THE_BUILD.is_empty()
            && document == crate::bundle::root().join("specs/openapi.yaml");
        let (doc_file, doc_text) = match prebuilt {
            true => (document.display().to_string(), String::new()),
            false => read("openapi.yaml")?,
        };
        let (overlay_file, overlay_text) = read("overlay.yaml")?;
        let (catalogue_file, catalogue_text) = read("requirements.yaml")?;

        // The overlay and the catalogue are parsed while the document is: the run waits for all
        // three before anything else.
        let (document, overlay, catalogue) = std::thread::scope(|scope| {
            let overlay = scope.spawn(|| {
                let overlay: Result<overlay::Overlay, String> =
                    crate::yaml::parse(&overlay_file, &overlay_text).map_err(|e| e.to_string());
                let catalogue =
                    Catalogue::parse(&catalogue_file, &catalogue_text).map_err(|e| e.to_string());
                (overlay, catalogue)
            });
            let document: Result<Value, String> = match prebuilt {
                true => serde_json::from_str(PARSED_BY_THE_BUILD)
                    .map_err(|e| format!("{doc_file}: the build's form does not parse: {e}")),
                false => match parsed_at_build(&doc_text) {
                    Some(document) => Ok(document),
                    None => crate::yaml::parse(&doc_file, &doc_text).map_err(|e| e.to_string()),
                },
            };
            let (overlay, catalogue) = overlay
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            (document, overlay, catalogue)
        });
        let mut document = document?;
        if !document.is_object() {
            return Err(format!(
                "{doc_file}: not an OpenAPI document (expected a mapping)"
            ));
        }
        let overlay = overlay?;
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
        overlay
            .apply(&overlay_file, &mut document)
            .map_err(|e| e.to_string())?;
        // The embedded document's `$ref`s were fixed with the binary, and this crate's tests
        // check them (`the_embedded_documents_refs_all_resolve`).
        if !embedded {
            check_local_refs(&document, &doc_file, &doc_text)?;
        }
        let catalogue = catalogue?;

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
        let hash = match embedded {
            true => EMBEDDED_HASH.to_string(),
            false => hash::fnv1a([&doc_text, &overlay_text, &catalogue_text]),
        };
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
            embedded,
            registry: OnceLock::new(),
            validators: RwLock::new(HashMap::new()),
        })
    }

    /// Whether this is the spec embedded in this binary. What follows from the spec alone (the
    /// overlay's examples validating, the probes' premises holding) was then fixed when the
    /// binary was built, and this crate's tests check it: a run does not compile the request
    /// schemas again to find out.
    pub fn is_embedded(&self) -> bool {
        self.embedded
    }

    /// The spec, checked at run time as if it were not the embedded one.
    #[cfg(test)]
    pub(crate) fn checked_at_run_time(mut self) -> Self {
        self.embedded = false;
        self
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

/// The fingerprint of the embedded `openapi.yaml`, `overlay.yaml` and `requirements.yaml`,
/// computed by the build (see `build.rs`).
const EMBEDDED_HASH: &str = include_str!(concat!(env!("OUT_DIR"), "/spec.hash"));

/// `specs/openapi.yaml` as the build parsed it (see `build.rs`), when `text` is exactly the
/// file built with: parsing its JSON form takes a tenth of the time of the YAML.
fn parsed_at_build(text: &str) -> Option<Value> {
    const SOURCE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/specs/openapi.yaml"));
    if text != SOURCE || PARSED_BY_THE_BUILD.is_empty() {
        return None;
    }
    serde_json::from_str(PARSED_BY_THE_BUILD).ok()
}

/// The build's parsed form of `specs/openapi.yaml`, the embedded document (empty when the
/// build could not make it).
const PARSED_BY_THE_BUILD: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Spec {
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    /// A folder with the committed overlay and catalogue, and the document `rewrite` makes of
    /// the committed one's text.
    fn specs_with(rewrite: impl FnOnce(&str) -> String) -> tempfile::TempDir {
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        let copy = tempfile::tempdir().unwrap();
        for name in ["overlay.yaml", "requirements.yaml"] {
            std::fs::copy(specs.join(name), copy.path().join(name)).unwrap();
        }
        let text = std::fs::read_to_string(specs.join("openapi.yaml")).unwrap();
        std::fs::write(copy.path().join("openapi.yaml"), rewrite(&text)).unwrap();
        copy
    }

    /// [`specs_with`] the committed document changed by `edit` (written as JSON, which is YAML).
    fn specs_edited(edit: impl FnOnce(&mut Value)) -> tempfile::TempDir {
        specs_with(|text| {
            let mut document: Value = crate::yaml::parse("openapi.yaml", text).unwrap();
            edit(&mut document);
            document.to_string()
        })
    }

    fn embedded() -> Spec {
        let spec = Spec::load(&crate::bundle::root().join("specs")).unwrap();
        assert!(spec.is_embedded());
        spec
    }

    #[test]
    fn the_embedded_documents_refs_all_resolve() {
        let embedded = embedded();
        assert_eq!(
            check_local_refs(embedded.document(), "openapi.yaml", ""),
            Ok(())
        );
        // The same document loaded from the folder, not embedded, is checked at load.
        assert!(!spec().is_embedded());
    }

    #[test]
    fn the_embedded_fingerprint_is_the_one_computed_of_its_files() {
        let text = |name: &str| {
            crate::bundle::read_to_string(&crate::bundle::root().join("specs").join(name)).unwrap()
        };
        let computed = hash::fnv1a([
            &text("openapi.yaml"),
            &text("overlay.yaml"),
            &text("requirements.yaml"),
        ]);
        assert_eq!(embedded().hash, computed);
        assert_eq!(spec().hash, computed, "the same files on disk");
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
    fn schemas_compiled_together_report_what_each_reports_alone() {
        let together = spec();
        together.prepare_validators(["createResponse", "listConversationItems"]);
        let alone = spec();
        let item = json!({"type": "message", "id": 7, "status": "done", "role": "user",
            "content": [{"type": "input_text"}]});
        let response = json!({"id": "resp_1", "object": "response", "created_at": "now",
            "status": "completed", "output": [item], "model": 1});
        let cases = [
            (
                "#/components/schemas/ResponseCompletedEvent",
                json!({"type": "response.completed", "sequence_number": 3, "response": response}),
            ),
            ("#/components/schemas/ResponseCreatedEvent", json!([1, 2])),
            (
                "#/components/schemas/ConversationItemList",
                json!({"object": "list", "data": [item], "has_more": "no"}),
            ),
            (
                "#/components/schemas/ErrorResponse",
                json!({"error": {"message": 3}}),
            ),
        ];
        for (pointer, instance) in cases {
            assert!(
                !together.needs_compiling(pointer),
                "{pointer} was not prepared"
            );
            assert!(alone.needs_compiling(pointer));
            let lines = together.validate(pointer, &instance).unwrap();
            assert!(!lines.is_empty(), "{pointer}: {instance}");
            assert_eq!(
                lines,
                alone.validate(pointer, &instance).unwrap(),
                "{pointer}"
            );
            let errors = |spec: &Spec| {
                let errors = spec.schema_errors(pointer, &instance).unwrap();
                errors.iter().map(SchemaError::line).collect::<Vec<_>>()
            };
            assert_eq!(errors(&together), errors(&alone), "{pointer}");
        }
        let valid = json!({"error": {"message": "m", "type": "t", "param": null, "code": null}});
        let pointer = "#/components/schemas/ErrorResponse";
        assert!(together.validate(pointer, &valid).unwrap().is_empty());
    }

    #[test]
    fn a_schema_that_does_not_compile_fails_alone_when_compiled_with_others() {
        let copy = specs_edited(|document| {
            document["components"]["schemas"]["DeletedConversationResource"]["properties"]["id"]
                ["pattern"] = json!("(unclosed");
        });
        let spec = Spec::load(copy.path()).unwrap();
        spec.prepare_validators(["getConversation", "deleteConversation"]);
        let broken = "#/components/schemas/DeletedConversationResource";
        let error = spec.validate(broken, &json!({})).unwrap_err();
        assert!(
            error.contains(&format!("the schema at {broken}")),
            "{error}"
        );
        // The others are compiled one by one instead.
        let fine = "#/components/schemas/ConversationResource";
        assert!(spec.needs_compiling(fine));
        let errors = spec.validate(fine, &json!({"id": 1})).unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("at /id: 1 is not of type")),
            "{errors:?}"
        );
        assert!(!spec.needs_compiling(fine));
    }

    #[test]
    fn a_spec_without_the_error_schema_still_compiles_its_answers_together() {
        fn drop_refs_to(value: &mut Value, target: &str) {
            match value {
                Value::Object(map) if map.get("$ref").and_then(Value::as_str) == Some(target) => {
                    map.clear();
                }
                Value::Object(map) => map.values_mut().for_each(|v| drop_refs_to(v, target)),
                Value::Array(items) => items.iter_mut().for_each(|v| drop_refs_to(v, target)),
                _ => {}
            }
        }
        let error = "#/components/schemas/ErrorResponse";
        let copy = specs_edited(|document| {
            document["components"]["schemas"]
                .as_object_mut()
                .unwrap()
                .remove("ErrorResponse");
            drop_refs_to(document, error);
        });
        let spec = Spec::load(copy.path()).unwrap();
        spec.prepare_validators(["getConversation"]);
        assert!(!spec.needs_compiling("#/components/schemas/ConversationResource"));
        assert!(spec.validate(error, &json!({})).is_err());
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
        let mut parsed: Value = crate::yaml::parse("openapi.yaml", &text).unwrap();
        prose::without_prose(&mut parsed);
        // Key order too: it orders operations and messages.
        assert_eq!(built.to_string(), parsed.to_string());
        assert!(parsed_at_build(&format!("{text}\n# changed\n")).is_none());
    }

    #[test]
    fn the_prose_the_build_leaves_out_changes_no_case() {
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        // Another text: parsed from the YAML, with its prose.
        let copy = specs_with(|text| format!("{text}\n# a copy\n"));
        let generated = |dir: &Path| {
            let spec = Spec::load(dir).unwrap();
            let derived = crate::case::derive::derive(&spec);
            let cases = crate::case::derive::build(&spec, &derived);
            let text = format!("{cases:?}{:?}", crate::probe::generate(&spec));
            text.replace(&dir.display().to_string(), "SPECS")
        };
        let (with_prose, without) = (generated(copy.path()), generated(&specs));
        assert!(with_prose.len() > 100_000, "{}", with_prose.len());
        assert!(
            with_prose == without,
            "the prose the build drops changes the cases"
        );
    }
}
