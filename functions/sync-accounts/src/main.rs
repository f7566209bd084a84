//! Hourly cron: one `SyncAccount` job per account, from EventBridge or Vercel alike.

use app::SyncAccount;
use overtime::cron::{self, Tick};
use overtime::{BoxError, Message, Queue};

async fn sync_accounts(queue: Queue, tick: Tick) -> Result<(), BoxError> {
    // Keyed by tick and account: a duplicate delivery of this tick produces the same keys,
    // which the job hands to whatever it calls (and which deduplicate on a FIFO queue).
    let jobs = app::accounts()
        .into_iter()
        .map(|id| Message::new(&SyncAccount { account_id: id }).idempotency_key(tick.key_for(id)));
    // Any failed send fails the tick, and the platform retries it with the same keys.
    let sent = queue.send_all(jobs).await.into_result()?;
    tracing::info!(sent = sent.len(), "fanned out");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    let queue = Queue::from_env_var("OVERTIME_QUEUE_URL").await?;
    cron::run(move |tick| sync_accounts(queue.clone(), tick)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use overtime::testing::{Outcome, TestWorker};

    #[tokio::test]
    async fn a_tick_fans_out_one_job_per_account_and_each_runs_once() {
        let worker = TestWorker::new(app::worker(app::App::from_env()));
        sync_accounts(worker.queue().clone(), Tick::manual("hourly-sync"))
            .await
            .expect("fanned out");
        let report = worker.run_until_idle().await;
        let runs: Vec<_> = report.of("sync-account").collect();
        assert_eq!(runs.len(), app::accounts().len());
        assert!(
            runs.iter()
                .all(|r| r.outcome == Outcome::Succeeded && r.attempt == 1)
        );
    }
}
