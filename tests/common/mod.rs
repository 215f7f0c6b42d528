//! Fixtures shared by the self-tests: case folders in temp dirs, the built binary run on them,
//! and wiremock servers that answer like an honest Conversations API.

pub mod chat_sse;
mod load;
mod report;
mod serve;

pub use load::*;
pub use report::*;
pub use serve::*;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const KEY: &str = "sk-canary-7f3a9c1e5b2d4f60";
pub const CONV: &str = "conv_0123456789abcdef0123456789abcdef0123456789abcdef";

pub const CREATE_CASE: &str = "requirement: CRE-02
steps:
  - operation: createConversation
    body: {metadata: {topic: demo}}
    expect:
      status: 200
      json:
        metadata: {equals: {topic: demo}}
";

/// A folder with `cases/` holding the given files, and room for snapshots and specs.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new(cases: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in cases {
            let file = dir.path().join("cases").join(name);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies this repository's `specs/` into the fixture (as `specs/`) for tests to break.
    pub fn copy_specs(&self) -> PathBuf {
        let to = self.path().join("specs");
        std::fs::create_dir_all(&to).unwrap();
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
        for name in ["openapi.yaml", "overlay.yaml", "requirements.yaml"] {
            std::fs::copy(from.join(name), to.join(name)).unwrap();
        }
        to
    }

    /// Every file written under the fixture, with its bytes.
    pub fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.path(), &mut out);
        out
    }

    /// The arguments that run the fixture's cases against `base_url` (`""`: the embedded
    /// reference server), with a 5 s timeout unless `extra` gives one. The cases derived from
    /// the spec run only in the tests that ask for them by name.
    pub fn run_args(&self, base_url: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "run".into(),
            "--cases".into(),
            self.path().join("cases").display().to_string(),
            "--snapshots".into(),
            self.path().join("snapshots").display().to_string(),
        ];
        if !extra.contains(&"--timeout") {
            args.extend(["--timeout".into(), "5".into()]);
        }
        if !base_url.is_empty() {
            args.extend(["--base-url".into(), base_url.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        if !extra.iter().any(|a| a.starts_with("derived")) {
            args.push("--no-derived".into());
        }
        args
    }

    /// The binary, ready to run the fixture's cases (see [`Fixture::run_args`]).
    pub fn command(
        &self,
        base_url: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> tokio::process::Command {
        binary(self.run_args(base_url, extra), env)
    }

    /// Runs the binary against `base_url` with the fixture's cases and snapshots.
    pub async fn run(&self, base_url: &str, extra: &[&str]) -> Run {
        self.run_with_env(base_url, extra, &[]).await
    }

    /// Runs in the fixture's folder, as a user runs it in their repository.
    pub async fn run_with_env(&self, base_url: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = binary(self.run_args(base_url, extra), env);
        command.current_dir(self.path());
        to_the_end(command).await
    }

    /// [`Fixture::run`], measuring the run's own peak memory ([`Run::peak_rss`]).
    pub async fn run_measured(&self, base_url: &str, extra: &[&str]) -> Run {
        let mut command = binary(self.run_args(base_url, extra), &[]);
        command.current_dir(self.path());
        to_the_end_measured(command).await
    }

    /// Runs `conformance coverage` on the fixture's cases.
    pub async fn coverage(&self, extra: &[&str]) -> Run {
        let mut args: Vec<String> = vec![
            "coverage".into(),
            "--cases".into(),
            self.path().join("cases").display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        exec(args, &[]).await
    }
}

/// The built binary with `args`, the canary key, strict insta settings, none of the
/// developer's (or another test's) `CONFORMANCE_*` or CI variables, and `env`.
pub fn binary(args: Vec<String>, env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_conformance"));
    command.args(&args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CONFORMANCE_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("NEXTEST")
        .env_remove("INSTA_UPDATE")
        // `cargo insta test` sets these for the tests it runs; they would make the harness
        // under test pass every snapshot.
        .env_remove("INSTA_FORCE_PASS")
        .env_remove("INSTA_WORKSPACE_ROOT")
        .env_remove("NO_COLOR")
        .env("CONFORMANCE_API_KEY", KEY)
        .env("CI", "true")
        .env("INSTA_OUTPUT", "none")
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// Runs the built binary (see [`binary`]) to its end.
pub async fn exec(args: Vec<String>, env: &[(&str, &str)]) -> Run {
    to_the_end(binary(args, env)).await
}

async fn to_the_end(mut command: tokio::process::Command) -> Run {
    let _timed = timed().await;
    let started = Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the harness did not finish within 120 s")
        .unwrap();
    Run::new(output, started.elapsed())
}

/// [`to_the_end`], and the largest resident set the child's program reached: `VmHWM` of
/// `/proc/PID/status`, read while it runs. Not `wait4`'s count, which starts from this process's
/// (the child's until it execs), and this process holds every test.
async fn to_the_end_measured(command: tokio::process::Command) -> Run {
    let _timed = timed().await;
    let mut command = command.into_std();
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = command.spawn().unwrap();
        let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let _ = pipe.read_to_end(&mut out);
                out
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak = None;
        let status = loop {
            let read = std::fs::read_to_string(&status_file).unwrap_or_default();
            if let Some(kib) = read.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                let kib: u64 = kib.trim().trim_end_matches("kB").trim().parse().unwrap();
                peak = peak.max(Some(kib * 1024));
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(120) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the harness did not finish within 120 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let output = Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        };
        let mut run = Run::new(output, started.elapsed());
        run.peak_rss = peak;
        run
    })
    .await
    .unwrap()
}

/// What a run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The run's largest resident set in bytes, when measured ([`Fixture::run_measured`]).
    pub peak_rss: Option<u64>,
}

impl Run {
    pub fn new(output: Output, elapsed: Duration) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed,
            peak_rss: None,
        }
    }

    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "exit code; output:\n{}", self.all());
        self.assert_lacks("panicked");
    }

    /// libtest pads names to a column: `test a/one    ... ok`.
    #[track_caller]
    pub fn assert_test(&self, name: &str, result: &str) {
        assert!(
            self.stdout.lines().any(|l| l
                .strip_prefix(&format!("test {name} "))
                .is_some_and(|rest| rest.trim_start() == format!("... {result}"))),
            "expected test {name} ... {result} in:\n{}",
            self.all()
        );
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) {
        assert!(
            self.all().contains(text),
            "expected {text:?} in:\n{}",
            self.all()
        );
    }

    #[track_caller]
    pub fn assert_lacks(&self, text: &str) {
        assert!(
            !self.all().contains(text),
            "did not expect {text:?} in:\n{}",
            self.all()
        );
    }

    /// The run stayed below `bound` bytes of memory (see [`Fixture::run_measured`]).
    #[track_caller]
    pub fn assert_memory_below(&self, bound: u64) {
        let used = self.peak_rss.expect("a measured run");
        assert!(
            used < bound,
            "the run used {} MiB; output:\n{}",
            used / 1024 / 1024,
            self.all()
        );
    }

    #[track_caller]
    pub fn assert_within(&self, bound: Duration) {
        assert!(
            self.elapsed < bound,
            "took {:?}, more than {bound:?}; output:\n{}",
            self.elapsed,
            self.all()
        );
    }
}

/// What a delete of conversation `id` answers.
pub fn deleted(id: &str) -> Value {
    json!({"id": id, "object": "conversation.deleted", "deleted": true})
}

pub fn conversation(metadata: Value) -> Value {
    json!({"id": CONV, "object": "conversation", "created_at": now(), "metadata": metadata})
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// A server that creates, retrieves and deletes one conversation correctly; tests mount what
/// they break on top (wiremock answers with the first mock mounted that matches).
pub async fn honest_server(create: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/conversations"))
        .respond_with(json_response(200, create.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/conversations/{CONV}")))
        .respond_with(json_response(200, create))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/v1/conversations/{CONV}")))
        .respond_with(json_response(200, deleted(CONV)))
        .mount(&server)
        .await;
    server
}

/// A server that answers every `http_method` request with `answer` (and any other with 404).
pub async fn answering(http_method: &str, answer: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method(http_method))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

pub fn base(server: &MockServer) -> String {
    format!("{}/v1", server.uri())
}
