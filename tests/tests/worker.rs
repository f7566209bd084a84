//! The worker against a real SQS-compatible server: partial failures, backoff, dead letters,
//! poison messages, panics, delay hops, and a poller stopped by SIGTERM.

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

#[tokio::test]
async fn partial_batch_failure_reports_exactly_the_failed_ids_and_backs_off() {
    let sqs = sqs().await;
    let q = sqs.queue("partial", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    queue
        .send_all([record("ok-1"), record("ok-2"), record("ok-3")])
        .await;
    let flaky = |id: &str| Flaky {
        id: id.into(),
        fail_attempts: 1,
    };
    let sent = queue.send_all([flaky("flaky-1"), flaky("flaky-2")]).await;
    assert_eq!(sent.failed().count(), 0, "{sent:?}");

    let w = worker(Ledger::default())
        .client(sqs.client.clone())
        .backoff(Backoff::new(Duration::from_secs(6), Duration::from_secs(6)));
    let (event, messages) = receive_event(&sqs, &q, 5).await;
    let response = w.handle(invoke(event)).await;
    let failed: HashSet<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let expected: HashSet<String> = messages
        .iter()
        .filter(|m| payload_id(m).starts_with("flaky"))
        .map(message_id)
        .collect();
    assert_eq!(
        failed, expected,
        "exactly the failing messages are reported"
    );

    settle_like_lambda(&sqs, &q, &messages, &response).await;
    // The failures are hidden for the backoff (3–6 s here), not the queue's 30 s timeout.
    let (visible, in_flight, _) = sqs.depth(&q.url).await;
    assert_eq!((visible, in_flight), (0, 2));
    assert!(
        sqs.receive(&q.url, 1).await.is_empty(),
        "backoff keeps them invisible"
    );
    let (event, again) = receive_event(&sqs, &q, 2).await;
    assert!(again.iter().all(|m| receive_count(m) == 2));
    let response = w.handle(invoke(event)).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "second attempt succeeds"
    );
}

#[tokio::test]
async fn a_job_that_always_fails_is_dead_lettered_with_its_reason() {
    let sqs = sqs().await;
    let q = sqs
        .queue(
            "exhaust",
            QueueSpec {
                max_receive: Some(3),
                visibility: Some(30),
                ..Default::default()
            },
        )
        .await;
    Queue::new(sqs.client.clone(), &q.url)
        .send(AlwaysFails {
            id: "doomed".into(),
        })
        .await
        .expect("sent");
    // max_attempts comes from the queue's redrive policy (3).
    let w = worker(Ledger::default())
        .client(sqs.client.clone())
        .backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)));
    for attempt in 1..=3u32 {
        let (event, got) = receive_event(&sqs, &q, 1).await;
        assert_eq!(receive_count(&got[0]), attempt);
        let response = w.handle(invoke(event)).await;
        let expect_failure = attempt < 3;
        assert_eq!(
            response.batch_item_failures.len(),
            usize::from(expect_failure),
            "attempt {attempt}"
        );
    }
    let dlq = q.dlq.as_deref().expect("dlq");
    let dead = sqs.drain(dlq, 1, Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        attr(&dead[0], "overtime.dlq.kind").as_deref(),
        Some("exhausted")
    );
    assert_eq!(
        attr(&dead[0], "overtime.dlq.attempts").as_deref(),
        Some("3")
    );
    assert_eq!(
        attr(&dead[0], "overtime.dlq.source").as_deref(),
        Some(q.url.as_str())
    );
    assert!(
        attr(&dead[0], "overtime.dlq.reason")
            .is_some_and(|r| r.contains("downstream service is down"))
    );
    assert_eq!(
        attr(&dead[0], "overtime.job").as_deref(),
        Some("always-fails")
    );
    assert_eq!(
        sqs.depth(&q.url).await,
        (0, 0, 0),
        "the original is deleted"
    );
}

