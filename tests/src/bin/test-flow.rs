//! Flow-controlled jobs' worker as a real process, for the flow-control tests: polls
//! `OVERTIME_QUEUE_URL`, keeps flow state in `OVERTIME_RUN_STORE`, runs
//! `WORKER_CONCURRENCY` jobs at once, and appends `start|end JOB ID KEY UNIX_MS [SEQ]` for each
//! run to `LEDGER_PATH`. With `KILL_HOLDING=p` it SIGKILLs itself with probability `p` while a
//! `conc` job holds its slots, writing `crash ID PID` first (`conc` lines end with the PID).

use overtime::flow::{Concurrency, Debounce, Flow, RateLimit, Singleton, Throttle};
use overtime::{BoxError, Job, JobContext, JobError, JobResult, Worker};
use serde::{Deserialize, Serialize};
use std::time::Duration;

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

fn ledger(line: &str) -> Result<(), JobError> {
    overtime_tests::jobs::append_to_ledger(line)
}

fn mark(what: &str, job: &str, id: &str, key: &str, extra: &str) -> Result<(), JobError> {
    ledger(&format!("{what} {job} {id} {key} {} {extra}", now_ms()))
}

fn maybe_die(id: &str) {
    let p: f64 = std::env::var("KILL_HOLDING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    if p > 0.0 && fastrand::f64() < p {
        let _ = ledger(&format!("crash {id} {}", std::process::id()));
        let _ = std::process::Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
        std::thread::sleep(Duration::from_secs(60));
    }
}

/// At most 2 at once per key and 10 in all; takes `ms`.
#[derive(Serialize, Deserialize)]
struct Conc {
    id: String,
    key: String,
    ms: u64,
}

impl Job for Conc {
    const NAME: &'static str = "conc";
    type State = ();
    async fn run(self, _: JobContext<()>) -> JobResult {
        let pid = std::process::id().to_string();
        mark("start", Self::NAME, &self.id, &self.key, &pid)?;
        tokio::time::sleep(Duration::from_millis(self.ms / 2)).await;
        maybe_die(&self.id);
        tokio::time::sleep(Duration::from_millis(self.ms / 2)).await;
        mark("end", Self::NAME, &self.id, &self.key, &pid)
    }
    fn flow() -> Flow<Self> {
        Flow::new().concurrency(
            Concurrency::per_key(2, |j: &Self| j.key.clone())
                .total(10)
                .lease(Duration::from_secs(5)),
        )
    }
}

/// At most 5 starts per 2 s per key, burst 2.
#[derive(Serialize, Deserialize)]
struct Throttled {
    id: String,
    key: String,
}

impl Job for Throttled {
    const NAME: &'static str = "throttled";
    type State = ();
    async fn run(self, _: JobContext<()>) -> JobResult {
        mark("start", Self::NAME, &self.id, &self.key, "")
    }
    fn flow() -> Flow<Self> {
        Flow::new().throttle(
            Throttle::new(5, Duration::from_secs(2))
                .burst(2)
                .key(|j: &Self| j.key.clone()),
        )
    }
}

/// At most 3 per minute per key; the rest skipped.
#[derive(Serialize, Deserialize)]
struct Limited {
    id: String,
    key: String,
}

impl Job for Limited {
    const NAME: &'static str = "limited";
    type State = ();
    async fn run(self, _: JobContext<()>) -> JobResult {
        mark("start", Self::NAME, &self.id, &self.key, "")
    }
    fn flow() -> Flow<Self> {
        Flow::new()
            .rate_limit(RateLimit::new(3, Duration::from_secs(60)).key(|j: &Self| j.key.clone()))
    }
}

/// Runs once per key after 2 s without a newer one, at most 5 s after a burst's first.
#[derive(Serialize, Deserialize)]
struct Debounced {
    id: String,
    key: String,
    seq: u64,
}

impl Job for Debounced {
    const NAME: &'static str = "debounced";
    type State = ();
    async fn run(self, _: JobContext<()>) -> JobResult {
        mark(
            "start",
            Self::NAME,
            &self.id,
            &self.key,
            &self.seq.to_string(),
        )
    }
    fn flow() -> Flow<Self> {
        Flow::new().debounce(
            Debounce::new(Duration::from_secs(2))
                .max_wait(Duration::from_secs(5))
                .key(|j: &Self| j.key.clone()),
        )
    }
}

/// One at a time per key; a new one while one runs is skipped.
#[derive(Serialize, Deserialize)]
struct SingleSkip {
    id: String,
    key: String,
    ms: u64,
}

impl Job for SingleSkip {
    const NAME: &'static str = "single-skip";
    type State = ();
    async fn run(self, _: JobContext<()>) -> JobResult {
        mark("start", Self::NAME, &self.id, &self.key, "")?;
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        mark("end", Self::NAME, &self.id, &self.key, "")
    }
    fn flow() -> Flow<Self> {
        Flow::new().singleton(Singleton::skip().key(|j: &Self| j.key.clone()))
    }
}

/// One at a time per key; a new one cancels the running one at its next step.
#[derive(Serialize, Deserialize)]
struct SingleCancel {
    id: String,
    key: String,
    steps: u32,
}

impl Job for SingleCancel {
    const NAME: &'static str = "single-cancel";
    type State = ();
    async fn run(self, ctx: JobContext<()>) -> JobResult {
        mark("start", Self::NAME, &self.id, &self.key, "")?;
        for n in 0..self.steps {
            let step = ctx
                .step(&format!("step-{n}"), || async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(n)
                })
                .await;
            if let Err(err) = step {
                mark("stopped", Self::NAME, &self.id, &self.key, "")?;
                ledger(&format!("reason {} {err}", self.id))?;
                return Err(err);
            }
        }
        mark("end", Self::NAME, &self.id, &self.key, "")
    }
    fn flow() -> Flow<Self> {
        Flow::new().singleton(Singleton::cancel().key(|j: &Self| j.key.clone()))
    }
}

/// Its key function panics on `panic: true`.
#[derive(Serialize, Deserialize)]
struct BadKey {
    id: String,
    panic: bool,
}

impl Job for BadKey {
    const NAME: &'static str = "bad-key";
    type State = ();
    async fn run(self, _: JobContext<()>) -> JobResult {
        mark("start", Self::NAME, &self.id, "-", "")
    }
    fn flow() -> Flow<Self> {
        Flow::new().concurrency(Concurrency::per_key(1, |j: &Self| {
            assert!(!j.panic, "no account in job {}", j.id);
            j.id.clone()
        }))
    }
}

#[tokio::main]
async fn main() {
    if let Err(err) = serve().await {
        eprintln!("test-flow: {err}");
        std::process::exit(1);
    }
}

async fn serve() -> Result<(), BoxError> {
    overtime::telemetry::init();
    let concurrency = std::env::var("WORKER_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    Worker::new()
        .job::<Conc>()
        .job::<Throttled>()
        .job::<Limited>()
        .job::<Debounced>()
        .job::<SingleSkip>()
        .job::<SingleCancel>()
        .job::<BadKey>()
        .concurrency(concurrency)
        .run()
        .await
}
