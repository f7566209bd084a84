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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tick_purges_what_expired_before_it() {
        cleanup(Tick::manual("daily-cleanup"))
            .await
            .expect("purged");
    }
}
