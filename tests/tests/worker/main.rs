//! The worker against a real SQS-compatible server: partial failures, backoff, dead letters,
//! poison messages, panics, delay hops, and a poller stopped by SIGTERM.

mod errors;
mod lambda_batch;
mod once;
mod poller;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Context, LambdaEvent};
use overtime::worker::Stop;
use overtime::{Backoff, Message, Queue};
use overtime_tests::fakes::{client_for, failing_sqs};
use overtime_tests::jobs::{AlwaysFails, Flaky, Ledger, Panics, Record, Refuses, worker};
use overtime_tests::lambda::{Function, sqs_event};
use overtime_tests::{QueueSpec, Sqs, TestQueue, attr, receive_count, sqs};
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn record(id: &str) -> Record {
    Record {
        id: id.into(),
        sleep_ms: 0,
    }
}

/// Receives exactly `n` messages (waiting up to 20 s), as a Lambda event.
async fn receive_event(
    sqs: &Sqs,
    q: &TestQueue,
    n: usize,
) -> (SqsEvent, Vec<aws_sdk_sqs::types::Message>) {
    let got = sqs.receive_n(&q.url, n).await;
    let event: SqsEvent = serde_json::from_value(sqs_event(&got, &q.arn)).expect("an SqsEvent");
    (event, got)
}

/// What Lambda does with the answer: deletes every message not reported as failed.
async fn settle_like_lambda(
    sqs: &Sqs,
    q: &TestQueue,
    messages: &[aws_sdk_sqs::types::Message],
    response: &SqsBatchResponse,
) {
    let failed: HashSet<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    for m in messages
        .iter()
        .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
    {
        // Dead-lettered ones are gone already; a stale handle is fine to ignore.
        let _ = sqs
            .client
            .delete_message()
            .queue_url(&q.url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .send()
            .await;
    }
}

fn invoke(event: SqsEvent) -> LambdaEvent<SqsEvent> {
    LambdaEvent::new(event, Context::default())
}

fn message_id(m: &aws_sdk_sqs::types::Message) -> String {
    m.message_id().unwrap_or_default().to_owned()
}

fn payload_id(m: &aws_sdk_sqs::types::Message) -> String {
    let v: serde_json::Value =
        serde_json::from_str(m.body().unwrap_or_default()).unwrap_or_default();
    v["payload"]["id"].as_str().unwrap_or_default().to_owned()
}

/// A poller running in the background until [`stop`](Self::stop)ped.
struct Polling {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), overtime::worker::PollerError>>,
}

impl Polling {
    /// Starts `w` polling `queue`.
    fn start(w: overtime::Worker<Ledger>, queue: Queue) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(w.poll(
            queue,
            Stop::when(async move {
                let _ = stopped.await;
            }),
        ));
        Self { stop, task }
    }

    /// Stops it, asserting that it stops cleanly.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("joined")
            .expect("the poller stops cleanly");
    }
}
