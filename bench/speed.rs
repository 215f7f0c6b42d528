//! How fast the harness is, on the machine it runs on: `cargo bench --bench speed`.
//!
//! Prints each figure with its target and PASS or MISS, all from one run:
//! - overhead ratio: the release binary running the whole suite against its embedded reference
//!   server, divided by a bare replay of the same requests, also a whole process (this bench's
//!   own binary, started again: process start, a fresh reference server, a bare reqwest loop,
//!   exit), 8 cases at a time like the harness's 8 cases in flight. The requests come from the
//!   harness's own request log (`--record-requests`); each case's requests are replayed in
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

use conformance::request_log::LoggedRequest;
use indexmap::IndexMap;
use serde_json::Value;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The harness's allocator (see `src/main.rs`): the bare loop's reference server and client
/// get it too, so that only the harness's own work differs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const THIS_BUILD: &str = env!("CARGO_BIN_EXE_conformance");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const KEY: &str = "sk-bench-0123456789abcdef";
/// The harness's default number of test threads.
const CONCURRENCY: usize = 8;
const SUITE_RUNS: usize = 7;
const SCALE_CASES: usize = 10_000;
const SCALE_RUNS: usize = 3;
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

/// What the suite's runs measured: medians over the runs.
struct Overhead {
    tests: usize,
    requests: usize,
    harness: Duration,
    bare: Duration,
    ratio: f64,
    /// CPU time (user + system), which other load on the machine disturbs less than wall time.
    harness_cpu: Duration,
    bare_cpu: Duration,
    cpu_ratio: f64,
    first_request: Duration,
    bare_first_request: Duration,
    peak_mb: f64,
    bare_peak_mb: f64,
}

/// Runs the harness `runs` times (each logging its requests) and replays each log with the bare
/// replay process right after, so that both see the machine in the same state.
fn overhead(cases: &Path, snapshots: Option<&Path>, work: &Path, runs: usize) -> Overhead {
    let mut harness = Vec::new();
    let mut bare = Vec::new();
    let (mut harness_cpu, mut bare_cpu) = (Vec::new(), Vec::new());
    let (mut first, mut bare_first) = (Vec::new(), Vec::new());
    let (mut peak, mut bare_peak): (f64, f64) = (0.0, 0.0);
    let (mut tests, mut requests) = (0, 0);
    for run in 0..runs {
        let log = work.join(format!("requests-{run}.jsonl"));
        let mut args = vec![
            "--cases".into(),
            cases.display().to_string(),
            "--record-requests".into(),
            log.display().to_string(),
        ];
        if let Some(dir) = snapshots {
            // A generated suite: its own files only, not the cases derived from the spec.
            args.extend([
                "--snapshots".into(),
                dir.display().to_string(),
                "--no-derived".into(),
            ]);
        }
        let child = spawn(&harness_binary(), &args, &[], work);
        assert_eq!(
            child.code, 0,
            "the suite did not pass against the reference server:\n{}",
            child.output
        );
        tests = child
            .output
            .lines()
            .filter(|l| l.starts_with("test ") && !l.starts_with("test result"))
            .count();
        let logged = read_log(&log);
        requests = logged.len();
        let first_sent = logged.iter().map(|r| r.sent_at_us).min().unwrap_or(0);
        first.push(Duration::from_micros(
            (first_sent.saturating_sub(child.started_at_us)) as u64,
        ));
        harness.push(child.wall);
        harness_cpu.push(child.cpu);
        peak = peak.max(child.peak_mb);

        // The replay reads what it sends, digested (the answers it does not need left out),
        // as the harness reads its cases.
        let plan = work.join(format!("replay-{run}.json"));
        let digested = serde_json::to_string(&by_case(&logged)).expect("a replay plan");
        std::fs::write(&plan, digested).expect("a replay plan");
        let replayed = spawn(
            &std::env::current_exe()
                .expect("the bench's own binary")
                .display()
                .to_string(),
            &[],
            &[(REPLAY_ENV, &plan.display().to_string())],
            work,
        );
        assert_eq!(replayed.code, 0, "the replay failed:\n{}", replayed.output);
        let replay: ReplaySummary = replayed
            .output
            .lines()
            .find_map(|line| serde_json::from_str(line).ok())
            .expect("the replay's summary line");
        bare_first.push(Duration::from_micros(
            (replay.first_sent_us.saturating_sub(replayed.started_at_us)) as u64,
        ));
        bare_cpu.push(replayed.cpu);
        bare_peak = bare_peak.max(replayed.peak_mb);
        assert!(
            replay.same_status * 100 >= replay.sent * 99,
            "the replay got another status than the harness for {} of {} requests: \
             the comparison would not be fair",
            replay.sent - replay.same_status,
            replay.sent
        );
        bare.push(replayed.wall);
    }
    let ratios: Vec<f64> = harness
        .iter()
        .zip(&bare)
        .map(|(h, b)| h.as_secs_f64() / b.as_secs_f64())
        .collect();
    let cpu_ratios: Vec<f64> = harness_cpu
        .iter()
        .zip(&bare_cpu)
        .map(|(h, b)| h.as_secs_f64() / b.as_secs_f64())
        .collect();
    Overhead {
        tests,
        requests,
        harness: median(harness),
        bare: median(bare),
        ratio: median_f(ratios),
        harness_cpu: median(harness_cpu),
        bare_cpu: median(bare_cpu),
        cpu_ratio: median_f(cpu_ratios),
        first_request: median(first),
        bare_first_request: median(bare_first),
        peak_mb: peak,
        bare_peak_mb: bare_peak,
    }
}

