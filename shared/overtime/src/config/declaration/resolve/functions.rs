//! `[functions.NAME]`: names, environment variables, timeout, memory and the queues each sends to.

use toml::Spanned;

use super::{Sections, check_name, env_var_problem, too_long};
use crate::config::declaration::raw::{Raw, RawFunction};
use crate::config::declaration::{Architecture, Function};
use crate::limits::{LAMBDA_MAX_FUNCTION_NAME_CHARS, LAMBDA_MAX_TIMEOUT_SECS, LAMBDA_MEMORY_MB};

impl Sections<'_, '_> {
    /// `[functions.NAME]`.
    pub(super) fn functions(&mut self, raw: &Raw) -> Vec<Function> {
        raw.functions
            .iter()
            .map(|(name, f)| self.function(raw, name, f))
            .collect()
    }

    fn function(&mut self, raw: &Raw, name: &Spanned<String>, f: &RawFunction) -> Function {
        check_name(self.report, name, "function");
        self.unique(name, "function");
        too_long(
            self.report,
            name.span().start,
            "the function name",
            format!("{}-{}", self.project, name.get_ref()),
            LAMBDA_MAX_FUNCTION_NAME_CHARS,
        );
        let report = &mut *self.report;
        for (var, value) in f
            .queues
            .iter()
            .map(|(k, v)| (k, v.span().start))
            .chain(f.environment.keys().map(|k| (k, name.span().start)))
        {
            if let Some(problem) = env_var_problem(var) {
                report.error(value, format!("environment variable `{var}` {problem}"));
            }
        }
        let timeout = f.timeout.as_ref().map_or(30, |t| {
            let v = *t.get_ref();
            if !(1..=LAMBDA_MAX_TIMEOUT_SECS).contains(&v) {
                report.error(
                    t.span().start,
                    format!("timeout must be 1-{LAMBDA_MAX_TIMEOUT_SECS} seconds (Lambda's limit), not {v}"),
                );
            }
            v
        });
        let memory = f.memory.as_ref().map_or(256, |m| {
            let v = *m.get_ref();
            if !LAMBDA_MEMORY_MB.contains(&v) {
                report.error(
                    m.span().start,
                    format!(
                        "memory must be {}-{} MB (Lambda's limit), not {v}",
                        LAMBDA_MEMORY_MB.start(),
                        LAMBDA_MEMORY_MB.end()
                    ),
                );
            }
            v
        });
        for (var, queue) in &f.queues {
            if !raw.queues.keys().any(|q| q.get_ref() == queue.get_ref()) {
                report.error(
                    queue.span().start,
                    format!(
                        "no queue `{}` is declared: add [queues.{}] or fix the name",
                        queue.get_ref(),
                        queue.get_ref()
                    ),
                );
            }
            if f.environment.contains_key(var) {
                report.error(
                    queue.span().start,
                    format!("`{var}` is set in both queues and environment; keep one"),
                );
            }
        }
        Function {
            name: name.get_ref().clone(),
            binary: f.binary.clone().unwrap_or_else(|| name.get_ref().clone()),
            timeout,
            memory,
            architecture: f.architecture.unwrap_or(Architecture::Arm64),
            queues: f
                .queues
                .iter()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect(),
            environment: f.environment.clone(),
            url: f.url,
            runs: f.runs,
            events: f.events,
        }
    }
}

/// The timeout of the function declared as `name`, if there is one.
pub(super) fn timeout_of(functions: &[Function], name: &str) -> Option<u32> {
    functions.iter().find(|f| f.name == name).map(|f| f.timeout)
}
