//! Checks on one response: the implicit ones every answer gets (no 5xx, JSON content type,
//! the spec's schema, the error object, here), the case's own expectations ([`matchers`]),
//! and a step's checks in their order (`step`).

mod cause;
pub mod matchers;
mod step;
pub(crate) mod stored;

pub(crate) use cause::{operation_status, rule_cause};
pub use matchers::expect;
pub(crate) use step::check_step;
pub use step::step_operation;

use crate::spec::{Level, Operation, Spec};
use crate::untrusted::compact;
use crate::verdict::{Finding, FindingKind};
use serde_json::Value;

/// What came back, read and (when it is JSON) parsed once.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
    /// `None`: empty body; `Some(Err)`: not JSON.
    pub json: Option<Result<Value, String>>,
    /// Put together from a stream's parts (see [`Response::assembled`]).
    pub assembled: bool,
}

impl Response {
    pub fn new(
        status: u16,
        headers: reqwest::header::HeaderMap,
        body: impl Into<bytes::Bytes>,
    ) -> Self {
        let body = body.into();
        let json = (!body.iter().all(u8::is_ascii_whitespace)).then(|| {
            serde_json::from_slice(&body).map_err(|e| {
                let text = String::from_utf8_lossy(&body);
                format!(
                    "the body is not JSON ({e}): {}",
                    crate::untrusted::excerpt(&text, 200)
                )
            })
        });
        Self {
            status,
            headers,
            body,
            json,
            assembled: false,
        }
    }

    /// Marks a body the harness put together from a stream, whose schema its parts were
    /// checked against: the answer schema is not applied to it again.
    pub fn assembled(self) -> Self {
        Self {
            assembled: true,
            ..self
        }
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
    }

    pub fn json_value(&self) -> Option<&Value> {
        self.json.as_ref().and_then(|r| r.as_ref().ok())
    }
}

