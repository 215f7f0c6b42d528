//! A step's checks in their order: implicit, status, captures, headers, JSON, observations.

use super::cause::{field, matcher_cause, status_cause};
use super::Response;
use crate::case::Step;
use crate::check;
use crate::spec::{Level, Spec};
use crate::template::Vars;
use crate::verdict::{CaseOutcome, Finding, FindingKind, Observation};
use serde_json::Value;
use std::fmt::Write as _;

/// Runs the implicit checks, the status check, the captures and the expectations of a step.
/// `Err` means the case cannot go on.
pub(crate) fn check_step(
    step: &Step,
    spec: &Spec,
    response: &mut Response,
    vars: &mut Vars,
    outcome: &mut CaseOutcome,
    index: usize,
) -> Result<(), ()> {
    let from = outcome.findings.len();
    let gate = check_answer(step, spec, response, vars, outcome, index);
    follows_from_wrong_values(step, outcome, from, index);
    reads_back_what_was_answered(outcome, from);
    gate
}

/// A read that shows a map changed as an earlier answer of its case already showed it (the
/// retrieve after a create that dropped the pairs) finds that answer's defect again.
fn reads_back_what_was_answered(outcome: &mut CaseOutcome, from: usize) {
    let (earlier, new) = outcome.findings.split_at_mut(from);
    for finding in new {
        let answered = finding
            .cause
            .as_deref()
            .and_then(check::stored::as_answered);
        if answered.is_some() && earlier.iter().any(|f| f.cause == answered) {
            finding.cause = answered;
        }
    }
}

/// A step that sends (or expects) a value an earlier answer of the case got wrong under a
/// requirement (page 3 asks for what follows page 2's wrong last item) finds that defect
/// again: its findings of that requirement are that answer's root cause.
fn follows_from_wrong_values(step: &Step, outcome: &mut CaseOutcome, from: usize, index: usize) {
    if outcome.wrong_at.is_empty() {
        return;
    }
    let mut values: Vec<&Value> = Vec::new();
    values.extend(step.path_params.iter().map(|(_, v)| v));
    values.extend(step.query.iter().map(|(_, v)| v));
    if let crate::case::Body::Json(body) = &step.body {
        values.push(body);
    }
    for (_, matcher) in &step.expect.json {
        values.extend(matcher.equals.iter().chain(matcher.contains.as_deref()));
        values.extend(matcher.one_of.iter().flatten());
    }
    let texts: Vec<Value> = std::iter::once(step.path.as_str())
        .chain(step.headers.iter().map(|(_, v)| v.as_str()))
        .chain(match &step.body {
            crate::case::Body::Raw(raw) => Some(raw.as_str()),
            _ => None,
        })
        .map(Value::from)
        .collect();
    values.extend(&texts);
    let mut sources: Vec<(String, usize)> = Vec::new();
    for (name, selector) in values.into_iter().flat_map(crate::template::references) {
        let Some((source, captured)) = outcome.captured_at.get(&name) else {
            continue;
        };
        let used = format!("{captured}{}", selector_pointer(&selector.to_string()));
        let overlaps = |wrong: &str| {
            let under = |a: &str, b: &str| b.starts_with(a) && b[a.len()..].starts_with('/');
            wrong == used || wrong.is_empty() || under(wrong, &used) || under(&used, wrong)
        };
        for (at, requirement, wrong) in &outcome.wrong_at {
            if at == source && *source < index && overlaps(wrong) {
                sources.push((requirement.clone(), *source));
            }
        }
    }
    for (requirement, source) in sources {
        let of = |f: &Finding| {
            f.kind == FindingKind::Requirement && f.requirement.as_deref() == Some(&requirement)
        };
        let Some(cause) = outcome
            .findings
            .iter()
            .find(|f| f.step == Some(source) && of(f))
            .map(|f| f.cause.clone())
        else {
            continue;
        };
        let label = outcome.steps.get(source).map(|s| s.label.clone());
        for finding in outcome.findings[from..].iter_mut().filter(|f| of(f)) {
            if finding.cause != cause {
                finding.cause.clone_from(&cause);
                if let Some(label) = &label {
                    let _ = write!(finding.summary, " (it sends what {label} answered wrong)");
                }
            }
        }
    }
}

