//! What each figure runs: the suite against the embedded server and its bare replay, the
//! generated large suite, the suite against a slow server.

use crate::process::{read_log, spawn};
use crate::replay::{by_case, ReplaySummary};
use crate::table::{median, median_f};
use crate::{harness_binary, HEALTHY_IN_FLIGHT, KEY, LATENCY, REPLAY_ENV, ROOT, THIS_BUILD};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// What the suite's runs measured: medians over the runs.
pub(crate) struct Overhead {
    pub(crate) tests: usize,
    pub(crate) requests: usize,
    pub(crate) harness: Duration,
    pub(crate) bare: Duration,
    pub(crate) ratio: f64,
    /// CPU time (user + system), which other load on the machine disturbs less than wall time.
    pub(crate) harness_cpu: Duration,
    pub(crate) bare_cpu: Duration,
    pub(crate) cpu_ratio: f64,
    pub(crate) first_request: Duration,
    pub(crate) bare_first_request: Duration,
    pub(crate) peak_mb: f64,
    pub(crate) bare_peak_mb: f64,
}

/// Runs the harness `runs` times, each time twice: once logging its requests (the replay's plan,
/// and when the first request went out), once as a user runs it, without the log, which is the
/// run timed; the bare replay of that log runs right after, so that both see the machine in the
/// same state.
pub(crate) fn overhead(
    cases: &Path,
    snapshots: Option<&Path>,
    work: &Path,
    runs: usize,
) -> Overhead {
    let mut harness = Vec::new();
    let mut bare = Vec::new();
    let (mut harness_cpu, mut bare_cpu) = (Vec::new(), Vec::new());
    let (mut first, mut bare_first) = (Vec::new(), Vec::new());
    let (mut peak, mut bare_peak): (f64, f64) = (0.0, 0.0);
    let (mut tests, mut requests) = (0, 0);
    for run in 0..runs {
        let log = work.join(format!("requests-{run}.jsonl"));
        let mut args = vec!["--cases".into(), cases.display().to_string()];
        if let Some(dir) = snapshots {
            // A generated suite: its own files only, not the cases derived from the spec.
            args.extend([
                "--snapshots".into(),
                dir.display().to_string(),
                "--no-derived".into(),
            ]);
        }
        let recording = [
            args.clone(),
            vec!["--record-requests".into(), log.display().to_string()],
        ];
        let recorded = spawn(&harness_binary(), &recording.concat(), &[], work);
        let child = spawn(&harness_binary(), &args, &[], work);
        for run in [&recorded, &child] {
            assert_eq!(
                run.code, 0,
                "the suite did not pass against the reference server:\n{}",
                run.output
            );
        }
        tests = child
            .output
            .lines()
            .filter(|l| l.starts_with("test ") && !l.starts_with("test result"))
            .count();
        let logged = read_log(&log);
        requests = logged.len();
        let first_sent = logged.iter().map(|r| r.sent_at_us).min().unwrap_or(0);
        first.push(Duration::from_micros(
            (first_sent.saturating_sub(recorded.started_at_us)) as u64,
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

/// What the latency scenario measured.
pub(crate) struct Remote {
    pub(crate) code: i32,
    pub(crate) wall: Duration,
    pub(crate) requests: usize,
    pub(crate) longest_chain: usize,
    pub(crate) bound: Duration,
}

/// The suite against `conformance serve --latency` (this build's), once.
pub(crate) fn latency_scenario(cases: &Path, work: &Path) -> Remote {
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

pub(crate) struct Listed {
    pub(crate) tests: usize,
    pub(crate) wall: Duration,
}

pub(crate) fn list(cases: &Path, snapshots: &Path) -> Listed {
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
pub(crate) fn generate_scale_suite(dir: &Path, count: usize) -> usize {
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

pub(crate) fn write_cases(dir: &Path, copy: usize, files: &[(String, String)]) {
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
