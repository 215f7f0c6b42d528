//! What running a case found, and what it means: a MUST finding fails the test, a SHOULD
//! finding warns (fails with `--strict`), INFO observations are reported, never judged.
//!
//! Findings of many cases are one root cause when they are identical: the same requirement
//! (or the same rule, where rows of the catalogue state one rule on different operations: see
//! [`crate::spec::Requirement::rule`]) and the same [`Finding::cause`], which names the check
//! and what it saw, never the case:
//! - a status: the classes expected and the status that came back (`status expected 4xx got
//!   200`, whether 404 or 400 or 404 was owed), on any operation: a requirement's rule broken
//!   the same way on retrieve and delete is one defect; a 5xx names its operation instead, and
//!   where the step owes a status it is that status's finding, not GEN-05's as well;
//! - a schema error: the object whose schema broke (its component), the path in it (array
//!   positions as `*`) and the keyword, wherever the object is answered (create, list, retrieve);
//! - a matcher: the field (array positions as `*`, and the `data[*]` of an answer that is a list
//!   left out, so the role of a stored message is the same field in a list and a retrieve), what
//!   the matcher asks (`equals`, `type`...) and the kind of value seen (`string`, `null`,
//!   nothing); or the rule the matcher's `cause` names (a page's ids and its length after a
//!   cursor: `after` is applied), and a step's `cause` comes with its status likewise (a wrong
//!   type accepted is another defect than a limit not enforced);
//! - a 5xx: the operation and the status (one 5xx on two operations can be two bugs), whichever
//!   requirement's step met it (one root cause listing them); the error object: the check and
//!   the paths that failed, on any operation.
//!
//! - a check of a stream: the rule broken, not the event or chunk it was seen on nor the
//!   values seen there.
//!
//! Distinct fields, checks, statuses or kinds of value are distinct root causes, so two defects
//! are never one. One answer is not several defects of one requirement: its findings under a
//! requirement are the first one, the others in its details ([`fold_one_answer`]); and a step
//! that sends a value an earlier answer got wrong finds that answer's defect again. A step
//! does not restate what it already found: when its status is not the
//! one asked for, the schema of the answer it got is not judged again under its requirement;
//! when the answer is another object altogether (its `object` broke the schema), the fields
//! any requirement checks of it are not reported one by one, and the case goes no further.

use crate::spec::Level;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

/// Something a check found wrong.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The requirement broken; `None` for what is not a requirement (the target could not be
    /// reached, a snapshot changed, a capture found nothing to capture).
    pub requirement: Option<String>,
    pub level: Level,
    pub kind: FindingKind,
    /// One line: what was checked and how it failed.
    pub summary: String,
    /// Indented detail lines: expected, actual, schema errors, diff.
    pub details: Vec<String>,
    /// Index into [`CaseOutcome::steps`] of the step it belongs to.
    pub step: Option<usize>,
    /// What makes it the same defect as a finding of another case (with the requirement: its
    /// root cause): the check, the operation or object, the path and the kind of value seen.
    /// `None`: the summary stands for it.
    pub cause: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    Requirement,
    /// Unusable answers (a redirect, a compressed or oversized body), a harness failure:
    /// always fail.
    Target,
    /// No answer to judge (a timeout, a reset, retries exhausted): never a conformance
    /// failure; the case is inconclusive.
    Inconclusive,
    /// A snapshot differs: a regression, kept apart from conformance verdicts.
    Snapshot,
}

/// The request a step sent, for messages and reports.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub label: String,
    pub at: crate::place::Place,
    pub request_line: String,
    pub curl: crate::run::Curl,
    pub status: Option<u16>,
    /// The answer's body as it came, for the HTML report (which shows its start, redacted).
    pub answer: Option<bytes::Bytes>,
    pub elapsed: Duration,
}

/// How much of an answer's body a report shows.
const SHOWN: usize = 4096;

