//! EventBridge's dialect: `cron(min hour dom month dow year)`, `rate(N unit)` and
//! `at(yyyy-mm-ddThh:mm:ss)`, as EventBridge rules and EventBridge Scheduler accept them.

use chrono::NaiveDateTime;
use croner::parser::{CronParser, Seconds, Year};

use super::field::{self, Field, FieldSpec};
use super::vercel::{plain, words};
use super::{CronFields, ErrorKind, Kind, RateUnit, ScheduleError};

/// The earliest year EventBridge accepts in the year field.
pub(crate) const YEAR_MIN: u16 = 1970;
/// The latest year EventBridge accepts in the year field.
pub(crate) const YEAR_MAX: u16 = 2199;

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// EventBridge numbers weekdays 1=SUN..7=SAT.
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const fn spec(name: &'static str, min: u16, max: u16) -> FieldSpec {
    FieldSpec::plain(name, min, max, true)
}

const FIELDS: [FieldSpec; 6] = [
    spec("minutes", 0, 59),
    spec("hours", 0, 23),
    FieldSpec {
        question: true,
        last_and_weekday: true,
        ..spec("day-of-month", 1, 31)
    },
    FieldSpec {
        names: MONTHS,
        ..spec("month", 1, 12)
    },
    // AWS lists `, - * ? L #` for day-of-week: no `/`.
    FieldSpec {
        names: WEEKDAYS,
        question: true,
        nth: true,
        steps: false,
        ..spec("day-of-week", 1, 7)
    },
    spec("year", YEAR_MIN, YEAR_MAX),
];

pub(super) fn parse(expression: &str) -> Result<Kind, ScheduleError> {
    let lead = expression.len() - expression.trim_start().len();
    let body = expression.trim();
    let whole = lead..lead + body.len();
    let (name, inner) = match body.split_once('(') {
        Some((name, rest)) if rest.ends_with(')') => (name, &rest[..rest.len() - 1]),
        Some((name, _)) if ["cron", "rate", "at"].contains(&name) => {
            return Err(ScheduleError::new(
                ErrorKind::Syntax,
                whole,
                format!("`{name}(` is not closed: end the expression with `)`"),
            ));
        }
        _ => {
            return Err(ScheduleError::new(
                ErrorKind::Syntax,
                whole,
                "EventBridge expressions are `cron(min hour dom month dow year)`, `rate(N unit)` or `at(yyyy-mm-ddThh:mm:ss)`",
            ));
        }
    };
    let inner_at = lead + name.len() + 1;
    match name {
        "cron" => cron(inner, inner_at),
        "rate" => rate(inner, inner_at),
        "at" => at(inner, inner_at),
        _ => Err(ScheduleError::new(
            ErrorKind::Syntax,
            lead..lead + name.len(),
            format!(
                "unknown expression `{name}(…)`: use `cron(…)`, `rate(…)` or `at(…)` (lower case)"
            ),
        )),
    }
}

