//! Mutation testing of the bundled suite: the reference server with one known deviation of real
//! servers switched on at a time must make the suite fail (MUST), warn (SHOULD) or observe
//! (INFO) exactly the requirements that deviation breaks, and no unrelated one.

use conformance::server::{self, Deviation, ServerConfig};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const KEY: &str = "sk-deviations-3b8e1f0c9a7d";
/// Suite runs at a time: each is a process with its own threads, and the machine may have two
/// cores.
const PARALLEL_RUNS: usize = 4;

/// What the suite must report for a deviation.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    /// The run fails, naming every one of these requirements.
    Must(&'static [&'static str]),
    /// The run passes with this requirement under `warnings:`; with `--strict` it fails on it.
    Should(&'static str),
    /// The run passes and reports this observation (`UPD-04 = merge`).
    Info(&'static str),
}

/// A deviation, what the suite must say about it, and which other requirements may also be
/// reported (failing or warning) because the deviation really breaks them too. Anything outside
/// both lists is a false alarm.
struct Expectation {
    deviation: Deviation,
    verdict: Verdict,
    also: &'static [&'static str],
}

/// Requirements whose text asks for "the error object": a server whose errors have another
/// shape breaks each of them, besides GEN-02 and the SHOULD checks on `code` and `param`.
const ERROR_OBJECT: &[&str] = &[
    "RET-02", "UPD-06", "UPD-07", "UPD-14", "UPD-15", "UPD-16", "ITM-07", "CRE-05", "GEN-03",
    "GEN-04", "GEN-06", "UPD-09", "UPD-11", "UPD-17", "UPD-18",
];

/// Every item answer is checked against the spec's schema under the requirement of the case
/// that receives it, so a wrong item or list shape shows in every items case.
const ITEM_ANSWERS: &[&str] = &[
    "ITM-01", "ITM-03", "ITM-04", "ITM-05", "ITM-06", "ITM-07", "ITM-08", "ITM-09", "CRE-06",
];

fn expectations() -> Vec<Expectation> {
    use Deviation as D;
    use Verdict::{Info, Must, Should};
    let e = |deviation, verdict, also| Expectation {
        deviation,
        verdict,
        also,
    };
    vec![
        e(D::UpdateMergesMetadata, Info("UPD-04 = merge"), &[]),
        e(
            D::MetadataLimitsNotEnforced,
            Must(&["UPD-06", "CRE-05"]),
            &["UPD-08"],
        ),
        e(D::LimitsCountBytes, Must(&["UPD-05", "CRE-05"]), &[]),
        e(
            D::NonStringValuesAccepted,
            Must(&["UPD-07", "CRE-05"]),
            // A rejected update that is stored changes the metadata; a stored non-string is
            // answered, and the answer is no longer a valid Conversation.
            &["UPD-08", "UPD-01"],
        ),
        e(D::EmptyUpdateAccepted, Must(&["UPD-10"]), &[]),
        e(D::NullMetadataRejected, Must(&["UPD-12"]), &[]),
        e(D::UnknownFieldsIgnored, Should("UPD-17"), &[]),
        e(D::CreateWithoutBodyRejected, Must(&["CRE-01"]), &[]),
        // The metadata at the limits is not answered back either.
        e(D::CreateIgnoresMetadata, Must(&["CRE-02"]), &["CRE-05"]),
        e(D::UpdateNotPersisted, Must(&["UPD-03"]), &[]),
        e(D::UpdateChangesCreatedAt, Must(&["UPD-02"]), &[]),
        e(D::UpdateChangesId, Must(&["UPD-02"]), &[]),
        e(D::CreatedAtMilliseconds, Must(&["CRE-03"]), &[]),
        e(D::IdsWithoutPrefix, Should("CRE-04"), &[]),
        e(
            D::UnknownIdsPlaceholder,
            Must(&["RET-02", "UPD-14"]),
            &["UPD-15", "DEL-02", "DEL-03"],
        ),
        e(
            D::UnknownIdsCreated,
            Must(&["RET-02", "UPD-14"]),
            &["UPD-15", "DEL-02", "DEL-03", "ITM-09"],
        ),
        e(D::DeleteAnswersOtherShape, Must(&["DEL-01"]), &[]),
        e(D::SecondDeleteSucceeds, Should("DEL-03"), &[]),
        e(
            D::DeleteKeepsConversation,
            Must(&["DEL-02"]),
            &["UPD-14", "ITM-09", "DEL-03"],
        ),
        e(D::ErrorsAsDetail, Must(&["GEN-02"]), ERROR_OBJECT),
        e(D::ErrorsAsString, Must(&["GEN-02"]), ERROR_OBJECT),
        e(
            D::ErrorsWithoutParamCode,
            Should("GEN-03"),
            &["UPD-09", "UPD-11", "UPD-17", "UPD-18"],
        ),
        e(D::ErrorsWithoutType, Must(&["GEN-02"]), ERROR_OBJECT),
        e(D::NoKeyServed, Should("GEN-04"), &[]),
        e(D::UnknownPath200, Should("GEN-06"), &[]),
        e(
            D::UnknownPathText404,
            Must(&["GEN-01"]),
            &["GEN-02", "GEN-06"],
        ),
        e(D::JsonAsTextPlain, Must(&["GEN-01"]), &[]),
        e(D::InvalidJson500, Must(&["UPD-16", "GEN-05"]), &[]),
        e(D::MalformedId500, Must(&["UPD-15", "GEN-05"]), &["RET-02"]),
        e(D::ItemsDefaultOrderAsc, Must(&["ITM-03"]), &[]),
        e(D::ItemsDefaultLimit100, Must(&["ITM-03"]), &[]),
        e(D::HasMoreAlwaysFalse, Must(&["ITM-04"]), &[]),
        e(D::AfterIgnored, Must(&["ITM-04"]), &[]),
        e(D::LimitNotChecked, Must(&["ITM-05"]), &[]),
        e(D::IncludeBracketsRejected, Must(&["ITM-06"]), &[]),
        e(D::ItemCountNotLimited, Must(&["CRE-06", "ITM-02"]), &[]),
        e(D::ItemDeleteAnswersDeletedObject, Must(&["ITM-08"]), &[]),
        // The deleted item is "retrieved" too.
        e(D::UnknownItemsPlaceholder, Must(&["ITM-07"]), &["ITM-08"]),
        e(D::ItemStatusNull, Must(&["ITM-01"]), ITEM_ANSWERS),
        e(D::ListsWithoutFirstLastIds, Must(&["ITM-04"]), ITEM_ANSWERS),
        e(D::CreateIgnoresItems, Must(&["CRE-06"]), &[]),
    ]
}

