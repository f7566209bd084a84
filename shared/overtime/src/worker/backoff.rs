//! Retry delays: exponential in the attempt number, with jitter, capped.

use crate::limits::SQS_MAX_VISIBILITY;
use std::time::Duration;

/// How long a failed message stays invisible before its next attempt.
///
/// Attempt `n` waits between half and all of `base × 2^(n−1)`, capped at `max` ("equal
/// jitter"), so retries of a failed batch spread out instead of arriving together.
///
/// ```
/// use overtime::Backoff;
/// use std::time::Duration;
/// let b = Backoff::new(Duration::from_secs(4), Duration::from_secs(60));
/// let d = b.delay(3); // base × 4 = 16 s, jittered into [8 s, 16 s]
/// assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(16));
/// assert!(b.delay(30) <= Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Default for Backoff {
    /// 5 s, doubling, at most 15 minutes.
    fn default() -> Self {
        Self::new(Duration::from_secs(5), Duration::from_secs(900))
    }
}

impl Backoff {
    /// A backoff starting at `base` and never above `max` (nor SQS's 12-hour visibility limit).
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.min(SQS_MAX_VISIBILITY),
        }
    }

    /// The delay before the attempt after attempt `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exp).min(self.max);
        full / 2 + full.mul_f64(fastrand::f64() / 2.0)
    }
}

/// A delay as the whole seconds SQS takes, rounded up so a short backoff is not lost.
pub(crate) fn visibility_secs(delay: Duration) -> i32 {
    let d = delay.min(SQS_MAX_VISIBILITY);
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(20));
        for _ in 0..100 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_secs(1) && d1 <= Duration::from_secs(2));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_secs(4) && d3 <= Duration::from_secs(8));
            let d9 = b.delay(9);
            assert!(d9 >= Duration::from_secs(10) && d9 <= Duration::from_secs(20));
        }
        assert!(b.delay(u32::MAX) <= Duration::from_secs(20));
    }

    #[test]
    fn visibility_rounds_up_and_caps() {
        assert_eq!(visibility_secs(Duration::from_millis(1500)), 2);
        assert_eq!(visibility_secs(Duration::ZERO), 0);
        assert_eq!(visibility_secs(Duration::from_secs(100_000)), 43_200);
    }
}
