//! The schema walker: every field of a request schema and query parameter, followed through
//! `properties`, `items`, `additionalProperties`, `$ref` and small choices, to the constraints.

use super::to_case::success_statuses;
use super::{Probe, Skipped, ANNOTATIONS, MAX_CHOICE, MAX_DEPTH, PREFIX};
use crate::spec::{Operation, Spec};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Where a probed value goes: a body field or a query parameter.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Target {
    Body,
    Query(String),
}

/// How a value is placed into its container.
#[derive(Debug, Clone)]
pub(super) enum Place {
    Property(String),
    Index,
}

/// One level of nesting: a valid container and where the inner value goes in it.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub(super) container: Value,
    pub(super) place: Place,
}

/// The position of a schema being walked.
#[derive(Debug, Clone)]
pub(super) struct At {
    pub(super) target: Target,
    pub(super) frames: Vec<Frame>,
    /// `metadata`, `query.limit`, or `body` for the request body itself.
    pub(super) field: String,
    /// Keywords walked since the field: `additionalProperties`, `items`.
    pub(super) keywords: Vec<String>,
    /// What a rejection's `param` names: `metadata.k`, `limit`.
    pub(super) param: String,
    pub(super) depth: usize,
}

impl At {
    /// `field` or `field/keywords`.
    pub(super) fn location(&self) -> String {
        if self.keywords.is_empty() {
            self.field.clone()
        } else {
            format!("{}/{}", self.field, self.keywords.join("."))
        }
    }

    /// `field/keywords.constraint`.
    pub(super) fn constraint(&self, keyword: &str) -> String {
        let mut path = self.keywords.clone();
        path.push(keyword.to_string());
        format!("{}/{}", self.field, path.join("."))
    }

    pub(super) fn inner(&self, frame: Frame, keyword: &str, param: String) -> At {
        let mut keywords = self.keywords.clone();
        keywords.push(keyword.to_string());
        let mut frames = self.frames.clone();
        frames.push(frame);
        At {
            target: self.target.clone(),
            frames,
            field: self.field.clone(),
            keywords,
            param: match self.target {
                Target::Body => param,
                Target::Query(_) => self.param.clone(),
            },
            depth: self.depth + 1,
        }
    }

    pub(super) fn property(&self, container: Value, name: &str) -> At {
        let joined = |base: &str| {
            if base.is_empty() || base == "body" {
                name.to_string()
            } else {
                format!("{base}.{name}")
            }
        };
        let mut at = self.inner(
            Frame {
                container,
                place: Place::Property(name.to_string()),
            },
            "properties",
            joined(&self.param),
        );
        if self.keywords.is_empty() {
            // A property of a property is a field of its own: `a.b`.
            at.field = joined(&self.field).replace('/', "_");
            at.keywords.clear();
        } else {
            at.keywords.push(name.replace(['/', '.'], "_"));
        }
        at
    }
}

/// Places `value` into the containers of `frames`, innermost first.
pub(super) fn embed(frames: &[Frame], value: Value) -> Value {
    frames.iter().rev().fold(value, |inner, frame| {
        let mut container = frame.container.clone();
        match (&frame.place, &mut container) {
            (Place::Property(name), Value::Object(map)) => {
                map.insert(name.clone(), inner);
            }
            (Place::Index, Value::Array(items)) => match items.first_mut() {
                Some(first) => *first = inner,
                None => items.push(inner),
            },
            _ => {}
        }
        container
    })
}

pub(super) type Node<'s> = (String, &'s Value);

pub(super) struct Generator<'s> {
    pub(super) spec: &'s Spec,
    /// Examples of the overlay that do not validate: pointer -> why. Nothing is built on them.
    pub(super) bad_examples: RefCell<BTreeMap<String, String>>,
    pub(super) doc: &'s Value,
    pub(super) op: &'s Operation,
    pub(super) probes: Vec<Probe>,
    pub(super) skipped: Vec<Skipped>,
    pub(super) base_body: Option<Value>,
    pub(super) base_query: Vec<(String, Value)>,
}

