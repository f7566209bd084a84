//! A Lambda function that ignores its deadline: it sleeps `SLEEP_MS` (default 60 s) before
//! answering, as a function stuck on a slow call would. For the runtime API's kill test.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::time::Duration;

async fn handler(_event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, Error> {
    let ms = std::env::var("SLEEP_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(serde_json::json!({ "batchItemFailures": [] }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
