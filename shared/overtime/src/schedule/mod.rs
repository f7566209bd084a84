//! Schedule expressions in the two dialects overtime deploys to: validate them the way each
//! platform does, compute their fire times, and translate between them.
//!
//! - **Vercel** (`vercel.json` `crons`): Unix cron, 5 fields, always UTC. Vercel rejects names
//!   (`MON`, `JAN`) and an expression that restricts both day-of-month and day-of-week.
//! - **EventBridge** (rules and Scheduler): `cron(min hour dom month dow year)` with `?` in exactly
//!   one of the day fields, `L`, `W`, `#`, names, years 1970–2199, weekdays numbered 1=SUN..7=SAT;
//!   `rate(N unit)`; `at(yyyy-mm-ddThh:mm:ss)`; and an optional IANA time zone.
//!
//! Fire times come from the [`croner`] crate; this module parses each dialect itself, so errors
//! point at the offending field and say how to fix it, and so [`Schedule::matches`] is an
//! independent reading of the expression that tests hold croner's answers against.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use overtime::schedule::Schedule;
//!
//! let weekdays = Schedule::parse("cron(0 18 ? * MON-FRI *)")?;
//! let from = Utc.with_ymd_and_hms(2026, 11, 27, 19, 0, 0).unwrap(); // a Friday evening
//! let next: Vec<_> = weekdays.upcoming(from).take(2).map(|t| t.to_rfc3339()).collect();
//! assert_eq!(next, ["2026-11-30T18:00:00+00:00", "2026-12-01T18:00:00+00:00"]);
//!
//! // The same schedule as Vercel writes it (Unix weekdays: 1=MON).
//! assert_eq!(weekdays.to_vercel()?, "0 18 * * 1-5");
//!
//! // Bad expressions say what to fix.
//! let err = Schedule::parse("cron(0 18 * * MON-FRI *)").unwrap_err();
//! assert!(err.to_string().contains("`?`"));
//! # Ok::<(), overtime::schedule::ScheduleError>(())
//! ```

mod eventbridge;
mod field;
mod translate;
mod vercel;

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, NaiveDateTime, SubsecRound as _, TimeDelta, TimeZone, Timelike, Utc,
};
/// IANA time zones, as [`Schedule::zone`] returns them.
pub use chrono_tz::Tz;

use field::Field;

/// Which platform's rules an expression follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Vercel cron jobs: Unix cron, 5 fields, UTC.
    Vercel,
    /// EventBridge rules and Scheduler: `cron(…)`, `rate(…)`, `at(…)`.
    EventBridge,
}

impl Dialect {
    /// The dialect an expression is written in: EventBridge for `cron(…)`, `rate(…)` and
    /// `at(…)`, Vercel for anything else.
    pub fn detect(expression: &str) -> Dialect {
        let e = expression.trim_start();
        if ["cron(", "rate(", "at("].iter().any(|p| e.starts_with(p)) {
            Dialect::EventBridge
        } else {
            Dialect::Vercel
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Vercel => "vercel",
            Dialect::EventBridge => "eventbridge",
        })
    }
}

impl FromStr for Dialect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "vercel" | "unix" => Ok(Dialect::Vercel),
            "eventbridge" | "aws" => Ok(Dialect::EventBridge),
            other => Err(format!(
                "unknown dialect `{other}`: use `vercel` or `eventbridge`"
            )),
        }
    }
}

/// What went wrong with an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Nothing to parse.
    Empty,
    /// Malformed: a stray character, an empty item, a bad step.
    Syntax,
    /// The wrong number of fields for the dialect.
    FieldCount,
    /// A value outside its field's range, or a backwards range.
    OutOfRange,
    /// A name the dialect does not accept, or a word that is no name.
    Name,
    /// The rule for the day-of-month and day-of-week fields is broken.
    DayFields,
    /// A feature the dialect lacks (`L`, `W`, `#`, `LW`, `@daily`).
    Unsupported,
    /// A malformed `rate(…)`.
    Rate,
    /// A malformed `at(…)`.
    At,
    /// An unknown time zone, or one the dialect cannot take.
    TimeZone,
    /// The expression has no equivalent in the other dialect.
    Untranslatable,
}

