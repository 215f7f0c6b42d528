//! `--report-md FILE` (and the GitHub step summary): the conformance matrix in Markdown, to
//! paste into a README. A score per level, per API one table per area of the catalogue with one row per
//! requirement, the INFO observations, and the known failures.

use super::Report;
use crate::spec::Level;
use crate::verdict::Verdict;
use std::fmt::Write as _;

pub fn render(report: &Report) -> String {
    let mut out = String::from("## OpenAI API conformance\n\n");
    let _ = writeln!(out, "**{}**\n", cell(&report.verdict_line()));
    if report.degraded.is_degraded() {
        let _ = writeln!(out, "> ⚠️ {}\n", cell(&report.degraded.line()));
    }
    let left = report.left_behind();
    if !left.is_empty() {
        let _ = writeln!(
            out,
            "> ⚠️ cleanup could not delete {}: {}\n",
            super::counted(left.len(), "resource"),
            left.iter().map(|l| code(l)).collect::<Vec<_>>().join(", ")
        );
    }
    let failing: Vec<&super::RootCause> = report
        .root_causes
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Warn))
        .collect();
    if !failing.is_empty() {
        out.push_str("### Failures first (one row per root cause)\n\n| Requirement | Verdict | Root cause | Findings | Cases |\n|---|---|---|---:|---|\n");
        for c in failing {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                cell(&if c.requirements.is_empty() {
                    c.tag.clone()
                } else {
                    c.requirements.join(", ")
                }),
                shown(Some(c.verdict)),
                cell(&c.summary),
                c.count,
                links(&c.files, 3)
            );
        }
        out.push('\n');
    }
    let scores: Vec<String> = report
        .scores()
        .into_iter()
        .map(|(level, s)| {
            let observed = if level == Level::Info {
                " observed"
            } else {
                ""
            };
            format!("**{level} {}/{}**{observed}", s.passed, s.total)
        })
        .collect();
    let _ = writeln!(out, "{}\n", scores.join(" · "));
    let target = match &report.target.name {
        Some(name) => format!("{name} (`{}`)", report.target.url),
        None => format!("`{}`", report.target.url),
    };
    let _ = writeln!(
        out,
        "Target {target} · spec {} (`{}`) · conformance {} · {} · {}{}\n",
        cell(&report.spec_version),
        report.spec_hash,
        report.suite_version,
        if report.strict {
            "strict"
        } else {
            "not strict"
        },
        crate::date::rfc3339(report.started),
        if report.complete {
            ""
        } else {
            " · a filtered run"
        }
    );
    out.push_str(
        "| Level | Requirements | Pass | Fail | Warn | Known failure | Blocked | Inconclusive | Skipped | Not run |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (level, s) in report.scores() {
        let _ = writeln!(
            out,
            "| {level} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.total,
            s.passed,
            s.failed,
            s.warned,
            s.known,
            s.blocked,
            s.inconclusive,
            s.skipped,
            s.not_run
        );
    }
    for api in report.apis() {
        let _ = writeln!(out, "\n### {}", cell(api));
        let of_api = || report.requirements.iter().filter(move |r| r.api == api);
        let mut areas: Vec<&str> = Vec::new();
        for r in of_api() {
            if !areas.contains(&r.area.as_str()) {
                areas.push(&r.area);
            }
        }
        for area in areas {
            if area != api {
                let _ = writeln!(out, "\n#### {}", cell(area));
            }
            out.push_str("\n| ID | Level | Requirement | Verdict | Why | Case |\n|---|---|---|---|---|---|\n");
            for r in of_api().filter(|r| r.area == area) {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    r.id,
                    r.level,
                    cell(&r.text),
                    shown(r.verdict),
                    r.reason.as_deref().map(cell).unwrap_or_default(),
                    links(&r.files, 2)
                );
            }
        }
    }
    let observations = report.observations();
    if !observations.is_empty() {
        out.push_str(
            "\n### Observations (INFO, not judged)\n\n| ID | Requirement | Case | Observed |\n|---|---|---|---|\n",
        );
        for (case, o) in observations {
            let text = report.requirement(&o.requirement).map_or("", |r| &r.text);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                o.requirement,
                cell(text),
                cell(case),
                code(&o.value)
            );
        }
    }
    if let Some(expectations) = &report.expectations {
        if !expectations.entries.is_empty() {
            let _ = writeln!(
                out,
                "\n### Known failures ({})\n\n| Entry | Reason | Expires | Status |\n|---|---|---|---|",
                code(&expectations.file)
            );
            for e in &expectations.entries {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    code(&e.id),
                    cell(&e.reason),
                    e.expires.as_deref().unwrap_or("—"),
                    e.status.as_str()
                );
            }
        }
    }
    out
}

fn shown(verdict: Option<Verdict>) -> &'static str {
    match verdict {
        None => "not run",
        Some(Verdict::Pass) => "✅ pass",
        Some(Verdict::Fail) => "❌ fail",
        Some(Verdict::Warn) => "⚠️ warn",
        Some(Verdict::Info) => "ℹ️ observed",
        Some(Verdict::KnownFailure) => "🟡 known failure",
        Some(Verdict::Skipped) => "⏭️ skipped",
        Some(Verdict::Blocked) => "⛔ blocked",
        Some(Verdict::Inconclusive) => "❔ inconclusive",
    }
}

/// Case files as links (relative to where the suite's `cases/` folder is), at most `max`.
fn links(files: &[String], max: usize) -> String {
    let mut shown: Vec<String> = files
        .iter()
        .take(max)
        .map(|f| {
            // A derived case has no file of its own: its origin is named, not linked.
            if !f.ends_with(".yaml") {
                return code(f);
            }
            let name = f.rsplit('/').next().unwrap_or(f);
            format!(
                "[{}]({})",
                cell(name),
                f.replace(' ', "%20").replace(['(', ')', '|'], "")
            )
        })
        .collect();
    if files.len() > max {
        shown.push(format!("+{}", files.len() - max));
    }
    shown.join(" ")
}

/// Text in a table cell: a `|` would end the cell, a line break the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// A value from the server, shown as code so that no markup in it takes effect.
fn code(text: &str) -> String {
    format!("`{}`", cell(&text.replace('`', "'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_files_are_links_and_derived_origins_are_code() {
        let files = vec![
            "cases/a/b c.yaml".to_string(),
            "derived from #/components/schemas/Metadata".to_string(),
            "cases/x.yaml".to_string(),
        ];
        assert_eq!(
            links(&files, 2),
            "[b c.yaml](cases/a/b%20c.yaml) `derived from #/components/schemas/Metadata` +1"
        );
    }

    #[test]
    fn cells_keep_their_row_and_values_stay_code() {
        assert_eq!(cell("a | b\nc"), "a \\| b c");
        assert_eq!(code("<b>`x`|</b>"), "`<b>'x'\\|</b>`");
    }
}
