//! Checks one parsed case file against the spec and the catalogue and turns it into [`Case`]
//! values: every operation, path, variable, capture and matcher resolved before anything is
//! sent, each error located in the file. Set-up steps go to the requirement of their operation.

use super::error::{LoadError, Problem};
use super::*;
use crate::yaml::At;

pub(super) struct Validator<'a> {
    pub(super) spec: &'a Spec,
    pub(super) file: &'a str,
}

impl Validator<'_> {
    fn at(&self, location: &serde_saphyr::Location) -> At {
        At::of(self.file, location)
    }

    /// `problem` at `location`.
    fn fail<T>(&self, location: &serde_saphyr::Location, problem: Problem) -> Result<T, LoadError> {
        Err(LoadError::at(self.at(location), problem))
    }

    fn requirement(&self, id: &Spanned<String>) -> Result<(String, Level), LoadError> {
        match self.spec.catalogue.get(&id.value) {
            Some(r) => Ok((r.id.clone(), r.level)),
            None => self.fail(
                &id.referenced,
                Problem::UnknownRequirement(id.value.clone()),
            ),
        }
    }

    pub(super) fn case(&self, parsed: &CaseFile, vars: Vars) -> Result<Case, LoadError> {
        let (requirement, level) = self.requirement(&parsed.requirement)?;
        if let Some(stated) = &parsed.level {
            if stated.value != level {
                return self.fail(
                    &stated.referenced,
                    Problem::Level {
                        stated: stated.value,
                        requirement,
                        level,
                    },
                );
            }
        }
        if parsed.steps.is_empty() {
            return Err(LoadError::at(At::file(self.file), Problem::NoSteps));
        }
        let mut covers = Vec::new();
        for covered in &parsed.covers {
            if !covered.value.starts_with(derive::PREFIX) {
                return self.fail(
                    &covered.referenced,
                    Problem::CoversNotDerived(covered.value.clone()),
                );
            }
            covers.push((covered.value.clone(), self.at(&covered.referenced)));
        }
        let mut known: BTreeSet<String> = vars.keys().cloned().collect();
        known.extend(MODEL_VARIABLES.iter().map(|v| v.to_string()));
        let mut steps: Vec<Step> = parsed
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| self.step(i + 1, step, (&requirement, level), &mut known))
            .collect::<Result<Vec<_>, _>>()?;
        let last = steps.len().saturating_sub(1);
        for (index, step) in steps.iter_mut().enumerate() {
            let named = parsed.steps[index].value.requirement.is_some();
            if index < last && !named {
                attribute_set_up(step, self.spec);
            }
        }
        let cleanup = parsed
            .cleanup
            .iter()
            .enumerate()
            .map(|(i, step)| self.step(i + 1, step, (&requirement, level), &mut known))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Case {
            id: String::new(),
            file: self.file.to_string(),
            requirement,
            level,
            title: parsed.title.clone(),
            vars,
            steps: steps.into(),
            cleanup: cleanup.into(),
            ignored: parsed.ignore.clone(),
            covers,
        })
    }

    fn step(
        &self,
        number: usize,
        spanned: &Spanned<StepFile>,
        case_requirement: (&str, Level),
        known: &mut BTreeSet<String>,
    ) -> Result<Step, LoadError> {
        let step = &spanned.value;
        let at = self.at(&spanned.referenced);
        let label = match &step.name {
            Some(name) => format!("step {number} ({name})"),
            None => format!("step {number}"),
        };
        let fail = |problem: Problem| LoadError::in_step(at.clone(), label.clone(), problem);
        let (requirement, level) = match &step.requirement {
            Some(id) => self.requirement(id)?,
            None => (case_requirement.0.to_string(), case_requirement.1),
        };

        let (operation, method, path) = match (&step.operation, &step.method, &step.path) {
            (Some(op), None, None) => {
                let found = self.spec.operation(&op.value).ok_or_else(|| {
                    let problem = match self.spec.outside_scope(&op.value) {
                        Some(outside) => Problem::OperationOutsideScope {
                            id: op.value.clone(),
                            method: outside.method.clone(),
                            path: outside.path.clone(),
                            overlay: self.spec.overlay_file().to_string(),
                        },
                        None => Problem::UnknownOperation {
                            id: op.value.clone(),
                            known: (self.spec.operations().map(|o| o.id.as_str()))
                                .collect::<Vec<_>>()
                                .join(", "),
                        },
                    };
                    LoadError::at(self.at(&op.referenced), problem)
                })?;
                let given: BTreeSet<&str> = step.path_params.keys().map(String::as_str).collect();
                let wanted: BTreeSet<&str> = found.path_params.iter().map(String::as_str).collect();
                if given != wanted {
                    return Err(fail(Problem::PathParams {
                        id: found.id.clone(),
                        wanted: format!("{wanted:?}"),
                        given: format!("{given:?}"),
                    }));
                }
                (
                    Some(found.id.clone()),
                    found.method.clone(),
                    found.path.clone(),
                )
            }
            (None, Some(method), Some(path)) => {
                if !step.path_params.is_empty() {
                    return Err(fail(Problem::PathParamsWithPath));
                }
                let method = method.value.to_uppercase();
                if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
                    return Err(fail(Problem::Method(method)));
                }
                if !path.value.starts_with('/') {
                    return self.fail(&path.referenced, Problem::RelativePath);
                }
                if let Some(outside) = self.spec.outside_scope_at(&method, &path.value) {
                    return Err(fail(Problem::PathOutsideScope {
                        method,
                        path: path.value.clone(),
                        id: outside.id.clone(),
                        overlay: self.spec.overlay_file().to_string(),
                    }));
                }
                (None, method, path.value.clone())
            }
            _ => return Err(fail(Problem::OperationOrPath)),
        };

        // A step by method and path is the operation they resolve to, for the guard as for
        // its cleanup and checks.
        let found = match operation.as_deref() {
            Some(id) => self.spec.operation(id),
            None => self.spec.match_path(&method, &path),
        };
        self.spec
            .unsafe_allowance(&method, found, &path)
            .map_err(|e| fail(Problem::Unsafe(e)))?;

        let templated = |field: &str, value: &Value, known: &BTreeSet<String>| {
            template::check(value, known).map_err(|source| {
                fail(Problem::Template {
                    field: field.to_string(),
                    source,
                })
            })
        };
        templated("path", &Value::String(path.clone()), known)?;
        for (name, value) in &step.path_params {
            templated(&format!("path_params.{name}"), value, known)?;
        }
        for (name, value) in &step.query {
            templated(&format!("query.{name}"), value, known)?;
        }
        for (name, value) in &step.headers {
            templated(
                &format!("headers.{name}"),
                &Value::String(value.clone()),
                known,
            )?;
        }
        let body = match (&step.body, &step.raw_body) {
            (Some(_), Some(_)) => return Err(fail(Problem::BodyAndRawBody)),
            (Some(body), None) => {
                if let Err(source) = template::check(&body.value, known) {
                    let field = "body".into();
                    return self.fail(&body.referenced, Problem::Template { field, source });
                }
                Body::Json(body.value.clone())
            }
            (None, Some(raw)) => {
                if let Err(source) = template::check_str(&raw.value, known) {
                    let field = "raw_body".into();
                    return self.fail(&raw.referenced, Problem::Template { field, source });
                }
                Body::Raw(raw.value.clone())
            }
            (None, None) => Body::None,
        };

        // Captures run before the checks, so this step's checks may use them.
        let mut capture = Vec::new();
        for (name, selector) in &step.capture {
            let parsed = self.selector(
                &selector.value,
                &selector.referenced,
                Some(format!("capture `{name}`")),
            )?;
            if name == "index" {
                return Err(fail(Problem::ReservedIndex));
            }
            known.insert(name.clone());
            capture.push((name.clone(), parsed));
        }

        let mut expect = crate::case::Expect {
            status: step.expect.status.as_ref().map(|s| s.value.to_vec()),
            cause: step.expect.cause.clone(),
            ..Default::default()
        };
        if let Some(status) = &step.expect.status {
            if let Some(bad) = status
                .value
                .to_vec()
                .into_iter()
                .find(|s| !(100..=599).contains(s))
            {
                return self.fail(&status.referenced, Problem::Status(bad));
            }
        }
        for (name, matcher) in &step.expect.headers {
            let m = self.matcher(matcher, (&requirement, level), known)?;
            expect.headers.push((name.to_ascii_lowercase(), m));
        }
        for (selector, matcher) in &step.expect.json {
            let parsed = self.selector(selector, &matcher.referenced, None)?;
            let m = self.matcher(matcher, (&requirement, level), known)?;
            expect.json.push((parsed, m));
        }

        let snapshot = match &step.snapshot {
            None => None,
            Some(s) => match &s.value {
                format::SnapshotFile::Enabled(false) => None,
                format::SnapshotFile::Enabled(true) => Some(Vec::new()),
                format::SnapshotFile::Options(options) => Some(
                    options
                        .redact
                        .iter()
                        .map(|(sel, placeholder)| {
                            let field = Some("snapshot".into());
                            let sel = self.selector(sel, &s.referenced, field)?;
                            Ok::<_, LoadError>((sel, placeholder.clone()))
                        })
                        .collect::<Result<_, _>>()?,
                ),
            },
        };
        let observe = match &step.observe {
            None => None,
            Some(o) => Some(Observe {
                path: self.selector(&o.value.path, &o.referenced, Some("observe".into()))?,
                present: o.value.present.clone(),
                absent: o.value.absent.clone(),
            }),
        };

        Ok(Step {
            label,
            at: at.into(),
            requirement,
            level,
            operation,
            method,
            path,
            path_params: step
                .path_params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            query: step
                .query
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            headers: step
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            auth: step.auth,
            body,
            content_type: step.content_type.clone(),
            expect,
            capture,
            stream: step.stream,
            snapshot,
            observe,
        })
    }

    fn matcher(
        &self,
        spanned: &Spanned<MatcherFile>,
        inherited: (&str, Level),
        known: &BTreeSet<String>,
    ) -> Result<Matcher, LoadError> {
        let m = &spanned.value;
        let at = &spanned.referenced;
        let (requirement, level) = match &m.requirement {
            Some(id) => self.requirement(id)?,
            None => (inherited.0.to_string(), inherited.1),
        };
        for value in m
            .equals
            .iter()
            .chain(m.contains.iter())
            .chain(m.one_of.iter().flatten())
            .chain(m.vector_near.iter().map(|v| &v.to))
        {
            if let Err(e) = template::check(value, known) {
                return self.fail(at, Problem::ExpectedValue(e));
            }
        }
        let pattern = match &m.pattern {
            Some(p) => match regex::Regex::new(p) {
                Ok(pattern) => Some(pattern),
                Err(source) => {
                    let pattern = p.clone();
                    return self.fail(at, Problem::Pattern { pattern, source });
                }
            },
            None => None,
        };
        let matcher = Matcher {
            requirement,
            level,
            equals: m.equals.clone(),
            one_of: m.one_of.clone(),
            types: m.type_.as_ref().map(|t| t.to_vec()),
            pattern: pattern.map(Box::new),
            absent: m.absent,
            length: m.length,
            contains: m.contains.clone().map(Box::new),
            near_now: m.near_now,
            vector_near: match &m.vector_near {
                Some(v) => {
                    let tolerance = v.tolerance.unwrap_or(VectorNear::DEFAULT_TOLERANCE);
                    if !(tolerance.is_finite() && tolerance >= 0.0) {
                        return self.fail(at, Problem::Tolerance(tolerance));
                    }
                    Some(Box::new(VectorNear {
                        to: v.to.clone(),
                        tolerance,
                    }))
                }
                None => None,
            },
            cause: m.cause.clone(),
        };
        let checks = [
            matcher.equals.is_some(),
            matcher.one_of.is_some(),
            matcher.types.is_some(),
            matcher.pattern.is_some(),
            matcher.absent.is_some(),
            matcher.length.is_some(),
            matcher.contains.is_some(),
            matcher.near_now.is_some(),
            matcher.vector_near.is_some(),
        ];
        if !checks.contains(&true) {
            return self.fail(at, Problem::ChecksNothing);
        }
        Ok(matcher)
    }

    /// The selector `text`, written at `location` for `field`.
    fn selector(
        &self,
        text: &str,
        location: &serde_saphyr::Location,
        field: Option<String>,
    ) -> Result<Selector, LoadError> {
        Selector::parse(text)
            .or_else(|source| self.fail(location, Problem::Selector { field, source }))
    }
}

/// Gives a set-up step (see [`is_set_up`]) to the requirement that owns its operation.
pub(crate) fn attribute_set_up(step: &mut Step, spec: &Spec) {
    if !is_set_up(step) {
        return;
    }
    let owner = step
        .operation
        .as_deref()
        .and_then(|op| spec.catalogue.owner("operation", op));
    if let Some(owner) = owner {
        step.requirement = owner.to_string();
        step.level = spec.catalogue.get(owner).map_or(step.level, |r| r.level);
    }
}

/// A step that only prepares the case: it calls an operation, expects success, checks nothing
/// of its own and is not the last. Its status and captures belong to the requirement that owns
/// the operation (`owns: [operation ID]` in the catalogue), so a server that breaks it is
/// reported once, there, and the case is blocked rather than failed.
fn is_set_up(step: &Step) -> bool {
    step.operation.is_some()
        && step.expect.json.is_empty()
        && step.expect.headers.is_empty()
        && step.observe.is_none()
        && step.snapshot.is_none()
        && step
            .expect
            .status
            .as_ref()
            .is_some_and(|codes| codes.iter().all(|c| (200..300).contains(c)))
}
