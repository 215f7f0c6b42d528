//! Probes: the obligations every operation has, whoever wrote its cases, generated from the
//! spec, the overlay and the catalogue for every operation in scope (`x-conformance-scope`).
//! Where a derived case probes a constraint of one schema, a probe checks what each operation
//! owes as such: it answers 401 without a key ([`auth`]), its path answers 404 or 405 to the
//! methods it does not declare ([`methods`]), it rejects unknown top-level body fields
//! ([`unknown_fields`]), stores strings byte for byte ([`fidelity`]) and messages as sent
//! ([`structure`]), a child resource is not reachable under another parent ([`isolation`]),
//! and a list takes a query parameter left out at its declared default ([`defaults`]).
//!
//! Probes are ordinary [`Case`] values, built here directly: the same runner, verdicts,
//! root causes and cleanup as every case. They are named `probe/<operation>/<kind>/<variant>`
//! (`probe/getConversationItem/auth/no_header`). What an operation works on comes from the
//! overlay's `x-conformance-derive` (its `setup` and `path_params`), of the operation or of
//! another on the same path. A probe whose premise does not hold (a body that the schema
//! rejects, a field that is not unknown, a path nothing can set up) is not sent: the failing
//! case [`SELF_CHECK_ID`] names it, as a bug of the generator or the overlay. A kind is
//! generated only where the catalogue has its requirement (GEN-04, GEN-07, GEN-08, GEN-09,
//! GEN-10, ITM-11, ITM-12).

pub mod auth;
pub mod defaults;
pub mod fidelity;
mod glance;
pub mod isolation;
pub mod methods;
mod pointer;
pub mod structure;
pub mod unknown_fields;

use crate::case::{Body, Broken, Case, Expect, Matcher, Step};
use crate::place::Place;
use crate::spec::{Level, Operation, Spec};
use serde_json::{json, Value};

/// Test names of probes begin with this.
pub const PREFIX: &str = "probe/";
/// The failing case that reports probes whose premise does not hold.
pub const SELF_CHECK_ID: &str = "probe/generator-self-check";

/// Every probe of the spec, then the self-check case when some premise failed. A kind of
/// probe is generated only when the catalogue has its requirement: a suite of its own (another
/// API, another catalogue) opts in to an obligation by stating it.
pub fn generate(spec: &Spec) -> Vec<Result<Case, Broken>> {
    // On every core: checking the premises compiles request schemas (milliseconds each), and
    // the run waits for the probes before its first request.
    let operations: Vec<&crate::spec::Operation> = spec.operations().collect();
    let declared = unknown_fields::Declared::default();
    let per_operation =
        crate::parallel::map(&operations, 1, |op| operation_probes(spec, op, &declared));
    let mut out = Probes::default();
    for mut one in per_operation {
        out.cases.append(&mut one.cases);
        out.inconsistent.append(&mut one.inconsistent);
    }
    if spec.catalogue.get(methods::REQUIREMENT).is_some() {
        methods::probes(spec, &mut out);
    }
    let mut cases: Vec<Result<Case, Broken>> = out.cases.into_iter().map(Ok).collect();
    if !out.inconsistent.is_empty() {
        let mut error = "probe self-check: what follows does not hold for the spec and is not \
                         sent; this is a bug in the probe generator or the overlay, not a \
                         finding against the server:"
            .to_string();
        for (id, why) in &out.inconsistent {
            error.push_str(&format!("\n  {id}: {why}"));
        }
        cases.push(Err(Broken {
            id: SELF_CHECK_ID.to_string(),
            file: "generated from the spec (openapi.yaml and overlay.yaml)".to_string(),
            error,
            at: None,
        }));
    }
    cases
}

/// The probes of one operation.
fn operation_probes(spec: &Spec, op: &Operation, declared: &unknown_fields::Declared) -> Probes {
    let mut out = Probes::default();
    let context = match Context::of(spec, op, declared) {
        Ok(context) => context,
        Err(why) => {
            out.inconsistent.push((format!("{PREFIX}{}", op.id), why));
            return out;
        }
    };
    let kinds: [(&str, Kind); 6] = [
        (auth::REQUIREMENT, auth::probes),
        (defaults::REQUIREMENT, defaults::probes),
        (fidelity::REQUIREMENT, fidelity::probes),
        (structure::REQUIREMENT, structure::probes),
        (unknown_fields::REQUIREMENT, unknown_fields::probes),
        (isolation::REQUIREMENT, isolation::probes),
    ];
    for (requirement, probes) in kinds {
        if spec.catalogue.get(requirement).is_some() {
            probes(&context, &mut out);
        }
    }
    out
}

