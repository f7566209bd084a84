//! `infra/overtime.toml`: the one declaration of the functions, queues, schedules and event
//! source mappings overtime deploys to AWS, with AWS's guidance as the defaults.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Diagnostic, Report};
use crate::limits::{
    LAMBDA_MAX_TIMEOUT_SECS, LAMBDA_MEMORY_MB, MAPPING_BATCH_SIZE_MAX,
    MAPPING_BATCH_SIZE_WITHOUT_WINDOW, MAPPING_BATCHING_WINDOW_MAX_SECS,
    MAPPING_FIFO_BATCH_SIZE_MAX, MAPPING_MAX_CONCURRENCY, MAPPING_VISIBILITY_PER_TIMEOUT,
    SQS_MAX_VISIBILITY_SECS, SQS_MIN_RECOMMENDED_RECEIVES,
};
use crate::schedule::{Dialect, Schedule};

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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    project: Option<RawProject>,
    #[serde(default)]
    functions: BTreeMap<Spanned<String>, RawFunction>,
    #[serde(default)]
    queues: BTreeMap<Spanned<String>, RawQueue>,
    #[serde(default)]
    schedules: BTreeMap<Spanned<String>, RawSchedule>,
    #[serde(default)]
    mappings: Vec<RawMapping>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: Spanned<String>,
    #[serde(default)]
    schedules: ScheduleDeploy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    binary: Option<String>,
    timeout: Option<Spanned<u32>>,
    memory: Option<Spanned<u32>>,
    architecture: Option<Architecture>,
    #[serde(default)]
    queues: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    url: bool,
    #[serde(default)]
    runs: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    #[serde(default)]
    fifo: bool,
    visibility_timeout: Option<Spanned<u32>>,
    max_receives: Option<Spanned<u32>>,
    #[serde(default)]
    delay: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    expression: Spanned<String>,
    timezone: Option<Spanned<String>>,
    function: Option<Spanned<String>>,
    queue: Option<Spanned<String>>,
    job: Option<Spanned<String>>,
    payload: Option<toml::Value>,
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    queue: Spanned<String>,
    function: Spanned<String>,
    batch_size: Option<Spanned<u32>>,
    batching_window: Option<Spanned<u32>>,
    max_concurrency: Option<Spanned<u32>>,
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
                };
                return report.finish(empty);
            }
        };
        let declaration = resolve(raw, text, &mut report);
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
}

