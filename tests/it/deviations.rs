//! Mutation testing of the bundled suite: the reference server with one known deviation of real
//! servers switched on at a time must make the suite fail (MUST), warn (SHOULD) or observe
//! (INFO) exactly the requirements that deviation breaks, and no unrelated one.

use conformance::server::Deviation;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
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
    /// The run passes with nothing to report.
    Nothing,
}

/// A deviation, what the suite must say about it, and which other requirements may also be
/// reported (failing or warning) because the deviation really breaks them too. Anything outside
/// both lists is a false alarm.
struct Expectation {
    deviation: Deviation,
    verdict: Verdict,
    also: &'static [&'static str],
}

/// A server whose errors have another shape fails GEN-02 alone (GEN-03 judges the `param` and
/// `code` of an error object GEN-02 accepts); every other requirement is judged on its status
/// alone (and UPD-09-like rows on their own `code`).
const ERROR_OBJECT: &[&str] = &[];

/// The metadata of a stored chat completion follows the conversations' rules.
const CHAT_METADATA: &[&str] = &["CHT-01", "CHT-17"];

fn expectations() -> Vec<Expectation> {
    use Deviation as D;
    use Verdict::{Info, Must, Nothing, Should};
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
            // UPD-08 is blocked by UPD-06, not failed. A stored completion's metadata is the
            // same map: its update (CHT-17) and its answer (CHT-01) break too.
            CHAT_METADATA,
        ),
        // The probes of the strings at the limit find it on the chat and responses creates
        // too, whose rows state the same limits (CHT-19, RSP-17).
        e(
            D::LimitsCountBytes,
            Must(&["UPD-05", "CRE-05", "CHT-19", "RSP-17"]),
            &["CHT-01", "CHT-17"],
        ),
        e(
            D::NonStringValuesAccepted,
            Must(&["UPD-07", "CRE-05"]),
            // A stored non-string answered back is the acceptance's defect, not a broken
            // Conversation (CRE-01).
            &["CHT-01", "CHT-17"],
        ),
        e(D::EmptyUpdateAccepted, Must(&["UPD-10"]), &[]),
        e(D::NullMetadataRejected, Must(&["UPD-12"]), &[]),
        // The probes of every operation with a body find it too.
        e(D::UnknownFieldsIgnored, Should("UPD-17"), &["GEN-08"]),
        e(D::CreateWithoutBodyRejected, Must(&["CRE-01"]), &[]),
        // The metadata at the limits is not answered back either, nor the fidelity corpus.
        e(
            D::CreateIgnoresMetadata,
            Must(&["CRE-02"]),
            &["CRE-05", "GEN-09"],
        ),
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
            &[
                "UPD-09", "UPD-11", "UPD-17", "UPD-18", "DER-03", "GEN-08", "RSP-16", "CHT-13",
            ],
        ),
        e(D::ErrorsWithoutType, Must(&["GEN-02"]), ERROR_OBJECT),
        e(D::NoKeyServed, Should("GEN-04"), &[]),
        // An undeclared method is an unknown route to it as well.
        e(D::UnknownPath200, Should("GEN-06"), &["GEN-07"]),
        // A 404 that is not JSON at all is the error object's finding, not the content type's.
        e(D::UnknownPathText404, Must(&["GEN-02"]), &[]),
        e(D::JsonAsTextPlain, Must(&["GEN-01"]), &[]),
        e(D::InvalidJson500, Must(&["UPD-16", "GEN-05"]), &[]),
        // Where the step owes a status, the 500 is that status's finding (one per operation).
        e(D::MalformedId500, Must(&["UPD-15", "RET-02"]), &[]),
        e(D::ItemsDefaultOrderAsc, Must(&["ITM-03"]), &[]),
        e(D::ItemsDefaultLimit100, Must(&["ITM-03"]), &[]),
        e(D::HasMoreAlwaysFalse, Must(&["ITM-04"]), &[]),
        e(D::AfterIgnored, Must(&["ITM-04"]), &[]),
        e(D::LimitNotChecked, Must(&["ITM-05"]), &[]),
        e(D::IncludeBracketsRejected, Must(&["ITM-06"]), &[]),
        e(D::ItemCountNotLimited, Must(&["CRE-06", "ITM-02"]), &[]),
        e(D::ItemDeleteAnswersDeletedObject, Must(&["ITM-08"]), &[]),
        // The deleted item is "retrieved" too, and so is an item under another conversation.
        e(
            D::UnknownItemsPlaceholder,
            Must(&["ITM-07"]),
            &["ITM-08", "ITM-11"],
        ),
        e(D::ItemStatusNull, Must(&["ITM-01"]), &[]),
        e(D::ListsWithoutFirstLastIds, Must(&["ITM-04"]), &[]),
        e(D::CreateIgnoresItems, Must(&["CRE-06"]), &[]),
        e(D::CreateMetadataNull, Must(&["CRE-01"]), &[]),
        e(D::ItemsWithoutAuth, Should("GEN-04"), &[]),
        e(D::UndeclaredMethodsAsRetrieve, Should("GEN-07"), &[]),
        e(D::ItemsUnknownFieldsIgnored, Should("GEN-08"), &[]),
        e(D::ItemsAcrossConversations, Must(&["ITM-11"]), &[]),
        e(D::MetadataValuesTrimmed, Must(&["GEN-09"]), &[]),
        e(D::ItemsSystemAsDeveloper, Must(&["ITM-12"]), &[]),
        e(D::ItemPartsReversed, Must(&["ITM-12"]), &[]),
        e(D::StreamWithoutSequenceNumbers, Must(&["RSP-10"]), &[]),
        e(D::StreamWithoutDoneEvents, Must(&["RSP-11"]), &[]),
        e(D::StreamTwoResponseIds, Must(&["RSP-12"]), &[]),
        e(D::StreamDoneTrailer, Must(&["RSP-09"]), &[]),
        e(D::PreviousResponseIdIgnored, Must(&["RSP-07"]), &[]),
        e(D::CutStatusCompleted, Must(&["RSP-04"]), &[]),
        e(D::ModelsListWithoutObject, Must(&["MDL-01"]), &[]),
        e(D::ModelsCreatedFloat, Must(&["MDL-02"]), &[]),
        // What the retrieve of MDL-06 sets up is blocked by MDL-04, not failed.
        e(D::RetrieveModelMissing, Must(&["MDL-04"]), &[]),
        e(D::EmbeddingsBase64Unsupported, Must(&["EMB-05"]), &[]),
        e(D::EmbeddingsBase64OtherDimension, Must(&["EMB-05"]), &[]),
        e(D::EmbeddingsOrderShuffled, Must(&["EMB-02"]), &[]),
        e(D::EmbeddingsEmptyInputAccepted, Must(&["EMB-07"]), &[]),
        e(D::EmbeddingsDimensionsIgnored, Should("EMB-06"), &[]),
        e(D::ChatUsageEveryChunk, Must(&["CHT-08"]), &[]),
        e(D::ChatUsageChunkWithChoices, Must(&["CHT-08"]), &[]),
        e(D::ChatWithoutDone, Must(&["CHT-05"]), &[]),
        e(D::ChatFinishReasonMissing, Must(&["CHT-07"]), &[]),
        e(D::ChatFinishReasonTwice, Must(&["CHT-07"]), &[]),
        // The streamed choice then has no valid finish reason, which CHT-11 wants.
        e(
            D::ChatFinishReasonToolCall,
            Must(&["CHT-01", "CHT-07"]),
            &["CHT-11"],
        ),
        e(D::ToolDeltaWithoutIndex, Must(&["CHT-09"]), &[]),
        e(D::ToolDeltaWithoutType, Must(&["CHT-09"]), &[]),
        e(D::ToolDeltaArgumentsNull, Must(&["CHT-09"]), &[]),
        e(D::ChatWithoutRefusal, Must(&["CHT-01"]), &[]),
        e(D::ChatCreatedFloat, Must(&["CHT-01", "CHT-06"]), &[]),
        e(D::ChatErrorNotNested, Must(&["GEN-02"]), ERROR_OBJECT),
        // An error answered 200 is no completion either; the unknown-field probes see it too.
        e(D::ChatError200, Must(&["CHT-12"]), &["CHT-01", "GEN-08"]),
        e(D::ChatUnknownFieldsRejected, Should("CHT-14"), &[]),
        e(D::ChatRangesUnchecked, Must(&["CHT-12"]), &[]),
        // Load deviations that a run fitted to the target gets through unharmed.
        e(D::StallsAfter500, Nothing, &[]),
        e(D::BreaksUnderBurst, Nothing, &[]),
        e(D::InputItemsDefaultOrderAsc, Must(&["RSP-06"]), &[]),
        // The hand-written cases at the limits see the cut value too.
        e(
            D::LongValuesTruncated,
            Must(&["GEN-09", "UPD-05", "CRE-05"]),
            &[],
        ),
    ]
}

