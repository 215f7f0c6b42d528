//! The suite as standard test output: one libtest-mimic trial per case, run in parallel on one
//! tokio runtime and one HTTP client. The results are collected once; after libtest's summary
//! they become one [`Report`]: warnings, known failures, observations and notes are printed,
//! the reports asked for are written, and the exit code says how the run went.

use crate::case::{self, Case};
use crate::date::Date;
use crate::expectation::Expectations;
use crate::report::{self, Report, TargetInfo};
use crate::run;
use crate::snapshot::{self, SnapshotSet};
use crate::spec::{Level, Spec};
use crate::target::{Target, TargetConfig};
use crate::verdict::{CaseOutcome, Finding, FindingKind, Verdict};
use libtest_mimic::{Arguments, Failed, FormatSetting, Trial};
use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

/// Exit codes, documented in the README.
pub mod exit {
    /// Every selected MUST check passed (and SHOULD ones with `--strict`).
    pub const PASSED: u8 = 0;
    /// At least one conformance failure.
    pub const FAILED: u8 = 1;
    /// A usage or configuration error: a bad flag, an unreadable spec or case file.
    pub const USAGE: u8 = 2;
    /// The target answered no request at all.
    pub const UNREACHABLE: u8 = 3;
    /// No conformance failure, but some cases got no answer to judge (timeouts, resets, a
    /// 429 that did not clear): run again, or slower.
    pub const INCONCLUSIVE: u8 = 4;
    /// Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
    pub const INTERRUPTED: u8 = 130;
    /// stdout was closed before the end (128 + SIGPIPE, as shells report it).
    pub const CLOSED_OUTPUT: u8 = 141;
    /// Stopped by SIGTERM (CI cancelling, `timeout`, `docker stop`): 128 + SIGTERM.
    pub const TERMINATED: u8 = 143;
}

/// The exit code of the signal that stopped the run (0: none), set by the first one.
static STOPPED_BY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Why a case that Ctrl-C kept from starting did not run.
const NOT_RUN: &str = "not run: interrupted (Ctrl-C)";
/// Why a case that `--fail-fast` kept from starting did not run.
const NOT_RUN_FAIL_FAST: &str = "not run: --fail-fast stopped the run after a failure";

/// Everything a run needs besides libtest's own arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub target: TargetConfig,
    /// SHOULD findings fail tests instead of warning.
    pub strict: bool,
    /// Run the cases derived from the spec besides the case files.
    pub derived: bool,
    /// Start no case after the first failure (`--fail-fast`).
    pub fail_fast: bool,
    /// A run that selects no test passes (`--no-tests pass`); otherwise it is a usage error.
    pub allow_no_tests: bool,
    pub spec_dir: PathBuf,
    pub cases_dir: PathBuf,
    pub snapshot_dir: PathBuf,
    /// The target's known failures (`--expectations`).
    pub expectations: Option<PathBuf>,
    pub reports: Reports,
    /// Operations that may change state without a declared cleanup (`--allow-unsafe`).
    pub allow_unsafe: Vec<String>,
}

/// The reports to write after the run, each only when asked for.
#[derive(Debug, Clone, Default)]
pub struct Reports {
    pub junit: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
    /// A shields.io endpoint badge.
    pub badge: Option<PathBuf>,
    /// The single-file HTML report.
    pub html: Option<PathBuf>,
    /// Print failures and warnings as GitHub Actions workflow commands.
    pub github_annotations: bool,
    /// `$GITHUB_STEP_SUMMARY`: the Markdown matrix is appended to it.
    pub step_summary: Option<PathBuf>,
}

impl Reports {
    /// The files to write, and what each holds.
    pub fn files(&self) -> impl Iterator<Item = (&PathBuf, fn(&Report) -> String)> {
        [
            (
                self.junit.as_ref(),
                report::junit::render as fn(&Report) -> String,
            ),
            (self.json.as_ref(), report::json::render),
            (self.markdown.as_ref(), report::markdown::render),
            (self.badge.as_ref(), report::badge::render),
            (self.html.as_ref(), report::html::render),
        ]
        .into_iter()
        .filter_map(|(path, render)| path.map(|p| (p, render)))
    }
}

impl Settings {
    /// The spec and cases embedded in the binary, and `snapshots/` of the working folder.
    pub fn with_defaults(target: TargetConfig) -> Self {
        let bundled = crate::bundle::root();
        Self {
            target,
            strict: false,
            derived: true,
            fail_fast: false,
            allow_no_tests: false,
            spec_dir: bundled.join("specs"),
            cases_dir: bundled.join("cases"),
            snapshot_dir: PathBuf::from("snapshots"),
            expectations: None,
            reports: Reports::default(),
            allow_unsafe: Vec::new(),
        }
    }
}

/// What one test found, kept for the summary and the reports.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub id: String,
    pub file: String,
    pub requirement: Option<String>,
    pub level: Option<Level>,
    pub outcome: CaseOutcome,
    /// The case file did not load: this is the error.
    pub broken: Option<String>,
    /// The case is ignored and did not run: this is why.
    pub skipped: Option<String>,
    /// For each finding, the expectation entry that excuses it.
    pub excused: Vec<Option<usize>>,
    /// Every finding rendered (the test's failure message when it failed), redacted.
    pub message: Option<String>,
}

