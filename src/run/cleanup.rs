//! What a case created, deleted when it ends whatever happened.

use super::transport::send;
use crate::case::{Body, Case, Step};
use crate::check::Response;
use crate::spec::unsafe_guard::Allowance;
use crate::spec::Spec;
use crate::target::Target;
use crate::template::{self, Vars};
use crate::verdict::{CaseOutcome, StepRecord};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A resource the case created, to delete when it ends.
#[derive(Debug, Clone)]
pub(super) struct Created {
    operation: String,
    path_params: Vec<(String, Value)>,
}

pub(super) fn record_created(
    step: &Step,
    spec: &Spec,
    response: &Response,
    created: &Mutex<Vec<Created>>,
) {
    let Some(cleanup) = crate::check::step_operation(step, spec).and_then(|op| op.cleanup.as_ref())
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
        remember(created, &cleanup.operation, path_params);
    }
}

/// Adds a resource to delete when the case ends.
fn remember(created: &Mutex<Vec<Created>>, operation: &str, path_params: Vec<(String, Value)>) {
    created
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Created {
            operation: operation.to_owned(),
            path_params,
        });
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
pub(super) fn record_made_up(
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
                Some((name.clone(), value.into_owned()))
            })
            .collect();
        if let Some(path_params) = params.filter(|p| !p.is_empty()) {
            remember(created, &cleanup.operation, path_params);
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
pub(super) async fn cleanup(
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
    for step in case.cleanup.iter() {
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
            at: crate::place::Place::File(crate::yaml::At::file(&case.file)),
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

/// The notes of a case on what it changed through opted-in operations, which no cleanup
/// undoes: one per request that was answered with a 2xx.
pub fn changed_without_cleanup(spec: &Spec, case: &Case, records: &[StepRecord]) -> Vec<String> {
    let mut notes = Vec::new();
    for step in case.steps.iter().chain(case.cleanup.iter()) {
        let op = step.operation.as_deref().and_then(|id| spec.operation(id));
        let Ok(Allowance::OptedIn(id)) = spec.unsafe_allowance(&step.method, op, &step.path) else {
            continue;
        };
        for record in records.iter().filter(|r| r.label == step.label) {
            if let Some(status) = record.status.filter(|s| (200..300).contains(s)) {
                notes.push(format!(
                    "changed, not cleaned up (allowed unsafe: {id}): {} answered {status}",
                    record.request_line
                ));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
