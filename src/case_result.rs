//! What one test found, and the verdict it comes to: the one policy every report and the exit
//! code read.

use crate::case::Case;
use crate::spec::Level;
use crate::verdict::{CaseOutcome, Verdict};

/// What one test found, kept for the summary and the reports.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub id: String,
    pub file: String,
    pub requirement: Option<String>,
    pub level: Option<Level>,
    pub outcome: CaseOutcome,
    /// The case file did not load: this is why, redacted.
    pub broken: Option<crate::case::Broken>,
    /// The case is ignored and did not run: this is why.
    pub skipped: Option<String>,
    /// For each finding, the expectation entry that excuses it.
    pub excused: Vec<Option<usize>>,
    /// Every finding rendered (the test's failure message when it failed), redacted.
    pub message: Option<String>,
}

impl CaseResult {
    /// A case's result before anything is known of it.
    pub(crate) fn of(case: &Case) -> Self {
        Self {
            id: case.id.clone(),
            file: case.file.clone(),
            requirement: Some(case.requirement.clone()),
            level: Some(case.level),
            outcome: CaseOutcome::default(),
            broken: None,
            skipped: None,
            excused: Vec::new(),
            message: None,
        }
    }

    pub fn verdict(&self, strict: bool) -> Verdict {
        let findings = &self.outcome.findings;
        let excused = |i: usize| self.excused.get(i).copied().flatten().is_some();
        if self.broken.is_some() {
            Verdict::Fail
        } else if self.skipped.is_some() {
            Verdict::Skipped
        } else if (0..findings.len()).any(|i| findings[i].fails(strict) && !excused(i)) {
            Verdict::Fail
        } else if (0..findings.len()).any(excused) {
            Verdict::KnownFailure
        } else if self.outcome.blocked.is_some() {
            Verdict::Blocked
        } else if self.outcome.inconclusive.is_some() {
            Verdict::Inconclusive
        } else if findings.iter().any(|f| f.warns(strict)) {
            Verdict::Warn
        } else if self.level == Some(Level::Info) {
            Verdict::Info
        } else {
            Verdict::Pass
        }
    }
}
