//! `overtime schedules check` and `overtime schedules next`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use overtime::config::{Declaration, Diagnostic, Severity, VercelConfig};
use overtime::schedule::{Dialect, Schedule, ScheduleError};

/// Where the project's files are: the nearest directory upwards with `infra/overtime.toml` or
/// `vercel.json`, else the current directory.
pub(crate) fn find_root(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(root) = explicit {
        return root;
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|d| d.join(DECLARATION).is_file() || d.join(VERCEL).is_file())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The declaration, relative to the project root.
pub(crate) const DECLARATION: &str = "infra/overtime.toml";
/// Vercel's project configuration, relative to the project root.
pub(crate) const VERCEL: &str = "vercel.json";

/// How to name a file of the project in messages: relative to the current directory when the
/// project is the current directory, else the full path.
pub(crate) fn shown(root: &Path, file: &str) -> PathBuf {
    let cwd = std::env::current_dir().ok();
    if cwd.as_deref() == Some(root) || root == Path::new(".") {
        PathBuf::from(file)
    } else {
        root.join(file)
    }
}

fn never_fires(file: &Path, line: usize, what: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line,
        column: 1,
        severity: Severity::Warning,
        message: format!(
            "{what} never fires again: it has no fire time after now (its last one passed, or it falls in an hour daylight saving time skips); remove or fix it"
        ),
    }
}

/// Checks every schedule of `vercel.json` and `infra/overtime.toml`; prints one line per problem.
pub(crate) fn check(root: &Path, now: DateTime<Utc>) -> ExitCode {
    let mut diagnostics: Vec<Diagnostic> = Vec::new();
    let mut checked = Vec::new();
    let mut count = 0;

    let vercel = root.join(VERCEL);
    if vercel.is_file() {
        let shown = shown(root, VERCEL);
        checked.push(shown.display().to_string());
        match overtime::config::read_file(&vercel)
            .and_then(|text| VercelConfig::parse(&shown, &text))
        {
            Ok((config, warnings)) => {
                diagnostics.extend(warnings);
                for cron in &config.crons {
                    count += 1;
                    if cron.schedule.next_after(now).is_none() {
                        diagnostics.push(never_fires(
                            &shown,
                            cron.line,
                            &format!("`{}`", cron.schedule),
                        ));
                    }
                    let route = cron
                        .path
                        .split('?')
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches('/');
                    let has_route = ["rs", "ts", "js", "py", "go"]
                        .iter()
                        .any(|ext| root.join(format!("{route}.{ext}")).is_file());
                    if !has_route {
                        diagnostics.push(Diagnostic {
                            file: shown.clone(),
                            line: cron.line,
                            column: 1,
                            severity: Severity::Warning,
                            message: format!("no file {route}.rs serves the cron path `{}`; Vercel will call a route that does not exist", cron.path),
                        });
                    }
                }
            }
            Err(e) => diagnostics.extend(e.diagnostics),
        }
    }

    let declaration = root.join(DECLARATION);
    if declaration.is_file() {
        let shown = shown(root, DECLARATION);
        checked.push(shown.display().to_string());
        match overtime::config::read_file(&declaration)
            .and_then(|text| Declaration::parse(&shown, &text))
        {
            Ok((d, warnings)) => {
                diagnostics.extend(warnings);
                for s in &d.schedules {
                    count += 1;
                    if s.schedule.next_after(now).is_none() {
                        diagnostics.push(never_fires(
                            &shown,
                            s.line,
                            &format!("schedule `{}`", s.name),
                        ));
                    }
                }
            }
            Err(e) => diagnostics.extend(e.diagnostics),
        }
    }

    if checked.is_empty() {
        eprintln!(
            "error: neither {VERCEL} nor {DECLARATION} found in {}; run inside the project or pass --root",
            root.display()
        );
        return ExitCode::FAILURE;
    }
    for d in &diagnostics {
        println!("{d}");
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    eprintln!(
        "checked {count} schedule(s) in {}: {errors} error(s), {warnings} warning(s)",
        checked.join(" and ")
    );
    if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints the next fire times of an expression, one RFC 3339 UTC timestamp per line.
pub(crate) fn next(
    expression: &str,
    dialect: Option<Dialect>,
    from: Option<DateTime<Utc>>,
    count: usize,
    zone: Option<&str>,
) -> ExitCode {
    let dialect = dialect.unwrap_or_else(|| Dialect::detect(expression));
    let parsed = Schedule::parse_as(expression, dialect).and_then(|s| match zone {
        Some(z) => s.in_zone(z),
        None => Ok(s),
    });
    let schedule = match parsed {
        Ok(s) => s,
        Err(e) => {
            eprint!("{}", explain(expression, dialect, &e));
            return ExitCode::from(2);
        }
    };
    let from = from.unwrap_or_else(Utc::now);
    let mut printed = 0;
    for t in schedule.upcoming(from).take(count) {
        println!("{}", t.to_rfc3339_opts(SecondsFormat::Secs, true));
        printed += 1;
    }
    if printed < count {
        eprintln!(
            "note: `{expression}` fires only {printed} more time(s) after {}",
            from.to_rfc3339_opts(SecondsFormat::Secs, true)
        );
    }
    ExitCode::SUCCESS
}

/// The error, with the expression and a caret under the offending part.
pub(crate) fn explain(expression: &str, dialect: Dialect, e: &ScheduleError) -> String {
    let mut out = format!("error: invalid {dialect} expression: {}\n", e.message);
    if e.span.end > e.span.start || e.span.start < expression.len() {
        let lead = expression
            .get(..e.span.start)
            .map_or(0, |s| s.chars().count());
        let width = expression
            .get(e.span.start..e.span.end.min(expression.len()))
            .map_or(1, |s| s.chars().count().max(1));
        out.push_str(&format!(
            "  {expression}\n  {}{}\n",
            " ".repeat(lead),
            "^".repeat(width)
        ));
    }
    out
}