/// What the replay process prints on its last line.
#[derive(serde::Serialize, serde::Deserialize)]
struct ReplaySummary {
    sent: usize,
    same_status: usize,
    first_sent_us: u128,
}

/// The bare replay, as a process of its own: a runtime, a fresh reference server, the requests
/// of the `plan` [`by_case`] wrote; prints a [`ReplaySummary`].
fn replay_process(plan: &Path) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let text = std::fs::read_to_string(plan).expect("a replay plan");
    let cases: Vec<CaseRequests> = serde_json::from_str(&text).expect("a replay plan");
    let cases = Arc::new(cases);
    let replayed = runtime.block_on(replay(cases));
    let summary = ReplaySummary {
        sent: replayed.sent,
        same_status: replayed.same_status,
        first_sent_us: replayed.first_sent_us,
    };
    println!("{}", serde_json::to_string(&summary).expect("a summary"));
}

/// What the latency scenario measured.
struct Remote {
    code: i32,
    wall: Duration,
    requests: usize,
    longest_chain: usize,
    bound: Duration,
}

/// The suite against `conformance serve --latency` (this build's), once.
fn latency_scenario(cases: &Path, work: &Path) -> Remote {
    use std::io::BufRead as _;
    let mut server = Command::new(THIS_BUILD)
        .args(["serve", "--port", "0", "--api-key", KEY, "--latency"])
        .arg(LATENCY.as_millis().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("conformance serve starts");
    let mut banner = String::new();
    std::io::BufReader::new(server.stdout.take().expect("the server's stdout"))
        .read_line(&mut banner)
        .expect("the server's banner");
    let base_url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the server's address")
        .to_string();
    let log = work.join("requests-latency.jsonl");
    let args = [
        "--base-url".to_string(),
        base_url,
        "--cases".into(),
        cases.display().to_string(),
        "--record-requests".into(),
        log.display().to_string(),
    ];
    let child = spawn(&harness_binary(), &args, &[], work);
    let _ = server.kill();
    let _ = server.wait();
    let logged = read_log(&log);
    let longest_chain = by_case(&logged)
        .iter()
        .map(|c| c.requests.len())
        .max()
        .unwrap_or(0);
    let rounds = longest_chain.max(logged.len().div_ceil(HEALTHY_IN_FLIGHT));
    Remote {
        code: child.code,
        wall: child.wall,
        requests: logged.len(),
        longest_chain,
        bound: LATENCY * rounds as u32,
    }
}

fn read_log(file: &Path) -> Vec<LoggedRequest> {
    let text = std::fs::read_to_string(file).expect("the request log");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a request log line"))
        .collect()
}

struct Child {
    code: i32,
    output: String,
    wall: Duration,
    cpu: Duration,
    started_at_us: u128,
    peak_mb: f64,
}

/// Runs a program (the harness, or this bench as the bare replay) and measures it: wall time,
/// start time, peak memory (`wait4` answers the resource use of exactly this child).
fn spawn(program: &str, args: &[String], env: &[(&str, &str)], work: &Path) -> Child {
    let out_file = work.join("harness.out");
    let out = std::fs::File::create(&out_file).expect("an output file");
    let started_at_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let started = Instant::now();
    // Reaped by `wait4` below, which also answers this child's own peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(program)
        .args(args)
        .current_dir(ROOT)
        .env_clear()
        .envs(env.iter().copied())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CONFORMANCE_API_KEY", KEY)
        .env("CI", "true")
        .env("INSTA_OUTPUT", "none")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("an output file"))
        .stderr(out)
        .spawn()
        .expect("the conformance binary starts");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which std has not reaped (Child::wait is never called).
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert!(
        waited > 0,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let exit = std::process::ExitStatus::from_raw(status);
    Child {
        code: exit.code().unwrap_or(-1),
        output: std::fs::read_to_string(&out_file).unwrap_or_default(),
        wall,
        cpu: rusage_cpu(&usage),
        started_at_us,
        // ru_maxrss is in KiB on Linux.
        peak_mb: usage.ru_maxrss as f64 * 1024.0 / 1e6,
    }
}

struct Listed {
    tests: usize,
    wall: Duration,
}

fn list(cases: &Path, snapshots: &Path) -> Listed {
    let args = [
        "--cases".to_string(),
        cases.display().to_string(),
        "--snapshots".into(),
        snapshots.display().to_string(),
        "--no-derived".into(),
        "--list".into(),
    ];
    let child = spawn(&harness_binary(), &args, &[], cases.parent().unwrap());
    assert_eq!(child.code, 0, "--list failed:\n{}", child.output);
    Listed {
        tests: child
            .output
            .lines()
            .filter(|l| l.ends_with(": test"))
            .count(),
        wall: child.wall,
    }
}

/// Copies of the update cases without snapshots, each with its own metadata values, until
/// there are exactly `count` tests (a parameterised file gives one test per row).
fn generate_scale_suite(dir: &Path, count: usize) -> usize {
    let source = PathBuf::from(ROOT).join("cases/conversations/update");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&source)
        .expect("cases/conversations/update")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let text = std::fs::read_to_string(&path).ok()?;
            let name = path.file_name()?.to_str()?.to_string();
            (name.ends_with(".yaml") && !text.contains("snapshot")).then_some((name, text))
        })
        .collect();
    files.sort();
    // Tests per file, from the harness itself.
    let probe = dir.join("probe");
    write_cases(&probe.join("cases"), 0, &files);
    let listed = std::process::Command::new(harness_binary())
        .args([
            "--cases",
            &probe.join("cases").display().to_string(),
            "--no-derived",
            "--list",
        ])
        .env("CONFORMANCE_API_KEY", KEY)
        .output()
        .expect("--list");
    let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
    let tests_of = |name: &str| {
        let stem = format!("c00000/{}", name.trim_end_matches(".yaml"));
        listing
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .filter(|id| *id == stem || id.starts_with(&format!("{stem}/")))
            .count()
    };
    let sized: Vec<(usize, &(String, String))> =
        files.iter().map(|f| (tests_of(&f.0), f)).collect();
    assert!(
        sized.iter().any(|(n, _)| *n == 1),
        "no single-test update case to fill up with"
    );
    let cases = dir.join("cases");
    let mut total = 0;
    let mut copy = 0;
    while total < count {
        let mut chosen = Vec::new();
        for (tests, file) in &sized {
            if *tests > 0 && total + tests <= count {
                total += tests;
                chosen.push((*file).clone());
            }
        }
        write_cases(&cases, copy, &chosen);
        copy += 1;
    }
    let _ = std::fs::remove_dir_all(&probe);
    std::fs::create_dir_all(dir.join("snapshots")).expect("a snapshot folder");
    total
}

