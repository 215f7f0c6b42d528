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
            });
            break;
        }
        let (record, response) = send(step, target, &vars, (&case.id, index)).await;
        outcome.steps.push(record);
        let response = match response {
            Ok(response) => response,
            Err(finding) => {
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
                    }),
                }
            }
        }
        if gate.is_err() {
            break;
        }
    }
    (outcome, snapshots, vars)
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
    for f in check::implicit(spec, operation, response, (&step.requirement, step.level)) {
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
                requirement_finding(
                    &step.requirement,
                    step.level,
                    format!("expected status {want}, got {}", response.status),
                    details,
                ),
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
                    if let Err(m) =
                        check::expect(&selector.to_string(), matcher, selector.find(body), vars)
                    {
                        push(
                            outcome,
                            requirement_finding(
                                &matcher.requirement,
                                matcher.level,
                                m.summary,
                                m.details,
                            ),
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
    let Some(body) = response.json_value() else {
        return;
    };
    let params: Option<Vec<(String, Value)>> = cleanup
        .path_params
        .iter()
        .map(|(name, selector)| {
            crate::selector::Selector::parse(selector)
                .ok()
                .and_then(|s| s.find(body).cloned())
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
        };
        match send(&step, target, &Vars::new(), origin()).await {
            (record, Err(f)) => outcome.notes.push(format!(
                "cleanup: {} failed: {}",
                record.request_line, f.summary
            )),
            // 404: the case deleted it itself.
            (record, Ok(r)) if r.status >= 300 && r.status != 404 => outcome.notes.push(format!(
                "cleanup: {} answered {}",
                record.request_line, r.status
            )),
            (_, Ok(r)) if r.status < 300 => outcome.cleaned_up += 1,
            _ => {}
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
    let timeout = target.config.timeout;
    let mut status = None;
    let mut logged = None;
    let result = async {
        let request = built
            .request
            .build()
            .map_err(|e| describe_error(e, timeout))?;
        if target.request_log.is_some() {
            logged = Some(RequestLog::begin(
                origin.0,
                origin.1,
                &request,
                &target.base_url,
                target.auth_header.as_deref().filter(|_| step.auth),
                &target.secrets,
            ));
        }
        let mut response = target
            .client
            .execute(request)
            .await
            .map_err(|e| describe_error(e, timeout))?;
        status = Some(response.status().as_u16());
        // The answer's own map: nothing reads the response's headers after this.
        let headers = std::mem::take(response.headers_mut());
        if let Some(coding) = content_coding(&headers) {
            return Err(format!(
                "unusable answer: its body is encoded with `Content-Encoding: {coding}`, although \
                 the request asked for none (`Accept-Encoding: identity`); the harness does not decode it"
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| describe_error(e, timeout))?
        {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!(
                    "the body is larger than {} MiB; stopped reading (a Conversations answer is small)",
                    MAX_BODY_BYTES / 1024 / 1024
                ));
            }
            body.extend_from_slice(&chunk);
        }
        // The answer is checked as it came: a secret it echoes is redacted where it is shown
        // (excerpts, messages, reports, snapshots, the request log), never before a check.
        Ok(Response::new(response.status().as_u16(), headers, body))
    }
    .await;
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
    if let (Some(log), Some(entry)) = (&target.request_log, logged) {
        let answer = result.as_ref().ok().map(|r| (r.status, r.body.as_slice()));
        log.finish(entry, answer, &target.secrets);
    }
    match result {
        Ok(response) => (record, Ok(response)),
        Err(e) => (record, Err(target_failure(target.secrets.redact(&e)))),
    }
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
fn describe_error(e: reqwest::Error, timeout: Duration) -> String {
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
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
