//! The suite as standard test output: one libtest-mimic trial per case, run in parallel on one
//! tokio runtime and one HTTP client. The results are collected once; after libtest's summary
//! they become one [`Report`]: warnings, known failures, observations and notes are printed,
//! the reports asked for are written, and the exit code says how the run went.

mod signals;
mod workers;

use crate::case::{Broken, Case};
use crate::case_result::CaseResult;
use crate::config::Settings;
use crate::exit;
use crate::expectation::Expectations;
use crate::report::{self, Report, TargetInfo};
use crate::run;
use crate::snapshot::{self, SnapshotSet};
use crate::spec::{Level, Spec};
use crate::suite::{self, Suite};
use crate::target::Target;
use crate::verdict::{CaseOutcome, Finding, FindingKind, StepRecord, Verdict};
use libtest_mimic::{Arguments, Failed, FormatSetting, Trial};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;
use tokio::sync::oneshot;

/// Why a case that Ctrl-C kept from starting did not run.
const NOT_RUN: &str = "not run: interrupted (Ctrl-C)";
/// Why a case that `--fail-fast` kept from starting did not run.
const NOT_RUN_FAIL_FAST: &str = "not run: --fail-fast stopped the run after a failure";

/// The shared state of a run.
struct Run {
    settings: Settings,
    spec: Arc<Spec>,
    runtime: tokio::runtime::Runtime,
    target: OnceLock<Result<(Arc<Target>, SnapshotSet), String>>,
    /// Set once the whole suite is loaded (the cases of the files may have started before).
    expectations: OnceLock<Expectations>,
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
    queue: Arc<workers::Queue>,
}

impl Run {
    fn new(
        settings: Settings,
        spec: Arc<Spec>,
        runtime: tokio::runtime::Runtime,
        stopping: Arc<AtomicBool>,
    ) -> Arc<Self> {
        Arc::new(Run {
            settings,
            spec,
            runtime,
            target: OnceLock::new(),
            expectations: OnceLock::new(),
            started: SystemTime::now(),
            results: Mutex::new(Vec::new()),
            stopping,
            halted: Arc::new(AtomicBool::new(false)),
            workers: Mutex::new(Vec::new()),
            running: Mutex::new(HashMap::new()),
            queue: Arc::default(),
        })
    }

