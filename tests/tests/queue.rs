//! The queue helper against a real SQS-compatible server over HTTP.

use aws_sdk_sqs::types::QueueAttributeName;
use overtime::{Message, Queue, SendError, SqsError};
use overtime_tests::fakes::{client_for, failing_sqs, flaky_batch_sqs};
use overtime_tests::jobs::Record;
use overtime_tests::{QueueSpec, attr, sqs};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn record(id: impl Into<String>) -> Record {
    Record {
        id: id.into(),
        sleep_ms: 0,
    }
}

#[tokio::test]
async fn fan_out_of_200_jobs_arrives_exactly_once() {
    let sqs = sqs().await;
    let q = sqs.queue("fanout", QueueSpec::default()).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);

    let report = queue
        .send_all((0..200).map(|i| record(i.to_string())))
        .await;
    assert_eq!(report.len(), 200);
    let sent = report.into_result().expect("every send succeeds");
    let message_ids: HashSet<_> = sent.iter().map(|s| s.message_id.clone()).collect();
    assert_eq!(message_ids.len(), 200, "one SQS message per job");

    let received = sqs.drain(&q.url, 200, Duration::from_secs(60)).await;
    let mut ids = HashSet::new();
    for m in &received {
        assert_eq!(attr(m, "overtime.job").as_deref(), Some("record"));
        let env: serde_json::Value =
            serde_json::from_str(m.body().unwrap_or_default()).expect("JSON body");
        assert_eq!(env["v"], 1);
        assert!(
            ids.insert(env["payload"]["id"].as_str().unwrap_or_default().to_owned()),
            "duplicate {env}"
        );
    }
    assert_eq!(received.len(), 200);
    assert_eq!(ids, (0..200).map(|i| i.to_string()).collect::<HashSet<_>>());
    // Nothing else is left behind.
    assert!(sqs.receive(&q.url, 1).await.is_empty());
}

