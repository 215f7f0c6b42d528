//! Ctrl-C and SIGTERM: the first stops the run cleanly, a second quits at once.

use super::NOT_RUN;
use crate::case_result::CaseResult;
use crate::exit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The exit code of the signal that stopped the run (0: none), set by the first one.
pub(super) static STOPPED_BY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// The first Ctrl-C or SIGTERM sets `stopping`: running cases finish their current step and
/// delete what they created, no other case starts, the reports are written. A second signal
/// quits at once, without cleanup (reports already written stay whole: see [`crate::report::write::create`]).
pub(super) fn listen_for_interrupt(
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
pub(super) fn interrupted(results: &[CaseResult]) -> String {
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
        crate::report::counted(ran.len(), "case"),
        crate::report::counted(deleted, "resource"),
        crate::report::counted(not_run, "case"),
    )
}
