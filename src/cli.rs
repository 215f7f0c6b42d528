//! The command line: `conformance [run] [options] [libtest options]` and `conformance serve`.
//! The `cargo test` entry takes the same settings from `CONFORMANCE_*` variables instead,
//! because cargo, nextest and cargo-insta pass it libtest's flags only.

use crate::config::{Reports, Settings};
use crate::server::Deviation;
use crate::target::{HeaderConfig, TargetConfig};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "conformance",
    version,
    about = "Checks a server against the OpenAI API contract: Conversations, Responses, Chat \
        Completions, Models and Embeddings",
    after_help = "Exit codes: 0 passed, 1 conformance failures, 2 usage or configuration error, \
        3 target unreachable, 4 inconclusive (no failure, but cases got no answer to judge), \
        101 a bug of the harness, 130 interrupted, 141 output closed, 143 terminated.\nThe API key is read from \
        CONFORMANCE_API_KEY only.",
    long_about = "Checks a server against the OpenAI API contract: Conversations, Responses, \
        Chat Completions, Models and Embeddings.\n\n\
        Without a subcommand, runs the suite (as `conformance run`). Without --base-url, the \
        suite runs against the embedded reference server.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the suite (the default).
    Run(Box<RunArgs>),
    /// Serve the reference server until Ctrl-C.
    Serve(ServeArgs),
    /// Print, per operation, which statuses, request fields and constraints the suite
    /// exercises (hand-written and derived cases, read statically; nothing is sent).
    Coverage(CoverageArgs),
    /// The official OpenAPI document: extract the suite's scope from it, or show what changed
    /// between two versions of it.
    #[command(subcommand)]
    Spec(SpecCommand),
}

