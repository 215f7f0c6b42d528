//! The command line as a Rust user expects it: `--help` and `--version`, an empty selection is
//! an error unless asked otherwise, a filter selects what is sent, `--fail-fast` stops after the first failure, a closed
//! stdout ends the run quietly, the target is said first, and colours follow `--color` and
//! `NO_COLOR`.

use crate::common;

use common::{binary, exec};
use std::process::Stdio;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn help_names_the_tool_and_groups_libtest_flags_and_version_prints_the_version() {
    let help = exec(args(&["--help"]), &[]).await;
    help.assert_code(0);
    assert!(
        help.stdout.starts_with(
            "Checks a server against the OpenAI API contract: Conversations, Responses"
        ),
        "{}",
        help.stdout
    );
    assert!(help
        .stdout
        .contains("Usage: conformance [OPTIONS] [FILTER]"));
    assert!(help.stdout.contains("Test selection and output:"));
    assert!(help.stdout.contains("--fail-fast"));
    for hidden in ["--bench", "--nocapture", "--show-output", "--logfile", "-Z"] {
        assert!(
            !help.stdout.contains(&format!("  {hidden} ")),
            "{hidden} is shown"
        );
    }
    let version = exec(args(&["--version"]), &[]).await;
    version.assert_code(0);
    assert_eq!(
        version.stdout.trim(),
        format!("conformance {}", env!("CARGO_PKG_VERSION"))
    );
    let serve = exec(args(&["serve", "--help"]), &[]).await;
    assert!(
        serve
            .stdout
            .contains("--host <HOST>\n          Address to listen on"),
        "{}",
        serve.stdout
    );
}

#[tokio::test]
async fn a_selection_of_no_test_is_a_usage_error_unless_asked_to_pass() {
    let none = exec(args(&["--no-derived", "no-such-case"]), &[]).await;
    none.assert_code(2);
    none.assert_contains("no test selected (no name contains `no-such-case`)");
    exec(
        args(&["--no-derived", "--no-tests", "pass", "no-such-case"]),
        &[],
    )
    .await
    .assert_code(0);
}

/// The case files' cases start while the generated ones are still being built: the selection
/// holds for them all the same.
#[tokio::test]
async fn a_filtered_run_sends_only_what_it_selected() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let run = exec(
        args(&[
            "conversations/update/",
            "--skip",
            "conversations/update/replace",
            "--record-requests",
            log.to_str().unwrap(),
        ]),
        &[],
    )
    .await;
    run.assert_code(0);
    let text = std::fs::read_to_string(&log).unwrap();
    let cases: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["case"].to_string())
        .collect();
    assert!(cases.len() > 10, "{cases:?}");
    assert!(
        cases
            .iter()
            .all(|c| c.starts_with("\"conversations/update/")
                && !c.starts_with("\"conversations/update/replace")),
        "{cases:?}"
    );
}

#[tokio::test]
async fn fail_fast_starts_no_case_after_the_first_failure() {
    // A target whose every answer breaks GEN-01 fails each case: with --fail-fast only the
    // first (the one already running) is tried.
    let server = common::reference_server(
        "sk-fail-fast-test",
        vec![conformance::server::Deviation::JsonAsTextPlain],
    )
    .await;
    let run = exec(
        args(&[
            "--base-url",
            server.base_url(),
            "--no-derived",
            "--fail-fast",
            "--test-threads",
            "1",
            "--timeout",
            "5",
        ]),
        &[("CONFORMANCE_API_KEY", "sk-fail-fast-test")],
    )
    .await;
    run.assert_code(1);
    run.assert_contains("not run: --fail-fast stopped the run after a failure");
    run.assert_contains("--fail-fast: stopped after the first failure;");
}

#[tokio::test]
async fn the_target_is_said_first_and_a_closed_stdout_ends_the_run_quietly() {
    let run = exec(
        args(&["--no-derived", "conversations/update/keeps_identity"]),
        &[],
    )
    .await;
    run.assert_code(0);
    assert!(
        run.stderr
            .starts_with("target: the embedded reference server at http://127.0.0.1:"),
        "{}",
        run.stderr
    );

    for list in [&["--list"][..], &["--no-derived"][..]] {
        let mut command = binary(args(list), &[]);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        // Read nothing: close stdout at once.
        drop(child.stdout.take());
        let output =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
                .await
                .unwrap()
                .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{list:?}: {stderr}");
        assert!(
            matches!(output.status.code(), Some(0 | 141)),
            "{list:?}: {:?}",
            output.status
        );
    }
}

#[tokio::test]
async fn colours_follow_color_and_no_color_and_never_reach_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let base = [
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--no-derived",
        "--timeout",
        "2",
        "general/unknown_path",
    ];
    let mut coloured = args(&base);
    coloured.extend(args(&[
        "--color",
        "always",
        "--junit",
        junit.to_str().unwrap(),
    ]));
    let run = exec(coloured, &[]).await;
    assert!(
        run.stdout.contains("\x1b[31mFAILED\x1b[0m"),
        "{}",
        run.stdout
    );
    assert!(
        !std::fs::read_to_string(&junit).unwrap().contains('\x1b'),
        "no colour in a report"
    );
    // Not a terminal, or NO_COLOR: no colour.
    let plain = exec(args(&base), &[]).await;
    assert!(!plain.stdout.contains('\x1b'), "{}", plain.stdout);
    let no_color = exec(args(&base), &[("NO_COLOR", "1")]).await;
    assert!(!no_color.stdout.contains('\x1b'), "{}", no_color.stdout);
}
