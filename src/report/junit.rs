//! `--junit FILE`: JUnit XML as GitHub test-report actions, GitLab and Jenkins read it. One
//! `<testcase>` per case (classname: its folder, `conversations.update`); a failure carries
//! the requirement, the request and a curl command that reproduces it; SHOULD warnings,
//! observations and known failures go to `<system-out>`, which all three show; ignored cases
//! and known failures are `<skipped/>`; a case file that does not load is an `<error>`; a
//! stale or expired expectation is a failed testcase of class `expectations`.

use super::{class_and_name, CaseReport, Report};
use crate::verdict::Verdict;
use std::fmt::Write as _;
use std::time::Duration;

pub fn render(report: &Report) -> String {
    let problems = report.expectation_problems();
    let count = |v: Verdict| report.cases.iter().filter(|c| c.verdict == v).count();
    let broken = report.cases.iter().filter(|c| c.error.is_some()).count();
    let errors = broken + count(Verdict::Inconclusive);
    let tests = report.cases.len() + problems.len();
    let failures = count(Verdict::Fail).saturating_sub(broken) + problems.len();
    let skipped = count(Verdict::Skipped) + count(Verdict::KnownFailure) + count(Verdict::Blocked);
    let time = seconds(report.duration());
    // JUnit's timestamp has no zone; it is UTC.
    let timestamp = crate::date::rfc3339(report.started)
        .trim_end_matches('Z')
        .to_string();
    let counts = format!(
        r#"tests="{tests}" failures="{failures}" errors="{errors}" skipped="{skipped}" time="{time}""#
    );

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, r#"<testsuites name="conformance" {counts}>"#);
    let _ = writeln!(
        out,
        r#"  <testsuite name="conformance" {counts} timestamp="{timestamp}">"#
    );
    out.push_str("    <properties>\n");
    let mut properties = vec![
        ("target", report.target.url.clone()),
        ("spec.version", report.spec_version.clone()),
        ("spec.hash", report.spec_hash.clone()),
        ("suite.version", report.suite_version.to_string()),
        ("strict", report.strict.to_string()),
        ("verdict", report.verdict_line()),
    ];
    if report.degraded.is_degraded() {
        properties.push(("degraded", report.degraded.line()));
    }
    let left = report.left_behind();
    if !left.is_empty() {
        properties.push(("left_behind", left.join("; ")));
    }
    if let Some(name) = &report.target.name {
        properties.push(("target.name", name.clone()));
    }
    for (level, score) in report.scores() {
        properties.push((
            match level {
                crate::spec::Level::Must => "score.MUST",
                crate::spec::Level::Should => "score.SHOULD",
                crate::spec::Level::Info => "score.INFO",
            },
            format!("{}/{}", score.passed, score.total),
        ));
    }
    for (name, value) in properties {
        let _ = writeln!(
            out,
            r#"      <property name="{}" value="{}"/>"#,
            attribute(name),
            attribute(&value)
        );
    }
    out.push_str("    </properties>\n");
    for case in &report.cases {
        testcase(&mut out, case);
    }
    for (entry, problem) in problems {
        let _ = writeln!(
            out,
            r#"    <testcase classname="expectations" name="{}" file="{}" line="{}" time="0.000">"#,
            attribute(&entry.id),
            attribute(report.expectations.as_ref().map_or("", |e| e.file.as_str())),
            entry.line
        );
        let _ = writeln!(
            out,
            r#"      <failure message="{}" type="expectation">{}: {}</failure>"#,
            attribute(&problem),
            text(&entry.at),
            text(&problem)
        );
        out.push_str("    </testcase>\n");
    }
    // The root causes, each once, then the run's notes.
    let causes = report
        .root_causes
        .iter()
        .filter(|c| c.verdict >= Verdict::Warn)
        .map(|c| {
            format!(
                "root cause: {}: {} ({} findings in {} cases: {})",
                c.tag,
                c.summary,
                c.count,
                c.cases.len(),
                c.cases.join(", ")
            )
        });
    let lines: Vec<String> = causes.chain(report.notes.iter().cloned()).collect();
    if !lines.is_empty() {
        let _ = writeln!(
            out,
            "    <system-out>{}</system-out>",
            text(&lines.join("\n"))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn testcase(out: &mut String, case: &CaseReport) {
    let (classname, name) = class_and_name(case);
    let _ = writeln!(
        out,
        r#"    <testcase classname="{}" name="{}" file="{}" time="{}">"#,
        attribute(&classname),
        attribute(&name),
        attribute(&case.file),
        seconds(case.duration)
    );
    out.push_str("      <properties>\n");
    let mut properties = vec![("verdict", case.verdict.as_str().to_string())];
    if let (Some(id), Some(level)) = (&case.requirement, case.level) {
        properties.push(("requirement", id.clone()));
        properties.push(("level", level.to_string()));
    }
    for (name, value) in properties {
        let _ = writeln!(
            out,
            r#"        <property name="{name}" value="{}"/>"#,
            attribute(&value)
        );
    }
    out.push_str("      </properties>\n");
    let message = case.message.as_deref().unwrap_or_default();
    let headline = message.lines().next().unwrap_or_default();
    match case.verdict {
        _ if case.error.is_some() => {
            let error = case.error.as_deref().unwrap_or_default();
            let _ = writeln!(
                out,
                r#"      <error message="the case does not load" type="case">{}</error>"#,
                text(error)
            );
        }
        Verdict::Fail => {
            let _ = writeln!(
                out,
                r#"      <failure message="{}" type="{}">{}</failure>"#,
                attribute(headline),
                attribute(case.requirement.as_deref().unwrap_or("conformance")),
                text(message)
            );
        }
        Verdict::Skipped => {
            let _ = writeln!(
                out,
                r#"      <skipped message="{}"/>"#,
                attribute(case.skipped.as_deref().unwrap_or("ignored"))
            );
        }
        Verdict::KnownFailure => {
            let reasons: Vec<&str> = case
                .findings
                .iter()
                .filter_map(|f| f.known.as_deref())
                .collect();
            let _ = writeln!(
                out,
                r#"      <skipped message="known failure: {}"/>"#,
                attribute(&reasons.join("; "))
            );
        }
        Verdict::Inconclusive => {
            let _ = writeln!(
                out,
                r#"      <error message="inconclusive: {}" type="inconclusive">{}</error>"#,
                attribute(case.inconclusive.as_deref().unwrap_or_default()),
                text(message)
            );
        }
        Verdict::Blocked => {
            let by = case.blocked.as_ref().map_or("", |b| b.by.as_str());
            let _ = writeln!(
                out,
                r#"      <skipped message="blocked by {}"/>"#,
                attribute(by)
            );
        }
        Verdict::Pass | Verdict::Warn | Verdict::Info => {}
    }
    let mut output = Vec::new();
    if case.verdict != Verdict::Fail && !message.is_empty() {
        output.push(message.to_string());
    }
    for o in &case.observations {
        output.push(format!("observation: {} = {}", o.requirement, o.value));
    }
    for note in &case.notes {
        output.push(format!("note: {note}"));
    }
    if !output.is_empty() {
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            text(&output.join("\n"))
        );
    }
    out.push_str("    </testcase>\n");
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64())
}

/// Element text: markup escaped, and characters XML 1.0 cannot hold shown as `\u{..}`.
fn text(s: &str) -> String {
    escape(s, false)
}

/// Attribute values: as [`text`], and line breaks and tabs kept as character references.
fn attribute(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_characters_xml_cannot_hold() {
        assert_eq!(
            text("a<b & \"c\"\u{1b}[31m\u{0}\tz\n"),
            "a&lt;b &amp; \"c\"\\u{1b}[31m\\u{0}\tz\n"
        );
        assert_eq!(attribute("\"x\"\ny\t"), "&quot;x&quot;&#10;y&#9;");
        assert_eq!(text("\u{FFFF}é"), "\\u{ffff}é");
    }
}