fn write_cases(dir: &Path, copy: usize, files: &[(String, String)]) {
    let folder = dir.join(format!("c{copy:05}"));
    std::fs::create_dir_all(&folder).expect("a case folder");
    for (name, text) in files {
        // Other metadata in every copy; the expectations name the same values, so they hold.
        let text = text
            .replace("topic: demo", &format!("topic: demo-{copy}"))
            .replace("project-x", &format!("project-{copy}"));
        std::fs::write(folder.join(name), text).expect("a case file");
    }
}

struct Replayed {
    /// When the first request went out, in microseconds since the Unix epoch.
    first_sent_us: u128,
    sent: usize,
    same_status: usize,
}

/// One case's requests, in order, and which recorded strings its later requests use.
#[derive(serde::Serialize, serde::Deserialize)]
struct CaseRequests {
    requests: Vec<LoggedRequest>,
    /// Per request: whether its recorded answer holds a string a later request sends.
    answer_feeds_later: Vec<bool>,
}

/// The logged requests by case, in the order each case sent them.
fn by_case(logged: &[LoggedRequest]) -> Vec<CaseRequests> {
    let mut by_case: IndexMap<&str, Vec<LoggedRequest>> = IndexMap::new();
    for request in logged {
        by_case
            .entry(request.case.as_str())
            .or_default()
            .push(request.clone());
    }
    by_case
        .into_values()
        .map(|mut requests| {
            requests.sort_by_key(|r| r.step);
            let answer_feeds_later: Vec<bool> = (0..requests.len())
                .map(|i| {
                    let strings = answer_strings(requests[i].answer.as_deref());
                    requests[i + 1..]
                        .iter()
                        .any(|later| strings.iter().any(|s| sends(later, s)))
                })
                .collect();
            for (request, feeds) in requests.iter_mut().zip(&answer_feeds_later) {
                if !feeds {
                    request.answer = None;
                }
            }
            CaseRequests {
                requests,
                answer_feeds_later,
            }
        })
        .collect()
}

