//! What the worker benches share: the job, the event and the invocation they run.

use lambda_runtime::Context;
use overtime::{Job, JobContext, JobResult, Worker};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) const ARN: &str = "arn:aws:sqs:us-east-1:123456789012:jobs";
pub(crate) const URL: &str = "http://127.0.0.1:9/123456789012/jobs";

#[derive(Serialize, Deserialize)]
pub(crate) struct SyncAccount {
    pub(crate) account_id: u64,
    pub(crate) region: String,
}

impl Job for SyncAccount {
    const NAME: &'static str = "sync-account";
    type State = ();
    async fn run(self, _ctx: JobContext<()>) -> JobResult {
        black_box(self.account_id);
        Ok(())
    }
}

/// An SQS event of `n` overtime messages, as Lambda delivers it.
pub(crate) fn event_json(n: usize) -> String {
    let records: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let body = serde_json::json!({
                "v": 1, "job": "sync-account", "id": format!("6f1c2a9e-0000-4000-8000-{i:012}"), "attempt": 1,
                "key": format!("hourly-sync@2026-11-27T10:00:00Z/{i}"),
                "payload": {"account_id": i, "region": "eu-west-1"}
            });
            serde_json::json!({
                "messageId": format!("059f36b4-87a3-44ab-83d2-{i:012}"),
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": body.to_string(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1545082649183",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1545082649185"
                },
                "messageAttributes": {
                    "overtime.job": {"stringValue": "sync-account", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
                    "overtime.key": {"stringValue": format!("hourly-sync@2026-11-27T10:00:00Z/{i}"), "stringListValues": [], "binaryListValues": [], "dataType": "String"}
                },
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": ARN,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// An invocation as Lambda makes it: with a deadline a minute away, so the worker takes the
/// path it takes on Lambda (answering before the deadline), not the one without a deadline.
pub(crate) fn invocation() -> Context {
    let mut context = Context::default();
    let deadline = SystemTime::now() + Duration::from_secs(60);
    context.deadline = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    context
}

/// The worker of both benches: everything the success path needs is declared, so no SQS
/// call happens.
pub(crate) fn worker() -> Worker {
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .build(),
    );
    Worker::new()
        .job::<SyncAccount>()
        .client(client)
        .queue_url(ARN, URL)
        .max_attempts(5)
        .dead_letter_queue(format!("{URL}-dlq"))
}
