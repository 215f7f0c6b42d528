//! The cases run as tasks on the runtime, as many at a time as the target takes. The queue
//! takes cases until it is closed: the case files' cases start while the generated ones are
//! still being built.

use super::Run;
use crate::case::Case;
use crate::run;
use crate::target::Target;
use crate::verdict::CaseOutcome;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

type Queued = (Arc<Case>, oneshot::Sender<run::Executed>);

/// The cases waiting for a worker. A worker that finds it empty waits for more until it is
/// closed.
#[derive(Default)]
pub(super) struct Queue {
    waiting: Mutex<VecDeque<Queued>>,
    more: Notify,
    closed: AtomicBool,
}

impl Queue {
    fn push(&self, queued: Queued) {
        self.lock().push_back(queued);
        // One case wakes one worker: the case files' cases come in file by file, and waking
        // every idle worker for each cost more than the case.
        self.more.notify_one();
    }

    /// No case comes after the ones queued: workers end once it is empty.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.more.notify_waiters();
    }

    /// Drops the cases waiting: each one's test is told it did not run.
    fn abandon(&self) {
        self.lock().clear();
    }

    async fn next(&self) -> Option<Queued> {
        loop {
            // Registered before the queue is looked at, so that a push in between wakes it.
            let more = self.more.notified();
            tokio::pin!(more);
            more.as_mut().enable();
            if let Some(queued) = self.lock().pop_front() {
                return Some(queued);
            }
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            more.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Run {
    /// Queues the selected cases, in order, and starts the workers that run them `workers` at a
    /// time, as tasks on the runtime (next to the embedded server's), unless they run already:
    /// the test thread only collects each outcome. Passing every case from a test thread to
    /// the runtime and back cost more than its requests. [`Queue::close`] says no more come.
    pub(super) fn start(self: &Arc<Self>, cases: Vec<Arc<Case>>, workers: Option<usize>) {
        let Ok((target, _)) = self.target() else {
            // Each test reports why there is no target.
            return;
        };
        {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            for case in cases {
                let (sender, receiver) = oneshot::channel();
                running.insert(case.id.clone(), receiver);
                self.queue.push((case, sender));
            }
        }
        let mut handles = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        if !handles.is_empty() {
            return;
        }
        // The embedded server is ours and known to take the load: only another target's
        // concurrency adapts, unless `--test-threads` fixes it.
        let fixed = workers.or(target
            .is_reference()
            .then_some(crate::concurrency::REFERENCE));
        let controller = Arc::new(crate::concurrency::Controller::new(fixed));
        let retried: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        // A case run again runs alone: the trouble it was caught in (a target that stalls
        // after its own 5xx, a burst) came from the cases beside it.
        let alone: Arc<tokio::sync::RwLock<()>> = Arc::default();
        // An outcome waits for the test thread to collect it, in the order of the listing, not
        // of the run: it keeps only what the message and the reports asked for read.
        let for_html = self.settings.reports.html.is_some();
        for _ in 0..fixed.unwrap_or(crate::concurrency::MAX) {
            let (queue, target) = (Arc::clone(&self.queue), Arc::clone(target));
            let (spec, stopping) = (Arc::clone(&self.spec), Arc::clone(&self.stopping));
            let (controller, retried) = (Arc::clone(&controller), Arc::clone(&retried));
            let alone = Arc::clone(&alone);
            let halted = Arc::clone(&self.halted);
            handles.push(self.runtime.spawn(async move {
                // After Ctrl-C (or a failure under --fail-fast) no case starts: the ones left
                // in the queue are reported not run.
                while !stopping.load(Ordering::SeqCst) && !halted.load(Ordering::SeqCst) {
                    let slot = controller.slot().await;
                    let Some((case, sender)) = queue.next().await else {
                        break;
                    };
                    // Woken by cases queued after Ctrl-C: this one is told it did not run.
                    if stopping.load(Ordering::SeqCst) || halted.load(Ordering::SeqCst) {
                        break;
                    }
                    let rerun = retried
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains(&case.id);
                    // Held until the case ends: alone, or beside the others.
                    let turn = match rerun {
                        true => (Some(alone.write().await), None),
                        false => (None, Some(alone.read().await)),
                    };
                    let mut executed = run::execute(
                        Arc::clone(&case),
                        Arc::clone(&target),
                        Arc::clone(&spec),
                        Arc::clone(&stopping),
                    )
                    .await;
                    // Nor does the next case meet a stall this one's 5xx may have brought.
                    if rerun && server_errors(&executed.outcome) > 0 {
                        until_answered(&target, spec.preflight(), &stopping).await;
                    }
                    drop((turn, slot));
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
                        queue.push((case, sender));
                        continue;
                    }
                    if !for_html {
                        super::keep_for_the_message(&mut executed.outcome, true);
                    }
                    // The receiver is gone only when the run is being torn down.
                    let _ = sender.send(executed);
                }
                // Stopped: the cases still queued never start, and their tests hear so.
                queue.abandon();
            }));
        }
    }
}

/// The 5xx answers of a case.
fn server_errors(outcome: &CaseOutcome) -> usize {
    outcome
        .steps
        .iter()
        .filter(|s| s.status.is_some_and(|c| c >= 500))
        .count()
}

/// What a finished case says about how the target holds up.
fn signal(outcome: &CaseOutcome) -> crate::concurrency::Signal {
    use crate::concurrency::Signal;
    let server_errors = server_errors(outcome);
    if outcome.inconclusive.is_some() || server_errors >= 2 {
        return Signal::Trouble;
    }
    // The quickest answer of the case: queueing at the target delays every request, while a
    // stream or a slow operation delays only its own.
    let answered = || outcome.steps.iter().filter(|s| s.status.is_some());
    Signal::Answered {
        requests: answered().count(),
        quickest: answered()
            .map(|s| s.elapsed)
            .min()
            .unwrap_or(outcome.elapsed),
    }
}

/// The target stalled: probe it until it answers (bounded), then let cases start again.
async fn wait_for_target(
    target: &Target,
    preflight: Option<&crate::spec::Preflight>,
    controller: &crate::concurrency::Controller,
    stopping: &AtomicBool,
) {
    until_answered(target, preflight, stopping).await;
    controller.resume();
}

/// Probes the target until it answers (bounded by four times the timeout, 30 s at the least).
async fn until_answered(
    target: &Target,
    preflight: Option<&crate::spec::Preflight>,
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
}
