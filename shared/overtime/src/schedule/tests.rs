//! Fire times against published examples, DST, leap days and the special characters; every rule
//! of both dialects rejected with its message.

use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn next(expr: &str, from: &str, n: usize) -> Vec<String> {
    let s = Schedule::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
    next_of(&s, from, n)
}

fn next_of(s: &Schedule, from: &str, n: usize) -> Vec<String> {
    s.upcoming(utc(from))
        .take(n)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .inspect(|t| {
            // Every reported time must also satisfy the independent reading of the fields.
            if !matches!(s.kind(), Kind::Rate { .. }) && s.zone() == Tz::UTC {
                assert!(
                    s.matches(utc(t)),
                    "{} reported {t}, which it does not match",
                    s.expression()
                );
            }
        })
        .collect()
}

fn err(expr: &str) -> ScheduleError {
    match Schedule::parse(expr) {
        Ok(_) => panic!("`{expr}` should be rejected"),
        Err(e) => e,
    }
}

// AWS's documented examples (EventBridge Scheduler user guide, "Cron expressions").
#[test]
fn aws_documented_cron_examples() {
    // "Run at 10:00 am (UTC) every day"
    assert_eq!(
        next("cron(0 10 * * ? *)", "2026-11-27T10:00:00Z", 2),
        ["2026-11-28T10:00:00Z", "2026-11-29T10:00:00Z"]
    );
    // "Run at 12:15 pm (UTC) every day"
    assert_eq!(
        next("cron(15 12 * * ? *)", "2026-11-27T00:00:00Z", 1),
        ["2026-11-27T12:15:00Z"]
    );
    // "Run at 6:00 pm (UTC) every Monday through Friday" (2026-11-27 is a Friday)
    assert_eq!(
        next("cron(0 18 ? * MON-FRI *)", "2026-11-27T18:00:00Z", 2),
        ["2026-11-30T18:00:00Z", "2026-12-01T18:00:00Z"]
    );
    // "Run at 8:00 am (UTC) every first day of the month"
    assert_eq!(
        next("cron(0 8 1 * ? *)", "2026-11-27T00:00:00Z", 2),
        ["2026-12-01T08:00:00Z", "2027-01-01T08:00:00Z"]
    );
    // "Run every 15 minutes"
    assert_eq!(
        next("cron(0/15 * * * ? *)", "2026-11-27T23:40:00Z", 3),
        [
            "2026-11-27T23:45:00Z",
            "2026-11-28T00:00:00Z",
            "2026-11-28T00:15:00Z"
        ]
    );
    // "Run every 10 minutes Monday through Friday": Friday evening rolls to Monday.
    assert_eq!(
        next("cron(0/10 * ? * MON-FRI *)", "2026-11-27T23:50:00Z", 1),
        ["2026-11-30T00:00:00Z"]
    );
    // "Run every 5 minutes Monday through Friday between 8:00 am and 5:55 pm (UTC)"
    assert_eq!(
        next("cron(0/5 8-17 ? * MON-FRI *)", "2026-11-27T17:50:00Z", 2),
        ["2026-11-27T17:55:00Z", "2026-11-30T08:00:00Z"]
    );
    // "Run at 9:00 a.m. (UTC) on the first Monday of each month"
    assert_eq!(
        next("cron(0 9 ? * 2#1 *)", "2026-11-27T00:00:00Z", 2),
        ["2026-12-07T09:00:00Z", "2027-01-04T09:00:00Z"]
    );
}

#[test]
fn a_start_with_a_fraction_of_a_second() {
    for zone in ["UTC", "Europe/Paris"] {
        let s = Schedule::parse("cron(0 3 * * ? *)")
            .and_then(|s| s.in_zone(zone))
            .expect("valid");
        let times: Vec<_> = s.upcoming(utc("2026-11-28T01:02:03.5Z")).take(2).collect();
        assert_eq!(times.len(), 2, "{zone}");
        assert!(
            times
                .iter()
                .all(|t| t.timestamp_subsec_nanos() == 0 && s.matches(*t)),
            "{zone}: {times:?}"
        );
    }
}

