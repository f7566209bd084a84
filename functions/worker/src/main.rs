//! The worker: every job the app enqueues runs here.

use app::{SyncAccount, WelcomeEmail};
use overtime::{BoxError, Worker};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    // On Lambda: SQS batches with partial failures. Elsewhere: polls OVERTIME_QUEUE_URL.
    Worker::new()
        .job::<WelcomeEmail>()
        .job::<SyncAccount>()
        .run()
        .await
}
