//! The suite loaded once, for a run and for `coverage` alike: the spec, the case files, the
//! cases derived from the spec, the probes and the target's known failures.

use crate::case::{self, Broken, Case};
use crate::date::Date;
use crate::expectation::Expectations;
use crate::snapshot;
use crate::spec::Spec;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What to load.
pub struct Options<'a> {
    pub spec_dir: &'a Path,
    pub cases_dir: &'a Path,
    /// Build the derived cases and the probes besides the case files.
    pub derived: bool,
    /// `--exact NAME`: load only what NAME may come from.
    pub exact: Option<&'a str>,
    /// Operations that may change state without a declared cleanup (`--allow-unsafe`).
    pub allow_unsafe: &'a [String],
    /// Which response schemas to compile in the background, for a run that will need them.
    pub warm: Warm,
    /// The target's known failures (`--expectations`).
    pub expectations: Option<&'a Path>,
    /// `--api`: only these APIs' requirements and cases; all when empty.
    pub apis: &'a [String],
    /// Given the case files' cases as soon as they are checked, while the generated ones are
    /// still being built: those whose verdict on loading the rest of the suite cannot change
    /// (see [`final_already`]). They are in the suite too.
    pub early: Option<&'a StartEarly<'a>>,
}

/// The response schemas compiled ahead of the answers that need them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Warm {
    /// None (a listing, a coverage report).
    Nothing,
    /// Those of the operations the loaded cases use, once they are checked.
    CasesOperations,
    /// Every operation's, as soon as the spec is there: the whole suite runs (no filter), and
    /// its derived cases and probes use every operation. Under `--api` it is the cases'.
    Every,
}

/// What takes the case files' cases that may start before the rest of the suite is built.
pub type StartEarly<'a> = dyn Fn(&Arc<Spec>, Vec<Case>) + Sync + 'a;

/// Everything loaded, before any request is sent.
pub struct Suite {
    pub spec: Arc<Spec>,
    /// Every case in the order they are listed: the files', the derived ones (after the files'
    /// `covers`), the probes; a file that does not load is its error.
    pub cases: Vec<Result<Case, Broken>>,
    /// Everything the generator made and left out, `None` when not built.
    pub derived: Option<case::derive::Derived>,
    pub expectations: Option<Expectations>,
}

