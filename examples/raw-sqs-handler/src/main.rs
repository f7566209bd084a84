//! What a Lambda SQS handler looks like without overtime, the baseline of BENCHMARKS.md's
//! binary size and start-up figures: parse each body, then delete it from the queue.
//!
//! It has none of what overtime adds (job routing, retries with backoff, dead letters with
//! reasons, partial batch responses, durable runs), which is the point: the measurement is
//! what that costs in bytes and start-up time.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Logging as the runtime's own examples set it up (JSON when Lambda's log format says so).
    lambda_runtime::tracing::init_default_subscriber();
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = std::env::var("QUEUE_URL").unwrap_or_default();
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (sqs, queue_url) = (sqs.clone(), queue_url.clone());
        async move {
            for record in event.payload.records {
                let body: serde_json::Value =
                    serde_json::from_str(record.body.as_deref().unwrap_or("null"))?;
                tracing_free_log(&body);
                if let Some(receipt) = record.receipt_handle {
                    sqs.delete_message()
                        .queue_url(&queue_url)
                        .receipt_handle(receipt)
                        .send()
                        .await?;
                }
            }
            Ok::<(), Error>(())
        }
    }))
    .await
}

/// The handler's "work": keep the parsed body observable so it is not optimised away.
fn tracing_free_log(body: &serde_json::Value) {
    if body.is_null() {
        eprintln!("empty body");
    }
}
