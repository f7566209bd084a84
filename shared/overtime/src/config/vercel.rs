//! The `crons` of `vercel.json`: each path and schedule checked against Vercel's rules.

use std::path::Path;

use serde::Deserialize;

use super::{ConfigError, Diagnostic, Report};
use crate::limits::VERCEL_MAX_CRONS;
use crate::schedule::Schedule;

/// One entry of `crons`.
#[derive(Debug, Clone)]
pub struct VercelCron {
    /// The route Vercel calls with GET (`/api/cron/cleanup`).
    pub path: String,
    /// The validated schedule (UTC).
    pub schedule: Schedule,
    /// Line of the schedule in the file.
    pub line: usize,
}

/// The parts of `vercel.json` overtime reads.
#[derive(Debug, Clone, Default)]
pub struct VercelConfig {
    /// Cron jobs, in file order.
    pub crons: Vec<VercelCron>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    crons: Vec<RawCron>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCron {
    path: String,
    schedule: String,
}

impl VercelConfig {
    /// Reads and checks `vercel.json`.
    pub fn load(path: impl AsRef<Path>) -> Result<(VercelConfig, Vec<Diagnostic>), ConfigError> {
        let path = path.as_ref();
        let text = super::read_file(path)?;
        VercelConfig::parse(path, &text)
    }

    /// Checks the text of a `vercel.json`; `path` only names the file in diagnostics.
    pub fn parse(
        path: impl AsRef<Path>,
        text: &str,
    ) -> Result<(VercelConfig, Vec<Diagnostic>), ConfigError> {
        let mut report = Report::new(path.as_ref(), text);
        let raw: Raw = match serde_json::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let offset = offset_of(text, e.line(), e.column());
                let message = e.to_string();
                let message = message.split(" at line ").next().unwrap_or(&message);
                report.error(offset, format!("vercel.json is not valid: {message}"));
                return report.finish(VercelConfig::default());
            }
        };
        if raw.crons.len() > VERCEL_MAX_CRONS {
            let at = text.find("\"crons\"").unwrap_or(0);
            report.error(
                at,
                format!(
                    "{} cron jobs: Vercel allows {VERCEL_MAX_CRONS} per project",
                    raw.crons.len()
                ),
            );
        }
        let locations = schedule_offsets(text);
        let mut crons = Vec::new();
        for (i, cron) in raw.crons.into_iter().enumerate() {
            // The offset of the schedule's opening quote; its characters follow one to one
            // unless the string has escapes, which no valid expression has.
            let at = locations.get(i).copied().unwrap_or(0);
            if !cron.path.starts_with('/') {
                report.error(
                    at,
                    format!(
                        "cron path `{}` must start with `/` (it is a route of this deployment)",
                        cron.path
                    ),
                );
            }
            match Schedule::vercel(&cron.schedule) {
                Ok(schedule) => {
                    for warning in schedule.warnings() {
                        report.warn(at, format!("`{}` {warning}", cron.schedule));
                    }
                    crons.push(VercelCron {
                        path: cron.path,
                        line: super::line_column(text, at).0,
                        schedule,
                    });
                }
                Err(e) => report.error(at + 1 + e.span.start, e.message),
            }
        }
        report.finish(VercelConfig { crons })
    }
}

/// Byte offset of a 1-based line and column as serde_json reports them.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// Offsets of the value of each `"schedule"` key inside `"crons"`, in order. serde_json keeps
/// no positions, so this scans the text the parse has already proven well-formed.
fn schedule_offsets(text: &str) -> Vec<usize> {
    let Some(crons) = text.find("\"crons\"") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut rest = crons;
    while let Some(found) = text[rest..].find("\"schedule\"") {
        let after_key = rest + found + "\"schedule\"".len();
        let value = text[after_key..]
            .char_indices()
            .find(|(_, c)| !c.is_whitespace() && *c != ':')
            .map_or(after_key, |(i, _)| after_key + i);
        out.push(value);
        rest = after_key;
    }
    out
}
