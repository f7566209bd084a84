//! Per-message cost of the worker's Lambda path (decode the event, route, decode each
//! envelope and payload, run a no-op job, build and serialize the batch response) against a
//! raw lambda_runtime-style handler that only parses the same event with `serde_json` and
//! answers an empty response. Same event, same runtime, one bench: the ratio is what counts.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lambda_runtime::{Context, LambdaEvent};
use overtime::{Job, JobContext, JobResult, Worker};
use serde::{Deserialize, Serialize};
use std::hint::black_box;

const ARN: &str = "arn:aws:sqs:us-east-1:123456789012:jobs";
const URL: &str = "http://127.0.0.1:9/123456789012/jobs";

#[derive(Serialize, Deserialize)]
struct SyncAccount {
    account_id: u64,
    region: String,
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
fn event_json(n: usize) -> String {
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

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .build(),
    );
    // Everything the success path needs is declared: no SQS call happens.
    let worker = Worker::new()
        .job::<SyncAccount>()
        .client(client)
        .queue_url(ARN, URL)
        .max_attempts(5)
        .dead_letter_queue(format!("{URL}-dlq"));

    let mut group = c.benchmark_group("sqs-batch");
    for n in [1usize, 10] {
        let json = event_json(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("raw-serde", n), &json, |b, json| {
            b.to_async(&rt).iter(|| async {
                let event: SqsEvent = serde_json::from_str(json).expect("event");
                black_box(&event);
                serde_json::to_vec(&SqsBatchResponse::default()).expect("response")
            })
        });
        // What a hand-written handler does at least: parse each body into the job's type.
        group.bench_with_input(BenchmarkId::new("raw-serde-bodies", n), &json, |b, json| {
            b.to_async(&rt).iter(|| async {
                let event: SqsEvent = serde_json::from_str(json).expect("event");
                for r in &event.records {
                    let v: serde_json::Value =
                        serde_json::from_str(r.body.as_deref().unwrap_or("null")).expect("body");
                    let job: SyncAccount =
                        serde_json::from_value(v["payload"].clone()).expect("payload");
                    black_box(job.account_id);
                }
                serde_json::to_vec(&SqsBatchResponse::default()).expect("response")
            })
        });
        // What `Worker::run` does on Lambda: its own lean reading of the event, then dispatch.
        group.bench_with_input(BenchmarkId::new("overtime-worker", n), &json, |b, json| {
            b.to_async(&rt).iter(|| async {
                let response = worker
                    .__bench_handle_json(json, Context::default())
                    .await
                    .expect("event");
                assert!(response.batch_item_failures.is_empty());
                serde_json::to_vec(&response).expect("response")
            })
        });
        // The same dispatch fed the full `aws_lambda_events::SqsEvent`.
        group.bench_with_input(
            BenchmarkId::new("overtime-worker-sqsevent", n),
            &json,
            |b, json| {
                b.to_async(&rt).iter(|| async {
                    let event: SqsEvent = serde_json::from_str(json).expect("event");
                    let response = worker
                        .handle(LambdaEvent::new(event, Context::default()))
                        .await;
                    assert!(response.batch_item_failures.is_empty());
                    serde_json::to_vec(&response).expect("response")
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
