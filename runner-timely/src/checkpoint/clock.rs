//! When checkpoint epochs end: the clock every source of a process follows.
//!
//! The current epoch ends once it has lasted `--checkpoint-interval`, the
//! last checkpoint completed at least `--min-pause-between-checkpoints` ago,
//! and fewer than `--max-concurrent-checkpoints` ended epochs are still
//! incomplete (an epoch that ended more than `--checkpoint-timeout` ago no
//! longer counts: the committer fails it). Epochs end one at a time; each
//! process keeps its own clock (the cut stays consistent whenever each source
//! moves, since it is made by the dataflow's progress, not by the clocks).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The clock's settings.
pub(crate) struct ClockSettings {
    pub(crate) interval: Duration,
    pub(crate) min_pause: Duration,
    pub(crate) max_concurrent: usize,
    pub(crate) timeout: Duration,
}

/// The epoch clock of one process.
pub(crate) struct EpochClock {
    settings: ClockSettings,
    state: Mutex<ClockState>,
}

struct ClockState {
    current: u64,
    started: Instant,
    /// Epochs that ended and may not be complete yet: (epoch, when, Unix ms).
    ended: VecDeque<(u64, Instant, u64)>,
}

impl EpochClock {
    /// A clock whose first epoch is `first`, starting now.
    pub(crate) fn new(first: u64, settings: ClockSettings) -> Self {
        EpochClock {
            settings,
            state: Mutex::new(ClockState {
                current: first,
                started: Instant::now(),
                ended: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The epoch now, ending the current one if it may end: every epoch
    /// before `complete_below` is complete, the last completed at
    /// `last_completion`.
    pub(crate) fn now(&self, complete_below: u64, last_completion: Option<Instant>) -> u64 {
        let s = &self.settings;
        let mut c = self.lock();
        let now = Instant::now();
        while c.ended.front().is_some_and(|e| e.0 < complete_below) {
            c.ended.pop_front();
        }
        if now < c.started + s.interval {
            return c.current;
        }
        if last_completion.is_some_and(|at| now < at + s.min_pause) {
            return c.current;
        }
        let in_flight = c.ended.iter().filter(|e| now < e.1 + s.timeout).count();
        if in_flight >= s.max_concurrent {
            return c.current;
        }
        let ended = (c.current, now, super::unix_ms());
        c.ended.push_back(ended);
        if c.ended.len() > 4096 {
            c.ended.pop_front();
        }
        c.current += 1;
        c.started = now;
        c.current
    }

    /// `epoch` ended and will not complete (it was abandoned): it no longer
    /// counts against `--max-concurrent-checkpoints`.
    pub(crate) fn settle(&self, epoch: u64) {
        self.lock().ended.retain(|e| e.0 != epoch);
    }

    /// Ends the current epoch now, whatever the settings say, and returns
    /// the new one.
    pub(crate) fn end_now(&self) -> u64 {
        let mut c = self.lock();
        let ended = (c.current, Instant::now(), super::unix_ms());
        c.ended.push_back(ended);
        c.current += 1;
        c.started = Instant::now();
        c.current
    }

    /// When `epoch` ended on this process's clock (as an instant and in Unix
    /// milliseconds), if it did and is remembered.
    pub(crate) fn ended_at(&self, epoch: u64) -> Option<(Instant, u64)> {
        self.lock()
            .ended
            .iter()
            .find(|e| e.0 == epoch)
            .map(|e| (e.1, e.2))
    }

    /// The timeout of a checkpoint.
    pub(crate) fn timeout(&self) -> Duration {
        self.settings.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(interval_ms: u64, pause_ms: u64, concurrent: usize, timeout_ms: u64) -> EpochClock {
        EpochClock::new(
            5,
            ClockSettings {
                interval: Duration::from_millis(interval_ms),
                min_pause: Duration::from_millis(pause_ms),
                max_concurrent: concurrent,
                timeout: Duration::from_millis(timeout_ms),
            },
        )
    }

    #[test]
    fn epochs_end_after_the_interval_one_at_a_time_while_few_are_in_flight() {
        let c = clock(10, 0, 1, 60_000);
        assert_eq!(c.now(5, None), 5);
        std::thread::sleep(Duration::from_millis(15));
        assert_eq!(c.now(5, None), 6);
        assert!(c.ended_at(5).is_some());
        // Epoch 5 is not complete: with one checkpoint at a time, 6 waits.
        std::thread::sleep(Duration::from_millis(15));
        assert_eq!(c.now(5, None), 6);
        // Once 5 completes, 6 ends.
        assert_eq!(c.now(6, Some(Instant::now())), 7);
        // An abandoned epoch no longer counts as in flight.
        std::thread::sleep(Duration::from_millis(15));
        assert_eq!(c.now(6, None), 7, "6 in flight");
        c.settle(6);
        assert_eq!(c.now(6, None), 8, "6 was abandoned");
    }

    #[test]
    fn a_pause_after_a_completion_and_a_timed_out_epoch_that_stops_counting() {
        let c = clock(1, 40, 1, 60_000);
        std::thread::sleep(Duration::from_millis(3));
        let done = Instant::now();
        assert_eq!(c.now(5, Some(done)), 5, "within the pause");
        std::thread::sleep(Duration::from_millis(45));
        assert_eq!(c.now(5, Some(done)), 6);

        let c = clock(1, 0, 1, 20);
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(c.now(5, None), 6);
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(c.now(5, None), 6, "epoch 5 in flight");
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(c.now(5, None), 7, "epoch 5 timed out");
    }
}
