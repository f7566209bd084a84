//! The poller: each job once, retries and delay hops, SIGTERM, a missing queue, and jobs
//! longer than the visibility timeout.

use super::*;

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
    let poller = Polling::start(w, queue.clone());
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
    poller.stop().await;

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
    let poller = Polling::start(w, queue);
    let start = Instant::now();
    while !ledger.lines().iter().any(|l| l.starts_with("record long"))
        && start.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Past the point where a second delivery would have finished too.
    tokio::time::sleep(Duration::from_secs(5)).await;
    poller.stop().await;
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
