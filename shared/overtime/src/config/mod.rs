//! Reads the two places schedules and infrastructure are declared, `infra/overtime.toml` and
//! `vercel.json`, and reports every problem as `file:line:col: severity: message`.
//!
//! ```
//! use overtime::config::Declaration;
//!
//! let toml = r#"
//! [functions.worker]
//! timeout = 60
//!
//! [queues.jobs]
//!
//! [[mappings]]
//! queue = "jobs"
//! function = "worker"
//!
//! [schedules.nightly]
//! expression = "cron(0 3 * * ? *)"
//! timezone = "Europe/Paris"
//! function = "worker"
//! "#;
//! let (declaration, warnings) = Declaration::parse("infra/overtime.toml", toml)?;
//! assert!(warnings.is_empty());
//! // AWS guidance: a queue's visibility timeout is at least six times its consumer's timeout.
//! assert_eq!(declaration.queue("jobs").unwrap().visibility_timeout, 360);
//!
//! let bad = "[functions.worker]\ntimeout = 901\n";
//! let err = Declaration::parse("infra/overtime.toml", bad).unwrap_err();
//! assert_eq!(err.to_string(), "infra/overtime.toml:2:11: error: timeout must be 1-900 seconds (Lambda's limit), not 901");
//! # Ok::<(), overtime::config::ConfigError>(())
//! ```

mod declaration;
mod vercel;

use std::fmt;
use std::path::{Path, PathBuf};

pub use declaration::{
    Architecture, Declaration, EventDecl, Function, LISTENER_INPUT_PATHS, Listener, Mapping,
    Project, QueueDecl, ScheduleDecl, ScheduleDeploy, Target, logical_id,
};
pub use vercel::{VercelConfig, VercelCron};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing; the configuration still deploys.
    Warning,
    /// The configuration must be fixed.
    Error,
}

/// One problem in a configuration file, located at a line and column (both from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as given to the parser.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(
            f,
            "{}:{}:{}: {severity}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// A configuration with at least one error; holds every diagnostic found, warnings included.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// Errors first, then warnings, each in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Collects diagnostics for one file, turning byte offsets into lines and columns.
#[derive(Debug)]
pub(crate) struct Report<'a> {
    file: &'a Path,
    text: &'a str,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl<'a> Report<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Report {
            file,
            text,
            diagnostics: Vec::new(),
        }
    }

    pub(crate) fn at(&mut self, offset: usize, severity: Severity, message: impl Into<String>) {
        let (line, column) = line_column(self.text, offset);
        self.diagnostics.push(Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            severity,
            message: message.into(),
        });
    }

    pub(crate) fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.at(offset, Severity::Error, message);
    }

    pub(crate) fn warn(&mut self, offset: usize, message: impl Into<String>) {
        self.at(offset, Severity::Warning, message);
    }

    /// The value if nothing went wrong, else every diagnostic as the error.
    pub(crate) fn finish<T>(mut self, value: T) -> Result<(T, Vec<Diagnostic>), ConfigError> {
        self.diagnostics
            .sort_by_key(|d| (std::cmp::Reverse(d.severity), d.line, d.column));
        if self
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
        {
            Err(ConfigError {
                diagnostics: self.diagnostics,
            })
        } else {
            Ok((value, self.diagnostics))
        }
    }
}

/// Reads a configuration file; a file that cannot be read is a diagnostic like any other.
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError {
        diagnostics: vec![Diagnostic {
            file: path.to_path_buf(),
            line: 1,
            column: 1,
            severity: Severity::Error,
            message: format!("cannot read {}: {e}", path.display()),
        }],
    })
}

/// Line and column (in characters), both from 1, of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod listener_tests;
#[cfg(test)]
mod tests;