#[test]
fn aws_rate_and_at() {
    assert_eq!(
        next("rate(5 minutes)", "2026-11-27T10:02:30Z", 2),
        ["2026-11-27T10:07:30Z", "2026-11-27T10:12:30Z"]
    );
    assert_eq!(
        next("rate(1 day)", "2026-02-28T06:00:00Z", 1),
        ["2026-03-01T06:00:00Z"]
    );
    assert_eq!(
        next("at(2026-12-31T23:30:00)", "2026-11-27T00:00:00Z", 5),
        ["2026-12-31T23:30:00Z"]
    );
    assert!(next("at(2020-01-01T00:00:00)", "2026-11-27T00:00:00Z", 1).is_empty());
    let paris = Schedule::parse("at(2026-07-14T22:00:00)")
        .and_then(|s| s.in_zone("Europe/Paris"))
        .expect("valid");
    assert_eq!(
        next_of(&paris, "2026-01-01T00:00:00Z", 1),
        ["2026-07-14T20:00:00Z"]
    );
}

// Vercel's documented examples ("Cron expressions" in the Cron Jobs docs).
#[test]
fn vercel_documented_examples() {
    // The quickstart's `0 5 * * *`: every day at 5:00 am UTC.
    assert_eq!(
        next("0 5 * * *", "2026-11-27T05:00:00Z", 2),
        ["2026-11-28T05:00:00Z", "2026-11-29T05:00:00Z"]
    );
    // `*/5 * * * *`: every five minutes.
    assert_eq!(
        next("*/5 * * * *", "2026-11-27T10:58:00Z", 2),
        ["2026-11-27T11:00:00Z", "2026-11-27T11:05:00Z"]
    );
    // `5 4 * * 0`: 04:05 on Sunday (7 is Sunday too).
    assert_eq!(
        next("5 4 * * 0", "2026-11-27T00:00:00Z", 1),
        ["2026-11-29T04:05:00Z"]
    );
    assert_eq!(
        next("5 4 * * 7", "2026-11-27T00:00:00Z", 1),
        ["2026-11-29T04:05:00Z"]
    );
    // `0 22 * * 1-5`: 22:00 on every weekday.
    assert_eq!(
        next("0 22 * * 1-5", "2026-11-27T22:00:00Z", 1),
        ["2026-11-30T22:00:00Z"]
    );
}

#[test]
fn leap_days_and_month_ends() {
    assert_eq!(
        next("0 0 29 2 *", "2026-11-27T00:00:00Z", 2),
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]
    );
    // `L`: the last day of each month, including February in a leap year.
    assert_eq!(
        next("cron(0 12 L * ? *)", "2028-01-31T12:00:00Z", 3),
        [
            "2028-02-29T12:00:00Z",
            "2028-03-31T12:00:00Z",
            "2028-04-30T12:00:00Z"
        ]
    );
    // Day 31 only in months that have it.
    assert_eq!(
        next("0 0 31 * *", "2026-03-31T00:00:00Z", 2),
        ["2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"]
    );
}

#[test]
fn weekday_specials() {
    // `15W`: the weekday nearest the 15th. 2026-11-15 is a Sunday → Monday the 16th;
    // 2026-08-15 is a Saturday → Friday the 14th.
    assert_eq!(
        next("cron(0 9 15W * ? *)", "2026-11-01T00:00:00Z", 1),
        ["2026-11-16T09:00:00Z"]
    );
    assert_eq!(
        next("cron(0 9 15W * ? *)", "2026-08-01T00:00:00Z", 1),
        ["2026-08-14T09:00:00Z"]
    );
    // `1W` never leaves the month: 2026-08-01 is a Saturday → Monday the 3rd.
    assert_eq!(
        next("cron(0 9 1W * ? *)", "2026-07-31T00:00:00Z", 1),
        ["2026-08-03T09:00:00Z"]
    );
    // `6L`: the last Friday (EventBridge 6 = FRI). November 2026 ends on Monday the 30th.
    assert_eq!(
        next("cron(0 17 ? * 6L *)", "2026-11-01T00:00:00Z", 2),
        ["2026-11-27T17:00:00Z", "2026-12-25T17:00:00Z"]
    );
    // `L` in day-of-week is the last day of the week, Saturday.
    assert_eq!(
        next("cron(0 8 ? * L *)", "2026-11-27T00:00:00Z", 1),
        ["2026-11-28T08:00:00Z"]
    );
    // `FRI#3`: the third Friday.
    assert_eq!(
        next("cron(30 6 ? * FRI#3 *)", "2026-11-01T00:00:00Z", 2),
        ["2026-11-20T06:30:00Z", "2026-12-18T06:30:00Z"]
    );
    // Sunday is 1 in EventBridge, 0 in Vercel: the same instants.
    assert_eq!(
        next("cron(0 0 ? * 1 *)", "2026-11-27T00:00:00Z", 2),
        next("0 0 * * 0", "2026-11-27T00:00:00Z", 2)
    );
}

