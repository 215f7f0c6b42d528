//! `--report-html FILE`: the run as one HTML file that opens in any browser with no network
//! (styles inline, no script): the verdict and the score, the failures first (one row per
//! root cause, with its cases), the matrix of requirements (one table per API), and every case
//! with its requests, the statuses answered, the `curl` that reproduces each and the full
//! message.

use super::Report;
use crate::verdict::Verdict;
use std::fmt::Write as _;

const STYLE: &str = "
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.6rem;margin-bottom:.2rem}
.verdict{display:inline-block;font-weight:700;font-size:1.2rem;padding:.3rem .8rem;border-radius:.3rem;color:#fff}
.v-fail{background:#c62828}.v-warn{background:#b26a00}.v-pass{background:#2e7d32}
table{border-collapse:collapse;width:100%;margin:.6rem 0 1.4rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.fail{color:#c62828;font-weight:600}td.warn{color:#b26a00}td.pass,td.info{color:#2e7d32}
td.known-failure{color:#6f42c1}td.skipped,td.not-run{color:#57606a}
details{border:1px solid #d0d7de;border-radius:.3rem;margin:.3rem 0;padding:.2rem .6rem}
details.fail{border-color:#c62828}
summary{cursor:pointer}
pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.meta{color:#57606a}
";

pub fn render(report: &Report) -> String {
    let failed = report.cases.iter().any(|c| c.verdict == Verdict::Fail)
        || !report.expectation_problems().is_empty();
    let warned = report.cases.iter().any(|c| c.verdict == Verdict::Warn);
    let (verdict, class) = if failed {
        ("FAILING", "v-fail")
    } else if warned {
        ("PASSING WITH WARNINGS", "v-warn")
    } else {
        ("PASSING", "v-pass")
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>OpenAI API conformance: {verdict}</title><style>{STYLE}</style></head><body>\n\
         <h1>OpenAI API conformance</h1>\n<p class=\"meta\">Target {} · spec {} (<code>{}</code>) · conformance {} · {} · {}{}</p>\n\
         <p><span class=\"verdict {class}\" id=\"verdict\">{verdict}</span></p>\n",
        escape(&match &report.target.name {
            Some(name) => format!("{name} ({})", report.target.url),
            None => report.target.url.clone(),
        }),
        escape(&report.spec_version),
        escape(&report.spec_hash),
        escape(report.suite_version),
        if report.strict { "strict" } else { "not strict" },
        crate::date::rfc3339(report.started),
        if report.complete { "" } else { " · a filtered run" },
    );
    out.push_str("<table id=\"score\"><tr><th>Level</th><th>Requirements</th><th>Pass</th><th>Fail</th><th>Warn</th><th>Known failure</th><th>Skipped</th><th>Not run</th></tr>\n");
    for (level, s) in report.scores() {
        let _ = writeln!(
            out,
            "<tr><td>{level}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.total, s.passed, s.failed, s.warned, s.known, s.skipped, s.not_run
        );
    }
    out.push_str("</table>\n");

    let failures: Vec<_> = report
        .root_causes
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Warn))
        .collect();
    let broken: Vec<_> = report.cases.iter().filter(|c| c.error.is_some()).collect();
    if !failures.is_empty() || !broken.is_empty() {
        out.push_str("<h2>Failures and warnings</h2>\n<table id=\"failures\"><tr><th>Verdict</th><th>Requirement</th><th>Why</th><th>Cases</th></tr>\n");
        for case in broken {
            let _ = writeln!(
                out,
                "<tr><td class=\"fail\">fail</td><td></td><td>{}</td><td>{}</td></tr>",
                escape(case.error.as_ref().map_or("", |b| b.error.as_str())),
                link(&case.id),
            );
        }
        // One row per root cause (the same finding in several cases, and of every row of a
        // rule it breaks), failures first.
        for cause in failures {
            let links: Vec<String> = cause.cases.iter().map(|id| link(id)).collect();
            let _ = writeln!(
                out,
                "<tr><td class=\"{v}\">{v}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&cause.tag),
                escape(&cause.summary),
                links.join("<br>"),
                v = cause.verdict.as_str(),
            );
        }
        out.push_str("</table>\n");
    }

    // One table per API, as the summary and the matrix group them.
    out.push_str("<section id=\"requirements\">\n<h2>Requirements</h2>\n");
    for api in report.apis() {
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<table id=\"api-{}\"><tr><th>ID</th><th>Level</th><th>Requirement</th><th>Verdict</th><th>Cases</th></tr>",
            escape(api),
            anchor_part(api)
        );
        for r in report.requirements.iter().filter(|r| r.api == api) {
            let verdict = r.verdict.map_or("not-run", Verdict::as_str);
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{verdict}\">{}</td><td>{}</td></tr>",
                escape(&r.id),
                r.level,
                escape(&r.text),
                verdict.replace('-', " "),
                r.cases.len()
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n<h2>Cases</h2>\n");
    for case in &report.cases {
        let verdict = case.verdict.as_str();
        let _ = writeln!(
            out,
            "<details id=\"{}\" class=\"{verdict}\"{}><summary><b>{verdict}</b> {} <span class=\"meta\">{} · {} ms</span></summary>",
            anchor(&case.id),
            if case.verdict == Verdict::Fail { " open" } else { "" },
            escape(&case.id),
            escape(&case.file),
            case.duration.as_millis()
        );
        if !case.requests.is_empty() {
            out.push_str(
                "<table><tr><th>Step</th><th>Request</th><th>Answer</th><th>ms</th></tr>\n",
            );
            for step in &case.requests {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td><code>{}</code><pre>{}</pre></td><td>{}</td><td>{}</td></tr>",
                    escape(&step.label),
                    escape(&step.request_line),
                    escape(&step.curl),
                    step.status.map_or_else(
                        || "no answer".to_string(),
                        |status| match &step.answer {
                            Some(body) if !body.is_empty() => {
                                format!("{status}<pre>{}</pre>", escape(body))
                            }
                            _ => status.to_string(),
                        }
                    ),
                    step.elapsed.as_millis()
                );
            }
            out.push_str("</table>\n");
        }
        let error = case.error.as_ref().map(|b| &b.error);
        for text in [case.message.as_ref(), error, case.skipped.as_ref()]
            .into_iter()
            .flatten()
        {
            let _ = writeln!(out, "<pre>{}</pre>", escape(text));
        }
        out.push_str("</details>\n");
    }
    if !report.notes.is_empty() {
        out.push_str("<h2>Notes</h2>\n<ul>\n");
        for note in &report.notes {
            let _ = writeln!(out, "<li>{}</li>", escape(note));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Text as HTML: target text can never become markup.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link to a case's section.
fn link(id: &str) -> String {
    format!("<a href=\"#{}\">{}</a>", anchor(id), escape(id))
}

/// A case id as an element id: `case-conversations-update-keeps_identity`.
fn anchor(id: &str) -> String {
    format!("case-{}", anchor_part(id))
}

/// Text as part of an element id: letters, digits and `_`, the rest `-`.
fn anchor_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Degraded, RequirementReport, TargetInfo};
    use super::*;
    use crate::spec::Level;
    use std::time::SystemTime;

    fn requirement(id: &str, api: &str, verdict: Option<Verdict>) -> RequirementReport {
        RequirementReport {
            id: id.into(),
            level: Level::Must,
            api: api.into(),
            area: api.into(),
            text: format!("text of {id}"),
            verdict,
            cases: Vec::new(),
            reason: None,
            files: Vec::new(),
        }
    }

    #[test]
    fn requirements_are_one_table_per_api_with_what_every_endpoint_owes_last() {
        let report = Report {
            suite_version: "0.0.0",
            spec_version: "2.3.0".into(),
            spec_hash: "0123456789abcdef".into(),
            target: TargetInfo {
                url: "reference".into(),
                name: None,
                insecure: false,
            },
            strict: false,
            complete: true,
            started: SystemTime::UNIX_EPOCH,
            finished: SystemTime::UNIX_EPOCH,
            cases: Vec::new(),
            requirements: vec![
                requirement("GEN-01", "General", Some(Verdict::Pass)),
                requirement("RSP-01", "Responses", Some(Verdict::Fail)),
                requirement("CRE-01", "Conversations", None),
                requirement("RSP-02", "Responses", Some(Verdict::Pass)),
            ],
            expectations: None,
            notes: Vec::new(),
            root_causes: Vec::new(),
            degraded: Degraded::default(),
        };
        let html = render(&report);
        let section = &html[html.find("<section id=\"requirements\">").unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        // Each API's heading, then its requirements, the APIs by name and General last.
        let positions = |needles: &[&str]| -> Vec<usize> {
            needles
                .iter()
                .map(|n| {
                    section
                        .find(n)
                        .unwrap_or_else(|| panic!("no {n} in {section}"))
                })
                .collect()
        };
        let at = positions(&[
            "<h3>Conversations</h3>",
            "<td>CRE-01</td>",
            "<h3>Responses</h3>",
            "<td>RSP-01</td>",
            "<td>RSP-02</td>",
            "<h3>General</h3>",
            "<td>GEN-01</td>",
        ]);
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{section}");
        assert_eq!(section.matches("<table id=\"api-").count(), 3, "{section}");
        assert!(section.contains("<td class=\"not-run\">not run</td>"));
        assert!(section.contains("<td class=\"fail\">fail</td>"));
    }

    #[test]
    fn target_text_is_escaped() {
        assert_eq!(
            super::escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