#[tokio::test]
async fn poison_unknown_permanent_and_panicking_messages_never_take_the_batch_down() {
    let sqs = sqs().await;
    let q = sqs.queue("poison", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let raw = |body: &str, job: Option<&str>| {
        let mut req = sqs
            .client
            .send_message()
            .queue_url(&q.url)
            .message_body(body);
        if let Some(job) = job {
            req = req.message_attributes(
                "overtime.job",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(job)
                    .build()
                    .expect("attribute"),
            );
        }
        req.send()
    };
    raw("this is not json", None).await.expect("sent");
    raw(r#"{"v":1,"id":"missing-job-field","payload":{}}"#, None)
        .await
        .expect("sent");
    raw(
        r#"{"v":1,"job":"no-such-job","id":"u1","payload":{}}"#,
        None,
    )
    .await
    .expect("sent");
    raw(
        r#"{"v":1,"job":"no-such-job","id":"u2","payload":{}}"#,
        Some("no-such-job"),
    )
    .await
    .expect("sent");
    raw(
        r#"{"v":1,"job":"record","id":"u3","payload":{"id":5}}"#,
        Some("record"),
    )
    .await
    .expect("sent");
    queue
        .send(Refuses {
            id: "acct-9".into(),
        })
        .await
        .expect("sent");
    queue.send(Panics { id: "p1".into() }).await.expect("sent");
    queue.send_all([record("good-1"), record("good-2")]).await;

    let ledger = Ledger::default();
    let w = worker(ledger.clone())
        .client(sqs.client.clone())
        .max_attempts(2);
    let (event, messages) = receive_event(&sqs, &q, 9).await;
    let response = w.handle(invoke(event)).await;
    let panicked: Vec<_> = messages
        .iter()
        .filter(|m| payload_id(m) == "p1")
        .map(message_id)
        .collect();
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, panicked, "only the panicking job is retried");
    settle_like_lambda(&sqs, &q, &messages, &response).await;
    let done = ledger.lines();
    assert!(
        done.contains(&"record good-1 1 ok".to_owned())
            && done.contains(&"record good-2 1 ok".to_owned()),
        "{done:?}"
    );

    let dlq = q.dlq.as_deref().expect("dlq");
    let dead = sqs.drain(dlq, 6, Duration::from_secs(15)).await;
    let mut kinds: Vec<String> = dead
        .iter()
        .filter_map(|m| attr(m, "overtime.dlq.kind"))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "permanent",
            "undecodable",
            "undecodable",
            "undecodable",
            "unknown-job",
            "unknown-job"
        ]
    );
    for m in &dead {
        assert_eq!(
            attr(m, "overtime.dlq.attempts").as_deref(),
            Some("1"),
            "dead-lettered at once"
        );
        assert!(attr(m, "overtime.dlq.reason").is_some_and(|r| !r.is_empty()));
    }
    let reasons: Vec<String> = dead
        .iter()
        .filter_map(|m| attr(m, "overtime.dlq.reason"))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("no job named \"no-such-job\"") && r.contains("record")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not an overtime envelope")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("payload does not match job record")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("account acct-9 was deleted")),
        "{reasons:?}"
    );

    // The panicking job's second and last attempt dead-letters it as exhausted, with the panic.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (event, _) = receive_event(&sqs, &q, 1).await;
    assert!(w.handle(invoke(event)).await.batch_item_failures.is_empty());
    let dead = sqs.drain(dlq, 1, Duration::from_secs(10)).await;
    assert_eq!(
        attr(&dead[0], "overtime.dlq.kind").as_deref(),
        Some("exhausted")
    );
    assert!(
        attr(&dead[0], "overtime.dlq.reason")
            .is_some_and(|r| r.contains("job panicked: bug in job p1"))
    );
    assert_eq!(sqs.depth(&q.url).await, (0, 0, 0));
}

