//! Vercel's dialect: Unix cron with 5 fields, in UTC, without names, `L`, `W`, `#` or `?`, and
//! with at most one of day-of-month and day-of-week restricted.

use croner::parser::{CronParser, Seconds, Year};

use super::field::{self, FieldSpec};
use super::{CronFields, ErrorKind, Kind, ScheduleError};

const fn spec(name: &'static str, min: u16, max: u16) -> FieldSpec {
    FieldSpec::plain(name, min, max, false)
}

const FIELDS: [FieldSpec; 5] = [
    spec("minute", 0, 59),
    spec("hour", 0, 23),
    spec("day-of-month", 1, 31),
    spec("month", 1, 12),
    // 0 and 7 are both Sunday.
    spec("day-of-week", 0, 7),
];

/// Splits an expression into its whitespace-separated words with their byte offsets.
pub(super) fn words(expression: &str, base: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in expression.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((base + s, &expression[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((base + s, &expression[s..]));
    }
    out
}

pub(super) fn parse(expression: &str) -> Result<Kind, ScheduleError> {
    let whole = 0..expression.len();
    let trimmed = expression.trim_start();
    if trimmed.starts_with('@') {
        return Err(ScheduleError::new(
            ErrorKind::Unsupported,
            whole,
            "Vercel does not accept `@daily`-style nicknames; write the 5 fields, e.g. `0 0 * * *` for daily at midnight UTC",
        ));
    }
    if super::Dialect::detect(expression) == super::Dialect::EventBridge {
        return Err(ScheduleError::new(
            ErrorKind::Syntax,
            whole,
            "this is an EventBridge expression; Vercel takes a 5-field Unix cron expression like `0 5 * * *`",
        ));
    }
    let words = words(expression, 0);
    if words.len() != 5 {
        let hint = if words.len() == 6 {
            " (Vercel has no seconds or year field)"
        } else {
            ""
        };
        return Err(ScheduleError::new(
            ErrorKind::FieldCount,
            whole,
            format!(
                "Vercel cron expressions have 5 fields (minute hour day-of-month month day-of-week, in UTC); this one has {}{hint}",
                words.len()
            ),
        ));
    }
    let mut fields = Vec::with_capacity(5);
    for ((at, text), spec) in words.iter().zip(FIELDS.iter()) {
        fields.push(field::parse(text, *at, spec)?);
    }
    let [minutes, hours, days, months, weekdays]: [field::Field; 5] = match fields.try_into() {
        Ok(f) => f,
        Err(_) => return Err(ScheduleError::new(ErrorKind::FieldCount, whole, "5 fields")),
    };
    if days.restricts() && weekdays.restricts() {
        let span = words[2].0..words[4].0 + words[4].1.len();
        return Err(ScheduleError::new(
            ErrorKind::DayFields,
            span,
            "Vercel does not accept both day-of-month and day-of-week restricted; set one of them to `*`",
        ));
    }

    let weekday_values = weekdays.values.iter().map(|d| d % 7).collect::<Vec<_>>();
    let mut sorted = weekday_values;
    sorted.sort_unstable();
    sorted.dedup();
    let pattern = format!(
        "{} {} {} {} {}",
        plain(&minutes),
        plain(&hours),
        plain(&days),
        plain(&months),
        if weekdays.star {
            "*".to_owned()
        } else {
            field::compress(sorted)
        }
    );
    let cron = super::croner_parse(
        CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build(),
        &pattern,
        whole.clone(),
    )?;
    Ok(Kind::Cron(Box::new(CronFields {
        minutes,
        hours,
        days,
        months,
        weekdays,
        years: None,
        cron,
    })))
}

/// A field with plain values only, as croner reads it.
pub(super) fn plain(f: &field::Field) -> String {
    if f.star {
        "*".to_owned()
    } else {
        field::compress(f.values.iter())
    }
}
