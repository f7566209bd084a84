//! Translation between the dialects, exact or refused: a translated schedule fires at exactly the
//! same instants as the original.

use super::field::{self, Field};
use super::{Dialect, ErrorKind, Kind, RateUnit, Schedule, ScheduleError};

fn refuse(s: &Schedule, message: String) -> ScheduleError {
    ScheduleError::new(ErrorKind::Untranslatable, 0..s.expression.len(), message)
}

pub(super) fn to_vercel(s: &Schedule) -> Result<String, ScheduleError> {
    if s.dialect == Dialect::Vercel {
        return Ok(s.expression.trim().to_owned());
    }
    if !super::is_utc(s.zone) {
        return Err(refuse(
            s,
            format!(
                "Vercel cron runs in UTC only; `{}` in {} is not evaluated in UTC, so no Vercel expression fires at the same instants",
                s.expression,
                s.zone.name()
            ),
        ));
    }
    let f = match &s.kind {
        Kind::Cron(f) => f,
        Kind::At(_) => {
            return Err(refuse(
                s,
                "Vercel has no one-time schedules; at() has no Vercel equivalent".to_owned(),
            ));
        }
        Kind::Rate { value, unit } => {
            let aligned = match (unit, value) {
                (RateUnit::Minute, n) if 60 % n == 0 => Some(format!("*/{n} * * * *")),
                (RateUnit::Hour, n) if 24 % n == 0 => Some(format!("0 */{n} * * *")),
                (RateUnit::Day, 1) => Some("0 0 * * *".to_owned()),
                _ => None,
            };
            let hint = aligned
                .map(|a| format!("; the clock-aligned schedule closest to it is `{a}`"))
                .unwrap_or_default();
            return Err(refuse(
                s,
                format!(
                    "rate() counts from when the schedule was created, Vercel cron from the clock, so their fire times differ{hint}"
                ),
            ));
        }
    };
    if f.years.as_ref().is_some_and(|y| y.restricts()) {
        return Err(refuse(
            s,
            "Vercel has no year field; a schedule limited to some years has no Vercel equivalent"
                .to_owned(),
        ));
    }
    if !f.days.is_plain() || !f.weekdays.is_plain() {
        return Err(refuse(
            s,
            "Vercel has no `L`, `W` or `#`; this schedule has no Vercel equivalent".to_owned(),
        ));
    }
    let dow = if f.weekdays.star {
        "*".to_owned()
    } else {
        let mut unix: Vec<u16> = f.weekdays.values.iter().map(|d| d - 1).collect();
        unix.sort_unstable();
        field::compress(unix)
    };
    Ok(format!(
        "{} {} {} {} {dow}",
        render(&f.minutes, 0, 59, Dialect::Vercel),
        render(&f.hours, 0, 23, Dialect::Vercel),
        render(&f.days, 1, 31, Dialect::Vercel),
        render(&f.months, 1, 12, Dialect::Vercel),
    ))
}

pub(super) fn to_eventbridge(s: &Schedule) -> Result<String, ScheduleError> {
    if s.dialect == Dialect::EventBridge {
        return Ok(s.expression.trim().to_owned());
    }
    let Kind::Cron(f) = &s.kind else {
        return Err(refuse(s, "not a cron expression".to_owned()));
    };
    let (dom, dow) = if f.weekdays.star {
        (render(&f.days, 1, 31, Dialect::EventBridge), "?".to_owned())
    } else {
        let mut eb: Vec<u16> = f.weekdays.values.iter().map(|d| d % 7 + 1).collect();
        eb.sort_unstable();
        eb.dedup();
        ("?".to_owned(), field::compress(eb))
    };
    Ok(format!(
        "cron({} {} {dom} {} {dow} *)",
        render(&f.minutes, 0, 59, Dialect::EventBridge),
        render(&f.hours, 0, 23, Dialect::EventBridge),
        render(&f.months, 1, 12, Dialect::EventBridge),
    ))
}

/// A plain field in the notation both dialects share: `*`, `a/s` for a step to the end of the
/// field, or a list of values and ranges.
fn render(f: &Field, min: u16, max: u16, dialect: Dialect) -> String {
    if f.star {
        return "*".to_owned();
    }
    let values: Vec<u16> = f.values.iter().collect();
    if let [first, second, ..] = values[..] {
        let step = second - first;
        let progression = values.windows(2).all(|w| w[1] - w[0] == step);
        let last = values[values.len() - 1];
        if progression && step > 1 && last + step > max {
            // Vixie cron (Vercel) has no `a/s`; EventBridge documents `0/15` rather than `*/15`.
            return match (dialect, first == min) {
                (Dialect::Vercel, true) => format!("*/{step}"),
                (Dialect::Vercel, false) => format!("{first}-{max}/{step}"),
                (Dialect::EventBridge, _) => format!("{first}/{step}"),
            };
        }
    }
    field::compress(values)
}