#[tokio::test]
async fn oversized_payloads_are_refused_before_any_network_call() {
    let sqs = sqs().await;
    // A server that counts connections: a refused message must not cause one.
    let (endpoint, requests) = failing_sqs("InternalError").await;
    let unreachable = client_for(&endpoint);
    let queue = Queue::new(unreachable, format!("{endpoint}/000000000000/nowhere"));
    let big = record("x".repeat(overtime::limits::SQS_MAX_MESSAGE_BYTES));
    match queue.send(big).await {
        Err(SendError::TooLarge { size, limit, job }) => {
            assert!(size > limit);
            assert_eq!(limit, overtime::limits::SQS_MAX_MESSAGE_BYTES);
            assert_eq!(job, "record");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(
        requests.load(Ordering::SeqCst),
        0,
        "refused before any network call"
    );
    // A small one does reach the server, and its error comes back typed.
    match queue.send(record("small")).await {
        Err(SendError::Sqs(e)) => assert_eq!(e.code(), Some("InternalError")),
        other => panic!("expected an SQS error, got {other:?}"),
    }
    assert!(requests.load(Ordering::SeqCst) >= 1);

    // A queue configured below SQS's limit: its MaximumMessageSize applies.
    let q = sqs.queue("small-max", QueueSpec::default()).await;
    sqs.client
        .set_queue_attributes()
        .queue_url(&q.url)
        .attributes(QueueAttributeName::MaximumMessageSize, "2048")
        .send()
        .await
        .expect("SetQueueAttributes");
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let results = queue
        .send_all([record("x".repeat(4000)), record("fits")])
        .await
        .into_results();
    assert!(
        matches!(results[0], Err(SendError::TooLarge { limit: 2048, .. })),
        "{:?}",
        results[0]
    );
    assert!(
        results[1].is_ok(),
        "the other job is still sent: {:?}",
        results[1]
    );
    let received = sqs.drain(&q.url, 1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1);
}

#[tokio::test]
async fn fifo_deduplicates_by_idempotency_key_and_by_content() {
    let sqs = sqs().await;
    let q = sqs
        .queue(
            "fifo",
            QueueSpec {
                fifo: true,
                ..Default::default()
            },
        )
        .await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    assert!(queue.is_fifo());

    let keyed = |id: &str| {
        Message::new(&record(id))
            .group("g1")
            .idempotency_key("charge:42")
    };
    let first = queue.send(keyed("a")).await.expect("sent");
    // The duplicate is accepted (SQS answers success) but never delivered.
    queue.send(keyed("b")).await.expect("accepted");
    assert!(first.sequence_number.is_some());

    // Without a key, the same job and payload deduplicate; a different payload does not.
    let plain = |id: &str| Message::new(&record(id)).group("g2");
    let report = queue
        .send_all([plain("same"), plain("same"), plain("other")])
        .await;
    assert_eq!(report.failed().count(), 0, "{report:?}");

    // Ask for more than should arrive: a duplicate would show up here.
    let received = sqs.drain(&q.url, 4, Duration::from_secs(6)).await;
    let ids: Vec<String> = received
        .iter()
        .map(|m| {
            let v: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or_default()).expect("JSON");
            v["payload"]["id"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(ids.iter().filter(|i| *i == "a").count(), 1);
    assert!(
        !ids.contains(&"b".to_owned()),
        "keyed duplicate was dropped"
    );
    assert_eq!(ids.iter().filter(|i| *i == "same").count(), 1);

    // FIFO rules are checked before sending.
    let no_group = queue.send(record("x")).await;
    assert!(
        matches!(no_group, Err(SendError::MissingGroupId { .. })),
        "{no_group:?}"
    );
    let delayed = Message::new(&record("x"))
        .group("g")
        .delay(Duration::from_secs(5));
    let delayed = queue.send(delayed).await;
    assert!(
        matches!(delayed, Err(SendError::FifoDelay { .. })),
        "{delayed:?}"
    );
}

#[tokio::test]
async fn delayed_messages_are_not_visible_early() {
    let sqs = sqs().await;
    let q = sqs.queue("delay", QueueSpec::default()).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let msg = Message::new(&record("later")).delay(Duration::from_secs(4));
    queue.send(msg).await.expect("sent");
    queue.send(record("now")).await.expect("sent");

    let early = sqs.receive(&q.url, 1).await;
    let early_ids: Vec<_> = early
        .iter()
        .map(|m| m.body().unwrap_or_default().contains("\"later\""))
        .collect();
    assert_eq!(
        early_ids,
        vec![false],
        "only the undelayed job is visible at first"
    );
    let (_, _, delayed) = sqs.depth(&q.url).await;
    assert_eq!(delayed, 1);

    let later = sqs.drain(&q.url, 1, Duration::from_secs(15)).await;
    assert_eq!(later.len(), 1);
    assert!(later[0].body().unwrap_or_default().contains("\"later\""));
}

#[tokio::test]
async fn sqs_errors_are_typed_and_do_not_stop_other_sends() {
    let sqs = sqs().await;
    let missing = format!("{}/000000000000/no-such-queue", sqs.endpoint);
    let queue = Queue::new(sqs.client.clone(), missing).with_max_message_bytes(262_144);
    let results = queue.send_all([record("a"), record("b")]).await;
    for r in results.into_results() {
        match r {
            Err(SendError::Sqs(e @ SqsError::Service { .. })) => {
                assert!(
                    e.code().is_some_and(
                        |c| c.contains("NonExistentQueue") || c.contains("QueueDoesNotExist")
                    ),
                    "{e}"
                );
                assert!(!e.is_transient());
            }
            other => panic!("expected a typed service error, got {other:?}"),
        }
    }
    // An empty batch makes no call and returns nothing.
    assert!(queue.send_all(Vec::<Record>::new()).await.is_empty());
}

#[tokio::test]
async fn only_failed_entries_are_retried_and_fifo_groups_stop_at_a_failure() {
    let (endpoint, seen) = flaky_batch_sqs().await;
    let client = client_for(&endpoint);

    // Standard queue: the one transient failure is re-sent alone; every job gets its result.
    let queue = Queue::new(client.clone(), format!("{endpoint}/000000000000/std"))
        .with_max_message_bytes(262_144);
    let jobs = (0..12).map(|i| {
        record(if i == 3 {
            "fail-once-3".to_owned()
        } else {
            i.to_string()
        })
    });
    let results = queue.send_all(jobs).await.into_results();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let calls = seen.lock().map(|c| c.clone()).unwrap_or_default();
    let mut sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(
        sizes,
        [1, 2, 10],
        "two batches, then the failed entry alone: {calls:?}"
    );
    assert!(calls.iter().any(|c| c == &["fail-once-3".to_owned()]));
    assert_eq!(
        results[3]
            .as_ref()
            .map(|s| s.message_id.clone())
            .ok()
            .as_deref(),
        Some("m-fail-once-3")
    );

    // FIFO: a failed message blocks the rest of its group (in later batches too); other groups go on.
    if let Ok(mut c) = seen.lock() {
        c.clear();
    }
    let fifo = Queue::new(client, format!("{endpoint}/000000000000/q.fifo"))
        .with_max_message_bytes(262_144);
    let msg = |id: &str, group: &str| Message::new(&record(id)).group(group);
    let mut messages = vec![msg("a1", "a"), msg("fail-once-a2", "a"), msg("b1", "b")];
    messages.extend((0..9).map(|i| msg(&format!("a-late-{i}"), "a")));
    messages.push(msg("b2", "b"));
    let results = fifo.send_all(messages).await.into_results();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(
        results[1].is_err(),
        "the failed entry is not silently re-sent behind its successors"
    );
    // a-late-0..6 shared the failed entry's batch, which SQS processes as a whole; the batch
    // after it holds a-late-7 and a-late-8, which are held back.
    for r in &results[10..12] {
        assert!(matches!(r, Err(SendError::GroupBlocked { .. })), "{r:?}");
    }
    assert!(
        results[12].is_ok(),
        "group b is unaffected: {:?}",
        results[12]
    );
    let sent: Vec<String> = seen.lock().map(|c| c.concat()).unwrap_or_default();
    assert!(
        !sent.iter().any(|id| id == "a-late-8"),
        "blocked messages never reach SQS: {sent:?}"
    );
}

#[tokio::test]
async fn delays_past_sqs_limit_are_sent_as_hops() {
    let sqs = sqs().await;
    let q = sqs.queue("long-delay", QueueSpec::default()).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    // SQS refuses DelaySeconds over 900; a two-hour delay must still be accepted.
    let msg = Message::new(&record("in-two-hours")).delay(Duration::from_secs(7_200));
    queue.send(msg).await.expect("accepted as a 900 s hop");
    assert_eq!(
        sqs.depth(&q.url).await,
        (0, 0, 1),
        "held back as a delayed message"
    );
}
