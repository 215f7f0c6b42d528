//! Runs one case against the target: for each step, build the request, send it, read the
//! answer, run the implicit checks, capture, run the expectations, observe. A gating failure
//! (no answer, wrong status, nothing to capture) ends the steps; cleanup always runs.
//!
//! The step loop is here; `request` builds a step's request and its curl line, `transport`
//! sends it and reads the answer, `cleanup` deletes what the case created; the checks of a
//! step are `check::check_step`.

mod cleanup;
mod curl;
mod request;
mod transport;

pub use cleanup::changed_without_cleanup;
pub use curl::Curl;
pub(crate) use request::Fixed;
pub use transport::describe_error;

use crate::case::{Body, Case, Step};
use crate::check::{self, Response};
use crate::snapshot::SnapshotRequest;
use crate::spec::{Level, Spec};
use crate::target::Target;
use crate::template::Vars;
use crate::verdict::{CaseOutcome, Finding, FindingKind};
use cleanup::{cleanup, record_created, record_made_up, Created};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use transport::send;

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
    let models = [
        ("model", target.config.model.as_str()),
        (
            "embedding_model",
            target
                .config
                .embedding_model
                .as_deref()
                .unwrap_or(&target.config.model),
        ),
    ];
    for (name, model) in models {
        vars.entry(name.to_owned())
            .or_insert_with(|| Value::from(model));
    }
    for step in case.steps.iter() {
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
        let step_start = outcome.findings.len();
        // The dialect follows the operation the step resolves to, named or by path.
        let is_chat = check::step_operation(step, spec).map(|o| o.id.as_str())
            == Some(crate::chat::OPERATION);
        let mut stream = None;
        // An answer with a status the step does not expect is that defect alone: an error
        // answered 200 is no broken stream, and a stream where an error was due is judged as
        // a stream, not as a JSON answer.
        let stream_due = |response: &Response| {
            let is_stream = response.content_type().is_some_and(|t| {
                t.split(';')
                    .next()
                    .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
            });
            let expected = step.expect.status.as_ref();
            is_stream || expected.is_none_or(|codes| codes.contains(&response.status))
        };
        let mut response = match response {
            Ok(response) if step.stream && response.status < 300 && stream_due(&response) => {
                let snapshot = crate::snapshot::of_stream(&String::from_utf8_lossy(&response.body));
                let (response, incomplete) = if is_chat {
                    chat_streamed(spec, step, response, &mut outcome, index)
                } else {
                    streamed(spec, response, &mut outcome, index)
                };
                stream = Some((snapshot, incomplete));
                response
            }
            Ok(response) => {
                if is_chat && response.status == 200 {
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
        let operation = check::step_operation(step, spec);
        for pointer in check::schemas(spec, operation, response.status) {
            if spec.needs_compiling(&pointer) {
                let spec = Arc::clone(spec);
                let _ = tokio::task::spawn_blocking(move || spec.prepare_validator(&pointer)).await;
            }
        }
        let findings_before = outcome.findings.len();
        // Only an incomplete stream's symptoms need what was checked before this answer.
        let checked_before = matches!(stream, Some((_, true))).then(|| outcome.checked.clone());
        let gate = check::check_step(step, spec, &mut response, &mut vars, &mut outcome, index);
        if let Some(checked_before) = &checked_before {
            symptoms_of_the_stream(&mut outcome, step_start, findings_before, checked_before);
        }
        let mut of_this_answer = outcome.findings.split_off(step_start);
        crate::verdict::fold_one_answer(&mut of_this_answer);
        outcome.findings.append(&mut of_this_answer);
        if response.status < 300 {
            record_created(step, spec, &response, created);
            record_made_up(step, spec, &response, &vars, created);
        }
        let step_clean = outcome.findings[step_start..].is_empty();
        if let (Some(redactions), true) = (&step.snapshot, step_clean) {
            // A streamed answer is snapshotted as its events, not as the answer they make.
            let body = match &stream {
                Some((events, _)) => Some(events),
                None => response.json_value(),
            };
            if let Some(body) = body {
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

/// When a stream check found the answer the stream stands for incomplete, what the step's
/// own checks then find wrong with it (`findings[own..]`) follows from that defect: each is
/// reported under the stream finding's requirement and root cause, and a requirement judged
/// only through such a finding is no longer counted as checked.
fn symptoms_of_the_stream(
    outcome: &mut CaseOutcome,
    stream_start: usize,
    own: usize,
    checked_before: &std::collections::BTreeSet<String>,
) {
    let Some(root) = outcome.findings[stream_start..own]
        .iter()
        .find(|f| f.kind == FindingKind::Requirement)
        .cloned()
    else {
        return;
    };
    let mut unjudged = Vec::new();
    let symptoms = outcome.findings[own..]
        .iter_mut()
        .filter(|f| f.kind == FindingKind::Requirement);
    for finding in symptoms {
        if finding.requirement != root.requirement {
            unjudged.extend(
                finding
                    .requirement
                    .replace(root.requirement.clone().unwrap_or_default()),
            );
            finding.level = root.level;
        }
        finding.cause.clone_from(&root.cause);
        finding.summary = format!(
            "{} (follows from the stream's defect above)",
            finding.summary
        );
    }
    for id in unjudged {
        if !checked_before.contains(&id) {
            outcome.checked.remove(&id);
        }
    }
}

/// Checks a streamed answer event by event and answers the terminal event's `response` as the
/// step's JSON answer, so that the operation's schema, captures and matchers apply to it; and
/// whether there was none (what is judged on the stand-in then follows from that).
fn streamed(
    spec: &Spec,
    response: Response,
    outcome: &mut CaseOutcome,
    index: usize,
) -> (Response, bool) {
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
    let incomplete = checked.response.is_none();
    let body = checked
        .response
        .map(|r| serde_json::to_vec(&r).unwrap_or_default())
        .unwrap_or_default();
    (json_stand_in(&response, body), incomplete)
}

/// The JSON answer a stream stands for: the stream's status and headers, with `body` as
/// `application/json`.
fn json_stand_in(response: &Response, body: Vec<u8>) -> Response {
    let mut headers = response.headers.clone();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    Response::new(response.status, headers, body)
}

/// Checks a streamed chat completion chunk by chunk and answers the completion the chunks put
/// together as the step's JSON answer, for captures and matchers (its schema is the chunks'),
/// and whether a broken frame or delta left it incomplete.
fn chat_streamed(
    spec: &Spec,
    step: &Step,
    response: Response,
    outcome: &mut CaseOutcome,
    index: usize,
) -> (Response, bool) {
    let content_type = response.content_type().unwrap_or("").to_owned();
    let include_usage = matches!(&step.body, Body::Json(body)
        if body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true)));
    let checked = crate::chat::check_stream(
        spec,
        &content_type,
        &String::from_utf8_lossy(&response.body),
        include_usage,
    );
    let incomplete = checked.incomplete;
    note_checked(
        spec,
        crate::chat::STREAM_CHECKS,
        checked.findings,
        outcome,
        index,
    );
    let Some(completion) = checked.completion else {
        return (json_stand_in(&response, Vec::new()).assembled(), incomplete);
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
    (json_stand_in(&response, body).assembled(), incomplete)
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
