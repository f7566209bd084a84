//! `overtime dev` as a real process: its SQS endpoint at volume and across kill -9, its
//! errors, and the whole topology end to end through real function processes.

use aws_sdk_sqs::error::ProvideErrorMetadata as _;
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use overtime::Queue;
use overtime_tests::dev::{Dev, fresh_state};
use overtime_tests::jobs::Record;
use overtime_tests::{output_text, temp_project, venv_tool};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> String {
    client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .expect("GetQueueUrl")
        .queue_url
        .expect("a queue URL")
}

/// One attribute of a queue.
async fn queue_attribute(
    client: &aws_sdk_sqs::Client,
    url: &str,
    name: QueueAttributeName,
) -> Option<String> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| a.get(&name).cloned())
}

/// The newest message move task from a dead-letter queue (ListMessageMoveTasks).
async fn newest_move_task(
    client: &aws_sdk_sqs::Client,
    source_arn: &str,
) -> aws_sdk_sqs::types::ListMessageMoveTasksResultEntry {
    client
        .list_message_move_tasks()
        .source_arn(source_arn)
        .send()
        .await
        .expect("ListMessageMoveTasks")
        .results()
        .first()
        .cloned()
        .expect("a task")
}

async fn create(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attrs: &[(QueueAttributeName, String)],
) -> String {
    let mut req = client.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), v.clone());
    }
    req.send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("URL")
}

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

#[tokio::test]
async fn sqs_semantics_redrive_fifo_and_message_moves() {
    let dev = Dev::endpoint();
    let client = dev.client(1).await;
    // Redrive at maxReceiveCount, then a message move task back.
    let dlq = create(&client, "sem-dlq", &[]).await;
    let dlq_arn = "arn:aws:sqs:us-east-1:000000000000:sem-dlq".to_string();
    let url = create(
        &client,
        "sem",
        &[
            (QueueAttributeName::VisibilityTimeout, "1".into()),
            (
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
                    .to_string(),
            ),
        ],
    )
    .await;
    client
        .send_message()
        .queue_url(&url)
        .message_body("poison")
        .message_attributes(
            "kind",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("test")
                .build()
                .expect("attr"),
        )
        .send()
        .await
        .expect("send");
    let mut counts = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        let out = client
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(2)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .expect("receive");
        for m in out.messages.unwrap_or_default() {
            counts.push(
                m.attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        let in_dlq = client
            .receive_message()
            .queue_url(&dlq)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive dlq")
            .messages
            .unwrap_or_default();
        if let Some(m) = in_dlq.first() {
            assert_eq!(m.body(), Some("poison"));
            assert!(
                m.message_attributes()
                    .is_some_and(|a| a.contains_key("kind"))
            );
            break;
        }
    }
    assert_eq!(
        counts,
        ["1", "2"],
        "received twice, then moved to the dead-letter queue"
    );
    let sources = client
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .send()
        .await
        .expect("sources");
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&url));
    client
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .send()
        .await
        .expect("StartMessageMoveTask");
    let back = client
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(2)
        .send()
        .await
        .expect("receive");
    assert_eq!(
        back.messages
            .unwrap_or_default()
            .first()
            .and_then(|m| m.body.clone())
            .as_deref(),
        Some("poison")
    );
    assert_eq!(
        newest_move_task(&client, &dlq_arn).await.status(),
        Some("COMPLETED")
    );
    // A move runs in the background at its rate, one task per queue at a time, and can be
    // cancelled: 5 messages at 1 a second, cancelled after about 1.5 s.
    for i in 0..5 {
        client
            .send_message()
            .queue_url(&dlq)
            .message_body(format!("parked {i}"))
            .send()
            .await
            .expect("send to the dead-letter queue");
    }
    let url_arn = "arn:aws:sqs:us-east-1:000000000000:sem";
    let slow = client
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .destination_arn(url_arn)
        .max_number_of_messages_per_second(1)
        .send()
        .await
        .expect("StartMessageMoveTask")
        .task_handle
        .expect("handle");
    let second = client
        .start_message_move_task()
        .source_arn(&dlq_arn)
        .send()
        .await
        .expect_err("one task per queue");
    assert!(
        format!("{second:?}").contains("already a message move task running"),
        "{second:?}"
    );
    let first = newest_move_task(&client, &dlq_arn).await;
    assert_eq!(
        (
            first.status(),
            first.approximate_number_of_messages_to_move()
        ),
        (Some("RUNNING"), Some(5))
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let moved = client
        .cancel_message_move_task()
        .task_handle(&slow)
        .send()
        .await
        .expect("CancelMessageMoveTask")
        .approximate_number_of_messages_moved;
    assert!(
        (1..=3).contains(&moved),
        "moved {moved} of 5 at 1 a second in ~1.5 s"
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let last = newest_move_task(&client, &dlq_arn).await;
    assert_eq!(
        (last.status(), last.approximate_number_of_messages_moved()),
        (Some("CANCELLED"), moved),
        "nothing moves after the cancel"
    );
    let left = queue_attribute(
        &client,
        &dlq,
        QueueAttributeName::ApproximateNumberOfMessages,
    )
    .await;
    assert_eq!(left, Some((5 - moved).to_string()));

    // FIFO: order within a group, a group blocked while a message of it is in flight,
    // deduplication for five minutes.
    let fifo = create(
        &client,
        "sem.fifo",
        &[
            (QueueAttributeName::FifoQueue, "true".into()),
            (QueueAttributeName::VisibilityTimeout, "30".into()),
        ],
    )
    .await;
    for (group, body) in [("a", "a1"), ("a", "a2"), ("b", "b1"), ("a", "a3")] {
        let out = client
            .send_message()
            .queue_url(&fifo)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(body)
            .send()
            .await
            .expect("send fifo");
        assert!(out.sequence_number().is_some());
    }
    let dup = client
        .send_message()
        .queue_url(&fifo)
        .message_body("a1 again")
        .message_group_id("a")
        .message_deduplication_id("a1")
        .send()
        .await
        .expect("duplicate accepted");
    let first = client
        .receive_message()
        .queue_url(&fifo)
        .max_number_of_messages(2)
        .send()
        .await
        .expect("receive");
    let first = first.messages.unwrap_or_default();
    let bodies: Vec<_> = first.iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["a1", "a2"], "group a in order");
    assert!(
        first.iter().any(|m| m.message_id() == dup.message_id()),
        "a duplicate answers with the first message's id"
    );
    let second = client
        .receive_message()
        .queue_url(&fifo)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<_> = second
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect();
    assert_eq!(
        bodies,
        ["b1"],
        "group a is blocked while a1 and a2 are in flight"
    );
    let err = client
        .send_message()
        .queue_url(&fifo)
        .message_body("no group")
        .message_deduplication_id("x")
        .send()
        .await
        .expect_err("FIFO needs a group");
    assert_eq!(err.code(), Some("MissingParameter"));
}