impl StepRecord {
    /// Keeps of the answer what [`StepRecord::answer_text`] shows, and that it goes on, not
    /// the whole body until the report is written.
    pub fn keep_shown_answer(&mut self) {
        if let Some(body) = self.answer.as_mut().filter(|b| b.len() > SHOWN + 1) {
            *body = bytes::Bytes::copy_from_slice(&body[..=SHOWN]);
        }
    }

    /// The curl command that reproduces the request, escaped for a terminal.
    pub fn curl_text(&self) -> String {
        self.curl.text(&self.at)
    }

    /// The start of the answer's body as text (a report shows no more of it).
    pub fn answer_text(&self) -> Option<String> {
        let body = self.answer.as_ref()?;
        let mut text = String::from_utf8_lossy(&body[..body.len().min(SHOWN)]).into_owned();
        if body.len() > SHOWN {
            text.push_str("\n…");
        }
        Some(text)
    }
}

#[derive(Debug, Clone)]
pub struct Observation {
    pub requirement: String,
    pub value: String,
}

#[derive(Debug, Clone, Default)]
pub struct CaseOutcome {
    pub findings: Vec<Finding>,
    pub observations: Vec<Observation>,
    pub steps: Vec<StepRecord>,
    /// Things worth saying that are not findings (a cleanup that failed, a skipped snapshot).
    pub notes: Vec<String>,
    /// Resources the case created that the harness deleted when it ended.
    pub cleaned_up: usize,
    pub elapsed: Duration,
    /// Requirements whose checks ran (the status and schema of a step, its matchers, its
    /// observation), passed or not: a requirement with no finding is met only if it is here.
    pub checked: BTreeSet<String>,
    /// A set-up step owned by another requirement failed, so the case's own checks could not
    /// run.
    pub blocked: Option<Blocked>,
    /// Why the case got no answer to judge (transport), when it did not.
    pub inconclusive: Option<String>,
    /// Resources the cleanup could not delete: `DELETE /conversations/conv_...`.
    pub left_behind: Vec<String>,
    /// Where a matcher found a step's answer wrong: the step, the requirement and the
    /// instance path (`/data/*/id`), so that a later step sending that value is read as
    /// finding the same defect again.
    pub wrong_at: Vec<(usize, String, String)>,
    /// Where each variable was captured: the step and the instance path (`` for the whole
    /// answer).
    pub captured_at: std::collections::BTreeMap<String, (usize, String)>,
}

/// Which requirement kept a case from checking its own, and at which step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub by: String,
    pub step: String,
}

/// What a case, or a requirement over its cases, came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Ordered from least to most telling: aggregating keeps the maximum.
    Skipped,
    /// No answer to judge: transport trouble, not the server's conformance.
    Inconclusive,
    /// Another requirement's failure kept its checks from running.
    Blocked,
    Pass,
    Info,
    Warn,
    KnownFailure,
    Fail,
}

impl Verdict {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Skipped => "skipped",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Blocked => "blocked",
            Verdict::Pass => "pass",
            Verdict::Info => "info",
            Verdict::Warn => "warn",
            Verdict::KnownFailure => "known-failure",
            Verdict::Fail => "fail",
        }
    }
}

impl Finding {
    pub fn fails(&self, strict: bool) -> bool {
        match self.kind {
            FindingKind::Target | FindingKind::Snapshot => true,
            FindingKind::Inconclusive => false,
            FindingKind::Requirement => match self.level {
                Level::Must => true,
                Level::Should => strict,
                Level::Info => false,
            },
        }
    }

    pub fn warns(&self, strict: bool) -> bool {
        !self.fails(strict) && self.level == Level::Should
    }

    /// `UPD-03 MUST` or `target` / `snapshot` / `inconclusive`.
    pub fn tag(&self) -> String {
        match (&self.requirement, self.kind) {
            (_, FindingKind::Inconclusive) => "inconclusive".into(),
            (Some(id), _) => format!("{id} {}", self.level),
            (None, FindingKind::Snapshot) => "snapshot".into(),
            (None, _) => "target".into(),
        }
    }
}

