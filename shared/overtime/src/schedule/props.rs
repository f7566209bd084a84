//! Property tests: for random valid expressions of both dialects, every fire time croner reports
//! satisfies this module's own reading of the fields, and no matching minute between two
//! reported times (or before the first) is skipped.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Timelike, Utc};
use proptest::prelude::*;

use super::*;

/// One list item of a plain field between `min` and `max`; `wrap` adds ranges that run past
/// the end of the field (EventBridge), `steps` the `/` forms.
fn item(min: u16, max: u16, wrap: bool, steps: bool) -> impl Strategy<Value = String> {
    let span = max - min;
    let plain = prop_oneof![
        Just("*".to_owned()),
        (min..=max).prop_map(|v| v.to_string()),
        (min..=max, 0..=span).prop_map(move |(a, len)| format!("{a}-{}", (a + len).min(max))),
        (min..=max, min..=max).prop_map(move |(a, b)| if wrap || a <= b {
            format!("{a}-{b}")
        } else {
            format!("{b}-{a}")
        }),
    ];
    let stepped = prop_oneof![
        (1..=span.max(1)).prop_map(|s| format!("*/{s}")),
        (min..=max, 0..=span, 1..=span.max(1))
            .prop_map(move |(a, len, s)| format!("{a}-{}/{s}", (a + len).min(max))),
        (min..=max, 1..=span.max(1)).prop_map(|(a, s)| format!("{a}/{s}")),
        (min..=max, min..=max, 1..=span.max(1)).prop_map(move |(a, b, s)| {
            if wrap || a <= b {
                format!("{a}-{b}/{s}")
            } else {
                format!("{b}-{a}/{s}")
            }
        }),
    ];
    prop_oneof![3 => plain, (if steps { 2 } else { 0 }) => stepped]
}

fn list(min: u16, max: u16) -> impl Strategy<Value = String> {
    list_of(min, max, false, true)
}

fn list_of(min: u16, max: u16, wrap: bool, steps: bool) -> impl Strategy<Value = String> {
    prop::collection::vec(item(min, max, wrap, steps), 1..=3).prop_map(|items| {
        if items.iter().any(|i| i == "*") {
            "*".to_owned()
        } else {
            items.join(",")
        }
    })
}

fn vercel_expression() -> impl Strategy<Value = String> {
    (
        list(0, 59),
        list(0, 23),
        list(1, 31),
        list(1, 12),
        list(0, 7),
        any::<bool>(),
    )
        .prop_map(|(m, h, dom, mon, dow, use_dow)| {
            // Vercel restricts at most one of the day fields.
            let (dom, dow) = if use_dow {
                ("*".to_owned(), dow)
            } else {
                (dom, "*".to_owned())
            };
            format!("{m} {h} {dom} {mon} {dow}")
        })
}

fn eventbridge_expression() -> impl Strategy<Value = String> {
    let dom = prop_oneof![
        4 => list_of(1, 31, true, true),
        1 => Just("L".to_owned()),
        1 => (1u16..=31).prop_map(|d| format!("{d}W")),
    ];
    let dow = prop_oneof![
        4 => list_of(1, 7, true, false),
        1 => (1u16..=7, 1u16..=5).prop_map(|(d, n)| format!("{d}#{n}")),
        1 => (1u16..=7).prop_map(|d| format!("{d}L")),
    ];
    let year = prop_oneof![
        3 => Just("*".to_owned()),
        1 => (2026u16..=2032, 0u16..=3).prop_map(|(y, len)| format!("{y}-{}", y + len)),
    ];
    (
        list(0, 59),
        list(0, 23),
        dom,
        list(1, 12),
        dow,
        year,
        any::<bool>(),
    )
        .prop_map(|(m, h, dom, mon, dow, year, use_dow)| {
            let (dom, dow) = if use_dow {
                ("?".to_owned(), dow)
            } else {
                (dom, "?".to_owned())
            };
            format!("cron({m} {h} {dom} {mon} {dow} {year})")
        })
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2026-01-01 .. 2030-12-31, at any second.
    (0i64..(5 * 365 * 86_400)).prop_map(|s| {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default()
            + Duration::seconds(s)
    })
}

