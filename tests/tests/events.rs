//! Sending events through the real aws-sdk-eventbridge, with a rule whose target is a queue of
//! the same server: batches, one result per event, oversize refused before any call, and the
//! event's shape on the way out.
//!
//! The server is the one under test (`OVERTIME_TEST_SQS_ENDPOINT`): scripts/test runs this
//! suite against moto's server and against `overtime dev`, each serving EventBridge and SQS on
//! its one address, so a rule's queue is always on the server that matched the event. Only
//! what both do like AWS is asserted here (PutEvents, a rule on detail-type and source, an SQS
//! target); pattern matching and delivery semantics are tested against AWS's documented
//! behaviour in tests/tests/eventbridge/, not against moto's.

use overtime::events::{Event, EventBus, OutgoingEvent, PublishError};
use overtime::limits::EVENTBRIDGE_MAX_PUT_BYTES;
use overtime_tests::sqs;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Serialize)]
struct SignedUp {
    user_id: u64,
    plan: String,
}

impl Event for SignedUp {
    const NAME: &'static str = "user.signed_up";
}

#[tokio::test]
async fn events_go_out_in_batches_with_one_result_each_and_oversize_refused_first() {
    let sqs = sqs().await;
    let (bus_name, queue) = sqs.bus_to_queue(SignedUp::NAME).await;
    let bus = EventBus::new(sqs.eventbridge().await, &bus_name).with_concurrency(3);

    // 23 sign-ups (more than two PutEvents calls), 4 events no rule matches, and one too large.
    let mut events: Vec<OutgoingEvent> = (0..23)
        .map(|i| {
            OutgoingEvent::new(&SignedUp {
                user_id: i,
                plan: if i % 2 == 0 { "pro" } else { "free" }.into(),
            })
            .id(format!("signup-{i}"))
        })
        .collect();
    events.extend((0..4).map(|i| {
        OutgoingEvent::from_json("cart.abandoned", &format!(r#"{{"cart":{i}}}"#)).expect("json")
    }));
    let huge = format!(r#""{}""#, "x".repeat(EVENTBRIDGE_MAX_PUT_BYTES));
    events.insert(
        5,
        OutgoingEvent::from_json("user.signed_up", &huge).expect("json"),
    );

    let report = bus.send_all(events).await;
    assert_eq!(report.len(), 28, "one result per event");
    let failed: Vec<_> = report.failed().collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, 5, "the oversize event, at its index");
    assert!(
        matches!(failed[0].1, PublishError::TooLarge { .. }),
        "{:?}",
        failed[0].1
    );
    let published: Vec<_> = report.published().cloned().collect();
    assert_eq!(published.len(), 27);
    assert_eq!(published[0].id, "signup-0", "results keep the input order");
    assert!(
        published[23..]
            .iter()
            .all(|p| uuid::Uuid::parse_str(&p.id).is_ok()),
        "events without an id get a generated one"
    );
    let err = report.into_result().expect_err("one failed");
    assert!(
        err.to_string().contains("1 of 28 events were not sent"),
        "{err}"
    );

    // Exactly the 23 sign-ups reach the rule's queue, in EventBridge's event shape.
    let received = sqs.receive_n(&queue, 23).await;
    let mut by_id: HashMap<String, serde_json::Value> = HashMap::new();
    for m in &received {
        let event: serde_json::Value =
            serde_json::from_str(m.body().unwrap_or_default()).expect("an event");
        assert_eq!(event["source"], "overtime");
        assert_eq!(event["detail-type"], "user.signed_up");
        let id = event["detail"]["id"]
            .as_str()
            .expect("detail.id")
            .to_owned();
        by_id.insert(id, event["detail"]["data"].clone());
    }
    assert_eq!(by_id.len(), 23, "each sign-up once");
    assert_eq!(
        by_id["signup-4"],
        serde_json::json!({"user_id": 4, "plan": "pro"})
    );
    assert!(
        sqs.receive(&queue, 1).await.is_empty(),
        "nothing else matched"
    );
}

#[tokio::test]
async fn a_bus_that_does_not_exist_fails_each_event_with_eventbridge_s_code() {
    let sqs = sqs().await;
    let bus = EventBus::new(sqs.eventbridge().await, "no-such-bus");
    let err = bus
        .send(SignedUp {
            user_id: 1,
            plan: "pro".into(),
        })
        .await
        .expect_err("no bus");
    let PublishError::EventBridge(err) = &err else {
        panic!("{err:?}");
    };
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("PutEvents"), "{err}");
}

#[tokio::test]
async fn overtime_events_send_puts_one_event_on_the_bus_and_refuses_bad_json() {
    let sqs = sqs().await;
    let (bus, queue) = sqs.bus_to_queue("order.paid").await;
    let overtime = |args: &[&str]| {
        std::process::Command::new(overtime_tests::lambda::workspace_bin("overtime"))
            .args(args)
            .envs(sqs.env())
            .env("OVERTIME_EVENT_BUS", &bus)
            .output()
            .expect("run overtime")
    };
    let out = overtime(&[
        "events",
        "send",
        "order.paid",
        r#"{"order":42}"#,
        "--id",
        "order-42",
    ]);
    let said = overtime_tests::output_text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("event id order-42"), "{said}");
    let received = sqs.receive_n(&queue, 1).await;
    let event: serde_json::Value =
        serde_json::from_str(received[0].body().unwrap_or_default()).expect("an event");
    assert_eq!(
        event["detail"],
        serde_json::json!({"id": "order-42", "data": {"order": 42}})
    );

    let out = overtime(&["events", "send", "order.paid", "{not json"]);
    let said = overtime_tests::output_text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("the payload is not JSON"), "{said}");
}
