//! Cases derived from the contract: every constraint an operation's request schema (official
//! spec plus overlay) and its query parameters declare is probed at its boundary, so that a
//! constraint added to the spec is tested without anyone writing a case.
//!
//! For each constraint the generator builds the value just inside (must answer 2xx) and just
//! outside (must answer 400 with the error object, `param` naming the field and `code` the
//! constraint at SHOULD level): `maxLength`/`minLength` (also in multibyte and 4-byte
//! characters: lengths count characters), `maxItems`/`minItems`, `maxProperties`/
//! `minProperties`, `propertyNames.maxLength`, `minimum`/`maximum` (and the exclusive forms),
//! every `enum` value and one outside it, every wrong JSON type of a typed field, and the
//! absence of every required field. Nested schemas are followed through `properties`,
//! `additionalProperties`, array `items`, `$ref` and choices (`anyOf`/`oneOf`) of at most
//! [`MAX_CHOICE`] non-null schemas of different types; a bigger choice (the message item
//! tree of `items`) and keywords the generator does not understand (`pattern`, `allOf`, ...)
//! are skipped and reported by `conformance coverage`, never guessed.
//!
//! Derived cases are ordinary [`Case`]s, built directly (the overlay's setup steps are loaded
//! by [`super::load`], with the same validation): the same runner, verdicts and cleanup. They
//! are named `derived/<operation>/<field>/<constraint>/<variant>`, e.g.
//! `derived/updateConversation/metadata/maxProperties/over`. The overlay supplies what a
//! schema cannot: `x-conformance-derive` on an operation (setup steps, path parameters, and
//! which requirement each case checks, by the longest prefix of `<field>/<constraint>/<variant>`;
//! DER-01/02/03 otherwise), `x-conformance-example` on a schema the generator cannot build a
//! value for, and `x-conformance-error-codes` (the `code` per constraint).
//!
//! Before anything is sent, every request is checked against the spec ([`Spec::validate`]):
//! an accepted one must validate, a rejected one must not. A request that disagrees is a bug of
//! the generator (or a wrong example): it is not sent, and the failing case
//! `derived/generator-self-check` lists it. For the spec embedded in the binary that check is
//! made by this crate's tests instead of every run ([`derive_embedded`]).

use super::{Broken, Case};
use crate::spec::{DeriveConfig, Operation, Spec};
use serde_json::{json, Map, Number, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// Test names of derived cases begin with this.
pub const PREFIX: &str = "derived/";
/// The failing case that reports requests the spec disagrees with.
pub const SELF_CHECK_ID: &str = "derived/generator-self-check";
/// Choices (`anyOf`/`oneOf`) of more non-null schemas than this are not entered.
pub const MAX_CHOICE: usize = 2;
/// Schemas nested deeper than this below a field are not followed.
const MAX_DEPTH: usize = 6;

/// Keywords the generator understands; any other assertion keyword stops it at that schema.
const UNDERSTOOD: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "maxLength",
    "minLength",
    "maximum",
    "minimum",
    "exclusiveMaximum",
    "exclusiveMinimum",
    "maxItems",
    "minItems",
    "items",
    "maxProperties",
    "minProperties",
    "properties",
    "required",
    "additionalProperties",
    "propertyNames",
];
/// Keywords that constrain nothing.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "default",
    "example",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "discriminator",
    "$comment",
    "externalDocs",
    "xml",
    "nullable",
];
const EXAMPLE: &str = "x-conformance-example";

/// One derived request and what it must answer.
#[derive(Debug, Clone)]
pub struct Probe {
    /// `derived/updateConversation/metadata/maxProperties/over`.
    pub id: String,
    pub operation: String,
    /// `metadata/maxProperties`: the field and the constraint, as in the id.
    pub constraint: String,
    /// Must be accepted (2xx); otherwise rejected with 400.
    pub accept: bool,
    /// JSON pointer of the keyword probed (where a failure points).
    pub schema_at: String,
    /// What is sent, e.g. `17 properties (maxProperties 16)`.
    pub what: String,
    pub body: Option<Value>,
    pub query: Vec<(String, Value)>,
    /// The query parameter probed; `None` when the body is.
    probed_query: Option<String>,
    /// The `param` a rejection should name.
    pub param: Option<String>,
}

/// A constraint (or a whole field) the generator does not derive cases for, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub operation: String,
    /// `items/items`, `body`, or `metadata/maxProperties`.
    pub constraint: String,
    pub reason: String,
}

/// Everything derived from a spec.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    /// Every probe that passed the self-check, in a stable order.
    pub probes: Vec<Probe>,
    pub skipped: Vec<Skipped>,
    /// Probes whose request disagrees with the spec: id and why. Never sent.
    pub inconsistent: Vec<(String, String)>,
}

/// Derives the probes of every operation and self-checks them against the spec, one thread per
/// operation (the self-check compiles each request schema: milliseconds each).
pub fn derive(spec: &Spec) -> Derived {
    derive_with(spec, true)
}

/// [`derive`] for the spec embedded in this binary, without the self-check: the generator and
/// the spec were both fixed when the binary was built, so the self-check's answer was too, and
/// a test of this crate proves it clean. Any other spec folder is self-checked.
pub fn derive_embedded(spec: &Spec) -> Derived {
    derive_with(spec, false)
}

