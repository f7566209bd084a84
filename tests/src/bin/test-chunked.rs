//! A chunked job's worker as a real process, for the durable-work tests: polls
//! `OVERTIME_QUEUE_URL`, keeps runs in `OVERTIME_RUN_STORE`, slices by
//! `OVERTIME_SLICE_BUDGET_SECS`, and appends each processed item to `LEDGER_PATH`.

use overtime::chunk::{Chunked, SliceContext, Step};
use overtime::{BoxError, JobError, Worker};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::time::Duration;

/// Counts `items` items, `per_step` at a time, each step taking `step_ms` of real time.
#[derive(Serialize, Deserialize)]
struct Count {
    tag: String,
    items: u64,
    per_step: u64,
    step_ms: u64,
}

fn ledger(line: &str) -> Result<(), JobError> {
    let path =
        std::env::var("LEDGER_PATH").map_err(|_| JobError::permanent("LEDGER_PATH unset"))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write per line, O_APPEND: lines from concurrent processes never interleave.
    f.write_all(format!("{line}\n").as_bytes())?;
    Ok(())
}

impl Chunked for Count {
    const NAME: &'static str = "count";
    type State = ();
    type Cursor = u64;

    fn start(&self) -> u64 {
        0
    }

    fn total(&self) -> Option<u64> {
        Some(self.items)
    }

    async fn step(&self, next: u64, ctx: &mut SliceContext<'_, ()>) -> Result<Step<u64>, JobError> {
        tokio::time::sleep(Duration::from_millis(self.step_ms)).await;
        let end = (next + self.per_step).min(self.items);
        for item in next..end {
            ledger(&format!("item {} {item} {}", self.tag, ctx.slice()))?;
        }
        ctx.progress(end - next);
        if end == self.items {
            ledger(&format!("done {}", self.tag))?;
            return Ok(Step::Done);
        }
        Ok(Step::Next(end))
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    let store = overtime::store::from_env().await?;
    Worker::new()
        .run_store(store)
        .chunked::<Count>()
        .run()
        .await
}