/// What one run of the suite reported, read from its JSON report (`--report-json`).
#[derive(Debug)]
struct Report {
    code: i32,
    /// What the binary printed, for the failure message and to check that failures are named.
    output: String,
    /// Requirement IDs of failing findings (`target` and `snapshot` for the others).
    failing: BTreeSet<String>,
    /// Requirement IDs of warnings (SHOULD findings that do not fail).
    warnings: BTreeSet<String>,
    /// `UPD-04 = merge`, one per observation.
    observations: BTreeSet<String>,
}

impl Report {
    fn read(code: i32, output: String, json: &Value) -> Self {
        let list = |value: &Value| value.as_array().cloned().unwrap_or_default();
        let text = |value: &Value| value.as_str().unwrap_or("?").to_owned();
        let mut report = Self {
            code,
            output,
            failing: BTreeSet::new(),
            warnings: BTreeSet::new(),
            observations: BTreeSet::new(),
        };
        for case in list(&json["cases"]) {
            for finding in list(&case["findings"]) {
                let id = match &finding["requirement"] {
                    Value::Null => text(&finding["kind"]),
                    requirement => text(requirement),
                };
                match finding["verdict"].as_str() {
                    Some("fail") => report.failing.insert(id),
                    Some("warn") => report.warnings.insert(id),
                    _ => false,
                };
            }
            for observation in list(&case["observations"]) {
                report.observations.insert(format!(
                    "{} = {}",
                    text(&observation["requirement"]),
                    text(&observation["value"])
                ));
            }
        }
        report
    }
}