/// Sends the logged requests with a bare reqwest client to a fresh reference server: 8 cases
/// at a time, each case's requests in order, no checks.
async fn replay(cases: Arc<Vec<CaseRequests>>) -> Replayed {
    let server = conformance::server::spawn(
        conformance::server::ServerConfig {
            api_key: Some(KEY.into()),
            ..Default::default()
        },
        "127.0.0.1",
        0,
    )
    .await
    .expect("a reference server");
    let base = server.base_url().to_string();
    // Configured like the harness's client for a plain-HTTP target: no system roots to load.
    conformance::target::install_tls_provider();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .tls_certs_only([])
        .build()
        .expect("a client");
    let first_sent_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (cases, next, client, base) =
                (cases.clone(), next.clone(), client.clone(), base.clone());
            tokio::spawn(async move {
                let (mut sent, mut same) = (0, 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let (s, m) = replay_case(case, &client, &base).await;
                    sent += s;
                    same += m;
                }
                (sent, same)
            })
        })
        .collect();
    let (mut sent, mut same_status) = (0, 0);
    for worker in workers {
        let (s, m) = worker.await.expect("a replay worker");
        sent += s;
        same_status += m;
    }
    drop(server);
    Replayed {
        first_sent_us,
        sent,
        same_status,
    }
}

