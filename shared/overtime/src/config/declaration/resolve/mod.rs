//! From the raw TOML to a [`Declaration`]: project, functions, queues, mappings, schedules,
//! events and listeners, each validated in that order, with the naming rules they share.

mod functions;
mod listeners;
mod mappings;
mod queues;

use std::collections::HashMap;

use toml::Spanned;

use super::raw::Raw;
use super::schedules::schedule;
use super::{Declaration, Project, ScheduleDecl, logical_id};
use crate::config::Report;
use crate::limits::{IAM_MAX_ROLE_NAME_CHARS, SCHEDULER_MAX_NAME_CHARS, SQS_MAX_QUEUE_NAME_CHARS};

/// Validates every section of `raw`, reporting into `report`; what it returns is only
/// deployable when no error was reported.
pub(super) fn resolve(raw: Raw, text: &str, report: &mut Report<'_>) -> Declaration {
    let project = project(&raw, report);
    let mut sections = Sections {
        report,
        project: project.name.clone(),
        seen: HashMap::new(),
    };
    let functions = sections.functions(&raw);
    let queues = sections.queues(&raw, &functions);
    let mappings = sections.mappings(&raw, &functions);
    let schedules = sections.schedules(&raw, text);
    let events = sections.events(&raw);
    let listeners = sections.listeners(&raw, text, &events);
    Declaration {
        project,
        functions,
        queues,
        schedules,
        mappings,
        events,
        listeners,
    }
}

/// `[project]`, and the project-wide resource names it prefixes.
fn project(raw: &Raw, report: &mut Report<'_>) -> Project {
    let project = Project {
        name: match &raw.project {
            Some(p) => {
                let name = p.name.get_ref();
                if !valid_name(name) {
                    report.error(
                        p.name.span().start,
                        format!("project name `{name}` must be letters, digits, `-` or `_` (it prefixes AWS resource names)"),
                    );
                }
                name.clone()
            }
            None => "overtime".to_owned(),
        },
        schedules: raw
            .project
            .as_ref()
            .map(|p| p.schedules)
            .unwrap_or_default(),
    };
    let project_at = raw.project.as_ref().map_or(0, |p| p.name.span().start);
    too_long(
        report,
        project_at,
        "the scheduler role name",
        format!("{}-scheduler", project.name),
        IAM_MAX_ROLE_NAME_CHARS,
    );
    too_long(
        report,
        project_at,
        "the schedules' dead-letter queue name",
        format!("{}-schedules-dlq", project.name),
        SQS_MAX_QUEUE_NAME_CHARS,
    );
    project
}

/// What the sections after `[project]` share while they are validated.
struct Sections<'r, 'a> {
    report: &'r mut Report<'a>,
    /// The project's name, which prefixes every resource name.
    project: String,
    /// CloudFormation logical ids taken so far, lowercased, by kind: the name that took each.
    seen: HashMap<(String, &'static str), String>,
}

impl Sections<'_, '_> {
    /// `[schedules.NAME]`; one that does not validate is left out.
    fn schedules(&mut self, raw: &Raw, text: &str) -> Vec<ScheduleDecl> {
        let mut schedules = Vec::new();
        for (name, s) in &raw.schedules {
            check_name(self.report, name, "schedule");
            self.unique(name, "schedule");
            too_long(
                self.report,
                name.span().start,
                "the schedule name",
                format!("{}-{}", self.project, name.get_ref()),
                SCHEDULER_MAX_NAME_CHARS,
            );
            if let Some(decl) = schedule(name, s, raw, text, self.report) {
                schedules.push(decl);
            }
        }
        schedules
    }

    /// Names that differ only in case or separators would share a CloudFormation logical id.
    fn unique(&mut self, name: &Spanned<String>, kind: &'static str) {
        let id = logical_id(name.get_ref());
        if let Some(other) = self
            .seen
            .insert((id.to_lowercase(), kind), name.get_ref().clone())
        {
            self.report.error(name.span().start, format!("{kind} `{}` and `{other}` would share the CloudFormation id `{id}`; rename one", name.get_ref()));
        }
    }
}

/// An AWS resource name, `full`, must fit that resource's longest name, `limit`.
fn too_long(report: &mut Report<'_>, at: usize, what: &str, full: String, limit: usize) {
    if full.len() > limit {
        report.error(at, format!("{what} `{full}` is {} characters, over AWS's {limit}; shorten the project or the name", full.len()));
    }
}

/// Lambda's rule for environment variable names, and the names it reserves.
fn env_var_problem(var: &str) -> Option<&'static str> {
    let mut chars = var.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        Some("must start with a letter and hold only letters, digits and `_` (Lambda's rule)")
    } else if crate::env::LAMBDA_RESERVED.contains(&var) {
        Some("is reserved by Lambda; choose another name")
    } else {
        None
    }
}

/// The longest name in `overtime.toml`: overtime's own rule, the shortest of the AWS names a
/// declared name becomes part of (Lambda functions, Scheduler schedules, IAM roles: 64).
const MAX_NAME_CHARS: usize = 64;

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_name(report: &mut Report<'_>, name: &Spanned<String>, what: &str) {
    if !valid_name(name.get_ref()) {
        report.error(
            name.span().start,
            format!("{what} name `{}` must be 1-{MAX_NAME_CHARS} letters, digits, `-` or `_` (it becomes part of AWS resource names)", name.get_ref()),
        );
    }
}
