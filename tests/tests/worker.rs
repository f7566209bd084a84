//! The worker against a real SQS-compatible server: partial failures, backoff, dead letters,
//! poison messages, panics, delay hops, and a poller stopped by SIGTERM.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Context, LambdaEvent};
use overtime::{Backoff, Queue};
use overtime_tests::jobs::{AlwaysFails, Flaky, Ledger, Panics, Record, Refuses, worker};
use overtime_tests::lambda::{Function, sqs_event};
use overtime_tests::server::REGION;
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
    let start = Instant::now();
    let mut got = Vec::new();
    while got.len() < n && start.elapsed() < Duration::from_secs(20) {
        got.extend(sqs.receive(&q.url, 1).await);
    }
    assert_eq!(got.len(), n, "received {} of {n} messages", got.len());
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
    let q = sqs
        .queue(
            "partial",
            QueueSpec {
                max_receive: Some(5),
                ..Default::default()
            },
        )
        .await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    queue
        .send_batch([record("ok-1"), record("ok-2"), record("ok-3")])
        .await;
    let flaky = |id: &str| Flaky {
        id: id.into(),
        fail_attempts: 1,
    };
    queue.send_batch([flaky("flaky-1"), flaky("flaky-2")]).await;

    let w = worker(Ledger::default())
        .client(sqs.client.clone())
        .backoff(Backoff::new(Duration::from_secs(6), Duration::from_secs(6)));
    let (event, messages) = receive_event(&sqs, &q, 5).await;
    let response = w.handle_sqs_event(invoke(event)).await;
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
    let response = w.handle_sqs_event(invoke(event)).await;
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
        .send(&AlwaysFails {
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
        let response = w.handle_sqs_event(invoke(event)).await;
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
    let q = sqs
        .queue(
            "poison",
            QueueSpec {
                max_receive: Some(5),
                ..Default::default()
            },
        )
        .await;
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
        .send(&Refuses {
            id: "acct-9".into(),
        })
        .await
        .expect("sent");
    queue.send(&Panics { id: "p1".into() }).await.expect("sent");
    queue.send_batch([record("good-1"), record("good-2")]).await;

    let ledger = Ledger::default();
    let w = worker(ledger.clone())
        .client(sqs.client.clone())
        .max_attempts(2);
    let (event, messages) = receive_event(&sqs, &q, 8).await;
    let response = w.handle_sqs_event(invoke(event)).await;
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
    let dead = sqs.drain(dlq, 5, Duration::from_secs(15)).await;
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
    assert!(
        w.handle_sqs_event(invoke(event))
            .await
            .batch_item_failures
            .is_empty()
    );
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
    let q = sqs
        .queue(
            "poller",
            QueueSpec {
                max_receive: Some(5),
                ..Default::default()
            },
        )
        .await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let ids: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    assert!(
        queue
            .send_batch(ids.iter().map(|i| record(i)))
            .await
            .iter()
            .all(Result::is_ok)
    );
    queue
        .send(&Flaky {
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
    let poller = tokio::spawn(w.run_poller_until(queue.clone(), async move {
        let _ = stop_rx.await;
    }));
    let start = Instant::now();
    let mut lines = Vec::new();
    while start.elapsed() < Duration::from_secs(40) {
        lines = ledger.lines();
        if lines.iter().filter(|l| l.ends_with(" ok")).count() == 42 {
            break;
        }
        if lines.iter().any(|l| l.starts_with("record hopped")) {
            assert!(
                due <= chrono::Utc::now().timestamp_millis() + 50,
                "the hopped job ran before it was due"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(());
    poller
        .await
        .expect("joined")
        .expect("the poller stops cleanly");

    for id in ids.iter().chain([&"hopped".to_owned()]) {
        let runs = lines
            .iter()
            .filter(|l| l.starts_with(&format!("record {id} ")))
            .count();
        assert_eq!(runs, 1, "{id} ran {runs} times: {lines:?}");
    }
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
    let q = sqs
        .queue(
            "sigterm",
            QueueSpec {
                max_receive: Some(5),
                ..Default::default()
            },
        )
        .await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let slow = |i: u32| Record {
        id: format!("slow{i}"),
        sleep_ms: 2_000,
    };
    assert!(
        queue
            .send_batch((0..5).map(slow))
            .await
            .iter()
            .all(Result::is_ok)
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
        w.run_poller_until(queue, std::future::pending()),
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

/// An HTTP server that answers every request with one SQS JSON error.
async fn failing_sqs(code: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                let _ = socket.read(&mut buf).await;
                let body = format!(
                    r#"{{"__type":"com.amazonaws.sqs#{code}","message":"test server says {code}"}}"#
                );
                let response = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-query-error: {code};Sender\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn client_for(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

#[tokio::test]
async fn throttling_and_over_limit_surface_as_typed_errors() {
    let endpoint = failing_sqs("RequestThrottled").await;
    let queue = Queue::new(client_for(&endpoint), format!("{endpoint}/000000000000/q"))
        .with_max_message_bytes(1024);
    let results = queue.send_batch([record("a"), record("b")]).await;
    for r in &results {
        match r {
            Err(overtime::SendError::Sqs(e @ overtime::SqsError::Throttled { .. })) => {
                assert!(e.is_transient())
            }
            other => panic!("expected Throttled, got {other:?}"),
        }
    }

    // A poller hitting OverLimit keeps going (it is transient) and still stops cleanly.
    let endpoint = failing_sqs("OverLimit").await;
    let queue = Queue::new(client_for(&endpoint), format!("{endpoint}/000000000000/q"));
    let w = worker(Ledger::default())
        .max_attempts(3)
        .dead_letter_queue(format!("{endpoint}/000000000000/dlq"));
    let stopped = w
        .run_poller_until(queue, tokio::time::sleep(Duration::from_secs(2)))
        .await;
    assert!(stopped.is_ok(), "{stopped:?}");
}