/// Findings of one answer under one requirement by one kind of check are one defect: the
/// first, in the order the step checks, is the finding and stands for the root cause; the
/// others become its details, counted. The values a case checks (its matchers) are one kind,
/// the shape of an object (the schema) another, each check of a stream its own: a list that
/// lacks `first_id` and tells a wrong `has_more` is two defects. Findings of other
/// requirements, and what is not a requirement's finding, stay as they are. `findings` are
/// those of one step's answer.
pub fn fold_one_answer(findings: &mut Vec<Finding>) {
    // The check a cause names (`match ...`, `absent ...`, a map `stored ...` changed, a
    // `cause ...` the case names: the case's matchers; a status is checked before them).
    fn check(f: &Finding) -> Option<&str> {
        match f.cause.as_deref().and_then(|c| c.split(' ').next()) {
            Some("absent" | "stored" | "cause") => Some("match"),
            other => other,
        }
    }
    let mut kept: Vec<(Finding, usize)> = Vec::with_capacity(findings.len());
    for finding in findings.drain(..) {
        let same_defect = |k: &Finding| {
            finding.kind == FindingKind::Requirement
                && k.kind == FindingKind::Requirement
                && k.requirement == finding.requirement
                && k.level == finding.level
                && check(k) == check(&finding)
        };
        match kept.iter_mut().find(|(k, _)| same_defect(k)) {
            Some((first, folded)) => {
                *folded += 1;
                first
                    .details
                    .push(format!("also on this answer: {}", finding.summary));
                first
                    .details
                    .extend(finding.details.into_iter().map(|d| format!("  {d}")));
            }
            None => kept.push((finding, 0)),
        }
    }
    findings.extend(kept.into_iter().map(|(mut finding, folded)| {
        if folded > 0 {
            let _ = write!(
                finding.summary,
                " (and {folded} more finding{} of this answer, below)",
                if folded == 1 { "" } else { "s" }
            );
        }
        finding
    }));
}

impl CaseOutcome {
    pub fn failed(&self, strict: bool) -> bool {
        self.findings.iter().any(|f| f.fails(strict))
    }

    /// Escapes every text of the outcome ([`crate::untrusted::escape`]): findings, notes,
    /// observations and the requests shown hold what the target answered.
    pub fn escape_target_text(&mut self) {
        use crate::untrusted::escape;
        let escape_all = |texts: &mut Vec<String>| {
            for text in texts.iter_mut() {
                *text = escape(text);
            }
        };
        for finding in &mut self.findings {
            finding.summary = escape(&finding.summary);
            escape_all(&mut finding.details);
        }
        escape_all(&mut self.notes);
        for observation in &mut self.observations {
            observation.value = escape(&observation.value);
        }
        for step in &mut self.steps {
            // The curl command is escaped when it is written.
            step.request_line = escape(&step.request_line);
        }
    }