fn resolve(raw: Raw, text: &str, report: &mut Report<'_>) -> Declaration {
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
    // Longest names AWS takes: Lambda functions, Scheduler schedules and IAM roles 64, SQS 80.
    let too_long = |report: &mut Report<'_>, at: usize, what: &str, full: String, limit: usize| {
        if full.len() > limit {
            report.error(at, format!("{what} `{full}` is {} characters, over AWS's {limit}; shorten the project or the name", full.len()));
        }
    };
    too_long(
        report,
        project_at,
        "the scheduler role name",
        format!("{}-scheduler", project.name),
        64,
    );
    too_long(
        report,
        project_at,
        "the schedules' dead-letter queue name",
        format!("{}-schedules-dlq", project.name),
        80,
    );
    // Names that differ only in case or separators would share a CloudFormation logical id.
    let mut seen: std::collections::HashMap<(String, &str), String> =
        std::collections::HashMap::new();
    let mut unique = |report: &mut Report<'_>, name: &Spanned<String>, kind: &'static str| {
        let id = logical_id(name.get_ref());
        if let Some(other) = seen.insert((id.to_lowercase(), kind), name.get_ref().clone()) {
            report.error(name.span().start, format!("{kind} `{}` and `{other}` would share the CloudFormation id `{id}`; rename one", name.get_ref()));
        }
    };

    let mut functions = Vec::new();
    for (name, f) in &raw.functions {
        check_name(report, name, "function");
        unique(report, name, "function");
        too_long(
            report,
            name.span().start,
            "the function name",
            format!("{}-{}", project.name, name.get_ref()),
            64,
        );
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
        functions.push(Function {
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
        });
    }
    let function_timeout =
        |name: &str| functions.iter().find(|f| f.name == name).map(|f| f.timeout);

    let mut queues = Vec::new();
    for (name, q) in &raw.queues {
        check_name(report, name, "queue");
        unique(report, name, "queue");
        let n = name.get_ref();
        if n.ends_with("-dlq") || n == "schedules" {
            report.error(name.span().start, format!("queue name `{n}` is reserved: `NAME-dlq` names each queue's dead-letter queue and `schedules-dlq` the schedules'; rename it"));
        }
        too_long(
            report,
            name.span().start,
            "the dead-letter queue name",
            format!(
                "{}-{n}-dlq{}",
                project.name,
                if q.fifo { ".fifo" } else { "" }
            ),
            80,
        );
        let consumers: Vec<&RawMapping> = raw
            .mappings
            .iter()
            .filter(|m| m.queue.get_ref() == name.get_ref())
            .collect();
        let longest = consumers
            .iter()
            .filter_map(|m| function_timeout(m.function.get_ref()))
            .max();
        let visibility_timeout = match &q.visibility_timeout {
            Some(v) => {
                let value = *v.get_ref();
                if value > SQS_MAX_VISIBILITY_SECS {
                    report.error(v.span().start, format!("visibility_timeout must be at most {SQS_MAX_VISIBILITY_SECS} seconds (12 hours), not {value}"));
                } else if let Some(t) = longest {
                    if value < t {
                        report.error(v.span().start, format!("visibility_timeout {value} s is shorter than the consuming function's timeout {t} s: Lambda refuses the event source mapping; use at least {}", t.saturating_mul(MAPPING_VISIBILITY_PER_TIMEOUT)));
                    } else if value < t.saturating_mul(MAPPING_VISIBILITY_PER_TIMEOUT) {
                        report.warn(v.span().start, format!("visibility_timeout {value} s is under {MAPPING_VISIBILITY_PER_TIMEOUT} × the consuming function's timeout ({t} s); AWS recommends at least {} so retries of throttled batches are not redelivered early", t.saturating_mul(MAPPING_VISIBILITY_PER_TIMEOUT)));
                    }
                }
                value
            }
            None => longest.map_or(30, |t| {
                (t.saturating_mul(MAPPING_VISIBILITY_PER_TIMEOUT)).min(SQS_MAX_VISIBILITY_SECS)
            }),
        };
        let max_receives = match &q.max_receives {
            Some(m) => {
                let value = *m.get_ref();
                if !(1..=1000).contains(&value) {
                    report.error(
                        m.span().start,
                        format!("max_receives must be 1-1000, not {value}"),
                    );
                } else if value < SQS_MIN_RECOMMENDED_RECEIVES {
                    report.warn(m.span().start, format!("max_receives {value} is under {SQS_MIN_RECOMMENDED_RECEIVES}: AWS recommends at least {SQS_MIN_RECOMMENDED_RECEIVES}, so a message whose batch was throttled is not dead-lettered before it ever ran"));
                }
                value
            }
            None => SQS_MIN_RECOMMENDED_RECEIVES,
        };
        let delay = q.delay.as_ref().map_or(0, |d| {
            let value = *d.get_ref();
            if value > 900 {
                report.error(
                    d.span().start,
                    format!("delay must be at most 900 seconds (SQS's limit), not {value}"),
                );
            }
            value
        });
        queues.push(QueueDecl {
            name: name.get_ref().clone(),
            fifo: q.fifo,
            visibility_timeout,
            max_receives,
            delay,
        });
    }

    let mut mappings: Vec<Mapping> = Vec::new();
    for m in &raw.mappings {
        if mappings
            .iter()
            .any(|o| o.queue == *m.queue.get_ref() && o.function == *m.function.get_ref())
        {
            report.error(m.queue.span().start, format!("queue `{}` is already mapped to function `{}`; remove the duplicate [[mappings]]", m.queue.get_ref(), m.function.get_ref()));
        }
        let queue = raw
            .queues
            .iter()
            .find(|(n, _)| n.get_ref() == m.queue.get_ref());
        if queue.is_none() {
            report.error(
                m.queue.span().start,
                format!(
                    "no queue `{}` is declared: add [queues.{}] or fix the name",
                    m.queue.get_ref(),
                    m.queue.get_ref()
                ),
            );
        }
        if function_timeout(m.function.get_ref()).is_none() {
            report.error(
                m.function.span().start,
                format!(
                    "no function `{}` is declared: add [functions.{}] or fix the name",
                    m.function.get_ref(),
                    m.function.get_ref()
                ),
            );
        }
        let fifo = queue.is_some_and(|(_, q)| q.fifo);
        let batch_size = m.batch_size.as_ref().map_or(10, |b| {
            let value = *b.get_ref();
            let max = if fifo {
                MAPPING_FIFO_BATCH_SIZE_MAX
            } else {
                MAPPING_BATCH_SIZE_MAX
            };
            if !(1..=max).contains(&value) {
                report.error(
                    b.span().start,
                    format!(
                        "batch_size must be 1-{max}{}, not {value}",
                        if fifo { " for a FIFO queue" } else { "" }
                    ),
                );
            }
            value
        });
        let batching_window = m.batching_window.as_ref().map_or(0, |w| {
            let value = *w.get_ref();
            if value > MAPPING_BATCHING_WINDOW_MAX_SECS {
                report.error(
                    w.span().start,
                    format!(
                        "batching_window must be 0-{MAPPING_BATCHING_WINDOW_MAX_SECS} seconds, not {value}"
                    ),
                );
            } else if fifo && value > 0 {
                report.error(
                    w.span().start,
                    "FIFO queues take no batching_window: remove it",
                );
            }
            value
        });
        if batch_size > MAPPING_BATCH_SIZE_WITHOUT_WINDOW && batching_window == 0 {
            let at = m.batch_size.as_ref().map_or(0, |b| b.span().start);
            report.error(at, format!("a batch_size above {MAPPING_BATCH_SIZE_WITHOUT_WINDOW} needs batching_window of at least 1 second (Lambda's rule)"));
        }
        let max_concurrency = m.max_concurrency.as_ref().map(|c| {
            let value = *c.get_ref();
            if !MAPPING_MAX_CONCURRENCY.contains(&value) {
                report.error(
                    c.span().start,
                    format!(
                        "max_concurrency must be {}-{}, not {value}",
                        MAPPING_MAX_CONCURRENCY.start(),
                        MAPPING_MAX_CONCURRENCY.end()
                    ),
                );
            }
            value
        });
        mappings.push(Mapping {
            queue: m.queue.get_ref().clone(),
            function: m.function.get_ref().clone(),
            batch_size,
            batching_window,
            max_concurrency,
        });
    }

    let mut schedules = Vec::new();
    for (name, s) in &raw.schedules {
        check_name(report, name, "schedule");
        unique(report, name, "schedule");
        too_long(
            report,
            name.span().start,
            "the schedule name",
            format!("{}-{}", project.name, name.get_ref()),
            64,
        );
        if let Some(decl) = schedule(name, s, &raw, text, report) {
            schedules.push(decl);
        }
    }

    Declaration {
        project,
        functions,
        queues,
        schedules,
        mappings,
    }
}

fn schedule(
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
        line: super::line_column(text, name.span().start).0,
    })
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

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_name(report: &mut Report<'_>, name: &Spanned<String>, what: &str) {
    if !valid_name(name.get_ref()) {
        report.error(
            name.span().start,
            format!("{what} name `{}` must be 1-64 letters, digits, `-` or `_` (it becomes part of AWS resource names)", name.get_ref()),
        );
    }
}