impl<'s> Generator<'s> {
    /// A generator for `op` that has made nothing yet.
    pub(super) fn new(spec: &'s Spec, op: &'s Operation) -> Self {
        Generator {
            spec,
            doc: spec.document(),
            bad_examples: RefCell::default(),
            op,
            probes: Vec::new(),
            skipped: Vec::new(),
            base_body: None,
            base_query: Vec::new(),
        }
    }

    pub(super) fn operation(&mut self) {
        let op = self.op;
        let derivable = op.request_schema.is_some()
            || op
                .parameters
                .iter()
                .any(|p| p.location == "query" && p.schema.is_some());
        if !derivable {
            return;
        }
        let missing: Vec<&String> = op
            .path_params
            .iter()
            .filter(|p| {
                op.derive
                    .as_ref()
                    .is_none_or(|d| !d.path_params.contains_key(*p))
            })
            .collect();
        if !missing.is_empty() {
            self.skip_all(format!(
                "needs path parameters {missing:?}: give the operation `x-conformance-derive` \
                 with `setup` steps and `path_params` in the overlay"
            ));
            return;
        }
        if success_statuses(op).is_empty() {
            self.skip_all("the operation declares no 2xx answer".into());
            return;
        }
        for param in op.parameters.iter().filter(|p| p.location == "query") {
            if param.required {
                match param.schema.as_ref().and_then(|s| self.node(s)) {
                    Some((p, n)) => match self.sample(&p, n, 0) {
                        Some(v) => self.base_query.push((param.name.clone(), v)),
                        None => {
                            self.skip_all(format!(
                                "cannot build a valid value for the required query parameter `{}`",
                                param.name
                            ));
                            return;
                        }
                    },
                    None => {
                        self.skip_all(format!("query parameter `{}` has no schema", param.name));
                        return;
                    }
                }
            }
        }
        for (name, value) in op.derive.iter().flat_map(|d| &d.query) {
            if !self.base_query.iter().any(|(n, _)| n == name) {
                self.base_query.push((name.clone(), value.clone()));
            }
        }
        if let Some(pointer) = &op.request_schema {
            let Some((p, n)) = self.node(pointer) else {
                return;
            };
            match self.sample(&p, n, 0) {
                Some(body) => self.base_body = Some(body),
                None => {
                    self.skip_all("cannot build a valid body from the request schema".into());
                    return;
                }
            }
            self.body(p, n);
        }
        let params: Vec<(String, bool, String)> = op
            .parameters
            .iter()
            .filter(|p| p.location == "query")
            .filter_map(|p| Some((p.name.clone(), p.required, p.schema.clone()?)))
            .collect();
        for (name, required, pointer) in params {
            let at = At {
                target: Target::Query(name.clone()),
                frames: Vec::new(),
                field: format!("query.{name}"),
                keywords: Vec::new(),
                param: name.clone(),
                depth: 0,
            };
            if required {
                self.emit(
                    &at,
                    format!("query.{name}/required"),
                    "absent",
                    false,
                    None,
                    format!("{}/parameters", op.pointer),
                    format!("no `{name}` (a required query parameter)"),
                );
            }
            if let Some((p, n)) = self.node(&pointer) {
                // A map in the query (`metadata[key]=value`) has no one encoding to derive.
                let is_object = |v: &Value| v.get("type") == Some(&Value::from("object"));
                let object = self.resolve((p.clone(), n)).is_ok_and(|(_, r)| {
                    is_object(r)
                        || r.get("anyOf")
                            .and_then(Value::as_array)
                            .is_some_and(|c| c.iter().any(is_object))
                });
                if object {
                    self.skip(
                        format!("query.{name}"),
                        "a query parameter that is an object (deepObject) is not derived".into(),
                    );
                    continue;
                }
                self.walk(&at, (p, n));
            }
        }
    }

    pub(super) fn skip_all(&mut self, reason: String) {
        self.skipped.push(Skipped {
            operation: self.op.id.clone(),
            constraint: "*".into(),
            reason,
        });
    }

    pub(super) fn skip(&mut self, constraint: String, reason: String) {
        self.skipped.push(Skipped {
            operation: self.op.id.clone(),
            constraint,
            reason,
        });
    }