#[derive(Debug, Subcommand)]
enum SpecCommand {
    /// Write the extract of the whole official document for the suite's scope (what
    /// specs/openapi.yaml is), with the upstream commit and licence attribution.
    Extract(ExtractArgs),
    /// For the operations in scope, what changed between two versions of the official
    /// document, and which requirements, overlay actions and cases each change affects.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
struct ExtractArgs {
    /// The whole official document (openapi.yaml of github.com/openai/openai-openapi)
    full: PathBuf,
    /// The upstream commit the document is from (kept in the extract)
    #[arg(long, value_name = "SHA")]
    commit: String,
    /// The date of that commit, e.g. 2026-08-21T20:48:10Z
    #[arg(long, value_name = "DATE")]
    commit_date: Option<String>,
    /// Folder of the spec: the scope is read from its overlay.yaml
    #[arg(long, env = "CONFORMANCE_SPEC_DIR", value_name = "DIR")]
    spec_dir: Option<PathBuf>,
    /// Where to write the extract (`-`: standard output) [default: openapi.yaml of the spec folder]
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The version pinned now
    old: PathBuf,
    /// The newer version
    new: PathBuf,
    /// Folder of the spec (overlay.yaml, requirements.yaml)
    #[arg(long, env = "CONFORMANCE_SPEC_DIR", value_name = "DIR")]
    spec_dir: Option<PathBuf>,
    /// Folder of the cases
    #[arg(long, env = "CONFORMANCE_CASES_DIR", value_name = "DIR")]
    cases: Option<PathBuf>,
    /// `text` or `json`
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    format: String,
}

#[derive(Debug, Args)]
struct CoverageArgs {
    /// Folder of the spec (openapi.yaml, overlay.yaml, requirements.yaml)
    #[arg(long, env = "CONFORMANCE_SPEC_DIR", value_name = "DIR")]
    spec_dir: Option<PathBuf>,
    /// Folder of the cases
    #[arg(long, env = "CONFORMANCE_CASES_DIR", value_name = "DIR")]
    cases: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Base URL of the server under test, ending in /v1 [default: the embedded reference server]
    #[arg(long, env = "CONFORMANCE_BASE_URL", value_name = "URL")]
    base_url: Option<String>,
    /// Fail on SHOULD requirements too (otherwise they are warnings)
    #[arg(long, env = "CONFORMANCE_STRICT", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    strict: bool,
    /// Seconds to wait for each answer
    #[arg(
        long,
        env = "CONFORMANCE_TIMEOUT",
        value_name = "SECONDS",
        default_value = "30"
    )]
    timeout: f64,
    /// Name of the target: keeps its snapshots apart, under snapshots/NAME/
    #[arg(long, env = "CONFORMANCE_TARGET_NAME", value_name = "NAME")]
    target_name: Option<String>,
    /// The model the chat and Responses cases send (`{{model}}` in a case)
    #[arg(long, env = "CONFORMANCE_MODEL", value_name = "NAME")]
    model: Option<String>,
    /// The model the embeddings cases send (`{{embedding_model}}`) [default: --model]
    #[arg(long, env = "CONFORMANCE_EMBEDDING_MODEL", value_name = "NAME")]
    embedding_model: Option<String>,
    /// Run only the requirements and cases of this API: Conversations, Responses, Chat
    /// Completions (chat), Models, Embeddings; what every endpoint owes comes with any
    /// (repeatable, or comma-separated)
    #[arg(
        long = "api",
        env = "CONFORMANCE_API",
        value_name = "NAME",
        value_delimiter = ','
    )]
    apis: Vec<String>,
    /// Extra header sent with every request, 'Name: value'; a value 'env:VAR' is read from
    /// the environment and redacted like the key (repeatable)
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    headers: Vec<String>,
    /// Accept invalid TLS certificates (said in the results)
    #[arg(long)]
    insecure: bool,
    /// Run only the case files, not the cases derived from the spec (`derived/...`)
    #[arg(long, env = "CONFORMANCE_NO_DERIVED", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    no_derived: bool,
    /// Write every request sent to FILE, one JSON line each (the key left out), for replay
    #[arg(long, env = "CONFORMANCE_RECORD_REQUESTS", value_name = "FILE")]
    record_requests: Option<PathBuf>,
    /// Folder of the spec (openapi.yaml, overlay.yaml, requirements.yaml)
    #[arg(long, env = "CONFORMANCE_SPEC_DIR", value_name = "DIR")]
    spec_dir: Option<PathBuf>,
    /// Folder of the cases
    #[arg(long, env = "CONFORMANCE_CASES_DIR", value_name = "DIR")]
    cases: Option<PathBuf>,
    /// Let this operation change state although no cleanup is declared for it; what it
    /// changes stays, and the run lists it (repeatable)
    #[arg(long = "allow-unsafe", value_name = "OPERATION")]
    allow_unsafe: Vec<String>,
    /// Folder of the snapshots
    #[arg(long, env = "CONFORMANCE_SNAPSHOT_DIR", value_name = "DIR")]
    snapshots: Option<PathBuf>,
    /// The target's known failures (YAML): reported as known-failure instead of failing
    #[arg(long, env = "CONFORMANCE_EXPECTATIONS", value_name = "FILE")]
    expectations: Option<PathBuf>,
    /// Write a JUnit XML report
    #[arg(long, env = "CONFORMANCE_JUNIT", value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write the JSON report (specs/report.schema.json)
    #[arg(long, env = "CONFORMANCE_REPORT_JSON", value_name = "FILE")]
    report_json: Option<PathBuf>,
    /// Write the Markdown conformance matrix
    #[arg(long, env = "CONFORMANCE_REPORT_MD", value_name = "FILE")]
    report_md: Option<PathBuf>,
    /// Write a shields.io endpoint badge (JSON): the verdict and the MUST score
    #[arg(long, env = "CONFORMANCE_REPORT_BADGE", value_name = "FILE")]
    report_badge: Option<PathBuf>,
    /// Write the report as one HTML file (opens offline in any browser)
    #[arg(long, env = "CONFORMANCE_REPORT_HTML", value_name = "FILE")]
    report_html: Option<PathBuf>,
    /// Start no new case after the first failing one
    #[arg(long)]
    fail_fast: bool,
    /// When no test is selected (a filter that matches nothing): fail with exit code 2, or pass
    #[arg(long, value_name = "ACTION", value_parser = ["fail", "pass"], default_value = "fail")]
    no_tests: String,
    #[command(flatten)]
    libtest: libtest_mimic::Arguments,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (keep it on loopback unless you mean to share it)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks a free one
    #[arg(long, default_value = "8000")]
    port: u16,
    /// Accept only this bearer key [default: any non-empty key]
    #[arg(long, env = "CONFORMANCE_SERVE_API_KEY", value_name = "KEY")]
    api_key: Option<String>,
    /// Behave like a real server that breaks the contract in this known way, to see what the
    /// suite reports for it (repeatable; `--deviate list` lists them)
    #[arg(
        long = "deviate",
        value_name = "NAME",
        value_parser = deviation_names(),
        hide_possible_values = true,
        long_help = format!(
            "Behave like a real server that breaks the contract in this known way, to see what \
             the suite reports for it (repeatable):\n\n{}",
            deviation_list()
        )
    )]
    deviate: Vec<String>,
    /// Wait this long before every answer, like a remote server (milliseconds)
    #[arg(long, value_name = "MS", default_value = "0")]
    latency: u64,
    /// Seconds a client has to send a request's headers; also how long a kept-alive
    /// connection may sit idle
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    header_timeout: Duration,
    /// Seconds a client has to send a request's body (past them: 408)
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = seconds)]
    body_timeout: Duration,
    /// Connections served at once; past it the oldest one not answering a request is closed
    #[arg(long, value_name = "N", default_value = "512", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Conversations held at once; past it a create answers 429
    #[arg(long, value_name = "N", default_value = "10000")]
    max_conversations: usize,
    /// Items one conversation holds at most; past it adding items answers 429
    #[arg(long, value_name = "N", default_value = "1000")]
    max_items: usize,
    /// MiB of conversations and items held at once; past it new data answers 429
    #[arg(long, value_name = "MIB", default_value = "256")]
    max_stored_mib: usize,
}

