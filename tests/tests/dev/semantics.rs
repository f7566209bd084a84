//! SQS semantics as AWS documents them: redrive, FIFO, message moves.

use super::*;

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