fn derive_with(spec: &Spec, checked: bool) -> Derived {
    let operations: Vec<&Operation> = spec.operations().collect();
    let per_operation: Vec<Derived> = std::thread::scope(|scope| {
        let workers: Vec<_> = operations
            .iter()
            .map(|op| scope.spawn(move || derive_operation(spec, op, checked)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut derived = Derived::default();
    for mut one in per_operation {
        derived.probes.append(&mut one.probes);
        derived.skipped.append(&mut one.skipped);
        for (id, why) in one.inconsistent {
            if !derived.inconsistent.iter().any(|(known, _)| known == &id) {
                derived.inconsistent.push((id, why));
            }
        }
    }
    derived
}

fn derive_operation(spec: &Spec, op: &Operation, checked: bool) -> Derived {
    let mut derived = Derived::default();
    let mut generator = Generator {
        spec,
        doc: spec.document(),
        bad_examples: RefCell::default(),
        op,
        probes: Vec::new(),
        skipped: Vec::new(),
        base_body: None,
        base_query: Vec::new(),
    };
    generator.operation();
    derived.skipped.append(&mut generator.skipped);
    for (pointer, why) in generator.bad_examples.take() {
        let id = format!("{EXAMPLE} at {pointer}");
        if !derived.inconsistent.iter().any(|(known, _)| known == &id) {
            derived.inconsistent.push((id, why));
        }
    }
    for probe in generator.probes {
        if !checked {
            derived.probes.push(probe);
            continue;
        }
        match self_check(spec, op, &probe) {
            Ok(()) => derived.probes.push(probe),
            Err(why) => derived.inconsistent.push((probe.id, why)),
        }
    }
    derived
}

/// The hand-written cases with the derived ones no hand-written case `covers`, each loaded as
/// a case document; a `covers` naming no derived case breaks its case, and a failed self-check
/// becomes the failing case [`SELF_CHECK_ID`].
pub fn merge(
    spec: &Spec,
    handwritten: Vec<Result<Case, Broken>>,
    derived: &Derived,
) -> Vec<Result<Case, Broken>> {
    let known: BTreeSet<&str> = derived
        .probes
        .iter()
        .map(|p| p.id.as_str())
        .chain(derived.inconsistent.iter().map(|(id, _)| id.as_str()))
        .collect();
    let mut covered = BTreeSet::new();
    let mut out: Vec<Result<Case, Broken>> = handwritten
        .into_iter()
        .map(|loaded| {
            let case = loaded?;
            if let Some((id, at)) = case
                .covers
                .iter()
                .find(|(id, _)| !known.contains(id.as_str()))
            {
                return Err(Broken {
                    error: format!(
                        "{at}: covers `{id}`, which is not a derived case of this spec \
                         (list them with `--list {PREFIX}`)"
                    ),
                    id: case.id,
                    file: case.file,
                });
            }
            covered.extend(case.covers.iter().map(|(id, _)| id.clone()));
            Ok(case)
        })
        .collect();
    let mut builder = Builder::new(spec);
    for probe in &derived.probes {
        if !covered.contains(&probe.id) {
            out.push(builder.case(probe));
        }
    }
    if !derived.inconsistent.is_empty() {
        let mut error = format!(
            "generator self-check: what follows disagrees with the spec and is not sent; this is \
             a bug in the generator or a wrong `{EXAMPLE}` in the overlay, not a finding against \
             the server:"
        );
        for (id, why) in &derived.inconsistent {
            error.push_str(&format!("\n  {id}: {why}"));
        }
        out.push(Err(Broken {
            id: SELF_CHECK_ID.to_string(),
            file: "derived from the spec (openapi.yaml and overlay.yaml)".to_string(),
            error,
        }));
    }
    out
}

/// Builds each probe's case as a value: the setup steps of `x-conformance-derive`, in the case
/// format, are loaded once per operation and requirement; the probed step is built directly,
/// with the checks the loader would make of it.
struct Builder<'s> {
    spec: &'s Spec,
    setups: BTreeMap<(String, String), Result<Setup, String>>,
}

/// An operation's setup steps, loaded for one case requirement, and the variables they capture.
#[derive(Clone)]
struct Setup {
    steps: Vec<super::Step>,
    captured: BTreeSet<String>,
}

impl<'s> Builder<'s> {
    fn new(spec: &'s Spec) -> Self {
        Self {
            spec,
            setups: BTreeMap::new(),
        }
    }

    fn case(&mut self, probe: &Probe) -> Result<Case, Broken> {
        let file = format!("derived from {}", probe.schema_at);
        let broken = |error: String| Broken {
            id: probe.id.clone(),
            file: file.clone(),
            error,
        };
        let spec = self.spec;
        let Some(op) = spec.operation(&probe.operation) else {
            return Err(broken(format!("unknown operation {}", probe.operation)));
        };
        let config = op.derive.as_ref();
        let tail = probe.id.strip_prefix(PREFIX).unwrap_or(&probe.id);
        let tail = tail.split_once('/').map_or(tail, |(_, rest)| rest);
        let kind = if probe.accept {
            Kind::Accept
        } else {
            Kind::Reject
        };
        let not_loaded = |e: String| {
            broken(format!(
                "the derived case does not load (check x-conformance-derive of {} in the \
                 overlay): {e}",
                op.id
            ))
        };
        let param_id = requirement(config, tail, Kind::Param);
        let (requirement, level) = self.requirement(&requirement(config, tail, kind));
        let requirement = requirement.map_err(not_loaded)?;
        let setup = self.setup(op, &requirement).map_err(not_loaded)?;

        let mut expect = super::Expect::default();
        if probe.accept {
            expect.status = Some(success_statuses(op));
        } else {
            expect.status = Some(vec![400]);
            let (param_requirement, param_level) = self.requirement(&param_id);
            let param_requirement = param_requirement.map_err(not_loaded)?;
            let equals = |value: &str, selector: &str| {
                let selector = crate::selector::Selector::parse(selector)
                    .expect("a selector of the error object");
                let matcher = super::Matcher {
                    requirement: param_requirement.clone(),
                    level: param_level,
                    equals: Some(Value::from(value)),
                    one_of: None,
                    types: None,
                    pattern: None,
                    absent: None,
                    length: None,
                    contains: None,
                    near_now: None,
                };
                (selector, matcher)
            };
            if let Some(param) = &probe.param {
                expect.json.push(equals(param, "error.param"));
            }
            let constraint = probe.constraint.split_once('/').map_or("", |(_, c)| c);
            if let Some(code) = error_code(spec, constraint) {
                expect.json.push(equals(code, "error.code"));
            }
        }

        let path_params: Vec<(String, Value)> = match config {
            Some(config) if !op.path_params.is_empty() => config
                .path_params
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                .collect(),
            _ => Vec::new(),
        };
        let given: BTreeSet<&str> = path_params.iter().map(|(k, _)| k.as_str()).collect();
        let wanted: BTreeSet<&str> = op.path_params.iter().map(String::as_str).collect();
        let number = setup.steps.len() + 1;
        let label = format!("step {number} ({})", probe.what);
        if given != wanted {
            return Err(not_loaded(format!(
                "{label}: {} takes path_params {wanted:?}, the step gives {given:?}",
                op.id
            )));
        }
        // One value per name, the last one winning, as a mapping of the case format has it.
        let mut query: Map<String, Value> = Map::new();
        for (name, value) in &probe.query {
            query.insert(name.clone(), value.clone());
        }
        let body = match &probe.body {
            Some(body) => super::Body::Json(body.clone()),
            None => super::Body::None,
        };
        let templated = path_params
            .iter()
            .map(|(_, v)| v)
            .chain(query.values())
            .chain(probe.body.iter());
        for value in templated {
            crate::template::check(value, &setup.captured)
                .map_err(|e| not_loaded(format!("{label}: {e}")))?;
        }
        let step = super::Step {
            label,
            // Failures point at the constraint, not at generated text.
            at: probe.schema_at.clone(),
            requirement: requirement.clone(),
            level,
            operation: Some(op.id.clone()),
            method: op.method.clone(),
            path: op.path.clone(),
            path_params,
            query: query.into_iter().collect(),
            headers: Vec::new(),
            auth: true,
            body,
            content_type: None,
            expect,
            capture: Vec::new(),
            snapshot: None,
            observe: None,
            stream: false,
        };
        let verdict = if probe.accept {
            "is accepted"
        } else {
            "is rejected with 400"
        };
        let mut steps = setup.steps;
        steps.push(step);
        Ok(Case {
            id: probe.id.clone(),
            file,
            requirement,
            level,
            title: Some(format!(
                "{} {}: {} {verdict}",
                op.id, probe.constraint, probe.what
            )),
            vars: Default::default(),
            steps,
            cleanup: Vec::new(),
            ignored: None,
            covers: Vec::new(),
        })
    }

    /// A requirement of the catalogue and its level.
    fn requirement(&self, id: &str) -> (Result<String, String>, crate::spec::Level) {
        match self.spec.catalogue.get(id) {
            Some(r) => (Ok(r.id.clone()), r.level),
            None => (
                Err(format!(
                    "unknown requirement `{id}`: use an ID of specs/requirements.yaml"
                )),
                crate::spec::Level::Must,
            ),
        }
    }

    /// The setup steps of `op` for cases of `requirement`, loaded as the case format once.
    fn setup(&mut self, op: &Operation, requirement: &str) -> Result<Setup, String> {
        let spec = self.spec;
        let key = (op.id.clone(), requirement.to_string());
        let loaded = self.setups.entry(key).or_insert_with(|| {
            let setup = op
                .derive
                .as_ref()
                .map(|c| c.setup.as_slice())
                .unwrap_or(&[]);
            if setup.is_empty() {
                return Ok(Setup {
                    steps: Vec::new(),
                    captured: BTreeSet::new(),
                });
            }
            let document = json!({"requirement": requirement, "steps": setup});
            let text = serde_json::to_string_pretty(&document).unwrap_or_default();
            let file = format!("x-conformance-derive of {}", op.id);
            let mut case = match super::load(&file, &file, &text, spec).pop() {
                Some(Ok(case)) => case,
                Some(Err(b)) => {
                    return Err(format!(
                        "{}\nthe setup steps:\n{}",
                        b.error,
                        crate::spec::shorten(&text, 2000)
                    ))
                }
                None => return Err("the setup steps do not load".into()),
            };
            let at = format!("x-conformance-derive of {} (setup)", op.id);
            for step in &mut case.steps {
                step.at = at.clone();
                // Every setup step comes before the derived one: each is a set-up step of
                // the case, as the case loader judges the steps before a case's last.
                if step.requirement == requirement {
                    super::attribute_set_up(step, spec);
                }
            }
            let captured = case
                .steps
                .iter()
                .flat_map(|s| s.capture.iter().map(|(name, _)| name.clone()))
                .collect();
            Ok(Setup {
                steps: case.steps,
                captured,
            })
        });
        loaded.clone()
    }
}

/// The `code` of `x-conformance-error-codes` for a constraint path
/// (`additionalProperties.maxLength`): the longest tail that has one.
fn error_code<'s>(spec: &'s Spec, constraint: &str) -> Option<&'s String> {
    let keywords: Vec<&str> = constraint.split('.').collect();
    (0..keywords.len()).find_map(|from| spec.error_codes.get(&keywords[from..].join(".")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Accept,
    Reject,
    Param,
}

/// The requirement of a derived case: the `x-conformance-derive.requirements` entry with the
/// longest prefix of `<field>/<constraint>/<variant>` naming one of this kind, else the
/// generic DER-02 (accept), DER-01 (reject) or DER-03 (`param` and `code`).
fn requirement(config: Option<&DeriveConfig>, tail: &str, kind: Kind) -> String {
    let segments: Vec<&str> = tail.split('/').collect();
    let found = config.and_then(|c| {
        c.requirements
            .iter()
            .filter(|(prefix, _)| {
                let prefix: Vec<&str> = prefix.split('/').collect();
                prefix.len() <= segments.len() && segments[..prefix.len()] == prefix[..]
            })
            .filter_map(|(prefix, ids)| {
                let id = match kind {
                    Kind::Accept => ids.accept.as_ref(),
                    Kind::Reject => ids.reject.as_ref(),
                    Kind::Param => ids.param.as_ref(),
                }?;
                Some((prefix.split('/').count(), id))
            })
            .max_by_key(|(depth, _)| *depth)
            .map(|(_, id)| id.clone())
    });
    found.unwrap_or_else(|| {
        match kind {
            Kind::Accept => "DER-02",
            Kind::Reject => "DER-01",
            Kind::Param => "DER-03",
        }
        .to_string()
    })
}

/// The 2xx statuses the operation declares (a derived accept case expects one of them).
fn success_statuses(op: &Operation) -> Vec<u16> {
    op.responses
        .keys()
        .filter_map(|s| s.parse::<u16>().ok())
        .filter(|s| (200..300).contains(s))
        .collect()
}

/// An accepted request must validate against the spec and a rejected one must not (in the
/// part probed; the rest of it must validate).
fn self_check(spec: &Spec, op: &Operation, probe: &Probe) -> Result<(), String> {
    let mut parts: Vec<(String, String, &Value)> = Vec::new();
    if let (Some(body), Some(pointer)) = (&probe.body, &op.request_schema) {
        parts.push(("the body".into(), pointer.clone(), body));
    }
    for (name, value) in &probe.query {
        let pointer = op
            .parameters
            .iter()
            .find(|p| p.location == "query" && &p.name == name)
            .and_then(|p| p.schema.clone())
            .ok_or_else(|| format!("query parameter `{name}` has no schema"))?;
        parts.push((format!("query parameter `{name}`"), pointer, value));
    }
    if let Some(name) = &probe.probed_query {
        let sent = probe.query.iter().any(|(n, _)| n == name);
        let required = op.parameters.iter().any(|p| &p.name == name && p.required);
        let absence_probed = required && !probe.accept;
        if !sent && !absence_probed {
            return Err(format!(
                "query parameter `{name}` is left out, but it is not required"
            ));
        }
    }
    for (what, pointer, value) in parts {
        let errors = spec.validate(&pointer, value)?;
        let probed = match &probe.probed_query {
            Some(name) => what == format!("query parameter `{name}`"),
            None => what == "the body",
        };
        let short = crate::check::compact(value, 300);
        if probed && !probe.accept {
            if errors.is_empty() {
                return Err(format!(
                    "should break the schema at {pointer}, but {what} validates: {short}"
                ));
            }
        } else if let Some(first) = errors.first() {
            return Err(format!(
                "{what} should validate against {pointer}, but does not: {first}; sent: {short}"
            ));
        }
    }
    Ok(())
}

/// Where a probed value goes: a body field or a query parameter.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Body,
    Query(String),
}

/// How a value is placed into its container.
#[derive(Debug, Clone)]
enum Place {
    Property(String),
    Index,
}

/// One level of nesting: a valid container and where the inner value goes in it.
#[derive(Debug, Clone)]
struct Frame {
    container: Value,
    place: Place,
}

/// The position of a schema being walked.
#[derive(Debug, Clone)]
struct At {
    target: Target,
    frames: Vec<Frame>,
    /// `metadata`, `query.limit`, or `body` for the request body itself.
    field: String,
    /// Keywords walked since the field: `additionalProperties`, `items`.
    keywords: Vec<String>,
    /// What a rejection's `param` names: `metadata.k`, `limit`.
    param: String,
    depth: usize,
}

impl At {
    /// `field` or `field/keywords`.
    fn location(&self) -> String {
        if self.keywords.is_empty() {
            self.field.clone()
        } else {
            format!("{}/{}", self.field, self.keywords.join("."))
        }
    }

    /// `field/keywords.constraint`.
    fn constraint(&self, keyword: &str) -> String {
        let mut path = self.keywords.clone();
        path.push(keyword.to_string());
        format!("{}/{}", self.field, path.join("."))
    }

    fn inner(&self, frame: Frame, keyword: &str, param: String) -> At {
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

    fn property(&self, container: Value, name: &str) -> At {
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
fn embed(frames: &[Frame], value: Value) -> Value {
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

type Node<'s> = (String, &'s Value);

struct Generator<'s> {
    spec: &'s Spec,
    /// Examples of the overlay that do not validate: pointer -> why. Nothing is built on them.
    bad_examples: RefCell<BTreeMap<String, String>>,
    doc: &'s Value,
    op: &'s Operation,
    probes: Vec<Probe>,
    skipped: Vec<Skipped>,
    base_body: Option<Value>,
    base_query: Vec<(String, Value)>,
}

impl<'s> Generator<'s> {
    fn operation(&mut self) {
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

    fn skip_all(&mut self, reason: String) {
        self.skipped.push(Skipped {
            operation: self.op.id.clone(),
            constraint: "*".into(),
            reason,
        });
    }

    fn skip(&mut self, constraint: String, reason: String) {
        self.skipped.push(Skipped {
            operation: self.op.id.clone(),
            constraint,
            reason,
        });
    }

    fn node(&self, pointer: &str) -> Option<Node<'s>> {
        let value = self.doc.pointer(pointer.strip_prefix('#')?)?;
        Some((pointer.to_string(), value))
    }

    /// Follows `$ref`s (beside annotations only).
    fn resolve(&self, node: Node<'s>) -> Result<Node<'s>, String> {
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
    fn branches(&self, node: Node<'s>) -> Result<Vec<Node<'s>>, String> {
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
    fn body(&mut self, pointer: String, node: &'s Value) {
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
    fn walk(&mut self, at: &At, node: Node<'s>) {
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

    fn wrong_types(&mut self, at: &At, pointer: &str, branches: &[Node<'s>]) {
        let mut accepted: Vec<&str> = Vec::new();
        for (_, branch) in branches {
            match types_of(branch) {
                Some(types) => accepted.extend(types),
                None => {
                    self.skip(
                        at.constraint("type"),
                        "a schema of the choice declares no type".into(),
                    );
                    return;
                }
            }
        }
        let overlapping = accepted.iter().enumerate().any(|(i, a)| {
            accepted[i + 1..].iter().any(|b| {
                a == b || matches!((*a, *b), ("integer", "number") | ("number", "integer"))
            })
        });
        if overlapping {
            self.skip(
                at.constraint("*"),
                "two schemas of the choice accept the same type".into(),
            );
            return;
        }
        let accepts =
            |t: &str| accepted.contains(&t) || (t == "integer" && accepted.contains(&"number"));
        let candidates: &[(&str, Value)] = &[
            ("string", json!("text")),
            ("integer", json!(7)),
            ("number", json!(1.5)),
            ("boolean", json!(true)),
            ("object", json!({})),
            ("array", json!([])),
            ("null", Value::Null),
        ];
        let in_query = matches!(at.target, Target::Query(_));
        if in_query
            && accepted
                .iter()
                .any(|t| matches!(*t, "object" | "array" | "string"))
        {
            // A query string is text: only a number's or a boolean's type can be broken there.
            return;
        }
        // The `type` keyword itself where the field declares it, else the field's schema.
        let declares_type = self
            .node(pointer)
            .is_some_and(|(_, node)| node.get("type").is_some());
        let type_at = if declares_type {
            format!("{pointer}/type")
        } else {
            pointer.to_string()
        };
        for (name, value) in candidates {
            if accepts(name) || (in_query && !matches!(*name, "string" | "number")) {
                continue;
            }
            self.emit(
                at,
                at.constraint("type"),
                name,
                false,
                Some(value.clone()),
                type_at.clone(),
                format!(
                    "{name} {} (type {})",
                    crate::check::compact(value, 40),
                    accepted.join(" or ")
                ),
            );
        }
    }

    /// The constraints of one schema (not a choice).
    fn branch(&mut self, at: &At, (pointer, node): Node<'s>) {
        if let Some(keyword) = constraints(node).find(|k| !UNDERSTOOD.contains(k)) {
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

    fn enumeration(&mut self, at: &At, pointer: &str, values: &[Value]) {
        let mut names = BTreeSet::new();
        for (i, value) in values.iter().enumerate() {
            let mut name = match value {
                Value::String(s) => s
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect(),
                Value::Number(n) => n.to_string(),
                _ => format!("value_{i}"),
            };
            if name.is_empty() || !names.insert(name.clone()) {
                name = format!("value_{i}");
            }
            self.emit(
                at,
                at.constraint("enum"),
                &name,
                true,
                Some(value.clone()),
                format!("{pointer}/enum"),
                format!("{} (in enum)", crate::check::compact(value, 60)),
            );
        }
        let outside = if values.iter().all(Value::is_string) {
            let mut text = "not-a-listed-value".to_string();
            while values.contains(&Value::from(text.as_str())) {
                text.push('-');
            }
            Value::from(text)
        } else if values.iter().all(Value::is_i64) {
            Value::from(values.iter().filter_map(Value::as_i64).max().unwrap_or(0) + 1)
        } else {
            self.skip(at.constraint("enum"), "an enum of mixed values".into());
            return;
        };
        self.emit(
            at,
            at.constraint("enum"),
            "other",
            false,
            Some(outside.clone()),
            format!("{pointer}/enum"),
            format!("{} (not in enum)", crate::check::compact(&outside, 60)),
        );
    }

    fn lengths(&mut self, at: &At, pointer: &str, node: &Value) {
        let constraint = |k: &str| at.constraint(k);
        if let Some(max) = usize_of(node, "maxLength") {
            let at_ = format!("{pointer}/maxLength");
            for (variant, accept, unit, count) in length_variants(max, true) {
                self.emit(
                    at,
                    constraint("maxLength"),
                    variant,
                    accept,
                    Some(Value::from(unit.repeat(count))),
                    at_.clone(),
                    format!("a string of {count} `{unit}` (maxLength {max})"),
                );
            }
        }
        if let Some(min) = usize_of(node, "minLength").filter(|m| *m > 0) {
            let at_ = format!("{pointer}/minLength");
            for (variant, accept, unit, count) in length_variants(min, false) {
                self.emit(
                    at,
                    constraint("minLength"),
                    variant,
                    accept,
                    Some(Value::from(unit.repeat(count))),
                    at_.clone(),
                    format!("a string of {count} `{unit}` (minLength {min})"),
                );
            }
        }
    }

    fn bounds(&mut self, at: &At, pointer: &str, node: &Value) {
        let bounds = [
            ("minimum", -1.0, "under", true),
            ("maximum", 1.0, "over", true),
            ("exclusiveMinimum", 1.0, "above_limit", false),
            ("exclusiveMaximum", -1.0, "below_limit", false),
        ];
        for (keyword, step, outer, inclusive) in bounds {
            let Some(limit) = node.get(keyword).and_then(Value::as_f64) else {
                continue;
            };
            let beside = number(limit + step);
            let exact = number(limit);
            // Inclusive: the limit is accepted, one past it rejected. Exclusive: the limit is
            // rejected, one inside it accepted.
            let (accepted, rejected) = if inclusive {
                ((exact.clone(), "at_limit"), (beside, outer))
            } else {
                ((beside, outer), (exact, "at_limit"))
            };
            for ((value, variant), accept) in [(accepted, true), (rejected, false)] {
                self.emit(
                    at,
                    at.constraint(keyword),
                    variant,
                    accept,
                    Some(value.clone()),
                    format!("{pointer}/{keyword}"),
                    format!("{value} ({keyword} {})", number(limit)),
                );
            }
        }
    }

    fn array(&mut self, at: &At, pointer: &str, node: &'s Value) {
        let items = node.get("items");
        let element = match items {
            Some(items) => self.sample(&format!("{pointer}/items"), items, at.depth + 1),
            None => Some(Value::from("x")),
        };
        let counted = [("maxItems", 1i64, "over"), ("minItems", -1i64, "under")];
        for (keyword, step, outer) in counted {
            let Some(limit) = usize_of(node, keyword) else {
                continue;
            };
            let Some(element) = element.clone() else {
                self.skip(
                    at.constraint(keyword),
                    format!(
                        "no valid element to fill the array with: give the element schema an \
                         `{EXAMPLE}` in the overlay"
                    ),
                );
                continue;
            };
            let outside = limit as i64 + step;
            let mut variants = vec![("at_limit", true, limit)];
            if outside >= 0 {
                variants.push((outer, false, outside as usize));
            }
            for (variant, accept, count) in variants {
                self.emit(
                    at,
                    at.constraint(keyword),
                    variant,
                    accept,
                    Some(Value::Array(vec![element.clone(); count])),
                    format!("{pointer}/{keyword}"),
                    format!("{count} elements ({keyword} {limit})"),
                );
            }
        }
        if let Some(items) = items {
            let Some(container) = self.sample_branch(pointer, node, at.depth) else {
                self.skip(at.constraint("items"), "cannot build a valid array".into());
                return;
            };
            let inner = at.inner(
                Frame {
                    container,
                    place: Place::Index,
                },
                "items",
                format!("{}[0]", at.param),
            );
            self.walk(&inner, (format!("{pointer}/items"), items));
        }
    }

    fn object(&mut self, at: &At, pointer: &str, node: &'s Value) {
        let Some(Value::Object(container)) = self.sample_branch(pointer, node, at.depth) else {
            self.skip(at.constraint("*"), "cannot build a valid object".into());
            return;
        };
        let extra = self.extra_value(pointer, node, at.depth);
        let key_min = node
            .get("propertyNames")
            .and_then(|n| usize_of(n, "minLength"))
            .unwrap_or(1);
        let fresh_key = |i: usize, taken: &Map<String, Value>| {
            let mut key = format!("k{i}");
            while key.chars().count() < key_min {
                key.push('k');
            }
            (!taken.contains_key(&key)).then_some(key)
        };
        // Object size limits.
        let counted = [
            ("maxProperties", 1i64, "over"),
            ("minProperties", -1i64, "under"),
        ];
        for (keyword, step, outer) in counted {
            let Some(limit) = usize_of(node, keyword) else {
                continue;
            };
            let Some(extra) = extra.clone() else {
                self.skip(
                    at.constraint(keyword),
                    "no property can be added to the object".into(),
                );
                continue;
            };
            let outside = limit as i64 + step;
            let mut variants = vec![("at_limit", true, limit)];
            if outside >= container.len() as i64 {
                variants.push((outer, false, outside as usize));
            }
            for (variant, accept, count) in variants {
                if count < container.len() {
                    continue;
                }
                let mut object = container.clone();
                let mut i = 0;
                while object.len() < count {
                    if let Some(key) = fresh_key(i, &object) {
                        object.insert(key, extra.clone());
                    }
                    i += 1;
                }
                self.emit(
                    at,
                    at.constraint(keyword),
                    variant,
                    accept,
                    Some(Value::Object(object)),
                    format!("{pointer}/{keyword}"),
                    format!("{count} properties ({keyword} {limit})"),
                );
            }
        }
        // Property names.
        if let Some(names) = node.get("propertyNames") {
            let names_at = format!("{pointer}/propertyNames");
            match (self.resolve((names_at.clone(), names)), &extra) {
                (Ok((names_at, names)), Some(extra)) => {
                    if let Some(k) =
                        constraints(names).find(|k| !["type", "maxLength", "minLength"].contains(k))
                    {
                        self.skip(
                            at.constraint("propertyNames"),
                            format!("uses `{k}`, which the generator does not handle"),
                        );
                    } else {
                        for keyword in ["maxLength", "minLength"] {
                            let Some(limit) = usize_of(names, keyword).filter(|l| *l > 0) else {
                                continue;
                            };
                            for (variant, accept, unit, count) in
                                length_variants(limit, keyword == "maxLength")
                            {
                                let key = unit.repeat(count);
                                let mut object = container.clone();
                                object.insert(key.clone(), extra.clone());
                                let param = format!("{}.{key}", at.param);
                                let mut probe_at = at.clone();
                                probe_at.param = match at.target {
                                    Target::Body => param,
                                    Target::Query(_) => at.param.clone(),
                                };
                                self.emit(
                                    &probe_at,
                                    at.constraint(&format!("propertyNames.{keyword}")),
                                    variant,
                                    accept,
                                    Some(Value::Object(object)),
                                    format!("{names_at}/{keyword}"),
                                    format!("a key of {count} `{unit}` ({keyword} {limit})"),
                                );
                            }
                        }
                    }
                }
                (Err(reason), _) => self.skip(at.constraint("propertyNames"), reason),
                (_, None) => self.skip(
                    at.constraint("propertyNames"),
                    "no property can be added to the object".into(),
                ),
            }
        }
        // Values of the map.
        if let Some(schema) = node.get("additionalProperties").filter(|s| s.is_object()) {
            let key = fresh_key(0, &container).unwrap_or_else(|| "k_extra".into());
            let inner = at.inner(
                Frame {
                    container: Value::Object(container.clone()),
                    place: Place::Property(key.clone()),
                },
                "additionalProperties",
                format!("{}.{key}", at.param),
            );
            self.walk(&inner, (format!("{pointer}/additionalProperties"), schema));
        }
        // Declared properties, and the absence of the required ones.
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let properties = node.get("properties").and_then(Value::as_object);
        for (name, schema) in properties.into_iter().flatten() {
            let inner = at.property(Value::Object(container.clone()), name);
            if required.contains(&name.as_str()) {
                let mut without = container.clone();
                without.remove(name);
                let mut probe_at = at.clone();
                probe_at.param = inner.param.clone();
                self.emit(
                    &probe_at,
                    format!("{}/required", inner.location()),
                    "absent",
                    false,
                    Some(Value::Object(without)),
                    format!("{pointer}/required"),
                    format!("no `{name}` (a required property)"),
                );
            }
            self.walk(
                &inner,
                (
                    format!(
                        "{pointer}/properties/{}",
                        name.replace('~', "~0").replace('/', "~1")
                    ),
                    schema,
                ),
            );
        }
        for name in required {
            if properties.is_none_or(|p| !p.contains_key(name)) {
                self.skip(
                    at.constraint("required"),
                    format!("required `{name}` is not among the declared properties"),
                );
            }
        }
    }

    /// Records a probe: `value` placed at `at` (`None`: the query parameter left out).
    #[allow(clippy::too_many_arguments)]
    fn emit(
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

    /// A valid value for a schema: its `x-conformance-example`, else the smallest one the
    /// generator can build; `None` when it cannot.
    fn sample(&self, pointer: &str, node: &'s Value, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        if node.get(EXAMPLE).is_some() {
            return self.example(pointer, node);
        }
        let resolved = self.resolve((pointer.to_string(), node)).ok()?;
        if resolved.1.get(EXAMPLE).is_some() {
            return self.example(&resolved.0, resolved.1);
        }
        let branches = self.branches(resolved).ok()?;
        let mut nullable = false;
        for (p, branch) in branches {
            if is_null(branch) {
                nullable = true;
            } else if let Some(value) = self.sample_branch(&p, branch, depth) {
                return Some(value);
            }
        }
        nullable.then_some(Value::Null)
    }

    /// The `x-conformance-example` of a schema, if it validates against that schema (a wrong
    /// one is recorded: the self-check reports it).
    fn example(&self, pointer: &str, node: &Value) -> Option<Value> {
        let example = node.get(EXAMPLE)?;
        let why = match self.spec.validate(pointer, example) {
            Ok(errors) if errors.is_empty() => return Some(example.clone()),
            Ok(errors) => format!(
                "does not validate against its schema: {}",
                errors.join("; ")
            ),
            Err(e) => e,
        };
        self.bad_examples
            .borrow_mut()
            .insert(pointer.to_string(), why);
        None
    }

    fn sample_branch(&self, pointer: &str, node: &'s Value, depth: usize) -> Option<Value> {
        if node.get(EXAMPLE).is_some() {
            return self.example(pointer, node);
        }
        if constraints(node).any(|k| !UNDERSTOOD.contains(&k)) {
            return None;
        }
        if let Some(value) = node.get("const") {
            return Some(value.clone());
        }
        if let Some(first) = node
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|v| v.first())
        {
            return Some(first.clone());
        }
        let first = types_of(node)?.into_iter().find(|t| *t != "null")?;
        Some(match first {
            "string" => {
                let min = usize_of(node, "minLength").unwrap_or(1);
                let max = usize_of(node, "maxLength").unwrap_or(usize::MAX);
                Value::from("x".repeat(min.max(1).min(max)))
            }
            "integer" | "number" => {
                let low = node.get("minimum").and_then(Value::as_f64).or_else(|| {
                    node.get("exclusiveMinimum")
                        .and_then(Value::as_f64)
                        .map(|m| m + 1.0)
                });
                let high = node.get("maximum").and_then(Value::as_f64).or_else(|| {
                    node.get("exclusiveMaximum")
                        .and_then(Value::as_f64)
                        .map(|m| m - 1.0)
                });
                let mut value = 1.0f64;
                if let Some(low) = low {
                    value = value.max(low);
                }
                if let Some(high) = high {
                    value = value.min(high);
                }
                number(value)
            }
            "boolean" => Value::Bool(true),
            "object" => {
                let properties = node.get("properties").and_then(Value::as_object);
                let mut object = Map::new();
                for name in node
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    let value = match properties.and_then(|p| p.get(name)) {
                        Some(schema) => self.sample(
                            &format!(
                                "{pointer}/properties/{}",
                                name.replace('~', "~0").replace('/', "~1")
                            ),
                            schema,
                            depth + 1,
                        )?,
                        None => self.extra_value(pointer, node, depth)?,
                    };
                    object.insert(name.to_string(), value);
                }
                let min = usize_of(node, "minProperties").unwrap_or(0);
                let mut i = 0;
                while object.len() < min {
                    let value = self.extra_value(pointer, node, depth)?;
                    object.entry(format!("k{i}")).or_insert(value);
                    i += 1;
                }
                Value::Object(object)
            }
            "array" => {
                let element = match node.get("items") {
                    Some(items) => self.sample(&format!("{pointer}/items"), items, depth + 1),
                    None => Some(Value::from("x")),
                };
                let min = usize_of(node, "minItems").unwrap_or(0);
                let max = usize_of(node, "maxItems").unwrap_or(usize::MAX);
                match element {
                    // One element makes a more ordinary request than none.
                    Some(element) => Value::Array(vec![element; min.max(1).min(max)]),
                    None if min == 0 => Value::Array(Vec::new()),
                    None => return None,
                }
            }
            "null" => Value::Null,
            _ => return None,
        })
    }

    /// A valid value for a property the object does not declare, if it may have one.
    fn extra_value(&self, pointer: &str, node: &'s Value, depth: usize) -> Option<Value> {
        match node.get("additionalProperties") {
            None | Some(Value::Bool(true)) => Some(Value::from("x")),
            Some(Value::Bool(false)) => None,
            Some(schema) => self.sample(
                &format!("{pointer}/additionalProperties"),
                schema,
                depth + 1,
            ),
        }
    }
}

/// The variants of a length limit: `(name, accepted, unit, count)`. Multibyte (`é`, two bytes)
/// and 4-byte (`🙂`, two UTF-16 units) strings catch servers that count bytes or UTF-16.
fn length_variants(limit: usize, maximum: bool) -> Vec<(&'static str, bool, &'static str, usize)> {
    if maximum {
        vec![
            ("at_limit", true, "x", limit),
            ("at_limit_multibyte", true, "é", limit),
            ("at_limit_emoji", true, "🙂", limit),
            ("over", false, "x", limit + 1),
            ("over_multibyte", false, "é", limit + 1),
        ]
    } else {
        let mut variants = vec![
            ("at_limit", true, "x", limit),
            ("under", false, "x", limit - 1),
        ];
        if limit > 1 {
            variants.push(("under_multibyte", false, "é", limit - 1));
        }
        variants
    }
}

/// The keywords of a schema that may constrain a value (not annotations, not `x-`).
fn constraints(node: &Value) -> impl Iterator<Item = &str> {
    node.as_object()
        .into_iter()
        .flat_map(|m| m.keys())
        .map(String::as_str)
        .filter(|k| !k.starts_with("x-") && !ANNOTATIONS.contains(k))
}

fn is_null(node: &Value) -> bool {
    node.get("type").and_then(Value::as_str) == Some("null")
        && constraints(node).all(|k| k == "type")
}

/// The JSON types a schema accepts: its `type`, else the types of its `enum`/`const`, else
/// what its keywords imply (`properties`: an object). `None` when nothing says.
fn types_of(node: &Value) -> Option<Vec<&'static str>> {
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

fn usize_of(node: &Value, keyword: &str) -> Option<usize> {
    node.get(keyword)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        // A limit beyond this would build absurd requests; such a limit is no boundary to probe.
        .filter(|n| *n <= 100_000)
}

/// A JSON number, integral when it can be.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// A valid value for the schema at `pointer` (its `x-conformance-example`, else the smallest
/// the generator builds), as the derived cases would send it for `op`; `None` when there is none.
pub fn sample(spec: &Spec, op: &Operation, pointer: &str) -> Option<Value> {
    let generator = Generator {
        spec,
        doc: spec.document(),
        bad_examples: RefCell::default(),
        op,
        probes: Vec::new(),
        skipped: Vec::new(),
        base_body: None,
        base_query: Vec::new(),
    };
    let (p, n) = generator.node(pointer)?;
    generator.sample(&p, n, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn bundled() -> Spec {
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    /// The bundled spec with `actions` (overlay YAML, indented as list items) appended.
    fn with_overlay(actions: &str) -> Spec {
        let dir = tempfile::tempdir().unwrap();
        let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        for name in ["openapi.yaml", "overlay.yaml", "requirements.yaml"] {
            std::fs::copy(specs.join(name), dir.path().join(name)).unwrap();
        }
        let overlay = dir.path().join("overlay.yaml");
        let text = std::fs::read_to_string(&overlay).unwrap();
        std::fs::write(&overlay, format!("{text}\n{actions}")).unwrap();
        Spec::load(dir.path()).unwrap()
    }

    fn probe<'d>(derived: &'d Derived, id: &str) -> &'d Probe {
        derived
            .probes
            .iter()
            .find(|p| p.id == id)
            .unwrap_or_else(|| panic!("no probe {id}"))
    }

    #[test]
    fn the_metadata_limits_are_probed_on_both_sides_in_characters() {
        let derived = derive(&bundled());
        assert!(
            derived.inconsistent.is_empty(),
            "{:?}",
            derived.inconsistent
        );
        let over = probe(
            &derived,
            "derived/updateConversation/metadata/maxProperties/over",
        );
        assert!(!over.accept);
        assert_eq!(
            over.body.as_ref().unwrap()["metadata"]
                .as_object()
                .unwrap()
                .len(),
            17
        );
        assert_eq!(over.param.as_deref(), Some("metadata"));
        let key = probe(
            &derived,
            "derived/updateConversation/metadata/propertyNames.maxLength/over_multibyte",
        );
        let long = "é".repeat(65);
        assert_eq!(key.body, Some(json!({"metadata": {long.clone(): "x"}})));
        assert_eq!(key.param, Some(format!("metadata.{long}")));
        let emoji = probe(
            &derived,
            "derived/updateConversation/metadata/additionalProperties.maxLength/at_limit_emoji",
        );
        assert!(emoji.accept);
        assert_eq!(
            emoji.body,
            Some(json!({"metadata": {"k0": "🙂".repeat(512)}}))
        );
        let absent = probe(
            &derived,
            "derived/updateConversation/metadata/required/absent",
        );
        assert_eq!(absent.body, Some(json!({})));
        let limit = probe(
            &derived,
            "derived/listConversationItems/query.limit/maximum/over",
        );
        assert_eq!(limit.query, vec![("limit".to_string(), json!(101))]);
        assert_eq!(limit.body, None);
        let include = probe(
            &derived,
            "derived/createConversationItems/query.include/items.enum/other",
        );
        assert_eq!(
            include.query,
            vec![("include".to_string(), json!(["not-a-listed-value"]))]
        );
        assert_eq!(
            include.body,
            Some(json!({"items": [{"type": "message", "role": "user", "content": "hello"}]}))
        );
    }

    #[test]
    fn the_message_item_choice_is_skipped_and_said_why() {
        let derived = derive(&bundled());
        let skipped = derived
            .skipped
            .iter()
            .find(|s| s.operation == "createConversationItems" && s.constraint == "items/items.*")
            .unwrap();
        assert!(
            skipped.reason.starts_with("a choice of 6 schemas (`oneOf`"),
            "{skipped:?}"
        );
        assert!(derived
            .probes
            .iter()
            .all(|p| !p.constraint.contains("items.items")));
    }

    #[test]
    fn cases_check_the_requirement_of_the_overlay_table_or_the_generic_one() {
        let spec = bundled();
        let derived = derive(&spec);
        let cases = merge(&spec, Vec::new(), &derived);
        let case = |id: &str| {
            cases
                .iter()
                .filter_map(|c| c.as_ref().ok())
                .find(|c| c.id == id)
                .unwrap_or_else(|| panic!("no case {id}"))
        };
        let over = case("derived/updateConversation/metadata/maxProperties/over");
        assert_eq!(over.requirement, "UPD-06");
        let probe_step = over.steps.last().unwrap();
        assert_eq!(
            probe_step.at,
            "#/components/schemas/Metadata/anyOf/0/maxProperties"
        );
        assert_eq!(probe_step.expect.status, Some(vec![400]));
        let checks: Vec<(String, String)> = probe_step
            .expect
            .json
            .iter()
            .map(|(s, m)| (s.to_string(), m.requirement.clone()))
            .collect();
        assert_eq!(
            checks,
            [
                ("error.param".into(), "UPD-09".into()),
                ("error.code".into(), "UPD-09".into())
            ]
        );
        assert_eq!(
            over.steps[0].operation.as_deref(),
            Some("createConversation")
        );
        let not_object = case("derived/updateConversation/metadata/type/string");
        assert_eq!(not_object.requirement, "DER-01");
        assert_eq!(not_object.steps[1].expect.json[0].1.requirement, "UPD-18");
        let order = case("derived/listConversationItems/query.order/enum/asc");
        assert_eq!(
            (order.requirement.as_str(), order.level),
            ("DER-02", crate::spec::Level::Must)
        );
        let other = case("derived/listConversationItems/query.order/enum/other");
        assert_eq!(
            other.steps[1].expect.json[1].1.equals,
            Some(json!("invalid_value"))
        );
        assert_eq!(other.steps[1].expect.json[1].1.requirement, "DER-03");
    }

    #[test]
    fn a_list_is_filtered_as_the_overlay_says_and_a_map_in_the_query_is_not_derived() {
        let spec = bundled();
        let derived = derive(&spec);
        let cases = merge(&spec, Vec::new(), &derived);
        let order = cases
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .find(|c| c.id == "derived/listChatCompletions/query.order/enum/desc")
            .expect("the list's order is derived");
        let query = &order.steps.last().unwrap().query;
        assert!(
            query.contains(&("model".to_string(), json!("conformance-no-such-model")))
                && query.contains(&("order".to_string(), json!("desc"))),
            "{query:?}"
        );
        assert!(derived
            .probes
            .iter()
            .all(|p| !p.constraint.starts_with("query.metadata")));
        assert!(derived
            .skipped
            .iter()
            .any(|s| s.operation == "listChatCompletions" && s.constraint == "query.metadata"));
    }

    #[test]
    fn a_constraint_added_to_the_overlay_is_probed_without_code() {
        let spec = with_overlay(
            "  - target: $.paths['/conversations/{conversation_id}/items'].get.parameters[?(@.name == 'after')].schema\n    update: {maxLength: 8, minLength: 2}\n",
        );
        let derived = derive(&spec);
        let ids: Vec<&str> = derived
            .probes
            .iter()
            .filter(|p| p.constraint.starts_with("query.after/"))
            .map(|p| p.id.as_str())
            .collect();
        let base = "derived/listConversationItems/query.after";
        let expected: Vec<String> = [
            "maxLength/at_limit",
            "maxLength/at_limit_multibyte",
            "maxLength/at_limit_emoji",
            "maxLength/over",
            "maxLength/over_multibyte",
            "minLength/at_limit",
            "minLength/under",
            "minLength/under_multibyte",
        ]
        .iter()
        .map(|v| format!("{base}/{v}"))
        .collect();
        assert_eq!(ids, expected);
        assert!(
            derived.inconsistent.is_empty(),
            "{:?}",
            derived.inconsistent
        );
    }

    #[test]
    fn keywords_the_generator_does_not_handle_are_skipped_not_guessed() {
        let spec = with_overlay(
            "  - target: $.components.schemas.Metadata.anyOf[?(@.type == 'object')].additionalProperties\n    update: {pattern: '^[a-z]*$'}\n",
        );
        let derived = derive(&spec);
        assert!(derived
            .skipped
            .iter()
            .any(|s| s.constraint == "metadata/additionalProperties.*"
                && s.reason.starts_with("uses `pattern`")));
        assert!(!derived
            .probes
            .iter()
            .any(|p| p.id.contains("additionalProperties.maxLength")));
        // The map itself cannot be filled with valid values any more: its size is not probed.
        assert!(!derived
            .probes
            .iter()
            .any(|p| p.id.contains("maxProperties")));
        assert!(
            derived.inconsistent.is_empty(),
            "{:?}",
            derived.inconsistent
        );
    }

    #[test]
    fn a_request_the_spec_disagrees_with_fails_the_self_check_and_is_not_sent() {
        // A wrong example in the overlay: nothing is built on it, and the self-check says so.
        let spec = with_overlay(
            "  - target: $.components.schemas.InputItem\n    update: {x-conformance-example: {type: message, role: robot, content: hi}}\n",
        );
        let derived = derive(&spec);
        let (_, why) = derived
            .inconsistent
            .iter()
            .find(|(id, _)| id == "x-conformance-example at #/components/schemas/InputItem")
            .unwrap();
        assert!(
            why.starts_with("does not validate against its schema: "),
            "{why}"
        );
        assert!(!derived
            .probes
            .iter()
            .any(|p| p.id.contains("items/maxItems")));
        assert!(derived
            .skipped
            .iter()
            .any(|s| s.operation == "createConversationItems"
                && s.constraint == "items/maxItems"
                && s.reason.starts_with("no valid element")));
        let cases = merge(&spec, Vec::new(), &derived);
        let broken = cases
            .iter()
            .filter_map(|c| c.as_ref().err())
            .find(|b| b.id == SELF_CHECK_ID)
            .unwrap();
        assert!(
            broken.error.starts_with("generator self-check: "),
            "{}",
            broken.error
        );
        assert!(broken
            .error
            .contains("\n  x-conformance-example at #/components/schemas/InputItem: does not"));

        // A wrong claim of the generator is caught before anything is sent.
        let spec = bundled();
        let derived = derive(&spec);
        let op = spec.operation("updateConversation").unwrap();
        let mut wrong = probe(
            &derived,
            "derived/updateConversation/metadata/maxProperties/over",
        )
        .clone();
        wrong.accept = true;
        let err = self_check(&spec, op, &wrong).unwrap_err();
        assert!(
            err.starts_with("the body should validate against #/"),
            "{err}"
        );
        wrong.accept = false;
        wrong.body = Some(json!({"metadata": {}}));
        let err = self_check(&spec, op, &wrong).unwrap_err();
        assert!(err.starts_with("should break the schema at #/"), "{err}");
        let mut derived = derived;
        derived.inconsistent.push((wrong.id.clone(), err));
        let cases = merge(&spec, Vec::new(), &derived);
        let broken = cases
            .iter()
            .filter_map(|c| c.as_ref().err())
            .next()
            .unwrap();
        assert_eq!(broken.id, SELF_CHECK_ID);
        assert!(broken
            .error
            .contains(&format!("\n  {}: should break", wrong.id)));
    }

    #[test]
    fn covers_replace_derived_cases_and_must_name_one() {
        let spec = bundled();
        let derived = derive(&spec);
        let text = "requirement: UPD-05\ncovers: [derived/updateConversation/metadata/maxProperties/at_limit]\nsteps:\n- operation: createConversation\n";
        let handwritten = super::super::load("mine", "cases/mine.yaml", text, &spec);
        let cases = merge(&spec, handwritten, &derived);
        let ids: BTreeSet<&str> = cases
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .map(|c| c.id.as_str())
            .collect();
        assert!(ids.contains("mine"));
        assert!(!ids.contains("derived/updateConversation/metadata/maxProperties/at_limit"));
        assert!(ids.contains("derived/updateConversation/metadata/maxProperties/over"));

        let typo = text.replace("at_limit", "at_limt");
        let handwritten = super::super::load("mine", "cases/mine.yaml", &typo, &spec);
        let broken = merge(&spec, handwritten, &derived).remove(0).unwrap_err();
        assert!(
            broken.error.starts_with(
                "cases/mine.yaml:2:10: covers `derived/updateConversation/metadata/maxProperties/at_limt`, which is not a derived case"
            ),
            "{}",
            broken.error
        );
        let not_derived = text.replace("derived/", "conversations/");
        let err = super::super::load("mine", "cases/mine.yaml", &not_derived, &spec)
            .remove(0)
            .unwrap_err();
        assert!(err.error.contains("name a derived case"), "{}", err.error);
    }

    /// The case document a probe stands for, in the case format: what a derived case used to be
    /// loaded from, and what the case built directly must equal.
    fn case_document(spec: &Spec, op: &Operation, probe: &Probe) -> Value {
        let config = op.derive.as_ref();
        let tail = probe.id.strip_prefix(PREFIX).unwrap_or(&probe.id);
        let tail = tail.split_once('/').map_or(tail, |(_, rest)| rest);
        let kind = if probe.accept {
            Kind::Accept
        } else {
            Kind::Reject
        };
        let checked = requirement(config, tail, kind);
        let mut step = Map::new();
        step.insert("name".into(), Value::from(probe.what.clone()));
        step.insert("operation".into(), Value::from(op.id.clone()));
        if let Some(config) = config.filter(|_| !op.path_params.is_empty()) {
            step.insert("path_params".into(), json!(config.path_params));
        }
        if !probe.query.is_empty() {
            let query: Map<String, Value> = probe.query.iter().cloned().collect();
            step.insert("query".into(), Value::Object(query));
        }
        if let Some(body) = &probe.body {
            step.insert("body".into(), body.clone());
        }
        let mut expect = Map::new();
        if probe.accept {
            expect.insert("status".into(), json!(success_statuses(op)));
        } else {
            expect.insert("status".into(), json!(400));
            let param_requirement = requirement(config, tail, Kind::Param);
            let mut checks = Map::new();
            if let Some(param) = &probe.param {
                checks.insert(
                    "error.param".into(),
                    json!({"equals": param, "requirement": param_requirement}),
                );
            }
            let constraint = probe.constraint.split_once('/').map_or("", |(_, c)| c);
            if let Some(code) = error_code(spec, constraint) {
                checks.insert(
                    "error.code".into(),
                    json!({"equals": code, "requirement": param_requirement}),
                );
            }
            if !checks.is_empty() {
                expect.insert("json".into(), Value::Object(checks));
            }
        }
        step.insert("expect".into(), Value::Object(expect));
        let mut steps: Vec<Value> = config.map(|c| c.setup.clone()).unwrap_or_default();
        steps.push(Value::Object(step));
        let verdict = if probe.accept {
            "is accepted"
        } else {
            "is rejected with 400"
        };
        json!({
            "requirement": checked,
            "title": format!("{} {}: {} {verdict}", op.id, probe.constraint, probe.what),
            "steps": steps,
        })
    }

    #[test]
    fn the_embedded_spec_derives_the_same_without_the_self_check() {
        let embedded = Spec::load(&crate::bundle::root().join("specs")).unwrap();
        let checked = derive(&embedded);
        assert_eq!(checked.inconsistent, Vec::<(String, String)>::new());
        let unchecked = derive_embedded(&embedded);
        assert_eq!(format!("{:?}", checked), format!("{:?}", unchecked));
        assert!(checked.probes.len() > 50, "{}", checked.probes.len());
    }

    #[test]
    fn every_derived_case_is_the_case_its_document_loads_as() {
        let spec = bundled();
        let derived = derive(&spec);
        assert!(derived.probes.len() > 50, "{}", derived.probes.len());
        let mut builder = Builder::new(&spec);
        for probe in &derived.probes {
            let op = spec.operation(&probe.operation).unwrap();
            let text = serde_json::to_string_pretty(&case_document(&spec, op, probe)).unwrap();
            let file = format!("derived from {}", probe.schema_at);
            let mut loaded = super::super::load(&probe.id, &file, &text, &spec)
                .pop()
                .unwrap()
                .unwrap();
            let last = loaded.steps.len() - 1;
            for (i, step) in loaded.steps.iter_mut().enumerate() {
                step.at = if i == last {
                    probe.schema_at.clone()
                } else {
                    format!("x-conformance-derive of {} (setup)", op.id)
                };
            }
            let built = builder.case(probe).unwrap();
            assert_eq!(format!("{built:?}"), format!("{loaded:?}"), "{}", probe.id);
        }
    }

    #[test]
    fn a_derived_case_whose_setup_does_not_load_says_where() {
        let spec = with_overlay(
            "  - target: $.paths['/conversations/{conversation_id}'].post\n    update:\n      x-conformance-derive:\n        setup: [{operation: createConversation, capture: {conv: '$['}}]\n        path_params: {conversation_id: '{{conv.id}}'}\n",
        );
        let derived = derive(&spec);
        let probe = derived
            .probes
            .iter()
            .find(|p| p.operation == "updateConversation")
            .unwrap();
        let err = Builder::new(&spec).case(probe).unwrap_err().error;
        assert!(
            err.starts_with(
                "the derived case does not load (check x-conformance-derive of updateConversation in the overlay): x-conformance-derive of updateConversation:"
            ),
            "{err}"
        );
        assert!(err.contains("capture `conv`"), "{err}");
    }

    #[test]
    fn the_longest_matching_prefix_names_the_requirement() {
        let config: DeriveConfig = serde_json::from_value(json!({"requirements": {
            "metadata": {"accept": "UPD-05", "reject": "UPD-06", "param": "UPD-09"},
            "metadata/type": {"reject": "DER-01", "param": "UPD-18"},
        }}))
        .unwrap();
        let find = |tail: &str, kind| requirement(Some(&config), tail, kind);
        assert_eq!(find("metadata/maxProperties/over", Kind::Reject), "UPD-06");
        assert_eq!(find("metadata/type/string", Kind::Param), "UPD-18");
        assert_eq!(
            find("metadata/additionalProperties.type/null", Kind::Param),
            "UPD-09"
        );
        assert_eq!(find("metadata/type/string", Kind::Accept), "UPD-05");
        assert_eq!(find("items/maxItems/over", Kind::Reject), "DER-01");
        assert_eq!(find("metadatax/type/string", Kind::Param), "DER-03");
        assert_eq!(requirement(None, "x/enum/a", Kind::Accept), "DER-02");
    }
}