/// Adds the probes of one kind for one operation.
type Kind = fn(&Context, &mut Probes);

/// What the probes of one generation found: the cases, and premises that do not hold.
#[derive(Default)]
pub struct Probes {
    pub cases: Vec<Case>,
    pub inconsistent: Vec<(String, String)>,
}

/// What every probe of one operation needs: the steps that make what it works on, and its
/// path parameters from what they captured.
pub struct Context<'s> {
    pub spec: &'s Spec,
    pub op: &'s Operation,
    pub setup: Vec<Step>,
    pub path_params: Vec<(String, Value)>,
    /// A valid body (the derived cases' base), when the operation takes one.
    pub body: Option<Value>,
    /// The body fields of every operation, for the unknown-field probes.
    pub declared: &'s unknown_fields::Declared,
}

impl<'s> Context<'s> {
    fn of(
        spec: &'s Spec,
        op: &'s Operation,
        declared: &'s unknown_fields::Declared,
    ) -> Result<Self, String> {
        let (setup, path_params) = if op.path_params.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            // The operation's own setup, else that of another operation on the same path.
            let config = std::iter::once(op)
                .chain(spec.operations().filter(|o| o.path == op.path))
                .filter_map(|o| o.derive.as_ref())
                .find(|d| op.path_params.iter().all(|p| d.path_params.contains_key(p)))
                .ok_or_else(|| {
                    format!(
                        "no x-conformance-derive with `setup` and `path_params` for {} gives its \
                         path parameters {:?}: add one in the overlay",
                        op.path, op.path_params
                    )
                })?;
            let params = op
                .path_params
                .iter()
                .map(|p| (p.clone(), Value::from(config.path_params[p].clone())))
                .collect();
            (setup_steps(spec, &op.id, &config.setup)?, params)
        };
        let body = match &op.request_schema {
            Some(pointer) => {
                let body = crate::case::derive::sample(spec, op, pointer)
                    .ok_or_else(|| format!("cannot build a valid body from {pointer}"))?;
                // The embedded spec's premises are checked by tests (see `Spec::is_embedded`).
                let errors = match spec.is_embedded() {
                    true => Vec::new(),
                    false => spec.validate(pointer, &body)?,
                };
                if let Some(first) = errors.first() {
                    return Err(format!("the base body does not validate: {first}"));
                }
                Some(body)
            }
            None => None,
        };
        Ok(Self {
            spec,
            op,
            setup,
            path_params,
            body,
            declared,
        })
    }

    /// The operation's path with its parameters written as the variables that fill them.
    pub fn path(&self) -> String {
        let mut path = self.op.path.clone();
        for (name, value) in &self.path_params {
            path = path.replace(&format!("{{{name}}}"), value.as_str().unwrap_or_default());
        }
        path
    }

    /// A probe case of this operation: the setup, then `steps`.
    pub fn case(
        &self,
        kind: &str,
        variant: &str,
        requirement: &str,
        title: String,
        steps: Vec<Step>,
    ) -> Case {
        let (requirement, level) = requirement_of(self.spec, requirement);
        let mut all = self.setup.clone();
        all.extend(steps);
        Case {
            id: format!("{PREFIX}{}/{kind}/{variant}", self.op.id),
            file: format!("generated for {} (probe {kind})", self.op.id),
            requirement,
            level,
            title: Some(title),
            vars: Default::default(),
            steps: all.into(),
            cleanup: Vec::new().into(),
            ignored: None,
            covers: Vec::new(),
        }
    }

    /// A call of the operation itself, numbered after the setup.
    pub fn call(&self, offset: usize, name: &str, requirement: &str, expect: Expect) -> Step {
        let mut step = step(
            self.spec,
            self.setup.len() + offset,
            name,
            requirement,
            &self.op.method,
            &self.op.path,
            expect,
        );
        step.operation = Some(self.op.id.clone());
        step.path_params = self.path_params.clone();
        step.body = self.body.clone().map_or(Body::None, Body::Json);
        step.at = Place::operation(self.op);
        step
    }
}

