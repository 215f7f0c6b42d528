//! Known failures of one target: a checked-in YAML file (`--expectations FILE`) listing the
//! requirement IDs or case IDs the target is known to fail, each with a reason and optionally
//! a date after which it no longer holds.
//!
//! ```yaml
//! known_failures:
//!   - id: UPD-09                               # a requirement: its findings in every case
//!     reason: error codes arrive with release 2.4
//!     expires: 2026-06-30                      # optional, YYYY-MM-DD; the day after, it fails the run
//!   - id: conversations/update/limits_at_boundary   # a case ID; a folder or a parameterised
//!     reason: multibyte values are counted in bytes  # file covers every case below it
//! ```
//!
//! A finding an entry covers does not fail its test; the case is reported as `known-failure`.
//! An entry that covered nothing in a complete run is stale and fails the run, and so does an
//! expired entry (which excuses nothing).

use crate::date::{Date, NotADate};
use crate::spec::Spec;
use crate::verdict::Finding;
use crate::yaml::{At, YamlError};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::path::Path;

/// Why an expectations file does not load: where, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ExpectationsError {
    #[error("{file}: cannot read the expectations file: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{at}: expires: {source}")]
    Expires { at: At, source: NotADate },
    #[error("{at}: `{id}` has an empty reason: say why the target fails it")]
    NoReason { at: At, id: String },
    #[error(
        "{at}: unknown ID `{id}`: use a requirement ID of specs/requirements.yaml or a case ID \
         (`conformance --list` shows them)"
    )]
    UnknownId { at: At, id: String },
    #[error("{at}: `{id}` is listed twice (first at {first})")]
    Twice { at: At, id: String, first: At },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectationsFile {
    known_failures: Vec<EntryFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    id: Spanned<String>,
    reason: Spanned<String>,
    #[serde(default)]
    expires: Option<Spanned<String>>,
}

/// The loaded file.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// The path as given, for messages and reports.
    pub file: String,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub reason: String,
    pub expires: Option<Date>,
    /// Its expiry date is past: it excuses nothing and fails the run.
    pub expired: bool,
    /// Where its `id` is written.
    pub at: At,
    /// A requirement ID; otherwise a case ID (or a folder of cases).
    pub is_requirement: bool,
}

impl Entry {
    /// Whether the entry names this case, itself or through a folder or parameterised file.
    pub fn names_case(&self, case_id: &str) -> bool {
        !self.is_requirement
            && case_id
                .strip_prefix(self.id.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// Whether the entry excuses this finding of this case (expired entries excuse nothing).
    fn excuses(&self, case_id: &str, finding: &Finding) -> bool {
        !self.expired
            && if self.is_requirement {
                finding.requirement.as_deref() == Some(self.id.as_str())
            } else {
                self.names_case(case_id)
            }
    }
}

impl Expectations {
    /// Loads and checks the file: every ID must be a requirement of the catalogue or name a
    /// case (`case_ids`, or anything under a case file left `unread`); errors point at
    /// `file:line:col`.
    pub fn load(
        path: &Path,
        spec: &Spec,
        case_ids: &[String],
        unread: &[String],
        today: Date,
    ) -> Result<Self, ExpectationsError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ExpectationsError::Read {
            file: file.clone(),
            source,
        })?;
        let parsed: ExpectationsFile = crate::yaml::parse(&file, &text)?;
        let mut entries: Vec<Entry> = Vec::new();
        for entry in parsed.known_failures {
            let at = At::of(&file, &entry.id.referenced);
            let id = entry.id.value.trim().to_string();
            let is_requirement = spec.catalogue.get(&id).is_some();
            let entry = Entry {
                is_requirement,
                expires: entry
                    .expires
                    .as_ref()
                    .map(|date| {
                        Date::parse(date.value.trim()).map_err(|source| {
                            let at = At::of(&file, &date.referenced);
                            ExpectationsError::Expires { at, source }
                        })
                    })
                    .transpose()?,
                expired: false,
                reason: entry.reason.value.trim().to_string(),
                id,
                at,
            };
            if entry.reason.is_empty() {
                return Err(ExpectationsError::NoReason {
                    at: entry.at,
                    id: entry.id,
                });
            }
            let names_a_case = case_ids.iter().any(|case| entry.names_case(case))
                || unread.iter().any(|file| {
                    entry.names_case(file)
                        || entry
                            .id
                            .strip_prefix(file.as_str())
                            .is_some_and(|row| row.starts_with('/'))
                });
            if !is_requirement && !names_a_case {
                return Err(ExpectationsError::UnknownId {
                    at: entry.at,
                    id: entry.id,
                });
            }
            if let Some(first) = entries.iter().find(|e| e.id == entry.id) {
                return Err(ExpectationsError::Twice {
                    at: entry.at,
                    id: entry.id,
                    first: first.at.clone(),
                });
            }
            entries.push(Entry {
                expired: entry.expires.is_some_and(|date| date < today),
                ..entry
            });
        }
        Ok(Self { file, entries })
    }