fn check_answer(
    step: &Step,
    spec: &Spec,
    response: &mut Response,
    vars: &mut Vars,
    outcome: &mut CaseOutcome,
    index: usize,
) -> Result<(), ()> {
    let operation = step_operation(step, spec);
    let push = |outcome: &mut CaseOutcome, f: Finding| {
        outcome.findings.push(Finding {
            step: Some(index),
            ..f
        })
    };
    if !outcome.checked.contains(&step.requirement) {
        outcome.checked.insert(step.requirement.clone());
    }
    let sent = || match &step.body {
        crate::case::Body::Json(body) => crate::template::expand(body, vars)
            .ok()
            .map(std::borrow::Cow::into_owned),
        _ => None,
    };
    let implicit = check::implicit(
        spec,
        operation,
        response,
        (&step.requirement, step.level),
        sent,
    );
    // What the implicit checks already said, so that a matcher does not report it again: the
    // broken error object is GEN-02's alone, a field that breaks its schema is the schema's.
    let envelope_broken = implicit.iter().any(|f| {
        f.cause
            .as_deref()
            .is_some_and(|c| c.starts_with("error-envelope"))
    });
    let mut schema_paths: Vec<(String, bool, String)> = implicit
        .iter()
        .filter(|f| {
            f.cause.as_deref().is_some_and(|c| {
                ["schema", "error-envelope", "error-param-code"]
                    .iter()
                    .any(|check| c.starts_with(check))
            })
        })
        .flat_map(|f| {
            let requirement = f.requirement.clone().unwrap_or_default();
            f.details.iter().filter_map(move |d| {
                let (at, rest) = d.strip_prefix("at ")?.split_once(':')?;
                let missing = rest.contains("is a required property");
                Some((requirement.clone(), missing, check::normalize(at)))
            })
        })
        .collect();
    // A stream's chunks broken at a field (`schema COMPONENT PATH KEYWORD`) are that field of
    // the completion they stand for broken.
    schema_paths.extend(
        outcome
            .findings
            .iter()
            .filter(|f| f.step == Some(index))
            .filter_map(|f| {
                let (_, rest) = f
                    .cause
                    .as_deref()?
                    .strip_prefix("schema ")?
                    .split_once(' ')?;
                let (at, _) = rest.split_once(' ')?;
                Some((f.requirement.clone()?, false, at.to_owned()))
            }),
    );
    // A matcher on a field whose schema already failed says nothing new when it is the same
    // requirement's, when the field is missing (any check of it must fail then), or when it
    // asks for a value written in the case (the spec's own value, which the broken one is
    // not: `finish_reason: tool_calls` where the answer has a value out of the enum).
    // An answer that is another object altogether (it names another `object`) is one
    // finding of the step's requirement, not one more per field that it or another
    // requirement checks of the object it should have been (a model retrieve answering the
    // list is MDL-04's, not MDL-02's: it is no model at all).
    let other_object = schema_paths
        .iter()
        .any(|(owner, missing, at)| at == "/object" && !missing && *owner == step.requirement);
    let said_already = |matcher: &crate::case::Matcher, selector: &str| {
        let pointer = selector_pointer(selector);
        (envelope_broken && body_lacks_error_object(response) && pointer.starts_with("/error"))
            || other_object
            || schema_paths.iter().any(|(owner, missing, at)| {
                let written = matcher
                    .equals
                    .as_ref()
                    .is_some_and(|v| crate::template::references(v).is_empty());
                *owner == matcher.requirement && at == "/object"
                    || *at == pointer && (*missing || *owner == matcher.requirement || written)
            })
    };
    // The implicit checks ran for their owners too, whether they found anything or not.
    let mut ran = vec!["no-5xx"];
    if check::owes_json_content_type(spec, operation, response) {
        ran.push("json-content-type");
    }
    if (400..500).contains(&response.status) {
        ran.extend(["error-envelope", "error-param-code"]);
    }
    for check in ran {
        if let Some(owner) = spec.catalogue.owner("check", check) {
            outcome.checked.insert(owner.to_string());
        }
    }
    let implicit_failed: Vec<String> = implicit
        .iter()
        .filter_map(|f| f.requirement.clone())
        .collect();
    // A status other than the one the step asks for is its requirement's finding; that the
    // body is then not the asked status's object says the same again, in that finding's
    // details. A success the step does not expect (200 where 404 is owed) is not the answer
    // the step is about, so its schema errors are no finding of the schema's owner either
    // (who may well be met where a success is owed); an error's body stays checked, the error
    // object being owed on every 4xx.
    let status_fails = step
        .expect
        .status
        .as_ref()
        .is_some_and(|s| !s.contains(&response.status));
    let mut also_broken = Vec::new();
    for f in implicit {
        // A 5xx where the step owes another status is that status finding, which names the
        // 5xx: GEN-05 is for the answers whose status no requirement of the step names.
        let five_hundred = f.cause.as_deref().is_some_and(|c| c.starts_with("no-5xx"));
        if status_fails && five_hundred {
            continue;
        }
        let restates_status = status_fails
            && f.cause.as_deref().is_some_and(|c| c.starts_with("schema"))
            && (f.requirement.as_deref() == Some(step.requirement.as_str())
                || (200..300).contains(&response.status));
        if restates_status {
            also_broken.push(format!("the answer also breaks its schema: {}", f.summary));
            also_broken.extend(f.details);
        } else {
            push(outcome, f);
        }
    }
    let requirement_finding =
        |requirement: &str, level: Level, summary: String, details: Vec<String>| Finding {
            requirement: Some(requirement.to_string()),
            level,
            kind: FindingKind::Requirement,
            summary,
            details,
            step: Some(index),
            cause: None,
        };
    let expected_status = |status: u16| {
        step.expect
            .status
            .as_ref()
            .is_some_and(|s| s.contains(&status))
    };
    if (300..400).contains(&response.status) && !expected_status(response.status) {
        let location = response
            .headers
            .get(reqwest::header::LOCATION)
            .map(|l| format!(" to `{}`", String::from_utf8_lossy(l.as_bytes())))
            .unwrap_or_default();
        push(
            outcome,
            Finding {
                requirement: None,
                level: Level::Must,
                kind: FindingKind::Target,
                summary: format!(
                    "the server redirected ({}{location}); redirects are not followed (an API \
                     answers directly): point --base-url at the final address",
                    response.status
                ),
                details: Vec::new(),
                step: None,
                cause: None,
            },
        );
        return Err(());
    }
    if let Some(expected) = &step.expect.status {
        if !expected.contains(&response.status) {
            let want = expected
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or ");
            let mut details = also_broken;
            if !response.body.is_empty() {
                details.push(format!(
                    "body: {}",
                    crate::untrusted::excerpt(&String::from_utf8_lossy(&response.body), 400)
                ));
            }
            push(
                outcome,
                Finding {
                    cause: Some(status_cause(
                        expected,
                        response.status,
                        operation.map_or("(no operation)", |op| op.id.as_str()),
                        step.expect.cause.as_deref(),
                    )),
                    ..requirement_finding(
                        &step.requirement,
                        step.level,
                        format!("expected status {want}, got {}", response.status),
                        details,
                    )
                },
            );
            return Err(());
        }
    }
    // Another object altogether gives the later steps nothing to go on: what they would
    // check of it is blocked by this step's requirement, not failed (a model retrieve that
    // answers the list blocks the comparison with the list).
    if other_object {
        return Err(());
    }
    let body = response.json_value();
    for (name, selector) in &step.capture {
        match body.and_then(|b| selector.find(b)) {
            Some(value) => {
                vars.insert(name.clone(), value.clone());
                let at = selector_pointer(&selector.to_string());
                outcome.captured_at.insert(name.clone(), (index, at));
            }
            None => {
                let why = match &response.json {
                    None => "the answer has no body".to_string(),
                    Some(Err(e)) => e.clone(),
                    Some(Ok(_)) => format!("nothing is at `{selector}`"),
                };
                push(
                    outcome,
                    requirement_finding(
                        &step.requirement,
                        step.level,
                        format!("capture `{name}` captured nothing: {why}"),
                        Vec::new(),
                    ),
                );
                return Err(());
            }
        }
    }
    for (name, matcher) in &step.expect.headers {
        outcome.checked.insert(matcher.requirement.clone());
        let value = response
            .headers
            .get(name.as_str())
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()));
        // A header the implicit checks already found wrong (GEN-01's content type).
        if implicit_failed.contains(&matcher.requirement) {
            continue;
        }
        if let Err(m) = check::expect(&format!("header {name}"), matcher, value.as_ref(), vars) {
            push(
                outcome,
                requirement_finding(&matcher.requirement, matcher.level, m.summary, m.details),
            );
        }
    }
    if !step.expect.json.is_empty() {
        match (&response.json, body) {
            (_, Some(body)) => {
                // What failed in this step, by requirement and selector: a matcher under a
                // part the answer lacks (`tool_calls` for `tool_calls[0].id`), or under an
                // element past a length already found wrong, is that one finding again.
                let mut failed: Vec<(&str, String)> = Vec::new();
                // An element of another kind than asked (`output[0].type` is `message`, not
                // `function_call`) lacks the asked kind's fields: that is its kind's finding.
                let other_kind: Vec<(&str, String)> = step
                    .expect
                    .json
                    .iter()
                    .filter_map(|(selector, matcher)| {
                        let text = selector.to_string();
                        let element = ["type", "object"].iter().find_map(|key| {
                            (text == *key).then(String::new).or_else(|| {
                                text.strip_suffix(&format!(".{key}"))
                                    .map(|e| format!("{e}."))
                            })
                        })?;
                        let wrong = matcher.equals.is_some()
                            && check::expect(&text, matcher, selector.find(body), vars).is_err();
                        wrong.then_some((matcher.requirement.as_str(), element))
                    })
                    .collect();
                for (selector, matcher) in &step.expect.json {
                    outcome.checked.insert(matcher.requirement.clone());
                    let found = selector.find(body);
                    if said_already(matcher, &selector.to_string()) {
                        continue;
                    }
                    let text = selector.to_string();
                    let of_other_kind = other_kind.iter().any(|(requirement, element)| {
                        *requirement == matcher.requirement
                            && text.starts_with(element.as_str())
                            && !["type", "object"].contains(&&text[element.len()..])
                    });
                    if of_other_kind {
                        continue;
                    }
                    let Err(m) = check::expect(&selector.to_string(), matcher, found, vars) else {
                        continue;
                    };
                    let requirement = matcher.requirement.as_str();
                    outcome.wrong_at.push((
                        index,
                        requirement.to_string(),
                        selector_pointer(&selector.to_string()),
                    ));
                    let missing = match found {
                        Some(_) => None,
                        None => selector.missing_ancestor(body),
                    };
                    let finding = match missing {
                        Some(part) => {
                            let part_text = part.to_string();
                            let container = part_text
                                .rfind('[')
                                .filter(|_| part_text.ends_with(']'))
                                .map(|open| part_text[..open].to_string());
                            let known = failed.iter().any(|(r, at)| {
                                *r == requirement
                                    && (*at == part_text || container.as_ref() == Some(at))
                            });
                            failed.push((requirement, part_text.clone()));
                            if known {
                                continue;
                            }
                            Finding {
                                cause: Some(format!("absent {part_text}")),
                                ..requirement_finding(
                                    requirement,
                                    matcher.level,
                                    format!("{part_text}: expected a value, found nothing"),
                                    vec![format!("needed for `{selector}`")],
                                )
                            }
                        }
                        None => {
                            failed.push((requirement, selector.to_string()));
                            let in_list = is_list(body);
                            let stored =
                                found.filter(|_| matcher.cause.is_none()).and_then(|found| {
                                    let (sent, exact) =
                                        match (&matcher.equals, matcher.contains.as_deref()) {
                                            (Some(sent), _) => (sent, true),
                                            (None, Some(sent)) => (sent, false),
                                            (None, None) => return None,
                                        };
                                    let sent = crate::template::expand(sent, vars).ok()?;
                                    check::stored::cause(
                                        &field(&text, in_list),
                                        sent.as_object()?,
                                        found,
                                        exact,
                                        step.method.eq_ignore_ascii_case("GET"),
                                    )
                                });
                            Finding {
                                cause: Some(stored.unwrap_or_else(|| {
                                    matcher_cause(&text, in_list, matcher, found)
                                })),
                                ..requirement_finding(
                                    requirement,
                                    matcher.level,
                                    m.summary,
                                    m.details,
                                )
                            }
                        }
                    };
                    push(outcome, finding);
                }
            }
            (json, None) => {
                let why = match json {
                    Some(Err(e)) => e.clone(),
                    _ => "the answer has no body".into(),
                };
                push(
                    outcome,
                    requirement_finding(
                        &step.requirement,
                        step.level,
                        format!("cannot check the body: {why}"),
                        Vec::new(),
                    ),
                );
            }
        }
    }
    if let Some(observe) = &step.observe {
        let found = body.and_then(|b| observe.path.find(b));
        let value = match found {
            Some(v) => observe
                .present
                .clone()
                .unwrap_or_else(|| crate::untrusted::compact(v, 200)),
            None => observe.absent.clone().unwrap_or_else(|| "absent".into()),
        };
        outcome.observations.push(Observation {
            requirement: step.requirement.clone(),
            value,
        });
    }
    Ok(())
}