impl CaseResult {
    /// A case's result before anything is known of it.
    fn of(case: &Case) -> Self {
        Self {
            id: case.id.clone(),
            file: case.file.clone(),
            requirement: Some(case.requirement.clone()),
            level: Some(case.level),
            outcome: CaseOutcome::default(),
            broken: None,
            skipped: None,
            excused: Vec::new(),
            message: None,
        }
    }

    pub fn verdict(&self, strict: bool) -> Verdict {
        let findings = &self.outcome.findings;
        let excused = |i: usize| self.excused.get(i).copied().flatten().is_some();
        if self.broken.is_some() {
            Verdict::Fail
        } else if self.skipped.is_some() {
            Verdict::Skipped
        } else if (0..findings.len()).any(|i| findings[i].fails(strict) && !excused(i)) {
            Verdict::Fail
        } else if (0..findings.len()).any(excused) {
            Verdict::KnownFailure
        } else if self.outcome.blocked.is_some() {
            Verdict::Blocked
        } else if self.outcome.inconclusive.is_some() {
            Verdict::Inconclusive
        } else if findings.iter().any(|f| f.warns(strict)) {
            Verdict::Warn
        } else if self.level == Some(Level::Info) {
            Verdict::Info
        } else {
            Verdict::Pass
        }
    }
}

/// The shared state of a run.
struct Run {
    settings: Settings,
    spec: Arc<Spec>,
    runtime: tokio::runtime::Runtime,
    target: OnceLock<Result<(Arc<Target>, SnapshotSet), String>>,
    expectations: Option<Expectations>,
    started: SystemTime,
    results: Mutex<Vec<CaseResult>>,
    /// Set by Ctrl-C: no case or step starts any more.
    stopping: Arc<AtomicBool>,
    /// Set by the first failure under `--fail-fast`: no case starts any more.
    halted: Arc<AtomicBool>,
    /// The tasks that run the cases, awaited when stdout closes so that they clean up.
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Case id -> where its outcome arrives, for the cases started by [`Run::start`].
    running: Mutex<HashMap<String, oneshot::Receiver<run::Executed>>>,
}

