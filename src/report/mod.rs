//! What a run found, for people and for CI: the summary after libtest's output and the reports
//! written on request (JUnit XML, a JSON document, a Markdown conformance matrix, GitHub
//! Actions annotations). All of them render one [`Report`], built once after the run from the
//! harness's results; every text in it is already redacted.

pub mod badge;
pub mod github;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod summary;
pub mod write;

use crate::case_result::CaseResult;
use crate::expectation::Expectations;
use crate::secret::Secrets;
use crate::spec::{Level, Spec};
use crate::verdict::{Blocked, FindingKind, Observation, StepRecord, Verdict};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// One run, ready to render.
#[derive(Debug, Clone)]
pub struct Report {
    pub suite_version: &'static str,
    pub spec_version: String,
    pub spec_hash: String,
    pub target: TargetInfo,
    pub strict: bool,
    /// Every case was selected (no filter, no `--skip`): only then can an expectation be stale.
    pub complete: bool,
    pub started: SystemTime,
    pub finished: SystemTime,
    /// Sorted by id.
    pub cases: Vec<CaseReport>,
    /// Every requirement of the catalogue, by id.
    pub requirements: Vec<RequirementReport>,
    pub expectations: Option<ExpectationsReport>,
    /// Run-wide notes (snapshots skipped, TLS not verified).
    pub notes: Vec<String>,
    /// Each defect once: identical findings of many cases, worst first.
    pub root_causes: Vec<RootCause>,
    /// How the target held up: retries, stalls, inconclusive cases.
    pub degraded: Degraded,
}

/// Identical findings (same requirement and cause) of one or more cases.
#[derive(Debug, Clone)]
pub struct RootCause {
    /// `UPD-03 MUST`, `target`, `inconclusive`...
    pub tag: String,
    pub requirement: Option<String>,
    pub verdict: Verdict,
    /// The summary of its first finding, for one line.
    pub summary: String,
    /// Its first finding's first detail line (the schema error, the body), if any.
    pub detail: Option<String>,
    pub key: String,
    /// Findings it stands for.
    pub count: usize,
    /// Cases with it, by id, each once.
    pub cases: Vec<String>,
    /// Their case files, each once.
    pub files: Vec<String>,
    /// `file:line:col` of its first step.
    pub at: Option<String>,
}

/// A run the target did not answer smoothly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Degraded {
    pub retries: usize,
    pub stalls: usize,
    pub inconclusive: usize,
    /// The fewest cases run at a time after backing off (0: never lowered).
    pub lowest_concurrency: usize,
}

impl Degraded {
    pub fn is_degraded(&self) -> bool {
        self.retries + self.stalls + self.inconclusive + self.lowest_concurrency > 0
    }

    /// One line for the top of every report.
    pub fn line(&self) -> String {
        let mut parts = vec![
            counted(self.inconclusive, "inconclusive case"),
            counted(self.retries, "retried request"),
            counted(self.stalls, "stall"),
        ];
        if self.lowest_concurrency > 0 {
            parts.push(format!(
                "concurrency lowered to {} case{} at a time",
                self.lowest_concurrency,
                if self.lowest_concurrency == 1 {
                    ""
                } else {
                    "s"
                }
            ));
        }
        format!(
            "degraded run: the target did not answer smoothly ({}); inconclusive cases are not conformance failures",
            parts.join(", ")
        )
    }
}

/// `1 case`, `2 cases`.
pub fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// What makes findings the same defect: the requirement (or kind) and the cause; a finding
/// without a cause stands for itself by its summary with numbers and quoted text left out.
fn root_cause_key(f: &crate::verdict::Finding) -> String {
    let cause = f.cause.clone().unwrap_or_else(|| {
        let mut out = String::new();
        let mut quoted = false;
        for c in f.summary.chars() {
            match c {
                '`' => {
                    quoted = !quoted;
                    out.push(c);
                }
                _ if quoted => {}
                '0'..='9' => {
                    if !out.ends_with('#') {
                        out.push('#');
                    }
                }
                _ => out.push(c),
            }
        }
        out
    });
    format!("{} | {cause}", f.tag())
}