async fn replay_case(case: &CaseRequests, client: &reqwest::Client, base: &str) -> (usize, usize) {
    // Recorded string -> the one this replay got in its place.
    let mut substitutes: Vec<(String, String)> = Vec::new();
    let swap = |text: &str, substitutes: &[(String, String)]| {
        substitutes
            .iter()
            .fold(text.to_string(), |t, (from, to)| t.replace(from, to))
    };
    let mut same = 0;
    for (request, feeds_later) in case.requests.iter().zip(&case.answer_feeds_later) {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("a method");
        let url = format!("{base}{}", swap(&request.path, &substitutes));
        let mut builder = client.request(method, url);
        if request.auth {
            builder = builder.header("Authorization", format!("Bearer {KEY}"));
        }
        for (name, value) in &request.headers {
            builder = builder.header(name, swap(value, &substitutes));
        }
        if let Some(body) = &request.body {
            builder = builder.body(swap(body, &substitutes));
        }
        let Ok(response) = builder.send().await else {
            continue;
        };
        let status = response.status().as_u16();
        let Ok(body) = response.bytes().await else {
            continue;
        };
        same += usize::from(Some(status) == request.status);
        if *feeds_later {
            if let (Some(Ok(recorded)), Ok(replayed)) = (
                request.answer.as_deref().map(serde_json::from_str::<Value>),
                serde_json::from_slice::<Value>(&body),
            ) {
                pair_strings(&recorded, &replayed, &mut substitutes);
            }
        }
    }
    (case.requests.len(), same)
}

/// Strings of an answer long enough to be server-assigned values (ids).
fn answer_strings(answer: Option<&str>) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) if s.len() >= 8 => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(Ok(value)) = answer.map(serde_json::from_str::<Value>) {
        walk(&value, &mut out);
    }
    out
}

fn sends(request: &LoggedRequest, text: &str) -> bool {
    request.path.contains(text)
        || request.body.as_deref().is_some_and(|b| b.contains(text))
        || request.headers.iter().any(|(_, v)| v.contains(text))
}

/// Where the recorded and the replayed answer hold different strings at the same place, the
/// replayed one stands in for the recorded one from now on.
fn pair_strings(recorded: &Value, replayed: &Value, out: &mut Vec<(String, String)>) {
    match (recorded, replayed) {
        (Value::String(a), Value::String(b)) if a != b && a.len() >= 8 => {
            out.push((a.clone(), b.clone()))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.iter().zip(b).for_each(|(a, b)| pair_strings(a, b, out))
        }
        (Value::Object(a), Value::Object(b)) => {
            for (key, a) in a {
                if let Some(b) = b.get(key) {
                    pair_strings(a, b, out);
                }
            }
        }
        _ => {}
    }
}

struct Throughput {
    retrieve: f64,
    update: f64,
    ceiling_get: f64,
    ceiling_post: f64,
}