    pub(super) fn node(&self, pointer: &str) -> Option<Node<'s>> {
        let value = self.doc.pointer(pointer.strip_prefix('#')?)?;
        Some((pointer.to_string(), value))
    }

    /// Follows `$ref`s (beside annotations only).
    pub(super) fn resolve(&self, node: Node<'s>) -> Result<Node<'s>, String> {
        let (mut pointer, mut value) = node;
        for _ in 0..16 {
            let Some(target) = value.get("$ref").and_then(Value::as_str) else {
                return Ok((pointer, value));
            };
            if let Some(other) = constraints(value).find(|k| *k != "$ref") {
                return Err(format!("`$ref` beside `{other}`"));
            }
            value = target
                .strip_prefix('#')
                .and_then(|p| self.doc.pointer(p))
                .ok_or_else(|| format!("`$ref` to {target} points nowhere"))?;
            pointer = target.to_string();
        }
        Err("a chain of more than 16 `$ref`s".into())
    }

    /// The schemas a value may match: one, or the branches of a small `anyOf`/`oneOf`
    /// (nested choices flattened, `null` kept once).
    pub(super) fn branches(&self, node: Node<'s>) -> Result<Vec<Node<'s>>, String> {
        let (pointer, value) = self.resolve(node)?;
        let choice = ["anyOf", "oneOf"]
            .into_iter()
            .find_map(|k| value.get(k).and_then(Value::as_array).map(|l| (k, l)));
        let Some((keyword, list)) = choice else {
            return Ok(vec![(pointer, value)]);
        };
        if let Some(other) = constraints(value).find(|k| *k != keyword) {
            return Err(format!("`{keyword}` beside `{other}`"));
        }
        let non_null = list.iter().filter(|b| !is_null(b)).count();
        if non_null > MAX_CHOICE {
            return Err(format!(
                "a choice of {non_null} schemas (`{keyword}` at {pointer}); the generator enters \
                 choices of at most {MAX_CHOICE}"
            ));
        }
        let mut out: Vec<Node<'s>> = Vec::new();
        for (i, branch) in list.iter().enumerate() {
            for inner in self.branches((format!("{pointer}/{keyword}/{i}"), branch))? {
                if !(is_null(inner.1) && out.iter().any(|(_, b)| is_null(b))) {
                    out.push(inner);
                }
            }
        }
        if out.iter().filter(|(_, b)| !is_null(b)).count() > MAX_CHOICE {
            return Err(format!(
                "a choice of more than {MAX_CHOICE} schemas at {pointer}"
            ));
        }
        Ok(out)
    }

    /// The request body: its properties and required fields (the body's own type is not
    /// probed: a body that is not an object is a case of its own).
    pub(super) fn body(&mut self, pointer: String, node: &'s Value) {
        let at = At {
            target: Target::Body,
            frames: Vec::new(),
            field: "body".into(),
            keywords: Vec::new(),
            param: String::new(),
            depth: 0,
        };
        match self.branches((pointer, node)) {
            Ok(branches) => {
                for branch in branches.into_iter().filter(|(_, b)| !is_null(b)) {
                    self.branch(&at, branch);
                }
            }
            Err(reason) => self.skip("body".into(), reason),
        }
    }

    /// Every constraint of the schema at `at`: wrong types, then each branch's own.
    pub(super) fn walk(&mut self, at: &At, node: Node<'s>) {
        if at.depth > MAX_DEPTH {
            self.skip(
                at.constraint("*"),
                format!("nested deeper than {MAX_DEPTH}"),
            );
            return;
        }
        let pointer = node.0.clone();
        let branches = match self.branches(node) {
            Ok(branches) => branches,
            Err(reason) => {
                self.skip(at.constraint("*"), reason);
                return;
            }
        };
        self.wrong_types(at, &pointer, &branches);
        for branch in branches.into_iter().filter(|(_, b)| !is_null(b)) {
            self.branch(at, branch);
        }
    }

    /// The constraints of one schema (not a choice).
    pub(super) fn branch(&mut self, at: &At, (pointer, node): Node<'s>) {
        if let Some(keyword) = constraints(node).find(|k| !super::understood(k)) {
            self.skip(
                at.constraint("*"),
                format!("uses `{keyword}` (at {pointer}), which the generator does not handle"),
            );
            return;
        }
        if let Some(values) = node.get("enum").and_then(Value::as_array) {
            self.enumeration(at, &pointer, values);
        } else if let Some(value) = node.get("const") {
            self.enumeration(at, &pointer, std::slice::from_ref(value));
        }
        let types = types_of(node).unwrap_or_default();
        if types.contains(&"string") {
            self.lengths(at, &pointer, node);
        }
        if types.contains(&"integer") || types.contains(&"number") {
            self.bounds(at, &pointer, node);
        }
        if types.contains(&"array") {
            self.array(at, &pointer, node);
        }
        if types.contains(&"object") {
            self.object(at, &pointer, node);
        }
    }

    /// Records a probe: `value` placed at `at` (`None`: the query parameter left out).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(
        &mut self,
        at: &At,
        constraint: String,
        variant: &str,
        accept: bool,
        value: Option<Value>,
        schema_at: String,
        what: String,
    ) {
        let mut body = self.base_body.clone();
        let mut query = self.base_query.clone();
        match (&at.target, value) {
            (Target::Body, Some(value)) => body = Some(embed(&at.frames, value)),
            (Target::Body, None) => {}
            (Target::Query(name), value) => {
                query.retain(|(n, _)| n != name);
                if let Some(value) = value {
                    query.push((name.clone(), embed(&at.frames, value)));
                }
            }
        }
        let id = format!("{PREFIX}{}/{constraint}/{variant}", self.op.id);
        self.probes.push(Probe {
            id,
            operation: self.op.id.clone(),
            constraint,
            accept,
            schema_at,
            what,
            body,
            query,
            probed_query: match &at.target {
                Target::Query(name) => Some(name.clone()),
                Target::Body => None,
            },
            param: (!accept && !at.param.is_empty()).then(|| at.param.clone()),
        });
    }
}

