//! Real servers have many defects at once. With any combination of deviations switched on, the
//! suite must fail exactly the requirements those deviations fail on their own (no knock-on
//! red requirement), and report each defect as one root cause. And a server that stalls or
//! breaks under load gets a run that ends in bounded time, says it was degraded, and reports
//! no failure the server does not have.

use conformance::server::Deviation;
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const KEY: &str = "sk-many-defects-6c1d";

/// Deviations that each break what they break with one root cause (listing every requirement
/// of the rule they break: the metadata limits are CHT-17's, CRE-05's and UPD-06's), on
/// different checks: the pool the combinations are drawn from. Every deviation that fails a
/// MUST requirement is here but those that interact with another of the pool:
/// - `null-metadata-rejected`: with `empty-update-accepted`, which takes `{}` as
///   `metadata: null`, the server rejects `{}` again: the pair has one defect less than its parts.
/// - `create-metadata-null`: a conversation with `metadata: null` hides what the other
///   deviations do to metadata (and fails their checks under other root causes).
/// - `errors-as-string`, `errors-without-type`, `chat-error-not-nested`: another shape of the
///   same error object as `errors-as-detail`; a server has one error handler, and the run reads
///   a 4xx without an `error` object as one defect wherever it is seen.
/// - `embeddings-base64-unsupported`: it hides `embeddings-base64-other-dimension` (no base64
///   answer left to decode).
/// - `chat-finish-reason-twice`: the `finish_reason` invariants stop at their first break, so
///   with `chat-finish-reason-missing` only one of the two is seen; `tool-delta-without-type`
///   and `tool-delta-arguments-null` likewise hide behind `tool-delta-without-index`.
/// - `chat-error-200`: a CHT-12 error answered 200, as `chat-ranges-unchecked` answers its
///   ranges: from the outside the same wrong status of the same requirement.
/// - `update-changes-created-at`: on the same update answer as `update-changes-id`, the two
///   are two wrong fields of UPD-02's one answer, which is one root cause.
/// - `unknown-ids-placeholder`, `unknown-ids-created`: a deleted conversation that still
///   answers (`delete-keeps-conversation`) is, from outside, an unknown id answered: the same
///   wrong status of the same rule, one root cause; and an id that names nothing answered 200
///   hides `malformed-id-500`'s 500s on the same requests.
/// - `unknown-items-placeholder`: an item of another conversation answered
///   (`items-across-conversations`) is, from outside, an unknown item answered; and the case
///   that deletes an item stops at `item-delete-answers-deleted-object`'s other object, before
///   the retrieve of the deleted item where the placeholder shows as ITM-08's.
/// - `long-values-truncated`: nothing is stored on create with `create-ignores-metadata`, and
///   multibyte values at the limit are refused with `limits-count-bytes`, so its cut values
///   show under fewer requirements there.
/// - `limits-count-bytes`: with `metadata-limits-not-enforced` no length is refused at all.
/// - `chat-created-float` and `chat-finish-reason-tool-call`: a completion that breaks two
///   fields of its schema is one finding of its answer, so with `chat-without-refusal` their
///   completion's field is that answer's finding (their chunks' stays their own).
const POOL: &[(Deviation, &[&str])] = &[
    (Deviation::EmptyUpdateAccepted, &["UPD-10"]),
    (Deviation::CreateWithoutBodyRejected, &["CRE-01"]),
    (Deviation::UpdateNotPersisted, &["UPD-03"]),
    (Deviation::UpdateChangesId, &["UPD-02"]),
    (Deviation::CreatedAtMilliseconds, &["CRE-03"]),
    (Deviation::DeleteAnswersOtherShape, &["DEL-01"]),
    (Deviation::ErrorsAsDetail, &["GEN-02"]),
    (Deviation::JsonAsTextPlain, &["GEN-01"]),
    (Deviation::ItemsDefaultOrderAsc, &["ITM-03"]),
    (Deviation::HasMoreAlwaysFalse, &["ITM-04"]),
    (Deviation::ListsWithoutFirstLastIds, &["ITM-04"]),
    (Deviation::LimitNotChecked, &["ITM-05"]),
    (Deviation::IncludeBracketsRejected, &["ITM-06"]),
    (Deviation::ItemStatusNull, &["ITM-01"]),
    (Deviation::ItemDeleteAnswersDeletedObject, &["ITM-08"]),
    (Deviation::ItemsAcrossConversations, &["ITM-11"]),
    (Deviation::MetadataValuesTrimmed, &["GEN-09"]),
    (Deviation::ItemsSystemAsDeveloper, &["ITM-12"]),
    (Deviation::ItemPartsReversed, &["ITM-12"]),
    (Deviation::StreamWithoutSequenceNumbers, &["RSP-10"]),
    (Deviation::StreamDoneTrailer, &["RSP-09"]),
    (Deviation::ModelsListWithoutObject, &["MDL-01"]),
    (Deviation::ModelsCreatedFloat, &["MDL-02"]),
    (Deviation::RetrieveModelMissing, &["MDL-04"]),
    (Deviation::EmbeddingsBase64OtherDimension, &["EMB-05"]),
    (Deviation::EmbeddingsEmptyInputAccepted, &["EMB-07"]),
    (Deviation::ChatUsageChunkWithChoices, &["CHT-08"]),
    (Deviation::ChatWithoutDone, &["CHT-05"]),
    (Deviation::ChatFinishReasonMissing, &["CHT-07"]),
    (Deviation::ChatWithoutRefusal, &["CHT-01"]),
    (Deviation::ChatRangesUnchecked, &["CHT-12"]),
    (Deviation::ItemsDefaultLimit100, &["ITM-03"]),
    (Deviation::InputItemsDefaultOrderAsc, &["RSP-06"]),
    (Deviation::CutStatusCompleted, &["RSP-04"]),
    (Deviation::EmbeddingsOrderShuffled, &["EMB-02"]),
    (Deviation::StreamWithoutDoneEvents, &["RSP-11"]),
    (Deviation::StreamTwoResponseIds, &["RSP-12"]),
    (Deviation::ChatUsageEveryChunk, &["CHT-08"]),
    (Deviation::UnknownPathText404, &["GEN-02"]),
    (Deviation::CreateIgnoresItems, &["CRE-06"]),
    (Deviation::ToolDeltaWithoutIndex, &["CHT-09"]),
    (
        Deviation::MetadataLimitsNotEnforced,
        &["CHT-17", "CRE-05", "UPD-06"],
    ),
    (
        Deviation::DeleteKeepsConversation,
        &["DEL-02", "DEL-03", "ITM-09", "UPD-14"],
    ),
    (Deviation::MalformedId500, &["RET-02", "UPD-15"]),
    (Deviation::AfterIgnored, &["ITM-04"]),
    (Deviation::ItemCountNotLimited, &["CRE-06", "ITM-02"]),
    // One 5xx of updateConversation, whichever requirement's step met it.
    (Deviation::InvalidJson500, &["GEN-05", "UPD-16"]),
    // One store dropping the pairs, seen by three rows.
    (
        Deviation::CreateIgnoresMetadata,
        &["CRE-02", "CRE-05", "GEN-09"],
    ),
    (
        Deviation::NonStringValuesAccepted,
        &["CHT-17", "CRE-05", "UPD-07"],
    ),
    // Neither echoed nor checked: one field ignored.
    (Deviation::PreviousResponseIdIgnored, &["RSP-07"]),
];