fn cron(inner: &str, at: usize) -> Result<Kind, ScheduleError> {
    let span = at..at + inner.len();
    let words = words(inner, at);
    if words.len() != 6 {
        let hint = match words.len() {
            5 => "; add the year field, `*` for every year",
            7 => "; EventBridge has no seconds field",
            _ => "",
        };
        return Err(ScheduleError::new(
            ErrorKind::FieldCount,
            span,
            format!(
                "cron() takes 6 fields (minutes hours day-of-month month day-of-week year); this one has {}{hint}",
                words.len()
            ),
        ));
    }
    let mut fields: Vec<Field> = Vec::with_capacity(6);
    for ((at, text), spec) in words.iter().zip(FIELDS.iter()) {
        fields.push(field::parse(text, *at, spec)?);
    }
    let [minutes, hours, days, months, weekdays, years]: [Field; 6] = match fields.try_into() {
        Ok(f) => f,
        Err(_) => return Err(ScheduleError::new(ErrorKind::FieldCount, span, "6 fields")),
    };
    let day_span = words[2].0..words[4].0 + words[4].1.len();
    match (days.question, weekdays.question) {
        (false, false) => {
            return Err(ScheduleError::new(
                ErrorKind::DayFields,
                day_span,
                "EventBridge needs `?` in day-of-month or day-of-week: use `?` in day-of-week to run on the days of the month given, or in day-of-month to run on the weekdays given",
            ));
        }
        (true, true) => {
            return Err(ScheduleError::new(
                ErrorKind::DayFields,
                day_span,
                "only one of day-of-month and day-of-week can be `?`; put `*` in the other to run every day",
            ));
        }
        _ => {}
    }
    let mut dom_items = Vec::new();
    if days.star {
        dom_items.push("*".to_owned());
    } else {
        if days.values.count() > 0 {
            dom_items.push(field::compress(days.values.iter()));
        }
        if days.last_day {
            dom_items.push("L".to_owned());
        }
        dom_items.extend(days.nearest_weekday.iter().map(|d| format!("{d}W")));
    }
    let mut dow_items = Vec::new();
    if weekdays.star {
        dow_items.push("*".to_owned());
    } else {
        if weekdays.values.count() > 0 {
            dow_items.push(field::compress(weekdays.values.iter()));
        }
        dow_items.extend(weekdays.nth.iter().map(|(d, n)| format!("{d}#{n}")));
        dow_items.extend(weekdays.last_weekday.iter().map(|d| format!("{d}#L")));
    }
    let pattern = format!(
        "0 {} {} {} {} {} {}",
        plain(&minutes),
        plain(&hours),
        dom_items.join(","),
        plain(&months),
        dow_items.join(","),
        plain(&years),
    );
    let cron = super::croner_parse(
        CronParser::builder()
            .seconds(Seconds::Required)
            .year(Year::Required)
            .alternative_weekdays(true)
            .build(),
        &pattern,
        span.clone(),
    )?;
    Ok(Kind::Cron(Box::new(CronFields {
        minutes,
        hours,
        days,
        months,
        weekdays,
        years: Some(years),
        cron,
    })))
}

fn rate(inner: &str, at: usize) -> Result<Kind, ScheduleError> {
    let span = at..at + inner.len();
    let words = words(inner, at);
    let [(value_at, value), (unit_at, unit)] = words[..] else {
        return Err(ScheduleError::new(
            ErrorKind::Rate,
            span,
            "rate() takes a value and a unit, e.g. `rate(5 minutes)` or `rate(1 hour)`",
        ));
    };
    let value_span = value_at..value_at + value.len();
    let unit_span = unit_at..unit_at + unit.len();
    let n = match value.parse::<u32>() {
        Ok(n) if n >= 1 && value.chars().all(|c| c.is_ascii_digit()) => n,
        _ => {
            return Err(ScheduleError::new(
                ErrorKind::Rate,
                value_span,
                format!("the rate value `{value}` must be a positive whole number"),
            ));
        }
    };
    let (unit_kind, plural) = match unit {
        "minute" => (RateUnit::Minute, false),
        "minutes" => (RateUnit::Minute, true),
        "hour" => (RateUnit::Hour, false),
        "hours" => (RateUnit::Hour, true),
        "day" => (RateUnit::Day, false),
        "days" => (RateUnit::Day, true),
        _ => {
            return Err(ScheduleError::new(
                ErrorKind::Rate,
                unit_span,
                format!("`{unit}` is not a rate unit: use minute(s), hour(s) or day(s)"),
            ));
        }
    };
    match (n == 1, plural) {
        (true, true) => Err(ScheduleError::new(
            ErrorKind::Rate,
            unit_span,
            format!(
                "a rate of 1 takes the singular unit: write `rate(1 {})`",
                &unit[..unit.len() - 1]
            ),
        )),
        (false, false) => Err(ScheduleError::new(
            ErrorKind::Rate,
            unit_span,
            format!("a rate above 1 takes the plural unit: write `rate({n} {unit}s)`"),
        )),
        _ => Ok(Kind::Rate {
            value: n,
            unit: unit_kind,
        }),
    }
}

fn at(inner: &str, at: usize) -> Result<Kind, ScheduleError> {
    let span = at..at + inner.len();
    let parsed = (inner.len() == 19)
        .then(|| NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S").ok())
        .flatten();
    parsed.map(Kind::At).ok_or_else(|| {
        ScheduleError::new(
            ErrorKind::At,
            span,
            format!(
                "`{inner}` is not a date and time: at() takes `yyyy-mm-ddThh:mm:ss`, e.g. `at(2026-12-31T23:30:00)`, in the schedule's time zone"
            ),
        )
    })
}
