//! Per-message cost of the worker's Lambda path (decode the event, route, decode each
//! envelope and payload, run a no-op job, build and serialize the batch response) against a
//! raw lambda_runtime-style handler that only parses the same event with `serde_json` and
//! answers an empty response. Same event, same runtime, one bench: the ratio is what counts.
//! Wall time on a shared VM swings; `scripts/bench-instructions` counts instructions of the
//! same cases (benches/worker_count.rs).

mod common;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::{SyncAccount, event_json, invocation};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lambda_runtime::LambdaEvent;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let worker = common::worker();

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
                    .__bench_handle_json(json, invocation())
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
                    let response = worker.handle(LambdaEvent::new(event, invocation())).await;
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
