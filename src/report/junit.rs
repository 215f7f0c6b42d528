//! `--junit FILE`: JUnit XML as GitHub test-report actions, GitLab and Jenkins read it, written
//! by quick-junit (as nextest writes its own). One `<testcase>` per case (classname: its
//! folder, `conversations.update`); a failure carries the requirement, the request and a curl
//! command that reproduces it; SHOULD warnings, observations and known failures go to
//! `<system-out>`, which all three show; ignored cases and known failures are `<skipped/>`; a
//! case file that does not load is an `<error>`; a stale or expired expectation is a failed
//! testcase of class `expectations`.

use super::{class_and_name, CaseReport, Report};
use crate::verdict::Verdict;
use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite, XmlString};
use std::fmt::Write as _;
use std::time::Duration;

pub fn render(report: &Report) -> String {
    let mut suite = TestSuite::new("conformance");
    suite.set_time(report.duration());
    // JUnit's schema has a timestamp without zone (quick-junit writes one); it is UTC.
    let timestamp = crate::date::rfc3339(report.started);
    suite
        .extra
        .insert("timestamp".into(), timestamp.trim_end_matches('Z').into());
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
    suite.add_properties(properties.into_iter().map(property));
    suite.add_test_cases(report.cases.iter().map(testcase));
    let file = report.expectations.as_ref().map_or("", |e| e.file.as_str());
    for (entry, problem) in report.expectation_problems() {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status
            .set_message(xml(&problem))
            .set_type("expectation")
            .set_description(xml(&format!("{}: {problem}", entry.at)));
        let mut case = TestCase::new(xml(&entry.id), status);
        case.set_classname("expectations").set_time(Duration::ZERO);
        case.extra.insert("file".into(), xml(file));
        case.extra.insert(
            "line".into(),
            entry.at.line().unwrap_or(1).to_string().into(),
        );
        suite.add_test_case(case);
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
        suite.set_system_out(xml(&lines.join("\n")));
    }

    let mut junit = quick_junit::Report::new("conformance");
    junit.set_time(report.duration()).add_test_suite(suite);
    // Only the writer can fail, and a String's does not.
    junit.to_string().expect("XML is written to memory")
}

fn testcase(case: &CaseReport) -> TestCase {
    let (classname, name) = class_and_name(case);
    let message = case.message.as_deref().unwrap_or_default();
    let headline = message.lines().next().unwrap_or_default();
    let skipped = |why: &str| {
        let mut status = TestCaseStatus::skipped();
        status.set_message(xml(why));
        status
    };
    let non_success = |kind, why: &str, ty: &str, description: &str| {
        let mut status = TestCaseStatus::non_success(kind);
        status
            .set_message(xml(why))
            .set_type(xml(ty))
            .set_description(xml(description));
        status
    };
    let status = match case.verdict {
        _ if case.error.is_some() => non_success(
            NonSuccessKind::Error,
            "the case does not load",
            "case",
            case.error.as_ref().map_or("", |b| b.error.as_str()),
        ),
        Verdict::Fail => non_success(
            NonSuccessKind::Failure,
            headline,
            case.requirement.as_deref().unwrap_or("conformance"),
            message,
        ),
        Verdict::Skipped => skipped(case.skipped.as_deref().unwrap_or("ignored")),
        Verdict::KnownFailure => {
            let reasons: Vec<&str> = case
                .findings
                .iter()
                .filter_map(|f| f.known.as_deref())
                .collect();
            skipped(&format!("known failure: {}", reasons.join("; ")))
        }
        Verdict::Inconclusive => non_success(
            NonSuccessKind::Error,
            &format!(
                "inconclusive: {}",
                case.inconclusive.as_deref().unwrap_or_default()
            ),
            "inconclusive",
            message,
        ),
        Verdict::Blocked => {
            let by = case.blocked.as_ref().map_or("", |b| b.by.as_str());
            skipped(&format!("blocked by {by}"))
        }
        Verdict::Pass | Verdict::Warn | Verdict::Info => TestCaseStatus::success(),
    };
    let mut testcase = TestCase::new(xml(&name), status);
    testcase
        .set_classname(xml(&classname))
        .set_time(case.duration);
    testcase.extra.insert("file".into(), xml(&case.file));
    let mut properties = vec![("verdict", case.verdict.as_str().to_string())];
    if let (Some(id), Some(level)) = (&case.requirement, case.level) {
        properties.push(("requirement", id.clone()));
        properties.push(("level", level.to_string()));
    }
    testcase.add_properties(properties.into_iter().map(property));
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
        testcase.set_system_out(xml(&output.join("\n")));
    }
    testcase
}

fn property((name, value): (&str, String)) -> Property {
    Property::new(name, xml(&value))
}

/// Text for the report with its control characters but line feeds shown as escapes (`\t`,
/// `\u{1b}`), and the two characters XML 1.0 cannot hold: quick-junit would drop them.
fn xml(s: &str) -> XmlString {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push(c),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    XmlString::new(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_xml_cannot_hold_are_shown_and_markup_is_escaped() {
        assert_eq!(
            xml("a<b & \"c\"\u{1b}[31m\u{0}\tz\n").as_str(),
            "a<b & \"c\"\\u{1b}[31m\\u{0}\\tz\n"
        );
        assert_eq!(xml("\u{FFFF}é\u{9b}").as_str(), "\\u{ffff}é\\u{9b}");
        let mut suite = TestSuite::new("s");
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status
            .set_message(xml("\"x\" <y>"))
            .set_description(xml("a<b & \u{1b}[31m"));
        suite.add_test_case(TestCase::new("t", status));
        let mut junit = quick_junit::Report::new("r");
        junit.add_test_suite(suite);
        let written = junit.to_string().unwrap();
        let document = roxmltree::Document::parse(&written).unwrap();
        let failure = document
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(failure.attribute("message"), Some("\"x\" <y>"));
        assert_eq!(failure.text(), Some("a<b & \\u{1b}[31m"));
    }
}