#[test]
fn wrapping_ranges_on_eventbridge() {
    // AWS's `cron(0/30 20-2 ? * MON-FRI *)`: hours 20-23 and 0-2.
    assert_eq!(
        next("cron(0/30 20-2 ? * MON-FRI *)", "2026-11-26T23:30:00Z", 6),
        [
            "2026-11-27T00:00:00Z",
            "2026-11-27T00:30:00Z",
            "2026-11-27T01:00:00Z",
            "2026-11-27T01:30:00Z",
            "2026-11-27T02:00:00Z",
            "2026-11-27T02:30:00Z"
        ]
    );
    assert_eq!(
        next("cron(0 12 ? * FRI-MON *)", "2026-11-27T13:00:00Z", 4),
        [
            "2026-11-28T12:00:00Z",
            "2026-11-29T12:00:00Z",
            "2026-11-30T12:00:00Z",
            "2026-12-04T12:00:00Z"
        ]
    );
}

#[test]
fn years() {
    assert_eq!(
        next("cron(0 0 1 1 ? 2030-2031)", "2026-11-27T00:00:00Z", 5),
        ["2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z"]
    );
    assert!(next("cron(0 0 * * ? 2020)", "2026-11-27T00:00:00Z", 1).is_empty());
    assert_eq!(
        next("cron(0 0 1 1 ? 2199)", "2026-11-27T00:00:00Z", 1),
        ["2199-01-01T00:00:00Z"]
    );
}

