//! The suite as standard test output: one libtest-mimic trial per case, run in parallel on one
//! tokio runtime and one HTTP client; warnings, observations and notes are printed after the
//! summary, and the exit code says how the run went.

use crate::case::{self, Case};
use crate::run;
use crate::snapshot::{self, SnapshotSet};
use crate::spec::{Level, Spec};
use crate::target::{Target, TargetConfig};
use crate::verdict::{CaseOutcome, Finding, FindingKind};
use libtest_mimic::{Arguments, Failed, FormatSetting, Trial};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};

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
}

/// Everything a run needs besides libtest's own arguments.
#[derive(Debug, Clone)]
pub struct Settings {
    pub target: TargetConfig,
    /// SHOULD findings fail tests instead of warning.
    pub strict: bool,
    pub spec_dir: PathBuf,
    pub cases_dir: PathBuf,
    pub snapshot_dir: PathBuf,
}

impl Settings {
    /// The folders of this package, where `cargo run` and `cargo test` find them.
    pub fn with_defaults(target: TargetConfig) -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        Self {
            target,
            strict: false,
            spec_dir: root.join("specs"),
            cases_dir: root.join("cases"),
            snapshot_dir: root.join("snapshots"),
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
}

/// The shared state of a run.
struct Run {
    settings: Settings,
    spec: Arc<Spec>,
    runtime: tokio::runtime::Runtime,
    target: OnceLock<Result<(Arc<Target>, SnapshotSet), String>>,
    results: Mutex<Vec<CaseResult>>,
}

impl Run {
    /// Connects on first use, so `--list` and filtered-out runs never start anything.
    fn target(&self) -> Result<&(Arc<Target>, SnapshotSet), String> {
        self.target
            .get_or_init(|| {
                let target = self
                    .runtime
                    .block_on(Target::connect(self.settings.target.clone()))?;
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

    fn trial(self: &Arc<Self>, case: Case) -> Trial {
        let ignored = case.ignored.is_some();
        let run = Arc::clone(self);
        let case = Arc::new(case);
        Trial::test(case.id.clone(), move || run.execute(&case)).with_ignored_flag(ignored)
    }

    fn execute(&self, case: &Arc<Case>) -> Result<(), Failed> {
        let (target, snapshots) = self.target().map_err(Failed::from)?;
        let executed = self.runtime.block_on(run::execute(
            Arc::clone(case),
            Arc::clone(target),
            Arc::clone(&self.spec),
        ));
        let mut outcome = executed.outcome;
        if let SnapshotSet::Enabled(dir) = snapshots {
            let file = self
                .settings
                .cases_dir
                .parent()
                .map_or_else(|| PathBuf::from(&case.file), |root| root.join(&case.file));
            for failure in snapshot::assert(dir, &file, &executed.snapshots) {
                outcome.findings.push(Finding {
                    requirement: None,
                    level: Level::Must,
                    kind: FindingKind::Snapshot,
                    summary: failure,
                    details: Vec::new(),
                    step: None,
                });
            }
        }
        let strict = self.settings.strict;
        let failed = outcome.failed(strict);
        let message = failed.then(|| {
            let requirement = self.spec.catalogue.get(&case.requirement);
            let headline = format!(
                "{} {}: {}\n    case: {}",
                case.requirement,
                case.level,
                requirement.map_or("", |r| r.text.as_str()),
                case.file
            );
            let body = outcome.render(&case.file, strict, |_| true);
            target.secrets.redact(&format!("{headline}\n{body}"))
        });
        self.record(CaseResult {
            id: case.id.clone(),
            file: case.file.clone(),
            requirement: Some(case.requirement.clone()),
            level: Some(case.level),
            outcome,
            broken: None,
        });
        match message {
            Some(message) => Err(message.into()),
            None => Ok(()),
        }
    }
}

/// Runs the suite with libtest's arguments and answers the process's exit code.
pub fn run(settings: Settings, mut args: Arguments) -> ExitCode {
    match prepare(settings, &mut args) {
        Ok((run, trials)) => finish(&run, &args, libtest_mimic::run(&args, trials)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::USAGE)
        }
    }
}

fn prepare(settings: Settings, args: &mut Arguments) -> Result<(Arc<Run>, Vec<Trial>), String> {
    settings.target.validate()?;
    let spec = Arc::new(Spec::load(&settings.spec_dir)?);
    let cases = case::discover(&settings.cases_dir, &spec)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("conformance-io")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // Cases wait on the network, not the CPU: run more of them than there are cores.
    args.test_threads.get_or_insert(8);
    snapshot::install_panic_hook();
    let run = Arc::new(Run {
        settings,
        spec,
        runtime,
        target: OnceLock::new(),
        results: Mutex::new(Vec::new()),
    });
    let trials = cases
        .into_iter()
        .map(|loaded| match loaded {
            Ok(case) => run.trial(case),
            Err(broken) => {
                let record = Arc::clone(&run);
                Trial::test(broken.id.clone(), move || {
                    record.record(CaseResult {
                        id: broken.id.clone(),
                        file: broken.file.clone(),
                        requirement: None,
                        level: None,
                        outcome: CaseOutcome::default(),
                        broken: Some(broken.error.clone()),
                    });
                    Err(format!("the case file does not load:\n{}", broken.error).into())
                })
            }
        })
        .collect();
    Ok((run, trials))
}

fn finish(run: &Run, args: &Arguments, conclusion: libtest_mimic::Conclusion) -> ExitCode {
    if args.list {
        return ExitCode::SUCCESS;
    }
    let results = std::mem::take(&mut *run.results.lock().unwrap_or_else(|e| e.into_inner()));
    let secrets = match run.target.get() {
        Some(Ok((target, _))) => target.secrets.clone(),
        _ => run.settings.target.secrets(),
    };
    let summary = secrets.redact(&summarize(run, &results));
    if !summary.is_empty() {
        // libtest's JSON lines stay parseable: the summary goes to stderr then.
        if matches!(args.format, Some(FormatSetting::Json)) {
            eprint!("{summary}");
        } else {
            print!("{summary}");
            let _ = std::io::stdout().flush();
        }
    }
    let code = if results.iter().any(|r| r.broken.is_some()) {
        exit::USAGE
    } else if let Some(Err(_)) = run.target.get() {
        exit::UNREACHABLE
    } else if !results.is_empty() && results.iter().all(|r| r.outcome.unreachable()) {
        exit::UNREACHABLE
    } else if conclusion.has_failed() {
        exit::FAILED
    } else {
        exit::PASSED
    };
    ExitCode::from(code)
}

/// Warnings, observations and notes, after libtest's own summary.
fn summarize(run: &Run, results: &[CaseResult]) -> String {
    use std::fmt::Write as _;
    let strict = run.settings.strict;
    let mut results: Vec<&CaseResult> = results.iter().collect();
    results.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = String::new();
    let warnings: Vec<(&str, &Finding)> = results
        .iter()
        .flat_map(|r| r.outcome.findings.iter().map(move |f| (r.id.as_str(), f)))
        .filter(|(_, f)| f.warns(strict))
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(
            out,
            "\nwarnings: {} SHOULD check{} not met (--strict makes them fail):",
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        );
        for (id, f) in warnings {
            let _ = writeln!(out, "    {id}: {}: {}", f.tag(), f.summary);
        }
    }
    let observations: Vec<(&str, &crate::verdict::Observation)> = results
        .iter()
        .flat_map(|r| {
            r.outcome
                .observations
                .iter()
                .map(move |o| (r.id.as_str(), o))
        })
        .collect();
    if !observations.is_empty() {
        let _ = writeln!(out, "\nobservations (INFO, not judged):");
        for (id, o) in observations {
            let text = run
                .spec
                .catalogue
                .get(&o.requirement)
                .map_or("", |r| r.text.as_str());
            let _ = writeln!(out, "    {id}: {} = {}   ({text})", o.requirement, o.value);
        }
    }
    let mut notes: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.outcome
                .notes
                .iter()
                .map(move |n| format!("{}: {n}", r.id))
        })
        .collect();
    if let Some(Ok((target, set))) = run.target.get() {
        if let SnapshotSet::Skipped(why) = set {
            notes.push(why.clone());
        }
        if target.config.insecure {
            notes.push("TLS certificates were NOT verified (--insecure)".into());
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for note in notes {
            let _ = writeln!(out, "    {note}");
        }
    }
    out
}
