//! Daily cron: purge what expired before the tick.

use overtime::BoxError;
use overtime::cron::{self, Tick};

async fn cleanup(tick: Tick) -> Result<(), BoxError> {
    let purged = app::purge_expired_sessions(tick.scheduled_at);
    tracing::info!(purged, "cleanup done");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    cron::run(cleanup).await
}
