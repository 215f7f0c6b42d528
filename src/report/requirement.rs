//! What the run says of each requirement of the catalogue: the worst of what its cases say,
//! and why, in one line, when it is not met.

use super::{counted, CaseReport, RootCause};
use crate::spec::{Catalogue, Level};
use crate::verdict::Verdict;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone)]
pub struct RequirementReport {
    pub id: String,
    pub level: Level,
    /// The API it belongs to: the reports group by it ([`super::Report::apis`]).
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

/// Every requirement of the catalogue, with the verdict its cases come to.
pub(super) fn requirement_reports(
    catalogue: &Catalogue,
    cases: &[CaseReport],
) -> Vec<RequirementReport> {
    // Each case asked only about the requirements it names, not about every one of the
    // catalogue: at 10,000 cases that is a million questions fewer.
    let mut said: HashMap<&str, (Option<Verdict>, Vec<String>)> = HashMap::new();
    for case in cases {
        let named: BTreeSet<&str> = case
            .requirement
            .iter()
            .chain(&case.checked)
            .chain(case.findings.iter().filter_map(|f| f.requirement.as_ref()))
            .map(String::as_str)
            .collect();
        for id in named {
            let Some(requirement) = catalogue.get(id) else {
                continue;
            };
            if let Some(v) = contribution(id, requirement.level, case) {
                let (verdict, ids) = said.entry(id).or_default();
                *verdict = (*verdict).max(Some(v));
                ids.push(case.id.clone());
            }
        }
    }
    catalogue
        .iter()
        .map(|requirement| {
            let (verdict, ids) = said.remove(requirement.id.as_str()).unwrap_or_default();
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
        .collect()
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

/// Says why a requirement is not met, in one line, and which case files show it.
pub(super) fn explain(r: &mut RequirementReport, causes: &[RootCause], cases: &[CaseReport]) {
    let Some(verdict) = r.verdict else { return };
    let mine: Vec<&RootCause> = causes
        .iter()
        .filter(|c| c.requirements.contains(&r.id) && c.verdict == verdict)
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
            // A rule's root cause lists the cases of every row it breaks: this row's are those
            // that check it.
            for c in &mine {
                for case in cases.iter().filter(|case| c.cases.contains(&case.id)) {
                    if (c.requirements.len() == 1 || r.cases.contains(&case.id))
                        && !r.files.contains(&case.file)
                    {
                        r.files.push(case.file.clone());
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

#[cfg(test)]
mod tests {
    use super::super::case::sample::{case, finding};
    use super::*;
    use crate::verdict::Blocked;

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