/// Starts the reference server with `deviations` and runs the whole bundled suite against it
/// with the built binary, as a user would.
async fn run_suite(deviations: Vec<Deviation>, strict: bool) -> Report {
    run_suite_with(deviations, strict, &[]).await
}

/// [`run_suite`] with more arguments for `conformance run`.
async fn run_suite_with(deviations: Vec<Deviation>, strict: bool, args: &[&str]) -> Report {
    let server = crate::common::reference_server(KEY, deviations).await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let report_file = dir.path().join("report.json");
    let report_path = report_file.display().to_string();
    let mut run = vec!["run", "--base-url", server.base_url(), "--timeout", "10"];
    run.extend(["--report-json", &report_path]);
    if strict {
        run.push("--strict");
    }
    run.extend(args);
    let run = run.into_iter().map(String::from).collect();
    let mut command = crate::common::binary(run, &[("CONFORMANCE_API_KEY", KEY)]);
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
    let json = std::fs::read(&report_file)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .unwrap_or_else(|| panic!("no readable JSON report; output:\n{text}"));
    Report::read(output.status.code().unwrap_or(-1), text, &json)
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
            if !report.observations.contains(observation) {
                problems.push(format!("the observation `{observation}` is not reported"));
            }
            (0, BTreeSet::new(), BTreeSet::new())
        }
        Verdict::Nothing => (0, BTreeSet::new(), BTreeSet::new()),
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
    // The failure messages a user reads name them too: `  ITM-04 MUST: has_more: ...`.
    let unnamed: Vec<_> = must_fail
        .iter()
        .filter(|id| !report.output.contains(&format!("\n  {id} ")))
        .collect();
    if !unnamed.is_empty() {
        problems.push(format!("not named in the failure output: {unnamed:?}"));
    }
    let missed: Vec<_> = must_warn.difference(&report.warnings).collect();
    if !missed.is_empty() {
        problems.push(format!("not reported as a warning: {missed:?}"));
    }
    // ...and listed under `warnings:`, once per root cause: `    UPD-17 SHOULD: ...`, or with
    // the other rows of its rule: `    GEN-08, UPD-17 SHOULD: ...`.
    let warnings = report
        .output
        .split("\nwarnings: ")
        .nth(1)
        .unwrap_or_default();
    let listed = |id: &str| {
        warnings.lines().any(|line| {
            line.strip_prefix("    ")
                .and_then(|line| line.split_once(" SHOULD: "))
                .is_some_and(|(ids, _)| ids.split(", ").any(|listed| listed == id))
        })
    };
    let unlisted: Vec<_> = must_warn.iter().filter(|id| !listed(id)).collect();
    if !unlisted.is_empty() {
        problems.push(format!("not listed under `warnings:`: {unlisted:?}"));
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
    let _heavy = crate::common::heavy().await;
    let table = expectations();
    let missing: Vec<_> = Deviation::ALL
        .iter()
        .filter(|d| !table.iter().any(|e| e.deviation == **d))
        .collect();
    assert!(
        missing.is_empty(),
        "deviations without an expectation here: {missing:?}"
    );

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
        report.observations.contains("UPD-04 = replace"),
        "{:?}",
        report.observations
    );
}

/// A model the server neither lists nor retrieves (`--model`) fails the Models suite under
/// exactly its two requirements (what MDL-06 sets up is blocked by MDL-04).
#[tokio::test]
async fn a_model_the_server_does_not_serve_fails_listed_and_retrieve() {
    let report = run_suite_with(
        Vec::new(),
        false,
        &["--model", "conformance-not-served", "models/"],
    )
    .await;
    assert_eq!(report.code, 1, "exit code; output:\n{}", report.output);
    assert_eq!(
        report.failing,
        ids(&["MDL-03", "MDL-04"]),
        "output:\n{}",
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
