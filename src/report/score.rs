//! The score of each level of the catalogue: how many of its requirements pass, fail, warn...

use super::Report;
use crate::spec::Level;
use crate::verdict::Verdict;

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

impl Report {
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
}