/// The keywords of a schema that may constrain a value (not annotations, not `x-`).
pub(super) fn constraints(node: &Value) -> impl Iterator<Item = &str> {
    node.as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .map(String::as_str)
        .filter(|k| !k.starts_with("x-") && !ANNOTATIONS.contains(k))
}

pub(super) fn is_null(node: &Value) -> bool {
    node.get("type").and_then(Value::as_str) == Some("null")
        && constraints(node).all(|k| k == "type")
}

/// The JSON types a schema accepts: its `type`, else the types of its `enum`/`const`, else
/// what its keywords imply (`properties`: an object). `None` when nothing says.
pub(super) fn types_of(node: &Value) -> Option<Vec<&'static str>> {
    const NAMES: [&str; 7] = [
        "string", "integer", "number", "boolean", "object", "array", "null",
    ];
    let known = |name: &str| NAMES.iter().find(|n| **n == name).copied();
    match node.get("type") {
        Some(Value::String(t)) => return known(t).map(|t| vec![t]),
        Some(Value::Array(list)) => {
            return list.iter().map(|t| t.as_str().and_then(known)).collect();
        }
        _ => {}
    }
    let values: Vec<&Value> = match (node.get("enum"), node.get("const")) {
        (Some(Value::Array(values)), _) => values.iter().collect(),
        (_, Some(value)) => vec![value],
        _ => Vec::new(),
    };
    if !values.is_empty() {
        let mut types: Vec<&'static str> = Vec::new();
        for value in values {
            let t = match value {
                Value::String(_) => "string",
                Value::Number(n) if n.is_f64() => "number",
                Value::Number(_) => "integer",
                Value::Bool(_) => "boolean",
                Value::Object(_) => "object",
                Value::Array(_) => "array",
                Value::Null => "null",
            };
            if !types.contains(&t) {
                types.push(t);
            }
        }
        return Some(types);
    }
    let implies = |keys: &[&str]| keys.iter().any(|k| node.get(*k).is_some());
    if implies(&[
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "maxProperties",
        "minProperties",
    ]) {
        Some(vec!["object"])
    } else if implies(&["items", "maxItems", "minItems"]) {
        Some(vec!["array"])
    } else if implies(&["maxLength", "minLength"]) {
        Some(vec!["string"])
    } else {
        None
    }
}

pub(super) fn usize_of(node: &Value, keyword: &str) -> Option<usize> {
    node.get(keyword)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        // A limit beyond this would build absurd requests; such a limit is no boundary to probe.
        .filter(|n| *n <= 100_000)
}
