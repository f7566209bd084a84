//! The SQS endpoint at volume: ten thousand jobs exactly once, and kill -9 in the middle.

use super::*;

/// Receives and deletes with `consumers` concurrent loops until `want` distinct bodies were
/// seen or `timeout` passes; returns every body received (duplicates included).
async fn drain(
    client: &aws_sdk_sqs::Client,
    url: &str,
    want: usize,
    consumers: usize,
    timeout: Duration,
) -> Vec<String> {
    let seen = Arc::new(Mutex::new((Vec::new(), HashSet::new())));
    let mut tasks = Vec::new();
    for _ in 0..consumers {
        let (client, url, seen) = (client.clone(), url.to_owned(), seen.clone());
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            while start.elapsed() < timeout && seen.lock().await.1.len() < want {
                let Ok(out) = client
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                else {
                    continue;
                };
                let msgs = out.messages.unwrap_or_default();
                if msgs.is_empty() {
                    continue;
                }
                let mut del = client.delete_message_batch().queue_url(&url);
                for (i, m) in msgs.iter().enumerate() {
                    del = del.entries(
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                            .expect("entry"),
                    );
                }
                let deleted = del.send().await.expect("DeleteMessageBatch");
                assert!(
                    deleted.failed.is_empty(),
                    "deletes failed: {:?}",
                    deleted.failed
                );
                let mut s = seen.lock().await;
                for m in msgs {
                    let b = m.body.unwrap_or_default();
                    s.1.insert(b.clone());
                    s.0.push(b);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("consumer");
    }
    let s = seen.lock().await;
    s.0.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_jobs_go_through_the_endpoint_exactly_once() {
    let dev = Dev::endpoint();
    let client = dev.client(3).await;
    let url = create(&client, "ten-k", &[]).await;
    let queue = Queue::new(client.clone(), &url);
    let results = queue
        .send_all((0..10_000).map(|i| Record {
            id: i.to_string(),
            sleep_ms: 0,
        }))
        .await;
    assert_eq!(results.sent().count(), 10_000);
    assert_eq!(
        queue_attribute(
            &client,
            &url,
            QueueAttributeName::ApproximateNumberOfMessages
        )
        .await
        .as_deref(),
        Some("10000")
    );
    let bodies = drain(&client, &url, 10_000, 8, Duration::from_secs(180)).await;
    let ids: HashSet<String> = bodies
        .iter()
        .map(|b| {
            let v: serde_json::Value = serde_json::from_str(b).expect("envelope");
            v["payload"]["id"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        bodies.len(),
        10_000,
        "every message received once while it was in flight"
    );
    assert_eq!(ids.len(), 10_000);
    let left = client
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .expect("receive");
    assert!(left.messages.unwrap_or_default().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_ten_thousand_message_run_loses_no_acknowledged_send() {
    const TOTAL: usize = 10_000;
    let mut dev = Dev::endpoint();
    let client = dev.client(1).await;
    let url = create(&client, "durable", &[]).await;
    let acked = Arc::new(Mutex::new(HashSet::<usize>::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let send_all = |client: aws_sdk_sqs::Client| {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (client, url, acked, next, down) = (
                client.clone(),
                url.clone(),
                acked.clone(),
                next.clone(),
                down.clone(),
            );
            tasks.push(tokio::spawn(async move {
                loop {
                    let start = next.fetch_add(10, Ordering::SeqCst);
                    if start >= TOTAL {
                        return;
                    }
                    let ids: Vec<usize> = (start..start + 10).collect();
                    loop {
                        let mut req = client.send_message_batch().queue_url(&url);
                        for id in &ids {
                            req = req.entries(
                                SendMessageBatchRequestEntry::builder()
                                    .id(id.to_string())
                                    .message_body(format!("{id:06}:{}", "x".repeat(190)))
                                    .build()
                                    .expect("entry"),
                            );
                        }
                        match req.send().await {
                            Ok(out) => {
                                assert!(out.failed.is_empty(), "{:?}", out.failed);
                                acked.lock().await.extend(ids.iter().copied());
                                break;
                            }
                            // The server is down: try again until it is back.
                            Err(_) => {
                                down.store(true, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    }
                }
            }));
        }
        tasks
    };
    let senders = send_all(client.clone());
    // Kill the server while all eight senders are mid-stream.
    while acked.lock().await.len() < TOTAL / 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    dev.kill9();
    let acked_at_kill: HashSet<usize> = acked.lock().await.clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(down.load(Ordering::SeqCst) || acked.lock().await.len() == TOTAL);
    dev.restart();
    for t in senders {
        t.await.expect("sender");
    }
    assert_eq!(
        acked.lock().await.len(),
        TOTAL,
        "every batch was acknowledged in the end"
    );
    // Everything acknowledged before the kill is there, and every message is processed.
    let bodies = drain(&client, &url, TOTAL, 8, Duration::from_secs(240)).await;
    let got: HashSet<usize> = bodies
        .iter()
        .filter_map(|b| b.split(':').next().and_then(|n| n.parse().ok()))
        .collect();
    let lost: Vec<_> = acked_at_kill.difference(&got).take(10).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before kill -9, then lost: {lost:?}"
    );
    assert_eq!(got.len(), TOTAL, "every acknowledged message was processed");
    assert!(acked_at_kill.len() >= TOTAL / 2);
}
