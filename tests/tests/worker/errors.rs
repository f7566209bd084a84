//! SQS errors the worker surfaces typed: throttling, over-limit, no dead-letter queue.

use super::*;

#[tokio::test]
async fn throttling_and_over_limit_surface_as_typed_errors() {
    let (endpoint, _) = failing_sqs("RequestThrottled").await;
    let queue = Queue::new(client_for(&endpoint), format!("{endpoint}/000000000000/q"))
        .with_max_message_bytes(1024);
    let results = queue.send_all([record("a"), record("b")]).await;
    for r in results.results() {
        match r {
            Err(overtime::SendError::Sqs(e @ overtime::SqsError::Throttled { .. })) => {
                assert!(e.is_transient())
            }
            other => panic!("expected Throttled, got {other:?}"),
        }
    }

    // A poller hitting OverLimit keeps going (it is transient) and still stops cleanly.
    let (endpoint, requests) = failing_sqs("OverLimit").await;
    let queue = Queue::new(client_for(&endpoint), format!("{endpoint}/000000000000/q"));
    let w = worker(Ledger::default())
        .max_attempts(3)
        .dead_letter_queue(format!("{endpoint}/000000000000/dlq"));
    let stopped = w
        .poll(
            queue,
            Stop::when(tokio::time::sleep(Duration::from_secs(2))),
        )
        .await;
    assert!(stopped.is_ok(), "{stopped:?}");
    // Redrive policy, then receives again and again with backoff: it kept polling.
    assert!(
        requests.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "the poller gave up"
    );
}

#[tokio::test]
async fn a_queue_without_a_dead_letter_queue_is_refused() {
    let sqs = sqs().await;
    let q = sqs.queue("no-dlq", QueueSpec::default()).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let result = worker(Ledger::default())
        .poll(queue, Stop::when(std::future::pending()))
        .await;
    match result {
        Err(overtime::worker::PollerError::Source(
            e @ overtime::worker::SourceError::NoDeadLetterQueue { .. },
        )) => {
            assert!(e.to_string().contains("RedrivePolicy"), "{e}");
        }
        other => panic!("expected NoDeadLetterQueue, got {other:?}"),
    }
}
