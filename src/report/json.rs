//! `--report-json FILE`: the run as one JSON document, for dashboards and scripts. Its shape is
//! `specs/report.schema.json`; `format_version` changes only when a field changes meaning or
//! goes away (new fields may appear).

use super::{CaseReport, Report};
use crate::verdict::{FindingKind, Verdict};
use serde_json::{json, Value};
use std::time::Duration;

pub const FORMAT_VERSION: u64 = 1;

pub fn render(report: &Report) -> String {
    let document = json!({
        "format_version": FORMAT_VERSION,
        "suite": {"name": "conformance", "version": report.suite_version},
        "spec": {"version": report.spec_version, "hash": report.spec_hash},
        "target": {
            "url": report.target.url,
            "name": report.target.name,
            "insecure": report.target.insecure,
        },
        "strict": report.strict,
        "complete": report.complete,
        "started_at": crate::date::rfc3339(report.started),
        "finished_at": crate::date::rfc3339(report.finished),
        "duration_ms": millis(report.duration()),
        "verdict": report.verdict_line(),
        "summary": summary(report),
        "cases": report.cases.iter().map(case).collect::<Vec<_>>(),
        "requirements": report.requirements.iter().map(|r| json!({
            "id": r.id,
            "level": r.level.to_string(),
            "api": r.api,
            "area": r.area,
            "text": r.text,
            "verdict": r.verdict.map_or("not-run", Verdict::as_str),
            "cases": r.cases,
            "reason": r.reason,
            "files": r.files,
        })).collect::<Vec<_>>(),
        "root_causes": report.root_causes.iter().map(|c| json!({
            "key": c.key,
            "requirement": c.requirement,
            "tag": c.tag,
            "verdict": c.verdict.as_str(),
            "summary": c.summary,
            "detail": c.detail,
            "count": c.count,
            "cases": c.cases,
            "files": c.files,
            "at": c.at,
        })).collect::<Vec<_>>(),
        "degraded": {
            "degraded": report.degraded.is_degraded(),
            "retries": report.degraded.retries,
            "stalls": report.degraded.stalls,
            "inconclusive": report.degraded.inconclusive,
            "lowest_concurrency": report.degraded.lowest_concurrency,
        },
        "left_behind": report.left_behind(),
        "expectations": report.expectations.as_ref().map(|e| json!({
            "file": e.file,
            "entries": e.entries.iter().map(|entry| json!({
                "id": entry.id,
                "reason": entry.reason,
                "expires": entry.expires,
                "at": entry.at,
                "status": entry.status.as_str(),
                "cases": entry.cases,
            })).collect::<Vec<_>>(),
        })),
        "notes": report.notes,
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

fn summary(report: &Report) -> Value {
    let count = |v: Verdict| report.cases.iter().filter(|c| c.verdict == v).count();
    let levels: serde_json::Map<String, Value> = report
        .scores()
        .into_iter()
        .map(|(level, s)| {
            (
                level.to_string(),
                json!({
                    "total": s.total, "pass": s.passed, "fail": s.failed, "warn": s.warned,
                    "known-failure": s.known, "skipped": s.skipped, "not-run": s.not_run,
                    "blocked": s.blocked, "inconclusive": s.inconclusive,
                }),
            )
        })
        .collect();
    json!({
        "cases": report.cases.len(),
        "pass": count(Verdict::Pass),
        "fail": count(Verdict::Fail),
        "warn": count(Verdict::Warn),
        "info": count(Verdict::Info),
        "skipped": count(Verdict::Skipped),
        "known-failure": count(Verdict::KnownFailure),
        "blocked": count(Verdict::Blocked),
        "inconclusive": count(Verdict::Inconclusive),
        "levels": levels,
    })
}

fn case(case: &CaseReport) -> Value {
    json!({
        "id": case.id,
        "file": case.file,
        "requirement": case.requirement,
        "level": case.level.map(|l| l.to_string()),
        "verdict": case.verdict.as_str(),
        "duration_ms": millis(case.duration),
        "findings": case.findings.iter().map(|f| json!({
            "requirement": f.requirement,
            "level": f.level.to_string(),
            "kind": match f.kind {
                FindingKind::Requirement => "requirement",
                FindingKind::Target => "target",
                FindingKind::Snapshot => "snapshot",
                FindingKind::Inconclusive => "inconclusive",
            },
            "root_cause": f.cause,
            "verdict": f.verdict.as_str(),
            "summary": f.summary,
            "details": f.details,
            "at": f.at,
            "request": f.request,
            "known_failure": f.known,
        })).collect::<Vec<_>>(),
        "observations": case.observations.iter().map(|o| json!({
            "requirement": o.requirement,
            "value": o.value,
        })).collect::<Vec<_>>(),
        "requests": case.requests.iter().map(|s| json!({
            "label": s.label,
            "at": s.at,
            "request": s.request_line,
            "status": s.status,
            "duration_ms": millis(s.elapsed),
        })).collect::<Vec<_>>(),
        "notes": case.notes,
        "blocked_by": case.blocked.as_ref().map(|b| json!({"requirement": b.by, "step": b.step})),
        "inconclusive": case.inconclusive,
        "left_behind": case.left_behind,
        "message": case.message,
        "error": case.error,
        "skipped": case.skipped,
    })
}

/// Milliseconds with microsecond precision.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}
