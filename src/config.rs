//! What a run is told: the target, the strictness, where the spec, the cases and the snapshots
//! are, and the reports to write.

use crate::report::{self, Report};
use crate::target::TargetConfig;
use std::path::PathBuf;

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
    /// `--api`: only these APIs (catalogue names); all when empty.
    pub apis: Vec<String>,
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
            apis: Vec::new(),
        }
    }
}
