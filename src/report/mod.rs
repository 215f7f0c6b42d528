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

mod case;
mod degraded;
mod expectations;
mod requirement;
mod root_cause;
mod score;

pub use case::{class_and_name, CaseReport, FindingReport};
pub use degraded::Degraded;
pub use expectations::{EntryReport, EntryStatus, ExpectationsReport};
pub use requirement::RequirementReport;
pub use root_cause::RootCause;
pub use score::Score;

use crate::case_result::CaseResult;
use crate::expectation::Expectations;
use crate::secret::Secrets;
use crate::spec::{Level, Spec};
use crate::verdict::Verdict;
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
        // Built once the last case is in, while nothing else runs: on every core.
        let mut cases: Vec<CaseReport> = crate::parallel::map(inputs.results, 64, |r| {
            case::case_report(
                r,
                inputs.strict,
                inputs.expectations,
                &inputs.spec.catalogue,
                &redact,
            )
        });
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        let mut requirements = requirement::requirement_reports(&inputs.spec.catalogue, &cases);
        let causes = root_cause::root_causes(&cases);
        for r in &mut requirements {
            requirement::explain(r, &causes, &cases);
        }
        let expectations = inputs.expectations.map(|expectations| {
            expectations::expectations_report(
                expectations,
                inputs.results,
                inputs.complete,
                &redact,
            )
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
        // A server that answers the same id to every create leaves one thing behind, however
        // many cases made it.
        let mut seen = std::collections::HashSet::new();
        self.cases
            .iter()
            .flat_map(|c| c.left_behind.iter().map(String::as_str))
            .filter(|l| seen.insert(*l))
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

    /// What fails the run besides the tests: stale and expired expectations.
    pub fn expectation_problems(&self) -> Vec<(&EntryReport, String)> {
        self.expectations
            .iter()
            .flat_map(|e| &e.entries)
            .filter_map(|entry| entry.problem().map(|p| (entry, p)))
            .collect()
    }

    /// Every INFO observation, with the id of the case that made it.
    pub fn observations(&self) -> Vec<(&str, &crate::verdict::Observation)> {
        self.cases
            .iter()
            .flat_map(|c| c.observations.iter().map(move |o| (c.id.as_str(), o)))
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

/// `1 case`, `2 cases`.
pub fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
