//! Jobs with controllable behaviour, shared by the test binaries and the tests.

use overtime::{Job, JobContext, JobError, JobResult};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Appends `line` to the file `LEDGER_PATH` names: one write per line with `O_APPEND`, so lines
/// from concurrent processes never interleave. For the test binaries' own ledgers.
pub fn append_to_ledger(line: &str) -> Result<(), JobError> {
    let path =
        std::env::var("LEDGER_PATH").map_err(|_| JobError::permanent("LEDGER_PATH unset"))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(format!("{line}\n").as_bytes())?;
    Ok(())
}

/// What the test jobs saw: one line per run, `job id attempt outcome`. Clones share lines.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    lines: Arc<Mutex<Vec<String>>>,
    /// When each id last ran, in Unix milliseconds.
    times: Arc<Mutex<std::collections::HashMap<String, u128>>>,
    file: Option<std::path::PathBuf>,
}

impl Ledger {
    /// A ledger that also appends to the file named by `LEDGER_PATH`, if set.
    pub fn from_env() -> Self {
        Self {
            lines: Arc::default(),
            times: Arc::default(),
            file: std::env::var_os("LEDGER_PATH").map(Into::into),
        }
    }

    fn record(&self, job: &str, id: &str, attempt: u32, outcome: &str) {
        let line = format!("{job} {id} {attempt} {outcome}");
        let file = self.file.as_ref().and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        });
        if let Some(mut f) = file {
            // One write(2) per line: appends from several worker processes do not interleave.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        if let Ok(mut times) = self.times.lock() {
            times.insert(id.to_owned(), now);
        }
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }

    /// When the job with `id` last ran (Unix milliseconds).
    pub fn ran_at(&self, id: &str) -> Option<u128> {
        self.times.lock().ok().and_then(|t| t.get(id).copied())
    }

    /// Every line recorded so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Succeeds, after sleeping `sleep_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Test-chosen id.
    pub id: String,
    /// How long the job takes.
    #[serde(default)]
    pub sleep_ms: u64,
}

impl Job for Record {
    const NAME: &'static str = "record";
    type State = Ledger;
    async fn run(self, ctx: JobContext<Ledger>) -> JobResult {
        tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        ctx.state()
            .record(Self::NAME, &self.id, ctx.attempt(), "ok");
        Ok(())
    }
}

/// Succeeds at once, as [`Record`] does under another name: a second job for one payload
/// (two listeners of one event, each with its own once-per-key entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Noted {
    /// Test-chosen id.
    pub id: String,
}

impl Job for Noted {
    const NAME: &'static str = "noted";
    type State = Ledger;
    async fn run(self, ctx: JobContext<Ledger>) -> JobResult {
        ctx.state()
            .record(Self::NAME, &self.id, ctx.attempt(), "ok");
        Ok(())
    }
}

/// Fails (retryably) while the attempt is at most `fail_attempts`, then succeeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flaky {
    /// Test-chosen id.
    pub id: String,
    /// How many attempts fail.
    pub fail_attempts: u32,
}

impl Job for Flaky {
    const NAME: &'static str = "flaky";
    type State = Ledger;
    async fn run(self, ctx: JobContext<Ledger>) -> JobResult {
        if ctx.attempt() <= self.fail_attempts {
            ctx.state()
                .record(Self::NAME, &self.id, ctx.attempt(), "fail");
            return Err(JobError::retry(format!(
                "flaky failure on attempt {}",
                ctx.attempt()
            )));
        }
        ctx.state()
            .record(Self::NAME, &self.id, ctx.attempt(), "ok");
        Ok(())
    }
}

/// Always fails retryably; ends in the dead-letter queue as `exhausted`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlwaysFails {
    /// Test-chosen id.
    pub id: String,
}

impl Job for AlwaysFails {
    const NAME: &'static str = "always-fails";
    type State = Ledger;
    async fn run(self, ctx: JobContext<Ledger>) -> JobResult {
        ctx.state()
            .record(Self::NAME, &self.id, ctx.attempt(), "fail");
        Err(JobError::retry("the downstream service is down"))
    }
}

/// Fails permanently at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refuses {
    /// Test-chosen id.
    pub id: String,
}

impl Job for Refuses {
    const NAME: &'static str = "refuses";
    type State = Ledger;
    async fn run(self, ctx: JobContext<Ledger>) -> JobResult {
        ctx.state()
            .record(Self::NAME, &self.id, ctx.attempt(), "permanent");
        Err(JobError::permanent(format!(
            "account {} was deleted",
            self.id
        )))
    }
}

/// Panics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Panics {
    /// Test-chosen id.
    pub id: String,
}

impl Job for Panics {
    const NAME: &'static str = "panics";
    type State = Ledger;
    async fn run(self, ctx: JobContext<Ledger>) -> JobResult {
        ctx.state()
            .record(Self::NAME, &self.id, ctx.attempt(), "panic");
        panic!("bug in job {}", self.id);
    }
}

/// A worker with every test job registered.
pub fn worker(ledger: Ledger) -> overtime::Worker<Ledger> {
    overtime::Worker::with_state(ledger)
        .job::<Record>()
        .job::<Noted>()
        .job::<Flaky>()
        .job::<AlwaysFails>()
        .job::<Refuses>()
        .job::<Panics>()
}