/// A number of seconds above 0, at most a day.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err("give a number of seconds above 0 and at most 86400".into()),
    }
}

/// The names of the deviations, and `list`.
fn deviation_names() -> clap::builder::PossibleValuesParser {
    let names = Deviation::ALL.iter().map(|d| d.name()).chain(["list"]);
    clap::builder::PossibleValuesParser::new(names)
}

/// One deviation a line, with what it breaks (`--deviate list`, `serve --help`).
fn deviation_list() -> String {
    let width = Deviation::ALL
        .iter()
        .map(|d| d.name().len())
        .max()
        .unwrap_or(0);
    Deviation::ALL
        .iter()
        .map(|d| format!("{:width$}  {}\n", d.name(), d.summary()))
        .collect()
}

/// libtest's flags that mean nothing here: accepted, as cargo and nextest may pass them, but
/// not shown.
const LIBTEST_HIDDEN: &[&str] = &[
    "test",
    "bench",
    "nocapture",
    "show_output",
    "unstable_flags",
    "logfile",
];

/// libtest's flags that select tests and shape the output, shown under a heading of their own.
const LIBTEST_SHOWN: &[&str] = &[
    "filter",
    "exact",
    "skip",
    "list",
    "ignored",
    "include_ignored",
    "test_threads",
    "format",
    "quiet",
    "color",
];

/// The command line. libtest-mimic's flattened arguments set a help template and turn the
/// version flag off for the whole command: both are put back here.
fn command() -> clap::Command {
    let mut command = Cli::command()
        .help_template("{about-with-newline}\n{usage-heading} {usage}\n\n{all-args}{after-help}")
        .disable_version_flag(false);
    for id in LIBTEST_HIDDEN {
        command = command.mut_arg(*id, |arg| arg.hide(true));
    }
    for id in LIBTEST_SHOWN {
        command = command.mut_arg(*id, |arg| arg.help_heading("Test selection and output"));
    }
    command.mut_arg("filter", |arg| {
        arg.help("Run only the tests whose names contain FILTER (e.g. conversations/update)")
            .long_help(None)
    })
}

