//! The worker: every job the app enqueues runs here.

use overtime::BoxError;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    // On Lambda: SQS batches with partial failures. Elsewhere: polls OVERTIME_QUEUE_URL.
    app::worker(app::App::from_env()).run().await
}
