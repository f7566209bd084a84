//! `next 100` fire times for a mix of expressions of both dialects, through overtime's
//! `Schedule::upcoming` against croner used directly on the same patterns (the pattern croner
//! is given is the one a user of croner would write: Quartz weekdays and a year for
//! EventBridge). Parsing happens once, outside the measured loop. The ratio is what counts.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use overtime::schedule::Schedule;
use std::hint::black_box;

const NEXT: usize = 100;

/// (overtime expression, zone, croner pattern, Quartz weekdays + seconds + year).
const MIX: &[(&str, &str, &str, bool)] = &[
    ("*/5 * * * *", "UTC", "*/5 * * * *", false),
    ("0 5 * * *", "UTC", "0 5 * * *", false),
    ("0 22 * * 1-5", "UTC", "0 22 * * 1-5", false),
    ("cron(0/15 * * * ? *)", "UTC", "0 0/15 * * * ? *", true),
    ("cron(0 18 ? * MON-FRI *)", "UTC", "0 0 18 ? * 2-6 *", true),
    ("cron(0 9 ? * 2#1 *)", "UTC", "0 0 9 ? * 2#1 *", true),
    ("cron(0 12 L * ? *)", "UTC", "0 0 12 L * ? *", true),
    ("cron(0 3 * * ? *)", "Europe/Paris", "0 0 3 * * ? *", true),
];

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn schedules(c: &mut Criterion) {
    let ours: Vec<Schedule> = MIX
        .iter()
        .map(|(e, z, _, _)| {
            Schedule::parse(e)
                .and_then(|s| s.in_zone(z))
                .expect("valid")
        })
        .collect();
    let theirs: Vec<(Cron, Tz)> = MIX
        .iter()
        .map(|(_, z, pattern, quartz)| {
            let parser = if *quartz {
                CronParser::builder()
                    .seconds(Seconds::Required)
                    .year(Year::Required)
                    .alternative_weekdays(true)
                    .build()
            } else {
                CronParser::new()
            };
            (
                parser.parse(pattern).expect("croner pattern"),
                z.parse().expect("zone"),
            )
        })
        .collect();
    // Both sides compute the same instants.
    for (s, (cron, tz)) in ours.iter().zip(&theirs) {
        let a: Vec<_> = s.upcoming(start()).take(NEXT).collect();
        let mut t = start().with_timezone(tz);
        let b: Vec<_> = (0..NEXT)
            .map(|_| {
                t = cron.find_next_occurrence(&t, false).expect("next");
                t.with_timezone(&Utc)
            })
            .collect();
        assert_eq!(a, b, "{}", s.expression());
    }

    let mut group = c.benchmark_group("next-100");
    group.throughput(Throughput::Elements(MIX.len() as u64));
    group.bench_function("croner", |b| {
        b.iter(|| {
            for (cron, tz) in &theirs {
                let mut t = start().with_timezone(tz);
                for _ in 0..NEXT {
                    t = cron.find_next_occurrence(&t, false).expect("next");
                    black_box(t.with_timezone(&Utc));
                }
            }
        })
    });
    group.bench_function("overtime", |b| {
        b.iter(|| {
            for s in &ours {
                for t in s.upcoming(start()).take(NEXT) {
                    black_box(t);
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, schedules);
criterion_main!(benches);
