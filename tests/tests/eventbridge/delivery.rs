//! PutEvents: one result per entry, partial failures, and what reaches a queue target.

use super::*;
use serde_json::json;

#[tokio::test]
async fn put_events_answers_per_entry_and_refuses_what_eventbridge_refuses() {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    let good = entry(
        "default",
        "user.signed_up",
        &json!({"id": "e1", "data": {}}),
    );
    let no_detail = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source("overtime")
        .detail_type("x")
        .build();
    let malformed = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .source("overtime")
        .detail_type("x")
        .detail("[1, 2]")
        .build();
    let unknown_bus = entry("nope", "x", &json!({}));
    let out = client
        .put_events()
        .entries(good)
        .entries(no_detail)
        .entries(malformed)
        .entries(unknown_bus)
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(out.failed_entry_count(), 3);
    let results = out.entries();
    assert!(results[0].event_id().is_some());
    assert_eq!(results[1].error_code(), Some("InvalidArgument"));
    assert_eq!(results[2].error_code(), Some("MalformedDetail"));
    assert_eq!(results[3].error_code(), Some("ResourceNotFoundException"));
    let eleven: Vec<_> = (0..11).map(|_| entry("default", "x", &json!({}))).collect();
    let (code, _) = refused(client.put_events().set_entries(Some(eleven)).send().await);
    assert_eq!(code, "ValidationException", "at most 10 entries");
    let big = json!({ "data": "x".repeat(overtime::limits::EVENTBRIDGE_MAX_PUT_BYTES) });
    let (code, message) = refused(
        client
            .put_events()
            .entries(entry("default", "x", &big))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(message.contains("over the limit"), "{message}");
}

#[tokio::test]
async fn a_matching_event_reaches_each_target_in_eventbridge_s_shape_or_transformed() {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    client
        .create_event_bus()
        .name("shop")
        .send()
        .await
        .expect("bus");
    let (whole_url, whole_arn) = queue(&dev, "whole").await;
    let (part_url, part_arn) = queue(&dev, "part").await;
    let (env_url, env_arn) = queue(&dev, "envelope").await;
    let (const_url, const_arn) = queue(&dev, "constant").await;
    let (off_url, off_arn) = queue(&dev, "disabled").await;
    let pattern = json!({"source": ["overtime"], "detail-type": ["order.placed"], "detail": {"data": {"total": [{"numeric": [">", 100]}]}}});
    rule_to(
        &client,
        "shop",
        "whole",
        &pattern,
        target("t", &whole_arn).build().expect("t"),
    )
    .await;
    rule_to(
        &client,
        "shop",
        "part",
        &pattern,
        target("t", &part_arn)
            .input_path("$.detail.data")
            .build()
            .expect("t"),
    )
    .await;
    let transformer = aws_sdk_eventbridge::types::InputTransformer::builder()
        .input_paths_map("id", "$.id")
        .input_paths_map("key", "$.detail.id")
        .input_paths_map("payload", "$.detail.data")
        .input_template(r#"{"v":1,"job":"fulfil","id":<id>,"key":<key>,"payload":<payload>,"rule":"<aws.events.rule-name>"}"#)
        .build()
        .expect("transformer");
    rule_to(
        &client,
        "shop",
        "envelope",
        &pattern,
        target("t", &env_arn)
            .input_transformer(transformer)
            .build()
            .expect("t"),
    )
    .await;
    rule_to(
        &client,
        "shop",
        "constant",
        &pattern,
        target("t", &const_arn)
            .input(r#"{"ping": true}"#)
            .build()
            .expect("t"),
    )
    .await;
    rule_to(
        &client,
        "shop",
        "disabled",
        &pattern,
        target("t", &off_arn).build().expect("t"),
    )
    .await;
    client
        .disable_rule()
        .name("disabled")
        .event_bus_name("shop")
        .send()
        .await
        .expect("DisableRule");

    let detail = json!({"id": "order-7", "data": {"total": 250, "items": ["a"]}});
    let small = json!({"id": "order-8", "data": {"total": 5}});
    let out = client
        .put_events()
        .entries(entry("shop", "order.placed", &detail))
        .entries(entry("shop", "order.placed", &small))
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(out.failed_entry_count(), 0);
    let id = out.entries()[0].event_id().expect("an id").to_owned();

    let whole = drain(&dev, &whole_url, 2).await;
    assert_eq!(whole.len(), 1, "only the event over 100 matches");
    let event: serde_json::Value =
        serde_json::from_str(whole[0].body().unwrap_or_default()).expect("JSON");
    assert_eq!(event["version"], "0");
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["detail-type"], "order.placed");
    assert_eq!(event["source"], "overtime");
    assert_eq!(event["account"], "000000000000");
    assert_eq!(event["region"], "us-east-1");
    assert_eq!(event["resources"], json!([]));
    assert!(
        event["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{event}"
    );
    assert_eq!(event["detail"], detail);

    let part = drain(&dev, &part_url, 2).await;
    assert_eq!(part.len(), 1);
    assert_eq!(
        part[0].body(),
        Some(r#"{"items":["a"],"total":250}"#),
        "InputPath keeps the event's text, as sent"
    );
    let envelope = drain(&dev, &env_url, 2).await;
    assert_eq!(envelope.len(), 1);
    assert_eq!(
        envelope[0].body().map(str::to_owned),
        Some(format!(
            r#"{{"v":1,"job":"fulfil","id":"{id}","key":"order-7","payload":{{"items":["a"],"total":250}},"rule":"envelope"}}"#
        ))
    );
    let constant = drain(&dev, &const_url, 2).await;
    assert_eq!(constant.len(), 1);
    assert_eq!(constant[0].body(), Some(r#"{"ping":true}"#));
    assert!(
        drain(&dev, &off_url, 1).await.is_empty(),
        "a disabled rule delivers nothing"
    );
}

#[tokio::test]
async fn an_event_for_a_missing_queue_lands_in_the_target_s_dead_letter_queue_with_the_reason() {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    let (dlq_url, dlq_arn) = queue(&dev, "events-dlq").await;
    let pattern = json!({"source": ["overtime"]});
    let gone = "arn:aws:sqs:us-east-1:000000000000:not-created";
    rule_to(
        &client,
        "default",
        "r",
        &pattern,
        target("t", gone)
            .dead_letter_config(
                aws_sdk_eventbridge::types::DeadLetterConfig::builder()
                    .arn(&dlq_arn)
                    .build(),
            )
            .build()
            .expect("t"),
    )
    .await;
    let out = client
        .put_events()
        .entries(entry("default", "x", &json!({"n": 1})))
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(out.failed_entry_count(), 0, "the event was accepted");
    let dead = drain(&dev, &dlq_url, 1).await;
    assert_eq!(dead.len(), 1);
    let attrs = dead[0].message_attributes().expect("attributes");
    let attr = |k: &str| {
        attrs
            .get(k)
            .and_then(|a| a.string_value())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(attr("ERROR_CODE"), "SQS_QUEUE_NOT_FOUND");
    assert_eq!(attr("TARGET_ARN"), gone);
    assert_eq!(
        attr("RULE_ARN"),
        "arn:aws:events:us-east-1:000000000000:rule/r"
    );
    let event: serde_json::Value =
        serde_json::from_str(dead[0].body().unwrap_or_default()).expect("JSON");
    assert_eq!(event["detail"], json!({"n": 1}));
}

#[tokio::test]
async fn a_fifo_target_gets_its_group_and_the_event_id_as_deduplication_id() {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    let sqs = dev.client(1).await;
    let url = sqs
        .create_queue()
        .queue_name("orders.fifo")
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("url");
    let arn = "arn:aws:sqs:us-east-1:000000000000:orders.fifo";
    let (code, _) = refused(
        client
            .put_targets()
            .rule("nope")
            .targets(target("t", arn).build().expect("t"))
            .send()
            .await,
    );
    assert_eq!(
        code, "ValidationException",
        "a FIFO target needs SqsParameters"
    );
    rule_to(
        &client,
        "default",
        "r",
        &json!({"source": ["overtime"]}),
        target("t", arn)
            .sqs_parameters(
                aws_sdk_eventbridge::types::SqsParameters::builder()
                    .message_group_id("g")
                    .build(),
            )
            .build()
            .expect("t"),
    )
    .await;
    let out = client
        .put_events()
        .entries(entry("default", "x", &json!({})))
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(out.failed_entry_count(), 0);
    assert_eq!(drain(&dev, &url, 2).await.len(), 1);
}