/// Says why a requirement is not met, in one line, and which case files show it.
fn explain(r: &mut RequirementReport, causes: &[RootCause], cases: &[CaseReport]) {
    let Some(verdict) = r.verdict else { return };
    let mine: Vec<&RootCause> = causes
        .iter()
        .filter(|c| c.requirement.as_deref() == Some(r.id.as_str()) && c.verdict == verdict)
        .collect();
    let of_it = || cases.iter().filter(|c| r.cases.contains(&c.id));
    match verdict {
        Verdict::Fail | Verdict::Warn | Verdict::KnownFailure if !mine.is_empty() => {
            let more = if mine.len() > 1 {
                format!(" (+{} more)", counted(mine.len() - 1, "root cause"))
            } else {
                String::new()
            };
            r.reason = Some(format!("{}{more}", mine[0].summary));
            for c in &mine {
                for file in &c.files {
                    if !r.files.contains(file) {
                        r.files.push(file.clone());
                    }
                }
            }
        }
        Verdict::Blocked => {
            let mut by: Vec<String> = Vec::new();
            for case in of_it() {
                if let Some(b) = &case.blocked {
                    if !by.contains(&b.by) {
                        by.push(b.by.clone());
                    }
                    if !r.files.contains(&case.file) {
                        r.files.push(case.file.clone());
                    }
                }
            }
            r.reason = Some(format!("blocked by {}", by.join(", ")));
        }
        Verdict::Inconclusive => {
            let first = of_it().find_map(|c| {
                c.inconclusive
                    .as_ref()
                    .map(|why| (why.clone(), c.file.clone()))
            });
            if let Some((why, file)) = first {
                r.reason = Some(format!("inconclusive: {why}"));
                r.files.push(file);
            }
        }
        _ => {}
    }
}

fn root_causes(cases: &[CaseReport]) -> Vec<RootCause> {
    let mut causes: Vec<RootCause> = Vec::new();
    for case in cases {
        for f in &case.findings {
            let found = causes.iter_mut().find(|c| c.key == f.cause);
            let cause = match found {
                Some(cause) => cause,
                None => {
                    causes.push(RootCause {
                        tag: f.tag.clone(),
                        requirement: f.requirement.clone(),
                        verdict: f.verdict,
                        summary: f.summary.clone(),
                        detail: f.details.first().cloned(),
                        key: f.cause.clone(),
                        count: 0,
                        cases: Vec::new(),
                        files: Vec::new(),
                        at: f.at.clone(),
                    });
                    causes.last_mut().expect("just pushed")
                }
            };
            cause.count += 1;
            cause.verdict = cause.verdict.max(f.verdict);
            if !cause.cases.contains(&case.id) {
                cause.cases.push(case.id.clone());
            }
            if !cause.files.contains(&case.file) {
                cause.files.push(case.file.clone());
            }
        }
    }
    causes.sort_by(|a, b| {
        b.verdict
            .cmp(&a.verdict)
            .then(a.requirement.cmp(&b.requirement))
            .then(b.count.cmp(&a.count))
    });
    causes
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TargetInfo {
    /// The base URL without user, password or query; `reference` for the embedded reference
    /// server.
    pub url: String,
    /// --target-name.
    pub name: Option<String>,
    /// TLS certificates were not verified.
    pub insecure: bool,
}

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
    pub requests: Vec<StepRecord>,
    pub notes: Vec<String>,
    /// The full message of its findings (the test's failure message when it failed).
    pub message: Option<String>,
    /// The case file did not load: why.
    pub error: Option<String>,
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

#[derive(Debug, Clone)]
pub struct FindingReport {
    /// `UPD-03 MUST`, `target` or `snapshot`.
    pub tag: String,
    pub requirement: Option<String>,
    pub level: Level,
    pub kind: FindingKind,
    pub summary: String,
    pub details: Vec<String>,
    /// `file:line:col` of the step it belongs to.
    pub at: Option<String>,
    /// The request line of that step.
    pub request: Option<String>,
    /// `fail`, `warn`, `info` or `known-failure`.
    pub verdict: Verdict,
    /// The reason of the expectation that excuses it.
    pub known: Option<String>,
    /// Its root cause's key: the same in every case for the same defect.
    pub cause: String,
}

#[derive(Debug, Clone)]
pub struct RequirementReport {
    pub id: String,
    pub level: Level,
    /// The API it belongs to: the reports group by it ([`Report::apis`]).
    pub api: String,
    pub area: String,
    pub text: String,
    /// `None`: no case selected checked it.
    pub verdict: Option<Verdict>,
    pub cases: Vec<String>,
    /// Why, in one line, when it is not met: its root cause, what blocked it, or why it is
    /// inconclusive.
    pub reason: Option<String>,
    /// The case files behind that reason, each once.
    pub files: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ExpectationsReport {
    pub file: String,
    pub entries: Vec<EntryReport>,
}

#[derive(Debug, Clone)]
pub struct EntryReport {
    pub id: String,
    pub reason: String,
    pub expires: Option<String>,
    pub at: String,
    pub line: usize,
    pub status: EntryStatus,
    /// Cases whose findings it excused.
    pub cases: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// It excused at least one finding.
    Used,
    /// A complete run found nothing for it to excuse.
    Stale,
    /// Its date is past.
    Expired,
    /// The run did not select what it covers.
    Unchecked,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Used => "used",
            EntryStatus::Stale => "stale",
            EntryStatus::Expired => "expired",
            EntryStatus::Unchecked => "unchecked",
        }
    }
}

