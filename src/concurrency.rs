//! How many cases run at a time, fitted to the target, as TCP fits its window: start low and
//! double after each round of requests answered at flat latency (a round: as many requests as
//! cases run at a time; slow start), so that a healthy remote server has [`MAX`] cases in
//! flight within a few round trips, even while the first cases are the longest chains; once
//! latency rises with the load, take a quarter off and grow by one per round from then on;
//! halve on trouble (a timeout or reset, a burst of 5xx, a 429). When several cases are in
//! trouble at once the target has stalled: no case starts until a probe gets an answer, then
//! the run goes on from one case at a time. `--test-threads N` fixes the number instead.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Cases at a time before anything is known of the target.
pub const START: usize = 2;
/// The most cases at a time the controller grows to.
pub const MAX: usize = 64;
/// Cases at a time against the embedded server: it shares the machine with the harness.
pub const REFERENCE: usize = 8;
/// A case whose requests took longer than this on average is slow, whatever the baseline.
pub const FAST: Duration = Duration::from_secs(1);
/// Latency counts as flat up to this factor of the fastest case seen, plus [`FLAT_SLACK`].
const FLAT_FACTOR: u32 = 2;
const FLAT_SLACK: Duration = Duration::from_millis(50);
/// Troubled cases within [`STALL_WINDOW`] that mean the target has stalled.
pub const STALL_TROUBLES: usize = 2;
pub const STALL_WINDOW: Duration = Duration::from_secs(10);

/// What one finished case says about the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Answered: how many requests, the quickest taking this long.
    Answered { requests: usize, quickest: Duration },
    /// A timeout or reset, a 429 that did not clear, or several 5xx.
    Trouble,
}

#[derive(Debug)]
struct State {
    limit: usize,
    /// Permits to take out of circulation as running cases end (after a back-off).
    debt: usize,
    fast_in_a_row: usize,
    /// The quickest answer of any case: the target's latency unloaded.
    baseline: Option<Duration>,
    /// Latency rose or trouble came once: grow by one per round, no longer double.
    congested: bool,
    /// Requests reported, and their number at the last back-off (one back-off per round).
    reported: usize,
    backed_off_at: usize,
    troubles: Vec<Instant>,
    stalled: bool,
    /// The lowest limit after a back-off (0: never backed off).
    lowest: usize,
    stalls: usize,
}

pub struct Controller {
    permits: Arc<Semaphore>,
    state: Mutex<State>,
    fixed: bool,
    max: usize,
    resumed: Notify,
}

/// A running case's place; given back when dropped (or kept out after a back-off).
pub struct Slot<'c> {
    permit: Option<OwnedSemaphorePermit>,
    controller: &'c Controller,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self.controller.lock();
        if state.debt > 0 {
            state.debt -= 1;
            if let Some(permit) = self.permit.take() {
                permit.forget();
            }
        }
    }
}

impl Controller {
    /// `fixed`: exactly that many cases at a time, never adapted (`--test-threads`).
    pub fn new(fixed: Option<usize>) -> Self {
        let (limit, max) = match fixed {
            Some(n) => (n.max(1), n.max(1)),
            None => (START, MAX),
        };
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            state: Mutex::new(State {
                limit,
                debt: 0,
                fast_in_a_row: 0,
                baseline: None,
                congested: false,
                reported: 0,
                backed_off_at: 0,
                troubles: Vec::new(),
                stalled: false,
                lowest: 0,
                stalls: 0,
            }),
            fixed: fixed.is_some(),
            max,
            resumed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a place to run a case (and, while the target is stalled, for it to answer).
    pub async fn slot(&self) -> Slot<'_> {
        loop {
            let resumed = self.resumed.notified();
            if !self.lock().stalled {
                break;
            }
            resumed.await;
        }
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok();
        Slot {
            permit,
            controller: self,
        }
    }

    /// The cases allowed at a time now.
    #[cfg(test)]
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    #[cfg(test)]
    pub fn stalled(&self) -> bool {
        self.lock().stalled
    }

    pub fn lowest(&self) -> usize {
        self.lock().lowest
    }

    pub fn stalls(&self) -> usize {
        self.lock().stalls
    }

    /// Takes a finished case into account. `true`: the target has stalled; call
    /// [`Controller::resume`] once it answers again.
    pub fn report(&self, signal: Signal) -> bool {
        let mut state = self.lock();
        match signal {
            Signal::Answered {
                requests,
                quickest: per_request,
            } => {
                state.reported += requests.max(1);
                let baseline = *state.baseline.get_or_insert(per_request);
                state.baseline = Some(baseline.min(per_request));
                let flat =
                    per_request <= FAST && per_request <= baseline * FLAT_FACTOR + FLAT_SLACK;
                if self.fixed {
                    return false;
                }
                if flat {
                    state.fast_in_a_row += requests.max(1);
                    // A round: as many flat requests in a row as cases run at a time.
                    while state.limit < self.max && state.fast_in_a_row >= state.limit {
                        state.fast_in_a_row -= state.limit;
                        let grown = if state.congested {
                            state.limit + 1
                        } else {
                            state.limit * 2
                        };
                        self.grow(&mut state, grown.min(self.max));
                    }
                } else {
                    state.fast_in_a_row = 0;
                    state.congested = true;
                    if state.limit > START && state.reported - state.backed_off_at >= state.limit {
                        state.backed_off_at = state.reported;
                        let by = state.limit / 4;
                        self.shrink(&mut state, by);
                        state.limit -= by;
                    }
                }
                false
            }
            Signal::Trouble => {
                state.reported += 1;
                state.fast_in_a_row = 0;
                state.congested = true;
                if !self.fixed && state.limit > 1 {
                    let lower = state.limit / 2;
                    let by = state.limit - lower;
                    self.shrink(&mut state, by);
                    state.limit = lower;
                    state.lowest = if state.lowest == 0 {
                        lower
                    } else {
                        state.lowest.min(lower)
                    };
                }
                let now = Instant::now();
                state
                    .troubles
                    .retain(|t| now.duration_since(*t) < STALL_WINDOW);
                state.troubles.push(now);
                if !state.stalled && state.troubles.len() >= STALL_TROUBLES {
                    state.stalled = true;
                    state.stalls += 1;
                    state.troubles.clear();
                    return true;
                }
                false
            }
        }
    }

