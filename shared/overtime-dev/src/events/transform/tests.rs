//! The examples of the EventBridge user guide's "Amazon EventBridge input transformation".

use super::*;
use crate::events::model::{InputTransformer, Target};

const EC2: &str = r#"{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"123456789012","time":"2015-11-11T21:29:54Z","region":"us-east-1","resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],"detail":{"instance-id":"i-0123456789","state":"RUNNING","sizes":[3,4.50]}}"#;

fn cx() -> Context<'static> {
    Context {
        rule_arn: "arn:aws:events:us-east-2:123456789012:rule/example",
        rule_name: "example",
        ingestion_time: "2015-11-11T21:29:55Z",
    }
}

fn transformed(template: &str) -> String {
    let target = Target {
        id: "t".into(),
        input_transformer: Some(InputTransformer {
            input_paths_map: [
                ("timestamp", "$.time"),
                ("instance", "$.detail.instance-id"),
                ("state", "$.detail.state"),
                ("second", "$.detail.sizes[1]"),
                ("missing", "$.detail.nope"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            input_template: template.to_owned(),
        }),
        ..Target::default()
    };
    check(&target).expect("a valid target");
    let event: &RawValue = serde_json::from_str(EC2).expect("event");
    body(&target, event, &cx()).expect("a body")
}

#[test]
fn a_string_template_takes_values_as_text() {
    assert_eq!(
        transformed(r#""instance <instance> is in <state>""#),
        r#""instance i-0123456789 is in RUNNING""#
    );
}

#[test]
fn a_json_template_takes_values_as_json_outside_quotes_and_as_text_inside() {
    assert_eq!(
        transformed(
            r#"{
  "instance" : <instance>,
  "state": "<state>",
  "instanceStatus": "instance \"<instance>\" is in <state>"
}"#
        ),
        r#"{"instance":"i-0123456789","state":"RUNNING","instanceStatus":"instance \"i-0123456789\" is in RUNNING"}"#
    );
}

#[test]
fn variables_mix_with_static_json_and_array_indices() {
    assert_eq!(
        transformed(
            r#"{"instance" : <instance>, "state": [ 9, <state>, true ], "second": <second>, "Transformed" : "Yes"}"#
        ),
        r#"{"instance":"i-0123456789","state":[9,"RUNNING",true],"second":4.50,"Transformed":"Yes"}"#
    );
}

#[test]
fn predefined_variables_name_the_rule_and_carry_the_event() {
    let out = transformed(
        r#"{"ruleArn": <aws.events.rule-arn>, "ruleName": <aws.events.rule-name>, "at": <aws.events.event.ingestion-time>, "originalEvent": <aws.events.event>}"#,
    );
    assert_eq!(
        out,
        format!(
            r#"{{"ruleArn":"arn:aws:events:us-east-2:123456789012:rule/example","ruleName":"example","at":"2015-11-11T21:29:55Z","originalEvent":{EC2}}}"#
        )
    );
    assert_eq!(
        transformed(r#""<aws.events.rule-name> triggered""#),
        r#""example triggered""#
    );
    let json = transformed(r#"{"raw": <aws.events.event.json>}"#);
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(parsed["raw"].as_str(), Some(EC2), "the event as a string");
}

#[test]
fn a_path_that_matches_nothing_fills_nothing() {
    assert_eq!(transformed(r#""[<missing>]""#), r#""[]""#);
}

#[test]
fn input_and_input_path_send_a_constant_or_a_part() {
    let event: &RawValue = serde_json::from_str(EC2).expect("event");
    let constant = Target {
        input: Some(r#"{ "a" : 1 }"#.into()),
        ..Target::default()
    };
    assert_eq!(body(&constant, event, &cx()).as_deref(), Ok(r#"{"a":1}"#));
    let part = Target {
        input_path: Some("$.detail".into()),
        ..Target::default()
    };
    assert_eq!(
        body(&part, event, &cx()).as_deref(),
        Ok(r#"{"instance-id":"i-0123456789","state":"RUNNING","sizes":[3,4.50]}"#)
    );
    let nothing = Target {
        input_path: Some("$.detail.nope".into()),
        ..Target::default()
    };
    assert!(body(&nothing, event, &cx()).is_err());
    assert_eq!(body(&Target::default(), event, &cx()).as_deref(), Ok(EC2));
}

#[test]
fn put_targets_refuses_what_eventbridge_refuses() {
    let both = Target {
        input: Some("{}".into()),
        input_path: Some("$.detail".into()),
        ..Target::default()
    };
    assert!(check(&both).expect_err("refused").contains("Only one of"));
    let bad_input = Target {
        input: Some("{not json".into()),
        ..Target::default()
    };
    assert!(check(&bad_input).is_err());
    let with = |map: &[(&str, &str)], template: &str| Target {
        id: "t".into(),
        input_transformer: Some(InputTransformer {
            input_paths_map: map
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            input_template: template.to_owned(),
        }),
        ..Target::default()
    };
    assert!(
        check(&with(&[("aws.x", "$.id")], "<aws.x>"))
            .expect_err("refused")
            .contains("reserved")
    );
    assert!(
        check(&with(&[("x", "detail")], "<x>")).is_err(),
        "a path starts with $"
    );
    assert!(check(&with(&[("x", "$.a[*]")], "<x>")).is_err());
    assert!(check(&with(&[], "")).is_err(), "an empty template");
    assert!(
        check(&with(&[("x", "$.id")], r#"{"a": <x>,}"#))
            .expect_err("refused")
            .contains("invalid JSON")
    );
    assert!(check(&with(&[("x", "$.id")], r#"{"a": <x>, "b": "<x>"}"#)).is_ok());
}
