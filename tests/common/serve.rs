//! The reference server for the tests: in this process, or as `conformance serve` in a child.

use conformance::server::{self, Deviation, RunningServer, ServerConfig};
use std::io::BufRead;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// The reference server in this process, on a free port, with `api_key` and `deviations`.
pub async fn reference_server(api_key: &str, deviations: Vec<Deviation>) -> RunningServer {
    server::spawn(
        ServerConfig {
            api_key: Some(api_key.to_owned()),
            deviations,
            ..ServerConfig::default()
        },
        "127.0.0.1",
        0,
    )
    .await
    .expect("the reference server starts")
}

/// `conformance serve --port 0` with `args`, none of this process's `CONFORMANCE_*` variables.
pub fn serve_command(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_conformance"));
    command.args(["serve", "--port", "0"]).args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CONFORMANCE_") {
            command.env_remove(name);
        }
    }
    command
}

/// `conformance serve --port 0` with `args`, started: see [`start_serving`].
pub async fn serve(args: &[&str]) -> (tokio::process::Child, String) {
    start_serving(serve_command(args)).await
}

/// Starts `command` (a [`serve_command`]); answers the child, killed when dropped, and the base
/// URL it announces. Its stdout is read on to the end: a closed pipe would stop the server.
pub async fn start_serving(
    mut command: tokio::process::Command,
) -> (tokio::process::Child, String) {
    command.stdout(Stdio::piped()).kill_on_drop(true);
    let mut child = command.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("the server starts")
        .unwrap()
        .expect("the server announces its address");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, announced_url(&line))
}

/// The base URL in the line `conformance serve` announces itself with.
pub fn announced_url(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string()
}

/// The first line of `child`'s stdout, a `conformance serve`: its base URL, and the rest of its
/// stdout, to keep open until the server is stopped (a closed pipe would stop it).
pub fn announced(child: &mut Child) -> (String, impl BufRead) {
    let mut rest = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    rest.read_line(&mut first).unwrap();
    (announced_url(&first), rest)
}

/// Waits for `child` to end, within `limit`, reading its stdout while it runs (a suite's
/// output is larger than a pipe holds): its exit code and its stdout.
pub fn finish_within(mut child: Child, limit: Duration) -> (i32, String) {
    let started = Instant::now();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().unwrap_or(-1), reader.join().unwrap());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the child did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
