//! A job's flow control as the worker applies it to one delivery: every control with the key
//! its payload computed, and nothing typed left. Also the marks a message carries between its
//! hops (what it already passed), and the words the dashboard shows.

use super::SingletonMode;
use super::decl::Flow;
use super::error::FlowError;
use super::throttle::Rate;
use super::window::Window;
use std::time::Duration;

/// The lease of a singleton's slot when the job declares no concurrency lease.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Concurrency limits of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConcurrencyPlan {
    pub(crate) total: Option<u32>,
    pub(crate) per_key: Option<(u32, String)>,
}

/// A debounce of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DebouncePlan {
    pub(crate) period_ms: i64,
    pub(crate) max_wait_ms: Option<i64>,
    pub(crate) key: String,
}

/// Every control of a job, keyed for one payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) singleton: Option<(SingletonMode, String)>,
    pub(crate) debounce: Option<DebouncePlan>,
    pub(crate) rate_limit: Option<(Window, String)>,
    pub(crate) throttle: Option<(Rate, String)>,
    pub(crate) concurrency: Option<ConcurrencyPlan>,
    /// How long a slot (concurrency or singleton) is held without being renewed.
    pub(crate) lease_ms: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl<J> Flow<J> {
    /// The controls for `job`, each with its key; a key function that panics is an error.
    pub(crate) fn plan(&self, job: &J) -> Result<Plan, FlowError> {
        let singleton = match &self.singleton {
            Some(s) => Some((s.mode, s.key_of(job)?)),
            None => None,
        };
        let debounce = match &self.debounce {
            Some(d) => Some(DebouncePlan {
                period_ms: ms(d.period),
                max_wait_ms: d.max_wait.map(ms),
                key: d.key_of(job)?,
            }),
            None => None,
        };
        let rate_limit = match &self.rate_limit {
            Some(r) => Some((r.window(), r.key_of(job)?)),
            None => None,
        };
        let throttle = match &self.throttle {
            Some(t) => Some((t.rate(), t.key_of(job)?)),
            None => None,
        };
        let concurrency = match &self.concurrency {
            Some(c) => Some(ConcurrencyPlan {
                total: c.total,
                per_key: match &c.per_key {
                    Some((n, _)) => Some((*n, c.key_of(job)?)),
                    None => None,
                },
            }),
            None => None,
        };
        let lease = self.concurrency.as_ref().map_or(DEFAULT_LEASE, |c| c.lease);
        Ok(Plan {
            singleton,
            debounce,
            rate_limit,
            throttle,
            concurrency,
            lease_ms: ms(lease),
        })
    }

    /// One line per declared control, as the dashboard and `overtime runs` show them.
    ///
    /// ```
    /// use overtime::flow::{Concurrency, Flow, Throttle};
    /// use std::time::Duration;
    /// struct Sync { account: String }
    /// let flow = Flow::<Sync>::new()
    ///     .concurrency(Concurrency::per_key(1, |j: &Sync| j.account.clone()).total(10))
    ///     .throttle(Throttle::new(5, Duration::from_secs(2)).burst(2));
    /// assert_eq!(flow.describe(), [
    ///     "concurrency: 1 per key, 10 in total (lease 1m)",
    ///     "throttle: 5 per 2s, burst 2 (delayed)",
    /// ]);
    /// ```
    pub fn describe(&self) -> Vec<String> {
        let per = |keyed: bool| if keyed { " per key" } else { "" };
        let mut out = Vec::new();
        if let Some(c) = &self.concurrency {
            let parts: Vec<String> = [
                c.per_key.as_ref().map(|(n, _)| format!("{n} per key")),
                c.total.map(|n| format!("{n} in total")),
            ]
            .into_iter()
            .flatten()
            .collect();
            out.push(format!(
                "concurrency: {} (lease {})",
                parts.join(", "),
                human(c.lease)
            ));
        }
        if let Some(t) = &self.throttle {
            out.push(format!(
                "throttle: {} per {}{}, burst {} (delayed)",
                t.limit,
                human(t.period),
                per(t.key.is_some()),
                t.burst
            ));
        }
        if let Some(r) = &self.rate_limit {
            out.push(format!(
                "rate limit: {} per {}{} (skipped beyond)",
                r.limit,
                human(r.period),
                per(r.key.is_some())
            ));
        }
        if let Some(d) = &self.debounce {
            let max = d
                .max_wait
                .map(|m| format!(", at most {} after the first", human(m)))
                .unwrap_or_default();
            out.push(format!(
                "debounce: {}{} quiet{max}",
                human(d.period),
                per(d.key.is_some())
            ));
        }
        if let Some(s) = &self.singleton {
            let mode = match s.mode {
                SingletonMode::Skip => "a new run is skipped",
                SingletonMode::Cancel => "a new run cancels the active one",
            };
            out.push(format!(
                "singleton{}: {mode}",
                if s.key.is_some() { " per key" } else { "" }
            ));
        }
        out
    }
}