    /// Connects on first use, so `--list` and filtered-out runs never start anything.
    fn target(&self) -> Result<&(Arc<Target>, SnapshotSet), String> {
        self.target
            .get_or_init(|| {
                let target = self
                    .runtime
                    .block_on(Target::connect(self.settings.target.clone()))
                    .map_err(|e| e.to_string())?;
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

    fn record(&self, mut result: CaseResult) {
        // Once the message is rendered, only the HTML report shows each request's curl line
        // and answer: without it they are dropped, not kept for every request of the run.
        if self.settings.reports.html.is_none() {
            keep_for_the_message(&mut result.outcome, false);
        } else {
            result
                .outcome
                .steps
                .iter_mut()
                .for_each(StepRecord::keep_shown_answer);
        }
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

    /// No case starts any more; the running ones finish their step and delete what they
    /// created, and this returns when they have.
    fn wind_down(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.queue.close();
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        self.runtime.block_on(async {
            for worker in workers {
                let _ = worker.await;
            }
        });
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
        let changed = run::changed_without_cleanup(&self.spec, case, &outcome.steps);
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
        let excused = self.expectations.get().map_or_else(
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
                .filter_map(|&i| self.expectations.get()?.entries.get(i))
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

/// Drops what only the HTML report shows of each request: the answer, and the curl line
/// (kept, with `for_findings`, for the requests a finding points at: the failure message
/// shows them).
fn keep_for_the_message(outcome: &mut CaseOutcome, for_findings: bool) {
    let shown: Vec<usize> = match for_findings {
        true => outcome.findings.iter().filter_map(|f| f.step).collect(),
        false => Vec::new(),
    };
    for (index, step) in outcome.steps.iter_mut().enumerate() {
        step.answer = None;
        if !shown.contains(&index) {
            step.curl = crate::run::Curl::Dropped;
        }
    }
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
                    run.queue.close();
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
                // The case files' cases may run already (see `prepare`).
                let mut selected: Vec<Arc<Case>> = {
                    let early = run.running.lock().unwrap_or_else(|e| e.into_inner());
                    trials
                        .iter()
                        .filter(|(trial, _)| chosen(trial))
                        .filter_map(|(_, case)| case.clone())
                        .filter(|case| !early.contains_key(&case.id))
                        .collect()
                };
                // Under --fail-fast the first trial to fail must be the first to run.
                if !run.settings.fail_fast {
                    crate::schedule::longest_chain_first(&mut selected, &run.spec);
                }
                // Nothing to run (every selected case failed to load): connect to nothing.
                if !selected.is_empty() {
                    run.start(selected, workers);
                }
                run.queue.close();
                if !run
                    .workers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_empty()
                {
                    announce(&run, &args);
                }
            }
            // Listed only, the cases live until the process ends (see below): libtest freeing
            // them one trial at a time would cost milliseconds at 10,000 cases. A run frees
            // each case as it ends.
            let (trials, cases): (Vec<Trial>, Vec<Option<Arc<Case>>>) = trials.into_iter().unzip();
            if args.list {
                std::mem::forget(cases);
            } else {
                drop(cases);
            }
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
            end_now(code)
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
    run.wind_down();
    ExitCode::from(exit::CLOSED_OUTPUT)
}

/// Each trial with its case (`None` for a file that does not load).
type Trials = Vec<(Trial, Option<Arc<Case>>)>;

fn prepare(settings: Settings, args: &Arguments) -> Result<(Arc<Run>, Trials), String> {
    settings.target.validate().map_err(|e| e.to_string())?;
    if !args.list {
        for (path, _) in settings.reports.files() {
            report::write::check_writable(path).map_err(|e| e.to_string())?;
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("conformance-io")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    snapshot::install_panic_hook();
    let stopping = Arc::new(AtomicBool::new(false));
    signals::listen_for_interrupt(&runtime, Arc::clone(&stopping))?;
    // The run starts with the first cases ready, the case files', while the generated ones are
    // still being built; not for a listing, not under --fail-fast (the first trial to fail
    // must be the first to run), not with known failures still to read (a file that does not
    // read stops the run before it sends anything).
    let early = !args.list && !settings.fail_fast && settings.expectations.is_none();
    let parts = Mutex::new(Some((runtime, stopping)));
    let started: OnceLock<Arc<Run>> = OnceLock::new();
    let run_with = |spec: &Arc<Spec>| {
        let mut parts = parts.lock().unwrap_or_else(|e| e.into_inner());
        let (runtime, stopping) = parts.take().expect("the run is made once");
        Run::new(settings.clone(), Arc::clone(spec), runtime, stopping)
    };
    let start_early = |spec: &Arc<Spec>, cases: Vec<Case>| {
        let mut selected: Vec<Arc<Case>> = cases
            .into_iter()
            .filter(|case| {
                let trial = Trial::test(case.id.clone(), || Ok(()))
                    .with_ignored_flag(case.ignored.is_some());
                !args.is_filtered_out(&trial) && !args.is_ignored(&trial)
            })
            .map(Arc::new)
            .collect();
        if selected.is_empty() {
            return;
        }
        crate::schedule::longest_chain_first(&mut selected, spec);
        started
            .get_or_init(|| run_with(spec))
            .start(selected, args.test_threads);
    };
    let exact = args.filter.clone().filter(|_| args.exact);
    let loaded = suite::load(&suite::Options {
        spec_dir: &settings.spec_dir,
        cases_dir: &settings.cases_dir,
        derived: settings.derived,
        exact: exact.as_deref(),
        allow_unsafe: &settings.allow_unsafe,
        warm: if args.list {
            suite::Warm::Nothing
        } else if settings.derived && args.filter.is_none() && args.skip.is_empty() {
            suite::Warm::Every
        } else {
            suite::Warm::CasesOperations
        },
        expectations: settings.expectations.as_deref(),
        apis: &settings.apis,
        early: early.then_some(&start_early),
    });
    let started = started.into_inner();
    let Suite {
        spec,
        cases,
        expectations,
        ..
    } = match loaded {
        Ok(suite) => suite,
        Err(e) => {
            // What started finishes its step and cleans up before the error ends the run.
            if let Some(run) = started {
                run.wind_down();
            }
            return Err(e);
        }
    };
    let run = started.unwrap_or_else(|| run_with(&spec));
    if let Some(expectations) = expectations {
        let _ = run.expectations.set(expectations);
    }
    // One result per case: the list grows once, not by doubling (each copy in fresh pages).
    run.results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .reserve(cases.len());
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
                    let redacted = Broken {
                        error: error.clone(),
                        ..broken.clone()
                    };
                    record.record(CaseResult {
                        id: broken.id.clone(),
                        file: broken.file.clone(),
                        requirement: None,
                        level: None,
                        outcome: CaseOutcome::default(),
                        broken: Some(redacted),
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

/// Ends the process with `code` once stdout and stderr are flushed: every file the run wrote
/// is closed by now, and the exit handlers would only have the allocator collect and purge
/// memory the kernel takes back anyway (about 2 ms of a suite's 65).
fn end_now(code: u8) -> ExitCode {
    let flushed = std::io::stdout().flush().is_ok() && std::io::stderr().flush().is_ok();
    #[cfg(unix)]
    if flushed {
        // SAFETY: `_exit` only ends the process; nothing of this one runs after it.
        unsafe { libc::_exit(code.into()) }
    }
    let _ = flushed;
    ExitCode::from(code)
}

fn finish(run: &Run, args: &Arguments, conclusion: libtest_mimic::Conclusion) -> u8 {
    if args.list {
        return 0;
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
        notes.push(signals::interrupted(&results));
    }
    if halted {
        let not_run = results
            .iter()
            .filter(|r| r.skipped.as_deref() == Some(NOT_RUN_FAIL_FAST))
            .count();
        notes.push(format!(
            "--fail-fast: stopped after the first failure; {} did not run",
            report::counted(not_run, "case")
        ));
    }
    if !run.settings.apis.is_empty() {
        let apis: Vec<&str> = run.spec.catalogue.apis();
        notes.push(format!(
            "--api: only {} (and what every endpoint owes) were run",
            apis.into_iter()
                .filter(|a| *a != crate::spec::GENERAL_API)
                .collect::<Vec<_>>()
                .join(", ")
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
        expectations: run.expectations.get(),
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
            && run.settings.apis.is_empty()
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
    let mut out = report::summary::summarize(&report);
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
        .filter_map(|(path, render)| {
            report::write::create(path, &secrets.redact(&render(&report)))
                .err()
                .map(|e| e.to_string())
        })
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
    let code = exit::code(&exit::Ending {
        stopped: stopped.then(|| match signals::STOPPED_BY.load(Ordering::SeqCst) {
            0 => exit::INTERRUPTED,
            code => code,
        }),
        results: &results,
        report: &report,
        unwritten: !unwritten.is_empty(),
        no_target: matches!(run.target.get(), Some(Err(_))),
        tests_failed: conclusion.has_failed(),
    });
    // As the run itself (see `run`): the process ends now, nothing is gained by freeing them.
    std::mem::forget((report, results));
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn outcome() -> CaseOutcome {
        let step = |n: usize| StepRecord {
            label: format!("step {n}"),
            at: crate::place::Place::File(crate::yaml::At {
                file: "x.yaml".into(),
                line_col: Some((n as u64, 1)),
            }),
            request_line: format!("GET /x/{n}"),
            curl: crate::run::Curl::get(&format!("http://host/x/{n}")),
            status: Some(200),
            answer: Some("{}".into()),
            elapsed: Duration::ZERO,
        };
        CaseOutcome {
            findings: vec![Finding {
                requirement: Some("GEN-01".into()),
                level: Level::Must,
                kind: FindingKind::Target,
                summary: "wrong".into(),
                details: Vec::new(),
                step: Some(1),
                cause: None,
            }],
            steps: vec![step(0), step(1)],
            ..Default::default()
        }
    }

    #[test]
    fn a_waiting_outcome_keeps_the_curl_lines_its_message_shows_and_no_answer() {
        let mut waiting = outcome();
        keep_for_the_message(&mut waiting, true);
        let curls: Vec<String> = waiting.steps.iter().map(|s| s.curl_text()).collect();
        assert_eq!(curls, ["", "curl -sS -X GET 'http://host/x/1'"]);
        assert!(waiting.steps.iter().all(|s| s.answer.is_none()));
        // What the reports read stays.
        assert_eq!(waiting.steps[1].request_line, "GET /x/1");
        assert_eq!(waiting.steps[1].status, Some(200));

        let mut recorded = outcome();
        keep_for_the_message(&mut recorded, false);
        assert!(recorded.steps.iter().all(|s| s.curl_text().is_empty()));
    }
}