fn parse(argv: impl IntoIterator<Item = String>) -> Result<Cli, clap::Error> {
    let matches = command().try_get_matches_from(argv)?;
    Cli::from_arg_matches(&matches)
}

/// An empty `CONFORMANCE_*` variable means unset (as a CI input left empty arrives), not an
/// empty value. Runs before any other thread exists.
fn forget_empty_variables() {
    let empty: Vec<_> = std::env::vars_os()
        .filter(|(name, value)| {
            value.is_empty() && name.to_string_lossy().starts_with("CONFORMANCE_")
        })
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        std::env::remove_var(name);
    }
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    forget_empty_variables();
    crate::colour::quiet_on_closed_stdout();
    let cli = match parse(std::env::args()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                crate::exit::USAGE
            } else {
                0
            });
        }
    };
    match cli.command {
        Some(Command::Serve(args)) => guarded("the reference server", || serve(args)),
        Some(Command::Run(args)) => guarded("the run", || run(*args)),
        Some(Command::Coverage(args)) => guarded("coverage", || coverage(args)),
        Some(Command::Spec(SpecCommand::Extract(args))) => {
            guarded("spec extract", || spec_extract(args))
        }
        Some(Command::Spec(SpecCommand::Diff(args))) => guarded("spec diff", || spec_diff(args)),
        None => guarded("the run", || run(cli.run)),
    }
}

/// `command` with a panic shown as one line and ending in its own exit code. A debug build
/// panics on purpose when `CONFORMANCE_DEBUG_PANIC` is set, to show that.
fn guarded(what: &'static str, command: impl FnOnce() -> ExitCode) -> ExitCode {
    crate::panic_line::guard(what, || {
        #[cfg(debug_assertions)]
        if std::env::var_os("CONFORMANCE_DEBUG_PANIC").is_some() {
            panic!("CONFORMANCE_DEBUG_PANIC is set");
        }
        command()
    })
}

fn run(mut args: RunArgs) -> ExitCode {
    crate::colour::settle(&mut args.libtest);
    match settings(&args) {
        Ok(settings) => crate::trial::run(settings, args.libtest),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::exit::USAGE)
        }
    }
}

fn settings(args: &RunArgs) -> Result<Settings, String> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= MAX_TIMEOUT_SECONDS) {
        return Err(format!(
            "--timeout {}: give a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS}",
            args.timeout
        ));
    }
    let target = TargetConfig {
        base_url: args.base_url.clone().filter(|u| !u.is_empty()),
        api_key: api_key_from_env(),
        headers: args
            .headers
            .iter()
            .map(|h| HeaderConfig::parse(h).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?,
        timeout: Duration::from_secs_f64(args.timeout),
        name: args.target_name.clone().filter(|n| !n.is_empty()),
        insecure: args.insecure,
        model: args
            .model
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| crate::target::DEFAULT_MODEL.to_owned()),
        embedding_model: args.embedding_model.clone().filter(|m| !m.is_empty()),
        record_requests: args
            .record_requests
            .clone()
            .filter(|f| !f.as_os_str().is_empty()),
    };
    if let Some(name) = &target.name {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || name.starts_with('.')
        {
            return Err(format!(
                "--target-name `{name}`: use letters, digits, `-`, `_` or `.` (it names a folder)"
            ));
        }
    }
    let reports = [
        ("--junit", &args.junit),
        ("--report-json", &args.report_json),
        ("--report-md", &args.report_md),
        ("--record-requests", &args.record_requests),
    ];
    distinct_files(&reports)?;
    let mut settings = Settings::with_defaults(target);
    settings.strict = args.strict;
    settings.fail_fast = args.fail_fast;
    settings.allow_no_tests = args.no_tests == "pass";
    settings.derived = !args.no_derived;
    settings.allow_unsafe = args.allow_unsafe.clone();
    settings.apis = args.apis.clone();
    if let Some(dir) = &args.spec_dir {
        settings.spec_dir = dir.clone();
    }
    if let Some(dir) = &args.cases {
        settings.cases_dir = dir.clone();
    }
    if let Some(dir) = &args.snapshots {
        settings.snapshot_dir = dir.clone();
    }
    let given = |path: &Option<PathBuf>| path.clone().filter(|p| !p.as_os_str().is_empty());
    settings.expectations = given(&args.expectations);
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let github = env("GITHUB_ACTIONS").is_some_and(|v| v == "true");
    // nextest runs every test in a process of its own: one report per process would
    // overwrite the last, and the step summary would get one matrix per test.
    let nextest = env("NEXTEST").is_some();
    settings.reports = Reports {
        junit: given(&args.junit),
        json: given(&args.report_json),
        markdown: given(&args.report_md),
        badge: given(&args.report_badge),
        html: given(&args.report_html),
        github_annotations: github,
        step_summary: env("GITHUB_STEP_SUMMARY")
            .filter(|_| github && !nextest)
            .map(PathBuf::from),
    };
    if nextest && !args.libtest.list && settings.reports.files().next().is_some() {
        return Err("the reports (CONFORMANCE_JUNIT, CONFORMANCE_REPORT_JSON, CONFORMANCE_REPORT_MD) \
                    cannot be written under nextest, which runs every test in a process of its own: \
                    use nextest's JUnit output, or `cargo test --test conformance`"
            .into());
    }
    Ok(settings)
}