/// The schema errors of a success answer but those at a place where the request sent a value
/// its own schema refuses (a number in `metadata` answered back as sent): a body the answer
/// mirrors (a conversation's metadata) has its paths in both.
fn without_echoes(
    spec: &Spec,
    operation: Option<&Operation>,
    sent: impl Fn() -> Option<Value>,
    errors: Vec<crate::spec::SchemaError>,
) -> Vec<crate::spec::SchemaError> {
    let refused: Vec<String> = operation
        .and_then(|op| op.request_schema.as_deref())
        .zip(sent())
        .and_then(|(pointer, body)| spec.schema_errors(pointer, &body).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.at)
        .filter(|at| at != "/")
        .collect();
    let echoes = |at: &str| {
        refused.iter().any(|r| {
            at == r
                || at
                    .strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    errors.into_iter().filter(|e| !echoes(&e.at)).collect()
}

fn finding(requirement: &str, level: Level, summary: String, details: Vec<String>) -> Finding {
    Finding {
        requirement: Some(requirement.to_string()),
        level,
        kind: FindingKind::Requirement,
        summary,
        details,
        step: None,
        cause: None,
    }
}

/// The checks every answer gets, whatever the case expects, each under the requirement the
/// catalogue says owns it (`owns:`): no 5xx (`check no-5xx`, GEN-05); JSON answers say
/// `application/json` (`check json-content-type`, GEN-01); the response schema of the spec for
/// the operation and status, each error under the owner of the object it lies in (`schema
/// NAME`; `step` when none owns it or the answer is another object altogether); on a 4xx the
/// error object (`check error-envelope`, GEN-02, and `check error-param-code`, GEN-03), and
/// nothing else. A success that answers back a value of the request the request schema refuses
/// (`sent`, the body the step sent) is the acceptance's defect, owned where the case says the
/// value must be refused, not a broken shape of the answer.
pub fn implicit(
    spec: &Spec,
    operation: Option<&Operation>,
    response: &mut Response,
    step: (&str, Level),
    sent: impl Fn() -> Option<Value>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let owner = |check: &str, fallback: &'static str| -> (String, Level) {
        let id = spec.catalogue.owner("check", check).unwrap_or(fallback);
        (
            id.to_string(),
            spec.catalogue.get(id).map_or(Level::Must, |r| r.level),
        )
    };
    let op_name = operation.map_or("(no operation)", |op| op.id.as_str());
    if response.status >= 500 {
        let (id, level) = owner("no-5xx", "GEN-05");
        out.push(Finding {
            cause: Some(format!("no-5xx {op_name} {}", response.status)),
            ..finding(
                &id,
                level,
                format!(
                    "the server answered {} (a 5xx); no request of the suite may",
                    response.status
                ),
                body_excerpt(response),
            )
        });
    }
    if owes_json_content_type(spec, operation, response) {
        let content_type = response.content_type().unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("application/json") {
            let (id, level) = owner("json-content-type", "GEN-01");
            out.push(Finding {
                cause: Some(format!("json-content-type {}", media.to_ascii_lowercase())),
                ..finding(
                    &id,
                    level,
                    format!(
                        "Content-Type is `{content_type}`, expected `application/json` on an answer with a body"
                    ),
                    Vec::new(),
                )
            });
        }
    }
    let is_client_error = (400..500).contains(&response.status);
    // An error object GEN-02 finds broken (or absent) has no `param` or `code` of its own to
    // judge: GEN-03 would only say the same again.
    let mut envelope_broken = false;
    if let Some(pointer) =
        answer_schema(spec, operation, response.status).filter(|_| !response.assembled)
    {
        let (root_id, root_level) = if is_client_error {
            owner("error-envelope", "GEN-02")
        } else {
            (step.0.to_string(), step.1)
        };
        let unreadable = |summary: String, what: &str| Finding {
            cause: Some(format!("schema {op_name} {} {what}", response.status)),
            ..finding(&root_id, root_level, summary, Vec::new())
        };
        match &mut response.json {
            None => out.push(unreadable(
                format!(
                    "the {} answer has no body; the spec declares one",
                    response.status
                ),
                "no body",
            )),
            Some(Err(e)) => out.push(unreadable(
                format!(
                    "the {} answer cannot be checked against the spec: {e}",
                    response.status
                ),
                "not JSON",
            )),
            Some(Ok(body)) => match spec.schema_errors_in_place(&pointer, body) {
                Ok(errors) if errors.is_empty() => {}
                Ok(errors) if is_client_error => {
                    envelope_broken = true;
                    out.push(schema_finding(
                        &root_id,
                        root_level,
                        "error-envelope",
                        response.status,
                        &errors,
                        body,
                        None,
                    ));
                }
                Ok(errors) => {
                    let errors = without_echoes(spec, operation, sent, errors);
                    // An answer that is another object altogether (its `object` is wrong) is
                    // the operation's fault, not a broken shape of the object it should be.
                    let other_object = errors.iter().any(|e| e.at == "/object");
                    let mut by_owner: Vec<(String, Vec<crate::spec::SchemaError>, Vec<String>)> =
                        Vec::new();
                    for error in errors {
                        let owned = spec.owned_object(&pointer, &error.at);
                        // The owned object is the answer itself: its path is the whole path.
                        let at_root = owned
                            .as_ref()
                            .is_none_or(|o| o.path == normalize(&error.at) || error.at == "/");
                        let (id, key) = match owned {
                            Some(o) if !(other_object && at_root) => {
                                let path = o.path.clone();
                                (o.owner, format!("{} {path} {}", o.component, error.keyword))
                            }
                            _ => (
                                step.0.to_string(),
                                format!("{op_name} {} {}", normalize(&error.at), error.keyword),
                            ),
                        };
                        match by_owner.iter_mut().find(|(owner, _, _)| *owner == id) {
                            Some((_, list, keys)) => {
                                list.push(error);
                                keys.push(key);
                            }
                            None => by_owner.push((id, vec![error], vec![key])),
                        }
                    }
                    for (id, errors, keys) in by_owner {
                        let level = if id == step.0 {
                            step.1
                        } else {
                            spec.catalogue.get(&id).map_or(Level::Must, |r| r.level)
                        };
                        let mut keys = keys;
                        keys.sort();
                        keys.dedup();
                        out.push(schema_finding(
                            &id,
                            level,
                            "schema",
                            response.status,
                            &errors,
                            body,
                            Some(keys.join(", ")),
                        ));
                    }
                }
                Err(e) => out.push(Finding {
                    kind: FindingKind::Target,
                    ..finding(&root_id, Level::Must, e, Vec::new())
                }),
            },
        }
    }
    if is_client_error && !envelope_broken {
        if let Some(Ok(body)) = &mut response.json {
            if let Ok(errors) = spec.schema_errors_in_place(ERROR_SCHEMA, body) {
                if !errors.is_empty() {
                    let (id, level) = owner("error-param-code", "GEN-03");
                    let mut f = schema_finding(
                        &id,
                        level,
                        "error-param-code",
                        response.status,
                        &errors,
                        body,
                        None,
                    );
                    f.summary = "the error object lacks `param` or `code` (each a string or null) or another field of the official Error".into();
                    out.push(f);
                }
            }
        }
    }
    out
}

/// Whether the answer's content type is judged (GEN-01, for answers with a JSON body): not on
/// a 4xx whose body is not JSON at all where the error object is owed, which is the error
/// object's finding alone.
pub(crate) fn owes_json_content_type(
    spec: &Spec,
    operation: Option<&Operation>,
    response: &Response,
) -> bool {
    match &response.json {
        None => false,
        Some(Ok(_)) => true,
        Some(Err(_)) => {
            !(400..500).contains(&response.status)
                || answer_schema(spec, operation, response.status).is_none()
        }
    }
}

/// One finding for schema errors of one owner; its cause is the check, the paths (indices as
/// `*`) and the keywords that failed, so the same broken field is one root cause in any case.
fn schema_finding(
    id: &str,
    level: Level,
    check: &str,
    status: u16,
    errors: &[crate::spec::SchemaError],
    body: &Value,
    key: Option<String>,
) -> Finding {
    let cause = key.unwrap_or_else(|| {
        let mut keys: Vec<String> = errors
            .iter()
            .map(|e| format!("{} {}", normalize(&e.at), e.keyword))
            .collect();
        keys.sort();
        keys.dedup();
        keys.join(", ")
    });
    let first = errors
        .first()
        .map(|e| {
            let branch = e
                .branch
                .as_ref()
                .map(|b| format!(" (closest oneOf branch {b})"))
                .unwrap_or_default();
            format!(": at {}{branch}: {} failed", e.at, e.keyword)
        })
        .unwrap_or_default();
    Finding {
        cause: Some(format!("{check} {cause}")),
        ..finding(
            id,
            level,
            format!(
                "the {status} answer does not match its schema in the spec ({} error{}{first})",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
            errors
                .iter()
                .map(crate::spec::SchemaError::line)
                .chain([format!("body: {}", compact(body, 400))])
                .collect(),
        )
    }
}

/// An instance path with array indices as `*`: `/data/*/status`.
pub fn normalize(at: &str) -> String {
    at.split('/')
        .map(|s| if s.parse::<usize>().is_ok() { "*" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The official error object, checked on every 4xx (GEN-03).
const ERROR_SCHEMA: &str = "#/components/schemas/ErrorResponse";

/// The schema an answer with this status must match: the operation's, or on an unknown path
/// (no operation) the error object for a 4xx.
fn answer_schema(spec: &Spec, operation: Option<&Operation>, status: u16) -> Option<String> {
    let schema = operation.and_then(|op| spec.response_schema(op, status));
    schema.or_else(|| {
        (operation.is_none() && (400..500).contains(&status))
            .then(|| "#/components/schemas/ConformanceErrorResponse".to_string())
    })
}

/// Every schema [`implicit`] checks an answer with this status against.
pub fn schemas(spec: &Spec, operation: Option<&Operation>, status: u16) -> Vec<String> {
    let mut schemas: Vec<String> = answer_schema(spec, operation, status).into_iter().collect();
    if (400..500).contains(&status) {
        schemas.push(ERROR_SCHEMA.to_string());
    }
    schemas
}

fn body_excerpt(response: &Response) -> Vec<String> {
    if response.body.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "body: {}",
        crate::untrusted::excerpt(&String::from_utf8_lossy(&response.body), 400)
    )]
}
