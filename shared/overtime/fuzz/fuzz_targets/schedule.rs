//! Any text, in either dialect: parsing never panics; a valid expression's fire times are
//! ordered, match the expression, and its translations parse and fire at the same instants.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use overtime::schedule::{Dialect, Schedule, Tz};

const ZONES: [&str; 4] = ["UTC", "America/New_York", "Europe/Paris", "Australia/Lord_Howe"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let dialect = if selector & 1 == 0 { Dialect::Vercel } else { Dialect::EventBridge };
    let Ok(schedule) = Schedule::parse_as(text, dialect) else { return };
    let from = Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).single().unwrap_or_default();
    let zone = ZONES[usize::from(selector >> 1) % ZONES.len()];
    let schedule = match schedule.clone().in_zone(zone) {
        Ok(zoned) => zoned,
        Err(_) => schedule,
    };
    let times: Vec<_> = schedule.upcoming(from).take(5).collect();
    for pair in times.windows(2) {
        assert!(pair[0] < pair[1], "{text}: fire times out of order: {times:?}");
    }
    let has_fixed_times = !text.trim_start().starts_with("rate(");
    if has_fixed_times {
        for t in &times {
            assert!(schedule.matches(*t), "{text} in {zone}: {t} does not match");
        }
    }
    for target in [Dialect::Vercel, Dialect::EventBridge] {
        if let Ok(translated) = schedule.to_dialect(target) {
            let again = Schedule::parse_as(&translated, target)
                .unwrap_or_else(|e| panic!("{text} → {translated}: {e}"));
            if schedule.zone() == Tz::UTC {
                let other: Vec<_> = again.upcoming(from).take(5).collect();
                assert_eq!(times, other, "{text} → {translated}");
            }
        }
    }
});
