//! The exit code: how a run went, in one number (documented in the README).

use crate::case_result::CaseResult;
use crate::report::Report;
use crate::verdict::Verdict;

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
/// The harness itself failed (a panic, shown as one line): a bug to report.
pub const PANICKED: u8 = 101;
/// Interrupted by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;
/// stdout was closed before the end (128 + SIGPIPE, as shells report it).
pub const CLOSED_OUTPUT: u8 = 141;
/// Stopped by SIGTERM (CI cancelling, `timeout`, `docker stop`): 128 + SIGTERM.
pub const TERMINATED: u8 = 143;

/// How a finished run went, for its exit code.
pub struct Ending<'a> {
    /// The code of the signal that stopped the run, when one did.
    pub stopped: Option<u8>,
    pub results: &'a [CaseResult],
    pub report: &'a Report,
    /// A report could not be written.
    pub unwritten: bool,
    /// The target could not be reached at all (the connection or the preflight failed).
    pub no_target: bool,
    /// libtest counted a failed test.
    pub tests_failed: bool,
}

/// The one exit policy: a stop by a signal, then usage errors, an unreachable target,
/// conformance failures, inconclusive cases, in that order.
pub fn code(ending: &Ending) -> u8 {
    let Ending {
        results, report, ..
    } = ending;
    if let Some(code) = ending.stopped {
        code
    } else if results.iter().any(|r| r.broken.is_some()) || ending.unwritten {
        USAGE
    } else if ending.no_target
        || results.iter().any(|r| r.skipped.is_none())
            && results
                .iter()
                .filter(|r| r.skipped.is_none())
                .all(|r| r.outcome.unreachable())
    {
        UNREACHABLE
    } else if report.cases.iter().any(|c| c.verdict == Verdict::Fail)
        || !report.expectation_problems().is_empty()
    {
        FAILED
    } else if report
        .cases
        .iter()
        .any(|c| c.verdict == Verdict::Inconclusive)
    {
        INCONCLUSIVE
    } else if ending.tests_failed {
        FAILED
    } else {
        PASSED
    }
}