/// An invalid expression: what is wrong, where, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScheduleError {
    /// The kind of problem.
    pub kind: ErrorKind,
    /// Byte range of the offending part within the expression.
    pub span: Range<usize>,
    /// The problem and its fix, for people.
    pub message: String,
}

impl ScheduleError {
    pub(crate) fn new(kind: ErrorKind, span: Range<usize>, message: impl Into<String>) -> Self {
        ScheduleError {
            kind,
            span,
            message: message.into(),
        }
    }
}

/// A validated schedule expression, ready to compute fire times.
#[derive(Debug, Clone)]
pub struct Schedule {
    dialect: Dialect,
    expression: String,
    zone: Tz,
    kind: Kind,
}

#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Cron(Box<CronFields>),
    Rate { value: u32, unit: RateUnit },
    At(NaiveDateTime),
}

/// The unit of an EventBridge `rate(…)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateUnit {
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    fn seconds(self) -> i64 {
        match self {
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86_400,
        }
    }
}

/// The fields of a cron expression, in the dialect's own numbering, and croner's reading of it.
#[derive(Debug, Clone)]
pub(crate) struct CronFields {
    pub(crate) minutes: Field,
    pub(crate) hours: Field,
    pub(crate) days: Field,
    pub(crate) months: Field,
    pub(crate) weekdays: Field,
    /// EventBridge only.
    pub(crate) years: Option<Field>,
    pub(crate) cron: croner::Cron,
}

