//! `conformance spec diff OLD NEW`: what changed, for the operations in the suite's scope,
//! between two versions of the official document (or of the extract), and what each change
//! touches: the requirements, the overlay actions, the derived and the hand-written cases.
//! The overlay is applied to NEW too, and an action whose target no longer matches is named.
//!
//! Schemas are compared structurally, through their `$ref`s: an operation appearing or going,
//! its method or path, parameters, request and response schemas per status, and within a
//! schema properties, `required`, types, `enum` values and limits (`maxLength`, `maximum`,
//! `maxItems`, ...). Prose (`description`, `title`, examples) is left out.

use crate::case::derive::BOUNDS;
use crate::case::Case;
use crate::spec::overlay::{Overlay, OverlayAction};
use crate::spec::scope::{operations_of, restrict, OperationRef};
use crate::spec::Spec;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::path::Path;

/// Keywords compared as limits, with the bounds.
const LIMITS: [&str; 2] = ["multipleOf", "pattern"];
/// Keywords that do not change what is valid.
const PROSE: [&str; 6] = [
    "description",
    "title",
    "example",
    "examples",
    "deprecated",
    "externalDocs",
];

/// The whole comparison.
#[derive(Debug, Serialize)]
pub struct Diff {
    pub old: String,
    pub new: String,
    /// The operations compared.
    pub scope: Vec<String>,
    pub changes: Vec<Change>,
    /// Overlay actions whose target matches nothing in NEW.
    pub broken_overlay_actions: Vec<OverlayAction>,
}

/// One difference, and what it affects.
#[derive(Debug, Serialize)]
pub struct Change {
    pub operation: String,
    /// `operation`, `parameter`, `status`, `property`, `required`, `type`, `enum`, `limit`,
    /// `choice`, `schema`.
    pub kind: String,
    /// Where: `request body: items.maxItems`, `response 200: object.enum`, `query limit`.
    pub place: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub requirements: Vec<String>,
    pub overlay_actions: Vec<OverlayAction>,
    pub derived_cases: Vec<String>,
    pub cases: Vec<String>,
    /// The top-level request field the change is under (`metadata`, `query.limit`).
    #[serde(skip)]
    field: Option<String>,
    /// The response status the change is under.
    #[serde(skip)]
    status: Option<String>,
    /// The nodes of OLD from the operation down to the change (pointers, for the overlay).
    #[serde(skip)]
    chain: Vec<usize>,
}

/// Compares `old` and `new` for the scope of the overlay in `spec_dir`, and finds what each
/// change affects among the cases of `cases_dir` and those derived from OLD.
pub fn diff(old: &Path, new: &Path, spec_dir: &Path, cases_dir: &Path) -> Result<Diff, String> {
    let parse = |path: &Path| -> Result<Value, String> {
        let file = path.display().to_string();
        let text =
            crate::bundle::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
        Ok(crate::yaml::parse(&file, &text)?)
    };
    let overlay_file = spec_dir.join("overlay.yaml");
    let overlay_name = overlay_file.display().to_string();
    let overlay_text = crate::bundle::read_to_string(&overlay_file)
        .map_err(|e| format!("{overlay_name}: cannot read: {e}"))?;
    let overlay: Overlay = crate::yaml::parse(&overlay_name, &overlay_text)?;
    let (old_doc, new_doc) = (parse(old)?, parse(new)?);
    let scope: Vec<String> = match &overlay.scope {
        Some(scope) => scope.operations.iter().map(|s| s.value.clone()).collect(),
        None => operations_of(&old_doc)
            .into_iter()
            .map(|op| op.id)
            .collect(),
    };
    let keep: BTreeSet<&str> = scope.iter().map(String::as_str).collect();
    let (old_doc, mut new_doc) = (restrict(&old_doc, &keep), restrict(&new_doc, &keep));

    let mut changes = Vec::new();
    let (old_ops, new_ops) = (operations_of(&old_doc), operations_of(&new_doc));
    for id in &scope {
        let find = |ops: &[OperationRef]| ops.iter().find(|op| &op.id == id).cloned();
        let mut compare = Comparison {
            old: &old_doc,
            new: &new_doc,
            operation: id,
            out: &mut changes,
            seen: HashSet::new(),
        };
        match (find(&old_ops), find(&new_ops)) {
            (Some(before), Some(after)) => compare.operation(&before, &after),
            (before, after) => compare.push(
                "operation",
                "method and path".into(),
                before.map(|op| json!(format!("{} {}", op.method, op.path))),
                after.map(|op| json!(format!("{} {}", op.method, op.path))),
                Context::default(),
            ),
        }
    }

    let actions = overlay.actions_at(&overlay_name);
    let broken: Vec<OverlayAction> = overlay
        .unmatched(&mut new_doc)
        .into_iter()
        .map(|i| actions[i].clone())
        .collect();
    affected(
        &mut changes,
        &overlay,
        &actions,
        &old_doc,
        &spec_for(old, spec_dir)?,
        cases_dir,
    )?;
    Ok(Diff {
        old: old.display().to_string(),
        new: new.display().to_string(),
        scope,
        changes,
        broken_overlay_actions: broken,
    })
}