/// The overlay's setup steps, checked by the case loader as any case file's would be.
fn setup_steps(spec: &Spec, operation: &str, setup: &[Value]) -> Result<Vec<Step>, String> {
    if setup.is_empty() {
        return Ok(Vec::new());
    }
    // A last step that is not sent keeps the loader's set-up rule (every step but the last
    // belongs to its operation's owner) true for every setup step.
    let mut steps = setup.to_vec();
    steps.push(json!({"method": "GET", "path": "/conversations"}));
    let document = json!({"requirement": "GEN-05", "steps": steps});
    let file = format!("x-conformance-derive of {operation} (setup)");
    match crate::case::load_value(operation, &file, &document, spec).pop() {
        Some(Ok(case)) => {
            let mut steps = case.steps.to_vec();
            steps.pop();
            for step in &mut steps {
                step.at = Place::DeriveSetup {
                    operation: operation.to_string(),
                };
            }
            Ok(steps)
        }
        Some(Err(broken)) => Err(broken.error),
        None => Err("the setup does not load".into()),
    }
}

/// The catalogue's ID and level for `id` (a probe names only IDs the catalogue has: a missing
/// one is caught by the unit tests, and shows as the ID with MUST).
pub fn requirement_of(spec: &Spec, id: &str) -> (String, Level) {
    let level = spec.catalogue.get(id).map_or(Level::Must, |r| r.level);
    (id.to_string(), level)
}

/// A step with nothing but its request line and what it expects.
pub fn step(
    spec: &Spec,
    number: usize,
    name: &str,
    requirement: &str,
    method: &str,
    path: &str,
    expect: Expect,
) -> Step {
    Step::request(
        format!("step {number} ({name})"),
        Place::Request {
            method: method.to_string(),
            path: path.to_string(),
        },
        requirement_of(spec, requirement),
        method,
        path,
        expect,
    )
}

/// Expects one of `statuses`.
pub fn status(statuses: &[u16]) -> Expect {
    Expect {
        status: Some(statuses.to_vec()),
        ..Default::default()
    }
}

/// A matcher that the value equals `value`.
pub fn equals(spec: &Spec, requirement: &str, value: Value) -> Matcher {
    let (requirement, level) = requirement_of(spec, requirement);
    Matcher::equals(requirement, level, value)
}

/// The 2xx statuses an operation declares.
pub fn success_statuses(op: &Operation) -> Vec<u16> {
    op.responses
        .keys()
        .filter_map(|s| s.parse::<u16>().ok())
        .filter(|s| (200..300).contains(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn spec() -> Spec {
        Spec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    #[test]
    fn the_embedded_spec_probes_the_same_without_checking_the_premises() {
        let embedded = || Spec::load(&crate::bundle::root().join("specs")).unwrap();
        let unchecked = embedded();
        assert!(unchecked.is_embedded());
        let checked = generate(&embedded().checked_at_run_time());
        assert!(checked.iter().all(Result::is_ok), "a premise does not hold");
        assert_eq!(
            format!("{checked:?}"),
            format!("{:?}", generate(&unchecked))
        );
        assert!(checked.len() > 50, "{}", checked.len());
    }

    #[test]
    fn every_operation_in_scope_gets_its_probes_under_catalogue_requirements() {
        let spec = spec();
        let cases: Vec<Case> = generate(&spec)
            .into_iter()
            .map(|c| c.unwrap_or_else(|b| panic!("{}: {}", b.id, b.error)))
            .collect();
        let ids: BTreeSet<&str> = cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), cases.len(), "probe names are unique");
        for case in &cases {
            assert!(case.id.starts_with(PREFIX), "{}", case.id);
            for step in case.steps.iter() {
                assert!(
                    spec.catalogue.get(&step.requirement).is_some(),
                    "{}",
                    case.id
                );
            }
        }
        for op in spec.operations() {
            for variant in ["no_header", "empty_bearer"] {
                let id = format!("{PREFIX}{}/auth/{variant}", op.id);
                assert!(ids.contains(id.as_str()), "{id}");
            }
        }
        // A field another operation takes is unknown to update.
        assert!(ids.contains("probe/updateConversation/unknown-field/items"));
        assert!(!ids.contains("probe/createConversation/unknown-field/items"));
        assert!(ids.contains("probe/getConversationItem/isolation/other_parent"));
        // The metadata maps of create and update are found by their schema.
        assert!(ids.contains("probe/createConversation/fidelity/metadata"));
        assert!(ids.contains("probe/updateConversation/fidelity/metadata"));
        assert!(ids.contains("probe/deleteConversationItem/isolation/other_parent"));
        // Nothing that could change what no case deletes.
        let unsafe_sent: Vec<_> = cases
            .iter()
            .flat_map(|c| c.steps.iter())
            .filter(|s| s.operation.is_none() && s.path == "/conversations" && s.method != "GET")
            .collect();
        assert!(unsafe_sent.is_empty(), "{unsafe_sent:?}");
    }
}