/// Every matching minute in `(from, to)`, found from the parsed fields a day at a time.
fn matching_minutes_between(
    s: &Schedule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let Kind::Cron(f) = s.kind() else { return None };
    let mut day: NaiveDate = from.date_naive();
    while day <= to.date_naive() {
        for h in f.hours.values.iter() {
            for m in f.minutes.values.iter() {
                let t = day
                    .and_hms_opt(u32::from(h), u32::from(m), 0)
                    .map(|n| n.and_utc());
                if let Some(t) = t.filter(|t| *t > from && *t < to && s.matches(*t)) {
                    return Some(t);
                }
            }
        }
        day = day.succ_opt()?;
    }
    None
}

fn check(expr: &str, from: DateTime<Utc>) -> Result<(), TestCaseError> {
    let s = Schedule::parse(expr).map_err(|e| TestCaseError::fail(format!("{expr}: {e}")))?;
    let times: Vec<_> = s.upcoming(from).take(12).collect();
    let mut previous = from;
    for t in &times {
        prop_assert!(*t > previous, "{expr}: {t} does not follow {previous}");
        prop_assert!(
            s.matches(*t),
            "{expr}: reported {t}, which the fields do not match"
        );
        prop_assert_eq!(t.second(), 0);
        let skipped = matching_minutes_between(&s, previous, *t);
        prop_assert!(
            skipped.is_none(),
            "{expr}: skipped {skipped:?} between {previous} and {t}"
        );
        previous = *t;
    }
    if times.len() < 12 {
        // Fewer than asked: the schedule must really have ended (within its year range).
        let end = Utc
            .with_ymd_and_hms(2036, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or(previous);
        let skipped = matching_minutes_between(&s, previous, end);
        prop_assert!(
            skipped.is_none(),
            "{expr}: stopped at {previous}, but {skipped:?} matches"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn vercel_fire_times_match_and_skip_nothing(expr in vercel_expression(), from in instant()) {
        check(&expr, from)?;
    }

    #[test]
    fn eventbridge_fire_times_match_and_skip_nothing(expr in eventbridge_expression(), from in instant()) {
        check(&expr, from)?;
    }

    #[test]
    fn vercel_translates_to_the_same_instants(expr in vercel_expression(), from in instant()) {
        let v = Schedule::vercel(&expr).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let eb = v.to_eventbridge().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = Schedule::eventbridge(&eb).map_err(|e| TestCaseError::fail(format!("{expr} → {eb}: {e}")))?;
        let a: Vec<_> = v.upcoming(from).take(12).collect();
        let b: Vec<_> = back.upcoming(from).take(12).collect();
        prop_assert_eq!(&a, &b, "{} → {}", expr, eb);
        let round = back.to_vercel().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let c: Vec<_> = Schedule::vercel(&round)
            .map_err(|e| TestCaseError::fail(format!("{eb} → {round}: {e}")))?
            .upcoming(from).take(12).collect();
        prop_assert_eq!(&a, &c, "{} → {} → {}", expr, eb, round);
    }

    #[test]
    fn zoned_schedules_never_stop_early(
        expr in eventbridge_expression(),
        zone in prop::sample::select(vec!["America/New_York", "Europe/Paris", "Australia/Lord_Howe"]),
        around in prop::sample::select(vec![
            "2026-03-08T06:30:00Z", "2026-11-01T05:10:00Z", "2026-11-01T06:10:00Z",
            "2026-03-29T00:30:00Z", "2026-10-25T00:40:00Z", "2026-04-04T15:15:00Z",
        ]),
        offset_min in 0i64..120,
    ) {
        prop_assume!(expr.ends_with(" *)"), "a year range may end the schedule");
        let from = DateTime::parse_from_rfc3339(around).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
            + Duration::minutes(offset_min);
        let utc = Schedule::parse(&expr).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let zoned = utc.clone().in_zone(zone).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let in_utc = utc.upcoming(from).take(6).count();
        let times: Vec<_> = zoned.upcoming(from).take(6).collect();
        // Shifting the wall clock by a few hours cannot end a schedule that never ends in UTC.
        prop_assert_eq!(times.len(), in_utc, "{} in {} from {}: {:?}", expr, zone, from, times);
        let mut previous = from;
        for t in &times {
            prop_assert!(*t > previous, "{expr} in {zone}: {t} does not follow {previous}");
            prop_assert!(zoned.matches(*t), "{expr} in {zone}: {t} does not match");
            previous = *t;
        }
    }

    #[test]
    fn parsers_never_panic(expr in "\\PC{0,40}") {
        let _ = Schedule::parse_as(&expr, Dialect::Vercel);
        let _ = Schedule::parse_as(&expr, Dialect::EventBridge);
    }
}