/// The spec as OLD and the overlay make it: the derived cases come from it.
fn spec_for(old: &Path, spec_dir: &Path) -> Result<Spec, String> {
    Spec::load_document(old, spec_dir)
}

/// Fills in, for every change, the cases, requirements and overlay actions it affects.
fn affected(
    changes: &mut [Change],
    overlay: &Overlay,
    actions: &[OverlayAction],
    old_doc: &Value,
    spec: &Spec,
    cases_dir: &Path,
) -> Result<(), String> {
    let handwritten = crate::case::discover(cases_dir, spec, &|_| true)?.cases;
    let derived = crate::case::derive::derive(spec);
    let cases: Vec<Case> = crate::case::derive::merge(spec, handwritten, &derived)
        .into_iter()
        .flatten()
        .collect();
    let matched: Vec<Vec<usize>> = overlay
        .targets()
        .iter()
        .map(|target| {
            crate::spec::overlay::parse_target(target)
                .map(|path| {
                    path.query(old_doc)
                        .iter()
                        .map(|node| address(node))
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    for change in changes.iter_mut() {
        let mut requirements = BTreeSet::new();
        for case in &cases {
            let calls: Vec<&crate::case::Step> = case
                .steps
                .iter()
                .filter(|s| s.operation.as_deref() == Some(change.operation.as_str()))
                .collect();
            let hit = if let Some(id) = case.id.strip_prefix(crate::case::derive::PREFIX) {
                let mut parts = id.split('/');
                parts.next() == Some(change.operation.as_str())
                    && change
                        .field
                        .as_deref()
                        .is_none_or(|field| parts.next() == Some(field))
            } else {
                calls
                    .iter()
                    .any(|step| match (&change.field, &change.status) {
                        (Some(field), _) => sends(step, field),
                        (None, Some(status)) => expects(step, status),
                        (None, None) => true,
                    })
            };
            if !hit {
                continue;
            }
            requirements.insert(case.requirement.clone());
            requirements.extend(calls.iter().map(|s| s.requirement.clone()));
            if case.id.starts_with(crate::case::derive::PREFIX) {
                change.derived_cases.push(case.id.clone());
            } else {
                change.cases.push(case.id.clone());
            }
        }
        if let (Some(field), Some(op)) = (&change.field, spec.operation(&change.operation)) {
            for (prefix, ids) in op.derive.iter().flat_map(|d| &d.requirements) {
                if prefix.split('/').next() == Some(field.as_str()) {
                    requirements.extend(
                        [&ids.accept, &ids.reject, &ids.param]
                            .into_iter()
                            .flatten()
                            .cloned(),
                    );
                }
            }
        }
        change.requirements = requirements.into_iter().collect();
        change.overlay_actions = matched
            .iter()
            .enumerate()
            .filter(|(_, nodes)| nodes.iter().any(|n| change.chain.contains(n)))
            .map(|(i, _)| actions[i].clone())
            .collect();
    }
    Ok(())
}

/// Whether a step sends this top-level field (`metadata`) or query parameter (`query.limit`).
fn sends(step: &crate::case::Step, field: &str) -> bool {
    match field.strip_prefix("query.") {
        Some(name) => step
            .query
            .iter()
            .any(|(q, _)| q.trim_end_matches("[]") == name),
        None => match &step.body {
            crate::case::Body::Json(body) => body.get(field).is_some(),
            crate::case::Body::Raw(raw) => raw.contains(&format!("\"{field}\"")),
            crate::case::Body::None => false,
        },
    }
}

/// Whether a step may get this status (`200`, `4XX`, `default`) from its operation.
fn expects(step: &crate::case::Step, status: &str) -> bool {
    match &step.expect.status {
        None => true,
        Some(list) => list.iter().any(|s| {
            let code = s.to_string();
            code == status
                || (status.ends_with("XX") && code.starts_with(&status[..1]))
                || status == "default"
        }),
    }
}

fn address(value: &Value) -> usize {
    value as *const Value as usize
}

#[derive(Clone, Default)]
struct Context {
    field: Option<String>,
    status: Option<String>,
    chain: Vec<usize>,
}

struct Comparison<'d, 'o> {
    old: &'d Value,
    new: &'d Value,
    operation: &'d str,
    out: &'o mut Vec<Change>,
    /// The `$ref` pairs being compared, from the top: a recursive schema ends there.
    seen: HashSet<(String, String)>,
}

impl<'d> Comparison<'d, '_> {
    /// Something there in one document and not in the other; `what` says what is there.
    fn push_presence(
        &mut self,
        kind: &str,
        place: String,
        (before, after): (bool, bool),
        what: &str,
        context: Context,
    ) {
        let there = |present: bool| present.then(|| json!(what));
        self.push(kind, place, there(before), there(after), context);
    }

    fn push(
        &mut self,
        kind: &str,
        place: String,
        before: Option<Value>,
        after: Option<Value>,
        context: Context,
    ) {
        self.out.push(Change {
            operation: self.operation.to_string(),
            kind: kind.into(),
            place,
            before,
            after,
            requirements: Vec::new(),
            overlay_actions: Vec::new(),
            derived_cases: Vec::new(),
            cases: Vec::new(),
            field: context.field,
            status: context.status,
            chain: context.chain,
        });
    }

    fn operation(&mut self, before: &OperationRef, after: &OperationRef) {
        let pointer = |op: &OperationRef| {
            format!(
                "/paths/{}/{}",
                op.path.replace('~', "~0").replace('/', "~1"),
                op.method.to_lowercase()
            )
        };
        let (Some(old), Some(new)) = (
            self.old.pointer(&pointer(before)),
            self.new.pointer(&pointer(after)),
        ) else {
            return;
        };
        let root = Context::default();
        if (&before.method, &before.path) != (&after.method, &after.path) {
            self.push(
                "operation",
                "method and path".into(),
                Some(json!(format!("{} {}", before.method, before.path))),
                Some(json!(format!("{} {}", after.method, after.path))),
                Context {
                    chain: vec![address(old)],
                    ..Context::default()
                },
            );
        }
        self.parameters(before, after, old, new, &root);
        let body = |doc: &'d Value, op: &'d Value| -> Option<&'d Value> {
            let body = resolve(doc, op.get("requestBody")?).0;
            json_schema(body)
        };
        let request = Context {
            chain: old.get("requestBody").map(address).into_iter().collect(),
            ..Context::default()
        };
        match (body(self.old, old), body(self.new, new)) {
            (Some(a), Some(b)) => self.schema(a, b, "request body", "", &request),
            (None, None) => {}
            (a, b) => self.push_presence(
                "schema",
                "request body".into(),
                (a.is_some(), b.is_some()),
                "a JSON body",
                request,
            ),
        }
        let statuses = |op: &'d Value| {
            op.get("responses")
                .and_then(Value::as_object)
                .unwrap_or(empty())
        };
        let (old_statuses, new_statuses) = (statuses(old), statuses(new));
        for status in union(old_statuses.keys(), new_statuses.keys()) {
            let mut context = Context {
                status: Some(status.to_uppercase()),
                ..Context::default()
            };
            if let Some(response) = old_statuses.get(&status) {
                context.chain.push(address(resolve(self.old, response).0));
            }
            let place = format!("response {status}");
            match (old_statuses.get(&status), new_statuses.get(&status)) {
                (Some(a), Some(b)) => {
                    let (a, b) = (resolve(self.old, a).0, resolve(self.new, b).0);
                    match (json_schema(a), json_schema(b)) {
                        (Some(a), Some(b)) => self.schema(a, b, &place, "", &context),
                        (None, None) => {}
                        (a, b) => self.push_presence(
                            "schema",
                            place,
                            (a.is_some(), b.is_some()),
                            "a JSON body",
                            context,
                        ),
                    }
                }
                (a, b) => self.push_presence(
                    "status",
                    place,
                    (a.is_some(), b.is_some()),
                    "declared",
                    Context {
                        chain: old.get("responses").map(address).into_iter().collect(),
                        ..context
                    },
                ),
            }
        }
    }

    fn parameters(
        &mut self,
        before: &OperationRef,
        after: &OperationRef,
        old: &'d Value,
        new: &'d Value,
        root: &Context,
    ) {
        let list = |doc: &'d Value, op: &'d Value, path: &str| -> BTreeMap<String, &'d Value> {
            let item = doc.get("paths").and_then(|p| p.get(path));
            item.and_then(|i| i.get("parameters"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .chain(
                    op.get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                )
                .map(|p| resolve(doc, p).0)
                .filter_map(|p| {
                    let name = p.get("name")?.as_str()?;
                    let place = p.get("in")?.as_str()?;
                    Some((format!("{place} {name}"), p))
                })
                .collect()
        };
        let (a, b) = (
            list(self.old, old, &before.path),
            list(self.new, new, &after.path),
        );
        for key in union(a.keys(), b.keys()) {
            let field = key
                .strip_prefix("query ")
                .map(|name| format!("query.{name}"));
            let context = Context {
                field,
                ..root.clone()
            };
            match (a.get(&key), b.get(&key)) {
                (Some(a), Some(b)) => {
                    let required = |p: &Value| p.get("required").cloned().unwrap_or(json!(false));
                    if required(a) != required(b) {
                        self.push(
                            "required",
                            format!("{key}: required"),
                            Some(required(a)),
                            Some(required(b)),
                            context.clone(),
                        );
                    }
                    if let (Some(sa), Some(sb)) = (a.get("schema"), b.get("schema")) {
                        let mut context = context;
                        context.chain.push(address(a));
                        self.schema(sa, sb, &key, "", &context);
                    }
                }
                (a, b) => self.push_presence(
                    "parameter",
                    key,
                    (a.is_some(), b.is_some()),
                    "declared",
                    context,
                ),
            }
        }
    }

    /// Compares two schemas at `at` (a dotted path below `place`).
    fn schema(&mut self, a: &'d Value, b: &'d Value, place: &str, at: &str, context: &Context) {
        let (a, ref_a) = resolve(self.old, a);
        let (b, ref_b) = resolve(self.new, b);
        let entered = match (&ref_a, &ref_b) {
            (Some(ra), Some(rb)) => {
                if !self.seen.insert((ra.clone(), rb.clone())) {
                    return;
                }
                Some((ra.clone(), rb.clone()))
            }
            _ => None,
        };
        self.compare_schema(a, b, place, at, context);
        if let Some(entered) = entered {
            self.seen.remove(&entered);
        }
    }

    fn compare_schema(
        &mut self,
        a: &'d Value,
        b: &'d Value,
        place: &str,
        at: &str,
        context: &Context,
    ) {
        let mut context = context.clone();
        context.chain.push(address(a));
        // Where a keyword or property below `at` is: `items`, `metadata.maxProperties`.
        let below = |name: &str| {
            if at.is_empty() {
                name.to_string()
            } else {
                format!("{at}.{name}")
            }
        };
        let named = |keyword: &str| format!("{place}: {}", below(keyword));
        // A change at a top-level property of the request body is under that field.
        let under_field = |name: &str| {
            let mut context = context.clone();
            if at.is_empty() && place == "request body" {
                context.field = Some(name.to_owned());
            }
            context
        };
        let (Some(ma), Some(mb)) = (a.as_object(), b.as_object()) else {
            if a != b {
                self.push(
                    "schema",
                    named("schema"),
                    Some(a.clone()),
                    Some(b.clone()),
                    context,
                );
            }
            return;
        };
        for key in union(ma.keys(), mb.keys()) {
            let (va, vb) = (ma.get(&key), mb.get(&key));
            // Equal text may still differ below a `$ref`: structure is always walked.
            let structural = matches!(
                key.as_str(),
                "properties"
                    | "items"
                    | "additionalProperties"
                    | "propertyNames"
                    | "not"
                    | "anyOf"
                    | "oneOf"
                    | "allOf"
            );
            if (va == vb && !structural) || PROSE.contains(&key.as_str()) || key.starts_with("x-") {
                continue;
            }
            match key.as_str() {
                "properties" => {
                    let pa = va.and_then(Value::as_object).unwrap_or(empty());
                    let pb = vb.and_then(Value::as_object).unwrap_or(empty());
                    for name in union(pa.keys(), pb.keys()) {
                        let context = under_field(&name);
                        match (pa.get(&name), pb.get(&name)) {
                            (Some(x), Some(y)) => self.schema(x, y, place, &below(&name), &context),
                            (x, y) => self.push_presence(
                                "property",
                                named(&name),
                                (x.is_some(), y.is_some()),
                                "declared",
                                context,
                            ),
                        }
                    }
                }
                "items" | "additionalProperties" | "propertyNames" | "not" => match (va, vb) {
                    (Some(x), Some(y)) if x.is_object() && y.is_object() => {
                        self.schema(x, y, place, &below(&key), &context);
                    }
                    _ if va == vb => {}
                    _ => self.push(
                        "schema",
                        named(&key),
                        va.cloned(),
                        vb.cloned(),
                        context.clone(),
                    ),
                },
                "anyOf" | "oneOf" | "allOf" => {
                    let (la, lb) = (va.and_then(Value::as_array), vb.and_then(Value::as_array));
                    match (la, lb) {
                        (Some(la), Some(lb)) if la.len() == lb.len() => {
                            for (i, (x, y)) in la.iter().zip(lb).enumerate() {
                                let below = below(&format!("{key}[{i}]"));
                                self.schema(x, y, place, &below, &context);
                            }
                        }
                        _ => self.push(
                            "choice",
                            named(&key),
                            la.map(|l| json!(format!("{} choices", l.len()))),
                            lb.map(|l| json!(format!("{} choices", l.len()))),
                            context.clone(),
                        ),
                    }
                }
                "required" => {
                    let names = |v: Option<&Value>| -> BTreeSet<String> {
                        v.and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|n| n.as_str().map(String::from))
                            .collect()
                    };
                    let (ra, rb) = (names(va), names(vb));
                    for name in ra.symmetric_difference(&rb) {
                        self.push(
                            "required",
                            named(name),
                            Some(json!(ra.contains(name))),
                            Some(json!(rb.contains(name))),
                            under_field(name),
                        );
                    }
                }
                "enum" | "const" => self.push(
                    "enum",
                    named(&key),
                    va.cloned(),
                    vb.cloned(),
                    context.clone(),
                ),
                "type" | "format" | "nullable" => self.push(
                    "type",
                    named(&key),
                    va.cloned(),
                    vb.cloned(),
                    context.clone(),
                ),
                limit if BOUNDS.contains(&limit) || LIMITS.contains(&limit) => self.push(
                    "limit",
                    named(&key),
                    va.cloned(),
                    vb.cloned(),
                    context.clone(),
                ),
                _ => self.push(
                    "schema",
                    named(&key),
                    va.cloned(),
                    vb.cloned(),
                    context.clone(),
                ),
            }
        }
    }
}

/// A value with its `$ref`s followed (and the last reference followed, if any).
fn resolve<'d>(doc: &'d Value, mut value: &'d Value) -> (&'d Value, Option<String>) {
    let mut reference = None;
    for _ in 0..16 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with("#/") => match doc.pointer(&r[1..]) {
                Some(target) => {
                    reference = Some(r.to_string());
                    value = target;
                }
                None => break,
            },
            _ => break,
        }
    }
    (value, reference)
}