/// `90s` as `90s`, `120s` as `2m`, `7200s` as `2h`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 {
        format!("{}ms", d.as_millis())
    } else if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// What a message already passed, carried in its `overtime.flow` attribute from one hop to
/// the next: `entry` (the gates a job meets once: singleton skip, debounce, rate limit),
/// `debounce` (waiting out its key's quiet period), `throttle=ATTEMPT@MS` (a throttled start
/// booked for that attempt at that time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Marks {
    pub(crate) entry: bool,
    pub(crate) debounce: bool,
    pub(crate) throttle: Option<(u32, i64)>,
}

impl Marks {
    /// Reads the attribute; unknown words are ignored (a newer worker's marks).
    pub(crate) fn parse(value: Option<&str>) -> Self {
        let mut marks = Self::default();
        for word in value.unwrap_or_default().split(';') {
            match word {
                "entry" => marks.entry = true,
                "debounce" => marks.debounce = true,
                _ => {
                    if let Some((attempt, at)) = word
                        .strip_prefix("throttle=")
                        .and_then(|rest| rest.split_once('@'))
                        && let (Ok(attempt), Ok(at)) = (attempt.parse(), at.parse())
                    {
                        marks.throttle = Some((attempt, at));
                    }
                }
            }
        }
        marks
    }

    /// The attribute's value.
    pub(crate) fn render(&self) -> String {
        let mut words = Vec::new();
        if self.entry {
            words.push("entry".to_owned());
        }
        if self.debounce {
            words.push("debounce".to_owned());
        }
        if let Some((attempt, at)) = self.throttle {
            words.push(format!("throttle={attempt}@{at}"));
        }
        words.join(";")
    }
}

/// The run-store key of `control`'s state for `job` and `key`. Keys longer than 200 bytes are
/// hashed, to stay well inside DynamoDB's key size.
pub(crate) fn state_key(job: &str, control: &str, key: &str) -> String {
    if key.is_empty() {
        return format!("flow/{job}/{control}");
    }
    if key.len() > 200 {
        let hash = crate::queue::message::sha256_hex(key.as_bytes());
        return format!("flow/{job}/{control}/sha256:{hash}");
    }
    format!("flow/{job}/{control}/{key}")
}

/// How long a job queued for a slot waits before asking again: a second, and a second more
/// for each full round of the limit ahead of it, at most ten.
pub(crate) fn queue_delay(ahead: usize, limit: u32) -> Duration {
    let rounds = ahead.saturating_sub(1) / usize::try_from(limit.max(1)).unwrap_or(1);
    Duration::from_secs(1 + u64::try_from(rounds.min(9)).unwrap_or(9))
}

/// How long a queued job's place is kept without it asking again.
pub(crate) fn waiter_ttl_ms(delay: Duration) -> i64 {
    ms(delay) + 60_000
}

/// The waiting list a total limit keeps: none (any job that asks when a slot is free takes
/// it; order is kept per key).
pub(crate) const TOTAL_WAITER_TTL_MS: i64 = 0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_ignore_unknown_words() {
        let marks = Marks {
            entry: true,
            debounce: false,
            throttle: Some((2, 1_700_000_000_123)),
        };
        assert_eq!(Marks::parse(Some(&marks.render())), marks);
        assert_eq!(
            Marks::parse(Some("debounce;future-word;throttle=x@1")),
            Marks {
                debounce: true,
                ..Marks::default()
            }
        );
        assert_eq!(Marks::parse(None), Marks::default());
    }

    #[test]
    fn state_keys_stay_short() {
        assert_eq!(state_key("sync", "throttle", ""), "flow/sync/throttle");
        assert_eq!(
            state_key("sync", "throttle", "acct-1"),
            "flow/sync/throttle/acct-1"
        );
        let long = "x".repeat(500);
        assert!(state_key("sync", "throttle", &long).len() < 120);
    }

    #[test]
    fn queued_jobs_ask_again_sooner_when_near_the_front() {
        assert_eq!(queue_delay(1, 2), Duration::from_secs(1));
        assert_eq!(queue_delay(3, 2), Duration::from_secs(2));
        assert_eq!(queue_delay(1_000, 2), Duration::from_secs(10));
    }
}
