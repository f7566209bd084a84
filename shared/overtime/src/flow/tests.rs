use super::throttle::{Decision, Rate};
use super::window::Window;
use super::*;
use proptest::prelude::*;
use std::time::Duration;

struct Job {
    account: String,
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn sound_declarations_pass_and_name_their_controls() {
    let flow = Flow::<Job>::new()
        .concurrency(Concurrency::per_key(2, |j: &Job| j.account.clone()).total(10))
        .throttle(
            Throttle::new(5, secs(2))
                .burst(2)
                .key(|j: &Job| j.account.clone()),
        )
        .rate_limit(RateLimit::new(100, secs(60)))
        .debounce(Debounce::new(secs(5)).max_wait(secs(30)));
    assert_eq!(flow.check(), Ok(()));
    assert_eq!(
        flow.controls(),
        ["concurrency", "throttle", "rate limit", "debounce"]
    );
    assert!(Flow::<Job>::new().is_empty());
    assert_eq!(Flow::<Job>::new().check(), Ok(()));
}

#[test]
fn zero_limits_and_periods_out_of_range_say_what_to_change() {
    let cases: Vec<(Flow<Job>, &str)> = vec![
        (
            Flow::new().concurrency(Concurrency::limit(0)),
            "concurrency: the total limit is 0; it must be at least 1 and at most 10000",
        ),
        (
            Flow::new().concurrency(Concurrency::per_key(0, |j: &Job| j.account.clone())),
            "concurrency: the per-key limit is 0",
        ),
        (
            Flow::new().concurrency(Concurrency::per_key(5, |j: &Job| j.account.clone()).total(2)),
            "the per-key limit (5) is above the total (2)",
        ),
        (
            Flow::new().concurrency(Concurrency::limit(1).lease(secs(1))),
            "concurrency: the lease is 1s; it must be between 5s and 900s",
        ),
        (
            Flow::new().throttle(Throttle::new(0, secs(1))),
            "throttle: the limit is 0",
        ),
        (
            Flow::new().throttle(Throttle::new(1, Duration::from_millis(500))),
            "throttle: the period is 500ms; it must be between 1s and 604800s",
        ),
        (
            Flow::new().throttle(Throttle::new(5_000, secs(1))),
            "more than one a millisecond",
        ),
        (
            Flow::new().throttle(Throttle::new(1, secs(1)).burst(20_000)),
            "throttle: the burst is 20000",
        ),
        (
            Flow::new().rate_limit(RateLimit::new(1_001, secs(60))),
            "rate limit: the limit is 1001; it must be at least 1 and at most 1000",
        ),
        (
            Flow::new().rate_limit(RateLimit::new(1, secs(8 * 24 * 3600))),
            "rate limit: the period is 691200s",
        ),
        (
            Flow::new().debounce(Debounce::new(secs(0))),
            "debounce: the period is 0ns",
        ),
        (
            Flow::new().debounce(Debounce::new(secs(10)).max_wait(secs(5))),
            "the maximum wait (5s) is shorter than the period (10s)",
        ),
        (
            Flow::new()
                .debounce(Debounce::new(secs(10)))
                .singleton(Singleton::skip()),
            "debounce and singleton together",
        ),
    ];
    for (flow, expected) in cases {
        let err = flow.check().expect_err(expected).to_string();
        assert!(err.contains(expected), "{err:?} does not say {expected:?}");
    }
}

#[test]
fn keys_come_from_the_payload_and_a_panicking_key_fails_that_job_alone() {
    let c = Concurrency::per_key(1, |j: &Job| {
        assert!(!j.account.is_empty(), "no account");
        j.account.clone()
    });
    let ok = Job {
        account: "acme".into(),
    };
    assert_eq!(c.key_of(&ok), Ok("acme".to_owned()));
    let bad = Job {
        account: String::new(),
    };
    let err = c.key_of(&bad).expect_err("the key function panics");
    assert!(
        matches!(&err, FlowError::KeyPanicked { control: "concurrency", reason } if reason == "no account"),
        "{err:?}"
    );
    // The same function keeps working for the next job.
    assert_eq!(c.key_of(&ok), Ok("acme".to_owned()));
    // Without a key function, every job shares one key.
    assert_eq!(
        Throttle::<Job>::new(1, secs(1)).key_of(&bad),
        Ok(String::new())
    );
    assert_eq!(Singleton::<Job>::cancel().mode(), SingletonMode::Cancel);
}

#[test]
fn a_throttle_spaces_starts_after_its_burst() {
    let rate = Rate::new(5, secs(2), 2);
    assert_eq!((rate.interval_ms, rate.tolerance_ms), (425, 850));
    let mut tat = None;
    let mut starts = Vec::new();
    let mut now = 0;
    while starts.len() < 6 {
        match rate.decide(tat, now) {
            Decision::Start { tat: t } => {
                tat = Some(t);
                starts.push(now);
            }
            Decision::Wait { until } => {
                assert!(until > now);
                now = until;
            }
        }
    }
    assert_eq!(starts, [0, 0, 0, 425, 850, 1275]);
    // After a quiet spell the burst is back.
    let later = 10_000;
    assert!(matches!(rate.decide(tat, later), Decision::Start { .. }));
}

/// Runs jobs arriving at `arrivals` (sorted) through a throttle in arrival order, each waiting
/// as told; returns their start times.
fn simulate(rate: Rate, arrivals: &[i64]) -> Vec<i64> {
    let mut tat = None;
    let mut last = i64::MIN;
    let mut out = Vec::new();
    for &a in arrivals {
        let mut now = a.max(last);
        loop {
            match rate.decide(tat, now) {
                Decision::Start { tat: t } => {
                    tat = Some(t);
                    out.push(now);
                    last = now;
                    break;
                }
                Decision::Wait { until } => {
                    assert!(until > now, "a wait must move time forward");
                    now = until;
                }
            }
        }
    }
    out
}

fn most_in_a_window(starts: &[i64], period_ms: i64) -> usize {
    starts
        .iter()
        .map(|&s| {
            starts
                .iter()
                .filter(|&&t| t >= s && t < s + period_ms)
                .count()
        })
        .max()
        .unwrap_or(0)
}

proptest! {
    #[test]
    fn no_throttle_window_holds_more_than_limit_plus_burst(
        limit in 1u32..20,
        period_s in 1u64..5,
        burst in 0u32..5,
        mut arrivals in proptest::collection::vec(0i64..20_000, 1..120),
    ) {
        arrivals.sort_unstable();
        let rate = Rate::new(limit, secs(period_s), burst);
        let starts = simulate(rate, &arrivals);
        // Every job started (delayed, never dropped), none before it arrived.
        prop_assert_eq!(starts.len(), arrivals.len());
        prop_assert!(starts.iter().zip(&arrivals).all(|(s, a)| s >= a));
        let period_ms = rate_period_ms(period_s);
        let most = most_in_a_window(&starts, period_ms);
        prop_assert!(most <= (limit + burst) as usize, "{} starts in one window", most);
    }

    #[test]
    fn reserved_starts_keep_the_same_bound_and_come_in_arrival_order(
        limit in 1u32..20,
        period_s in 1u64..5,
        burst in 0u32..5,
        mut arrivals in proptest::collection::vec(0i64..20_000, 1..120),
    ) {
        arrivals.sort_unstable();
        let rate = Rate::new(limit, secs(period_s), burst);
        let mut tat = None;
        let mut starts = Vec::new();
        for &now in &arrivals {
            let (start, next) = rate.reserve(tat, now);
            prop_assert!(start >= now);
            tat = Some(next);
            starts.push(start);
        }
        prop_assert!(starts.windows(2).all(|w| w[0] <= w[1]));
        // Booking ahead allows exactly what asking again would: the same start times.
        prop_assert_eq!(&starts, &simulate(rate, &arrivals));
        let most = most_in_a_window(&starts, rate_period_ms(period_s));
        prop_assert!(most <= (limit + burst) as usize, "{} starts in one window", most);
    }

    #[test]
    fn a_rate_limit_window_never_holds_more_than_its_limit_and_skips_only_when_full(
        limit in 1u32..10,
        period_s in 1u64..5,
        mut arrivals in proptest::collection::vec(0i64..20_000, 1..150),
    ) {
        arrivals.sort_unstable();
        let window = Window::new(limit, secs(period_s));
        let period_ms = window.period_ms;
        let mut state: Vec<i64> = Vec::new();
        let mut started = Vec::new();
        for &now in &arrivals {
            match window.admit(&state, now) {
                Ok(next) => {
                    prop_assert!(next.len() <= limit as usize);
                    state = next;
                    started.push(now);
                }
                Err(at) => {
                    // Skipped only when the last period really holds `limit` starts, and the
                    // time given is when one leaves it.
                    let recent = started.iter().filter(|&&s| now - s < period_ms).count();
                    prop_assert_eq!(recent, limit as usize);
                    prop_assert!(at > now);
                    prop_assert!(window.admit(&state, at).is_ok());
                }
            }
        }
        prop_assert!(most_in_a_window(&started, period_ms) <= limit as usize);
        prop_assert!(window.expires_ms(&state) > *arrivals.last().unwrap_or(&0) - period_ms);
    }
}

fn rate_period_ms(period_s: u64) -> i64 {
    Window::new(1, secs(period_s)).period_ms
}
