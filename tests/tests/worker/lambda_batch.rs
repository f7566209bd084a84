//! The Lambda path: partial batch failures, dead letters with reasons, poison messages,
//! FIFO order and the answer before the invocation deadline.

use super::*;

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
