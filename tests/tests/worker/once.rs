//! Once per idempotency key: a fan-out sent twice (a cron tick delivered twice) runs each job
//! once when the worker has a run store, and a keyed job that fails still gets its retries.

use super::*;

#[tokio::test]
async fn a_fan_out_sent_twice_runs_each_keyed_job_once_and_retries_still_run() {
    let sqs = sqs().await;
    let q = sqs.queue("once", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let ids: Vec<String> = (0..15).map(|i| format!("acct-{i}")).collect();
    // The tick's fan-out, twice, as a cron handler does when EventBridge or SQS delivers the
    // tick twice: same keys, new messages (new job ids).
    for _ in 0..2 {
        let messages = ids
            .iter()
            .map(|id| Message::new(&record(id)).idempotency_key(format!("tick@10:00/{id}")));
        queue.send_all(messages).await.into_result().expect("sent");
        let flaky = Flaky {
            id: "f".into(),
            fail_attempts: 1,
        };
        queue
            .send(Message::new(&flaky).idempotency_key("tick@10:00/flaky"))
            .await
            .expect("sent");
    }

    let ledger = Ledger::default();
    let store = sqs.run_table().await;
    let w = worker(ledger.clone())
        .store(store)
        .backoff(Backoff::new(Duration::from_secs(1), Duration::from_secs(1)));
    let poller = Polling::start(w, queue.clone());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let ran_all = ids.iter().all(|id| {
            ledger
                .lines()
                .iter()
                .any(|l| l.starts_with(&format!("record {id} ")))
        });
        if ran_all
            && ledger.lines().contains(&"flaky f 2 ok".to_owned())
            && sqs.depth(&q.url).await == (0, 0, 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    poller.stop().await;

    let lines = ledger.lines();
    for id in &ids {
        let runs = lines
            .iter()
            .filter(|l| l.starts_with(&format!("record {id} ")))
            .count();
        assert_eq!(runs, 1, "{id} ran {runs} times: {lines:?}");
    }
    let flaky: Vec<_> = lines.iter().filter(|l| l.starts_with("flaky f ")).collect();
    assert_eq!(
        flaky,
        ["flaky f 1 fail", "flaky f 2 ok"],
        "the failed attempt released its key, so its retry ran; the duplicate did not run"
    );
    assert_eq!(sqs.depth(&q.url).await, (0, 0, 0), "every copy settled");
    let dlq = q.dlq.as_deref().expect("a dead-letter queue");
    assert_eq!(
        sqs.depth(dlq).await,
        (0, 0, 0),
        "no duplicate dead-lettered"
    );
}
