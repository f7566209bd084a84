//! Rate limiting over a sliding window, exactly: a key's state is the start times of its
//! last `limit` starts. A start is allowed when fewer than `limit` starts happened in the
//! period before it (any half-open window of one period holds at most `limit` starts);
//! otherwise it is skipped, and told when the next start would be allowed.
//!
//! ```
//! use overtime::flow::window::Window;
//! use std::time::Duration;
//!
//! let window = Window::new(2, Duration::from_secs(60));
//! let starts = window.admit(&[], 0).unwrap();
//! let starts = window.admit(&starts, 1_000).unwrap();
//! assert_eq!(window.admit(&starts, 2_000), Err(60_000)); // full until the first leaves
//! assert!(window.admit(&starts, 60_000).is_ok());
//! ```

use std::time::Duration;

/// A rate limit's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The most starts in one period.
    pub limit: u32,
    /// The period, in milliseconds.
    pub period_ms: i64,
}

impl Window {
    /// At most `limit` starts per `period` (a zero limit is treated as 1).
    pub fn new(limit: u32, period: Duration) -> Self {
        let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
        Self {
            limit: limit.max(1),
            period_ms,
        }
    }

    /// A start at `now_ms` against the key's earlier starts (Unix ms, any order): `Ok` with
    /// the state to keep (the starts still inside the window, this one included, oldest
    /// first), or `Err` with the first time a start will be allowed again.
    pub fn admit(&self, starts: &[i64], now_ms: i64) -> Result<Vec<i64>, i64> {
        let mut inside: Vec<i64> = starts
            .iter()
            .copied()
            .filter(|s| now_ms - s < self.period_ms)
            .collect();
        inside.sort_unstable();
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if inside.len() >= limit {
            // The start that must leave the window for one more to fit.
            let leaving = inside[inside.len() - limit];
            return Err(leaving + self.period_ms);
        }
        inside.push(now_ms);
        Ok(inside)
    }

    /// When a key's state may be forgotten: once its newest start left the window.
    pub fn expires_ms(&self, starts: &[i64]) -> i64 {
        starts.iter().max().map_or(0, |s| s + self.period_ms)
    }
}
