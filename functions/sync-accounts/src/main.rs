//! Hourly cron: one `SyncAccount` job per account, from EventBridge or Vercel alike.

use app::SyncAccount;
use overtime::cron::{self, Tick};
use overtime::{BoxError, Message, Queue};

async fn sync_accounts(queue: Queue, tick: Tick) -> Result<(), BoxError> {
    // Keyed by tick and account: a duplicate delivery of this tick produces the same keys,
    // which the job hands to whatever it calls (and which deduplicate on a FIFO queue).
    let messages = app::accounts()
        .into_iter()
        .map(|id| {
            Ok(Message::new(&SyncAccount { account_id: id })?.idempotency_key(tick.key_for(id)))
        })
        .collect::<Result<Vec<_>, overtime::SendError>>()?;
    let results = queue.send_messages(messages).await;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    tracing::info!(
        sent = results.len() - failed.len(),
        failed = failed.len(),
        "fanned out"
    );
    match failed.first() {
        // Failing the tick makes the platform retry it, with the same keys.
        Some(err) => Err(format!(
            "{} of {} sends failed, first: {err}",
            failed.len(),
            results.len()
        )
        .into()),
        None => Ok(()),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    let queue = Queue::from_env_var("OVERTIME_QUEUE_URL").await?;
    cron::run(move |tick| sync_accounts(queue.clone(), tick)).await
}
