//! The processes measured: started, waited for with `wait4`, and their wall time, CPU time
//! and peak memory; the request logs they write; the machine they run on.

use crate::{KEY, ROOT};
use conformance::request_log::LoggedRequest;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) fn read_log(file: &Path) -> Vec<LoggedRequest> {
    let text = std::fs::read_to_string(file).expect("the request log");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a request log line"))
        .collect()
}

pub(crate) struct Child {
    pub(crate) code: i32,
    pub(crate) output: String,
    pub(crate) wall: Duration,
    pub(crate) cpu: Duration,
    pub(crate) started_at_us: u128,
    pub(crate) peak_mb: f64,
}

/// Runs a program (the harness, or this bench as the bare replay) and measures it: wall time,
/// start time, peak memory (`wait4` answers the resource use of exactly this child).
pub(crate) fn spawn(program: &str, args: &[String], env: &[(&str, &str)], work: &Path) -> Child {
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

pub(crate) fn rusage_cpu(usage: &libc::rusage) -> Duration {
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The 1-minute load average, to say how busy the machine was.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