async fn raw(
    dev: &Dev,
    target: Option<&str>,
    content_type: &str,
    body: String,
) -> (u16, serde_json::Value, Option<String>) {
    let mut req = reqwest::Client::new()
        .post(&dev.endpoint)
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = target {
        req = req.header("x-amz-target", t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let query = resp
        .headers()
        .get("x-amzn-query-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json = resp.json().await.unwrap_or_default();
    (status, json, query)
}

#[tokio::test]
async fn bad_requests_get_sqs_errors_and_the_server_keeps_serving() {
    let dev = Dev::endpoint();
    let client = dev.client(1).await;
    let url = create(&client, "bad", &[]).await;
    let json = "application/x-amz-json-1.0";
    let (status, body, _) = raw(
        &dev,
        Some("AmazonSQS.SendMessage"),
        json,
        "{not json".into(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#SerializationException"
    );
    let (status, body, _) = raw(&dev, Some("AmazonSQS.LaunchRockets"), json, "{}".into()).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#UnknownOperationException"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("LaunchRockets"))
    );
    let (status, body, _) = raw(
        &dev,
        None,
        "application/x-www-form-urlencoded",
        "Action=ListQueues".into(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("JSON 1.0")),
        "{body}"
    );
    let (status, _, query) = raw(
        &dev,
        Some("AmazonSQS.SendMessage"),
        json,
        serde_json::json!({"QueueUrl": url, "MessageBody": "x".repeat(7 * 1024 * 1024)})
            .to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(query.as_deref(), Some("InvalidParameterValue;Sender"));
    let (status, _, query) = raw(
        &dev,
        Some("AmazonSQS.SendMessageBatch"),
        json,
        serde_json::json!({"QueueUrl": url, "Entries": [
            {"Id": "a", "MessageBody": "x".repeat(7 * 1024 * 1024)}
        ]})
        .to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        query.as_deref(),
        Some("AWS.SimpleQueueService.BatchRequestTooLong;Sender")
    );

    // Through the SDK, the typed errors.
    let err = client
        .send_message()
        .queue_url(format!("{}/000000000000/nope", dev.endpoint))
        .message_body("x")
        .send()
        .await
        .expect_err("no queue");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_queue_does_not_exist()),
        "{err:?}"
    );
    let err = client
        .send_message()
        .queue_url(format!("{}/123456789012/bad", dev.endpoint))
        .message_body("x")
        .send()
        .await
        .expect_err("other account");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_queue_does_not_exist())
    );
    let err = client
        .send_message()
        .queue_url(&url)
        .message_body("x".repeat(1_048_577))
        .send()
        .await
        .expect_err("too big");
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert!(err.message().is_some_and(|m| m.contains("1048576")));
    let err = client
        .send_message()
        .queue_url(&url)
        .message_body("bad \u{1} char")
        .send()
        .await
        .expect_err("bad chars");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_message_contents())
    );
    let err = client
        .delete_message()
        .queue_url(&url)
        .receipt_handle("garbage!")
        .send()
        .await
        .expect_err("bad handle");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_receipt_handle_is_invalid())
    );
    let mut batch = client.send_message_batch().queue_url(&url);
    for i in 0..11 {
        batch = batch.entries(
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body("x")
                .build()
                .expect("entry"),
        );
    }
    let err = batch.send().await.expect_err("11 entries");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_too_many_entries_in_batch_request())
    );
    let big = "y".repeat(600_000);
    let err = client
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body(&big)
                .build()
                .expect("entry"),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("b")
                .message_body(&big)
                .build()
                .expect("entry"),
        )
        .send()
        .await
        .expect_err("batch over 1 MiB");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_batch_request_too_long())
    );
    // A bad entry fails alone; the good one in the batch goes through.
    let out = client
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("good")
                .message_body("fine")
                .build()
                .expect("entry"),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("bad")
                .message_body("x")
                .delay_seconds(901)
                .build()
                .expect("entry"),
        )
        .send()
        .await
        .expect("batch");
    assert_eq!(out.successful().len(), 1);
    assert_eq!(out.failed().first().map(|f| f.id()), Some("bad"));
    assert_eq!(
        out.failed().first().map(|f| f.code()),
        Some("InvalidParameterValue")
    );
    let err = client
        .create_queue()
        .queue_name("bad")
        .attributes(QueueAttributeName::VisibilityTimeout, "99")
        .send()
        .await
        .expect_err("same name, other attributes");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_queue_name_exists())
    );
    let err = client
        .create_queue()
        .queue_name("vis")
        .attributes(QueueAttributeName::VisibilityTimeout, "43201")
        .send()
        .await
        .expect_err("out of range");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_attribute_value())
    );
    // After all that, the server still serves.
    let m = client
        .receive_message()
        .queue_url(&url)
        .send()
        .await
        .expect("receive");
    assert_eq!(
        m.messages
            .unwrap_or_default()
            .first()
            .and_then(|m| m.body.clone())
            .as_deref(),
        Some("fine")
    );
}

