//! A cron function that appends each tick, as JSON, to `TICKS_PATH`; a schedule whose name
//! contains "fail" fails. Lambda or Vercel, chosen from the environment.

use overtime::BoxError;
use overtime::cron::{self, Tick};
use std::io::Write;

async fn record(tick: Tick) -> Result<(), BoxError> {
    if tick.schedule.contains("fail") {
        return Err(format!("schedule {} is set to fail", tick.schedule).into());
    }
    let path = std::env::var("TICKS_PATH")?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{}", serde_json::to_string(&tick)?)?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    cron::run(record).await
}
