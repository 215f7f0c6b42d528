//! A probe made a case: its setup, request, expected answer and requirement.

use super::{Probe, PREFIX};
use crate::case::{Broken, Case};
use crate::place::Place;
use crate::spec::{DeriveConfig, Operation, Spec};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Builds each probe's case as a value: the setup steps of `x-conformance-derive`, in the case
/// format, are loaded once per operation and requirement; the probed step is built directly,
/// with the checks the loader would make of it.
pub(super) struct Builder<'s> {
    pub(super) spec: &'s Spec,
    pub(super) setups: BTreeMap<(String, String), Result<Setup, String>>,
}

/// An operation's setup steps, loaded for one case requirement, and the variables a derived step
/// may use: what they capture, and `{{model}}`.
#[derive(Clone)]
pub(super) struct Setup {
    pub(super) steps: Vec<crate::case::Step>,
    pub(super) captured: BTreeSet<String>,
}

impl<'s> Builder<'s> {
    pub(super) fn new(spec: &'s Spec) -> Self {
        Self {
            spec,
            setups: BTreeMap::new(),
        }
    }

    pub(super) fn case(&mut self, probe: &Probe) -> Result<Case, Broken> {
        let file = format!("derived from {}", probe.schema_at);
        let broken = |error: String| Broken {
            id: probe.id.clone(),
            file: file.clone(),
            error,
            at: None,
        };
        let spec = self.spec;
        let Some(op) = spec.operation(&probe.operation) else {
            return Err(broken(format!("unknown operation {}", probe.operation)));
        };
        let config = op.derive.as_ref();
        let (tail, kind) = tail_and_kind(probe);
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

        let mut expect = crate::case::Expect::default();
        if probe.accept {
            expect.status = Some(success_statuses(op));
        } else {
            expect.status = Some(vec![400]);
            let (param_requirement, param_level) = self.requirement(&param_id);
            let param_requirement = param_requirement.map_err(not_loaded)?;
            let equals = |value: &str, selector: &str| {
                let selector = crate::selector::Selector::parse(selector)
                    .expect("a selector of the error object");
                let matcher = crate::case::Matcher::equals(
                    param_requirement.clone(),
                    param_level,
                    Value::from(value),
                );
                (selector, matcher)
            };
            if let Some(param) = &probe.param {
                expect.json.push(equals(param, "error.param"));
            }
            let constraint = probe.constraint.split_once('/').map_or("", |(_, c)| c);
            // A wrong type accepted and a limit not enforced are two defects (many servers
            // check the types their framework declares and none of the prose limits): one
            // wrong type on any field or operation, and the hand-written cases that send one,
            // are one.
            if constraint == "type" || constraint.ends_with(".type") {
                expect.cause = Some(WRONG_TYPE.into());
            }
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
            Some(body) => crate::case::Body::Json(body.clone()),
            None => crate::case::Body::None,
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
        let step = crate::case::Step {
            operation: Some(op.id.clone()),
            path_params,
            query: query.into_iter().collect(),
            body,
            ..crate::case::Step::request(
                label,
                // Failures point at the constraint, not at generated text.
                Place::Schema(probe.schema_at.clone()),
                (requirement.clone(), level),
                &op.method,
                &op.path,
                expect,
            )
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
            steps: steps.into(),
            cleanup: Vec::new().into(),
            ignored: None,
            covers: Vec::new(),
        })
    }

    /// A requirement of the catalogue and its level.
    pub(super) fn requirement(&self, id: &str) -> (Result<String, String>, crate::spec::Level) {
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
    pub(super) fn setup(&mut self, op: &Operation, requirement: &str) -> Result<Setup, String> {
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
                    captured: super::super::MODEL_VARIABLES
                        .iter()
                        .map(|v| v.to_string())
                        .collect(),
                });
            }
            let document = json!({"requirement": requirement, "steps": setup});
            let file = format!("x-conformance-derive of {}", op.id);
            let case = match crate::case::load_value(&file, &file, &document, spec).pop() {
                Some(Ok(case)) => case,
                Some(Err(b)) => {
                    let text = crate::case::written(&document);
                    return Err(format!(
                        "{}\nthe setup steps:\n{}",
                        b.error,
                        crate::spec::shorten(&text, 2000)
                    ));
                }
                None => return Err("the setup steps do not load".into()),
            };
            let at = Place::DeriveSetup {
                operation: op.id.clone(),
            };
            let mut steps = case.steps.to_vec();
            for step in &mut steps {
                step.at = at.clone();
                // Every setup step comes before the derived one: each is a set-up step of
                // the case, as the case loader judges the steps before a case's last.
                if step.requirement == requirement {
                    crate::case::attribute_set_up(step, spec);
                }
            }
            let captured = steps
                .iter()
                .flat_map(|s| s.capture.iter().map(|(name, _)| name.clone()))
                .chain(super::super::MODEL_VARIABLES.iter().map(|v| v.to_string()))
                .collect();
            Ok(Setup { steps, captured })
        });
        loaded.clone()
    }
}

/// The `code` of `x-conformance-error-codes` for a constraint path
/// (`additionalProperties.maxLength`): the longest tail that has one.
pub(super) fn error_code<'s>(spec: &'s Spec, constraint: &str) -> Option<&'s String> {
    let keywords: Vec<&str> = constraint.split('.').collect();
    (0..keywords.len()).find_map(|from| spec.error_codes.get(&keywords[from..].join(".")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Accept,
    Reject,
    Param,
}

/// A probe's id below its operation (`metadata/maxProperties/over`), and whether it expects
/// the request accepted or rejected.
pub(super) fn tail_and_kind(probe: &Probe) -> (&str, Kind) {
    let tail = probe.id.strip_prefix(PREFIX).unwrap_or(&probe.id);
    let tail = tail.split_once('/').map_or(tail, |(_, rest)| rest);
    let kind = if probe.accept {
        Kind::Accept
    } else {
        Kind::Reject
    };
    (tail, kind)
}

/// The cause of a wrong type accepted (the `cause` of a case's `expect` that sends one).
pub const WRONG_TYPE: &str = "a value of a wrong type";

/// The requirement of a derived case: the `x-conformance-derive.requirements` entry with the
/// longest prefix of `<field>/<constraint>/<variant>` naming one of this kind, else the
/// generic DER-02 (accept), DER-01 (reject) or DER-03 (`param` and `code`).
pub(super) fn requirement(config: Option<&DeriveConfig>, tail: &str, kind: Kind) -> String {
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
pub(super) fn success_statuses(op: &Operation) -> Vec<u16> {
    op.responses
        .keys()
        .filter_map(|s| s.parse::<u16>().ok())
        .filter(|s| (200..300).contains(s))
        .collect()
}