impl Schedule {
    /// Parses an expression in the dialect it is written in ([`Dialect::detect`]), in UTC.
    pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
        Schedule::parse_as(expression, Dialect::detect(expression))
    }

    /// Parses an expression under one dialect's rules, in UTC.
    pub fn parse_as(expression: &str, dialect: Dialect) -> Result<Schedule, ScheduleError> {
        if expression.trim().is_empty() {
            return Err(ScheduleError::new(
                ErrorKind::Empty,
                0..expression.len(),
                "the schedule expression is empty",
            ));
        }
        let kind = match dialect {
            Dialect::Vercel => vercel::parse(expression)?,
            Dialect::EventBridge => eventbridge::parse(expression)?,
        };
        Ok(Schedule {
            dialect,
            expression: expression.to_owned(),
            zone: Tz::UTC,
            kind,
        })
    }

    /// Parses a Vercel cron expression.
    pub fn vercel(expression: &str) -> Result<Schedule, ScheduleError> {
        Schedule::parse_as(expression, Dialect::Vercel)
    }

    /// Parses an EventBridge expression (`cron(…)`, `rate(…)` or `at(…)`).
    pub fn eventbridge(expression: &str) -> Result<Schedule, ScheduleError> {
        Schedule::parse_as(expression, Dialect::EventBridge)
    }

    /// Evaluates the schedule in an IANA time zone (`Europe/Paris`), as EventBridge Scheduler's
    /// `ScheduleExpressionTimezone` does. Vercel runs in UTC only; the error's span is empty
    /// because the zone is not part of the expression.
    pub fn in_zone(mut self, zone: &str) -> Result<Schedule, ScheduleError> {
        let tz: Tz = zone.parse().map_err(|_| {
            ScheduleError::new(
                ErrorKind::TimeZone,
                0..0,
                format!(
                    "`{zone}` is not an IANA time zone: use a name like `Europe/Paris` or `UTC`"
                ),
            )
        })?;
        if self.dialect == Dialect::Vercel && !is_utc(tz) {
            return Err(ScheduleError::new(
                ErrorKind::TimeZone,
                0..0,
                format!(
                    "Vercel cron jobs always run in UTC; remove the time zone `{zone}` and write the expression in UTC"
                ),
            ));
        }
        self.zone = tz;
        Ok(self)
    }

    /// The dialect the expression was parsed under.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone fire times are computed in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first fire time strictly after `after`, or `None` when the schedule never fires again
    /// (a past `at(…)`, a year range that has ended).
    ///
    /// A `rate(…)` has no fixed times: it fires every interval from when it was created, so this
    /// treats `after` as that moment.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.upcoming(after).next()
    }

    /// Fire times strictly after `after`, in order. Daylight saving time follows EventBridge
    /// Scheduler: a wall-clock time that does not exist (the hour skipped in spring) is skipped,
    /// and one that happens twice (the hour repeated in autumn) fires once, the first time.
    pub fn upcoming(&self, after: DateTime<Utc>) -> Upcoming<'_> {
        let inner = match &self.kind {
            Kind::Cron(fields) => UpcomingInner::Cron {
                schedule: self,
                cron: &fields.cron,
                // Fire times are whole minutes; croner keeps the start's fraction of a second.
                cursor: after.trunc_subsecs(0).with_timezone(&self.zone),
            },
            Kind::Rate { value, unit } => UpcomingInner::Rate {
                next: after,
                every: TimeDelta::seconds(i64::from(*value) * unit.seconds()),
            },
            Kind::At(local) => UpcomingInner::At(
                local
                    .and_local_timezone(self.zone)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .filter(|t| *t > after),
            ),
        };
        Upcoming { inner }
    }

    /// Whether the expression names this instant, read from the parsed fields (not from croner).
    /// A `rate(…)` names no fixed instant and never matches.
    pub fn matches(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.zone).naive_local();
        match &self.kind {
            Kind::At(when) => *when == local,
            Kind::Rate { .. } => false,
            Kind::Cron(f) => {
                local.second() == 0
                    && local.nanosecond() == 0
                    && f.minutes.values.has(local.minute() as u16)
                    && f.hours.values.has(local.hour() as u16)
                    && f.months.values.has(local.month() as u16)
                    && f.years.as_ref().is_none_or(|y| {
                        u16::try_from(local.year()).is_ok_and(|year| y.values.has(year))
                    })
                    && self.day_matches(f, local)
            }
        }
    }

    fn day_matches(&self, f: &CronFields, local: NaiveDateTime) -> bool {
        let date = local.date();
        let day = date.day() as u16;
        let last = days_in_month(date.year(), date.month()) as u16;
        let sunday_based = date.weekday().num_days_from_sunday() as u16;
        let dom = || {
            f.days.values.has(day)
                || (f.days.last_day && day == last)
                || f.days
                    .nearest_weekday
                    .iter()
                    .any(|n| nearest_weekday(n, last, date) == Some(day))
        };
        let weekday = match self.dialect {
            Dialect::EventBridge => sunday_based + 1,
            Dialect::Vercel => sunday_based,
        };
        let dow = || {
            f.weekdays.values.has(weekday)
                || (self.dialect == Dialect::Vercel && weekday == 0 && f.weekdays.values.has(7))
                || f.weekdays
                    .nth
                    .iter()
                    .any(|(d, n)| *d == weekday && (day - 1) / 7 + 1 == *n)
                || (f.weekdays.last_weekday.has(weekday) && day + 7 > last)
        };
        match (f.days.restricts(), f.weekdays.restricts()) {
            (true, true) => dom() || dow(),
            (true, false) => dom(),
            (false, true) => dow(),
            (false, false) => true,
        }
    }

    /// Advice that is not an error: limits of a plan or platform the expression runs into.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let (Dialect::Vercel, Kind::Cron(f)) = (self.dialect, &self.kind)
            && (f.minutes.values.count() > 1 || f.hours.values.count() > 1)
        {
            out.push(
                "runs more than once a day: Vercel's Hobby plan allows one run a day per cron job (the deploy fails there); Pro and Enterprise allow one a minute"
                    .to_owned(),
            );
        }
        out
    }

    /// The schedule in Vercel's dialect, or why it has none.
    pub fn to_vercel(&self) -> Result<String, ScheduleError> {
        translate::to_vercel(self)
    }

    /// The schedule in EventBridge's dialect (for a `cron(…)`; the zone stays a separate setting).
    pub fn to_eventbridge(&self) -> Result<String, ScheduleError> {
        translate::to_eventbridge(self)
    }

    /// The schedule in the given dialect.
    pub fn to_dialect(&self, dialect: Dialect) -> Result<String, ScheduleError> {
        match dialect {
            Dialect::Vercel => self.to_vercel(),
            Dialect::EventBridge => self.to_eventbridge(),
        }
    }

    #[cfg(test)]
    pub(crate) fn kind(&self) -> &Kind {
        &self.kind
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

/// Fire times of a [`Schedule`], from [`Schedule::upcoming`].
pub struct Upcoming<'a> {
    inner: UpcomingInner<'a>,
}