    /// True when no request of the case reached the target.
    pub fn unreachable(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.status.is_none())
    }

    /// The failure message of a test: every finding with its step, the request, a command
    /// that reproduces it, and what was expected against what came back. `known[i]` marks a
    /// finding the target's expectations excuse.
    pub fn render(&self, file: &str, strict: bool, known: &[bool]) -> String {
        let mut out = String::new();
        let mut last_step = None;
        for (index, finding) in self.findings.iter().enumerate() {
            if finding.step != last_step || last_step.is_none() {
                if !out.is_empty() {
                    out.push('\n');
                }
                match finding.step.and_then(|i| self.steps.get(i)) {
                    Some(step) => {
                        let _ = writeln!(out, "--> {} {}", step.at, step.label);
                        let _ = writeln!(out, "    request: {}", step.request_line);
                        let _ = writeln!(out, "    reproduce: {}", step.curl_text());
                    }
                    None => {
                        let _ = writeln!(out, "--> {file}");
                    }
                }
                last_step = finding.step;
            }
            let verdict = if known.get(index).copied().unwrap_or(false) {
                " (known failure)"
            } else if finding.fails(strict) || finding.kind == FindingKind::Inconclusive {
                ""
            } else {
                " (warning)"
            };
            let _ = writeln!(out, "  {}{verdict}: {}", finding.tag(), finding.summary);
            for line in &finding.details {
                let _ = writeln!(out, "      {line}");
            }
        }
        if let Some(blocked) = &self.blocked {
            let _ = writeln!(
                out,
                "\nblocked by {}: the step `{}` failed, so this case's own checks did not run",
                blocked.by, blocked.step
            );
        }
        out.trim_end().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(requirement: Option<&str>, kind: FindingKind, summary: &str) -> Finding {
        Finding {
            requirement: requirement.map(str::to_owned),
            level: Level::Must,
            kind,
            summary: summary.into(),
            details: vec![format!("detail of {summary}")],
            step: Some(0),
            cause: Some(summary.into()),
        }
    }

    #[test]
    fn the_findings_of_one_requirement_on_one_answer_are_its_first_with_the_others_counted() {
        let requirement = |id, cause| finding(Some(id), FindingKind::Requirement, cause);
        let mut findings = vec![
            requirement("ITM-04", "match data[*].id equals string"),
            requirement("GEN-02", "error-envelope /error required"),
            requirement("ITM-04", "schema ConversationItemList /first_id required"),
            requirement("ITM-04", "match has_more equals boolean"),
            finding(None, FindingKind::Target, "redirect"),
            requirement("ITM-04", "absent data[9]"),
        ];
        fold_one_answer(&mut findings);
        let kept: Vec<(Option<&str>, Option<&str>)> = findings
            .iter()
            .map(|f| (f.requirement.as_deref(), f.cause.as_deref()))
            .collect();
        // Another requirement's finding, another kind of check of the same requirement (the
        // shape against the values), and what is no requirement's, stay their own.
        assert_eq!(
            kept,
            [
                (Some("ITM-04"), Some("match data[*].id equals string")),
                (Some("GEN-02"), Some("error-envelope /error required")),
                (
                    Some("ITM-04"),
                    Some("schema ConversationItemList /first_id required")
                ),
                (None, Some("redirect")),
            ]
        );
        let first = &findings[0];
        assert!(first
            .summary
            .ends_with("(and 2 more findings of this answer, below)"));
        let also = "also on this answer: match has_more equals boolean".to_owned();
        assert!(first.details.contains(&also), "{:?}", first.details);
        let detail = "  detail of absent data[9]".to_owned();
        assert!(first.details.contains(&detail), "{:?}", first.details);
        // One finding alone is left as it is.
        let mut alone = vec![requirement("ITM-04", "match has_more equals boolean")];
        fold_one_answer(&mut alone);
        assert_eq!(alone[0].summary, "match has_more equals boolean");
        assert_eq!(
            alone[0].details,
            ["detail of match has_more equals boolean"]
        );
    }

    #[test]
    fn a_report_keeps_the_start_of_a_long_answer_and_says_it_goes_on() {
        let mut step = StepRecord {
            label: "step".into(),
            at: crate::place::Place::Schema("#/x".into()),
            request_line: "GET /x".into(),
            curl: crate::run::Curl::Dropped,
            status: Some(200),
            answer: Some(bytes::Bytes::from("é".repeat(SHOWN))),
            elapsed: Duration::ZERO,
        };
        let whole = step.answer_text().unwrap();
        step.keep_shown_answer();
        assert_eq!(step.answer.as_ref().unwrap().len(), SHOWN + 1);
        assert_eq!(step.answer_text().unwrap(), whole);
        assert!(whole.ends_with("é\n…") && whole.chars().count() == SHOWN / 2 + 2);

        step.answer = Some(bytes::Bytes::from_static(b"{}"));
        step.keep_shown_answer();
        assert_eq!(step.answer_text().unwrap(), "{}");
    }
}
