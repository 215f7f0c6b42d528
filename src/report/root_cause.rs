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
    /// Where its first step is written.
    pub at: Option<crate::place::Place>,
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
    let operation = crate::check::operation_status(&cause);
    let requirement = matches!(
        (&f.requirement, f.kind),
        (Some(_), crate::verdict::FindingKind::Requirement)
    );
    let rule = f
        .requirement
        .as_deref()
        .map(|id| catalogue.rule_of(id))
        .filter(|rule| Some(*rule) != f.requirement.as_deref());
    match (requirement, operation, rule) {
        // A map of strings stored changed is one defect of the store, whichever requirement's
        // check saw it; each of those requirements is still red.
        (true, _, _) if cause.starts_with(crate::check::stored::STORED) => cause,
        // An operation that is not served (404, 405), or a 5xx of one, is one defect of it,
        // whichever requirement's step met it, at any level; each of those requirements is
        // still red. A 5xx where a rule owes a status is one on any operation of the rule.
        (true, Some((operation, got)), rule) if !got.starts_with('5') || rule.is_none() => {
            format!("operation | status {operation} got {got}")
        }
        // One rule broken alike on rows of several levels (a deleted conversation still
        // answered: DEL-02 MUST, a second delete DEL-03 SHOULD) is one defect too.
        (true, _, Some(rule)) => {
            let cause = crate::check::rule_cause(&cause);
            format!("{rule} | {cause}")
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
            // A defect met at several levels (an operation not served to a MUST step and a
            // SHOULD probe) is shown by its worst finding.
            if f.verdict > cause.verdict {
                cause.tag.clone_from(&f.tag);
                cause.summary.clone_from(&f.summary);
                cause.detail = f.details.first().cloned();
                cause.at.clone_from(&f.at);
                cause.verdict = f.verdict;
            }
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

    fn catalogue() -> crate::spec::Catalogue {
        let row = |id: &str, rule: Option<&str>| {
            let rule = rule.map(|r| format!(", rule: {r}")).unwrap_or_default();
            format!("  - {{id: {id}, level: MUST, area: a, source: s, text: t{rule}}}\n")
        };
        let text = [
            row("UPD-06", Some("metadata-limits")),
            row("CRE-05", Some("metadata-limits")),
            row("RET-02", Some("unknown-conversation")),
            row("UPD-14", Some("unknown-conversation")),
            row("UPD-10", None),
        ]
        .concat();
        crate::spec::Catalogue::parse("requirements.yaml", &format!("requirements:\n{text}"))
            .unwrap()
    }

    /// A MUST finding of `requirement` with `cause`, as the report keys it.
    fn keyed(catalogue: &crate::spec::Catalogue, requirement: &str, cause: &str) -> FindingReport {
        let f = crate::verdict::Finding {
            requirement: Some(requirement.into()),
            level: crate::spec::Level::Must,
            kind: crate::verdict::FindingKind::Requirement,
            summary: String::new(),
            details: Vec::new(),
            step: None,
            cause: Some(cause.into()),
        };
        FindingReport {
            tag: f.tag(),
            cause: root_cause_key(&f, catalogue),
            ..finding(requirement, Verdict::Fail)
        }
    }

    #[test]
    fn a_map_stored_changed_is_one_root_cause_whichever_requirement_saw_it() {
        let catalogue = catalogue();
        let keyed = |requirement: &str, cause: &str| keyed(&catalogue, requirement, cause);
        let cut = "stored metadata answered with values cut short";
        let cases = vec![
            CaseReport {
                findings: vec![keyed("CRE-05", cut), keyed("UPD-06", cut)],
                ..case("limits", "cases/limits.yaml")
            },
            CaseReport {
                findings: vec![
                    keyed("GEN-09", cut),
                    // Another change, and a store read back changed: other defects.
                    keyed("GEN-09", "stored metadata answered with values trimmed"),
                    keyed("UPD-03", "stored metadata read back without pairs sent"),
                ],
                ..case("probe", "cases/probe.yaml")
            },
        ];
        let mut listed: Vec<(String, Vec<String>)> = root_causes(&cases)
            .into_iter()
            .map(|c| (c.key, c.requirements))
            .collect();
        listed.sort();
        let ids = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
        assert_eq!(
            listed,
            [
                (cut.to_string(), ids(&["CRE-05", "GEN-09", "UPD-06"])),
                (
                    "stored metadata answered with values trimmed".into(),
                    ids(&["GEN-09"])
                ),
                (
                    "stored metadata read back without pairs sent".into(),
                    ids(&["UPD-03"])
                ),
            ]
        );
    }

    #[test]
    fn a_5xx_of_one_operation_is_one_root_cause_whichever_requirement_met_it() {
        let catalogue = catalogue();
        let keyed = |requirement: &str, cause: &str| keyed(&catalogue, requirement, cause);
        let cases = vec![
            CaseReport {
                findings: vec![
                    keyed("DER-01", "status getResponse got 500"),
                    keyed("DER-02", "status listInputItems got 500"),
                ],
                ..case("derived", "cases/derived.yaml")
            },
            CaseReport {
                findings: vec![
                    keyed("RSP-14", "status getResponse got 500"),
                    keyed("GEN-05", "no-5xx getResponse 500"),
                    // Another status, and a 4xx: other defects.
                    keyed("RSP-14", "status getResponse got 503"),
                    keyed("RSP-14", "status expected 2xx got 400"),
                ],
                ..case("retrieve", "cases/retrieve.yaml")
            },
            // An operation not served is one defect too, whatever level its steps have (a
            // SHOULD probe met it first), shown at its worst.
            CaseReport {
                findings: vec![
                    FindingReport {
                        verdict: Verdict::Warn,
                        tag: "GEN-04 SHOULD".into(),
                        ..keyed("GEN-04", "status getResponse got 404")
                    },
                    keyed("RSP-06", "status getResponse got 404"),
                ],
                ..case("unserved", "cases/unserved.yaml")
            },
        ];
        let causes = root_causes(&cases);
        let mut listed: Vec<(&str, Vec<&str>)> = causes
            .iter()
            .map(|c| {
                let ids = c.requirements.iter().map(String::as_str).collect();
                (c.key.as_str(), ids)
            })
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            [
                ("RSP-14 MUST | status expected 2xx got 400", vec!["RSP-14"]),
                (
                    "operation | status getResponse got 404",
                    vec!["GEN-04", "RSP-06"]
                ),
                (
                    "operation | status getResponse got 500",
                    vec!["DER-01", "GEN-05", "RSP-14"]
                ),
                ("operation | status getResponse got 503", vec!["RSP-14"]),
                ("operation | status listInputItems got 500", vec!["DER-02"]),
            ]
        );
        let unserved = causes
            .iter()
            .find(|c| c.key == "operation | status getResponse got 404")
            .unwrap();
        assert_eq!(unserved.requirements, ["GEN-04", "RSP-06"]);
        assert_eq!(
            (unserved.verdict, unserved.tag.as_str()),
            (Verdict::Fail, "GEN-04, RSP-06 MUST")
        );
        assert_eq!(
            causes
                .iter()
                .find(|c| c.requirements.len() == 3)
                .unwrap()
                .tag,
            "DER-01, GEN-05, RSP-14 MUST"
        );
    }

    #[test]
    fn one_rule_broken_on_several_rows_is_one_root_cause_listing_them_and_nothing_else_is() {
        let catalogue = catalogue();
        let keyed = |requirement: &str, cause: &str| keyed(&catalogue, requirement, cause);
        let not_enforced = "status expected 4xx got 200";
        let cases = vec![
            CaseReport {
                findings: vec![keyed("UPD-06", not_enforced)],
                ..case("update", "cases/update.yaml")
            },
            CaseReport {
                findings: vec![
                    keyed("CRE-05", not_enforced),
                    // Another defect of the same rule: another cause.
                    keyed("CRE-05", "cause a value of a wrong type"),
                ],
                ..case("create", "cases/create.yaml")
            },
            // The same cause under another rule, and under a row of no rule.
            CaseReport {
                findings: vec![keyed("RET-02", not_enforced), keyed("UPD-10", not_enforced)],
                ..case("other", "cases/other.yaml")
            },
            // A 5xx of one rule on two operations is one defect.
            CaseReport {
                findings: vec![
                    keyed("RET-02", "status getConversation got 500"),
                    keyed("UPD-14", "status updateConversation got 500"),
                    keyed("UPD-10", "status updateConversation got 500"),
                ],
                ..case("five", "cases/five.yaml")
            },
        ];
        let causes = root_causes(&cases);
        let listed: Vec<(&str, Vec<&str>)> = causes
            .iter()
            .map(|c| {
                let ids = c.requirements.iter().map(String::as_str).collect();
                (c.key.as_str(), ids)
            })
            .collect();
        assert_eq!(
            listed,
            [
                (
                    "metadata-limits | status expected 4xx got 200",
                    vec!["CRE-05", "UPD-06"]
                ),
                (
                    "metadata-limits | cause a value of a wrong type",
                    vec!["CRE-05"]
                ),
                (
                    "unknown-conversation | status got 500",
                    vec!["RET-02", "UPD-14"]
                ),
                (
                    "unknown-conversation | status expected 4xx got 200",
                    vec!["RET-02"]
                ),
                ("UPD-10 MUST | status expected 4xx got 200", vec!["UPD-10"]),
                (
                    "operation | status updateConversation got 500",
                    vec!["UPD-10"]
                ),
            ]
        );
        let both = &causes[0];
        assert_eq!(both.tag, "CRE-05, UPD-06 MUST");
        assert_eq!(both.requirement.as_deref(), Some("CRE-05"));
        assert_eq!((both.count, both.cases.len()), (2, 2));
        assert_eq!(causes[4].tag, "UPD-10 MUST");
    }

    #[test]
    fn a_rule_is_named_by_several_rows_and_is_no_requirement_id() {
        let parse = |rows: &str| {
            crate::spec::Catalogue::parse("requirements.yaml", &format!("requirements:\n{rows}"))
        };
        let row = |id: &str, rule: &str| {
            format!("  - {{id: {id}, level: MUST, area: a, source: s, text: t, rule: {rule}}}\n")
        };
        let alone = parse(&row("UPD-06", "metadata-limits"))
            .unwrap_err()
            .to_string();
        assert!(
            alone.contains("UPD-06 is the only row of rule `metadata-limits`"),
            "{alone}"
        );
        let id = parse(&[row("UPD-06", "UPD-07"), row("UPD-07", "UPD-07")].concat())
            .unwrap_err()
            .to_string();
        assert!(id.contains("rule `UPD-07` is a requirement ID"), "{id}");
        assert!(parse(&[row("UPD-06", "limits"), row("CRE-05", "limits")].concat()).is_ok());
    }
}
