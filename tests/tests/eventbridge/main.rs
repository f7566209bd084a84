//! `overtime dev`'s EventBridge, as a real process, through the real aws-sdk-eventbridge:
//! buses, rules and targets with EventBridge's errors, PutEvents with partial failures and its
//! delivery to SQS queues (the event's shape, Input, InputPath, InputTransformer), pattern
//! matching on a table of cases from AWS's documentation (TestEventPattern and delivery),
//! durability across kill -9, and the listeners of `infra/overtime.toml` fed by
//! `overtime events send`.
//!
//! The reference is AWS's documented behaviour (the EventBridge user guide and API reference),
//! not moto: moto's EventBridge has no TestEventPattern, leaves `account` out of events sent to
//! SQS and does not check input transformers.

mod api;
mod delivery;
mod durability;
mod listeners;
mod patterns;
mod waits;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use overtime_tests::dev::Dev;

/// The error code and message of a failed call.
fn refused<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, E>,
) -> (String, String) {
    let err = result.expect_err("the call should fail");
    (
        err.code().unwrap_or_default().to_owned(),
        err.message().unwrap_or_default().to_owned(),
    )
}

/// A queue on `dev`'s endpoint and its ARN.
async fn queue(dev: &Dev, name: &str) -> (String, String) {
    let sqs = dev.client(1).await;
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a URL");
    (url, format!("arn:aws:sqs:us-east-1:000000000000:{name}"))
}

/// Every message on a queue, received until `count` are in or a receive comes back empty.
async fn drain(dev: &Dev, url: &str, count: usize) -> Vec<aws_sdk_sqs::types::Message> {
    let sqs = dev.client(1).await;
    let mut all = Vec::new();
    while all.len() < count {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("ReceiveMessage")
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            break;
        }
        for m in &got {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
        all.extend(got);
    }
    all
}

/// A rule on `bus` with `pattern`, whose one target is `target`.
async fn rule_to(
    client: &Client,
    bus: &str,
    name: &str,
    pattern: &serde_json::Value,
    target: aws_sdk_eventbridge::types::Target,
) {
    client
        .put_rule()
        .name(name)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("PutRule");
    let out = client
        .put_targets()
        .rule(name)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .expect("PutTargets");
    assert_eq!(out.failed_entry_count(), 0, "{out:?}");
}

fn target(id: &str, arn: &str) -> aws_sdk_eventbridge::types::builders::TargetBuilder {
    aws_sdk_eventbridge::types::Target::builder()
        .id(id)
        .arn(arn)
}

fn entry(
    bus: &str,
    name: &str,
    detail: &serde_json::Value,
) -> aws_sdk_eventbridge::types::PutEventsRequestEntry {
    aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source("overtime")
        .detail_type(name)
        .detail(detail.to_string())
        .build()
}