#[test]
fn boto3_and_its_md5_checks_work_unchanged() {
    // boto3 (installed with moto) verifies MD5OfMessageBody and MD5OfMessageAttributes.
    let dev = Dev::endpoint();
    let script = r#"
import boto3, os, sys
sqs = boto3.client("sqs", endpoint_url=os.environ["EP"], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
url = sqs.create_queue(QueueName="py")["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes={
    "n": {"DataType": "Number", "StringValue": "42"},
    "s": {"DataType": "String", "StringValue": "ünïcode"},
    "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}})
r = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "one"}, {"Id": "2", "MessageBody": "two"}])
assert len(r["Successful"]) == 2, r
got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
assert sorted(m["Body"] for m in got) == ["héllo", "one", "two"], got
m = [m for m in got if m["Body"] == "héllo"][0]
assert m["MessageAttributes"]["b"]["BinaryValue"] == b"\x00\x01\xff"
print("boto3 ok", len(got))
"#;
    let out = std::process::Command::new(venv_tool("python"))
        .args(["-c", script])
        .env("EP", &dev.endpoint)
        .output()
        .expect("run python");
    let text = output_text(&out);
    assert!(
        out.status.success() && text.contains("boto3 ok 3"),
        "{text}"
    );
}

fn at_in(secs: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::seconds(secs);
    format!("at({})", t.format("%Y-%m-%dT%H:%M:%S"))
}

