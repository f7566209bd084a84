//! Buses, rules and targets: the calls, and EventBridge's errors for what it refuses.

use super::*;

#[tokio::test]
async fn buses_are_created_described_listed_and_deleted() {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    let arn = client
        .create_event_bus()
        .name("shop-events")
        .send()
        .await
        .expect("CreateEventBus")
        .event_bus_arn
        .expect("an ARN");
    assert_eq!(
        arn,
        "arn:aws:events:us-east-1:000000000000:event-bus/shop-events"
    );
    let (code, message) = refused(client.create_event_bus().name("shop-events").send().await);
    assert_eq!(code, "ResourceAlreadyExistsException");
    assert_eq!(message, "Event bus shop-events already exists.");
    let described = client
        .describe_event_bus()
        .name("shop-events")
        .send()
        .await
        .expect("DescribeEventBus");
    assert_eq!(described.name(), Some("shop-events"));
    assert_eq!(described.arn(), Some(arn.as_str()));
    let default = client
        .describe_event_bus()
        .send()
        .await
        .expect("the default bus");
    assert_eq!(default.name(), Some("default"));
    let listed = client
        .list_event_buses()
        .name_prefix("shop")
        .send()
        .await
        .expect("ListEventBuses");
    let names: Vec<_> = listed
        .event_buses()
        .iter()
        .filter_map(|b| b.name())
        .collect();
    assert_eq!(names, ["shop-events"]);
    client
        .delete_event_bus()
        .name("shop-events")
        .send()
        .await
        .expect("DeleteEventBus");
    let (code, message) = refused(client.describe_event_bus().name("shop-events").send().await);
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(message, "Event bus shop-events does not exist.");
    let (code, _) = refused(client.delete_event_bus().name("default").send().await);
    assert_eq!(code, "ValidationException");
    let (code, _) = refused(client.create_event_bus().name("no spaces").send().await);
    assert_eq!(code, "ValidationException");
}

#[tokio::test]
async fn rules_are_put_described_listed_disabled_and_deleted() {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    client
        .create_event_bus()
        .name("b")
        .send()
        .await
        .expect("bus");
    let pattern = r#"{"source": ["overtime"], "detail-type": ["user.signed_up"]}"#;
    let arn = client
        .put_rule()
        .name("welcome")
        .event_bus_name("b")
        .event_pattern(pattern)
        .description("sends the welcome email")
        .send()
        .await
        .expect("PutRule")
        .rule_arn
        .expect("an ARN");
    assert_eq!(arn, "arn:aws:events:us-east-1:000000000000:rule/b/welcome");
    let rule = client
        .describe_rule()
        .name("welcome")
        .event_bus_name("b")
        .send()
        .await
        .expect("DescribeRule");
    assert_eq!(
        rule.event_pattern(),
        Some(pattern),
        "the pattern as it was given"
    );
    assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(rule.description(), Some("sends the welcome email"));
    client
        .disable_rule()
        .name("welcome")
        .event_bus_name("b")
        .send()
        .await
        .expect("DisableRule");
    let listed = client
        .list_rules()
        .event_bus_name("b")
        .send()
        .await
        .expect("ListRules");
    assert_eq!(listed.rules().len(), 1);
    assert_eq!(
        listed.rules()[0].state().map(|s| s.as_str()),
        Some("DISABLED")
    );
    client
        .enable_rule()
        .name("welcome")
        .event_bus_name("b")
        .send()
        .await
        .expect("EnableRule");

    let (code, message) = refused(
        client
            .describe_rule()
            .name("nope")
            .event_bus_name("b")
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    assert_eq!(message, "Rule nope does not exist on EventBus b.");
    let (code, message) = refused(
        client
            .put_rule()
            .name("broken")
            .event_bus_name("b")
            .event_pattern(r#"{"source": "overtime"}"#)
            .send()
            .await,
    );
    assert_eq!(code, "InvalidEventPatternException");
    assert!(
        message.starts_with("Event pattern is not valid. Reason: "),
        "{message}"
    );
    let (code, _) = refused(
        client
            .put_rule()
            .name("elsewhere")
            .event_bus_name("no-such-bus")
            .event_pattern(pattern)
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");

    let (_, queue_arn) = queue(&dev, "jobs").await;
    client
        .put_targets()
        .rule("welcome")
        .event_bus_name("b")
        .targets(target("q", &queue_arn).build().expect("target"))
        .send()
        .await
        .expect("PutTargets");
    let (code, message) = refused(
        client
            .delete_rule()
            .name("welcome")
            .event_bus_name("b")
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert_eq!(message, "Rule can't be deleted since it has targets.");
    client
        .delete_rule()
        .name("welcome")
        .event_bus_name("b")
        .force(true)
        .send()
        .await
        .expect("DeleteRule with Force");
    assert!(
        client
            .list_rules()
            .event_bus_name("b")
            .send()
            .await
            .expect("ListRules")
            .rules()
            .is_empty()
    );
}

#[tokio::test]
async fn targets_are_put_listed_and_removed_within_eventbridge_s_rules() {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    let (_, arn) = queue(&dev, "jobs").await;
    client
        .put_rule()
        .name("r")
        .event_pattern(r#"{"source": ["overtime"]}"#)
        .send()
        .await
        .expect("PutRule on the default bus");
    let five: Vec<_> = (0..5)
        .map(|i| target(&format!("t{i}"), &arn).build().expect("target"))
        .collect();
    let out = client
        .put_targets()
        .rule("r")
        .set_targets(Some(five))
        .send()
        .await
        .expect("five targets");
    assert_eq!(out.failed_entry_count(), 0);
    let (code, _) = refused(
        client
            .put_targets()
            .rule("r")
            .targets(target("t5", &arn).build().expect("target"))
            .send()
            .await,
    );
    assert_eq!(
        code, "LimitExceededException",
        "a rule has at most 5 targets"
    );
    let (code, message) = refused(
        client
            .put_targets()
            .rule("r")
            .targets(
                target("t0", &arn)
                    .input("{}")
                    .input_path("$.detail")
                    .build()
                    .expect("target"),
            )
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains("Only one of Input, InputPath, or InputTransformer"),
        "{message}"
    );
    let transformer = aws_sdk_eventbridge::types::InputTransformer::builder()
        .input_paths_map("x", "$.detail.x")
        .input_template(r#"{"x": <x>,}"#)
        .build()
        .expect("transformer");
    let (code, message) = refused(
        client
            .put_targets()
            .rule("r")
            .targets(
                target("t0", &arn)
                    .input_transformer(transformer)
                    .build()
                    .expect("target"),
            )
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(message.contains("invalid JSON"), "{message}");
    let out = client
        .put_targets()
        .rule("r")
        .targets(
            target("t0", "arn:aws:sns:us-east-1:000000000000:topic")
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("PutTargets answers per target");
    assert_eq!(
        out.failed_entry_count(),
        1,
        "an SNS topic is not a local target"
    );
    let (code, _) = refused(
        client
            .put_targets()
            .rule("nope")
            .targets(target("t0", &arn).build().expect("target"))
            .send()
            .await,
    );
    assert_eq!(code, "ResourceNotFoundException");
    client
        .remove_targets()
        .rule("r")
        .ids("t0")
        .ids("t1")
        .send()
        .await
        .expect("RemoveTargets");
    let listed = client
        .list_targets_by_rule()
        .rule("r")
        .send()
        .await
        .expect("ListTargetsByRule");
    let ids: Vec<_> = listed.targets().iter().map(|t| t.id()).collect();
    assert_eq!(ids, ["t2", "t3", "t4"]);
}
