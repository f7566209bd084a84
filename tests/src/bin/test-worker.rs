//! The test jobs' worker as a real process: on the Lambda runtime API when
//! `AWS_LAMBDA_RUNTIME_API` is set, else polling `OVERTIME_QUEUE_URL`.

use overtime::{Backoff, BoxError};
use overtime_tests::jobs::{Ledger, worker};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    let mut worker = worker(Ledger::from_env());
    if let Ok(n) = std::env::var("MAX_ATTEMPTS") {
        worker = worker.max_attempts(n.parse()?);
    }
    if let Ok(ms) = std::env::var("BACKOFF_MS") {
        let base = Duration::from_millis(ms.parse()?);
        worker = worker.backoff(Backoff::new(base, base * 8));
    }
    worker.run().await
}
