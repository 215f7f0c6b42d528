//! The text after libtest's own summary: root causes, warnings, blocked and inconclusive cases,
//! what was left behind, known failures, observations, notes and the requirements' verdict.

use super::{counted, CaseReport, FindingReport, Report};
use crate::verdict::Verdict;

/// Warnings, known failures, expectation problems, observations and notes, after libtest's
/// own summary.
pub fn summarize(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let findings = |verdict: Verdict| -> Vec<(&str, &FindingReport)> {
        report
            .cases
            .iter()
            .flat_map(|c| c.findings.iter().map(move |f| (c.id.as_str(), f)))
            .filter(|(_, f)| f.verdict == verdict)
            .collect()
    };
    if report.degraded.is_degraded() {
        let _ = writeln!(out, "\n{}", report.degraded.line());
    }
    let grouped = |out: &mut String, verdict: Verdict| {
        for cause in report.root_causes.iter().filter(|c| c.verdict == verdict) {
            let shown: Vec<&str> = cause.cases.iter().take(3).map(String::as_str).collect();
            let _ = writeln!(
                out,
                "    {}: {}   ({} in {}: {}{})",
                cause.tag,
                cause.summary,
                counted(cause.count, "finding"),
                counted(cause.cases.len(), "case"),
                shown.join(", "),
                if cause.cases.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            );
        }
    };
    let failing = report
        .root_causes
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .count();
    if failing > 0 {
        let _ = writeln!(
            out,
            "\n{} {failing} (each defect once; the failed tests above give every detail):",
            crate::colour::paint(crate::colour::RED, "root causes:"),
        );
        grouped(&mut out, Verdict::Fail);
    }
    let warnings = report
        .root_causes
        .iter()
        .filter(|c| c.verdict == Verdict::Warn)
        .count();
    if warnings > 0 {
        let _ = writeln!(
            out,
            "\n{} {warnings} SHOULD root cause{} not met (--strict makes them fail):",
            crate::colour::paint(crate::colour::YELLOW, "warnings:"),
            if warnings == 1 { "" } else { "s" }
        );
        grouped(&mut out, Verdict::Warn);
    }
    let blocked: Vec<&CaseReport> = report
        .cases
        .iter()
        .filter(|c| {
            c.verdict == Verdict::Blocked || (c.blocked.is_some() && c.verdict == Verdict::Fail)
        })
        .collect();
    if !blocked.is_empty() {
        let _ = writeln!(
            out,
            "\nblocked: {} could not check their own requirement (not failed for it):",
            counted(blocked.len(), "case")
        );
        for case in blocked {
            if let Some(b) = &case.blocked {
                let _ = writeln!(
                    out,
                    "    {}: {} blocked by {} ({})",
                    case.id,
                    case.requirement.as_deref().unwrap_or_default(),
                    b.by,
                    b.step
                );
            }
        }
    }
    let inconclusive: Vec<&CaseReport> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Inconclusive)
        .collect();
    if !inconclusive.is_empty() {
        let _ = writeln!(
            out,
            "\ninconclusive: {} got no answer to judge (not conformance failures):",
            counted(inconclusive.len(), "case")
        );
        for case in inconclusive {
            let _ = writeln!(
                out,
                "    {}: {}",
                case.id,
                case.inconclusive.as_deref().unwrap_or_default()
            );
        }
    }
    let left = report.left_behind();
    if !left.is_empty() {
        let _ = writeln!(out, "\nleft behind (cleanup could not delete them):");
        for l in left {
            let _ = writeln!(out, "    {l}");
        }
    }
    if let Some(expectations) = &report.expectations {
        let known = findings(Verdict::KnownFailure);
        if !known.is_empty() {
            let _ = writeln!(
                out,
                "\nknown failures: {} listed in {} (they do not fail the run):",
                known.len(),
                expectations.file
            );
            for (id, f) in known {
                let _ = writeln!(
                    out,
                    "    {id}: {}: {}   (known: {})",
                    f.tag,
                    f.summary,
                    f.known.as_deref().unwrap_or_default()
                );
            }
        }
        let problems = report.expectation_problems();
        if !problems.is_empty() {
            let _ = writeln!(
                out,
                "\n{}",
                crate::colour::paint(crate::colour::RED, "expectations that fail the run:")
            );
            for (entry, problem) in problems {
                let _ = writeln!(out, "    {}: {problem}", entry.at);
            }
        }
    }
    let observations = report.observations();
    if !observations.is_empty() {
        let _ = writeln!(out, "\nobservations (INFO, not judged):");
        for (id, o) in observations {
            let text = report.requirement(&o.requirement).map_or("", |r| &r.text);
            let _ = writeln!(out, "    {id}: {} = {}   ({text})", o.requirement, o.value);
        }
    }
    let notes: Vec<String> = report
        .cases
        .iter()
        .flat_map(|c| c.notes.iter().map(move |n| format!("{}: {n}", c.id)))
        .chain(report.notes.iter().cloned())
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            crate::colour::paint(crate::colour::DIM, "notes:")
        );
        for note in notes {
            let _ = writeln!(out, "    {note}");
        }
    }
    if !report.cases.is_empty() {
        let _ = writeln!(out, "\nrequirements: {}", report.verdict_line());
        for api in report.apis() {
            let mut lines = Vec::new();
            for (level, _) in report.scores() {
                let mut by_verdict: Vec<(Verdict, Vec<&str>)> = Vec::new();
                let of_level = report
                    .requirements
                    .iter()
                    .filter(|r| r.level == level && r.api == api);
                for r in of_level {
                    let Some(verdict) = r.verdict else { continue };
                    match by_verdict.iter_mut().find(|(v, _)| *v == verdict) {
                        Some((_, ids)) => ids.push(&r.id),
                        None => by_verdict.push((verdict, vec![&r.id])),
                    }
                }
                by_verdict.sort_by_key(|(verdict, _)| std::cmp::Reverse(*verdict));
                let parts: Vec<String> = by_verdict
                    .iter()
                    .map(|(verdict, ids)| {
                        if matches!(verdict, Verdict::Pass | Verdict::Info) {
                            format!("{} {}", ids.len(), verdict.as_str())
                        } else {
                            format!("{} {} ({})", ids.len(), verdict.as_str(), ids.join(", "))
                        }
                    })
                    .collect();
                if !parts.is_empty() {
                    lines.push(format!("        {level}: {}", parts.join(", ")));
                }
            }
            if !lines.is_empty() {
                let _ = writeln!(out, "    {api}:\n{}", lines.join("\n"));
            }
        }
    }
    out
}
