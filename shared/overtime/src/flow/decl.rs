//! The declarations: one builder per control, gathered by [`Flow`].

use super::error::FlowError;
use super::{LEASE_RANGE, MAX_BURST, MAX_CONCURRENCY, MAX_PERIOD, MAX_RATE_LIMIT, MIN_PERIOD};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

/// A key computed from the typed payload (an account id, a tenant): each key has its own
/// limits.
pub type KeyFn<J> = Arc<dyn Fn(&J) -> String + Send + Sync>;

/// The key of `job` under `key` (or the one key `""` without a key function); a key function
/// that panics is an error naming the control, so that job fails alone.
fn key_of<J>(control: &'static str, key: Option<&KeyFn<J>>, job: &J) -> Result<String, FlowError> {
    let Some(key) = key else {
        return Ok(String::new());
    };
    catch_unwind(AssertUnwindSafe(|| key(job))).map_err(|panic| {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        FlowError::KeyPanicked { control, reason }
    })
}

fn check_limit(
    control: &'static str,
    what: &'static str,
    n: u32,
    max: u32,
) -> Result<(), FlowError> {
    if (1..=max).contains(&n) {
        Ok(())
    } else {
        Err(FlowError::Limit {
            control,
            what,
            value: n,
            max,
        })
    }
}

fn check_period(control: &'static str, what: &'static str, d: Duration) -> Result<(), FlowError> {
    if (MIN_PERIOD..=MAX_PERIOD).contains(&d) {
        Ok(())
    } else {
        Err(FlowError::Period {
            control,
            what,
            value: d,
            min: MIN_PERIOD,
            max: MAX_PERIOD,
        })
    }
}

/// At most N runs at once: in total, per key, or both. A run sleeping or waiting for an event
/// holds no slot; a holder that crashed gives its slot back after the lease.
pub struct Concurrency<J> {
    pub(crate) total: Option<u32>,
    pub(crate) per_key: Option<(u32, KeyFn<J>)>,
    pub(crate) lease: Duration,
}

impl<J> Concurrency<J> {
    /// At most `n` runs of the job at once, whatever their keys.
    pub fn total(mut self, n: u32) -> Self {
        self.total = Some(n);
        self
    }

    /// At most `n` runs at once per key.
    pub fn per_key(n: u32, key: impl Fn(&J) -> String + Send + Sync + 'static) -> Self {
        Self {
            total: None,
            per_key: Some((n, Arc::new(key))),
            lease: Duration::from_secs(60),
        }
    }

    /// Only a total limit: at most `n` runs at once.
    pub fn limit(n: u32) -> Self {
        Self {
            total: Some(n),
            per_key: None,
            lease: Duration::from_secs(60),
        }
    }

    /// How long a slot stays taken without its holder renewing it (default 60 s, 5 s–15 min).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The key of `job` (`""` without a per-key limit).
    pub fn key_of(&self, job: &J) -> Result<String, FlowError> {
        key_of("concurrency", self.per_key.as_ref().map(|(_, k)| k), job)
    }

    fn check(&self) -> Result<(), FlowError> {
        if let Some(n) = self.total {
            check_limit("concurrency", "total limit", n, MAX_CONCURRENCY)?;
        }
        if let Some((n, _)) = &self.per_key {
            check_limit("concurrency", "per-key limit", *n, MAX_CONCURRENCY)?;
            if let Some(total) = self.total.filter(|t| t < n) {
                return Err(FlowError::Conflict(format!(
                    "concurrency: the per-key limit ({n}) is above the total ({total}); no key could use it"
                )));
            }
        }
        let (min, max) = LEASE_RANGE;
        if !(min..=max).contains(&self.lease) {
            return Err(FlowError::Period {
                control: "concurrency",
                what: "lease",
                value: self.lease,
                min,
                max,
            });
        }
        Ok(())
    }
}

/// At most `limit` starts per `period` per key, plus a burst: excess runs are delayed, never
/// dropped. The arithmetic is GCRA ([`throttle`](super::throttle)): one start every
/// `period / limit`, with `burst` more allowed back to back, so no window of one period holds
/// more than `limit + burst` starts.
pub struct Throttle<J> {
    pub(crate) limit: u32,
    pub(crate) period: Duration,
    pub(crate) burst: u32,
    pub(crate) key: Option<KeyFn<J>>,
}

