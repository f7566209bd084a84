//! `overtime dlq`: what is in a dead-letter queue and why, and moving it back.

use crate::CliError;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use overtime::SqsError;
use overtime::envelope::{
    ATTR_DLQ_ATTEMPTS, ATTR_DLQ_KIND, ATTR_DLQ_MESSAGE_ID, ATTR_DLQ_REASON, ATTR_DLQ_SOURCE,
    ATTR_JOB,
};
use std::collections::HashSet;

/// A queue given by URL or by name, as a URL.
pub(crate) async fn queue_url(client: &Client, queue: &str) -> Result<String, SqsError> {
    if queue.starts_with("http://") || queue.starts_with("https://") {
        return Ok(queue.to_owned());
    }
    let out = client
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .map_err(|e| SqsError::from_sdk("GetQueueUrl", e))?;
    Ok(out.queue_url().unwrap_or_default().to_owned())
}

/// The dead-letter queue of `source`: its redrive target, or `source` itself if it has none.
async fn dead_letter_url(client: &Client, source: &str) -> Result<String, SqsError> {
    let out = client
        .get_queue_attributes()
        .queue_url(source)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| SqsError::from_sdk("GetQueueAttributes", e))?;
    let target = out
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned));
    match target.as_deref().and_then(|arn| arn.rsplit(':').next()) {
        Some(name) => queue_url(client, name).await,
        None => Ok(source.to_owned()),
    }
}

fn attr(m: &aws_sdk_sqs::types::Message, name: &str) -> String {
    m.message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .unwrap_or("-")
        .to_owned()
}

pub(crate) async fn list(
    client: &Client,
    queue: &str,
    json: bool,
    max: usize,
) -> Result<(), CliError> {
    let source = queue_url(client, queue).await?;
    let dlq = dead_letter_url(client, &source).await?;
    let mut seen = HashSet::new();
    let mut quiet_polls = 0;
    // Receiving with a zero visibility timeout leaves each message where it is; repeat until
    // polls stop turning up new ones.
    while seen.len() < max && quiet_polls < 3 {
        let out = client
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| SqsError::from_sdk("ReceiveMessage", e))?;
        let mut new = 0;
        for m in out.messages() {
            let id = m.message_id().unwrap_or_default().to_owned();
            if seen.len() >= max || !seen.insert(id.clone()) {
                continue;
            }
            new += 1;
            if json {
                let line = serde_json::json!({
                    "message_id": id,
                    "job": attr(m, ATTR_JOB),
                    "kind": attr(m, ATTR_DLQ_KIND),
                    "attempts": attr(m, ATTR_DLQ_ATTEMPTS),
                    "reason": attr(m, ATTR_DLQ_REASON),
                    "source": attr(m, ATTR_DLQ_SOURCE),
                    "original_message_id": attr(m, ATTR_DLQ_MESSAGE_ID),
                    "body": m.body().unwrap_or_default(),
                });
                println!("{line}");
            } else {
                println!(
                    "{id}  job={}  kind={}  attempts={}\n    reason: {}",
                    attr(m, ATTR_JOB),
                    attr(m, ATTR_DLQ_KIND),
                    attr(m, ATTR_DLQ_ATTEMPTS),
                    attr(m, ATTR_DLQ_REASON)
                );
            }
        }
        quiet_polls = if new == 0 { quiet_polls + 1 } else { 0 };
    }
    if !json {
        println!("{} dead letter(s) in {dlq}", seen.len());
    }
    Ok(())
}

pub(crate) async fn redrive(client: &Client, queue: &str) -> Result<(), CliError> {
    let source = queue_url(client, queue).await?;
    let dlq = dead_letter_url(client, &source).await?;
    if dlq == source {
        return Err(SqsError::Service {
            operation: "redrive",
            code: "NoRedrivePolicy".into(),
            message: format!("{source} has no RedrivePolicy, so there is nowhere to redrive from"),
        }
        .into());
    }
    let mut moved = 0usize;
    loop {
        let out = client
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(|e| SqsError::from_sdk("ReceiveMessage", e))?;
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            // Back to the source without the dead-letter attributes: a fresh start.
            let mut send = client
                .send_message()
                .queue_url(&source)
                .message_body(m.body().unwrap_or_default());
            for (name, value) in m.message_attributes().into_iter().flatten() {
                if !name.starts_with("overtime.dlq.") {
                    send = send.message_attributes(name, MessageAttributeValue::clone(value));
                }
            }
            if source.ends_with(".fifo") {
                let group = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_else(|| "overtime-redrive".into());
                send = send
                    .message_group_id(group)
                    .message_deduplication_id(m.message_id().unwrap_or_default());
            }
            send.send()
                .await
                .map_err(|e| SqsError::from_sdk("SendMessage", e))?;
            client
                .delete_message()
                .queue_url(&dlq)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(|e| SqsError::from_sdk("DeleteMessage", e))?;
            moved += 1;
        }
    }
    println!("redrove {moved} message(s) from {dlq} to {source}");
    Ok(())
}