/// A selector as the instance path of a schema error: `data[*].status` is `/data/*/status`.
fn selector_pointer(selector: &str) -> String {
    let mut out = String::new();
    for part in selector.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            out.push('/');
            out.push_str(&rest[..open]);
            rest = &rest[open..];
            while let Some(close) = rest.find(']') {
                out.push_str("/*");
                rest = &rest[close + 1..];
            }
        } else if rest != "$" {
            out.push('/');
            out.push_str(rest);
        }
    }
    out
}

/// The answer has no `error` object at all (`{"detail": ...}`, a string, no body).
fn body_lacks_error_object(response: &Response) -> bool {
    !response
        .json_value()
        .and_then(|b| b.get("error"))
        .is_some_and(Value::is_object)
}

/// The answer is a list (`object: "list"`), whose `data` wraps the objects it lists.
fn is_list(body: &Value) -> bool {
    body.get("object").and_then(Value::as_str) == Some("list") && body.get("data").is_some()
}

/// The operation a step sends: the one it names, or the one its method and path match.
pub fn step_operation<'s>(step: &Step, spec: &'s Spec) -> Option<&'s crate::spec::Operation> {
    match &step.operation {
        Some(id) => spec.operation(id),
        None => spec.match_path(&step.method, &step.path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_an_object_list_unwraps_its_data() {
        assert!(is_list(&json!({"object": "list", "data": []})));
        assert!(!is_list(&json!({"object": "conversation", "data": []})));
        assert!(!is_list(&json!({"data": []})));
    }

    fn spec() -> Spec {
        Spec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    fn answer(status: u16, content_type: &str, body: &str) -> Response {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::CONTENT_TYPE, content_type.parse().unwrap());
        Response::new(status, headers, body.as_bytes().to_vec())
    }

    /// Checks each step of the case in `yaml` against its answer, as a run does.
    fn judged(yaml: &str, answers: &[Response]) -> CaseOutcome {
        let mut answers = answers.to_vec();
        let spec = spec();
        let case = crate::case::load("x", "x.yaml", yaml, &spec)
            .remove(0)
            .unwrap();
        let mut outcome = CaseOutcome::default();
        let mut vars = case.vars.clone();
        for (index, (step, response)) in case.steps.iter().zip(&mut answers).enumerate() {
            outcome.steps.push(crate::verdict::StepRecord {
                label: step.label.clone(),
                at: step.at.clone(),
                request_line: String::new(),
                curl: crate::run::Curl::Dropped,
                status: Some(response.status),
                answer: None,
                elapsed: std::time::Duration::ZERO,
            });
            let _ = check_step(step, &spec, response, &mut vars, &mut outcome, index);
        }
        outcome
    }

    fn causes(outcome: &CaseOutcome) -> Vec<(String, String)> {
        outcome
            .findings
            .iter()
            .map(|f| {
                (
                    f.requirement.clone().unwrap_or_default(),
                    f.cause.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    const ERROR: &str = r#"{"error": {"message": "m", "type": "invalid_request_error", "param": null, "code": null}}"#;

    fn conversation(metadata: &str) -> Response {
        let body = format!(
            r#"{{"id": "conv_1", "object": "conversation", "created_at": 1, "metadata": {metadata}}}"#
        );
        answer(200, "application/json", &body)
    }

    #[test]
    fn a_cause_a_case_names_is_one_cause_for_its_statuses_and_matchers() {
        let yaml = "requirement: UPD-03\nsteps:\n- operation: updateConversation\n  path_params: {conversation_id: conv_1}\n  body: {metadata: {a: b}}\n  expect: {status: 200, json: {metadata.a: {equals: c, cause: the pair is kept}}}\n- operation: updateConversation\n  path_params: {conversation_id: conv_1}\n  body: {metadata: {a: b}}\n  expect: {status: 400, cause: the pair is kept}\n";
        let outcome = judged(yaml, &[conversation(r#"{"a": "b"}"#), conversation("{}")]);
        assert_eq!(
            causes(&outcome),
            [
                ("UPD-03".into(), "cause the pair is kept".into()),
                ("UPD-03".into(), "cause the pair is kept".into())
            ]
        );
    }

    #[test]
    fn a_map_read_back_as_its_case_answered_it_is_that_answer_s_cause() {
        let yaml = |create: &str| {
            format!(
                "requirement: CRE-02\nsteps:\n- operation: createConversation\n  body: {{metadata: {{a: b}}}}\n  expect: {{status: 200, json: {{metadata: {{equals: {{a: b}}}}}}}}\n  capture: {{conv: $}}\n- operation: getConversation\n  path_params: {{conversation_id: '{{{{conv.id}}}}'}}\n  expect: {{status: 200, json: {{metadata: {{equals: {{a: b}}}}}}}}\n{create}"
            )
        };
        let dropped = judged(&yaml(""), &[conversation("{}"), conversation("{}")]);
        let answered = "stored metadata answered without pairs sent";
        assert_eq!(
            causes(&dropped),
            [
                ("CRE-02".into(), answered.into()),
                ("CRE-02".into(), answered.into())
            ]
        );
        // Answered right, read back changed: the store's other defect.
        let lost = judged(
            &yaml(""),
            &[conversation(r#"{"a": "b"}"#), conversation("{}")],
        );
        assert_eq!(
            causes(&lost),
            [(
                "CRE-02".into(),
                "stored metadata read back without pairs sent".into()
            )]
        );
    }

    #[test]
    fn a_value_answered_back_that_should_have_been_refused_is_no_broken_shape() {
        let yaml = "requirement: GEN-05\nsteps:\n- operation: updateConversation\n  path_params: {conversation_id: conv_1}\n  body: {metadata: {k: 1}}\n  expect: {}\n";
        let echoed = judged(yaml, &[conversation(r#"{"k": 1}"#)]);
        assert_eq!(causes(&echoed), []);
        // A broken shape elsewhere in the answer is still the schema's.
        let broken = judged(
            yaml,
            &[answer(
                200,
                "application/json",
                r#"{"id": 1, "object": "conversation", "created_at": 1, "metadata": {"k": 1}}"#,
            )],
        );
        let causes = causes(&broken);
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert!(causes[0].1.starts_with("schema"), "{causes:?}");
        assert!(causes[0].1.contains("/id"), "{causes:?}");
        assert!(!causes[0].1.contains("/metadata"), "{causes:?}");
    }

    #[test]
    fn a_5xx_where_the_step_owes_a_status_is_that_status_finding_alone() {
        let case = |expect: &str| {
            format!(
                "requirement: UPD-16\nsteps:\n- operation: updateConversation\n  path_params: {{conversation_id: conv_1}}\n  body: {{metadata: {{}}}}\n  expect: {expect}\n"
            )
        };
        let owed = judged(
            &case("{status: 400}"),
            &[answer(500, "application/json", ERROR)],
        );
        assert_eq!(
            causes(&owed),
            [("UPD-16".into(), "status updateConversation got 500".into())]
        );
        // No status of its own (a set-up, a probe of something else): GEN-05's catch-all.
        let unowed = judged(
            &case("{json: {}}"),
            &[answer(500, "application/json", ERROR)],
        );
        assert_eq!(
            causes(&unowed),
            [("GEN-05".into(), "no-5xx updateConversation 500".into())]
        );
    }

    #[test]
    fn a_4xx_that_is_not_json_is_the_error_objects_finding_alone() {
        let case = "requirement: RET-02\nsteps:\n- operation: getConversation\n  path_params: {conversation_id: conv_1}\n  expect: {status: 404}\n";
        let text = judged(case, &[answer(404, "text/plain", "Not Found")]);
        let owners: Vec<String> = causes(&text).into_iter().map(|(r, _)| r).collect();
        assert_eq!(owners, ["GEN-02"], "{:?}", text.findings);
        // JSON served as text/plain is GEN-01's, on an error as on a success.
        let json = judged(case, &[answer(404, "text/plain", ERROR)]);
        let owners: Vec<String> = causes(&json).into_iter().map(|(r, _)| r).collect();
        assert_eq!(owners, ["GEN-01"], "{:?}", json.findings);
    }

    #[test]
    fn another_object_altogether_is_the_steps_requirements_alone_and_blocks_what_follows() {
        // A model retrieve that answers the model list: no model at all, so not MDL-02's
        // broken model, and nothing of it is there for a later step to compare.
        let case = MODEL_CASE;
        let list = json!({"object": "list", "data": [
            {"id": "m", "object": "model", "created": 1, "owned_by": "o"}]});
        let listed = answer(200, "application/json", &list.to_string());
        let outcome = judged(case, std::slice::from_ref(&listed));
        let owners: Vec<String> = causes(&outcome).into_iter().map(|(r, _)| r).collect();
        assert_eq!(owners, ["MDL-04"], "{:?}", outcome.findings);
        let spec = spec();
        let case = crate::case::load("x", "x.yaml", case, &spec)
            .remove(0)
            .unwrap();
        let mut vars = case.vars.clone();
        let mut fresh = CaseOutcome::default();
        let mut listed = listed;
        let gate = check_step(&case.steps[0], &spec, &mut listed, &mut vars, &mut fresh, 0);
        assert!(gate.is_err(), "the case goes no further");
        // The model itself, with a wrong field, is MDL-02's.
        let model = json!({"id": "m", "object": "model", "created": 1.5, "owned_by": "o"});
        let broken = judged(
            MODEL_CASE,
            &[answer(200, "application/json", &model.to_string())],
        );
        let owners: Vec<String> = causes(&broken).into_iter().map(|(r, _)| r).collect();
        assert!(
            owners.iter().all(|o| o == "MDL-02"),
            "{:?}",
            broken.findings
        );
        assert!(!owners.is_empty());
    }

    const MODEL_CASE: &str = "requirement: MDL-02
steps:
- operation: retrieveModel
  requirement: MDL-04
  path_params: {model: m}
  expect:
    status: 200
    json:
      object: {equals: model, requirement: MDL-02}
      created: {type: integer, requirement: MDL-02}
";

    fn item(id: &str) -> Value {
        json!({"type": "message", "id": id, "status": "completed", "role": "user",
            "content": [{"type": "input_text", "text": id}]})
    }

    fn page(ids: &[&str], has_more: bool) -> Response {
        let body = json!({"object": "list", "data": ids.iter().map(|id| item(id)).collect::<Vec<_>>(),
            "first_id": ids[0], "last_id": ids[ids.len() - 1], "has_more": has_more});
        answer(200, "application/json", &body.to_string())
    }

    const PAGES: &str = "requirement: ITM-04
steps:
- name: page 1
  operation: listConversationItems
  path_params: {conversation_id: conv_1}
  query: {limit: 2, order: asc}
  capture: {p1: $}
  expect:
    status: 200
    json:
      data[1].id: {equals: msg_b}
      has_more: {equals: true}
- name: page 2
  operation: listConversationItems
  path_params: {conversation_id: conv_1}
  query: {limit: 2, order: asc, after: '{{p1.data[1].id}}'}
  expect: {status: 200, json: {data: {length: 1}}}
";

    #[test]
    fn a_step_that_sends_what_an_answer_got_wrong_finds_that_defect_again() {
        // Page 1 ends at the wrong item; page 2, asked from it, is wrong too: one defect.
        let outcome = judged(
            PAGES,
            &[
                page(&["msg_a", "msg_x"], true),
                page(&["msg_y", "msg_z"], false),
            ],
        );
        let causes = causes(&outcome);
        assert_eq!(causes.len(), 2, "{causes:?}");
        assert_eq!(causes[0], causes[1]);
        assert!(
            outcome.findings[1].summary.contains("page 1"),
            "{:?}",
            outcome.findings[1]
        );
        // Page 1's items are right, only its `has_more` is wrong: page 2's own defect stays.
        let outcome = judged(
            PAGES,
            &[
                page(&["msg_a", "msg_b"], false),
                page(&["msg_y", "msg_z"], false),
            ],
        );
        let causes = self::causes(&outcome);
        assert_eq!(causes.len(), 2, "{causes:?}");
        assert_ne!(causes[0], causes[1]);
    }
}