/// The longest `--timeout`: an hour per answer is already a hang.
const MAX_TIMEOUT_SECONDS: f64 = 3600.0;

/// Two outputs written to one file would overwrite each other.
fn distinct_files(outputs: &[(&str, &Option<PathBuf>)]) -> Result<(), String> {
    let mut seen: Vec<(&str, PathBuf)> = Vec::new();
    for (flag, path) in outputs {
        let Some(path) = path.as_ref().filter(|p| !p.as_os_str().is_empty()) else {
            continue;
        };
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        // `a/./b` and `a/x/../b` are the same file; a folder that exists is resolved too.
        let normal = absolute
            .parent()
            .and_then(|folder| std::fs::canonicalize(folder).ok())
            .zip(absolute.file_name())
            .map_or(absolute.clone(), |(folder, name)| folder.join(name));
        if let Some((other, _)) = seen.iter().find(|(_, p)| *p == normal) {
            return Err(format!(
                "{other} and {flag} both write {}: give each its own file",
                path.display()
            ));
        }
        seen.push((flag, normal));
    }
    Ok(())
}

/// The key comes from `CONFORMANCE_API_KEY` and nowhere else: the harness talks to
/// third-party servers and must never pick up a user's real OpenAI key by accident.
fn api_key_from_env() -> Option<String> {
    std::env::var("CONFORMANCE_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
}

/// The `cargo test` entry: libtest's flags from the command line, the rest from the
/// environment (`CONFORMANCE_BASE_URL`, `CONFORMANCE_STRICT`, `CONFORMANCE_TIMEOUT`,
/// `CONFORMANCE_TARGET_NAME`, `CONFORMANCE_EXPECTATIONS`, the report files, and
/// `CONFORMANCE_HEADERS` as 'A: b' lines).
pub fn test_main() -> ExitCode {
    forget_empty_variables();
    crate::colour::quiet_on_closed_stdout();
    let mut argv: Vec<String> = vec!["conformance".into()];
    if let Ok(headers) = std::env::var("CONFORMANCE_HEADERS") {
        for line in headers.lines().filter(|l| !l.trim().is_empty()) {
            argv.push("--header".into());
            argv.push(line.trim().to_string());
        }
    }
    argv.extend(std::env::args().skip(1));
    match parse(argv) {
        // Under `cargo test FILTER` every test target gets the filter: one without a match
        // passes, as libtest's do.
        Ok(Cli { mut run, .. }) => {
            if std::env::var("CONFORMANCE_NO_TESTS").as_deref() != Ok("fail") {
                run.no_tests = "pass".into();
            }
            self::run(run)
        }
        Err(e) => {
            let _ = e.print();
            ExitCode::from(crate::exit::USAGE)
        }
    }
}

fn coverage(args: CoverageArgs) -> ExitCode {
    let defaults = Settings::with_defaults(TargetConfig::default());
    let spec_dir = args.spec_dir.unwrap_or(defaults.spec_dir);
    let cases_dir = args.cases.unwrap_or(defaults.cases_dir);
    let report = crate::suite::load(&crate::suite::Options {
        spec_dir: &spec_dir,
        cases_dir: &cases_dir,
        derived: true,
        exact: None,
        allow_unsafe: &[],
        warm: crate::suite::Warm::Nothing,
        expectations: None,
        apis: &[],
        early: None,
    })
    .map(|suite| {
        let derived = suite.derived.unwrap_or_default();
        crate::coverage::report(&suite.spec, &suite.cases, &derived)
    });
    match report {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::exit::USAGE)
        }
    }
}

