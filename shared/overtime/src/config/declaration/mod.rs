//! `infra/overtime.toml`: the one declaration of the functions, queues, schedules, event
//! source mappings and event listeners overtime deploys to AWS, with AWS's guidance as the
//! defaults.

mod listeners;
mod raw;
mod resolve;
mod schedules;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{ConfigError, Diagnostic, Report};
use crate::schedule::Schedule;
use raw::Raw;

pub use listeners::{EventDecl, LISTENER_INPUT_PATHS, Listener};

/// Project-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Prefix of every resource name (`<name>-jobs`).
    pub name: String,
    /// Who deploys the schedules: the template (default) or `overtime schedules sync`.
    pub schedules: ScheduleDeploy,
}

/// Who deploys a project's schedules. One of the two, never both, so no schedule fires twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleDeploy {
    /// `infra/template.yaml` declares them (`sam deploy`).
    #[default]
    Template,
    /// `overtime schedules sync` manages them in its own schedule group; the template declares
    /// only the role they run as and their dead-letter queue.
    Sync,
}

/// A Lambda function built from one binary of `functions/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The declaration's name for it (`[functions.NAME]`).
    pub name: String,
    /// The Cargo binary (`cargo lambda build --bin`); the name unless set.
    pub binary: String,
    /// Seconds (default 30).
    pub timeout: u32,
    /// MB (default 256).
    pub memory: u32,
    /// `arm64` (default) or `x86_64`.
    pub architecture: Architecture,
    /// Environment variables that hold a queue's URL: variable → queue name.
    pub queues: BTreeMap<String, String>,
    /// Other environment variables.
    pub environment: BTreeMap<String, String>,
    /// Whether the function has a public Lambda function URL (for HTTP routes).
    pub url: bool,
    /// Whether the function runs durable work (chunked jobs, memoized steps): it gets the
    /// DynamoDB run store (`OVERTIME_RUN_STORE`) and access to it.
    pub runs: bool,
    /// Whether the function sends events: it gets the project's bus (`OVERTIME_EVENT_BUS`)
    /// and `events:PutEvents` on that bus only.
    pub events: bool,
}

/// A Lambda instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Graviton: cheaper per millisecond.
    Arm64,
    /// Intel and AMD.
    X86_64,
}

impl Architecture {
    /// As Lambda spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }
}

/// An SQS queue, with its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDecl {
    /// The declaration's name for it (`[queues.NAME]`).
    pub name: String,
    /// A FIFO queue (its SQS name ends in `.fifo`).
    pub fifo: bool,
    /// Seconds; by default six times the longest timeout of the functions consuming it.
    pub visibility_timeout: u32,
    /// Receives before a message moves to the dead-letter queue (default 5).
    pub max_receives: u32,
    /// Seconds a message is delayed by default.
    pub delay: u32,
}

impl QueueDecl {
    /// Its SQS name, on AWS and under `overtime dev` alike: `<project>-<name>`, with `.fifo`
    /// for a FIFO queue.
    pub fn sqs_name(&self, project: &str) -> String {
        let base = format!("{project}-{}", self.name);
        if self.fifo { base + ".fifo" } else { base }
    }

    /// Its dead-letter queue's SQS name: `<project>-<name>-dlq`, with `.fifo` for FIFO.
    pub fn dead_letter_name(&self, project: &str) -> String {
        let base = format!("{project}-{}-dlq", self.name);
        if self.fifo { base + ".fifo" } else { base }
    }
}

/// What a schedule invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A function, with the schedule's payload as its input.
    Function(String),
    /// A queue: each tick sends one job message, the payload as the job.
    Queue {
        /// The queue's name in the declaration.
        queue: String,
        /// The job's [`Job::NAME`](crate::Job::NAME).
        job: String,
    },
}

/// An EventBridge Scheduler schedule.
#[derive(Debug, Clone)]
pub struct ScheduleDecl {
    /// The declaration's name for it (`[schedules.NAME]`).
    pub name: String,
    /// The validated expression, in its time zone.
    pub schedule: Schedule,
    /// IANA time zone, if not UTC.
    pub timezone: Option<String>,
    /// What it invokes.
    pub target: Target,
    /// JSON passed to the target (`null` when unset).
    pub payload: serde_json::Value,
    /// Whether the schedule runs (default true).
    pub enabled: bool,
    /// Line of the schedule in the file, for messages.
    pub line: usize,
}

