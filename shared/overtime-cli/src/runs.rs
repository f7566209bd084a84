//! `overtime runs list | show | cancel`: durable runs as the run store holds them.

use overtime::store::{RunRecord, RunStore, StoreError};
use std::sync::Arc;

/// Where runs are when neither `--store` nor `OVERTIME_RUN_STORE` says.
pub(crate) const DEFAULT_STORE: &str = "sqlite:.overtime/runs.db";

/// Why a runs command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunsError {
    #[error(transparent)]
    Config(#[from] overtime::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no run {0} in the run store")]
    NotFound(String),
}

/// Opens the store `--store` names, else `OVERTIME_RUN_STORE`, else the local default.
pub(crate) async fn open(store: Option<String>) -> Result<Arc<dyn RunStore>, RunsError> {
    let spec = store
        .or_else(|| std::env::var(overtime::env::RUN_STORE).ok())
        .unwrap_or_else(|| DEFAULT_STORE.to_owned());
    Ok(overtime::store::open(&spec).await?)
}

fn elapsed(run: &RunRecord) -> String {
    let ms = run.updated_ms().saturating_sub(run.started_ms()).max(0);
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn progress(run: &RunRecord) -> String {
    match run.items_total() {
        Some(total) if total > 0 => format!(
            "{}/{} ({:.0}%)",
            run.items_done(),
            total,
            run.items_done() as f64 * 100.0 / total as f64
        ),
        _ => run.items_done().to_string(),
    }
}

fn status(run: &RunRecord) -> String {
    if run.cancel_requested() && !run.status().is_final() {
        "cancelling".to_owned()
    } else {
        run.status().to_string()
    }
}

pub(crate) async fn list(store: &dyn RunStore, limit: usize, json: bool) -> Result<(), RunsError> {
    let runs = store.list(limit).await?;
    if json {
        for run in &runs {
            println!("{}", serde_json::to_string(run).unwrap_or_default());
        }
        return Ok(());
    }
    println!(
        "{:<38} {:<16} {:<10} {:>6} {:>18} {:>9}  error",
        "run", "job", "status", "slices", "items", "elapsed"
    );
    for run in &runs {
        println!(
            "{:<38} {:<16} {:<10} {:>6} {:>18} {:>9}  {}",
            run.id(),
            run.job(),
            status(run),
            run.slice() + 1,
            progress(run),
            elapsed(run),
            run.error().unwrap_or("")
        );
    }
    if runs.is_empty() {
        eprintln!("no runs yet");
    }
    Ok(())
}

pub(crate) async fn show(store: &dyn RunStore, id: &str, json: bool) -> Result<(), RunsError> {
    let run = store
        .get(id)
        .await?
        .ok_or_else(|| RunsError::NotFound(id.to_owned()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&run).unwrap_or_default());
        return Ok(());
    }
    println!("run      {}", run.id());
    println!("job      {}", run.job());
    println!("status   {}", status(&run));
    println!(
        "slice    {} (next to run{})",
        run.slice(),
        if run.next_slice_sent() {
            ""
        } else {
            "; its message is not sent yet"
        }
    );
    println!("items    {}", progress(&run));
    println!("elapsed  {}", elapsed(&run));
    println!("cursor   {}", run.cursor());
    if let Some(error) = &run.error() {
        println!("error    {error}");
    }
    Ok(())
}

pub(crate) async fn cancel(store: &dyn RunStore, id: &str) -> Result<(), RunsError> {
    let run = overtime::store::request_cancel(store, id)
        .await?
        .ok_or_else(|| RunsError::NotFound(id.to_owned()))?;
    if run.status().is_final() {
        println!("run {id} already ended: {}", run.status());
    } else {
        println!("run {id}: cancel requested; its next slice stops it");
    }
    Ok(())
}
