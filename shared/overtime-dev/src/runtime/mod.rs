//! The Lambda runtime API, as a function binary sees it on AWS: each instance is a process
//! with its own `AWS_LAMBDA_RUNTIME_API`, asks `/invocation/next` for work, gets the real
//! deadline in `Lambda-Runtime-Deadline-Ms`, and is killed when it overruns it.
//!
//! - `api`: the runtime API routes one instance's process calls;
//! - `invoke`: an invocation, on a warm instance or a fresh one, within its deadlines;
//! - `instance`: one instance: a process with its own runtime API;
//! - `process`: how a function's process is started, killed and heard;
//! - `environment`: the environment Lambda gives a function.

mod api;
mod environment;
mod instance;
mod invoke;
mod process;

pub use environment::PASSED_THROUGH;
pub(crate) use environment::lambda_environment;
pub(crate) use process::{child_command, forward, kill_tree};

use crate::log::Log;
use axum::body::Bytes;
use instance::Instance;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a new instance may take to ask for its first invocation (Lambda's init phase
/// limit: 10 s).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A function as declared: its binary, timeout, memory, environment and concurrency.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The declared name.
    pub name: String,
    /// The built binary.
    pub binary: PathBuf,
    /// The declared timeout.
    pub timeout: Duration,
    /// The declared memory, in MB (reported to the function; not enforced).
    pub memory: u32,
    /// Environment for every instance.
    pub env: Vec<(String, String)>,
    /// Most instances at once.
    pub concurrency: usize,
    /// How long a new instance may take to ask for its first invocation before its init is
    /// retried within the invocation's timeout ([`INIT_TIMEOUT`] on Lambda).
    pub init_timeout: Duration,
}

/// How one invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function answered.
    Ok(Bytes),
    /// The function reported an error (`/invocation/{id}/error`).
    Error {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// It overran its timeout and was killed.
    Timeout(Duration),
    /// The process exited during the invocation.
    Crashed(String),
    /// No instance could be started (missing binary, init error, init timeout).
    StartFailed(String),
}

impl Outcome {
    /// A one-line summary.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Ok(_) => "ok".into(),
            Outcome::Error {
                error_type,
                message,
            } => format!("error {error_type}: {message}"),
            Outcome::Timeout(t) => format!("timed out after {:.0} s; killed", t.as_secs_f64()),
            Outcome::Crashed(why) => format!("crashed: {why}"),
            Outcome::StartFailed(why) => format!("did not start: {why}"),
        }
    }

    /// True for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// A function's instances, started on demand up to its concurrency and reused while warm.
pub struct Function {
    spec: FunctionSpec,
    permits: Semaphore,
    idle: Mutex<Vec<Instance>>,
    log: Log,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Function {
    /// A function that starts instances of `spec.binary` when invoked.
    pub fn new(spec: FunctionSpec, log: Log) -> Arc<Self> {
        Arc::new(Function {
            permits: Semaphore::new(spec.concurrency.max(1)),
            spec,
            idle: Mutex::new(Vec::new()),
            log,
        })
    }

    /// The declaration.
    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    /// The function's ARN, as the runtime API reports it.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            crate::sqs::rules::REGION,
            crate::sqs::rules::ACCOUNT,
            self.spec.name
        )
    }
}

#[cfg(test)]
mod tests;