/// An SQS event source mapping: a queue feeding a function, with partial batch responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The queue's name in the declaration.
    pub queue: String,
    /// The function's name in the declaration.
    pub function: String,
    /// Messages per invocation (default 10).
    pub batch_size: u32,
    /// Seconds to gather a batch (default 0).
    pub batching_window: u32,
    /// Most concurrent invocations, if limited.
    pub max_concurrency: Option<u32>,
}

/// The whole declaration, validated.
#[derive(Debug, Clone)]
pub struct Declaration {
    /// Project-wide settings.
    pub project: Project,
    /// Functions, by name.
    pub functions: Vec<Function>,
    /// Queues, by name.
    pub queues: Vec<QueueDecl>,
    /// Schedules, by name.
    pub schedules: Vec<ScheduleDecl>,
    /// Event source mappings, in file order.
    pub mappings: Vec<Mapping>,
    /// Declared event types, by name.
    pub events: Vec<EventDecl>,
    /// Event listeners, in file order.
    pub listeners: Vec<Listener>,
}

impl Declaration {
    /// Reads and validates a declaration file.
    pub fn load(path: impl AsRef<Path>) -> Result<(Declaration, Vec<Diagnostic>), ConfigError> {
        let path = path.as_ref();
        let text = super::read_file(path)?;
        Declaration::parse(path, &text)
    }

    /// Validates a declaration's text; `path` only names the file in diagnostics. On success,
    /// returns the declaration and its warnings.
    pub fn parse(
        path: impl AsRef<Path>,
        text: &str,
    ) -> Result<(Declaration, Vec<Diagnostic>), ConfigError> {
        let mut report = Report::new(path.as_ref(), text);
        let raw: Raw = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let at = e.span().map_or(0, |s| s.start);
                report.error(at, e.message().trim().replace('\n', " "));
                let empty = Declaration {
                    project: Project {
                        name: String::new(),
                        schedules: ScheduleDeploy::Template,
                    },
                    functions: vec![],
                    queues: vec![],
                    schedules: vec![],
                    mappings: vec![],
                    events: vec![],
                    listeners: vec![],
                };
                return report.finish(empty);
            }
        };
        let declaration = resolve::resolve(raw, text, &mut report);
        report.finish(declaration)
    }

    /// A function by its declared name.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// A queue by its declared name.
    pub fn queue(&self, name: &str) -> Option<&QueueDecl> {
        self.queues.iter().find(|q| q.name == name)
    }

    /// A declared event type by its name.
    pub fn event(&self, name: &str) -> Option<&EventDecl> {
        self.events.iter().find(|e| e.name == name)
    }

    /// The project's EventBridge bus: `<project>-events`.
    pub fn bus_name(&self) -> String {
        format!("{}-events", self.project.name)
    }

    /// Whether the project has a bus: something listens or some function sends events.
    pub fn uses_events(&self) -> bool {
        !self.listeners.is_empty() || self.functions.iter().any(|f| f.events)
    }
}

impl ScheduleDecl {
    /// The input EventBridge Scheduler passes to the target, with Scheduler's context
    /// placeholders: for a function, the tick shape [`Tick`](crate::cron::Tick) reads; for a
    /// queue, an overtime envelope whose idempotency key is the tick's (schedule, scheduled time).
    pub fn input(&self) -> String {
        let json = match &self.target {
            Target::Function(_) => serde_json::json!({
                "overtime": "tick",
                "schedule": "<aws.scheduler.schedule-arn>",
                "scheduledTime": "<aws.scheduler.scheduled-time>",
                "payload": self.payload,
            }),
            Target::Queue { job, .. } => serde_json::json!({
                "v": crate::envelope::ENVELOPE_VERSION,
                "job": job,
                "id": "<aws.scheduler.execution-id>",
                "key": format!("{}@<aws.scheduler.scheduled-time>", self.name),
                "payload": self.payload,
            }),
        };
        json.to_string()
    }
}

/// `sync-accounts` → `SyncAccounts`: the CloudFormation logical id stem of a name.
pub fn logical_id(name: &str) -> String {
    name.split(['-', '_', '.'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}