    /// For each finding of a case that fails or warns, the entry that excuses it.
    pub fn excuse(&self, case_id: &str, findings: &[Finding], strict: bool) -> Vec<Option<usize>> {
        findings
            .iter()
            .map(|finding| {
                (finding.fails(strict) || finding.warns(strict))
                    .then(|| {
                        self.entries
                            .iter()
                            .position(|entry| entry.excuses(case_id, finding))
                    })
                    .flatten()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Level;
    use crate::verdict::FindingKind;
    use std::path::PathBuf;

    fn spec() -> Spec {
        Spec::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap()
    }

    fn load(text: &str) -> Result<Expectations, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme.yaml");
        std::fs::write(&path, text).unwrap();
        let cases = ["conversations/update/limits/one".to_string()];
        let today = Date::parse("2025-06-15").unwrap();
        let unread = ["general/other".to_string()];
        Expectations::load(&path, &spec(), &cases, &unread, today).map_err(|e| {
            e.to_string()
                .replace(&dir.path().display().to_string(), "DIR")
        })
    }

    fn finding(requirement: &str, level: Level) -> Finding {
        Finding {
            requirement: Some(requirement.into()),
            level,
            kind: FindingKind::Requirement,
            summary: String::new(),
            details: Vec::new(),
            step: None,
            cause: None,
        }
    }

    #[test]
    fn entries_excuse_findings_of_their_requirement_or_their_cases() {
        let expectations = load(
            "known_failures:\n- id: UPD-09\n  reason: codes later\n- id: conversations/update/limits\n  reason: bytes\n  expires: 2025-06-15\n",
        )
        .unwrap();
        let findings = [
            finding("UPD-09", Level::Should),
            finding("UPD-03", Level::Must),
            finding("UPD-04", Level::Info),
        ];
        assert_eq!(
            expectations.excuse("conversations/update/limits/one", &findings, false),
            vec![Some(0), Some(1), None]
        );
        assert_eq!(
            expectations.excuse("conversations/update/other", &findings, false),
            vec![Some(0), None, None]
        );
        assert!(!expectations.entries[1].names_case("conversations/update/limitsx"));
    }

    #[test]
    fn an_expired_entry_excuses_nothing() {
        let expectations =
            load("known_failures:\n- id: UPD-03\n  reason: later\n  expires: 2025-06-14\n")
                .unwrap();
        assert!(expectations.entries[0].expired);
        assert_eq!(
            expectations.excuse("x", &[finding("UPD-03", Level::Must)], false),
            vec![None]
        );
    }

    #[test]
    fn load_errors_point_at_the_entry() {
        let errors: Vec<String> = [
            "known_failures:\n- id: UPD-99\n  reason: x\n",
            "known_failures:\n- id: UPD-03\n  reason: x\n  expires: 2025-02-30\n",
            "known_failures:\n- id: UPD-03\n  reason: ''\n",
            "known_failures:\n- id: UPD-03\n  reason: a\n- id: UPD-03\n  reason: b\n",
            "known_failures:\n- id: UPD-03\n  resaon: a\n",
        ]
        .into_iter()
        .map(|text| load(text).unwrap_err())
        .collect();
        insta::assert_snapshot!(errors.join("\n"), @r"
        DIR/acme.yaml:2:7: unknown ID `UPD-99`: use a requirement ID of specs/requirements.yaml or a case ID (`conformance --list` shows them)
        DIR/acme.yaml:4:12: expires: `2025-02-30` is not a date: write it as YYYY-MM-DD
        DIR/acme.yaml:2:7: `UPD-03` has an empty reason: say why the target fails it
        DIR/acme.yaml:4:7: `UPD-03` is listed twice (first at DIR/acme.yaml:2:7)
        DIR/acme.yaml:3:3: unknown field `resaon`, expected one of id, reason, expires
          |
        3 |   resaon: a
          |   ^
        ");
        // A file left unread (a run of one test) still names its rows.
        assert!(load("known_failures:\n- id: general/other/row\n  reason: x\n").is_ok());
        assert!(load("known_failures:\n- id: general/othe\n  reason: x\n").is_err());
    }

    #[test]
    fn the_example_file_loads() {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/expectations.yaml");
        let spec = spec();
        let cases: Vec<String> = crate::case::discover(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases"),
            &spec,
            &|_| true,
        )
        .unwrap()
        .cases
        .into_iter()
        .map(|c| c.map_or_else(|b| b.id, |c| c.id))
        .collect();
        let today = Date::parse("2000-01-01").unwrap();
        let loaded = Expectations::load(&path, &spec, &cases, &[], today).unwrap();
        assert!(!loaded.entries.is_empty());
    }
}