#[tokio::test]
async fn the_poller_runs_each_job_once_retries_and_hops_long_delays() {
    let sqs = sqs().await;
    let q = sqs.queue("poller", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let ids: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    assert!(
        queue
            .send_all(ids.iter().map(|i| record(i)))
            .await
            .failed()
            .next()
            .is_none()
    );
    queue
        .send(Flaky {
            id: "f".into(),
            fail_attempts: 1,
        })
        .await
        .expect("sent");
    // A job due in 3 s, as a long delay's hop leaves it: the worker must re-enqueue it, not run it.
    let due = chrono::Utc::now().timestamp_millis() + 3_000;
    let body = format!(
        r#"{{"v":1,"job":"record","id":"hop","not_before_ms":{due},"payload":{{"id":"hopped"}}}}"#
    );
    sqs.client
        .send_message()
        .queue_url(&q.url)
        .message_body(body)
        .send()
        .await
        .expect("sent");

    let ledger = Ledger::default();
    let w = worker(ledger.clone())
        .backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let poller = tokio::spawn(w.poll(
        queue.clone(),
        Stop::when(async move {
            let _ = stop_rx.await;
        }),
    ));
    let start = Instant::now();
    let mut lines = Vec::new();
    while start.elapsed() < Duration::from_secs(40) {
        lines = ledger.lines();
        let done = |id: &str| {
            lines
                .iter()
                .any(|l| l.starts_with(&format!("record {id} ")))
        };
        if ids.iter().all(|id| done(id))
            && done("hopped")
            && lines.contains(&"flaky f 2 ok".to_owned())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(());
    poller
        .await
        .expect("joined")
        .expect("the poller stops cleanly");

    // moto's ReceiveMessage takes no lock, so two concurrent receives can both hand out one
    // message (standard SQS may too: at-least-once). Such a copy shows the same receive count in
    // both runs; a poller that ran a job twice itself (no delete, a retry) shows two counts.
    // overtime dev delivers under one lock, so there it must be exactly once.
    let concurrent_copies_possible = sqs.endpoint == overtime_tests::server::moto_endpoint();
    for id in ids.iter().chain([&"hopped".to_owned()]) {
        let attempts: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("record {id} ")))
            .filter_map(|rest| rest.split(' ').next())
            .collect();
        let once = attempts.len() == 1;
        let copies = attempts.len() > 1 && attempts.iter().all(|a| *a == attempts[0]);
        assert!(
            once || (concurrent_copies_possible && copies),
            "{id} ran at attempts {attempts:?}: {lines:?}"
        );
    }
    let hopped_at = ledger.ran_at("hopped").expect("the hopped job ran");
    assert!(
        hopped_at >= due as u128,
        "ran {} ms before it was due",
        due as u128 - hopped_at
    );
    let flaky: Vec<_> = lines.iter().filter(|l| l.starts_with("flaky f ")).collect();
    assert_eq!(flaky, ["flaky f 1 fail", "flaky f 2 ok"]);
    assert_eq!(
        sqs.depth(&q.url).await,
        (0, 0, 0),
        "every settled message is deleted"
    );
}

#[tokio::test]
async fn sigterm_stops_the_poller_after_finishing_messages_in_hand() {
    let sqs = sqs().await;
    let q = sqs.queue("sigterm", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let slow = |i: u32| Record {
        id: format!("slow{i}"),
        sleep_ms: 2_000,
    };
    assert!(
        queue
            .send_all((0..5).map(slow))
            .await
            .failed()
            .next()
            .is_none()
    );

    let ledger_path =
        std::env::temp_dir().join(format!("overtime-ledger-{}", uuid::Uuid::new_v4()));
    let mut env = sqs.env();
    env.push(("OVERTIME_QUEUE_URL", q.url.clone()));
    env.push(("LEDGER_PATH", ledger_path.display().to_string()));
    let mut worker = Function::start("test-worker", &env);
    // Wait until the worker holds the messages, then ask it to stop mid-job.
    let start = Instant::now();
    while sqs.depth(&q.url).await.1 < 5 && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sqs.depth(&q.url).await.1, 5, "all five in flight");
    let pid = worker.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = worker.child.wait().expect("exit status");
    assert!(status.success(), "graceful exit, got {status:?}");

    let ledger = std::fs::read_to_string(&ledger_path).unwrap_or_default();
    assert_eq!(
        ledger.lines().filter(|l| l.ends_with(" ok")).count(),
        5,
        "in-flight jobs finished: {ledger}"
    );
    assert_eq!(
        sqs.depth(&q.url).await,
        (0, 0, 0),
        "and were deleted before exit"
    );
    let _ = std::fs::remove_file(ledger_path);
}

#[tokio::test]
async fn the_poller_reports_a_missing_queue() {
    let sqs = sqs().await;
    let url = format!(
        "{}/000000000000/missing-{}",
        sqs.endpoint,
        uuid::Uuid::new_v4().simple()
    );
    let queue = Queue::new(sqs.client.clone(), url.clone());
    let w = worker(Ledger::default())
        .max_attempts(3)
        .dead_letter_queue(url.clone());
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        w.poll(queue, Stop::when(std::future::pending())),
    )
    .await
    .expect("returns instead of spinning");
    match result {
        Err(overtime::worker::PollerError::Queue { queue, source }) => {
            assert_eq!(queue, url);
            assert!(!source.is_transient(), "{source}");
        }
        other => panic!("expected PollerError::Queue, got {other:?}"),
    }
}

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

