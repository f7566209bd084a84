//! Drains the job queue on Vercel, which has no queue trigger: a cron route (every minute) that
//! runs the worker for the function's maxDuration. Chunked jobs end their slices before the
//! window does, so long work continues at the next tick.

use overtime::chunk::ChunkOptions;
use overtime::cron::{self, Tick};
use overtime::worker::Stop;
use overtime::{BoxError, Queue};

async fn drain(_tick: Tick) -> Result<(), BoxError> {
    let queue = Queue::from_env_var("OVERTIME_QUEUE_URL").await?;
    // OVERTIME_SLICE_BUDGET_SECS: the route's maxDuration, less a few seconds to answer.
    let window = ChunkOptions::from_env().budget;
    let worker = app::worker(app::App::from_env());
    worker.poll(queue, Stop::After(window)).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    cron::run(drain).await
}
