//! Throttling with GCRA, the generic cell rate algorithm: a key's whole state is one time,
//! its *theoretical arrival time* (TAT). Starts are spaced `period / limit` apart on average;
//! up to `burst` more may go back to back. In any half-open window of one period at most
//! `limit + burst` runs start. A start that comes too early is told when to come back (it is
//! delayed, never dropped).
//!
//! ```
//! use overtime::flow::throttle::{Decision, Rate};
//! use std::time::Duration;
//!
//! let rate = Rate::new(5, Duration::from_secs(2), 2); // 5 per 2 s, burst 2
//! let mut tat = None;
//! let mut started = 0;
//! for _ in 0..4 {
//!     match rate.decide(tat, 0) {
//!         Decision::Start { tat: next } => { tat = Some(next); started += 1; }
//!         Decision::Wait { until } => assert_eq!(until, 425), // one interval (400 ms + 25) later
//!     }
//! }
//! assert_eq!(started, 3); // one plus the burst of two, at once
//! ```

use std::time::Duration;

/// The most a start's turn is pushed back beyond `period / limit` (and never more than a
/// tenth of it), so that clock skew between workers and the time a start takes to begin
/// cannot fit one more start into a window.
pub const SAFETY_MARGIN_MS: i64 = 25;

/// A throttle's GCRA parameters, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Milliseconds between starts at the steady rate: `period / limit` rounded up, plus a
    /// tenth of that, at most [`SAFETY_MARGIN_MS`].
    pub interval_ms: i64,
    /// How far ahead of the steady rate a start may be: `burst` intervals.
    pub tolerance_ms: i64,
    /// How late a booked start may still begin ([`reserve`](Self::reserve)): the safety
    /// margins of one period. A start that comes later books again, since late starts
    /// bunched together could fit more than the limit into a window.
    pub slack_ms: i64,
}

/// What a throttle says to one start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start now; keep `tat` as the key's new state.
    Start {
        /// The key's new theoretical arrival time (Unix ms); the state can expire then.
        tat: i64,
    },
    /// Too early: come back at `until` (Unix ms). The state is unchanged.
    Wait {
        /// The first time a start is allowed.
        until: i64,
    },
}

impl Rate {
    /// `limit` starts per `period`, `burst` more back to back. A zero limit is treated as 1
    /// ([`Flow::check`](super::Flow::check) refuses it before this is reached).
    pub fn new(limit: u32, period: Duration, burst: u32) -> Self {
        let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
        let limit = i64::from(limit.max(1));
        let ideal = ((period_ms + limit - 1) / limit).max(1);
        // Spaced a little wider than `period / limit`: starts are measured on many machines'
        // clocks and begin a few milliseconds after their turn, and at the exact spacing the
        // start one period after a burst sits on the window's edge.
        let margin = (ideal / 10).min(SAFETY_MARGIN_MS);
        let interval_ms = ideal + margin;
        Self {
            interval_ms,
            slack_ms: (margin * limit - 1).max(0),
            tolerance_ms: interval_ms.saturating_mul(i64::from(burst)),
        }
    }

    /// The decision for a start at `now_ms` given the key's state (`None`: no state, or an
    /// expired one).
    pub fn decide(&self, tat: Option<i64>, now_ms: i64) -> Decision {
        let tat = tat.unwrap_or(now_ms).max(now_ms);
        let allowed_at = tat - self.tolerance_ms;
        if now_ms >= allowed_at {
            Decision::Start {
                tat: tat + self.interval_ms,
            }
        } else {
            Decision::Wait { until: allowed_at }
        }
    }

    /// Reserves the next start for a job arriving at `now_ms`: returns when it may start (now
    /// or later) and the key's new state. Unlike [`decide`](Self::decide), a job that comes
    /// too early books its place instead of coming back to ask again, so a backlog costs one
    /// state change per job; the starts booked are exactly those `decide` would allow.
    ///
    /// ```
    /// use overtime::flow::throttle::Rate;
    /// use std::time::Duration;
    ///
    /// let rate = Rate::new(5, Duration::from_secs(2), 0); // one start per 400 ms (+ 25)
    /// let (first, tat) = rate.reserve(None, 0);
    /// let (second, _) = rate.reserve(Some(tat), 0);
    /// assert_eq!((first, second), (0, 425));
    /// ```
    pub fn reserve(&self, tat: Option<i64>, now_ms: i64) -> (i64, i64) {
        let tat = tat.unwrap_or(now_ms).max(now_ms);
        let start = (tat - self.tolerance_ms).max(now_ms);
        (start, tat + self.interval_ms)
    }
}