/// What a run reported, from its JSON report.
#[derive(Debug)]
struct Outcome {
    code: i32,
    /// Requirements whose verdict is `fail`.
    failing: BTreeSet<String>,
    /// Keys of the failing root causes.
    causes: BTreeSet<String>,
    /// The requirements of each failing root cause, sorted (one entry per root cause).
    cause_requirements: Vec<Vec<String>>,
    degraded: Value,
    inconclusive: usize,
    output: String,
    /// The Markdown matrix.
    markdown: String,
}

fn command(base_url: &str, report: &std::path::Path, extra: &[&str]) -> std::process::Command {
    let mut args = vec!["run", "--base-url", base_url];
    args.extend(extra);
    let report = report.display().to_string();
    args.extend(["--report-json", &report]);
    let args = args.into_iter().map(String::from).collect();
    crate::common::binary(args, &[("CONFORMANCE_API_KEY", KEY)]).into_std()
}

/// Runs the whole suite against a reference server with `deviations`, as a user would.
async fn run_suite(deviations: &[Deviation], extra: &[&str]) -> Outcome {
    let server = crate::common::reference_server(KEY, deviations.to_vec()).await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let report = dir.path().join("report.json");
    let matrix = dir.path().join("matrix.md");
    let mut extra = extra.to_vec();
    let matrix_arg = matrix.display().to_string();
    extra.extend(["--report-md", &matrix_arg]);
    let mut command = tokio::process::Command::from(command(server.base_url(), &report, &extra));
    command.kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), command.output())
        .await
        .expect("the suite finishes within 180 s")
        .expect("the binary runs");
    drop(server);
    let output_text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = std::fs::read(&report)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| panic!("no JSON report; output:\n{output_text}"));
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    Outcome {
        code: output.status.code().unwrap_or(-1),
        failing: list(&json["requirements"])
            .iter()
            .filter(|r| r["verdict"] == "fail")
            .map(|r| r["id"].as_str().unwrap_or("?").to_owned())
            .collect(),
        causes: list(&json["root_causes"])
            .iter()
            .filter(|c| c["verdict"] == "fail")
            .map(|c| c["key"].as_str().unwrap_or("?").to_owned())
            .collect(),
        cause_requirements: {
            let mut causes: Vec<Vec<String>> = list(&json["root_causes"])
                .iter()
                .filter(|c| c["verdict"] == "fail")
                .map(|c| {
                    list(&c["requirements"])
                        .iter()
                        .map(|id| id.as_str().unwrap_or("?").to_owned())
                        .collect()
                })
                .collect();
            causes.sort();
            causes
        },
        degraded: json["degraded"].clone(),
        inconclusive: list(&json["cases"])
            .iter()
            .filter(|c| c["verdict"] == "inconclusive")
            .count(),
        output: output_text,
        markdown: std::fs::read_to_string(&matrix).unwrap_or_default(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Requirements a pool defect's root cause lists that warn rather than fail: the SHOULD rows
/// of its rule (a second delete answering 200 is a deleted conversation still answered).
const WARN_ONLY: &[&str] = &["DEL-03"];

/// Judges one run of the suite against a server with `subset` switched on: exactly the
/// requirements they break fail, each deviation one root cause listing its requirements.
fn judge(subset: &[(Deviation, &[&str])], outcome: &Outcome) -> Result<(), String> {
    let names: Vec<&str> = subset.iter().map(|(d, _)| d.name()).collect();
    let expected_failing: BTreeSet<String> = subset
        .iter()
        .flat_map(|(_, ids)| ids.iter().filter(|id| !WARN_ONLY.contains(id)))
        .map(|id| (*id).to_owned())
        .collect();
    let mut expected_causes: Vec<Vec<String>> = subset
        .iter()
        .map(|(_, ids)| {
            let mut ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
            ids.sort();
            ids
        })
        .collect();
    expected_causes.sort();
    if outcome.code != 1 || outcome.failing != expected_failing {
        return Err(format!(
            "{names:?}: exit {} failing {:?}, expected exactly {expected_failing:?}\n{}",
            outcome.code, outcome.failing, outcome.output
        ));
    }
    if outcome.cause_requirements != expected_causes {
        return Err(format!(
            "{names:?}: one root cause per defect, listing its requirements: expected {expected_causes:?}, got {:?}\n{:#?}",
            outcome.cause_requirements, outcome.causes
        ));
    }
    Ok(())
}

#[test]
fn any_combination_of_defects_fails_exactly_their_requirements_each_as_one_root_cause() {
    let _heavy = crate::common::heavy_blocking();
    let started = Instant::now();
    let rt = runtime();
    // Every deviation of the pool, in two halves at once: each is seen in company.
    let (first, second) = POOL.split_at(POOL.len() / 2);
    let halves = rt.block_on(futures_join([first, second].map(|half| async move {
        let deviations: Vec<Deviation> = half.iter().map(|(d, _)| *d).collect();
        (half, run_suite(&deviations, &[]).await)
    })));
    for (half, outcome) in &halves {
        if let Err(e) = judge(half, outcome) {
            panic!("{e}");
        }
        // A rule broken on several rows is one root cause that names them, in the summary and
        // in the matrix.
        for (_, ids) in half.iter().filter(|(_, ids)| ids.len() > 1) {
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            let named = ids.join(", ");
            let line = format!("{named} MUST: ");
            assert!(outcome.output.contains(&line), "{line}\n{}", outcome.output);
            let row = format!("| {named} | ");
            assert!(
                outcome.markdown.contains(&row),
                "{row}\n{}",
                outcome.markdown
            );
        }
    }
    // More combinations with PROPTEST_CASES (and the time bound with it).
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(6);
    let budget = Duration::from_secs(180 + 60 * u64::from(cases.saturating_sub(6)));
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(subset in proptest::sample::subsequence(POOL.to_vec(), 2..=POOL.len()))| {
        // Bounded in time: past the budget the remaining combinations are not run (a rejected
        // case would be drawn again, and too many rejections abort the test).
        if started.elapsed() > budget {
            return Ok(());
        }
        let deviations: Vec<Deviation> = subset.iter().map(|(d, _)| *d).collect();
        let outcome = rt.block_on(run_suite(&deviations, &[]));
        if let Err(e) = judge(&subset, &outcome) {
            return Err(TestCaseError::fail(e));
        }
    });
}

/// Runs futures at once and collects their results in order.
async fn futures_join<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("no panic"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stalls_after_its_own_500s_gets_a_bounded_degraded_run_with_only_its_defects()
{
    let _timed = crate::common::timed().await;
    // The stall is read by the server when it starts (this process).
    std::env::set_var("CONFORMANCE_SERVE_STALL_MS", "2500");
    let started = Instant::now();
    let outcome = run_suite(
        &[Deviation::InvalidJson500, Deviation::StallsAfter500],
        &["--timeout", "1"],
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(150), "bounded time");
    assert_eq!(outcome.code, 1, "{}", outcome.output);
    let only_its_own: BTreeSet<String> = ["UPD-16", "GEN-05"].map(String::from).into();
    assert!(
        outcome.failing.is_subset(&only_its_own) && outcome.failing.contains("UPD-16"),
        "failing {:?}\n{}",
        outcome.failing,
        outcome.output
    );
    assert_eq!(outcome.degraded["degraded"], true, "{}", outcome.output);
    assert!(
        outcome.degraded["stalls"].as_u64().unwrap_or(0) >= 1,
        "{:?}",
        outcome.degraded
    );
    assert!(
        outcome
            .output
            .contains("degraded run: the target did not answer smoothly"),
        "{}",
        outcome.output
    );
    // The cases caught in a stall run again alone: every case is judged in the end (the 4
    // invalid bodies all found), none left inconclusive.
    assert_eq!(outcome.inconclusive, 0, "{}", outcome.output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_server_that_breaks_under_a_burst_is_warmed_up_by_one_request_first() {
    let _timed = crate::common::timed().await;
    std::env::set_var("CONFORMANCE_SERVE_STALL_MS", "2500");
    // The deviation bites: a burst of first requests hangs all but the first.
    let server = crate::common::reference_server(KEY, vec![Deviation::BreaksUnderBurst]).await;
    conformance::target::install_tls_provider();
    let client = reqwest::Client::new();
    let url = format!("{}/conversations", server.base_url());
    let burst = (0..4).map(|_| {
        let request = client
            .post(&url)
            .bearer_auth(KEY)
            .header("Content-Type", "application/json")
            .body("{}");
        async move {
            let sent = Instant::now();
            let _ = request.timeout(Duration::from_secs(1)).send().await;
            sent.elapsed()
        }
    });
    let times = futures_join(burst).await;
    assert!(
        times
            .iter()
            .filter(|t| **t >= Duration::from_secs(1))
            .count()
            >= 2,
        "{times:?}"
    );
    drop(server);

    // A default run sends one request first, alone: the fresh server gets through.
    let outcome = run_suite(&[Deviation::BreaksUnderBurst], &["--timeout", "2"]).await;
    assert_eq!(outcome.code, 0, "{}", outcome.output);
    assert_eq!(outcome.inconclusive, 0);
}

#[test]
fn a_dead_target_is_reported_in_seconds_with_exit_3() {
    let _timed = crate::common::timed_blocking();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/v1");
    // Seconds beyond what loading the suite takes on this machine now, busy or not.
    let started = Instant::now();
    let listed = command(&url, &dir.path().join("list.json"), &["--list"])
        .output()
        .unwrap();
    assert_eq!(listed.status.code(), Some(0));
    let loading = started.elapsed();
    let started = Instant::now();
    let output = command(&url, &dir.path().join("report.json"), &[])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(
        started.elapsed() < loading + Duration::from_secs(10),
        "{:?}, loading {loading:?}",
        started.elapsed()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("the target does not answer"), "{stdout}");
}
