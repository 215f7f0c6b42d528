//! The known failures file as the run used it: per entry, the cases it excused and whether it
//! is used, stale, expired or unchecked.

use crate::case_result::CaseResult;
use crate::expectation::Expectations;
use crate::yaml::At;

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
    pub at: At,
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

pub(super) fn expectations_report(
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
