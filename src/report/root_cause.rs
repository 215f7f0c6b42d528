//! Each defect once: identical findings of every case, one root cause with its count and its
//! cases. Findings of rows that state one rule on different operations (their `rule` in
//! `specs/requirements.yaml`) are identical when their cause is: one root cause, listing every
//! requirement it breaks.

use super::CaseReport;
use crate::verdict::Verdict;

/// Identical findings (same requirement and cause) of one or more cases.
#[derive(Debug, Clone)]
pub struct RootCause {
    /// `UPD-03 MUST`, `CRE-05, UPD-06 MUST` (a rule broken on several rows), `target`,
    /// `inconclusive`...
    pub tag: String,
    /// The first of `requirements`.
    pub requirement: Option<String>,
    /// Every requirement it breaks, sorted: one unless it is a rule several rows state.
    pub requirements: Vec<String>,
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

/// What makes findings the same defect: the rule its requirement states (the requirement
/// itself, unless a `rule` of the catalogue names it with others) or the kind, and the cause; a
/// finding without a cause stands for itself by its summary with numbers and quoted text left
/// out.
pub(super) fn root_cause_key(
    f: &crate::verdict::Finding,
    catalogue: &crate::spec::Catalogue,
) -> String {
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
    match (&f.requirement, f.kind) {
        (Some(id), crate::verdict::FindingKind::Requirement) if catalogue.rule_of(id) != id => {
            let rule = catalogue.rule_of(id);
            let cause = crate::check::rule_cause(&cause);
            format!("{rule} {} | {cause}", f.level)
        }
        _ => format!("{} | {cause}", f.tag()),
    }
}

pub(super) fn root_causes(cases: &[CaseReport]) -> Vec<RootCause> {
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
                        requirements: Vec::new(),
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
            if let Some(id) = &f.requirement {
                if !cause.requirements.contains(id) {
                    cause.requirements.push(id.clone());
                }
            }
            if !cause.cases.contains(&case.id) {
                cause.cases.push(case.id.clone());
            }
            if !cause.files.contains(&case.file) {
                cause.files.push(case.file.clone());
            }
        }
    }
    for cause in &mut causes {
        cause.requirements.sort();
        cause.requirement = cause.requirements.first().cloned();
        if cause.requirements.len() > 1 {
            // `UPD-06 MUST` becomes `CHT-17, CRE-05, UPD-06 MUST`.
            let level = cause.tag.rsplit(' ').next().unwrap_or_default().to_owned();
            cause.tag = format!("{} {level}", cause.requirements.join(", "));
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

#[cfg(test)]
mod tests {
    use super::super::case::sample::{case, finding};
    use super::super::FindingReport;
    use super::*;

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
}