impl<J> Throttle<J> {
    /// At most `limit` starts per `period` (1 s–7 days), one key for all runs.
    pub fn new(limit: u32, period: Duration) -> Self {
        Self {
            limit,
            period,
            burst: 0,
            key: None,
        }
    }

    /// Extra starts allowed back to back on top of the limit (default 0).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Throttle each key on its own.
    pub fn key(mut self, key: impl Fn(&J) -> String + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// The key of `job` (`""` without a key function).
    pub fn key_of(&self, job: &J) -> Result<String, FlowError> {
        key_of("throttle", self.key.as_ref(), job)
    }

    /// The GCRA parameters of this throttle.
    pub fn rate(&self) -> super::throttle::Rate {
        super::throttle::Rate::new(self.limit, self.period, self.burst)
    }

    fn check(&self) -> Result<(), FlowError> {
        check_limit("throttle", "limit", self.limit, u32::MAX)?;
        check_period("throttle", "period", self.period)?;
        if self.burst > MAX_BURST {
            return Err(FlowError::Limit {
                control: "throttle",
                what: "burst",
                value: self.burst,
                max: MAX_BURST,
            });
        }
        if self.period.as_millis() < u128::from(self.limit) {
            return Err(FlowError::Conflict(format!(
                "throttle: {} starts per {:?} is more than one a millisecond; use a longer period",
                self.limit, self.period
            )));
        }
        Ok(())
    }
}

/// At most `limit` starts in any window of `period` per key: excess runs are skipped, each
/// skip counted with the key's last skipped payload. Exact ([`window`](super::window)): the
/// start times of the last `limit` starts are kept per key.
pub struct RateLimit<J> {
    pub(crate) limit: u32,
    pub(crate) period: Duration,
    pub(crate) key: Option<KeyFn<J>>,
}

impl<J> RateLimit<J> {
    /// At most `limit` (1–1,000) starts per `period` (1 s–7 days), one key for all runs.
    pub fn new(limit: u32, period: Duration) -> Self {
        Self {
            limit,
            period,
            key: None,
        }
    }

    /// Limit each key on its own.
    pub fn key(mut self, key: impl Fn(&J) -> String + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// The key of `job` (`""` without a key function).
    pub fn key_of(&self, job: &J) -> Result<String, FlowError> {
        key_of("rate limit", self.key.as_ref(), job)
    }

    /// The window of this limit.
    pub fn window(&self) -> super::window::Window {
        super::window::Window::new(self.limit, self.period)
    }

    fn check(&self) -> Result<(), FlowError> {
        check_limit("rate limit", "limit", self.limit, MAX_RATE_LIMIT)?;
        check_period("rate limit", "period", self.period)
    }
}

/// A key's job runs once, with the last payload, after no new one arrived for `period`, and
/// at the latest `max_wait` after the first of the burst.
pub struct Debounce<J> {
    pub(crate) period: Duration,
    pub(crate) max_wait: Option<Duration>,
    pub(crate) key: Option<KeyFn<J>>,
}

impl<J> Debounce<J> {
    /// Runs after `period` (1 s–7 days) without a new job of the same key.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            max_wait: None,
            key: None,
        }
    }

    /// Runs at the latest this long after the first job of a burst (at least `period`).
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// Debounce each key on its own.
    pub fn key(mut self, key: impl Fn(&J) -> String + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// The key of `job` (`""` without a key function).
    pub fn key_of(&self, job: &J) -> Result<String, FlowError> {
        key_of("debounce", self.key.as_ref(), job)
    }

    fn check(&self) -> Result<(), FlowError> {
        check_period("debounce", "period", self.period)?;
        if let Some(max) = self.max_wait {
            check_period("debounce", "maximum wait", max)?;
            if max < self.period {
                return Err(FlowError::Conflict(format!(
                    "debounce: the maximum wait ({max:?}) is shorter than the period ({:?}); it would never wait a whole period",
                    self.period
                )));
            }
        }
        Ok(())
    }
}

/// What a new run does when its key already has an active one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SingletonMode {
    /// The new run is skipped (recorded as such).
    Skip,
    /// The running one is cancelled (at its next step or slice boundary) and the new one runs.
    Cancel,
}

