//! The worker: every job the app enqueues runs here.

use app::{Checkout, RescoreAccounts, SyncAccount, WelcomeEmail};
use overtime::{BoxError, Worker, store};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    let mut worker = Worker::new()
        .job::<WelcomeEmail>()
        .job::<SyncAccount>()
        .job::<Checkout>()
        .chunked::<RescoreAccounts>();
    // Durable work keeps its runs in OVERTIME_RUN_STORE: dynamodb:TABLE on AWS, sqlite:PATH locally.
    if std::env::var_os(store::STORE_VAR).is_some() {
        worker = worker.run_store(store::from_env().await?);
    }
    // On Lambda: SQS batches with partial failures. Elsewhere: polls OVERTIME_QUEUE_URL.
    worker.run().await
}
