//! Pattern matching as EventBridge documents it ("Creating event patterns", "Content filtering",
//! "Arrays in event patterns", "Matching null values and empty strings"), checked through
//! TestEventPattern, and through delivery for a sample of the same table.

use super::*;
use serde_json::{Value, json};

fn event() -> Value {
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
        "account": "111122223333", "time": "2017-12-22T18:43:48Z", "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {
            "instance-id": "i-1234567890abcdef0", "state": "terminated", "c-count": 5,
            "x-limit": 301.8, "source-ip": "10.0.0.123", "filename": "Image.png",
            "location": "eu-central-1", "array": ["a", "b", 1],
            "nested": {"flag": true, "none": null, "list": [{"k": "v1"}, {"k": "v2"}]}
        }
    })
}

/// (pattern, matches the event above): each operator matched and not matched.
fn table() -> Vec<(Value, bool)> {
    let d = |v: Value| json!({ "detail": v });
    vec![
        (json!({"source": ["aws.ec2"]}), true),
        (json!({"source": ["aws.s3"]}), false),
        (json!({"source": ["aws.s3", "aws.ec2"]}), true),
        (d(json!({"state": ["terminated"]})), true),
        (d(json!({"state": ["Terminated"]})), false),
        (json!({"time": [{"prefix": "2017-12-22"}]}), true),
        (json!({"time": [{"prefix": "2018"}]}), false),
        (
            d(json!({"state": [{"prefix": {"equals-ignore-case": "TERM"}}]})),
            true,
        ),
        (d(json!({"filename": [{"suffix": ".png"}]})), true),
        (d(json!({"filename": [{"suffix": ".jpg"}]})), false),
        (
            d(json!({"filename": [{"suffix": {"equals-ignore-case": ".PNG"}}]})),
            true,
        ),
        (
            d(json!({"state": [{"equals-ignore-case": "TERMINATED"}]})),
            true,
        ),
        (
            d(json!({"state": [{"equals-ignore-case": "running"}]})),
            false,
        ),
        (d(json!({"location": [{"wildcard": "eu-*-1"}]})), true),
        (d(json!({"location": [{"wildcard": "us-*"}]})), false),
        (
            d(json!({"state": [{"anything-but": "initializing"}]})),
            true,
        ),
        (d(json!({"state": [{"anything-but": "terminated"}]})), false),
        (
            d(json!({"state": [{"anything-but": ["stopped", "overloaded"]}]})),
            true,
        ),
        (
            d(json!({"state": [{"anything-but": ["terminated", "stopped"]}]})),
            false,
        ),
        (d(json!({"c-count": [{"anything-but": 5}]})), false),
        (d(json!({"c-count": [{"anything-but": [1, 2]}]})), true),
        (
            d(json!({"state": [{"anything-but": {"prefix": "init"}}]})),
            true,
        ),
        (
            d(json!({"state": [{"anything-but": {"prefix": "term"}}]})),
            false,
        ),
        (
            d(json!({"filename": [{"anything-but": {"suffix": ".txt"}}]})),
            true,
        ),
        (d(json!({"missing": [{"anything-but": "x"}]})), false),
        (
            d(json!({"c-count": [{"numeric": [">", 0, "<=", 5]}]})),
            true,
        ),
        (d(json!({"c-count": [{"numeric": [">", 5]}]})), false),
        (d(json!({"x-limit": [{"numeric": ["<", 302]}]})), true),
        (d(json!({"x-limit": [{"numeric": ["=", 301.8]}]})), true),
        (d(json!({"state": [{"numeric": [">", 0]}]})), false),
        (d(json!({"c-count": [5.0]})), true),
        (d(json!({"c-count": ["5"]})), false),
        (d(json!({"c-count": [{"exists": true}]})), true),
        (d(json!({"missing": [{"exists": true}]})), false),
        (d(json!({"missing": [{"exists": false}]})), true),
        (d(json!({"c-count": [{"exists": false}]})), false),
        (d(json!({"nested": {"none": [null]}})), true),
        (d(json!({"state": [null]})), false),
        (d(json!({"missing": [null]})), false),
        (d(json!({"source-ip": [{"cidr": "10.0.0.0/24"}]})), true),
        (d(json!({"source-ip": [{"cidr": "10.0.1.0/24"}]})), false),
        (d(json!({"array": ["b"]})), true),
        (d(json!({"array": [1]})), true),
        (d(json!({"array": ["z"]})), false),
        (d(json!({"nested": {"list": {"k": ["v2"]}}})), true),
        (d(json!({"nested": {"flag": [true]}})), true),
        (
            d(
                json!({"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"x-limit": [{"numeric": ["<", 400]}]}]}),
            ),
            true,
        ),
        (
            d(json!({"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"state": ["running"]}]})),
            false,
        ),
        (
            json!({"$or": [{"source": ["aws.s3"]}, {"detail-type": ["EC2 Instance State-change Notification"]}]}),
            true,
        ),
        (
            json!({"source": ["aws.ec2"], "detail": {"state": ["running"]}}),
            false,
        ),
        (
            json!({"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]}),
            true,
        ),
    ]
}

/// Patterns EventBridge refuses with InvalidEventPatternException.
const INVALID: &[&str] = &[
    "not json",
    "[]",
    r#"{"source": "aws.ec2"}"#,
    r#"{"source": [{"prefix": 5}]}"#,
    r#"{"detail": {"x": [{"numeric": [">"]}]}}"#,
    r#"{"detail": {"x": [{"numeric": [">", 10, "<", 5]}]}}"#,
    r#"{"detail": {"x": [{"exists": "yes"}]}}"#,
    r#"{"detail": {"x": [{"no-such-operator": 1}]}}"#,
    r#"{"$or": [{"source": ["a"]}]}"#,
    r#"{"detail": {"x": [{"wildcard": "a**b"}]}}"#,
    r#"{"detail": {"x": [{"cidr": "10.0.0.0/33"}]}}"#,
    r#"{"source": ["a"], "source": ["b"]}"#,
];

#[tokio::test]
async fn test_event_pattern_answers_the_documented_table() {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    let event = event().to_string();
    for (pattern, expected) in table() {
        let got = client
            .test_event_pattern()
            .event_pattern(pattern.to_string())
            .event(&event)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{pattern}: {e:?}"))
            .result;
        assert_eq!(got, expected, "{pattern}");
    }
    for pattern in INVALID {
        let (code, message) = refused(
            client
                .test_event_pattern()
                .event_pattern(*pattern)
                .event(&event)
                .send()
                .await,
        );
        assert_eq!(code, "InvalidEventPatternException", "{pattern}: {message}");
        assert!(
            message.starts_with("Event pattern is not valid. Reason: "),
            "{pattern}: {message}"
        );
    }
    let (code, message) = refused(
        client
            .test_event_pattern()
            .event_pattern(r#"{"source": ["a"]}"#)
            .event(r#"{"source": "a"}"#)
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(message.contains("missing required fields"), "{message}");
}

#[tokio::test]
async fn delivery_matches_as_test_event_pattern_does() {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    // The table's detail patterns, each on a rule of its own with its own queue, and one
    // event: exactly the queues of matching patterns get it.
    let cases: Vec<(Value, bool)> = table()
        .into_iter()
        .filter(|(p, _)| p.get("detail").is_some() && p.as_object().is_some_and(|o| o.len() == 1))
        .take(20)
        .collect();
    let mut queues = Vec::new();
    for (i, (pattern, _)) in cases.iter().enumerate() {
        let (url, arn) = queue(&dev, &format!("q{i}")).await;
        let mut full = pattern.clone();
        full["source"] = json!(["overtime"]);
        rule_to(
            &client,
            "default",
            &format!("r{i}"),
            &full,
            target("t", &arn).build().expect("t"),
        )
        .await;
        queues.push(url);
    }
    let out = client
        .put_events()
        .entries(entry("default", "x", &event()["detail"]))
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(out.failed_entry_count(), 0);
    for ((pattern, expected), url) in cases.iter().zip(&queues) {
        let got = drain(&dev, url, 1).await.len();
        assert_eq!(got == 1, *expected, "{pattern}");
    }
}