/// One active run per key.
pub struct Singleton<J> {
    pub(crate) mode: SingletonMode,
    pub(crate) key: Option<KeyFn<J>>,
}

impl<J> Singleton<J> {
    /// A new run while one is active is skipped.
    pub fn skip() -> Self {
        Self {
            mode: SingletonMode::Skip,
            key: None,
        }
    }

    /// A new run cancels the active one.
    pub fn cancel() -> Self {
        Self {
            mode: SingletonMode::Cancel,
            key: None,
        }
    }

    /// One active run per key, not per job.
    pub fn key(mut self, key: impl Fn(&J) -> String + Send + Sync + 'static) -> Self {
        self.key = Some(Arc::new(key));
        self
    }

    /// What a second run does.
    pub fn mode(&self) -> SingletonMode {
        self.mode
    }

    /// The key of `job` (`""` without a key function).
    pub fn key_of(&self, job: &J) -> Result<String, FlowError> {
        key_of("singleton", self.key.as_ref(), job)
    }
}

/// A job's flow control: any of concurrency, throttle, rate limit, debounce and singleton.
pub struct Flow<J> {
    pub(crate) concurrency: Option<Concurrency<J>>,
    pub(crate) throttle: Option<Throttle<J>>,
    pub(crate) rate_limit: Option<RateLimit<J>>,
    pub(crate) debounce: Option<Debounce<J>>,
    pub(crate) singleton: Option<Singleton<J>>,
}

impl<J> Default for Flow<J> {
    fn default() -> Self {
        Self {
            concurrency: None,
            throttle: None,
            rate_limit: None,
            debounce: None,
            singleton: None,
        }
    }
}

impl<J> fmt::Debug for Flow<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flow")
            .field("controls", &self.controls())
            .finish()
    }
}

impl<J> Flow<J> {
    /// No flow control.
    pub fn new() -> Self {
        Self::default()
    }

    /// Limits how many runs go at once.
    pub fn concurrency(mut self, c: Concurrency<J>) -> Self {
        self.concurrency = Some(c);
        self
    }

    /// Delays starts beyond a rate.
    pub fn throttle(mut self, t: Throttle<J>) -> Self {
        self.throttle = Some(t);
        self
    }

    /// Skips starts beyond a rate.
    pub fn rate_limit(mut self, r: RateLimit<J>) -> Self {
        self.rate_limit = Some(r);
        self
    }

    /// Runs a key's job once after a quiet period.
    pub fn debounce(mut self, d: Debounce<J>) -> Self {
        self.debounce = Some(d);
        self
    }

    /// One active run per key.
    pub fn singleton(mut self, s: Singleton<J>) -> Self {
        self.singleton = Some(s);
        self
    }

    /// Whether any control is declared.
    pub fn is_empty(&self) -> bool {
        self.controls().is_empty()
    }

    /// The names of the declared controls, for logs and the dashboard.
    pub fn controls(&self) -> Vec<&'static str> {
        [
            self.concurrency.as_ref().map(|_| "concurrency"),
            self.throttle.as_ref().map(|_| "throttle"),
            self.rate_limit.as_ref().map(|_| "rate limit"),
            self.debounce.as_ref().map(|_| "debounce"),
            self.singleton.as_ref().map(|_| "singleton"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Refuses a declaration that cannot work, saying what to change.
    pub fn check(&self) -> Result<(), FlowError> {
        if let Some(c) = &self.concurrency {
            c.check()?;
        }
        if let Some(t) = &self.throttle {
            t.check()?;
        }
        if let Some(r) = &self.rate_limit {
            r.check()?;
        }
        if let Some(d) = &self.debounce {
            d.check()?;
        }
        if self.debounce.is_some() && self.singleton.is_some() {
            return Err(FlowError::Conflict(
                "debounce and singleton together: a debounced key already runs one job per burst; keep one of them".into(),
            ));
        }
        Ok(())
    }
}