impl EntryReport {
    /// What fails the run because of this entry, if anything.
    pub fn problem(&self) -> Option<String> {
        match self.status {
            EntryStatus::Stale => Some(format!(
                "stale expectation: remove it: `{}` is listed as a known failure, but every case it covers passes",
                self.id
            )),
            EntryStatus::Expired => Some(format!(
                "expired expectation: `{}` expired on {}: fix the failure or move the date",
                self.id,
                self.expires.as_deref().unwrap_or("?")
            )),
            EntryStatus::Used | EntryStatus::Unchecked => None,
        }
    }
}

/// How a level of the catalogue fared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Score {
    pub total: usize,
    /// Passed (for INFO: observed).
    #[serde(rename = "pass")]
    pub passed: usize,
    #[serde(rename = "fail")]
    pub failed: usize,
    #[serde(rename = "warn")]
    pub warned: usize,
    #[serde(rename = "known-failure")]
    pub known: usize,
    pub skipped: usize,
    #[serde(rename = "not-run")]
    pub not_run: usize,
    pub blocked: usize,
    pub inconclusive: usize,
}

/// What the harness hands over after the run.
pub struct Inputs<'a> {
    pub spec: &'a Spec,
    pub results: &'a [CaseResult],
    pub expectations: Option<&'a Expectations>,
    pub secrets: &'a Secrets,
    pub target: TargetInfo,
    pub strict: bool,
    pub complete: bool,
    pub started: SystemTime,
    pub finished: SystemTime,
    pub notes: Vec<String>,
    /// Retries, stalls and back-offs the run needed.
    pub degraded: Degraded,
}