fn bin_dir() -> std::path::PathBuf {
    overtime_tests::lambda::workspace_bin("overtime")
        .parent()
        .map(std::path::PathBuf::from)
        .unwrap_or_default()
}

#[test]
fn a_bad_declaration_stops_start_up_with_file_line_col() {
    let project = temp_project("dev-bad");
    std::fs::write(
        project.join("infra/overtime.toml"),
        "[project]\nname = \"p\"\n\n[functions.w]\ntimeout = 901\n\n[schedules.s]\nexpression = \"cron(0 0 * * * *)\"\nfunction = \"w\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(overtime_tests::lambda::workspace_bin("overtime"))
        .args(["dev", "--sqs-addr", "127.0.0.1:0", "--state"])
        .arg(fresh_state())
        .arg("--root")
        .arg(&project)
        .output()
        .expect("run overtime dev");
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("infra/overtime.toml:5:11: error"), "{text}");
    assert!(text.contains("infra/overtime.toml:8:"), "{text}");
    assert!(text.contains("did not start"), "{text}");
    assert!(!text.contains("ready"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_that_fails_to_build_or_start_is_reported_and_the_others_run() {
    // A tiny workspace: `good` builds, `broken` does not compile.
    let project = temp_project("dev-broken");
    std::fs::write(
        project.join("Cargo.toml"),
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[[bin]]\nname = \"good\"\npath = \"good.rs\"\n\n[[bin]]\nname = \"broken\"\npath = \"broken.rs\"\n\n[workspace]\n",
    )
    .expect("write");
    std::fs::write(project.join("good.rs"), "fn main() {}\n").expect("write");
    std::fs::write(
        project.join("broken.rs"),
        "fn main() { let x: u32 = \"no\"; }\n",
    )
    .expect("write");
    std::fs::write(
        project.join("infra/overtime.toml"),
        "[project]\nname = \"tiny\"\n\n[functions.good]\ntimeout = 5\n\n[functions.broken]\ntimeout = 5\n",
    )
    .expect("write");
    let state = fresh_state();
    let dev = Dev::start(&[], Some(&project), &state);
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(180)),
        "{}",
        dev.log()
    );
    let log = dev.log();
    assert!(
        log.contains("NOT RUNNING    broken: cargo build --bin broken failed: error[E0308]"),
        "{log}"
    );
    assert!(
        log.contains("    good "),
        "good is listed as running: {log}"
    );
    drop(dev);

    // Prebuilt: one binary missing, one that exits at start, one real worker.
    let bins = temp_project("dev-bins");
    std::os::unix::fs::symlink(bin_dir().join("test-worker"), bins.join("test-worker"))
        .expect("link");
    std::os::unix::fs::symlink("/bin/false", bins.join("crashes")).expect("link");
    let ledger = bins.join("ledger");
    let deadlines = bins.join("deadlines");
    // Two functions written against the runtime API by hand: one reports an init error, one
    // notes the deadline it is given and answers.
    script(
        &bins.join("init-fails"),
        &format!(
            "{PY_API}post(api + '/init/error', {{'errorType': 'Config', 'errorMessage': 'DATABASE_URL is not set'}})\ntime.sleep(30)\n"
        ),
    );
    script(
        &bins.join("deadline"),
        &format!(
            "{PY_API}while True:\n    r = urllib.request.urlopen(api + '/invocation/next')\n    rid = r.headers['Lambda-Runtime-Aws-Request-Id']\n    dl = int(r.headers['Lambda-Runtime-Deadline-Ms'])\n    open('{}', 'a').write(f'{{dl - int(time.time() * 1000)}}\\n')\n    post(api + f'/invocation/{{rid}}/response', {{}})\n",
            deadlines.display()
        ),
    );
    // And one that fails every invocation, noting when it ran.
    let flaky = bins.join("flaky-runs");
    script(
        &bins.join("flaky"),
        &format!(
            "{PY_API}while True:\n    r = urllib.request.urlopen(api + '/invocation/next')\n    rid = r.headers['Lambda-Runtime-Aws-Request-Id']\n    open('{}', 'a').write(f'{{time.time()}} {{r.read().decode()}}\\n')\n    post(api + f'/invocation/{{rid}}/error', {{'errorType': 'Boom', 'errorMessage': 'always'}})\n",
            flaky.display()
        ),
    );
    std::fs::write(
        project.join("infra/overtime.toml"),
        format!(
            "[schedules.flaky-tick]\nexpression = \"rate(1 day)\"\nfunction = \"flaky\"\nenabled = false\n\n[functions.flaky]\ntimeout = 5\n\n\
             [project]\nname = \"tiny\"\n\n[functions.good]\nbinary = \"test-worker\"\ntimeout = 5\nqueues = {{ OVERTIME_QUEUE_URL = \"ok\" }}\nenvironment = {{ LEDGER_PATH = \"{}\" }}\n\n\
             [functions.crashes]\ntimeout = 5\nqueues = {{ OVERTIME_QUEUE_URL = \"doomed\" }}\n\n[functions.missing]\ntimeout = 5\n\n\
             [functions.init-fails]\ntimeout = 5\n\n[functions.deadline]\ntimeout = 7\n\n\
             [queues.ok]\n[queues.doomed]\nvisibility_timeout = 5\nmax_receives = 2\n[queues.init]\nvisibility_timeout = 5\n[queues.timed]\nvisibility_timeout = 7\n\n\
             [[mappings]]\nqueue = \"ok\"\nfunction = \"good\"\n\n[[mappings]]\nqueue = \"doomed\"\nfunction = \"crashes\"\n\n\
             [[mappings]]\nqueue = \"init\"\nfunction = \"init-fails\"\n\n[[mappings]]\nqueue = \"timed\"\nfunction = \"deadline\"\n",
            ledger.display()
        ),
    )
    .expect("write");
    let mut dev = Dev::start(
        &[
            "--binaries".into(),
            bins.display().to_string(),
            "--lambda-retry-delay".into(),
            "1".into(),
        ],
        Some(&project),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    assert!(
        dev.log().contains("NOT RUNNING    missing: no binary"),
        "{}",
        dev.log()
    );
    let client = dev.client(3).await;
    let ok_url = queue_url(&client, "tiny-ok").await;
    let doomed = queue_url(&client, "tiny-doomed").await;
    Queue::new(client.clone(), &doomed)
        .send(Record {
            id: "d".into(),
            sleep_ms: 0,
        })
        .await
        .expect("send");
    Queue::new(client.clone(), &ok_url)
        .send(Record {
            id: "fine".into(),
            sleep_ms: 0,
        })
        .await
        .expect("send");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30)
        && !std::fs::read_to_string(&ledger)
            .unwrap_or_default()
            .contains("fine")
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        std::fs::read_to_string(&ledger)
            .unwrap_or_default()
            .contains("fine"),
        "the good function ran: {}",
        dev.log()
    );
    // The crashing one's message is retried, then redriven to its dead-letter queue.
    let dlq = queue_url(&client, "tiny-doomed-dlq").await;
    let mut dead = Vec::new();
    let start = Instant::now();
    while dead.is_empty() && start.elapsed() < Duration::from_secs(40) {
        dead = client
            .receive_message()
            .queue_url(&dlq)
            .wait_time_seconds(2)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default();
    }
    assert_eq!(dead.len(), 1, "{}", dev.log());
    let state = dev.state_json().await;
    let fails = state["invocations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| {
                    i["function"] == "crashes"
                        && i["outcome"]
                            .as_str()
                            .is_some_and(|o| o.contains("did not start"))
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(fails, 2, "two receives, two failed starts: {state}");

    // An init error is reported with its reason; the deadline is the declared timeout from now.
    for (queue, body) in [("tiny-init", "i"), ("tiny-timed", "t")] {
        let url = queue_url(&client, queue).await;
        client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .expect("send");
    }
    let start = Instant::now();
    let mut init_error = None;
    while start.elapsed() < Duration::from_secs(20) && (init_error.is_none() || !deadlines.exists())
    {
        let state = dev.state_json().await;
        init_error = state["invocations"].as_array().and_then(|a| {
            a.iter()
                .find(|i| i["function"] == "init-fails")
                .and_then(|i| i["outcome"].as_str().map(str::to_owned))
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        init_error.as_deref(),
        Some("did not start: init error: Config: DATABASE_URL is not set")
    );
    let left: i64 = std::fs::read_to_string(&deadlines)
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .expect("the deadline function ran");
    assert!(
        (6_000..=7_000).contains(&left),
        "deadline {left} ms ahead; declared timeout 7 s"
    );

    // A scheduled function that fails is retried twice with the same event, as Lambda
    // retries an asynchronous invocation (here 1 s and then 2 s later), and then dropped.
    let out = dev.trigger("flaky-tick");
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert!(
        output_text(&out)
            .contains("error Boom: always; Lambda retries it in 1 s and 2 s after that"),
        "{}",
        output_text(&out)
    );
    assert!(
        dev.wait_for_output(
            "gave up trigger flaky-tick: failed 3 times",
            Duration::from_secs(20)
        ),
        "{}",
        dev.log()
    );
    let runs: Vec<(f64, String)> = std::fs::read_to_string(&flaky)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (t, event) = l.split_once(' ')?;
            Some((t.parse().ok()?, event.to_owned()))
        })
        .collect();
    assert_eq!(runs.len(), 3, "one invocation and two retries: {runs:?}");
    assert!(
        runs.iter().all(|(_, e)| *e == runs[0].1),
        "the same event each time: {runs:?}"
    );
    let gaps = (runs[1].0 - runs[0].0, runs[2].0 - runs[1].0);
    assert!(
        gaps.0 >= 0.9 && gaps.1 >= 1.9,
        "retried after 1 s, then 2 s: {gaps:?}"
    );
    let state = dev.state_json().await;
    let triggers: Vec<&str> = state["invocations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["function"] == "flaky")
                .filter_map(|i| i["trigger"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(triggers.len(), 3, "{state}");
    for t in [
        "trigger flaky-tick",
        "trigger flaky-tick (retry 1)",
        "trigger flaky-tick (retry 2)",
    ] {
        assert!(triggers.contains(&t), "{t}: {triggers:?}");
    }
    dev.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_does_not_wait_for_long_polls_and_takes_the_functions_with_it() {
    // A function whose instance stays warm, and which starts a process of its own.
    let bins = temp_project("dev-stop");
    let grandchild = bins.join("grandchild");
    script(
        &bins.join("spawner"),
        &format!(
            "{PY_API}import subprocess\nc = subprocess.Popen(['sleep', '300'])\nopen('{}', 'w').write(str(c.pid))\nwhile True:\n    r = urllib.request.urlopen(api + '/invocation/next')\n    rid = r.headers['Lambda-Runtime-Aws-Request-Id']\n    post(api + f'/invocation/{{rid}}/response', {{}})\n",
            grandchild.display()
        ),
    );
    std::fs::write(
        bins.join("infra/overtime.toml"),
        "[project]\nname = \"stop\"\n\n[functions.spawner]\ntimeout = 5\n\n[schedules.tick]\nexpression = \"rate(1 day)\"\nfunction = \"spawner\"\nenabled = false\n\n[queues.idle]\n",
    )
    .expect("write");
    let mut dev = Dev::start(
        &["--binaries".into(), bins.display().to_string()],
        Some(&bins),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    let out = dev.trigger("tick");
    assert!(out.status.success(), "{}", output_text(&out));
    let pid: u32 = std::fs::read_to_string(&grandchild)
        .expect("the function started its process")
        .trim()
        .parse()
        .expect("pid");
    let children = dev.children();
    assert!(!children.is_empty(), "a warm instance: {}", dev.log());

    // A client long-polls an empty queue (20 s), as a worker does.
    let client = dev.client(1).await;
    let url = queue_url(&client, "stop-idle").await;
    let poll = tokio::spawn(async move {
        client
            .receive_message()
            .queue_url(url)
            .wait_time_seconds(20)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "the long poll is open");

    // Stopped, it exits without waiting out the poll, and nothing it started is left.
    let took = dev.terminate(Duration::from_secs(15));
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(15)),
        "overtime dev waited for the long poll to stop: {took:?}"
    );
    assert!(
        dev.log().contains("overtime dev: stopping"),
        "{}",
        dev.log()
    );
    let gone = Instant::now();
    let alive = |p: &u32| overtime_tests::dev::running(*p);
    while (children.iter().any(alive) || alive(&pid)) && gone.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !children.iter().any(alive),
        "instances outlived the stop: {children:?}"
    );
    assert!(
        !alive(&pid),
        "the function's own process {pid} outlived the stop"
    );
    let _ = poll.await;
}

/// The top of a Python function that speaks the runtime API.
const PY_API: &str = "import json, os, time, urllib.request\napi = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime'\ndef post(url, body):\n    urllib.request.urlopen(urllib.request.Request(url, data=json.dumps(body).encode(), method='POST'))\n";

fn script(path: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    // The system Python: a function gets Lambda's environment, not the shell's, so a version
    // manager's shim on PATH (which needs the shell's variables) would not start.
    let python = ["/usr/bin/python3", "/bin/python3"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or("/usr/bin/env python3");
    std::fs::write(path, format!("#!{python}\n{body}")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_topology_runs_end_to_end() {
    let project = temp_project("dev-e2e");
    let declaration = format!(
        r#"[project]
name = "e2e"

[functions.fanout]
binary = "sync-accounts"
timeout = 10
queues = {{ OVERTIME_QUEUE_URL = "jobs" }}
environment = {{ ACCOUNT_COUNT = "20" }}

[functions.worker]
timeout = 3
queues = {{ OVERTIME_QUEUE_URL = "jobs" }}
runs = true

[functions.slow]
binary = "test-overrun"
timeout = 2
environment = {{ SLEEP_MS = "5000" }}

[queues.jobs]

[queues.slow]
visibility_timeout = 2
max_receives = 2

[[mappings]]
queue = "jobs"
function = "worker"

[[mappings]]
queue = "slow"
function = "slow"
batch_size = 1

[schedules.fanout]
expression = "{fanout_at}"
function = "fanout"

[schedules.rescore]
expression = "{rescore_at}"
queue = "jobs"
job = "rescore-accounts"
payload = {{ from = 0, to = 400000 }}
"#,
        fanout_at = at_in(12),
        rescore_at = at_in(12),
    );
    std::fs::write(project.join("infra/overtime.toml"), declaration).expect("write");
    std::fs::write(
        project.join("vercel.json"),
        r#"{"crons": [{"path": "/api/cron/test-cron", "schedule": "0 0 1 1 *"}]}"#,
    )
    .expect("write");
    std::fs::write(
        project.join(".env.local"),
        format!("TICKS_PATH={}\n", project.join("ticks").display()),
    )
    .expect("write");
    let mut dev = Dev::start(
        &["--binaries".into(), bin_dir().display().to_string()],
        Some(&project),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    let client = dev.client(3).await;
    let slow = queue_url(&client, "e2e-slow").await;
    Queue::new(client.clone(), &slow)
        .send(Record {
            id: "sleepy".into(),
            sleep_ms: 5_000,
        })
        .await
        .expect("send");

    // Wait for: the fan-out tick, its 20 jobs consumed, the chunked run completed, and the
    // overrunning job killed twice and dead-lettered.
    let start = Instant::now();
    let mut state = serde_json::Value::Null;
    let done = |s: &serde_json::Value| {
        let runs_done = s["runs"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["status"] == "done"));
        let queues = s["queues"].as_array().cloned().unwrap_or_default();
        let depth = |name: &str| {
            queues.iter().find(|q| q["name"] == name).map_or(-1, |q| {
                q["visible"].as_i64().unwrap_or(0) + q["in_flight"].as_i64().unwrap_or(0)
            })
        };
        runs_done && depth("e2e-jobs") == 0 && depth("e2e-slow-dlq") == 1 && depth("e2e-slow") == 0
    };
    while start.elapsed() < Duration::from_secs(120) {
        state = dev.state_json().await;
        if done(&state) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(done(&state), "not finished in time: {state}\n{}", dev.log());
    let invocations = state["invocations"].as_array().cloned().unwrap_or_default();
    let count =
        |f: &dyn Fn(&serde_json::Value) -> bool| invocations.iter().filter(|i| f(i)).count();
    assert_eq!(
        count(&|i| i["function"] == "fanout"
            && i["trigger"] == "schedule fanout"
            && i["ok"] == true),
        1,
        "the schedule fired once: {invocations:?}"
    );
    assert!(
        count(&|i| i["function"] == "worker"
            && i["trigger"] == "queue e2e-jobs"
            && i["ok"] == true)
            >= 2
    );
    assert_eq!(
        count(&|i| i["function"] == "worker" && i["ok"] == false),
        0,
        "{invocations:?}"
    );
    assert_eq!(
        count(&|i| i["function"] == "slow"
            && i["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("timed out after 2 s"))),
        2,
        "killed at its deadline on each of its two receives: {invocations:?}"
    );
    let run = state["runs"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["job"] == "rescore-accounts"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["items_done"], 400_000);
    assert!(
        run["slice"].as_u64().is_some_and(|s| s >= 2),
        "several slices under a 3 s timeout: {run}"
    );
    // The start-up output says what runs where.
    let log = dev.log();
    for line in [
        "SQS endpoint",
        "dashboard",
        "mapping        e2e-jobs -> worker",
        "schedule       fanout",
    ] {
        assert!(log.contains(line), "{line}: {log}");
    }
    // And the dashboard page is served.
    let page = reqwest::get(&dev.endpoint)
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("page");
    assert!(page.contains("<title>overtime dev</title>"));

    // `overtime trigger` fires a schedule now: a Vercel cron as Vercel calls it (GET with
    // CRON_SECRET, which the route checks), and a name that is not a schedule is refused.
    let trigger = |name: &str| dev.trigger(name);
    let out = trigger("/api/cron/test-cron");
    assert!(out.status.success(), "{}", output_text(&out));
    let ticks = std::fs::read_to_string(project.join("ticks")).unwrap_or_default();
    let tick: serde_json::Value =
        serde_json::from_str(ticks.lines().next().unwrap_or_default()).expect("a tick");
    assert_eq!(tick["schedule"], "/api/cron/test-cron");
    assert_eq!(tick["source"], "vercel");
    let out = trigger("no-such-schedule");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        output_text(&out).contains("the schedules are: "),
        "{}",
        output_text(&out)
    );

    // SIGKILLed, overtime dev takes the processes it started with it: the warm Lambda
    // instances and the Vercel route server (which outlived it before).
    let children = dev.children();
    assert!(
        children.len() >= 2,
        "function instances and a route server running: {children:?}"
    );
    dev.kill9();
    let gone = Instant::now();
    let alive = |pid: &u32| overtime_tests::dev::running(*pid);
    while children.iter().any(alive) && gone.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left: Vec<&u32> = children.iter().filter(|p| alive(p)).collect();
    assert!(left.is_empty(), "still running after kill -9: {left:?}");
}

/// Debian's Chromium (installed by `.ci/run`), headless, with the flags this machine needs.
fn chromium_dom(url: &str) -> String {
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", fresh_state().display()))
        .arg(url)
        .output()
        .expect("run chromium (apt-get install chromium; .ci/run does)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_topology_in_a_browser() {
    let project = temp_project("dev-dash");
    std::fs::write(
        project.join("infra/overtime.toml"),
        "[project]\nname = \"dash\"\n\n[functions.w]\nbinary = \"test-worker\"\ntimeout = 5\nqueues = { OVERTIME_QUEUE_URL = \"jobs\" }\n\n\
         [queues.jobs]\n\n[[mappings]]\nqueue = \"jobs\"\nfunction = \"w\"\n\n\
         [schedules.nightly]\nexpression = \"cron(0 3 * * ? *)\"\ntimezone = \"Europe/Paris\"\nqueue = \"jobs\"\njob = \"record\"\npayload = { id = \"n\", sleep_ms = 0 }\n",
    )
    .expect("write");
    let dev = Dev::start(
        &["--binaries".into(), bin_dir().display().to_string()],
        Some(&project),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    // One invocation to show: the schedule fired by hand, its job consumed by `w`.
    let out = dev.trigger("nightly");
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        dev.wait_for_output("w <- queue dash-jobs", Duration::from_secs(20)),
        "{}",
        dev.log()
    );
    let dom = chromium_dom(&dev.endpoint);
    for text in [
        "<td>dash-jobs</td>",
        "<td>dash-jobs-dlq</td>",
        "<td>w</td><td>5 s</td>",
        "<td>nightly</td><td>infra/overtime.toml</td><td><code>cron(0 3 * * ? *)</code></td><td>queue dash-jobs</td>",
        "<td>queue dash-jobs</td>",
        "class=\"ok\">ok</td>",
    ] {
        assert!(
            dom.contains(text),
            "{text} not in the rendered page:\n{dom}"
        );
    }
}