impl Run {
    /// Connects on first use, so `--list` and filtered-out runs never start anything.
    fn target(&self) -> Result<&(Arc<Target>, SnapshotSet), String> {
        self.target
            .get_or_init(|| {
                let target = self
                    .runtime
                    .block_on(Target::connect(self.settings.target.clone()))?;
                if !target.is_reference() {
                    self.runtime
                        .block_on(crate::preflight::check(&target, self.spec.preflight()))?;
                }
                let set = SnapshotSet::choose(
                    &self.settings.snapshot_dir,
                    target.is_reference(),
                    target.config.name.as_deref(),
                );
                Ok((Arc::new(target), set))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn record(&self, result: CaseResult) {
        self.results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(result);
    }

    fn trial(self: &Arc<Self>, case: Arc<Case>) -> Trial {
        let ignored = case.ignored.is_some();
        let run = Arc::clone(self);
        Trial::test(case.id.clone(), move || run.execute(&case)).with_ignored_flag(ignored)
    }

    /// Starts the selected cases, in order, `workers` at a time, as tasks on the runtime (next
    /// to the embedded server's): the test thread only collects each outcome. Passing every
    /// case from a test thread to the runtime and back cost more than its requests.
    fn start(self: &Arc<Self>, cases: Vec<Arc<Case>>, workers: Option<usize>) {
        let Ok((target, _)) = self.target() else {
            // Each test reports why there is no target.
            return;
        };
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let mut queue = VecDeque::with_capacity(cases.len());
        for case in cases {
            let (sender, receiver) = oneshot::channel();
            running.insert(case.id.clone(), receiver);
            queue.push_back((case, sender));
        }
        let queue = Arc::new(Mutex::new(queue));
        // The embedded server is ours and known to take the load: only another target's
        // concurrency adapts, unless `--test-threads` fixes it.
        let fixed = workers.or(target.is_reference().then_some(crate::concurrency::MAX));
        let controller = Arc::new(crate::concurrency::Controller::new(fixed));
        let retried: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        let mut handles = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..fixed.unwrap_or(crate::concurrency::MAX) {
            let (queue, target) = (Arc::clone(&queue), Arc::clone(target));
            let (spec, stopping) = (Arc::clone(&self.spec), Arc::clone(&self.stopping));
            let (controller, retried) = (Arc::clone(&controller), Arc::clone(&retried));
            let halted = Arc::clone(&self.halted);
            handles.push(self.runtime.spawn(async move {
                // After Ctrl-C (or a failure under --fail-fast) no case starts: the ones left
                // in the queue are reported not run.
                while !stopping.load(Ordering::SeqCst) && !halted.load(Ordering::SeqCst) {
                    let slot = controller.slot().await;
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some((case, sender)) = next else { break };
                    let executed = run::execute(
                        Arc::clone(&case),
                        Arc::clone(&target),
                        Arc::clone(&spec),
                        Arc::clone(&stopping),
                    )
                    .await;
                    drop(slot);
                    let signal = signal(&executed.outcome);
                    if controller.report(signal) {
                        wait_for_target(&target, spec.preflight(), &controller, &stopping).await;
                    }
                    let stats = &target.stats;
                    stats.stalls.store(controller.stalls(), Ordering::Relaxed);
                    stats
                        .lowest_concurrency
                        .store(controller.lowest(), Ordering::Relaxed);
                    // A case caught in trouble runs once more, later, before it is inconclusive.
                    let again = executed.outcome.inconclusive.is_some()
                        && !stopping.load(Ordering::SeqCst)
                        && retried
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(case.id.clone());
                    if again {
                        stats.retries.fetch_add(1, Ordering::Relaxed);
                        queue
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push_back((case, sender));
                        continue;
                    }
                    // The receiver is gone only when the run is being torn down.
                    let _ = sender.send(executed);
                }
            }));
        }
    }

    /// Whether no case starts any more (Ctrl-C or `--fail-fast`).
    fn stopped(&self) -> bool {
        self.stopping.load(Ordering::SeqCst) || self.halted.load(Ordering::SeqCst)
    }

    fn not_run(&self, case: &Case) -> Result<(), Failed> {
        let why = if self.stopping.load(Ordering::SeqCst) {
            NOT_RUN
        } else {
            NOT_RUN_FAIL_FAST
        };
        self.record(CaseResult {
            skipped: Some(why.into()),
            ..CaseResult::of(case)
        });
        Err(why.into())
    }

    fn execute(&self, case: &Arc<Case>) -> Result<(), Failed> {
        let receiver = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&case.id);
        if receiver.is_none() && self.stopped() {
            return self.not_run(case);
        }
        let (target, snapshots) = match self.target() {
            Ok(connected) => connected,
            Err(e) => {
                self.record(CaseResult {
                    outcome: CaseOutcome {
                        findings: vec![Finding {
                            requirement: None,
                            level: Level::Must,
                            kind: FindingKind::Target,
                            summary: e.clone(),
                            details: Vec::new(),
                            step: None,
                            cause: None,
                        }],
                        ..Default::default()
                    },
                    excused: vec![None],
                    message: Some(e.clone()),
                    ..CaseResult::of(case)
                });
                return Err(e.into());
            }
        };
        let executed = match receiver {
            Some(receiver) => match self.runtime.block_on(receiver) {
                Ok(executed) => executed,
                // Its worker stopped before it (Ctrl-C), or died.
                Err(_) if self.stopped() => return self.not_run(case),
                Err(e) => {
                    return Err(format!("the harness failed while running the case: {e}").into())
                }
            },
            None => self
                .runtime
                .block_on(self.runtime.spawn(run::execute(
                    Arc::clone(case),
                    Arc::clone(target),
                    Arc::clone(&self.spec),
                    Arc::clone(&self.stopping),
                )))
                .map_err(|e| format!("the harness failed while running the case: {e}"))?,
        };
        let mut outcome = executed.outcome;
        let changed = self.spec.changed_without_cleanup(case, &outcome.steps);
        outcome.notes.extend(changed);
        if let SnapshotSet::Enabled(dir) = snapshots {
            // An embedded case is named as it is in this package (`cases/...`).
            let file = match self.settings.cases_dir.parent() {
                Some(root) if !crate::bundle::is_bundled(root) => root.join(&case.file),
                _ => PathBuf::from(&case.file),
            };
            for failure in snapshot::assert(dir, &file, &executed.snapshots) {
                outcome.findings.push(Finding {
                    requirement: None,
                    level: Level::Must,
                    kind: FindingKind::Snapshot,
                    summary: failure,
                    details: Vec::new(),
                    step: None,
                    cause: None,
                });
            }
        }
        let strict = self.settings.strict;
        let excused = self.expectations.as_ref().map_or_else(
            || vec![None; outcome.findings.len()],
            |e| e.excuse(&case.id, &outcome.findings, strict),
        );
        let message = (!outcome.findings.is_empty()).then(|| {
            let requirement = self.spec.catalogue.get(&case.requirement);
            let mut headline = format!(
                "{} {}: {}\n    case: {}",
                case.requirement,
                case.level,
                requirement.map_or("", |r| r.text.as_str()),
                case.file
            );
            let mut used: Vec<usize> = excused.iter().flatten().copied().collect();
            used.sort_unstable();
            used.dedup();
            for entry in used
                .iter()
                .filter_map(|&i| self.expectations.as_ref()?.entries.get(i))
            {
                headline.push_str(&format!(
                    "\n    known failure ({}): {}",
                    entry.at, entry.reason
                ));
            }
            let known: Vec<bool> = excused.iter().map(Option::is_some).collect();
            let body = outcome.render(&case.file, strict, &known);
            target.secrets.redact(&format!("{headline}\n{body}"))
        });
        let result = CaseResult {
            outcome,
            excused,
            message,
            ..CaseResult::of(case)
        };
        let verdict = result.verdict(strict);
        let failure = match verdict {
            Verdict::Fail => Some(result.message.clone().unwrap_or_default()),
            // Shown as a failed test, so that no one mistakes it for a pass; the exit code
            // and every report say it is not a conformance failure.
            Verdict::Inconclusive => Some(format!(
                "inconclusive, not a conformance failure: {}\n{}",
                result.outcome.inconclusive.as_deref().unwrap_or_default(),
                result.message.clone().unwrap_or_default()
            )),
            _ => None,
        };
        self.record(result);
        match failure {
            Some(message) => {
                if self.settings.fail_fast {
                    self.halted.store(true, Ordering::SeqCst);
                }
                Err(crate::colour::failure(&message).into())
            }
            None => Ok(()),
        }
    }
}

/// What a finished case says about how the target holds up.
fn signal(outcome: &CaseOutcome) -> crate::concurrency::Signal {
    use crate::concurrency::{Signal, FAST};
    let server_errors = outcome
        .steps
        .iter()
        .filter(|s| s.status.is_some_and(|c| c >= 500))
        .count();
    if outcome.inconclusive.is_some() || server_errors >= 2 {
        return Signal::Trouble;
    }
    let requests = u32::try_from(outcome.steps.len().max(1)).unwrap_or(u32::MAX);
    if outcome.elapsed / requests > FAST {
        Signal::Slow
    } else {
        Signal::Fast
    }
}

/// The target stalled: probe it until it answers (bounded), then let cases start again.
async fn wait_for_target(
    target: &Target,
    preflight: Option<&crate::spec::Preflight>,
    controller: &crate::concurrency::Controller,
    stopping: &AtomicBool,
) {
    let give_up =
        std::time::Instant::now() + (target.config.timeout * 4).max(Duration::from_secs(30));
    while std::time::Instant::now() < give_up && !stopping.load(Ordering::SeqCst) {
        if crate::preflight::check(target, preflight).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    controller.resume();
}

/// Runs the suite with libtest's arguments and answers the process's exit code.
pub fn run(settings: Settings, mut args: Arguments) -> ExitCode {
    match prepare(settings, &args) {
        Ok((run, trials)) => {
            // `--test-threads N` is how many cases run at a time; they run on the runtime, and
            // libtest's one thread collects them in order.
            // Cases wait on the network, not the CPU: run more of them than there are cores.
            // Without `--test-threads` the number adapts to the target (see `concurrency`).
            let workers = args.test_threads;
            args.test_threads = Some(1);
            if !args.list {
                let chosen =
                    |trial: &Trial| !args.is_filtered_out(trial) && !args.is_ignored(trial);
                if !run.settings.allow_no_tests && !trials.iter().any(|(t, _)| chosen(t)) {
                    eprintln!(
                        "error: no test selected{}: see the names with --list, or give \
                         --no-tests pass to let an empty selection pass",
                        args.filter
                            .as_deref()
                            .map(|f| format!(" (no name contains `{f}`)"))
                            .unwrap_or_default()
                    );
                    return ExitCode::from(exit::USAGE);
                }
                let mut selected: Vec<Arc<Case>> = trials
                    .iter()
                    .filter(|(trial, _)| chosen(trial))
                    .filter_map(|(_, case)| case.clone())
                    .collect();
                // Under --fail-fast the first trial to fail must be the first to run.
                if !run.settings.fail_fast {
                    crate::schedule::longest_chain_first(&mut selected, &run.spec);
                }
                // Nothing to run (every selected case failed to load): connect to nothing.
                if !selected.is_empty() {
                    run.start(selected, workers);
                    announce(&run, &args);
                }
            }
            let trials = trials.into_iter().map(|(trial, _)| trial).collect();
            let conclusion = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                libtest_mimic::run(&args, trials)
            }));
            let conclusion = match conclusion {
                Ok(conclusion) => conclusion,
                Err(panic) => return closed_stdout(&run, panic),
            };
            let code = finish(&run, &args, conclusion);
            // The process ends now: freeing the spec, its validators, the cases and the runtime
            // piece by piece would only add milliseconds (the request log is flushed already).
            std::mem::forget(run);
            code
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}

/// Says what the run is aimed at before the first result, on stderr (stdout stays libtest's).
fn announce(run: &Run, args: &Arguments) {
    let target = match run.target() {
        Ok((target, _)) if target.is_reference() => format!(
            "the embedded reference server at {}",
            target.secrets.redact(&target.base_url)
        ),
        Ok((target, _)) => target.config.display_url(),
        // Every test says why.
        Err(_) => return,
    };
    if !matches!(args.format, Some(FormatSetting::Json)) {
        eprintln!(
            "{} {target}",
            crate::colour::paint(crate::colour::BOLD, "target:")
        );
    }
}

/// stdout closed under libtest (`conformance | head`): running cases finish their step and
/// delete what they created, and the process ends without another word. Any other panic
/// goes on.
fn closed_stdout(run: &Run, panic: Box<dyn std::any::Any + Send>) -> ExitCode {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    if !crate::colour::is_closed_stdout(message) {
        std::panic::resume_unwind(panic);
    }
    run.stopping.store(true, Ordering::SeqCst);
    let workers = std::mem::take(&mut *run.workers.lock().unwrap_or_else(|e| e.into_inner()));
    run.runtime.block_on(async {
        for worker in workers {
            let _ = worker.await;
        }
    });
    ExitCode::from(exit::CLOSED_OUTPUT)
}

/// Each trial with its case (`None` for a file that does not load).
type Trials = Vec<(Trial, Option<Arc<Case>>)>;

fn prepare(settings: Settings, args: &Arguments) -> Result<(Arc<Run>, Trials), String> {
    settings.target.validate()?;
    // `--exact NAME` (how nextest runs each test) needs only the file NAME comes from; a
    // derived NAME needs every file (their `covers` decide which derived cases exist).
    let exact = args.filter.clone().filter(|_| args.exact);
    let derived_wanted = settings.derived
        && exact
            .as_deref()
            .is_none_or(|name| name.starts_with(case::derive::PREFIX));
    let wanted = |file_id: &str| {
        exact.as_deref().is_none_or(|name| {
            (derived_wanted && name.starts_with(case::derive::PREFIX))
                || name
                    .strip_prefix(file_id)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    };
    // The spec and the case files are parsed at the same time: both are mostly YAML parsing.
    // Compiling the response schemas takes milliseconds more (the item union most); a thread
    // of its own starts on it as soon as the spec is there, so that the cases find them ready.
    // The derived cases need only the spec: they are built while the case files are read.
    let (spec, read) = std::thread::scope(|scope| {
        let spec = scope.spawn(|| {
            let spec = Spec::load(&settings.spec_dir)?.allowing_unsafe(&settings.allow_unsafe)?;
            let spec = Arc::new(spec);
            if !args.list {
                let spec = Arc::clone(&spec);
                std::thread::spawn(move || {
                    let operations: Vec<String> =
                        spec.operations().map(|op| op.id.clone()).collect();
                    spec.prepare_validators(operations.iter().map(String::as_str));
                });
            }
            let derived = derived_wanted.then(|| {
                if crate::bundle::is_bundled(&settings.spec_dir) {
                    case::derive::derive_embedded(&spec)
                } else {
                    case::derive::derive(&spec)
                }
            });
            Ok::<_, String>((spec, derived))
        });
        let read = case::read(&settings.cases_dir, &wanted);
        let spec = spec.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (spec, read)
    });
    let (spec, derived) = spec?;
    let (sources, unread) = read?;
    let mut discovered = case::Discovered {
        cases: case::validate(sources, &spec),
        unread,
    };
    let cases = if let Some(derived) = derived {
        case::derive::merge(&spec, discovered.cases, &derived)
    } else {
        // Not built: expectations may still name derived cases.
        let derived = case::derive::PREFIX.trim_end_matches('/');
        discovered.unread.push(derived.to_string());
        discovered.cases
    };
    let mut cases = cases;
    // Probes are generated cases too: `--no-derived` leaves them out with the derived ones.
    if settings.derived
        && exact
            .as_deref()
            .is_none_or(|name| name.starts_with(crate::probe::PREFIX))
    {
        cases.extend(crate::probe::generate(&spec));
    }
    let cases = refuse_snapshot_collisions(cases);
    let expectations = match &settings.expectations {
        Some(path) => {
            let ids: Vec<String> = cases
                .iter()
                .map(|c| c.as_ref().map_or_else(|b| b.id.clone(), |c| c.id.clone()))
                .collect();
            let known = Expectations::load(path, &spec, &ids, &discovered.unread, Date::today())?;
            Some(known)
        }
        None => None,
    };
    if !args.list {
        for (path, _) in settings.reports.files() {
            check_writable(path)?;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("conformance-io")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    snapshot::install_panic_hook();
    let stopping = Arc::new(AtomicBool::new(false));
    listen_for_interrupt(&runtime, Arc::clone(&stopping))?;
    let run = Arc::new(Run {
        settings,
        spec,
        runtime,
        target: OnceLock::new(),
        expectations,
        started: SystemTime::now(),
        results: Mutex::new(Vec::new()),
        stopping,
        halted: Arc::new(AtomicBool::new(false)),
        workers: Mutex::new(Vec::new()),
        running: Mutex::new(HashMap::new()),
    });
    let trials = cases
        .into_iter()
        .map(|loaded| match loaded {
            Ok(case) => {
                let skipped = case.ignored.as_ref().map(|why| CaseResult {
                    skipped: Some(why.clone()),
                    ..CaseResult::of(&case)
                });
                let case = Arc::new(case);
                let trial = run.trial(Arc::clone(&case));
                // libtest does not call an ignored test: it is recorded as skipped here.
                if let Some(skipped) = skipped {
                    if args.is_ignored(&trial) && !args.is_filtered_out(&trial) {
                        run.record(skipped);
                    }
                }
                (trial, Some(case))
            }
            Err(broken) => {
                let record = Arc::clone(&run);
                let trial = Trial::test(broken.id.clone(), move || {
                    // A file may hold anything, even a secret next to its error.
                    let error = record.settings.target.secrets().redact(&broken.error);
                    record.record(CaseResult {
                        id: broken.id.clone(),
                        file: broken.file.clone(),
                        requirement: None,
                        level: None,
                        outcome: CaseOutcome::default(),
                        broken: Some(error.clone()),
                        skipped: None,
                        excused: Vec::new(),
                        message: None,
                    });
                    Err(format!("the case does not load:\n{error}").into())
                });
                (trial, None)
            }
        })
        .collect();
    Ok((run, trials))
}

/// A case whose snapshot files would be another's (names that differ only in case) does not
/// load: one would overwrite the other's snapshots.
fn refuse_snapshot_collisions(
    cases: Vec<Result<Case, case::Broken>>,
) -> Vec<Result<Case, case::Broken>> {
    let snapshotting = |c: &Case| c.steps.iter().any(|s| s.snapshot.is_some());
    let ids: Vec<&str> = cases
        .iter()
        .filter_map(|c| c.as_ref().ok().filter(|c| snapshotting(c)))
        .map(|c| c.id.as_str())
        .collect();
    let clashes: HashMap<String, String> = snapshot::collisions(ids)
        .into_iter()
        .map(|(id, first)| (id.to_string(), first.to_string()))
        .collect();
    if clashes.is_empty() {
        return cases;
    }
    cases
        .into_iter()
        .map(|loaded| match loaded {
            Ok(case) if clashes.contains_key(&case.id) => Err(case::Broken {
                error: format!(
                    "{}: its snapshots would be the files of `{}` (the names differ only in \
                     case): rename one of them",
                    case.file, clashes[&case.id]
                ),
                id: case.id,
                file: case.file,
            }),
            other => other,
        })
        .collect()
}

/// The first Ctrl-C or SIGTERM sets `stopping`: running cases finish their current step and
/// delete what they created, no other case starts, the reports are written. A second signal
/// quits at once, without cleanup (reports already written stay whole: see [`create`]).
fn listen_for_interrupt(
    runtime: &tokio::runtime::Runtime,
    stopping: Arc<AtomicBool>,
) -> Result<(), String> {
    let _entered = runtime.enter();
    // Registered now rather than when the task first runs, so an early signal counts too.
    #[cfg(unix)]
    let (mut interrupts, mut terminations) = {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind| signal(kind).map_err(|e| format!("cannot listen for signals: {e}"));
        (
            listen(SignalKind::interrupt())?,
            listen(SignalKind::terminate())?,
        )
    };
    runtime.spawn(async move {
        for count in 1.. {
            #[cfg(unix)]
            let code = tokio::select! {
                _ = interrupts.recv() => exit::INTERRUPTED,
                _ = terminations.recv() => exit::TERMINATED,
            };
            #[cfg(not(unix))]
            let code = {
                let _ = tokio::signal::ctrl_c().await;
                exit::INTERRUPTED
            };
            if count == 1 {
                STOPPED_BY.store(code, Ordering::SeqCst);
                stopping.store(true, Ordering::SeqCst);
                eprintln!(
                    "\ninterrupted: no new case starts; running cases finish their step and delete \
                     what they created (Ctrl-C again quits at once, without cleanup)"
                );
            } else {
                eprintln!("\ninterrupted again: quitting without cleanup");
                std::process::exit(STOPPED_BY.load(Ordering::SeqCst).into());
            }
        }
    });
    Ok(())
}

/// What a run stopped by Ctrl-C did, for the notes.
fn interrupted(results: &[CaseResult]) -> String {
    let not_run = results
        .iter()
        .filter(|r| r.skipped.as_deref() == Some(NOT_RUN))
        .count();
    let ran: Vec<&CaseResult> = results.iter().filter(|r| r.skipped.is_none()).collect();
    let deleted: usize = ran.iter().map(|r| r.outcome.cleaned_up).sum();
    let signal = if STOPPED_BY.load(Ordering::SeqCst) == exit::TERMINATED {
        "terminated (SIGTERM)"
    } else {
        "interrupted (Ctrl-C)"
    };
    format!(
        "{signal}: {} ran and deleted the {} they had created (failed deletes are \
         in the notes); {} did not run",
        counted(ran.len(), "case"),
        counted(deleted, "resource"),
        counted(not_run, "case"),
    )
}

/// `1 case`, `2 cases`.
fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Writes a report whole or not at all: into a temporary file beside it, renamed over it once
/// complete, so a run killed while writing never leaves a cut report. Creates the folder.
fn create(path: &std::path::Path, text: &str) -> Result<(), String> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(folder) = folder {
        std::fs::create_dir_all(folder)
            .map_err(|e| format!("{}: cannot create the folder: {e}", folder.display()))?;
    }
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy());
    let temporary = folder
        .unwrap_or_else(|| std::path::Path::new("."))
        .join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&temporary, text).and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(|e| format!("{}: cannot write the report: {e}", path.display()))
}

/// Fails now, before anything runs, if a report could not be written, without touching it.
fn check_writable(path: &std::path::Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!(
            "{}: cannot write the report: it is a folder",
            path.display()
        ));
    }
    let probe = path.with_file_name(format!(".conformance-probe.{}", std::process::id()));
    create(&probe, "")?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn finish(run: &Run, args: &Arguments, conclusion: libtest_mimic::Conclusion) -> ExitCode {
    if args.list {
        return ExitCode::SUCCESS;
    }
    let finished = SystemTime::now();
    let results = std::mem::take(&mut *run.results.lock().unwrap_or_else(|e| e.into_inner()));
    let (secrets, reference) = match run.target.get() {
        Some(Ok((target, _))) => (target.secrets.clone(), target.is_reference()),
        _ => (
            run.settings.target.secrets(),
            run.settings.target.base_url.is_none(),
        ),
    };
    let stopped = run.stopping.load(Ordering::SeqCst);
    let halted = run.halted.load(Ordering::SeqCst);
    let mut notes = Vec::new();
    if stopped {
        notes.push(interrupted(&results));
    }
    if halted {
        let not_run = results
            .iter()
            .filter(|r| r.skipped.as_deref() == Some(NOT_RUN_FAIL_FAST))
            .count();
        notes.push(format!(
            "--fail-fast: stopped after the first failure; {} did not run",
            counted(not_run, "case")
        ));
    }
    if let Some(Ok((target, set))) = run.target.get() {
        if let SnapshotSet::Skipped(why) = set {
            notes.push(why.clone());
        }
        if target.config.insecure {
            notes.push("TLS certificates were NOT verified (--insecure)".into());
        }
        if let Some(log) = &target.request_log {
            log.flush();
            notes.extend(log.error().map(String::from));
        }
    }
    let config = &run.settings.target;
    let report = Report::build(report::Inputs {
        spec: &run.spec,
        results: &results,
        expectations: run.expectations.as_ref(),
        secrets: &secrets,
        target: TargetInfo {
            url: if reference {
                "reference".into()
            } else {
                config.display_url()
            },
            name: config.name.clone(),
            insecure: config.insecure,
        },
        strict: run.settings.strict,
        complete: args.filter.is_none()
            && args.skip.is_empty()
            && !args.ignored
            && !stopped
            && !halted,
        started: run.started,
        finished,
        notes,
        degraded: match run.target.get() {
            Some(Ok((target, _))) => report::Degraded {
                retries: target.stats.retries.load(Ordering::Relaxed),
                stalls: target.stats.stalls.load(Ordering::Relaxed),
                inconclusive: 0,
                lowest_concurrency: target.stats.lowest_concurrency.load(Ordering::Relaxed),
            },
            _ => report::Degraded::default(),
        },
    });
    let reports = &run.settings.reports;
    let mut out = summarize(&report);
    if reports.github_annotations {
        out.push_str(&report::github::annotations(&report));
    }
    let out = secrets.redact(&out);
    if !out.is_empty() {
        // libtest's JSON lines stay parseable: the summary goes to stderr then.
        if matches!(args.format, Some(FormatSetting::Json)) {
            eprint!("{out}");
        } else {
            print!("{out}");
            let _ = std::io::stdout().flush();
        }
    }
    let mut unwritten: Vec<String> = reports
        .files()
        .filter_map(|(path, render)| create(path, &secrets.redact(&render(&report))).err())
        .collect();
    if let Some(path) = &reports.step_summary {
        let markdown = secrets.redact(&report::markdown::render(&report));
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut file| writeln!(file, "{markdown}"));
        if let Err(e) = appended {
            unwritten.push(format!(
                "{}: cannot append the step summary: {e}",
                path.display()
            ));
        }
    }
    for e in &unwritten {
        eprintln!("error: {e}");
    }
    let code = if stopped {
        match STOPPED_BY.load(Ordering::SeqCst) {
            0 => exit::INTERRUPTED,
            code => code,
        }
    } else if results.iter().any(|r| r.broken.is_some()) || !unwritten.is_empty() {
        exit::USAGE
    } else if let Some(Err(_)) = run.target.get() {
        exit::UNREACHABLE
    } else if results.iter().any(|r| r.skipped.is_none())
        && results
            .iter()
            .filter(|r| r.skipped.is_none())
            .all(|r| r.outcome.unreachable())
    {
        exit::UNREACHABLE
    } else if report.cases.iter().any(|c| c.verdict == Verdict::Fail)
        || !report.expectation_problems().is_empty()
    {
        exit::FAILED
    } else if report
        .cases
        .iter()
        .any(|c| c.verdict == Verdict::Inconclusive)
    {
        exit::INCONCLUSIVE
    } else if conclusion.has_failed() {
        exit::FAILED
    } else {
        exit::PASSED
    };
    ExitCode::from(code)
}

/// Warnings, known failures, expectation problems, observations and notes, after libtest's
/// own summary.
fn summarize(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let findings = |verdict: Verdict| -> Vec<(&str, &report::FindingReport)> {
        report
            .cases
            .iter()
            .flat_map(|c| c.findings.iter().map(move |f| (c.id.as_str(), f)))
            .filter(|(_, f)| f.verdict == verdict)
            .collect()
    };
    if report.degraded.is_degraded() {
        let _ = writeln!(out, "\n{}", report.degraded.line());
    }
    let grouped = |out: &mut String, verdict: Verdict| {
        for cause in report.root_causes.iter().filter(|c| c.verdict == verdict) {
            let shown: Vec<&str> = cause.cases.iter().take(3).map(String::as_str).collect();
            let _ = writeln!(
                out,
                "    {}: {}   ({} in {}: {}{})",
                cause.tag,
                cause.summary,
                report::counted(cause.count, "finding"),
                report::counted(cause.cases.len(), "case"),
                shown.join(", "),
                if cause.cases.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            );
        }
    };
    let failing = report
        .root_causes
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .count();
    if failing > 0 {
        let _ = writeln!(
            out,
            "\n{} {failing} (each defect once; the failed tests above give every detail):",
            crate::colour::paint(crate::colour::RED, "root causes:"),
        );
        grouped(&mut out, Verdict::Fail);
    }
    let warnings = report
        .root_causes
        .iter()
        .filter(|c| c.verdict == Verdict::Warn)
        .count();
    if warnings > 0 {
        let _ = writeln!(
            out,
            "\n{} {warnings} SHOULD root cause{} not met (--strict makes them fail):",
            crate::colour::paint(crate::colour::YELLOW, "warnings:"),
            if warnings == 1 { "" } else { "s" }
        );
        grouped(&mut out, Verdict::Warn);
    }
    let blocked: Vec<&report::CaseReport> = report
        .cases
        .iter()
        .filter(|c| {
            c.verdict == Verdict::Blocked || (c.blocked.is_some() && c.verdict == Verdict::Fail)
        })
        .collect();
    if !blocked.is_empty() {
        let _ = writeln!(
            out,
            "\nblocked: {} could not check their own requirement (not failed for it):",
            report::counted(blocked.len(), "case")
        );
        for case in blocked {
            if let Some(b) = &case.blocked {
                let _ = writeln!(
                    out,
                    "    {}: {} blocked by {} ({})",
                    case.id,
                    case.requirement.as_deref().unwrap_or_default(),
                    b.by,
                    b.step
                );
            }
        }
    }
    let inconclusive: Vec<&report::CaseReport> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Inconclusive)
        .collect();
    if !inconclusive.is_empty() {
        let _ = writeln!(
            out,
            "\ninconclusive: {} got no answer to judge (not conformance failures):",
            report::counted(inconclusive.len(), "case")
        );
        for case in inconclusive {
            let _ = writeln!(
                out,
                "    {}: {}",
                case.id,
                case.inconclusive.as_deref().unwrap_or_default()
            );
        }
    }
    let left = report.left_behind();
    if !left.is_empty() {
        let _ = writeln!(out, "\nleft behind (cleanup could not delete them):");
        for l in left {
            let _ = writeln!(out, "    {l}");
        }
    }
    if let Some(expectations) = &report.expectations {
        let known = findings(Verdict::KnownFailure);
        if !known.is_empty() {
            let _ = writeln!(
                out,
                "\nknown failures: {} listed in {} (they do not fail the run):",
                known.len(),
                expectations.file
            );
            for (id, f) in known {
                let _ = writeln!(
                    out,
                    "    {id}: {}: {}   (known: {})",
                    f.tag,
                    f.summary,
                    f.known.as_deref().unwrap_or_default()
                );
            }
        }
        let problems = report.expectation_problems();
        if !problems.is_empty() {
            let _ = writeln!(
                out,
                "\n{}",
                crate::colour::paint(crate::colour::RED, "expectations that fail the run:")
            );
            for (entry, problem) in problems {
                let _ = writeln!(out, "    {}: {problem}", entry.at);
            }
        }
    }
    let observations: Vec<(&str, &crate::verdict::Observation)> = report
        .cases
        .iter()
        .flat_map(|c| c.observations.iter().map(move |o| (c.id.as_str(), o)))
        .collect();
    if !observations.is_empty() {
        let _ = writeln!(out, "\nobservations (INFO, not judged):");
        for (id, o) in observations {
            let text = report.requirement(&o.requirement).map_or("", |r| &r.text);
            let _ = writeln!(out, "    {id}: {} = {}   ({text})", o.requirement, o.value);
        }
    }
    let notes: Vec<String> = report
        .cases
        .iter()
        .flat_map(|c| c.notes.iter().map(move |n| format!("{}: {n}", c.id)))
        .chain(report.notes.iter().cloned())
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            crate::colour::paint(crate::colour::DIM, "notes:")
        );
        for note in notes {
            let _ = writeln!(out, "    {note}");
        }
    }
    if !report.cases.is_empty() {
        let _ = writeln!(out, "\nrequirements: {}", report.verdict_line());
        for api in report.apis() {
            let mut lines = Vec::new();
            for (level, _) in report.scores() {
                let mut by_verdict: Vec<(Verdict, Vec<&str>)> = Vec::new();
                let of_level = report
                    .requirements
                    .iter()
                    .filter(|r| r.level == level && r.api == api);
                for r in of_level {
                    let Some(verdict) = r.verdict else { continue };
                    match by_verdict.iter_mut().find(|(v, _)| *v == verdict) {
                        Some((_, ids)) => ids.push(&r.id),
                        None => by_verdict.push((verdict, vec![&r.id])),
                    }
                }
                by_verdict.sort_by_key(|(verdict, _)| std::cmp::Reverse(*verdict));
                let parts: Vec<String> = by_verdict
                    .iter()
                    .map(|(verdict, ids)| {
                        if matches!(verdict, Verdict::Pass | Verdict::Info) {
                            format!("{} {}", ids.len(), verdict.as_str())
                        } else {
                            format!("{} {} ({})", ids.len(), verdict.as_str(), ids.join(", "))
                        }
                    })
                    .collect();
                if !parts.is_empty() {
                    lines.push(format!("        {level}: {}", parts.join(", ")));
                }
            }
            if !lines.is_empty() {
                let _ = writeln!(out, "    {api}:\n{}", lines.join("\n"));
            }
        }
    }
    out
}
