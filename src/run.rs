//! Runs one case against the target: for each step, build the request, send it, read the
//! answer, run the implicit checks, capture, run the expectations, observe. A gating failure
//! (no answer, wrong status, nothing to capture) ends the steps; cleanup always runs.

use crate::case::{Body, Case, Step};
use crate::check::{self, Response};
use crate::request_log::RequestLog;
use crate::spec::{Level, Spec};
use crate::target::Target;
use crate::template::{self, Vars};
use crate::verdict::{CaseOutcome, Finding, FindingKind, Observation, StepRecord};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most of a body the harness reads; a larger one fails the step instead of filling memory.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The largest body a reproducing curl command shows; a larger one is named as a file.
const MAX_CURL_BODY_BYTES: usize = 4 * 1024;

/// A snapshot a step asks for, taken on the test's own thread once the case is done.
#[derive(Debug, Clone)]
pub struct SnapshotRequest {
    pub name: String,
    pub value: Value,
}

/// A resource the case created, to delete when it ends.
#[derive(Debug, Clone)]
struct Created {
    operation: String,
    path_params: Vec<(String, Value)>,
}

pub struct Executed {
    pub outcome: CaseOutcome,
    pub snapshots: Vec<SnapshotRequest>,
}

/// Runs the case. Steps run in a task of their own so that even a panic in them is caught:
/// the resources recorded up to that point are deleted all the same. Once `stopping` is set
/// (Ctrl-C), no further step starts; the cleanup still runs.
pub async fn execute(
    case: Arc<Case>,
    target: Arc<Target>,
    spec: Arc<Spec>,
    stopping: Arc<AtomicBool>,
) -> Executed {
    let started = Instant::now();
    let created: Arc<Mutex<Vec<Created>>> = Arc::default();
    let steps = tokio::spawn({
        let (case, target, spec, created) =
            (case.clone(), target.clone(), spec.clone(), created.clone());
        async move { run_steps(&case, &target, &spec, &created, &stopping).await }
    })
    .await;
    let (mut outcome, mut snapshots, vars) = match steps {
        Ok(done) => done,
        Err(e) => {
            let outcome = CaseOutcome {
                findings: vec![Finding {
                    requirement: None,
                    level: Level::Must,
                    kind: FindingKind::Target,
                    summary: format!("the harness failed while running the case: {e}"),
                    details: vec!["this is a bug in conformance; please report it".into()],
                    step: None,
                    cause: None,
                }],
                ..Default::default()
            };
            (outcome, Vec::new(), case.vars.clone())
        }
    };
    cleanup(&case, &target, &spec, &vars, &created, &mut outcome).await;
    if let Some(log) = &target.request_log {
        log.flush();
    }
    if outcome.failed(true) {
        // A step that did not pass must not become a snapshot to accept.
        snapshots.clear();
    }
    outcome.elapsed = started.elapsed();
    outcome.escape_target_text();
    Executed { outcome, snapshots }
}