/// The JSON schema of a request body or response object.
fn json_schema(object: &Value) -> Option<&Value> {
    let content = object.get("content")?.as_object()?;
    content
        .iter()
        .find(|(media, _)| media.starts_with("application/json"))
        .and_then(|(_, body)| body.get("schema"))
}

fn empty() -> &'static serde_json::Map<String, Value> {
    static EMPTY: std::sync::OnceLock<serde_json::Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(serde_json::Map::new)
}

fn union<'k>(
    a: impl Iterator<Item = &'k String>,
    b: impl Iterator<Item = &'k String>,
) -> Vec<String> {
    let mut out: Vec<String> = a.cloned().collect();
    for key in b {
        if !out.contains(key) {
            out.push(key.clone());
        }
    }
    out
}

impl Diff {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} -> {}: {} change{} in the {} operations in scope",
            self.old,
            self.new,
            self.changes.len(),
            if self.changes.len() == 1 { "" } else { "s" },
            self.scope.len()
        );
        let show = |v: &Option<Value>| v.as_ref().map_or("(none)".to_string(), Value::to_string);
        let mut operation = "";
        for change in &self.changes {
            if change.operation != operation {
                operation = &change.operation;
                let _ = writeln!(out, "\n{operation}");
            }
            let _ = writeln!(
                out,
                "  {} {}: {} -> {}",
                change.kind,
                change.place,
                crate::spec::shorten(&show(&change.before), 120),
                crate::spec::shorten(&show(&change.after), 120)
            );
            // The JSON has every name; the text the first few.
            let list = |out: &mut String, what: &str, items: &[String]| {
                const SHOWN: usize = 8;
                if items.is_empty() {
                    return;
                }
                let mut line = items[..items.len().min(SHOWN)].join(", ");
                if items.len() > SHOWN {
                    let _ = write!(line, " and {} more", items.len() - SHOWN);
                }
                let _ = writeln!(out, "    {what} ({}): {line}", items.len());
            };
            list(&mut out, "requirements", &change.requirements);
            let actions: Vec<String> = change
                .overlay_actions
                .iter()
                .map(|a| format!("{} `{}`", a.at, a.target))
                .collect();
            list(&mut out, "overlay actions", &actions);
            list(&mut out, "derived cases", &change.derived_cases);
            list(&mut out, "cases", &change.cases);
        }
        if !self.broken_overlay_actions.is_empty() {
            let _ = writeln!(out, "\noverlay actions that match nothing in {}:", self.new);
            for action in &self.broken_overlay_actions {
                let _ = writeln!(
                    out,
                    "  {}: `{}` ({}): update the target in the overlay",
                    action.at,
                    action.target,
                    action.description.as_deref().unwrap_or("no description")
                );
            }
        }
        out
    }
}
