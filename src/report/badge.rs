//! `--report-badge FILE`: a shields.io endpoint badge
//! (<https://shields.io/badges/endpoint-badge>) with the verdict and the MUST score, for a
//! README: `![conformance](https://img.shields.io/endpoint?url=<where the file is served>)`.

use super::Report;
use crate::spec::Level;
use crate::verdict::Verdict;

pub fn render(report: &Report) -> String {
    let failed = report.cases.iter().any(|c| c.verdict == Verdict::Fail)
        || !report.expectation_problems().is_empty();
    let warned = report.cases.iter().any(|c| c.verdict == Verdict::Warn);
    let (word, color) = if failed {
        ("failing", "red")
    } else if warned {
        ("passing with warnings", "yellow")
    } else {
        ("passing", "brightgreen")
    };
    let must = report
        .scores()
        .into_iter()
        .find(|(level, _)| *level == Level::Must)
        .map(|(_, s)| format!(" · MUST {}/{}", s.passed, s.total))
        .unwrap_or_default();
    let badge = serde_json::json!({
        "schemaVersion": 1,
        "label": "OpenAI conformance",
        "message": format!("{word}{must}"),
        "color": color,
    });
    format!("{badge:#}\n")
}
