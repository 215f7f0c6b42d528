//! How fast the harness is, on the machine it runs on: `cargo bench --bench speed`.
//!
//! Prints each figure with its target and PASS or MISS, all from one run:
//! - overhead ratio: the release binary running the whole suite against its embedded reference
//!   server, divided by a bare replay of the same requests, also a whole process (this bench's
//!   own binary, started again: process start, a fresh reference server, a bare reqwest loop,
//!   exit), 8 cases at a time like the harness's 8 cases in flight. The requests come from the
//!   harness's own request log (`--record-requests`) of a run right before the timed one, which
//!   runs as a user runs it, without the log; each case's requests are replayed in
//!   order, and the strings a recorded answer held where the replayed answer holds another (the
//!   ids the server assigns) are substituted into that case's later requests, so every request
//!   finds what it found in the harness's run and gets the same answer (the bench counts how
//!   many do). Median of several runs, in wall time and in CPU time.
//! - start-up: process start to the first request sent (spec, overlay, cases, connect).
//! - scale: a generated suite of 10,000 cases (copies of the update cases) loads (`--list`),
//!   runs with its overhead ratio against the bare replay, and its peak memory (the child's
//!   maximum resident set, from `wait4`).
//! - latency: the suite against `conformance serve --latency 150` (a remote server's 150 ms per
//!   answer), its wall time against the bound latency x max(longest chain of requests,
//!   requests / 32).
//! - reference server: requests per second for retrieve and update, 64 clients on loopback,
//!   against a trivial axum handler on the same machine as the ceiling.
//!
//! `CONFORMANCE_BENCH_HARNESS=PATH` measures another build of the harness (an older one, to
//! compare); the reference servers stay this build's.
//!
//! All traffic stays on 127.0.0.1; every loop is bounded in time or count.

mod process;
mod replay;
mod scenarios;
mod server;
mod table;

use process::{cores, load_average};
use replay::replay_process;
use scenarios::{generate_scale_suite, latency_scenario, list, overhead};
use server::server_throughput;
use std::path::{Path, PathBuf};
use std::time::Duration;
use table::{ms, Table};

/// The harness's allocator (see `src/main.rs`): the bare loop's reference server and client
/// get it too, so that only the harness's own work differs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const THIS_BUILD: &str = env!("CARGO_BIN_EXE_conformance");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const KEY: &str = "sk-bench-0123456789abcdef";
/// The harness's default number of test threads.
const CONCURRENCY: usize = 8;
/// Whole-process runs are cheap and noisy: enough that the medians hold within a few percent.
const SUITE_RUNS: usize = 15;
const SCALE_CASES: usize = 10_000;
const SCALE_RUNS: usize = 5;
const SERVER_CLIENTS: usize = 64;
/// The latency scenario: a remote server's time per answer, and the cases a healthy target
/// takes at once.
const LATENCY: Duration = Duration::from_millis(150);
const HEALTHY_IN_FLIGHT: usize = 32;
/// Set in the bench's own child process: replay this request log and exit.
const REPLAY_ENV: &str = "CONFORMANCE_BENCH_REPLAY";

/// The harness measured: this build's, or the one `CONFORMANCE_BENCH_HARNESS` names.
fn harness_binary() -> String {
    std::env::var("CONFORMANCE_BENCH_HARNESS").unwrap_or_else(|_| THIS_BUILD.to_string())
}
const SERVER_SECONDS: Duration = Duration::from_secs(3);

