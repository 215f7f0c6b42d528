//! `--report-json FILE`: the run as one JSON document, for dashboards and scripts. The types
//! below are its format: serialised as they are, and `specs/report.schema.json` is generated
//! from them ([`crate::schema`]). `format_version` changes only when a field changes meaning
//! or goes away (new fields may appear).

use super::{CaseReport, Degraded, EntryReport, Report, RootCause, Score, TargetInfo};
use crate::place::Place;
use crate::spec::Level;
use crate::verdict::{FindingKind, Verdict};
use crate::yaml::At;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use std::time::Duration;

pub const FORMAT_VERSION: u64 = 1;

/// A requirement ID of the catalogue.
const REQUIREMENT_ID: &str = "^[A-Z]+-[0-9]+$";

pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(&Document::of(report)).unwrap_or_default();
    text.push('\n');
    text
}

/// What `conformance --report-json FILE` writes: one run of the suite against one target.
/// `format_version` changes only when a field changes meaning or goes away; new fields may
/// appear. No text in it holds the API key or an `env:` header value.
#[derive(Serialize, JsonSchema)]
#[schemars(
    title = "conformance run report",
    deny_unknown_fields,
    extend("$id" = "https://conformance.invalid/report.schema.json")
)]
pub(crate) struct Document<'a> {
    #[schemars(schema_with = "format_version")]
    format_version: u64,
    suite: Suite<'a>,
    spec: SpecVersion<'a>,
    target: &'a TargetInfo,
    /// SHOULD findings failed (--strict).
    strict: bool,
    /// Every case was selected (no filter, no --skip).
    complete: bool,
    started_at: Timestamp,
    finished_at: Timestamp,
    duration_ms: Milliseconds,
    /// One line: PASS, FAIL (with how many requirements are not met) or INCONCLUSIVE, the MUST
    /// score and the number of failing root causes.
    verdict: String,
    summary: Summary,
    /// The cases selected, by id.
    cases: Vec<Case<'a>>,
    /// Every requirement of the catalogue, by id.
    requirements: Vec<Requirement<'a>>,
    /// Each defect once: identical findings (same requirement, or rule of the catalogue, and
    /// cause: check, operation or object, path, kind of value) of every case, worst first.
    root_causes: Vec<Cause<'a>>,
    degraded: DegradedRun,
    /// Resources the cleanup could not delete, as the delete request line.
    left_behind: Vec<&'a str>,
    /// The known failures file (--expectations), or null.
    expectations: Option<Expectations<'a>>,
    /// Run-wide notes (snapshots skipped, TLS not verified).
    notes: &'a [String],
}

/// The tool that judged.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Suite<'a> {
    #[schemars(schema_with = "suite_name")]
    name: &'static str,
    /// The crate version.
    version: &'a str,
}

/// What it judged by.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct SpecVersion<'a> {
    /// `info.version` of the official OpenAPI document.
    version: &'a str,
    /// FNV-1a of openapi.yaml, overlay.yaml and requirements.yaml.
    #[schemars(pattern("^[0-9a-f]{16}$"))]
    hash: &'a str,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Summary {
    cases: usize,
    pass: usize,
    fail: usize,
    warn: usize,
    info: usize,
    skipped: usize,
    #[serde(rename = "known-failure")]
    known_failure: usize,
    blocked: usize,
    inconclusive: usize,
    levels: Levels,
}