impl Report {
    pub fn build(inputs: Inputs<'_>) -> Self {
        let redact = |s: &str| inputs.secrets.redact(s);
        let mut cases: Vec<CaseReport> = inputs
            .results
            .iter()
            .map(|r| case_report(r, inputs.strict, inputs.expectations, &redact))
            .collect();
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        let requirements = inputs
            .spec
            .catalogue
            .iter()
            .map(|requirement| {
                let mut verdict = None;
                let mut ids = Vec::new();
                for case in &cases {
                    if let Some(v) = contribution(&requirement.id, requirement.level, case) {
                        verdict = verdict.max(Some(v));
                        ids.push(case.id.clone());
                    }
                }
                RequirementReport {
                    id: requirement.id.clone(),
                    level: requirement.level,
                    api: requirement.api.clone(),
                    area: requirement.area.clone(),
                    text: requirement.text.clone(),
                    verdict,
                    cases: ids,
                    reason: None,
                    files: Vec::new(),
                }
            })
            .collect();
        let causes = root_causes(&cases);
        let mut requirements: Vec<RequirementReport> = requirements;
        for r in &mut requirements {
            explain(r, &causes, &cases);
        }
        let expectations = inputs.expectations.map(|expectations| {
            expectations_report(expectations, inputs.results, inputs.complete, &redact)
        });
        Report {
            suite_version: env!("CARGO_PKG_VERSION"),
            spec_version: inputs.spec.version.clone(),
            spec_hash: inputs.spec.hash.clone(),
            target: TargetInfo {
                url: redact(&inputs.target.url),
                ..inputs.target
            },
            strict: inputs.strict,
            complete: inputs.complete,
            started: inputs.started,
            finished: inputs.finished,
            requirements,
            expectations,
            notes: inputs.notes.iter().map(|n| redact(n)).collect(),
            root_causes: causes,
            degraded: Degraded {
                inconclusive: cases
                    .iter()
                    .filter(|c| c.verdict == Verdict::Inconclusive)
                    .count(),
                ..inputs.degraded
            },
            cases,
        }
    }

    /// Resources the cleanup could not delete, over every case.
    pub fn left_behind(&self) -> Vec<&str> {
        self.cases
            .iter()
            .flat_map(|c| c.left_behind.iter().map(String::as_str))
            .collect()
    }

    /// One line: the verdict of the run and its MUST score.
    pub fn verdict_line(&self) -> String {
        let failed = self
            .requirements
            .iter()
            .filter(|r| r.verdict == Some(Verdict::Fail))
            .count();
        let must = self
            .scores()
            .into_iter()
            .find(|(level, _)| *level == Level::Must)
            .map(|(_, s)| s)
            .unwrap_or_default();
        let verdict = if failed > 0 {
            format!("FAIL: {} not met", counted(failed, "requirement"))
        } else if self.degraded.inconclusive > 0 {
            "INCONCLUSIVE: no conformance failure, but some cases got no answer to judge".into()
        } else {
            "PASS".into()
        };
        format!(
            "{verdict}; MUST {}/{}; {}",
            must.passed,
            must.total,
            counted(
                self.root_causes
                    .iter()
                    .filter(|c| c.verdict == Verdict::Fail)
                    .count(),
                "root cause"
            )
        )
    }

    /// The APIs of the catalogue, by name, with what every endpoint owes
    /// ([`crate::spec::GENERAL_API`]) last.
    pub fn apis(&self) -> Vec<&str> {
        let general = crate::spec::GENERAL_API;
        let mut apis: Vec<&str> = self.requirements.iter().map(|r| r.api.as_str()).collect();
        apis.sort_unstable_by_key(|api| (*api == general, *api));
        apis.dedup();
        apis
    }

    /// The score of each level, MUST first.
    pub fn scores(&self) -> Vec<(Level, Score)> {
        [Level::Must, Level::Should, Level::Info]
            .into_iter()
            .map(|level| {
                let mut score = Score::default();
                for r in self.requirements.iter().filter(|r| r.level == level) {
                    score.total += 1;
                    match r.verdict {
                        None => score.not_run += 1,
                        Some(Verdict::Pass | Verdict::Info) => score.passed += 1,
                        Some(Verdict::Fail) => score.failed += 1,
                        Some(Verdict::Warn) => score.warned += 1,
                        Some(Verdict::KnownFailure) => score.known += 1,
                        Some(Verdict::Skipped) => score.skipped += 1,
                        Some(Verdict::Blocked) => score.blocked += 1,
                        Some(Verdict::Inconclusive) => score.inconclusive += 1,
                    }
                }
                (level, score)
            })
            .collect()
    }

    /// What fails the run besides the tests: stale and expired expectations.
    pub fn expectation_problems(&self) -> Vec<(&EntryReport, String)> {
        self.expectations
            .iter()
            .flat_map(|e| &e.entries)
            .filter_map(|entry| entry.problem().map(|p| (entry, p)))
            .collect()
    }

    pub fn requirement(&self, id: &str) -> Option<&RequirementReport> {
        self.requirements.iter().find(|r| r.id == id)
    }

