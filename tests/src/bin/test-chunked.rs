//! A chunked job's worker as a real process, for the durable-work tests: polls
//! `OVERTIME_QUEUE_URL`, keeps runs in `OVERTIME_RUN_STORE`, slices by
//! `OVERTIME_SLICE_BUDGET_SECS`, and appends each processed item to `LEDGER_PATH`.
//!
//! With `KILL_MID_STEP=p` it SIGKILLs itself with probability `p` after a step's items, and with
//! `KILL_AT_BOUNDARY=q` with probability `q` after a checkpoint (before the successor is sent)
//! and after the enqueue (before its own message is deleted), writing `crash POINT SLICE` to
//! the ledger first.

use overtime::chunk::{Advance, Chunked, SliceContext, SliceEvent};
use overtime::{BoxError, Job, JobContext, JobError, JobResult, Worker};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Counts `items` items, `per_step` at a time, each step taking `step_ms` of real time.
#[derive(Serialize, Deserialize)]
struct Count {
    tag: String,
    items: u64,
    per_step: u64,
    step_ms: u64,
    /// Panics once when a step starts at this cursor.
    #[serde(default)]
    panic_once_at: Option<u64>,
}

/// SIGKILLs this process, after noting where, if the dice say so.
fn maybe_die(point: &str, slice: u64) {
    let var = if point == "mid-step" {
        "KILL_MID_STEP"
    } else {
        "KILL_AT_BOUNDARY"
    };
    let p: f64 = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    if p > 0.0 && fastrand::f64() < p {
        let _ = ledger(&format!("crash {point} {slice}"));
        let _ = std::process::Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
        // The signal is on its way; make sure nothing else happens first.
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn ledger(line: &str) -> Result<(), JobError> {
    overtime_tests::jobs::append_to_ledger(line)
}

impl Job for Count {
    const NAME: &'static str = "count";
    type State = ();

    async fn run(self, ctx: JobContext<()>) -> JobResult {
        ctx.run_slice(self).await
    }
}

impl Chunked for Count {
    type Cursor = u64;

    fn start(&self) -> u64 {
        0
    }

    fn total(&self) -> Option<u64> {
        Some(self.items)
    }

    async fn advance(
        &self,
        next: u64,
        ctx: &mut SliceContext<'_, ()>,
    ) -> Result<Advance<u64>, JobError> {
        if self.panic_once_at == Some(next) {
            let marker = format!(
                "{}.panicked",
                std::env::var("LEDGER_PATH").unwrap_or_default()
            );
            if std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&marker)
                .is_ok()
            {
                let _ = ledger(&format!("panic {} {next}", self.tag));
                panic!("a step that panics at cursor {next}");
            }
        }
        tokio::time::sleep(Duration::from_millis(self.step_ms)).await;
        let end = (next + self.per_step).min(self.items);
        for item in next..end {
            ledger(&format!("item {} {item} {}", self.tag, ctx.slice()))?;
        }
        ctx.progress(end - next);
        maybe_die("mid-step", ctx.slice());
        if end == self.items {
            ledger(&format!("done {}", self.tag))?;
            return Ok(Advance::Done);
        }
        Ok(Advance::To(end))
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    // The run store is OVERTIME_RUN_STORE's, which `run` opens.
    Worker::new()
        .job::<Count>()
        .on_slice(|event| match event {
            SliceEvent::Checkpointed { slice, .. } => maybe_die("after-checkpoint", *slice),
            SliceEvent::Enqueued { slice, .. } => maybe_die("after-enqueue", *slice),
            SliceEvent::Completed { run, .. } => {
                let _ = ledger(&format!("completed {run}"));
            }
            SliceEvent::Repaired { run, slice } => {
                let _ = ledger(&format!("repaired {run} {slice}"));
            }
            SliceEvent::Dropped { run, slice, reason } => {
                let _ = ledger(&format!("dropped {run} {slice} {reason}"));
            }
            _ => {}
        })
        .run()
        .await
}