/// Requirements of the catalogue by level and verdict; `pass` of INFO counts those observed.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Levels {
    #[serde(rename = "MUST")]
    must: Score,
    #[serde(rename = "SHOULD")]
    should: Score,
    #[serde(rename = "INFO")]
    info: Score,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Case<'a> {
    /// The test name: the case file's path under cases/ without .yaml, plus /<row>.
    id: &'a str,
    /// The case file, e.g. cases/conversations/update/keeps_identity.yaml.
    file: &'a str,
    /// Null when the case file does not load.
    #[schemars(pattern(REQUIREMENT_ID))]
    requirement: Option<&'a str>,
    level: Option<Level>,
    /// fail: a MUST finding (a SHOULD one with strict), the target failed, a snapshot changed
    /// or the file does not load; warn: SHOULD findings only; info: an INFO case that ran;
    /// known-failure: every finding that would fail or warn is excused by the expectations;
    /// skipped: ignored, not run. blocked: a set-up step owned by another requirement failed,
    /// so the case's own checks did not run (`blocked_by`); inconclusive: no answer to judge
    /// (a timeout, a reset, a 429 that did not clear), never a conformance failure.
    #[schemars(schema_with = "case_verdict")]
    verdict: &'static str,
    duration_ms: Milliseconds,
    findings: Vec<Finding<'a>>,
    observations: Vec<Observation<'a>>,
    /// Every request the case sent, in order (cleanup excluded).
    requests: Vec<Request<'a>>,
    notes: &'a [String],
    /// The requirement whose set-up step failed, and the step.
    blocked_by: Option<BlockedBy<'a>>,
    /// Why the case got no answer to judge.
    inconclusive: Option<&'a str>,
    /// What its cleanup could not delete.
    left_behind: &'a [String],
    /// Every finding rendered with its request and a curl command; the test's failure message
    /// when it failed.
    message: Option<&'a str>,
    /// Why the case file does not load (file:line:col first).
    error: Option<&'a str>,
    /// The case's `ignore:` reason when it did not run.
    skipped: Option<&'a str>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Finding<'a> {
    /// Null for a target or snapshot finding.
    #[schemars(pattern(REQUIREMENT_ID))]
    requirement: Option<&'a str>,
    level: Level,
    #[schemars(schema_with = "finding_kind")]
    kind: &'static str,
    /// The key of its root cause (see `root_causes`).
    root_cause: &'a str,
    #[schemars(schema_with = "finding_verdict")]
    verdict: &'static str,
    summary: &'a str,
    details: &'a [String],
    /// `file:line:col` of the case file's step.
    #[schemars(with = "Option<String>")]
    at: Option<&'a Place>,
    request: Option<&'a str>,
    /// The reason of the expectation that excuses it.
    known_failure: Option<&'a str>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Observation<'a> {
    #[schemars(pattern(REQUIREMENT_ID))]
    requirement: &'a str,
    value: &'a str,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Request<'a> {
    /// e.g. `step 2 (update)`.
    label: &'a str,
    /// `file:line:col` of the case file's step.
    #[schemars(with = "String")]
    at: &'a Place,
    /// Method and URL.
    request: &'a str,
    /// Null when no answer came.
    status: Option<u16>,
    duration_ms: Milliseconds,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct BlockedBy<'a> {
    #[schemars(pattern(REQUIREMENT_ID))]
    requirement: &'a str,
    step: &'a str,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Requirement<'a> {
    #[schemars(pattern(REQUIREMENT_ID))]
    id: &'a str,
    level: Level,
    /// The API it belongs to (Conversations, Responses, Models, Embeddings, General); the
    /// reports group by it.
    api: &'a str,
    area: &'a str,
    text: &'a str,
    /// The worst over its cases: in each, the findings attributed to it (also through a step's
    /// or matcher's `requirement:`), otherwise pass (info for INFO) if its checks ran,
    /// otherwise the verdict of a case of its own. not-run: no case selected checked it.
    /// blocked: its own checks never ran because another requirement's set-up failed;
    /// inconclusive: only transport trouble. Neither fails it.
    #[schemars(schema_with = "requirement_verdict")]
    verdict: &'static str,
    cases: &'a [String],
    /// Why, in one line, when it is not met: its first root cause, `blocked by CRE-01`, or why
    /// it is inconclusive.
    reason: Option<&'a str>,
    /// The case files behind the reason.
    files: &'a [String],
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Cause<'a> {
    key: &'a str,
    /// The first of `requirements`.
    #[schemars(pattern(REQUIREMENT_ID))]
    requirement: Option<&'a str>,
    /// Every requirement it breaks, sorted: more than one where rows of the catalogue state
    /// one rule (their `rule` in requirements.yaml) and the defect breaks it on several.
    #[schemars(inner(pattern(REQUIREMENT_ID)))]
    requirements: &'a [String],
    /// `UPD-03 MUST`, `CRE-05, UPD-06 MUST`, `target`, `snapshot` or `inconclusive`.
    tag: &'a str,
    #[schemars(schema_with = "finding_verdict")]
    verdict: &'static str,
    summary: &'a str,
    detail: Option<&'a str>,
    /// Findings it stands for.
    count: usize,
    cases: &'a [String],
    files: &'a [String],
    /// `file:line:col` of its first step.
    #[schemars(with = "Option<String>")]
    at: Option<&'a Place>,
}

/// How the target held up; `degraded` is true when any count is not 0.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct DegradedRun {
    degraded: bool,
    retries: usize,
    stalls: usize,
    inconclusive: usize,
    /// The fewest cases run at a time after backing off; 0 when never lowered.
    lowest_concurrency: usize,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Expectations<'a> {
    file: &'a str,
    entries: Vec<Entry<'a>>,
}

#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Entry<'a> {
    /// A requirement ID or a case ID (a folder or parameterised file covers the cases below
    /// it).
    id: &'a str,
    reason: &'a str,
    #[schemars(pattern(r"^\d{4}-\d{2}-\d{2}$"))]
    expires: Option<&'a str>,
    /// file:line:col of the entry.
    #[schemars(with = "String")]
    at: &'a At,
    /// used: it excused a finding; stale: a complete run found nothing for it to excuse (fails
    /// the run); expired: past its date (fails the run, excuses nothing); unchecked: the run
    /// selected nothing it covers.
    #[schemars(schema_with = "entry_status")]
    status: &'static str,
    /// The cases whose findings it excused.
    cases: &'a [String],
}

/// UTC, RFC 3339.
#[derive(Serialize)]
#[serde(transparent)]
struct Timestamp(String);

/// Milliseconds with microsecond precision.
#[derive(Serialize)]
#[serde(transparent)]
struct Milliseconds(f64);

impl From<Duration> for Milliseconds {
    fn from(duration: Duration) -> Self {
        Self((duration.as_secs_f64() * 1_000_000.0).round() / 1000.0)
    }
}

impl<'a> Document<'a> {
    fn of(report: &'a Report) -> Self {
        let Degraded {
            retries,
            stalls,
            inconclusive,
            lowest_concurrency,
        } = report.degraded;
        Document {
            format_version: FORMAT_VERSION,
            suite: Suite {
                name: "conformance",
                version: report.suite_version,
            },
            spec: SpecVersion {
                version: &report.spec_version,
                hash: &report.spec_hash,
            },
            target: &report.target,
            strict: report.strict,
            complete: report.complete,
            started_at: Timestamp(crate::date::rfc3339(report.started)),
            finished_at: Timestamp(crate::date::rfc3339(report.finished)),
            duration_ms: report.duration().into(),
            verdict: report.verdict_line(),
            summary: Summary::of(report),
            cases: report.cases.iter().map(Case::of).collect(),
            requirements: report
                .requirements
                .iter()
                .map(|r| Requirement {
                    id: &r.id,
                    level: r.level,
                    api: &r.api,
                    area: &r.area,
                    text: &r.text,
                    verdict: r.verdict.map_or("not-run", Verdict::as_str),
                    cases: &r.cases,
                    reason: r.reason.as_deref(),
                    files: &r.files,
                })
                .collect(),
            root_causes: report.root_causes.iter().map(Cause::of).collect(),
            degraded: DegradedRun {
                degraded: report.degraded.is_degraded(),
                retries,
                stalls,
                inconclusive,
                lowest_concurrency,
            },
            left_behind: report.left_behind(),
            expectations: report.expectations.as_ref().map(|e| Expectations {
                file: &e.file,
                entries: e.entries.iter().map(Entry::of).collect(),
            }),
            notes: &report.notes,
        }
    }
}

impl Summary {
    fn of(report: &Report) -> Self {
        let count = |v: Verdict| report.cases.iter().filter(|c| c.verdict == v).count();
        let score = |level: Level| {
            report
                .scores()
                .into_iter()
                .find(|(l, _)| *l == level)
                .map(|(_, s)| s)
                .unwrap_or_default()
        };
        Summary {
            cases: report.cases.len(),
            pass: count(Verdict::Pass),
            fail: count(Verdict::Fail),
            warn: count(Verdict::Warn),
            info: count(Verdict::Info),
            skipped: count(Verdict::Skipped),
            known_failure: count(Verdict::KnownFailure),
            blocked: count(Verdict::Blocked),
            inconclusive: count(Verdict::Inconclusive),
            levels: Levels {
                must: score(Level::Must),
                should: score(Level::Should),
                info: score(Level::Info),
            },
        }
    }
}

impl<'a> Case<'a> {
    fn of(case: &'a CaseReport) -> Self {
        Case {
            id: &case.id,
            file: &case.file,
            requirement: case.requirement.as_deref(),
            level: case.level,
            verdict: case.verdict.as_str(),
            duration_ms: case.duration.into(),
            findings: case
                .findings
                .iter()
                .map(|f| Finding {
                    requirement: f.requirement.as_deref(),
                    level: f.level,
                    kind: kind_word(f.kind),
                    root_cause: &f.cause,
                    verdict: f.verdict.as_str(),
                    summary: &f.summary,
                    details: &f.details,
                    at: f.at.as_ref(),
                    request: f.request.as_deref(),
                    known_failure: f.known.as_deref(),
                })
                .collect(),
            observations: case
                .observations
                .iter()
                .map(|o| Observation {
                    requirement: &o.requirement,
                    value: &o.value,
                })
                .collect(),
            requests: case
                .requests
                .iter()
                .map(|s| Request {
                    label: &s.label,
                    at: &s.at,
                    request: &s.request_line,
                    status: s.status,
                    duration_ms: s.elapsed.into(),
                })
                .collect(),
            notes: &case.notes,
            blocked_by: case.blocked.as_ref().map(|b| BlockedBy {
                requirement: &b.by,
                step: &b.step,
            }),
            inconclusive: case.inconclusive.as_deref(),
            left_behind: &case.left_behind,
            message: case.message.as_deref(),
            error: case.error.as_ref().map(|b| b.error.as_str()),
            skipped: case.skipped.as_deref(),
        }
    }
}

impl<'a> Cause<'a> {
    fn of(c: &'a RootCause) -> Self {
        Cause {
            key: &c.key,
            requirement: c.requirement.as_deref(),
            requirements: &c.requirements,
            tag: &c.tag,
            verdict: c.verdict.as_str(),
            summary: &c.summary,
            detail: c.detail.as_deref(),
            count: c.count,
            cases: &c.cases,
            files: &c.files,
            at: c.at.as_ref(),
        }
    }
}

impl<'a> Entry<'a> {
    fn of(entry: &'a EntryReport) -> Self {
        Entry {
            id: &entry.id,
            reason: &entry.reason,
            expires: entry.expires.as_deref(),
            at: &entry.at,
            status: entry.status.as_str(),
            cases: &entry.cases,
        }
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
            "description": "UTC, RFC 3339."
        })
    }
}

