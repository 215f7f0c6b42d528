//! `cargo insta test` and `cargo insta review`, as the README gives them. cargo-insta runs
//! `cargo test` with `INSTA_FORCE_PASS=1` and `INSTA_UPDATE=new` (building it here would take
//! minutes, so its variables are set by hand): the self-tests must still see a changed snapshot
//! fail, and the suite must pass and leave the change as a `.snap.new` for `cargo insta review`.

use crate::common;

use common::{binary, exec};
use std::path::Path;

/// The variables `cargo insta test` runs the tests with.
const CARGO_INSTA: &[(&str, &str)] = &[
    ("INSTA_FORCE_PASS", "1"),
    ("INSTA_UPDATE", "new"),
    ("INSTA_CARGO_INSTA", "1"),
];

/// A snapshot set of the reference server with `without_body@1` changed.
fn changed_set(dir: &Path) -> std::path::PathBuf {
    let set = dir.join("set");
    std::fs::create_dir_all(&set).unwrap();
    let name = "conversations__create__without_body@1.snap";
    let committed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(name);
    let text = std::fs::read_to_string(committed).unwrap();
    std::fs::write(
        set.join(name),
        text.replace("\"metadata\": {}", "\"metadata\": {\"changed\": \"yes\"}"),
    )
    .unwrap();
    set
}

fn args(set: &Path) -> Vec<String> {
    [
        "run",
        "--no-derived",
        "--snapshots",
        set.to_str().unwrap(),
        "conversations/create/without_body",
    ]
    .map(String::from)
    .to_vec()
}

#[tokio::test]
async fn a_changed_snapshot_fails_the_self_tests_helpers() {
    let dir = tempfile::tempdir().unwrap();
    let set = changed_set(dir.path());
    let run = exec(args(&set), &[]).await;
    run.assert_code(1);
    run.assert_contains("snapshot `conversations__create__without_body@1` differs");
}

#[test]
fn under_cargo_insta_the_self_tests_still_see_a_changed_snapshot_fail() {
    // This test binary again, running the test above with cargo-insta's variables.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "insta::a_changed_snapshot_fails_the_self_tests_helpers",
        ])
        .envs(CARGO_INSTA.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[tokio::test]
async fn under_cargo_insta_the_suite_passes_and_leaves_the_change_for_review() {
    let dir = tempfile::tempdir().unwrap();
    let set = changed_set(dir.path());
    let mut env = CARGO_INSTA.to_vec();
    env.push(("CI", "false"));
    let mut command = binary(args(&set), &env);
    command.current_dir(dir.path());
    let output = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let pending = set.join("conversations__create__without_body@1.snap.new");
    let text = std::fs::read_to_string(&pending).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(text.contains("\"metadata\": {}"), "{text}");
}