fn spec_extract(args: ExtractArgs) -> ExitCode {
    let defaults = Settings::with_defaults(TargetConfig::default());
    let spec_dir = args.spec_dir.unwrap_or(defaults.spec_dir);
    let upstream = crate::spec::extract::Upstream {
        commit: args.commit,
        date: args.commit_date,
    };
    let out = args.out.unwrap_or_else(|| spec_dir.join("openapi.yaml"));
    let written =
        crate::spec::extract::extract(&args.full, &spec_dir.join("overlay.yaml"), &upstream)
            .and_then(|extract| {
                if out.as_os_str() == "-" {
                    print!("{}", extract.text);
                } else {
                    std::fs::write(&out, &extract.text)
                        .map_err(|e| format!("{}: cannot write the extract: {e}", out.display()))?;
                    println!(
                        "wrote {}: {} operations, {} components, from commit {}",
                        out.display(),
                        extract.operations,
                        extract.components,
                        upstream.commit
                    );
                }
                Ok(())
            });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::exit::USAGE)
        }
    }
}

fn spec_diff(args: DiffArgs) -> ExitCode {
    let defaults = Settings::with_defaults(TargetConfig::default());
    let spec_dir = args.spec_dir.unwrap_or(defaults.spec_dir);
    let cases_dir = args.cases.unwrap_or(defaults.cases_dir);
    match crate::spec_diff::diff(&args.old, &args.new, &spec_dir, &cases_dir) {
        Ok(diff) => {
            let text = if args.format == "json" {
                format!("{}\n", diff.to_json())
            } else {
                diff.to_text()
            };
            // A closed pipe (`| head`) is no error of the diff.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(crate::exit::USAGE)
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    if args.deviate.iter().any(|name| name == "list") {
        print!("{}", deviation_list());
        return ExitCode::SUCCESS;
    }
    // The parser only lets known names through.
    let deviations: Vec<Deviation> = args
        .deviate
        .iter()
        .filter_map(|name| name.parse().ok())
        .collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(crate::exit::USAGE);
        }
    };
    let config = crate::server::ServerConfig {
        api_key: args.api_key.filter(|k| !k.is_empty()),
        deviations: deviations.clone(),
        latency: std::time::Duration::from_millis(args.latency),
        limits: crate::server::Limits {
            store: crate::server::StoreLimits {
                max_conversations: args.max_conversations,
                max_items_per_conversation: args.max_items,
                max_stored_bytes: args.max_stored_mib.saturating_mul(1024 * 1024),
            },
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            max_connections: args.max_connections as usize,
        },
    };
    let served = runtime.block_on(crate::server::serve_until_ctrl_c(
        config,
        &args.host,
        args.port,
        |addr| {
            println!("reference server listening on http://{addr}/v1 (Ctrl-C stops it)");
            for d in &deviations {
                println!("deviating from the contract: {d} ({})", d.summary());
            }
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
        },
    ));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot serve on {}:{}: {e}", args.host, args.port);
            ExitCode::from(crate::exit::USAGE)
        }
    }
}