#[test]
fn daylight_saving_time_in_a_zone_with_dst() {
    let ny = |e: &str| {
        Schedule::parse(e)
            .and_then(|s| s.in_zone("America/New_York"))
            .expect("valid")
    };
    // 09:00 local is 14:00 UTC in winter and 13:00 UTC in summer; DST began 2026-03-08.
    assert_eq!(
        next_of(&ny("cron(0 9 * * ? *)"), "2026-03-06T15:00:00Z", 3),
        [
            "2026-03-07T14:00:00Z",
            "2026-03-08T13:00:00Z",
            "2026-03-09T13:00:00Z"
        ]
    );
    // 02:30 does not exist on 2026-03-08 (02:00 → 03:00): Scheduler skips that day's run
    // ("your schedule invocation is skipped", EventBridge Scheduler user guide).
    assert_eq!(
        next_of(&ny("cron(30 2 * * ? *)"), "2026-03-07T12:00:00Z", 2),
        ["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]
    );
    // 01:30 happens twice on 2026-11-01 (02:00 → 01:00): it runs once, at the first.
    assert_eq!(
        next_of(&ny("cron(30 1 * * ? *)"), "2026-10-31T12:00:00Z", 2),
        ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
    );
    // Every 30 minutes through the repeated hour: each wall-clock time once.
    assert_eq!(
        next_of(&ny("cron(0/30 * * * ? *)"), "2026-11-01T04:45:00Z", 3),
        [
            "2026-11-01T05:00:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T07:00:00Z"
        ]
    );
    // And through the skipped hour: 01:30 EST, then 03:00 EDT.
    assert_eq!(
        next_of(&ny("cron(0/30 * * * ? *)"), "2026-03-08T06:15:00Z", 2),
        ["2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z"]
    );
    // Starting inside the second pass of the repeated hour (01:10 EST): nothing fires again
    // until the wall clock leaves it.
    assert_eq!(
        next_of(&ny("cron(0/15 * * * ? *)"), "2026-11-01T06:10:00Z", 2),
        ["2026-11-01T07:00:00Z", "2026-11-01T07:15:00Z"]
    );
    assert_eq!(
        next_of(&ny("cron(30 1 * * ? *)"), "2026-11-01T06:10:00Z", 1),
        ["2026-11-02T06:30:00Z"]
    );
    // A rate is a fixed interval in real time, DST or not.
    assert_eq!(
        next_of(&ny("rate(1 hour)"), "2026-11-01T05:00:00Z", 2),
        ["2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]
    );
}

#[test]
fn translation_is_exact_or_refused() {
    let cases = [
        ("0 18 * * 1-5", "cron(0 18 ? * 2-6 *)"),
        ("*/15 * * * *", "cron(0/15 * * * ? *)"),
        ("0 5 1 * *", "cron(0 5 1 * ? *)"),
        ("30 6 * * 0,6", "cron(30 6 ? * 1,7 *)"),
        ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
    ];
    for (vercel, eventbridge) in cases {
        let v = Schedule::vercel(vercel).expect("valid");
        assert_eq!(v.to_eventbridge().expect("translates"), eventbridge);
        let e = Schedule::eventbridge(eventbridge).expect("translation is valid EventBridge");
        let from = "2026-01-01T00:00:00Z";
        assert_eq!(
            next_of(&v, from, 50),
            next_of(&e, from, 50),
            "{vercel} ≠ {eventbridge}"
        );
    }
    assert_eq!(
        Schedule::parse("cron(0 18 ? * MON-FRI *)").and_then(|s| s.to_vercel()),
        Ok("0 18 * * 1-5".to_owned())
    );
    assert_eq!(
        Schedule::parse("cron(5/20 8-17 * * ? *)").and_then(|s| s.to_vercel()),
        Ok("5-59/20 8-17 * * *".to_owned())
    );
    for (expr, why) in [
        ("rate(5 minutes)", "`*/5 * * * *`"),
        ("at(2026-12-31T23:30:00)", "no one-time"),
        ("cron(0 12 L * ? *)", "no `L`"),
        ("cron(0 0 1 1 ? 2030)", "no year"),
    ] {
        let e = Schedule::parse(expr)
            .expect("valid")
            .to_vercel()
            .expect_err(expr);
        assert_eq!(e.kind, ErrorKind::Untranslatable);
        assert!(e.message.contains(why), "{expr}: {e}");
    }
    let paris = Schedule::parse("cron(0 9 * * ? *)")
        .and_then(|s| s.in_zone("Europe/Paris"))
        .expect("valid");
    assert!(
        paris
            .to_vercel()
            .expect_err("zone")
            .message
            .contains("UTC only")
    );
}

#[test]
fn vercel_rules_are_enforced() {
    let cases: &[(&str, ErrorKind, &str)] = &[
        ("0 5 * * MON", ErrorKind::Name, "names like `MON`"),
        ("0 5 * JAN *", ErrorKind::Name, "names like `JAN`"),
        ("0 5 1 * 1", ErrorKind::DayFields, "set one of them to `*`"),
        ("0 5 * *", ErrorKind::FieldCount, "this one has 4"),
        ("0 0 5 * * *", ErrorKind::FieldCount, "no seconds or year"),
        ("60 * * * *", ErrorKind::OutOfRange, "0-59"),
        ("0 24 * * *", ErrorKind::OutOfRange, "0-23"),
        ("0 0 0 * *", ErrorKind::OutOfRange, "1-31"),
        ("0 0 * 13 *", ErrorKind::OutOfRange, "1-12"),
        ("0 22-2 * * *", ErrorKind::OutOfRange, "runs backwards"),
        ("0 0 * * 8", ErrorKind::OutOfRange, "0-7"),
        ("0 0 L * *", ErrorKind::Name, "`L`"),
        ("0 0 * * 5#2", ErrorKind::Unsupported, "no `L`, `W` or `#`"),
        ("0 0 ? * *", ErrorKind::Syntax, "`?` is not allowed"),
        ("@daily", ErrorKind::Unsupported, "nicknames"),
        (
            "cron(0 5 * * ? *)",
            ErrorKind::Syntax,
            "EventBridge expression",
        ),
        ("*/0 * * * *", ErrorKind::Syntax, "at least 1"),
        ("   ", ErrorKind::Empty, "empty"),
    ];
    for (expr, kind, says) in cases {
        let e = Schedule::vercel(expr).expect_err(expr);
        assert_eq!(e.kind, *kind, "{expr}: {e}");
        assert!(e.message.contains(says), "{expr}: {e}");
    }
    assert_eq!(err("0 5 * * MON").span, 8..11);
    assert!(
        Schedule::vercel("0 5 * * *")
            .expect("valid")
            .warnings()
            .is_empty()
    );
    let hourly = Schedule::vercel("0 * * * *").expect("valid");
    assert!(hourly.warnings()[0].contains("Hobby"));
    assert!(
        Schedule::vercel("0 5 * * *")
            .and_then(|s| s.in_zone("Europe/Paris"))
            .is_err()
    );
}

#[test]
fn eventbridge_rules_are_enforced() {
    let cases: &[(&str, ErrorKind, &str)] = &[
        (
            "cron(0 18 * * MON-FRI *)",
            ErrorKind::DayFields,
            "needs `?`",
        ),
        ("cron(0 18 ? * ? *)", ErrorKind::DayFields, "only one"),
        (
            "cron(0 18 * * ?)",
            ErrorKind::FieldCount,
            "add the year field",
        ),
        (
            "cron(0 0 18 * * ? *)",
            ErrorKind::FieldCount,
            "no seconds field",
        ),
        ("cron(0 0 * * ? 1969)", ErrorKind::OutOfRange, "1970-2199"),
        ("cron(0 0 * * ? 2200)", ErrorKind::OutOfRange, "1970-2199"),
        ("cron(0 0 ? * 0 *)", ErrorKind::OutOfRange, "1-7"),
        ("cron(0 0 ? * 2#6 *)", ErrorKind::OutOfRange, "#1 to #5"),
        ("cron(0 0 ? * FUN *)", ErrorKind::Name, "SUN-SAT"),
        ("cron(0 0 * FOO ? *)", ErrorKind::Name, "JAN-DEC"),
        ("cron(0 0 LW * ? *)", ErrorKind::Unsupported, "`LW`"),
        ("cron(0 0 32W * ? *)", ErrorKind::OutOfRange, "1-31"),
        (
            "cron(0 0 5#2 * ? *)",
            ErrorKind::Unsupported,
            "not supported",
        ),
        (
            "cron(0 0 ? * 3#1,6#3 *)",
            ErrorKind::Syntax,
            "only that one item",
        ),
        (
            "cron(0 ? * * ? *)",
            ErrorKind::Syntax,
            "`?` is not allowed in the hours",
        ),
        ("cron(0 0 * * ? *", ErrorKind::Syntax, "not closed"),
        ("rate(1 minutes)", ErrorKind::Rate, "`rate(1 minute)`"),
        ("rate(5 hour)", ErrorKind::Rate, "`rate(5 hours)`"),
        ("rate(0 minutes)", ErrorKind::Rate, "positive whole number"),
        ("rate(-5 minutes)", ErrorKind::Rate, "positive whole number"),
        (
            "rate(2 weeks)",
            ErrorKind::Rate,
            "minute(s), hour(s) or day(s)",
        ),
        ("rate(5)", ErrorKind::Rate, "a value and a unit"),
        (
            "at(2026-12-31 23:30:00)",
            ErrorKind::At,
            "yyyy-mm-ddThh:mm:ss",
        ),
        (
            "at(2026-02-30T00:00:00)",
            ErrorKind::At,
            "yyyy-mm-ddThh:mm:ss",
        ),
        (
            "every(5 minutes)",
            ErrorKind::Syntax,
            "`cron(…)`, `rate(…)` or `at(…)`",
        ),
    ];
    for (expr, kind, says) in cases {
        let e = Schedule::eventbridge(expr).expect_err(expr);
        assert_eq!(e.kind, *kind, "{expr}: {e}");
        assert!(e.message.contains(says), "{expr}: {e}");
    }
    // Spans point into the expression: the bad year of `cron(0 0 * * ? 2200)`.
    assert_eq!(
        Schedule::eventbridge("cron(0 0 * * ? 2200)")
            .expect_err("year")
            .span,
        15..19
    );
    let zone = Schedule::eventbridge("cron(0 0 * * ? *)")
        .expect("valid")
        .in_zone("Mars/Olympus")
        .expect_err("zone");
    assert_eq!(zone.kind, ErrorKind::TimeZone);
    // Names are case-insensitive, as on AWS.
    assert!(Schedule::eventbridge("cron(0 0 ? jan mon *)").is_ok());
}

#[test]
fn dialects_are_detected() {
    assert_eq!(Dialect::detect("cron(0 0 * * ? *)"), Dialect::EventBridge);
    assert_eq!(Dialect::detect(" rate(1 day)"), Dialect::EventBridge);
    assert_eq!(
        Dialect::detect("at(2026-01-01T00:00:00)"),
        Dialect::EventBridge
    );
    assert_eq!(Dialect::detect("0 5 * * *"), Dialect::Vercel);
    assert_eq!("EventBridge".parse::<Dialect>(), Ok(Dialect::EventBridge));
    assert!("quartz".parse::<Dialect>().is_err());
    let _ = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0);
}