fn main() {
    if let Ok(log) = std::env::var(REPLAY_ENV) {
        return replay_process(Path::new(&log));
    }
    // `cargo test --all-targets` runs bench targets without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("speed: run it with `cargo bench --bench speed`");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let work = tempfile::tempdir().expect("a temporary folder");
    let mut table = Table::default();

    println!(
        "speed bench: {} ({} cores, load average {})",
        harness_binary(),
        cores(),
        load_average()
    );
    let cases = PathBuf::from(ROOT).join("cases");
    let suite = overhead(&cases, None, work.path(), SUITE_RUNS);
    table.row(
        &format!(
            "overhead ratio, suite ({} tests, {} requests)",
            suite.tests, suite.requests
        ),
        format!(
            "{:.2} (harness {}, bare replay {}; whole processes, median of {})",
            suite.ratio,
            ms(suite.harness),
            ms(suite.bare),
            SUITE_RUNS
        ),
        "<= 1.5",
        suite.ratio <= 1.5,
    );
    table.row(
        "  the same in CPU time (less disturbed by other load)",
        format!(
            "{:.2} (harness {}, bare replay {})",
            suite.cpu_ratio,
            ms(suite.harness_cpu),
            ms(suite.bare_cpu)
        ),
        "<= 1.5",
        suite.cpu_ratio <= 1.5,
    );
    table.row(
        "start-up to first request",
        format!(
            "{} (median of {SUITE_RUNS}; bare replay {})",
            ms(suite.first_request),
            ms(suite.bare_first_request)
        ),
        "< 15 ms",
        suite.first_request < Duration::from_millis(15),
    );
    table.row(
        "peak memory, suite",
        format!(
            "{:.0} MB (bare replay {:.0} MB)",
            suite.peak_mb, suite.bare_peak_mb
        ),
        "< 150 MB",
        suite.peak_mb < 150.0,
    );

    let scale_dir = work.path().join("scale");
    let generated = generate_scale_suite(&scale_dir, SCALE_CASES);
    let listed = list(&scale_dir.join("cases"), &scale_dir.join("snapshots"));
    assert_eq!(
        listed.tests, generated,
        "the generated suite lists another number of tests"
    );
    table.row(
        &format!("scale: load {generated} cases (--list)"),
        ms(listed.wall),
        "< 250 ms",
        listed.wall < Duration::from_millis(250),
    );
    let scale = overhead(
        &scale_dir.join("cases"),
        Some(&scale_dir.join("snapshots")),
        work.path(),
        SCALE_RUNS,
    );
    table.row(
        &format!(
            "scale: overhead ratio ({} tests, {} requests)",
            scale.tests, scale.requests
        ),
        format!(
            "{:.2} (harness {}, bare replay {}; whole processes, median of {})",
            scale.ratio,
            ms(scale.harness),
            ms(scale.bare),
            SCALE_RUNS
        ),
        "<= 1.3",
        scale.ratio <= 1.3,
    );
    table.row(
        "  the same in CPU time",
        format!(
            "{:.2} (harness {}, bare replay {})",
            scale.cpu_ratio,
            ms(scale.harness_cpu),
            ms(scale.bare_cpu)
        ),
        "<= 1.3",
        scale.cpu_ratio <= 1.3,
    );
    table.row(
        "scale: start-up to first request",
        ms(scale.first_request),
        "< 1 s",
        scale.first_request < Duration::from_secs(1),
    );
    table.row(
        "scale: peak memory",
        format!(
            "{:.0} MB (bare replay {:.0} MB)",
            scale.peak_mb, scale.bare_peak_mb
        ),
        "< 150 MB",
        scale.peak_mb < 150.0,
    );

    let remote = latency_scenario(&cases, work.path());
    table.row(
        &format!(
            "latency {} ms: suite ({} requests, longest chain {})",
            LATENCY.as_millis(),
            remote.requests,
            remote.longest_chain
        ),
        format!(
            "{} = {:.2} x the bound {} ({}){}",
            ms(remote.wall),
            remote.wall.as_secs_f64() / remote.bound.as_secs_f64(),
            ms(remote.bound),
            format_args!(
                "{} ms x max({}, {} / {HEALTHY_IN_FLIGHT})",
                LATENCY.as_millis(),
                remote.longest_chain,
                remote.requests
            ),
            if remote.code == 0 {
                String::new()
            } else {
                format!("; exit code {}", remote.code)
            }
        ),
        "<= 1.3 x bound",
        remote.code == 0 && remote.wall.as_secs_f64() <= 1.3 * remote.bound.as_secs_f64(),
    );

    let server = server_throughput(&runtime);
    for (name, reference, ceiling) in [
        ("retrieve", server.retrieve, server.ceiling_get),
        ("update", server.update, server.ceiling_post),
    ] {
        let ratio = reference / ceiling;
        table.row(
            &format!("reference server: {name}, {SERVER_CLIENTS} clients"),
            format!("{reference:.0} req/s = {ratio:.2} x trivial axum ({ceiling:.0} req/s)"),
            ">= 0.5 x",
            ratio >= 0.5,
        );
    }
    table.print();
}
