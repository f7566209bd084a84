//! The worker bench's cases as a plain program, for counting instructions under Valgrind
//! (`scripts/bench-instructions`): `worker_count CASE N ITERS` runs one case ITERS times on an
//! event of N messages. Instruction counts do not swing with a busy VM as wall time does.

mod common;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use common::{SyncAccount, event_json, invocation};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [case, n, iters] = args.as_slice() else {
        eprintln!("usage: worker_count raw-serde|raw-serde-bodies|overtime-worker N ITERS");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N");
    let iters: usize = iters.parse().expect("ITERS");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let worker = common::worker();
    let json = event_json(n);
    rt.block_on(async {
        for _ in 0..iters {
            let out = match case.as_str() {
                "raw-serde" => {
                    let event: SqsEvent = serde_json::from_str(&json).expect("event");
                    black_box(&event);
                    serde_json::to_vec(&SqsBatchResponse::default()).expect("response")
                }
                "raw-serde-bodies" => {
                    let event: SqsEvent = serde_json::from_str(&json).expect("event");
                    for r in &event.records {
                        let v: serde_json::Value =
                            serde_json::from_str(r.body.as_deref().unwrap_or("null"))
                                .expect("body");
                        let job: SyncAccount =
                            serde_json::from_value(v["payload"].clone()).expect("payload");
                        black_box(job.account_id);
                    }
                    serde_json::to_vec(&SqsBatchResponse::default()).expect("response")
                }
                "overtime-worker" => {
                    let response = worker
                        .__bench_handle_json(&json, invocation())
                        .await
                        .expect("event");
                    assert!(response.batch_item_failures.is_empty());
                    serde_json::to_vec(&response).expect("response")
                }
                other => {
                    eprintln!("unknown case {other}");
                    std::process::exit(2);
                }
            };
            black_box(out);
        }
    });
}