impl JsonSchema for Milliseconds {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Milliseconds".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "number", "minimum": 0})
    }
}

fn format_version(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"const": FORMAT_VERSION})
}

fn suite_name(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"const": "conformance"})
}

/// The words of `verdicts`, as a schema's `enum`.
fn words(verdicts: &[Verdict], more: &[&str]) -> Schema {
    let mut words: Vec<&str> = verdicts.iter().map(|v| v.as_str()).collect();
    words.extend(more);
    json_schema!({"enum": words})
}

const FINDING_VERDICTS: [Verdict; 4] = [
    Verdict::Fail,
    Verdict::Warn,
    Verdict::Info,
    Verdict::KnownFailure,
];

const CASE_VERDICTS: [Verdict; 8] = [
    Verdict::Pass,
    Verdict::Fail,
    Verdict::Warn,
    Verdict::Info,
    Verdict::Skipped,
    Verdict::KnownFailure,
    Verdict::Blocked,
    Verdict::Inconclusive,
];

fn case_verdict(_: &mut SchemaGenerator) -> Schema {
    words(&CASE_VERDICTS, &[])
}

fn requirement_verdict(_: &mut SchemaGenerator) -> Schema {
    words(&CASE_VERDICTS, &["not-run"])
}

fn finding_verdict(_: &mut SchemaGenerator) -> Schema {
    words(&FINDING_VERDICTS, &[])
}

fn kind_word(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::Requirement => "requirement",
        FindingKind::Target => "target",
        FindingKind::Snapshot => "snapshot",
        FindingKind::Inconclusive => "inconclusive",
    }
}

fn finding_kind(_: &mut SchemaGenerator) -> Schema {
    use FindingKind::*;
    let words = [Requirement, Target, Snapshot, Inconclusive].map(kind_word);
    json_schema!({ "enum": words })
}

fn entry_status(_: &mut SchemaGenerator) -> Schema {
    use super::EntryStatus::*;
    let words = [Used, Stale, Expired, Unchecked].map(|s| s.as_str());
    json_schema!({ "enum": words })
}