#[tokio::test]
async fn fifo_groups_run_in_order_and_stop_at_the_first_failure() {
    let sqs = sqs().await;
    let q = sqs
        .queue(
            "fifo-worker",
            QueueSpec {
                fifo: true,
                max_receive: Some(5),
                visibility: Some(30),
            },
        )
        .await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let msg = |m: Message, key: &str| m.group("acct-1").idempotency_key(key);
    let sent = queue
        .send_all([
            msg(
                Message::new(&Flaky {
                    id: "head".into(),
                    fail_attempts: 1,
                }),
                "k1",
            ),
            msg(Message::new(&record("second")), "k2"),
            msg(Message::new(&record("third")), "k3"),
        ])
        .await;
    assert_eq!(sent.failed().count(), 0, "{sent:?}");

    let ledger = Ledger::default();
    let w = worker(ledger.clone())
        .client(sqs.client.clone())
        .backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)));
    let (event, messages) = receive_event(&sqs, &q, 3).await;
    let response = w.handle(invoke(event)).await;
    assert_eq!(
        response.batch_item_failures.len(),
        3,
        "the head failed, so the rest of its group is not run"
    );
    assert_eq!(ledger.lines(), ["flaky head 1 fail"]);
    settle_like_lambda(&sqs, &q, &messages, &response).await;

    let (event, messages) = receive_event(&sqs, &q, 3).await;
    let order: Vec<String> = messages.iter().map(payload_id).collect();
    assert_eq!(order, ["head", "second", "third"], "redelivered in order");
    let response = w.handle(invoke(event)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        ledger.lines(),
        [
            "flaky head 1 fail",
            "flaky head 2 ok",
            "record second 2 ok",
            "record third 2 ok"
        ]
    );
}

#[tokio::test]
async fn a_job_longer_than_the_visibility_timeout_runs_once() {
    let sqs = sqs().await;
    let q = sqs
        .queue(
            "heartbeat",
            QueueSpec {
                visibility: Some(4),
                max_receive: Some(5),
                fifo: false,
            },
        )
        .await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    queue
        .send(Record {
            id: "long".into(),
            sleep_ms: 10_000,
        })
        .await
        .expect("sent");
    queue.send(record("quick")).await.expect("sent");

    let ledger = Ledger::default();
    // Two receive loops: without the heartbeat the second would pick the job up again at 4 s
    // and finish it at 14 s; the heartbeat (every 2 s) keeps it hidden.
    let w = worker(ledger.clone()).concurrency(20);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let poller = tokio::spawn(w.poll(
        queue,
        Stop::when(async move {
            let _ = stop_rx.await;
        }),
    ));
    let start = Instant::now();
    while !ledger.lines().iter().any(|l| l.starts_with("record long"))
        && start.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Past the point where a second delivery would have finished too.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = stop_tx.send(());
    poller.await.expect("joined").expect("clean stop");
    let lines = ledger.lines();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("record long"))
            .count(),
        1,
        "{lines:?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("record quick"))
            .count(),
        1,
        "{lines:?}"
    );
    assert_eq!(sqs.depth(&q.url).await, (0, 0, 0));
}

#[tokio::test]
async fn near_the_lambda_deadline_unfinished_messages_are_reported_and_successes_kept() {
    let sqs = sqs().await;
    let q = sqs.queue("deadline", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    queue
        .send(Record {
            id: "slow".into(),
            sleep_ms: 60_000,
        })
        .await
        .expect("sent");
    assert!(
        queue
            .send_all([record("q1"), record("q2"), record("q3")])
            .await
            .failed()
            .next()
            .is_none()
    );

    let ledger = Ledger::default();
    let w = worker(ledger.clone()).client(sqs.client.clone());
    let (event, messages) = receive_event(&sqs, &q, 4).await;
    let mut context = Context::default();
    let deadline = std::time::SystemTime::now() + Duration::from_secs(4);
    context.deadline = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let response = w.handle(LambdaEvent::new(event, context)).await;
    assert!(
        std::time::SystemTime::now() < deadline,
        "answered before the deadline"
    );
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let slow: Vec<String> = messages
        .iter()
        .filter(|m| payload_id(m) == "slow")
        .map(message_id)
        .collect();
    assert_eq!(failed, slow, "only the unfinished job is reported");
    assert_eq!(
        ledger.lines().len(),
        3,
        "the quick jobs finished: {:?}",
        ledger.lines()
    );
}
