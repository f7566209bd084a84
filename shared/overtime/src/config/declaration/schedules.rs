//! One `[schedules.NAME]` table: its expression, time zone, target and payload, checked.

use toml::Spanned;

use super::raw::{Raw, RawSchedule};
use super::{ScheduleDecl, Target};
use crate::config::Report;
use crate::schedule::{Dialect, Schedule};

pub(super) fn schedule(
    name: &Spanned<String>,
    s: &RawSchedule,
    raw: &Raw,
    text: &str,
    report: &mut Report<'_>,
) -> Option<ScheduleDecl> {
    let expr = s.expression.get_ref();
    // The value's span includes its quote; a basic string without escapes maps one to one.
    let start = s.expression.span().start + 1;
    let parsed = if Dialect::detect(expr) == Dialect::Vercel {
        let hint = Schedule::vercel(expr)
            .and_then(|v| v.to_eventbridge())
            .map(|eb| format!(": the EventBridge form of `{expr}` is `{eb}`"))
            .unwrap_or_default();
        report.error(
            start - 1,
            format!(
                "schedules here deploy to EventBridge: write `cron(…)`, `rate(…)` or `at(…)`{hint}"
            ),
        );
        None
    } else {
        match Schedule::eventbridge(expr) {
            Ok(schedule) => Some(schedule),
            Err(e) => {
                report.error(start + e.span.start, e.message);
                None
            }
        }
    };
    let parsed = match (parsed, &s.timezone) {
        (Some(schedule), Some(tz)) => match schedule.in_zone(tz.get_ref()) {
            Ok(s) => Some(s),
            Err(e) => {
                report.error(tz.span().start, e.message);
                None
            }
        },
        (parsed, _) => parsed,
    };
    if let (Some(job), None) = (&s.job, &s.queue) {
        report.error(
            job.span().start,
            "`job` names the job a queue target runs; a function target takes no `job`",
        );
    }
    let target = match (&s.function, &s.queue) {
        (Some(f), None) => {
            if !raw.functions.keys().any(|n| n.get_ref() == f.get_ref()) {
                report.error(
                    f.span().start,
                    format!(
                        "no function `{}` is declared: add [functions.{}] or fix the name",
                        f.get_ref(),
                        f.get_ref()
                    ),
                );
            }
            Target::Function(f.get_ref().clone())
        }
        (None, Some(q)) => {
            if !raw.queues.keys().any(|n| n.get_ref() == q.get_ref()) {
                report.error(
                    q.span().start,
                    format!(
                        "no queue `{}` is declared: add [queues.{}] or fix the name",
                        q.get_ref(),
                        q.get_ref()
                    ),
                );
            }
            let Some(job) = &s.job else {
                report.error(q.span().start, "a schedule that targets a queue needs `job = \"…\"`: the name of the job each tick enqueues");
                return None;
            };
            Target::Queue {
                queue: q.get_ref().clone(),
                job: job.get_ref().clone(),
            }
        }
        _ => {
            report.error(
                name.span().start,
                format!(
                    "schedule `{}` needs exactly one target: `function = \"…\"` or `queue = \"…\"`",
                    name.get_ref()
                ),
            );
            return None;
        }
    };
    let payload = match &s.payload {
        Some(value) => serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    };
    Some(ScheduleDecl {
        name: name.get_ref().clone(),
        schedule: parsed?,
        timezone: s.timezone.as_ref().map(|t| t.get_ref().clone()),
        target,
        payload,
        enabled: s.enabled.unwrap_or(true),
        line: crate::config::line_column(text, name.span().start).0,
    })
}