    pub fn duration(&self) -> Duration {
        self.finished
            .duration_since(self.started)
            .unwrap_or_default()
    }
}

fn case_report(
    result: &CaseResult,
    strict: bool,
    expectations: Option<&Expectations>,
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
                cause: redact(&root_cause_key(f)),
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
            .map(|s| StepRecord {
                request_line: redact(&s.request_line),
                curl: redact(&s.curl),
                answer: s.answer.as_deref().map(redact),
                ..s.clone()
            })
            .collect(),
        notes: outcome.notes.iter().map(|n| redact(n)).collect(),
        message: result.message.as_deref().map(redact),
        error: result.broken.as_deref().map(redact),
        skipped: result.skipped.as_deref().map(redact),
        checked: outcome.checked.clone(),
        blocked: outcome.blocked.clone(),
        inconclusive: outcome.inconclusive.as_deref().map(redact),
        left_behind: outcome.left_behind.iter().map(|n| redact(n)).collect(),
    }
}

/// What one case says about one requirement, if it says anything: the worst of the findings
/// attributed to the requirement; otherwise met if its checks ran; otherwise, for the case's
/// own requirement, the case's verdict (a case that ended before its checks ran proves
/// nothing).
fn contribution(id: &str, level: Level, case: &CaseReport) -> Option<Verdict> {
    let own = case.requirement.as_deref() == Some(id);
    let checked = case.checked.contains(id);
    let worst_finding = case
        .findings
        .iter()
        .filter(|f| f.requirement.as_deref() == Some(id))
        .map(|f| f.verdict)
        .max();
    if !own && !checked && worst_finding.is_none() {
        return None;
    }
    let met = if level == Level::Info {
        Verdict::Info
    } else {
        Verdict::Pass
    };
    Some(match worst_finding {
        _ if case.verdict == Verdict::Skipped => Verdict::Skipped,
        Some(v) if v >= Verdict::Warn => v,
        _ if checked => met,
        // The case's own checks did not run: say why, never fail it for another's defect.
        _ if case.blocked.is_some() => Verdict::Blocked,
        _ if case.inconclusive.is_some() => Verdict::Inconclusive,
        _ => case.verdict.max(met),
    })
}