/// What one run of the suite reported.
#[derive(Debug)]
struct Report {
    code: i32,
    output: String,
    /// Requirement IDs of failing findings (`target` and `snapshot` for the others).
    failing: BTreeSet<String>,
    /// Requirement IDs under `warnings:`.
    warnings: BTreeSet<String>,
}

impl Report {
    fn parse(code: i32, output: String) -> Self {
        let mut failing = BTreeSet::new();
        let mut warnings = BTreeSet::new();
        for line in output.lines() {
            // A finding in a failure message: `  UPD-03 MUST: ...`, `  GEN-03 SHOULD
            // (warning): ...` (does not fail) or `  target: ...`.
            if let Some(finding) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
                if let Some((tag, _)) = finding.split_once(": ") {
                    let mut words = tag.split(' ');
                    let id = words.next().unwrap_or_default();
                    let is_tag = is_requirement_id(id) || id == "target" || id == "snapshot";
                    if is_tag && !tag.ends_with("(warning)") && words.all(is_level) {
                        failing.insert(id.to_owned());
                    }
                }
            }
            // A warning after the summary: `    <test>: UPD-17 SHOULD: ...`.
            if let Some(warning) = line.strip_prefix("    ") {
                let mut parts = warning.split(": ");
                if let (Some(_test), Some(tag)) = (parts.next(), parts.next()) {
                    if let Some(id) = tag
                        .strip_suffix(" SHOULD")
                        .filter(|id| is_requirement_id(id))
                    {
                        warnings.insert(id.to_owned());
                    }
                }
            }
        }
        Self {
            code,
            output,
            failing,
            warnings,
        }
    }
}

fn is_requirement_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 6
        && bytes[..3].iter().all(u8::is_ascii_uppercase)
        && bytes[3] == b'-'
        && bytes[4..].iter().all(u8::is_ascii_digit)
}

fn is_level(word: &str) -> bool {
    matches!(word, "MUST" | "SHOULD" | "INFO")
}

/// Starts the reference server with `deviations` and runs the whole bundled suite against it
/// with the built binary, as a user would.
async fn run_suite(deviations: Vec<Deviation>, strict: bool) -> Report {
    let server = server::spawn(
        ServerConfig {
            api_key: Some(KEY.to_owned()),
            deviations,
        },
        "127.0.0.1",
        0,
    )
    .await
    .expect("the reference server starts");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_conformance"));
    command.args(["run", "--base-url", server.base_url(), "--timeout", "10"]);
    if strict {
        command.arg("--strict");
    }
    for var in [
        "CONFORMANCE_BASE_URL",
        "CONFORMANCE_STRICT",
        "CONFORMANCE_TARGET_NAME",
        "CONFORMANCE_TIMEOUT",
        "CONFORMANCE_CASES_DIR",
        "CONFORMANCE_SPEC_DIR",
        "CONFORMANCE_SNAPSHOT_DIR",
        "INSTA_UPDATE",
    ] {
        command.env_remove(var);
    }
    command
        .env("CONFORMANCE_API_KEY", KEY)
        .env("CI", "true")
        .env("INSTA_OUTPUT", "none")
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the suite finishes within 120 s")
        .expect("the binary runs");
    drop(server);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Report::parse(output.status.code().unwrap_or(-1), text)
}

fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// What is wrong with a run, if anything.
fn judge(expectation: &Expectation, strict: bool, report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    let mut allowed = ids(expectation.also);
    let (code, must_fail, must_warn) = match expectation.verdict {
        Verdict::Must(expected) => (1, ids(expected), BTreeSet::new()),
        Verdict::Should(id) if strict => (1, ids(&[id]), BTreeSet::new()),
        Verdict::Should(id) => (0, BTreeSet::new(), ids(&[id])),
        Verdict::Info(observation) => {
            if !report.output.contains(observation) {
                problems.push(format!("the observation `{observation}` is not reported"));
            }
            (0, BTreeSet::new(), BTreeSet::new())
        }
    };
    allowed.extend(must_fail.iter().cloned());
    allowed.extend(must_warn.iter().cloned());
    if report.code != code {
        problems.push(format!("exit code {}, expected {code}", report.code));
    }
    let missed: Vec<_> = must_fail.difference(&report.failing).collect();
    if !missed.is_empty() {
        problems.push(format!(
            "not reported as failing: {missed:?} (a gap in the suite)"
        ));
    }
    let missed: Vec<_> = must_warn.difference(&report.warnings).collect();
    if !missed.is_empty() {
        problems.push(format!("not reported as a warning: {missed:?}"));
    }
    if !must_warn.is_empty() && !report.failing.is_empty() {
        problems.push(format!(
            "a SHOULD deviation fails requirements: {:?}",
            report.failing
        ));
    }
    let reported: BTreeSet<_> = report.failing.union(&report.warnings).cloned().collect();
    let unrelated: Vec<_> = reported.difference(&allowed).collect();
    if !unrelated.is_empty() {
        problems.push(format!(
            "unrelated requirements reported (false alarms): {unrelated:?}"
        ));
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_catches_every_known_deviation_and_nothing_else() {
    let table = expectations();
    let missing: Vec<_> = Deviation::ALL
        .iter()
        .filter(|d| !table.iter().any(|e| e.deviation == **d))
        .collect();
    assert!(
        missing.is_empty(),
        "deviations without an expectation here: {missing:?}"
    );

    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(PARALLEL_RUNS));
    let mut runs = JoinSet::new();
    for expectation in table {
        let strict_too = matches!(expectation.verdict, Verdict::Should(_));
        let expectation = Arc::new(expectation);
        for strict in [false, true].into_iter().take(1 + usize::from(strict_too)) {
            let slots = Arc::clone(&slots);
            let expectation = Arc::clone(&expectation);
            runs.spawn(async move {
                let _slot = slots
                    .acquire_owned()
                    .await
                    .expect("the semaphore stays open");
                let report = run_suite(vec![expectation.deviation], strict).await;
                (expectation, strict, report)
            });
        }
    }
    let mut failures = Vec::new();
    while let Some(joined) = runs.join_next().await {
        let (expectation, strict, report) = joined.expect("a run does not panic");
        let problems = judge(&expectation, strict, &report);
        if !problems.is_empty() {
            failures.push(format!(
                "--deviate {}{}: {}\n  failing: {:?}\n  warnings: {:?}\n{}",
                expectation.deviation,
                if strict { " --strict" } else { "" },
                problems.join("; "),
                report.failing,
                report.warnings,
                report.output
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of the deviation runs went wrong:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // Loose bound: the point is that this file stays well under a minute.
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the deviation runs took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_reference_server_passes_strict_mode_with_nothing_to_report() {
    let report = run_suite(Vec::new(), true).await;
    assert_eq!(report.code, 0, "exit code; output:\n{}", report.output);
    assert!(
        report.failing.is_empty() && report.warnings.is_empty(),
        "failing {:?}, warnings {:?}; output:\n{}",
        report.failing,
        report.warnings,
        report.output
    );
    assert!(
        report.output.contains("UPD-04 = replace"),
        "{}",
        report.output
    );
}

#[test]
fn deviate_list_names_every_deviation_on_its_own_line() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args(["serve", "--deviate", "list"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), Deviation::ALL.len(), "{stdout}");
    for (line, deviation) in lines.iter().zip(Deviation::ALL) {
        assert!(
            line.starts_with(deviation.name()) && line.ends_with(deviation.summary()),
            "{line:?} is not `{deviation}  {}`",
            deviation.summary()
        );
    }
}

#[test]
fn an_unknown_deviation_is_a_usage_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args(["serve", "--deviate", "merges-metadata"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value 'merges-metadata' for '--deviate <NAME>'"),
        "{stderr}"
    );
}

#[test]
fn findings_and_warnings_are_read_from_the_output() {
    let output = "\
---- a ----
UPD-03 MUST: every pair sent...
    case: cases/a.yaml
--> cases/a.yaml:3:5 step 2 (update)
    request: POST http://x/v1/conversations/c
  UPD-03 MUST: metadata: expected {}, got {\"a\": \"1\"}
      at /metadata: details: with colons
  GEN-03 SHOULD (warning): the error object lacks `param`
  target: cannot build the request: no variable `p1.last_id`

warnings: 1 SHOULD check not met (--strict makes them fail):
    conversations/update/unknown_field: UPD-17 SHOULD: error.code: expected \"unknown_parameter\"
";
    let report = Report::parse(1, output.to_owned());
    assert_eq!(report.failing, ids(&["UPD-03", "target"]));
    assert_eq!(report.warnings, ids(&["UPD-17"]));
}