async fn run_steps(
    case: &Case,
    target: &Target,
    spec: &Arc<Spec>,
    created: &Mutex<Vec<Created>>,
    stopping: &AtomicBool,
) -> (CaseOutcome, Vec<SnapshotRequest>, Vars) {
    let mut outcome = CaseOutcome::default();
    let mut snapshots = Vec::new();
    let mut vars = case.vars.clone();
    vars.entry("model".to_owned())
        .or_insert_with(|| Value::from(target.config.model.as_str()));
    for step in &case.steps {
        let index = outcome.steps.len();
        if stopping.load(Ordering::SeqCst) {
            outcome.findings.push(Finding {
                requirement: None,
                level: Level::Must,
                kind: FindingKind::Target,
                summary: format!(
                    "interrupted (Ctrl-C) before {}; the rest of the case did not run",
                    step.label
                ),
                details: Vec::new(),
                step: None,
                cause: None,
            });
            break;
        }
        let (record, response) = send(step, target, &vars, (&case.id, index)).await;
        outcome.steps.push(record);
        let response = match response {
            Ok(response) if step.stream && response.status < 300 => {
                if step.operation.as_deref() == Some(crate::chat::OPERATION) {
                    chat_streamed(spec, step, response, &mut outcome, index)
                } else {
                    streamed(spec, response, &mut outcome, index)
                }
            }
            Ok(response) => {
                if step.operation.as_deref() == Some(crate::chat::OPERATION)
                    && response.status == 200
                {
                    if let Some(completion) = response.json_value() {
                        let findings = crate::chat::check_completion(spec, completion, false);
                        note_checked(
                            spec,
                            crate::chat::COMPLETION_CHECKS,
                            findings,
                            &mut outcome,
                            index,
                        );
                    }
                }
                response
            }
            Err(finding) => {
                if finding.kind == FindingKind::Inconclusive {
                    outcome.inconclusive = Some(format!("{}: {}", step.label, finding.summary));
                }
                outcome.findings.push(Finding {
                    step: Some(index),
                    ..finding
                });
                break;
            }
        };
        // Compiling a schema takes milliseconds; on a runtime worker it would hold up every
        // other case (and the embedded server), so it happens on a blocking thread.
        let operation = step_operation(step, spec);
        for pointer in check::schemas(spec, operation, response.status) {
            if spec.needs_compiling(&pointer) {
                let spec = Arc::clone(spec);
                let _ = tokio::task::spawn_blocking(move || spec.prepare_validator(&pointer)).await;
            }
        }
        let findings_before = outcome.findings.len();
        let gate = check_step(step, spec, &response, &mut vars, &mut outcome, index);
        if response.status < 300 {
            record_created(step, spec, &response, created);
            record_made_up(step, spec, &response, &vars, created);
        }
        let step_clean = outcome.findings[findings_before..].is_empty();
        if let (Some(redactions), true) = (&step.snapshot, step_clean) {
            if let Some(body) = response.json_value() {
                let mut value = target.secrets.redact_json(body);
                match crate::snapshot::redact(&mut value, redactions) {
                    Ok(()) => snapshots.push(SnapshotRequest {
                        name: crate::snapshot::name(&case.id, index + 1),
                        value,
                    }),
                    Err(e) => outcome.findings.push(Finding {
                        requirement: None,
                        level: Level::Must,
                        kind: FindingKind::Snapshot,
                        summary: e,
                        details: Vec::new(),
                        step: Some(index),
                        cause: None,
                    }),
                }
            }
        }
        if gate.is_err() {
            if step.requirement != case.requirement {
                outcome.blocked = Some(crate::verdict::Blocked {
                    by: step.requirement.clone(),
                    step: step.label.clone(),
                });
            }
            break;
        }
    }
    (outcome, snapshots, vars)
}

/// Checks a streamed answer event by event and answers the terminal event's `response` as the
/// step's JSON answer, so that the operation's schema, captures and matchers apply to it.
fn streamed(spec: &Spec, response: Response, outcome: &mut CaseOutcome, index: usize) -> Response {
    let content_type = response.content_type().unwrap_or("").to_owned();
    let checked = crate::stream::check(
        spec,
        &content_type,
        &String::from_utf8_lossy(&response.body),
    );
    note_checked(
        spec,
        &[
            "stream-framing",
            "stream-event-schema",
            "stream-sequence",
            "stream-grammar",
            "stream-invariants",
        ],
        checked.findings,
        outcome,
        index,
    );
    let mut headers = response.headers.clone();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    let body = checked
        .response
        .map(|r| serde_json::to_vec(&r).unwrap_or_default())
        .unwrap_or_default();
    Response::new(response.status, headers, body)
}

/// Checks a streamed chat completion chunk by chunk and answers the completion the chunks put
/// together as the step's JSON answer, for captures and matchers (its schema is the chunks').
fn chat_streamed(
    spec: &Spec,
    step: &Step,
    response: Response,
    outcome: &mut CaseOutcome,
    index: usize,
) -> Response {
    let content_type = response.content_type().unwrap_or("").to_owned();
    let include_usage = matches!(&step.body, Body::Json(body)
        if body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true)));
    let checked = crate::chat::check_stream(
        spec,
        &content_type,
        &String::from_utf8_lossy(&response.body),
        include_usage,
    );
    note_checked(
        spec,
        crate::chat::STREAM_CHECKS,
        checked.findings,
        outcome,
        index,
    );
    let mut headers = response.headers.clone();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    let Some(completion) = checked.completion else {
        return Response::new(response.status, headers, Vec::new()).assembled();
    };
    let findings = crate::chat::check_completion(spec, &completion, true);
    note_checked(
        spec,
        crate::chat::COMPLETION_CHECKS,
        findings,
        outcome,
        index,
    );
    let body = serde_json::to_vec(&completion).unwrap_or_default();
    Response::new(response.status, headers, body).assembled()
}