fn expectations_report(
    expectations: &Expectations,
    results: &[CaseResult],
    complete: bool,
    redact: &dyn Fn(&str) -> String,
) -> ExpectationsReport {
    let entries = expectations
        .entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let ran = results.iter().filter(|r| r.skipped.is_none());
            let covered: Vec<&CaseResult> = ran
                .filter(|r| {
                    if entry.is_requirement {
                        r.requirement.as_deref() == Some(entry.id.as_str())
                            || r.outcome.checked.contains(&entry.id)
                            || r.outcome
                                .findings
                                .iter()
                                .any(|f| f.requirement.as_deref() == Some(entry.id.as_str()))
                    } else {
                        entry.names_case(&r.id)
                    }
                })
                .collect();
            let used: Vec<String> = covered
                .iter()
                .filter(|r| r.excused.contains(&Some(index)))
                .map(|r| r.id.clone())
                .collect();
            let status = if entry.expired {
                if complete || !covered.is_empty() {
                    EntryStatus::Expired
                } else {
                    EntryStatus::Unchecked
                }
            } else if !used.is_empty() {
                EntryStatus::Used
            } else if complete && !covered.is_empty() {
                EntryStatus::Stale
            } else {
                EntryStatus::Unchecked
            };
            EntryReport {
                id: entry.id.clone(),
                reason: redact(&entry.reason),
                expires: entry.expires.map(|d| d.to_string()),
                at: entry.at.clone(),
                line: entry.line,
                status,
                cases: used,
            }
        })
        .collect();
    ExpectationsReport {
        file: expectations.file.clone(),
        entries,
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

/// `file` and `line` of a `file:line:col` location.
pub fn file_and_line(at: &str) -> Option<(&str, usize)> {
    let mut parts = at.rsplitn(3, ':');
    let _col: usize = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    Some((parts.next()?, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, file: &str) -> CaseReport {
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

    fn finding(requirement: &str, verdict: Verdict) -> FindingReport {
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

    #[test]
    fn identical_findings_of_many_cases_are_one_root_cause_worst_first() {
        let with = |id: &str, findings: Vec<FindingReport>| CaseReport {
            findings,
            ..case(id, &format!("cases/{id}.yaml"))
        };
        let keyed = |requirement: &str, verdict: Verdict, key: &str| FindingReport {
            cause: key.into(),
            ..finding(requirement, verdict)
        };
        let cases = vec![
            with("a", vec![keyed("GEN-02", Verdict::Fail, "envelope")]),
            with(
                "b",
                vec![
                    keyed("GEN-02", Verdict::Fail, "envelope"),
                    keyed("GEN-02", Verdict::Fail, "envelope"),
                    keyed("GEN-03", Verdict::Warn, "param"),
                ],
            ),
        ];
        let causes = root_causes(&cases);
        assert_eq!(causes.len(), 2);
        assert_eq!(causes[0].key, "envelope");
        assert_eq!((causes[0].count, causes[0].cases.len()), (3, 2));
        assert_eq!(causes[0].files, ["cases/a.yaml", "cases/b.yaml"]);
        assert_eq!(causes[1].verdict, Verdict::Warn);
    }

    #[test]
    fn a_blocked_case_never_fails_its_own_requirement() {
        let mut blocked = case("a", "cases/a.yaml");
        blocked.verdict = Verdict::Fail;
        blocked.findings.push(finding("CRE-01", Verdict::Fail));
        blocked.blocked = Some(Blocked {
            by: "CRE-01".into(),
            step: "step 1 (create)".into(),
        });
        assert_eq!(
            contribution("UPD-03", Level::Must, &blocked),
            Some(Verdict::Blocked)
        );
        assert_eq!(
            contribution("CRE-01", Level::Must, &blocked),
            Some(Verdict::Fail)
        );
        let mut inconclusive = case("b", "cases/b.yaml");
        inconclusive.verdict = Verdict::Inconclusive;
        inconclusive.inconclusive = Some("step 1: timeout".into());
        assert_eq!(
            contribution("UPD-03", Level::Must, &inconclusive),
            Some(Verdict::Inconclusive)
        );
    }

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

    #[test]
    fn locations_split_into_file_and_line() {
        assert_eq!(
            file_and_line("cases/a:b.yaml:12:5"),
            Some(("cases/a:b.yaml", 12))
        );
        assert_eq!(file_and_line("cases/a.yaml"), None);
    }

    #[test]
    fn a_requirement_is_judged_by_its_findings_then_by_whether_its_checks_ran() {
        let mut own = case("a", "cases/a.yaml");
        // Its checks never ran and the case failed (the target could not be reached).
        own.verdict = Verdict::Fail;
        assert_eq!(
            contribution("UPD-03", Level::Must, &own),
            Some(Verdict::Fail)
        );
        // Its checks ran and found nothing; another requirement failed the case.
        own.checked.insert("UPD-03".into());
        own.findings.push(finding("GEN-05", Verdict::Fail));
        assert_eq!(
            contribution("UPD-03", Level::Must, &own),
            Some(Verdict::Pass)
        );
        assert_eq!(
            contribution("GEN-05", Level::Must, &own),
            Some(Verdict::Fail)
        );
        assert_eq!(contribution("UPD-09", Level::Should, &own), None);
        // A matcher attributed to another requirement ran in this case.
        own.checked.insert("UPD-09".into());
        own.findings.push(finding("UPD-09", Verdict::KnownFailure));
        assert_eq!(
            contribution("UPD-09", Level::Should, &own),
            Some(Verdict::KnownFailure)
        );
        own.checked.insert("UPD-04".into());
        assert_eq!(
            contribution("UPD-04", Level::Info, &own),
            Some(Verdict::Info)
        );
        own.verdict = Verdict::Skipped;
        assert_eq!(
            contribution("UPD-03", Level::Must, &own),
            Some(Verdict::Skipped)
        );
    }
}
