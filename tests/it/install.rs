//! The binary as a user installs it: copied out of this checkout and run from an empty folder
//! elsewhere, it runs the whole suite green against its embedded server and against `serve`,
//! and writes nothing: not into the folder it runs in, nor into this checkout's snapshots.

use crate::common;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn installed(dir: &Path) -> PathBuf {
    let bin = dir.join("bin").join(
        Path::new(env!("CARGO_BIN_EXE_conformance"))
            .file_name()
            .unwrap(),
    );
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_conformance"), &bin).unwrap();
    bin
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The installed binary with a clean environment of `CONFORMANCE_*`, insta and CI variables.
fn command(bin: &Path, cwd: &Path) -> Command {
    let mut command = Command::new(bin);
    command.current_dir(cwd);
    for (name, _) in std::env::vars() {
        if name.starts_with("CONFORMANCE_")
            || name.starts_with("INSTA_")
            || name.starts_with("GITHUB_")
        {
            command.env_remove(name);
        }
    }
    command.env_remove("CI").env_remove("NEXTEST");
    command
}

#[test]
fn installed_elsewhere_the_binary_runs_the_whole_suite_green_and_writes_nothing() {
    let _timed = common::timed_blocking();
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    let snapshots_before = files_below(&snapshots);
    let home = tempfile::tempdir().unwrap();
    let bin = installed(home.path());
    let cwd = home.path().join("somewhere-else");
    std::fs::create_dir_all(&cwd).unwrap();

    let embedded = command(&bin, &cwd).stdout(Stdio::piped()).spawn().unwrap();
    let (code, out) = common::finish_within(embedded, Duration::from_secs(120));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 failed"), "{out}");
    assert!(out.contains("derived/"), "the derived cases ran: {out}");

    let mut server = command(&bin, &cwd)
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open until the end: the server prints more lines, and a closed pipe would stop it.
    let (url, announced) = common::announced(&mut server);
    let against_serve = command(&bin, &cwd)
        .args(["--base-url", &url])
        .env("CONFORMANCE_API_KEY", "sk-any")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (code, out) = common::finish_within(against_serve, Duration::from_secs(120));
    let _ = server.kill();
    let _ = server.wait();
    drop(announced);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 failed"), "{out}");

    assert_eq!(
        files_below(&cwd),
        Vec::<PathBuf>::new(),
        "nothing is written where it runs"
    );
    assert_eq!(
        files_below(&snapshots),
        snapshots_before,
        "nothing is written into the checkout"
    );
}