/// Loads the suite, the spec and the case files at the same time.
pub fn load(options: &Options) -> Result<Suite, String> {
    // `--exact NAME` (how nextest runs each test) needs only the file NAME comes from; a
    // derived NAME needs every file (their `covers` decide which derived cases exist).
    let exact = options.exact;
    let derived_wanted =
        options.derived && exact.is_none_or(|name| name.starts_with(case::derive::PREFIX));
    let wanted = |file_id: &str| {
        exact.is_none_or(|name| {
            (derived_wanted && name.starts_with(case::derive::PREFIX))
                || name
                    .strip_prefix(file_id)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    };
    // Probes are generated cases too: `--no-derived` leaves them out with the derived ones.
    let probes_wanted =
        options.derived && exact.is_none_or(|name| name.starts_with(crate::probe::PREFIX));
    let warm_every = options.warm == Warm::Every && options.apis.is_empty();
    let warm_cases = options.warm != Warm::Nothing && !warm_every;
    // The spec and the case files are parsed at the same time: both are mostly YAML parsing.
    // The case files are checked at once when the spec is there first (see `case::read`), else
    // as soon as it is. The derived cases and the probes need only the spec: they are built on
    // the spec's thread, once the case files' cases have started when some start early.
    let loaded_spec = &std::sync::OnceLock::new();
    // The operations whose response schemas are being compiled already.
    let warmed = &Mutex::new(Vec::new());
    let (loaded, spec_ready) = std::sync::mpsc::channel();
    let (started_early, early_done) = std::sync::mpsc::channel::<()>();
    let (spec, read) = std::thread::scope(|scope| {
        let spec = scope.spawn(move || {
            let mut spec = Spec::load(options.spec_dir)?.allowing_unsafe(options.allow_unsafe)?;
            let apis = crate::api_selection::resolve(&spec, options.apis)?;
            let narrowed = !apis.is_empty();
            spec.catalogue.select_apis(apis);
            let spec = Arc::new(spec);
            let _ = loaded_spec.set(Arc::clone(&spec));
            let _ = loaded.send(Arc::clone(&spec));
            if warm_every {
                // Compiled together, the schemas share what they have in common, and the first
                // answers find them ready.
                let spec = Arc::clone(&spec);
                std::thread::spawn(move || {
                    spec.prepare_validators(spec.operations().map(|o| o.id.as_str()))
                });
            }
            // The cases that start early are checked first, on every core: the first request
            // waits for them, not for the generated cases (an error on the loading thread
            // drops the sender, and they are built all the same).
            if options.early.is_some() {
                let _ = early_done.recv();
            }
            // One after the other: each is built on every core already.
            let derived = derived_wanted.then(|| {
                let derived = if crate::bundle::is_bundled(options.spec_dir) {
                    case::derive::derive_embedded(&spec)
                } else {
                    case::derive::derive(&spec)
                };
                let built = case::derive::build(&spec, &derived);
                (derived, built)
            });
            let probes = probes_wanted.then(|| crate::probe::generate(&spec));
            Ok::<_, String>((spec, derived, probes, narrowed))
        });
        // The files checked once the spec is there start as each is checked, the others once
        // all are read. A spec that does not load sends nothing: its error is the load's.
        let start = |spec: &Arc<Spec>, cases: &mut dyn Iterator<Item = &Result<Case, Broken>>| {
            if let Some(early) = options.early {
                let ready = final_already(cases, spec, options);
                if warm_cases {
                    warm_validators(spec, &ready, warmed);
                }
                early(spec, ready);
            }
        };
        let hand =
            |spec: &Arc<Spec>, cases: &[Result<Case, Broken>]| start(spec, &mut cases.iter());
        let handing = options.early.map(|_| &hand as &case::Hand);
        let read = case::read(options.cases_dir, &wanted, loaded_spec, handing).map(
            |(sources, unread)| match spec_ready.recv() {
                Ok(spec) => {
                    let sources = case::check_parsed(sources, &spec);
                    let mut rest = sources.iter().flat_map(|read| match read {
                        case::Read::Cases(cases) => cases.as_slice(),
                        _ => &[],
                    });
                    start(&spec, &mut rest);
                    let _ = started_early.send(());
                    (sources, unread)
                }
                Err(_) => (sources, unread),
            },
        );
        drop(started_early);
        let spec = spec.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        (spec, read)
    });
    let (spec, derived, probes, narrowed) = spec?;
    let (sources, unread) = read?;
    let mut discovered = case::Discovered {
        cases: case::validate(sources, &spec),
        unread,
    };
    let (derived, mut cases) = match derived {
        Some((derived, built)) => {
            let cases = case::derive::merge_built(discovered.cases, &derived, built);
            (Some(derived), cases)
        }
        None => {
            // Not built: expectations may still name derived cases.
            let derived = case::derive::PREFIX.trim_end_matches('/');
            discovered.unread.push(derived.to_string());
            (None, discovered.cases)
        }
    };
    cases.extend(probes.into_iter().flatten());
    let mut cases = refuse_snapshot_collisions(cases);
    let expectations = match options.expectations {
        Some(path) => {
            let ids: Vec<String> = cases
                .iter()
                .map(|c| c.as_ref().map_or_else(|b| b.id.clone(), |c| c.id.clone()))
                .collect();
            let known = Expectations::load(path, &spec, &ids, &discovered.unread, Date::today())
                .map_err(|e| e.to_string())?;
            Some(known)
        }
        None => None,
    };
    // After the known failures are read: they may name cases of every API.
    if narrowed {
        cases.retain(|case| crate::api_selection::keeps(case, &spec));
    }
    if warm_cases {
        // A schema the early cases' thread compiles is not compiled again: each is compiled
        // once, and who asks for it meanwhile waits for it.
        warm_validators(&spec, cases.iter().flatten(), warmed);
    }
    Ok(Suite {
        spec,
        cases,
        derived,
        expectations,
    })
}

/// The case files' cases that loading the derived cases and the probes leaves as they are: not
/// one that `covers` a derived case (whether it exists is known then), not one whose snapshots
/// would be another's, and only those of the APIs chosen.
fn final_already<'a>(
    cases: impl Iterator<Item = &'a Result<Case, Broken>>,
    spec: &Spec,
    options: &Options,
) -> Vec<Case> {
    let uncovering = cases
        .flatten()
        .filter(|case| case.covers.is_empty())
        .map(|case| Ok(case.clone()))
        .collect();
    refuse_snapshot_collisions(uncovering)
        .into_iter()
        .filter(|case| options.apis.is_empty() || crate::api_selection::keeps(case, spec))
        .flatten()
        .collect()
}

/// Compiling the response schemas takes milliseconds (the item union most): a thread of its
/// own compiles those of the operations the cases use and `warmed` does not hold yet (it
/// holds them then), so that the answers find them ready.
fn warm_validators<'a>(
    spec: &Arc<Spec>,
    cases: impl IntoIterator<Item = &'a Case>,
    warmed: &Mutex<Vec<String>>,
) {
    let mut operations: Vec<String> = Vec::new();
    let steps = cases
        .into_iter()
        .flat_map(|case| case.steps.iter().chain(case.cleanup.iter()));
    let mut warmed = warmed.lock().unwrap_or_else(|e| e.into_inner());
    for step in steps {
        if let Some(operation) = crate::check::step_operation(step, spec) {
            if !warmed.contains(&operation.id) {
                warmed.push(operation.id.clone());
                operations.push(operation.id.clone());
            }
        }
    }
    drop(warmed);
    if operations.is_empty() {
        return;
    }
    let spec = Arc::clone(spec);
    std::thread::spawn(move || spec.prepare_validators(operations.iter().map(String::as_str)));
}

/// A case whose snapshot files would be another's (names that differ only in case) does not
/// load: one would overwrite the other's snapshots.
fn refuse_snapshot_collisions(cases: Vec<Result<Case, Broken>>) -> Vec<Result<Case, Broken>> {
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
            Ok(case) if clashes.contains_key(&case.id) => Err(Broken {
                error: format!(
                    "{}: its snapshots would be the files of `{}` (the names differ only in \
                     case): rename one of them",
                    case.file, clashes[&case.id]
                ),
                id: case.id,
                file: case.file,
                at: None,
            }),
            other => other,
        })
        .collect()
}