/// Adds `findings` to the step's and counts the owners of `checks` as checked.
fn note_checked(
    spec: &Spec,
    checks: &[&str],
    findings: Vec<Finding>,
    outcome: &mut CaseOutcome,
    index: usize,
) {
    for finding in findings {
        if let Some(id) = &finding.requirement {
            outcome.checked.insert(id.clone());
        }
        outcome.findings.push(Finding {
            step: Some(index),
            ..finding
        });
    }
    for check in checks {
        if let Some(owner) = spec.catalogue.owner("check", check) {
            outcome.checked.insert(owner.to_string());
        }
    }
}

/// Runs the implicit checks, the status check, the captures and the expectations of a step.
/// `Err` means the case cannot go on.
fn check_step(
    step: &Step,
    spec: &Spec,
    response: &Response,
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
    outcome.checked.insert(step.requirement.clone());
    let implicit = check::implicit(spec, operation, response, (&step.requirement, step.level));
    // What the implicit checks already said, so that a matcher does not report it again: the
    // broken error object is GEN-02's alone, a field that breaks its schema is the schema's.
    let envelope_broken = implicit.iter().any(|f| {
        f.cause
            .as_deref()
            .is_some_and(|c| c.starts_with("error-envelope"))
    });
    let schema_paths: Vec<(String, bool, String)> = implicit
        .iter()
        .filter(|f| {
            f.cause
                .as_deref()
                .is_some_and(|c| c.starts_with("schema") || c.starts_with("error-envelope"))
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
    // A matcher on a field whose schema already failed says nothing new when it is the same
    // requirement's, or when the field is missing (any check of it must fail then).
    let said_already = |matcher: &crate::case::Matcher, selector: &str| {
        let pointer = selector_pointer(selector);
        (envelope_broken && body_lacks_error_object(response) && pointer.starts_with("/error"))
            || schema_paths.iter().any(|(owner, missing, at)| {
                *at == pointer && (*missing || *owner == matcher.requirement)
            })
    };
    // The implicit checks ran for their owners too, whether they found anything or not.
    let mut ran = vec!["no-5xx"];
    if response.json.is_some() {
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
    for f in implicit {
        push(outcome, f);
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
            let mut details = Vec::new();
            if !response.body.is_empty() {
                details.push(format!(
                    "body: {}",
                    crate::untrusted::excerpt(&String::from_utf8_lossy(&response.body), 400)
                ));
            }
            push(
                outcome,
                Finding {
                    cause: Some(format!(
                        "status {} expected {want} got {}",
                        operation.map_or(step.method.as_str(), |op| op.id.as_str()),
                        response.status
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
    let body = response.json_value();
    for (name, selector) in &step.capture {
        match body.and_then(|b| selector.find(b)) {
            Some(value) => {
                vars.insert(name.clone(), value.clone());
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
                for (selector, matcher) in &step.expect.json {
                    outcome.checked.insert(matcher.requirement.clone());
                    let found = selector.find(body);
                    if said_already(matcher, &selector.to_string()) {
                        continue;
                    }
                    if let Err(m) = check::expect(&selector.to_string(), matcher, found, vars) {
                        push(
                            outcome,
                            Finding {
                                cause: Some(matcher_cause(
                                    operation.map_or(step.method.as_str(), |op| op.id.as_str()),
                                    &selector.to_string(),
                                    matcher,
                                    found,
                                )),
                                ..requirement_finding(
                                    &matcher.requirement,
                                    matcher.level,
                                    m.summary,
                                    m.details,
                                )
                            },
                        );
                    }
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
                .unwrap_or_else(|| check::compact(v, 200)),
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

/// What makes a failed matcher the same defect in another case: the operation, the answer's
/// top-level field, what the matcher asks and the kind of value found.
fn matcher_cause(
    operation: &str,
    selector: &str,
    matcher: &crate::case::Matcher,
    found: Option<&Value>,
) -> String {
    // The field, array positions left out: `data[*].status`.
    let mut field = String::with_capacity(selector.len());
    let mut in_index = false;
    for c in selector.chars() {
        match c {
            '[' => {
                in_index = true;
                field.push_str("[*]");
            }
            ']' => in_index = false,
            _ if in_index => {}
            c => field.push(c),
        }
    }
    let asks: Vec<&str> = [
        ("equals", matcher.equals.is_some()),
        ("one_of", matcher.one_of.is_some()),
        ("type", matcher.types.is_some()),
        ("pattern", matcher.pattern.is_some()),
        ("absent", matcher.absent.is_some()),
        ("length", matcher.length.is_some()),
        ("contains", matcher.contains.is_some()),
        ("near_now", matcher.near_now.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, asked)| asked.then_some(name))
    .collect();
    let kind = match found {
        None => "nothing",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    };
    format!("match {operation} {field} {} {kind}", asks.join("+"))
}

fn step_operation<'s>(step: &Step, spec: &'s Spec) -> Option<&'s crate::spec::Operation> {
    match &step.operation {
        Some(id) => spec.operation(id),
        None => spec.match_path(&step.method, &step.path),
    }
}

fn record_created(step: &Step, spec: &Spec, response: &Response, created: &Mutex<Vec<Created>>) {
    let Some(cleanup) = step
        .operation
        .as_deref()
        .and_then(|id| spec.operation(id))
        .and_then(|op| op.cleanup.as_ref())
    else {
        return;
    };
    let body = response.json_value();
    let params: Option<Vec<(String, Value)>> = cleanup
        .path_params
        .iter()
        .map(|(name, selector)| {
            let found = body.and_then(|body| {
                crate::selector::Selector::parse(selector)
                    .ok()
                    .and_then(|s| s.find(body).cloned())
            });
            // An answer that is not strict JSON (`1e400`, bad UTF-8, a lone surrogate) still
            // names what it created: the id is read from its text.
            found
                .or_else(|| loose_string_field(&response.body, selector).map(Value::String))
                .map(|v| (name.clone(), v))
        })
        .collect();
    if let Some(path_params) = params {
        created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Created {
                operation: cleanup.operation.clone(),
                path_params,
            });
    }
}

/// A top-level string field of a body that may not parse as JSON: `"id": "conv_1"`.
fn loose_string_field(body: &[u8], field: &str) -> Option<String> {
    if !field
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let pattern =
        regex::Regex::new(&format!(r#""{field}"\s*:\s*"([A-Za-z0-9_\-.]{{1,200}})""#)).ok()?;
    pattern
        .captures(&text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
}

/// A step that named a resource it expected not to exist (an unknown id) and got a 2xx: the
/// server may have created it on the fly, so it is deleted when the case ends.
fn record_made_up(
    step: &Step,
    spec: &Spec,
    response: &Response,
    vars: &Vars,
    created: &Mutex<Vec<Created>>,
) {
    let expected_failure = step
        .expect
        .status
        .as_ref()
        .is_some_and(|codes| codes.iter().all(|c| *c >= 400));
    if !expected_failure || step.method == "DELETE" || !(200..300).contains(&response.status) {
        return;
    }
    for cleanup in spec.operations().filter_map(|op| op.cleanup.as_ref()) {
        let params: Option<Vec<(String, Value)>> = cleanup
            .path_params
            .keys()
            .map(|name| {
                let (_, value) = step.path_params.iter().find(|(n, _)| n == name)?;
                let value = template::expand(value, vars).ok()?;
                Some((name.clone(), value))
            })
            .collect();
        if let Some(path_params) = params.filter(|p| !p.is_empty()) {
            created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Created {
                    operation: cleanup.operation.clone(),
                    path_params,
                });
        }
    }
}

/// How long the cleanup of one case keeps trying to delete what it created.
const CLEANUP_BUDGET: Duration = Duration::from_secs(20);
/// Retries of a delete answered with a 5xx (0.2 s, 0.4 s, 0.8 s apart): enough for a passing
/// hiccup, while a server whose delete always fails costs each case about a second, not the
/// whole budget.
const CLEANUP_5XX_RETRIES: usize = 3;

/// The case's own cleanup steps, then a delete for every resource it created (newest first).
/// Failures here are notes, not verdicts: the case's checks are done.
async fn cleanup(
    case: &Case,
    target: &Target,
    spec: &Spec,
    vars: &Vars,
    created: &Mutex<Vec<Created>>,
    outcome: &mut CaseOutcome,
) {
    // Requests are numbered on from the case's steps, for the request log.
    let mut sent = outcome.steps.len();
    let mut origin = || {
        sent += 1;
        (case.id.as_str(), sent - 1)
    };
    for step in &case.cleanup {
        match send(step, target, vars, origin()).await {
            (_, Err(f)) => outcome
                .notes
                .push(format!("cleanup {}: {}", step.label, f.summary)),
            (_, Ok(r)) if r.status >= 300 && r.status != 404 => outcome
                .notes
                .push(format!("cleanup {}: answered {}", step.label, r.status)),
            _ => {}
        }
    }
    let resources: Vec<Created> =
        std::mem::take(&mut *created.lock().unwrap_or_else(|e| e.into_inner()));
    for resource in resources.into_iter().rev() {
        let Some(op) = spec.operation(&resource.operation) else {
            continue;
        };
        let step = Step {
            label: format!("cleanup ({})", op.id),
            at: case.file.clone(),
            requirement: case.requirement.clone(),
            level: case.level,
            operation: Some(op.id.clone()),
            method: op.method.clone(),
            path: op.path.clone(),
            path_params: resource.path_params.clone(),
            query: Vec::new(),
            headers: Vec::new(),
            auth: true,
            body: Body::None,
            content_type: None,
            expect: Default::default(),
            capture: Vec::new(),
            snapshot: None,
            observe: None,
            stream: false,
        };
        // Retried on 5xx and transport errors (a 429 is waited out by `send`), within a budget.
        let started = Instant::now();
        let mut wait = Duration::from_millis(200);
        let mut server_errors = 0;
        loop {
            let (record, answer) = send(&step, target, &Vars::new(), origin()).await;
            let problem = match answer {
                Err(f) => Some(format!("failed: {}", f.summary)),
                // 404: the case deleted it itself.
                Ok(r) if r.status < 300 => {
                    outcome.cleaned_up += 1;
                    None
                }
                Ok(r) if r.status == 404 => None,
                Ok(r) => Some(format!("answered {}", r.status)),
            };
            let Some(problem) = problem else { break };
            if problem.starts_with("answered 5") {
                server_errors += 1;
            }
            let retryable =
                !problem.starts_with("answered 4") && server_errors <= CLEANUP_5XX_RETRIES;
            if retryable && started.elapsed() + wait < CLEANUP_BUDGET {
                tokio::time::sleep(wait).await;
                wait *= 2;
                continue;
            }
            outcome
                .notes
                .push(format!("cleanup: {} {problem}", record.request_line));
            outcome.left_behind.push(record.request_line);
            break;
        }
    }
}

/// Builds the request of a step, sends it and reads the answer (at most [`MAX_BODY_BYTES`]).
/// `origin` (case id, number of the request in the case) names it in the request log.
async fn send(
    step: &Step,
    target: &Target,
    vars: &Vars,
    origin: (&str, usize),
) -> (StepRecord, Result<Response, Finding>) {
    let started = Instant::now();
    let target_failure = |summary: String| Finding {
        requirement: None,
        level: Level::Must,
        kind: FindingKind::Target,
        summary,
        details: Vec::new(),
        step: None,
        cause: None,
    };
    let built = match build(step, target, vars) {
        Ok(built) => built,
        Err(e) => {
            let record = StepRecord {
                label: step.label.clone(),
                at: step.at.clone(),
                request_line: format!("{} {}", step.method, step.path),
                curl: "(the request could not be built)".into(),
                status: None,
                answer: None,
                elapsed: Duration::ZERO,
            };
            return (
                record,
                Err(target_failure(format!("cannot build the request: {e}"))),
            );
        }
    };
    // Redacted where they are written (the failure message, the reports), not for every step.
    let mut record = StepRecord {
        label: step.label.clone(),
        at: step.at.clone(),
        request_line: format!("{} {}", step.method, built.url),
        curl: built.curl,
        status: None,
        answer: None,
        elapsed: Duration::ZERO,
    };
    let idempotent = matches!(step.method.as_str(), "GET" | "HEAD" | "DELETE" | "PUT");
    let expects_429 = step
        .expect
        .status
        .as_ref()
        .is_some_and(|codes| codes.contains(&429));
    let mut status = None;
    let mut fresh_connection = false;
    let mut rate_limited = 0;
    let result = loop {
        let Some(request) = built.request.try_clone() else {
            break attempt(step, target, built.request, origin, false, &mut status).await;
        };
        let once = attempt(step, target, request, origin, fresh_connection, &mut status).await;
        match &once {
            // A reused connection the server had closed, a reset: an idempotent request is
            // sent once more, on a connection of its own.
            Err(failure) if failure.transport && idempotent && !fresh_connection => {
                fresh_connection = true;
            }
            Ok(answer) if answer.status == 429 && !expects_429 => {
                if rate_limited == MAX_RATE_LIMITED_RETRIES {
                    break Err(Failure {
                        text: format!(
                            "rate limited: still 429 after {rate_limited} retries (waiting as Retry-After said, at most {} s each)",
                            MAX_RETRY_AFTER.as_secs()
                        ),
                        transport: true,
                    });
                }
                rate_limited += 1;
                tokio::time::sleep(retry_after(&answer.headers)).await;
            }
            _ => break once,
        }
        target.stats.retries.fetch_add(1, Ordering::Relaxed);
    };
    record.elapsed = started.elapsed();
    // The target answered, even when its body then failed: it is reachable.
    record.status = status;
    if let Ok(response) = &result {
        const SHOWN: usize = 4096;
        let body = &response.body[..response.body.len().min(SHOWN)];
        let mut answer = String::from_utf8_lossy(body).into_owned();
        if response.body.len() > SHOWN {
            answer.push_str("\n…");
        }
        record.answer = Some(answer);
    }
    match result {
        Ok(response) => (record, Ok(response)),
        Err(failure) => (
            record,
            Err(Finding {
                kind: if failure.transport {
                    FindingKind::Inconclusive
                } else {
                    FindingKind::Target
                },
                ..target_failure(target.secrets.redact(&failure.text))
            }),
        ),
    }
}

/// How often a 429 is waited out before the step is inconclusive, and the longest wait.
const MAX_RATE_LIMITED_RETRIES: usize = 3;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Why a request got no usable answer; `transport`: no answer to judge (inconclusive).
struct Failure {
    text: String,
    transport: bool,
}

/// How long a 429 asks to wait: `retry-after-ms`, else `Retry-After` in seconds (a date counts
/// as one second), bounded by 10 s.
pub fn retry_after(headers: &HeaderMap) -> Duration {
    let read = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let wait = read("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| read("retry-after"))
        .unwrap_or(1.0);
    Duration::from_secs_f64(wait.min(MAX_RETRY_AFTER.as_secs_f64()))
}

/// The longest pause between two chunks of a streamed answer.
const STREAM_EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one request and reads its answer (at most [`MAX_BODY_BYTES`]).
async fn attempt(
    step: &Step,
    target: &Target,
    request: reqwest::RequestBuilder,
    origin: (&str, usize),
    fresh_connection: bool,
    status: &mut Option<u16>,
) -> Result<Response, Failure> {
    let timeout = target.config.timeout;
    let transport = |e: reqwest::Error| Failure {
        text: describe_error(e, timeout),
        transport: true,
    };
    let unusable = |text: String| Failure {
        text,
        transport: false,
    };
    let request = request
        .build()
        .map_err(|e| unusable(describe_error(e, timeout)))?;
    let logged = target.request_log.as_ref().map(|_| {
        RequestLog::begin(
            origin.0,
            origin.1,
            &request,
            &target.base_url,
            target.auth_header.as_deref().filter(|_| step.auth),
            &target.secrets,
        )
    });
    let client = if fresh_connection {
        &target.fresh_client
    } else {
        &target.client
    };
    let result = async {
        let mut response = client.execute(request).await.map_err(transport)?;
        *status = Some(response.status().as_u16());
        // The answer's own map: nothing reads the response's headers after this.
        let headers = std::mem::take(response.headers_mut());
        if let Some(coding) = content_coding(&headers) {
            return Err(unusable(format!(
                "unusable answer: its body is encoded with `Content-Encoding: {coding}`, although \
                 the request asked for none (`Accept-Encoding: identity`); the harness does not decode it"
            )));
        }
        let mut body = Vec::new();
        // A stream is bounded per event too: a server that stops sending mid-stream fails by
        // the time it was given for one event, not only by the whole request's timeout.
        let per_event = timeout.min(STREAM_EVENT_TIMEOUT);
        loop {
            let chunk = if step.stream {
                tokio::time::timeout(per_event, response.chunk())
                    .await
                    .map_err(|_| Failure {
                        text: format!(
                            "the stream sent nothing for {} s (the bound of one event) after {} bytes",
                            per_event.as_secs_f64(),
                            body.len()
                        ),
                        transport: true,
                    })?
            } else {
                response.chunk().await
            };
            let Some(chunk) = chunk.map_err(transport)? else {
                break;
            };
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(unusable(format!(
                    "the body is larger than {} MiB; stopped reading (a Conversations answer is small)",
                    MAX_BODY_BYTES / 1024 / 1024
                )));
            }
            body.extend_from_slice(&chunk);
        }
        // The answer is checked as it came: a secret it echoes is redacted where it is shown
        // (excerpts, messages, reports, snapshots, the request log), never before a check.
        Ok(Response::new(response.status().as_u16(), headers, body))
    }
    .await;
    if let (Some(log), Some(entry)) = (&target.request_log, logged) {
        let answer = result.as_ref().ok().map(|r| (r.status, r.body.as_slice()));
        log.finish(entry, answer, &target.secrets);
    }
    result
}

/// The content coding of an answer, unless it is none (`identity`).
fn content_coding(headers: &HeaderMap) -> Option<String> {
    let coding = headers.get(reqwest::header::CONTENT_ENCODING)?;
    let coding = String::from_utf8_lossy(coding.as_bytes())
        .trim()
        .to_string();
    (!coding.is_empty() && !coding.eq_ignore_ascii_case("identity")).then_some(coding)
}

/// One line that says why no (complete) answer came.
pub fn describe_error(e: reqwest::Error, timeout: Duration) -> String {
    use std::error::Error as _;
    let mut root = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        root = inner.to_string();
        source = inner.source();
    }
    let lower = root.to_ascii_lowercase();
    if e.is_timeout() {
        format!(
            "no complete answer within the timeout of {} s (--timeout)",
            timeout.as_secs_f64()
        )
    } else if lower.contains("certificate") {
        format!(
            "TLS: the certificate is not trusted ({root}); --insecure skips the check, for test servers only"
        )
    } else if e.is_connect() && lower.contains("refused") {
        format!("cannot connect to the target: nothing listens there ({root})")
    } else if e.is_connect() {
        format!("cannot connect to the target: {root}")
    } else if lower.contains("reset") {
        format!("the target reset the connection before the answer was complete ({root})")
    } else if e.is_body()
        || e.is_decode()
        || lower.contains("closed")
        || lower.contains("incomplete")
    {
        format!("the target closed the connection before the answer was complete ({root})")
    } else {
        format!("the request failed: {root}")
    }
}

struct Built {
    request: reqwest::RequestBuilder,
    url: String,
    curl: String,
}

fn build(step: &Step, target: &Target, vars: &Vars) -> Result<Built, String> {
    let mut path = if step.operation.is_some() {
        step.path.clone()
    } else {
        template::expand_str(&step.path, vars)?
    };
    for (name, value) in &step.path_params {
        let value = match template::expand(value, vars)? {
            Value::String(s) => s,
            other => other.to_string(),
        };
        path = path.replace(&format!("{{{name}}}"), &encode(&value, false));
    }
    let mut query = Vec::new();
    for (name, value) in &step.query {
        let name = template::expand_str(name, vars)?;
        let values = match template::expand(value, vars)? {
            Value::Array(items) => items,
            other => vec![other],
        };
        for value in values {
            let text = match value {
                Value::String(s) => s,
                Value::Null => String::new(),
                Value::Object(_) => return Err(format!("query `{name}` cannot be an object")),
                other => other.to_string(),
            };
            query.push(format!("{}={}", encode(&name, true), encode(&text, true)));
        }
    }
    let mut url = format!("{}{path}", target.base_url);
    if !query.is_empty() {
        url = format!(
            "{url}{}{}",
            if url.contains('?') { '&' } else { '?' },
            query.join("&")
        );
    }
    let method = reqwest::Method::from_bytes(step.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", step.method))?;
    let mut request = target.client.request(method, &url);
    let mut curl = vec![
        "curl -sS".to_string(),
        format!("-X {}", step.method),
        shell_quote(&url),
    ];
    let mut header = |request: reqwest::RequestBuilder, name: &str, value: &str, shown: String| {
        curl.push(format!("-H {shown}"));
        request.header(name, value)
    };
    if step.auth {
        if let Some(auth) = &target.auth_header {
            request = header(
                request,
                "Authorization",
                auth,
                "\"Authorization: Bearer $CONFORMANCE_API_KEY\"".into(),
            );
        }
    }
    for h in &target.config.headers {
        let shown = match &h.from_env {
            Some(var) => format!("\"{}: ${var}\"", h.name),
            None => shell_quote(&format!("{}: {}", h.name, h.value)),
        };
        request = header(request, &h.name, &h.value, shown);
    }
    for (name, value) in &step.headers {
        let value = template::expand_str(value, vars)?;
        request = header(
            request,
            name,
            &value,
            shell_quote(&format!("{name}: {value}")),
        );
    }
    let body = match &step.body {
        Body::None => None,
        Body::Json(value) => Some(template::expand(value, vars)?.to_string()),
        Body::Raw(text) => Some(template::expand_str(text, vars)?),
    };
    if let Some(body) = body {
        let content_type = step.content_type.as_deref().unwrap_or("application/json");
        request = header(
            request,
            "Content-Type",
            content_type,
            shell_quote(&format!("Content-Type: {content_type}")),
        );
        if body.len() > MAX_CURL_BODY_BYTES {
            // Hundreds of KiB in a message help nobody: the case file says how it is built.
            curl.push(format!(
                "--data-binary @body.json  # body.json: the {}-byte body {} builds",
                body.len(),
                step.at
            ));
        } else {
            curl.push(format!("--data-raw {}", shell_quote(&body)));
        }
        request = request.body(body);
    } else if let Some(content_type) = &step.content_type {
        request = header(
            request,
            "Content-Type",
            content_type,
            shell_quote(&format!("Content-Type: {content_type}")),
        );
    }
    Ok(Built {
        request,
        url,
        curl: curl.join(" "),
    })
}

/// Percent-encodes a path segment or a query component (RFC 3986 unreserved stay as they are;
/// `[]` stay readable in query keys like `include[]`).
fn encode(text: &str, query: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b'[' | b']' if query => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments_and_query_components() {
        assert_eq!(encode("conv_1", false), "conv_1");
        assert_eq!(encode("a b/c", false), "a%20b%2Fc");
        assert_eq!(encode("include[]", true), "include[]");
        assert_eq!(encode("é", true), "%C3%A9");
    }

    #[test]
    fn retry_after_reads_milliseconds_then_seconds_and_is_bounded() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, reqwest::header::HeaderValue::from_static(value));
            }
            map
        };
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250"), ("retry-after", "3")])),
            Duration::from_millis(250)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2")])),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "9999")])),
            MAX_RETRY_AFTER
        );
        assert_eq!(retry_after(&headers(&[])), Duration::from_secs(1));
    }

    #[test]
    fn a_created_id_is_read_from_an_answer_that_is_not_strict_json() {
        let bodies: [&[u8]; 3] = [
            br#"{"id": "conv_1", "created_at": 1e400}"#,
            b"{\"id\": \"conv_1\", \"metadata\": {\"k\": \"\xff\"}}",
            br#"{"metadata": {"k": "\ud800"}, "id" : "conv_1"}"#,
        ];
        for body in bodies {
            assert!(serde_json::from_slice::<Value>(body).is_err());
            assert_eq!(loose_string_field(body, "id").as_deref(), Some("conv_1"));
        }
        assert_eq!(loose_string_field(b"{}", "id"), None);
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