/// Requests per second of the reference server for retrieve and update, and of a trivial axum
/// handler answering the same paths with a fixed conversation, each served on a runtime of its
/// own (as `conformance serve` does) and loaded by the same client loop on `clients`.
fn server_throughput(clients: &tokio::runtime::Runtime) -> Throughput {
    let server_runtime = tokio::runtime::Runtime::new().expect("a server runtime");
    let reference = server_runtime
        .block_on(conformance::server::spawn(
            conformance::server::ServerConfig {
                api_key: Some(KEY.into()),
                ..Default::default()
            },
            "127.0.0.1",
            0,
        ))
        .expect("a reference server");
    conformance::target::install_tls_provider();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("a client");
    let base = reference.base_url().to_string();
    let ids = clients.block_on(async {
        let mut ids = Vec::new();
        for _ in 0..SERVER_CLIENTS {
            let created = client
                .post(format!("{base}/conversations"))
                .bearer_auth(KEY)
                .header("Content-Type", "application/json")
                .body(r#"{"metadata":{"topic":"bench"}}"#)
                .send()
                .await
                .expect("create")
                .bytes()
                .await
                .expect("a conversation");
            let created: Value = serde_json::from_slice(&created).expect("a conversation");
            ids.push(created["id"].as_str().expect("an id").to_string());
        }
        ids
    });
    let retrieve = clients.block_on(load(&client, &base, &ids, false));
    let update = clients.block_on(load(&client, &base, &ids, true));
    drop(reference);

    let (trivial, stop) = server_runtime.block_on(trivial_server());
    let ceiling_get = clients.block_on(load(&client, &trivial, &ids, false));
    let ceiling_post = clients.block_on(load(&client, &trivial, &ids, true));
    drop(stop);
    server_runtime.shutdown_timeout(Duration::from_secs(1));
    Throughput {
        retrieve,
        update,
        ceiling_get,
        ceiling_post,
    }
}

/// `SERVER_CLIENTS` loops, each on its own conversation, for `SERVER_SECONDS` after a short
/// warm-up; answers per second.
async fn load(client: &reqwest::Client, base: &str, ids: &[String], update: bool) -> f64 {
    let warm_up = Duration::from_millis(300);
    let started = Instant::now();
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let client = client.clone();
            let url = format!("{base}/conversations/{id}");
            tokio::spawn(async move {
                let mut counted = 0u64;
                let body = format!(r#"{{"metadata":{{"topic":"bench","client":"{i}"}}}}"#);
                loop {
                    let elapsed = started.elapsed();
                    if elapsed >= warm_up + SERVER_SECONDS {
                        break;
                    }
                    let request = if update {
                        client
                            .post(&url)
                            .header("Content-Type", "application/json")
                            .body(body.clone())
                    } else {
                        client.get(&url)
                    };
                    let response = request.bearer_auth(KEY).send().await.expect("an answer");
                    assert_eq!(response.status(), 200, "{url}");
                    response.bytes().await.expect("a body");
                    if elapsed >= warm_up {
                        counted += 1;
                    }
                }
                counted
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("a client loop");
    }
    total as f64 / SERVER_SECONDS.as_secs_f64()
}

/// The ceiling: axum answering a fixed conversation, reading the update's body, nothing else.
async fn trivial_server() -> (String, tokio::sync::oneshot::Sender<()>) {
    use axum::routing::get;
    const CONVERSATION: &str = r#"{"id":"conv_0123456789abcdef0123456789abcdef0123456789abcdef","object":"conversation","created_at":1700000000,"metadata":{"topic":"bench"}}"#;
    let answer = || async { ([("content-type", "application/json")], CONVERSATION) };
    let app = axum::Router::new().route(
        "/v1/conversations/{id}",
        get(answer).post(|_body: axum::body::Bytes| async move {
            ([("content-type", "application/json")], CONVERSATION)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    (format!("http://{addr}/v1"), tx)
}

#[derive(Default)]
struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn row(&mut self, figure: &str, measured: String, target: &str, pass: bool) {
        let verdict = if pass { "PASS" } else { "MISS" };
        println!("{verdict}  {figure}: {measured} (target {target})");
        self.rows.push([
            figure.to_string(),
            measured,
            target.to_string(),
            verdict.to_string(),
        ]);
    }

    fn print(&self) {
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (width(0), width(1), width(2));
        println!();
        for r in &self.rows {
            println!("{:<w0$}  {:<w1$}  {:<w2$}  {}", r[0], r[1], r[2], r[3]);
        }
        let missed = self.rows.iter().filter(|r| r[3] == "MISS").count();
        println!(
            "\n{} of {} targets met",
            self.rows.len() - missed,
            self.rows.len()
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn median_f(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn rusage_cpu(usage: &libc::rusage) -> Duration {
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The 1-minute load average, to say how busy the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