enum UpcomingInner<'a> {
    Cron {
        schedule: &'a Schedule,
        cron: &'a croner::Cron,
        cursor: DateTime<Tz>,
    },
    Rate {
        next: DateTime<Utc>,
        every: TimeDelta,
    },
    At(Option<DateTime<Utc>>),
}

impl Iterator for Upcoming<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        match &mut self.inner {
            UpcomingInner::Cron {
                schedule,
                cron,
                cursor,
            } => loop {
                let t = cron.find_next_occurrence(cursor, false).ok()?;
                if t <= *cursor {
                    // croner searches wall-clock time and answers the first pass of a repeated
                    // autumn hour; from inside the second pass that lies behind us. Nothing
                    // fires in a second pass (Scheduler runs a repeated time once), so move
                    // past it and search again.
                    *cursor = end_of_repeat(schedule.zone, cursor)?;
                    continue;
                }
                *cursor = t;
                let utc = t.with_timezone(&Utc);
                if schedule.zone == Tz::UTC || fires_in_zone(schedule, utc) {
                    return Some(utc);
                }
            },
            UpcomingInner::Rate { next, every } => {
                *next = next.checked_add_signed(*every)?;
                Some(*next)
            }
            UpcomingInner::At(at) => at.take(),
        }
    }
}

/// The last second before the wall clock leaves the repeated hour `cursor` is in.
fn end_of_repeat(zone: Tz, cursor: &DateTime<Tz>) -> Option<DateTime<Tz>> {
    let mut t = cursor.with_timezone(&Utc);
    // Repeats last an hour (30 minutes on Lord Howe Island); three hours bounds the walk.
    for _ in 0..180 {
        t += TimeDelta::minutes(1);
        let local = t.with_timezone(&zone).naive_local();
        if !matches!(
            zone.from_local_datetime(&local),
            chrono::LocalResult::Ambiguous(..)
        ) {
            let t = t.trunc_subsecs(0) - TimeDelta::seconds(1);
            return Some(t.with_timezone(&zone));
        }
    }
    None
}

/// EventBridge Scheduler's reading of DST for a time croner found: croner moves a time that
/// falls in a spring gap to the end of the gap, and can report a repeated autumn hour twice;
/// Scheduler skips the first and fires the second once.
fn fires_in_zone(schedule: &Schedule, utc: DateTime<Utc>) -> bool {
    if !schedule.matches(utc) {
        return false;
    }
    let local = utc.with_timezone(&schedule.zone).naive_local();
    match schedule.zone.from_local_datetime(&local) {
        chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc) == utc,
        _ => true,
    }
}

fn is_utc(tz: Tz) -> bool {
    matches!(
        tz,
        Tz::UTC
            | Tz::Etc__UTC
            | Tz::Etc__UCT
            | Tz::Etc__Universal
            | Tz::Etc__Zulu
            | Tz::UCT
            | Tz::Universal
            | Tz::Zulu
            | Tz::Etc__GMT
            | Tz::GMT
    )
}

/// Hands a pattern this module has already validated to croner; a refusal is a bug here, but
/// reported as an error on the expression rather than a panic.
pub(crate) fn croner_parse(
    parser: croner::parser::CronParser,
    pattern: &str,
    span: Range<usize>,
) -> Result<croner::Cron, ScheduleError> {
    parser.parse(pattern).map_err(|e| {
        ScheduleError::new(
            ErrorKind::Syntax,
            span,
            format!("croner rejected `{pattern}`: {e}"),
        )
    })
}

pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

/// The weekday (Mon–Fri) nearest day `n` of the month, never leaving the month (Quartz's `nW`).
fn nearest_weekday(n: u16, last: u16, date: chrono::NaiveDate) -> Option<u16> {
    if n > last {
        return None;
    }
    let target = date.with_day(u32::from(n))?;
    let day = match target.weekday() {
        chrono::Weekday::Sat if n == 1 => n + 2,
        chrono::Weekday::Sat => n - 1,
        chrono::Weekday::Sun if n == last => n - 2,
        chrono::Weekday::Sun => n + 1,
        _ => n,
    };
    Some(day)
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
