//! What one case came to, as the reports show it: its findings with their verdicts, its
//! requests, every text redacted; and the names JUnit and the annotations give it.

use super::root_cause::root_cause_key;
use crate::case::Broken;
use crate::case_result::CaseResult;
use crate::expectation::Expectations;
use crate::place::Place;
use crate::spec::Level;
use crate::verdict::{Blocked, FindingKind, Observation, Verdict};
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CaseReport {
    pub id: String,
    pub file: String,
    pub requirement: Option<String>,
    pub level: Option<Level>,
    pub verdict: Verdict,
    pub duration: Duration,
    pub findings: Vec<FindingReport>,
    pub observations: Vec<Observation>,
    pub requests: Vec<RequestReport>,
    pub notes: Vec<String>,
    /// The full message of its findings (the test's failure message when it failed).
    pub message: Option<String>,
    /// The case file did not load: why.
    pub error: Option<Broken>,
    /// Why it did not run (`ignore:` in the case).
    pub skipped: Option<String>,
    /// Requirements whose checks ran in this case.
    pub checked: BTreeSet<String>,
    /// The requirement whose set-up step failed, and the step.
    pub blocked: Option<Blocked>,
    /// Why the case got no answer to judge.
    pub inconclusive: Option<String>,
    /// Resources the cleanup could not delete.
    pub left_behind: Vec<String>,
}

/// A request of the case as the reports show it: its texts written out and redacted.
#[derive(Debug, Clone)]
pub struct RequestReport {
    pub label: String,
    pub at: Place,
    pub request_line: String,
    pub curl: String,
    pub status: Option<u16>,
    /// The start of the answer's body.
    pub answer: Option<String>,
    pub elapsed: Duration,
}

#[derive(Debug, Clone)]
pub struct FindingReport {
    /// `UPD-03 MUST`, `target` or `snapshot`.
    pub tag: String,
    pub requirement: Option<String>,
    pub level: Level,
    pub kind: FindingKind,
    pub summary: String,
    pub details: Vec<String>,
    /// Where the step it belongs to is written.
    pub at: Option<Place>,
    /// The request line of that step.
    pub request: Option<String>,
    /// `fail`, `warn`, `info` or `known-failure`.
    pub verdict: Verdict,
    /// The reason of the expectation that excuses it.
    pub known: Option<String>,
    /// Its root cause's key: the same in every case for the same defect.
    pub cause: String,
}

pub(super) fn case_report(
    result: &CaseResult,
    strict: bool,
    expectations: Option<&Expectations>,
    catalogue: &crate::spec::Catalogue,
    redact: &dyn Fn(&str) -> String,
) -> CaseReport {
    let outcome = &result.outcome;
    let findings = outcome
        .findings
        .iter()
        .enumerate()
        .map(|(index, f)| {
            let step = f.step.and_then(|i| outcome.steps.get(i));
            let known = result
                .excused
                .get(index)
                .copied()
                .flatten()
                .and_then(|entry| expectations.and_then(|e| e.entries.get(entry)));
            let verdict = if known.is_some() {
                Verdict::KnownFailure
            } else if f.fails(strict) {
                Verdict::Fail
            } else if f.warns(strict) {
                Verdict::Warn
            } else {
                Verdict::Info
            };
            FindingReport {
                tag: f.tag(),
                requirement: f.requirement.clone(),
                level: f.level,
                kind: f.kind,
                summary: redact(&f.summary),
                details: f.details.iter().map(|d| redact(d)).collect(),
                at: step.map(|s| s.at.clone()),
                request: step.map(|s| redact(&s.request_line)),
                verdict,
                known: known.map(|e| redact(&e.reason)),
                cause: redact(&root_cause_key(f, catalogue)),
            }
        })
        .collect();
    CaseReport {
        id: result.id.clone(),
        file: result.file.clone(),
        requirement: result.requirement.clone(),
        level: result.level,
        verdict: result.verdict(strict),
        duration: outcome.elapsed,
        findings,
        observations: outcome
            .observations
            .iter()
            .map(|o| Observation {
                requirement: o.requirement.clone(),
                value: redact(&o.value),
            })
            .collect(),
        requests: outcome
            .steps
            .iter()
            .map(|s| RequestReport {
                label: s.label.clone(),
                at: s.at.clone(),
                request_line: redact(&s.request_line),
                curl: redact(&s.curl_text()),
                status: s.status,
                answer: s.answer_text().map(|a| redact(&a)),
                elapsed: s.elapsed,
            })
            .collect(),
        notes: outcome.notes.iter().map(|n| redact(n)).collect(),
        message: result.message.as_deref().map(redact),
        error: result.broken.as_ref().map(|b| Broken {
            error: redact(&b.error),
            ..b.clone()
        }),
        skipped: result.skipped.as_deref().map(redact),
        checked: outcome.checked.clone(),
        blocked: outcome.blocked.clone(),
        inconclusive: outcome.inconclusive.as_deref().map(redact),
        left_behind: outcome.left_behind.iter().map(|n| redact(n)).collect(),
    }
}

/// The case's folder under the cases root, dotted (`conversations.update`), and the rest of
/// its id (`keeps_identity`, or `rejects_non_string_values/boolean` for a row).
pub fn class_and_name(case: &CaseReport) -> (String, String) {
    let mut parts: Vec<&str> = case.file.split('/').collect();
    parts.pop();
    let root = if parts.is_empty() {
        String::new()
    } else {
        parts.remove(0).to_string()
    };
    let folder = parts.join("/");
    match case
        .id
        .strip_prefix(folder.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(name) if !folder.is_empty() => (parts.join("."), name.to_string()),
        _ if root.is_empty() => ("conformance".into(), case.id.clone()),
        _ => (root, case.id.clone()),
    }
}

/// Cases and findings to build tests on.
#[cfg(test)]
pub(super) mod sample {
    use super::*;

    pub(crate) fn case(id: &str, file: &str) -> CaseReport {
        CaseReport {
            id: id.into(),
            file: file.into(),
            requirement: Some("UPD-03".into()),
            level: Some(Level::Must),
            verdict: Verdict::Pass,
            duration: Duration::ZERO,
            findings: Vec::new(),
            observations: Vec::new(),
            requests: Vec::new(),
            notes: Vec::new(),
            message: None,
            error: None,
            skipped: None,
            checked: BTreeSet::new(),
            blocked: None,
            inconclusive: None,
            left_behind: Vec::new(),
        }
    }

    pub(crate) fn finding(requirement: &str, verdict: Verdict) -> FindingReport {
        FindingReport {
            tag: String::new(),
            requirement: Some(requirement.into()),
            level: Level::Must,
            kind: FindingKind::Requirement,
            summary: String::new(),
            details: Vec::new(),
            at: None,
            request: None,
            verdict,
            known: None,
            cause: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sample::case;
    use super::*;

    #[test]
    fn classes_are_case_folders_and_names_the_rest() {
        let named = |id: &str, file: &str| class_and_name(&case(id, file));
        assert_eq!(
            named(
                "conversations/update/keeps_identity",
                "cases/conversations/update/keeps_identity.yaml"
            ),
            ("conversations.update".into(), "keeps_identity".into())
        );
        assert_eq!(
            named(
                "conversations/update/rejects/boolean",
                "cases/conversations/update/rejects.yaml"
            ),
            ("conversations.update".into(), "rejects/boolean".into())
        );
        assert_eq!(
            named("create", "cases/create.yaml"),
            ("cases".into(), "create".into())
        );
    }
}