    /// The target answers again: cases start again (one at a time unless the number is fixed).
    pub fn resume(&self) {
        let mut state = self.lock();
        state.stalled = false;
        if !self.fixed && state.limit > 1 {
            let by = state.limit - 1;
            self.shrink(&mut state, by);
            state.limit = 1;
            state.lowest = 1;
        }
        drop(state);
        self.resumed.notify_waiters();
    }

    /// Raises the limit to `to`: permits owed after a back-off are forgiven first.
    fn grow(&self, state: &mut State, to: usize) {
        let by = to.saturating_sub(state.limit);
        let forgiven = by.min(state.debt);
        state.debt -= forgiven;
        self.permits.add_permits(by - forgiven);
        state.limit = to;
    }

    /// Takes `by` permits out: idle ones at once, the others as their cases end.
    fn shrink(&self, state: &mut State, by: usize) {
        let idle = self.permits.forget_permits(by);
        state.debt += by - idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A case of one request.
    fn one(quickest: Duration) -> Signal {
        Signal::Answered {
            requests: 1,
            quickest,
        }
    }

    #[test]
    fn doubles_each_flat_round_to_the_max_then_halves_on_trouble_and_a_fixed_number_stays() {
        let c = Controller::new(None);
        assert_eq!(c.limit(), START);
        let flat = one(150 * MS);
        for _ in 0..2 {
            c.report(flat);
        }
        assert_eq!(c.limit(), 4, "one round of flat answers doubles");
        // 4 + 8 + 16 + 32 more flat cases reach the max: 62 cases in all, six round trips.
        for _ in 0..60 {
            c.report(flat);
        }
        assert_eq!(c.limit(), MAX);
        assert!(!c.report(Signal::Trouble));
        assert_eq!(c.limit(), MAX / 2);
        assert_eq!(c.lowest(), MAX / 2);
        // After trouble, growth is by one per round.
        for _ in 0..MAX / 2 {
            c.report(flat);
        }
        assert_eq!(c.limit(), MAX / 2 + 1);

        let fixed = Controller::new(Some(5));
        for _ in 0..50 {
            fixed.report(flat);
        }
        fixed.report(Signal::Trouble);
        fixed.report(one(10 * FAST));
        assert_eq!(fixed.limit(), 5);
    }

    #[test]
    fn a_long_case_counts_by_its_requests() {
        let c = Controller::new(None);
        let chain = Signal::Answered {
            requests: 10,
            quickest: 150 * MS,
        };
        // 10 flat requests: a round of 2 (to 4), a round of 4 (to 8), 4 towards the next.
        c.report(chain);
        assert_eq!(c.limit(), 8);
        c.report(chain);
        assert_eq!(c.limit(), 16);
    }

    #[test]
    fn latency_rising_with_the_load_takes_a_quarter_off_once_a_round_and_stops_doubling() {
        let c = Controller::new(None);
        for _ in 0..14 {
            c.report(one(100 * MS));
        }
        assert_eq!(c.limit(), 16);
        // Within the slack of the baseline: still flat.
        c.report(one(240 * MS));
        assert_eq!(c.limit(), 16);
        // Latency tripled: back off by a quarter, once for the whole round.
        for _ in 0..5 {
            c.report(one(400 * MS));
        }
        assert_eq!(c.limit(), 12);
        for _ in 0..12 {
            c.report(one(100 * MS));
        }
        assert_eq!(c.limit(), 13, "congested: one more per round, not double");
        // Slow in absolute terms is never flat, whatever the baseline.
        let slow = Controller::new(None);
        for _ in 0..10 {
            slow.report(one(2 * FAST));
        }
        assert_eq!(slow.limit(), START);
    }

    #[tokio::test]
    async fn a_stall_holds_every_case_until_resumed_then_one_runs_at_a_time() {
        let c = Arc::new(Controller::new(None));
        for _ in 0..20 {
            c.report(one(MS));
        }
        assert!(!c.report(Signal::Trouble));
        assert!(
            c.report(Signal::Trouble),
            "two troubles at once are a stall"
        );
        assert!(c.stalled());
        let waiting = {
            let c = Arc::clone(&c);
            tokio::spawn(async move {
                let _slot = c.slot().await;
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no case starts during a stall");
        c.resume();
        tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("resumed")
            .expect("no panic");
        assert_eq!(c.limit(), 1);
        assert_eq!(c.stalls(), 1);
        // Only one slot now: a second waits for the first to be given back.
        let first = c.slot().await;
        let second = tokio::time::timeout(Duration::from_millis(50), c.slot()).await;
        assert!(second.is_err(), "one case at a time after a stall");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), c.slot())
            .await
            .expect("the slot is given back");
    }
}
