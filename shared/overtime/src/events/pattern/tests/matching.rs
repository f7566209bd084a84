use serde_json::json;

use super::{check, pattern};
use crate::events::pattern::Pattern;

fn ec2(state: &str) -> serde_json::Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {"instance-id": "i-1234567890abcdef0", "state": state}
    })
}

#[test]
fn the_user_guides_ec2_example_matches_only_terminated_instances() {
    let text = r#"{"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"],
                   "detail": {"state": ["terminated"]}}"#;
    check(
        text,
        &[ec2("terminated")],
        &[ec2("running"), json!({"source": "aws.ec2"})],
    );
}

#[test]
fn a_leaf_matches_if_any_of_its_values_does_and_all_fields_must_match() {
    let text = r#"{"detail": {"state": ["initializing", "running"]}, "source": ["aws.ec2"]}"#;
    check(
        text,
        &[ec2("running"), ec2("initializing")],
        &[ec2("stopped"), json!({"detail": {"state": "running"}})],
    );
}

#[test]
fn exact_strings_are_case_sensitive_and_an_empty_string_matches_only_an_empty_string() {
    check(
        r#"{"name": ["Alice"]}"#,
        &[json!({"name": "Alice"})],
        &[json!({"name": "alice"}), json!({"name": 1})],
    );
    check(
        r#"{"last": [""]}"#,
        &[json!({"last": ""})],
        &[json!({"last": null}), json!({})],
    );
}

#[test]
fn an_event_array_matches_if_the_intersection_is_not_empty() {
    let text = r#"{"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                                 "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}"#;
    let hit = json!({"resources": ["arn:aws:autoscaling:us-east-1:1:x", "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]});
    let miss = json!({"resources": ["arn:aws:autoscaling:us-east-1:1:x"]});
    check(
        text,
        &[
            hit,
            json!({"resources": [["arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]]}),
        ],
        &[miss, json!({"resources": []})],
    );
}

#[test]
fn objects_inside_event_arrays_match_one_element_at_a_time() {
    let text = r#"{"detail": {"items": {"sku": ["a"], "qty": [2]}}}"#;
    let same = json!({"detail": {"items": [{"sku": "b", "qty": 2}, {"sku": "a", "qty": 2}]}});
    let split = json!({"detail": {"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}});
    check(text, &[same], &[split]);
}

#[test]
fn numbers_match_numerically_whatever_their_spelling() {
    check(
        r#"{"price": [300]}"#,
        &[
            json!({"price": 300}),
            json!({"price": 3.0e2}),
            json!({"price": 300.0}),
        ],
        &[json!({"price": "300"}), json!({"price": 301})],
    );
    check(
        r#"{"x": [3.018e2]}"#,
        &[json!({"x": 301.8})],
        &[json!({"x": 301})],
    );
}

#[test]
fn null_matches_a_json_null_and_not_a_missing_field() {
    check(
        r#"{"detail": {"user": [null]}}"#,
        &[json!({"detail": {"user": null}})],
        &[json!({"detail": {}}), json!({"detail": {"user": "null"}})],
    );
}

#[test]
fn booleans_match_only_json_booleans() {
    check(
        r#"{"ok": [true]}"#,
        &[json!({"ok": true}), json!({"ok": [false, true]})],
        &[json!({"ok": "true"}), json!({"ok": false})],
    );
}

#[test]
fn a_field_the_event_lacks_does_not_match() {
    check(
        r#"{"detail": {"state": ["running"]}}"#,
        &[],
        &[
            json!({}),
            json!({"detail": "running"}),
            json!({"detail": {"state": {"x": "running"}}}),
        ],
    );
}

#[test]
fn prefix_matches_only_the_start_of_a_string() {
    let text = r#"{"time": [{"prefix": "2017-10-02"}]}"#;
    check(
        text,
        &[json!({"time": "2017-10-02T18:43:48Z"})],
        &[json!({"time": "x2017-10-02"}), json!({"time": 2017})],
    );
    check(
        r#"{"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}"#,
        &[
            json!({"service": "eventbridge"}),
            json!({"service": "EVENTBRIDGE"}),
        ],
        &[json!({"service": "xeventb"})],
    );
}

#[test]
fn suffix_matches_only_the_end_of_a_string() {
    check(
        r#"{"FileName": [{"suffix": ".png"}]}"#,
        &[json!({"FileName": "a.png"})],
        &[
            json!({"FileName": "a.PNG"}),
            json!({"FileName": "a.png.txt"}),
        ],
    );
    check(
        r#"{"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}"#,
        &[json!({"FileName": "A.PNG"}), json!({"FileName": ".Png"})],
        &[json!({"FileName": "png"})],
    );
}

#[test]
fn equals_ignore_case_matches_any_casing_of_the_whole_string() {
    check(
        r#"{"name": [{"equals-ignore-case": "alice"}]}"#,
        &[json!({"name": "ALICE"}), json!({"name": "Alice"})],
        &[json!({"name": "Alice2"}), json!({"name": null})],
    );
}

#[test]
fn wildcard_star_matches_any_run_of_characters_including_none() {
    let text = r#"{"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}"#;
    check(
        text,
        &[
            json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"}),
            json!({"EventBusArn": "arn:aws:events:us-east-1::event-bus/"}),
        ],
        &[json!({"EventBusArn": "arn:aws:events:us-west-2:1:event-bus/x"})],
    );
    check(
        r#"{"f": [{"wildcard": "dir/*.png"}]}"#,
        &[json!({"f": "dir/a/b.png"})],
        &[json!({"f": "dir/a.jpg"}), json!({"f": "xdir/a.png"})],
    );
    check(
        r#"{"f": [{"wildcard": "a*a"}]}"#,
        &[json!({"f": "aa"}), json!({"f": "aba"})],
        &[json!({"f": "a"})],
    );
    check(
        r#"{"f": [{"wildcard": "*"}]}"#,
        &[json!({"f": ""}), json!({"f": "x"})],
        &[json!({"f": 1})],
    );
}

#[test]
fn wildcard_escapes_match_a_literal_star_and_backslash() {
    check(
        r#"{"f": [{"wildcard": "a\\*b"}]}"#,
        &[json!({"f": "a*b"})],
        &[json!({"f": "axb"})],
    );
    check(
        r#"{"f": [{"wildcard": "a\\\\*"}]}"#,
        &[json!({"f": "a\\"}), json!({"f": "a\\bc"})],
        &[json!({"f": "ab"})],
    );
}

#[test]
fn anything_but_matches_every_other_value_but_not_a_missing_field() {
    check(
        r#"{"state": [{"anything-but": "initializing"}]}"#,
        &[
            json!({"state": "running"}),
            json!({"state": 5}),
            json!({"state": null}),
        ],
        &[json!({"state": "initializing"}), json!({})],
    );
    check(
        r#"{"x": [{"anything-but": 123}]}"#,
        &[json!({"x": 124}), json!({"x": "123"})],
        &[json!({"x": 1.23e2})],
    );
    check(
        r#"{"state": [{"anything-but": ["stopped", "overloaded"]}]}"#,
        &[json!({"state": "running"})],
        &[json!({"state": "stopped"}), json!({"state": "overloaded"})],
    );
    check(
        r#"{"x": [{"anything-but": [100, 200, 300]}]}"#,
        &[json!({"x": 101}), json!({"x": [100, 50]})],
        &[json!({"x": 100}), json!({"x": [100, 200]})],
    );
}

#[test]
fn anything_but_prefix_suffix_ignore_case_and_wildcard_match_other_strings_only() {
    check(
        r#"{"Region": [{"anything-but": {"prefix": "us-"}}]}"#,
        &[json!({"Region": "eu-west-1"})],
        &[
            json!({"Region": "us-east-1"}),
            json!({"Region": 1}),
            json!({}),
        ],
    );
    check(
        r#"{"f": [{"anything-but": {"suffix": [".png", ".jpg"]}}]}"#,
        &[json!({"f": "a.gif"})],
        &[json!({"f": "a.png"}), json!({"f": "b.jpg"})],
    );
    check(
        r#"{"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}"#,
        &[json!({"state": "running"})],
        &[json!({"state": "STOPPED"}), json!({"state": "overloaded"})],
    );
    check(
        r#"{"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}"#,
        &[json!({"FilePath": "/usr/bin/x"})],
        &[json!({"FilePath": "/usr/lib/x"})],
    );
}

#[test]
fn numeric_compares_only_json_numbers() {
    let text = r#"{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"numeric": ["=", 3.018e2]}]}}"#;
    let event =
        |c: serde_json::Value| json!({"detail": {"c-count": c, "d-count": 3, "x-limit": 301.8}});
    check(
        text,
        &[
            event(json!(5)),
            event(json!(0.000001)),
            event(json!([9, 1])),
        ],
        &[
            event(json!(0)),
            event(json!(5.000001)),
            event(json!("3")),
            event(json!(null)),
        ],
    );
    check(
        r#"{"n": [{"numeric": [">=", -5e9, "<", 5e9]}]}"#,
        &[json!({"n": -5e9}), json!({"n": 4999999999.9})],
        &[json!({"n": 5e9})],
    );
    check(
        r#"{"n": [{"numeric": ["<", 0]}]}"#,
        &[json!({"n": -1e12}), json!({"n": -0.5})],
        &[json!({"n": 0}), json!({"n": -0.0})],
    );
}

#[test]
fn cidr_matches_ipv4_and_ipv6_addresses_in_the_network() {
    check(
        r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#,
        &[json!({"ip": "10.0.0.255"}), json!({"ip": "10.0.0.0"})],
        &[
            json!({"ip": "10.0.1.0"}),
            json!({"ip": "not an ip"}),
            json!({"ip": "::1"}),
        ],
    );
    check(
        r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#,
        &[json!({"ip": "2001:db8:1::5"})],
        &[json!({"ip": "2001:db9::1"}), json!({"ip": "10.0.0.1"})],
    );
    check(
        r#"{"ip": [{"cidr": "10.1.2.3/8"}]}"#,
        &[json!({"ip": "10.200.0.1"})],
        &[json!({"ip": "11.0.0.1"})],
    );
    check(
        r#"{"ip": [{"cidr": "0.0.0.0/0"}]}"#,
        &[json!({"ip": "255.255.255.255"})],
        &[],
    );
}

#[test]
fn exists_looks_at_leaves_only() {
    let yes = r#"{"detail": {"state": [{"exists": true}]}}"#;
    let no = r#"{"detail": {"state": [{"exists": false}]}}"#;
    let leaf = [
        json!({"detail": {"state": "pending"}}),
        json!({"detail": {"state": null}}),
        json!({"detail": {"state": [1]}}),
    ];
    let absent = [
        json!({"detail": {}}),
        json!({}),
        json!({"detail": {"state": {"c1": 100}}}),
        json!({"detail": {"state": []}}),
        json!({"detail": "x"}),
    ];
    check(yes, &leaf, &absent);
    check(no, &absent, &leaf);
}

#[test]
fn exists_false_next_to_a_value_matches_either() {
    check(
        r#"{"a": ["x", {"exists": false}]}"#,
        &[json!({"a": "x"}), json!({})],
        &[json!({"a": "y"})],
    );
}

#[test]
fn or_matches_if_any_branch_does() {
    let text = r#"{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]}"#;
    check(
        text,
        &[
            json!({"source": "aws.cloudwatch", "metricName": "ReadLatency"}),
            json!({"source": "aws.cloudwatch", "namespace": "AWS/ES"}),
        ],
        &[
            json!({"source": "aws.cloudwatch", "metricName": "x"}),
            json!({"source": "x", "namespace": "AWS/ES"}),
        ],
    );
}

#[test]
fn or_nests_and_works_inside_nested_objects() {
    let text = r#"{"detail": {"$or": [{"source": ["a"]}, {"kind": ["b"], "$or": [{"id": [1]}, {"id": [2]}]}]}}"#;
    check(
        text,
        &[
            json!({"detail": {"source": "a"}}),
            json!({"detail": {"kind": "b", "id": 2}}),
        ],
        &[
            json!({"detail": {"kind": "b", "id": 3}}),
            json!({"source": "a"}),
        ],
    );
}

#[test]
fn events_that_are_not_objects_match_nothing() {
    let pattern = pattern(r#"{"a": [{"exists": false}]}"#);
    assert!(!pattern.matches(&json!([1])));
    assert!(!pattern.matches(&json!(null)));
    assert!(pattern.matches(&json!({})));
}

#[test]
fn fields_lists_every_tested_path_sorted_and_once() {
    let pattern = pattern(
        r#"{"source": ["a"], "detail": {"data": {"plan": ["pro"]}, "$or": [{"x": [1]}, {"x": [2], "y": [3]}]}}"#,
    );
    assert_eq!(
        pattern.fields(),
        ["detail.data.plan", "detail.x", "detail.y", "source"]
    );
}

#[test]
fn display_parse_and_from_value_round_trip() {
    let text = r#"{ "source" : [ "a", {"prefix": "b"} ], "n": [1.5] }"#;
    let parsed: Pattern = text.parse().expect("valid");
    assert_eq!(
        parsed.to_string(),
        r#"{"n":[1.5],"source":["a",{"prefix":"b"}]}"#
    );
    let again = Pattern::from_value(parsed.as_value()).expect("valid");
    assert_eq!(again, parsed);
    assert_eq!(Pattern::parse(&parsed.to_string()).expect("valid"), parsed);
}

#[test]
fn json_strings_with_escapes_and_unicode_are_decoded() {
    check(
        r#"{"s": ["caf\u00e9 \"q\" \\ \ud83d\ude00 ☃"]}"#,
        &[json!({"s": "café \"q\" \\ 😀 ☃"})],
        &[],
    );
}

#[test]
fn exists_false_in_an_array_of_objects_holds_if_one_element_lacks_the_field() {
    check(
        r#"{"items": {"sku": [{"exists": false}]}}"#,
        &[
            json!({"items": [{"sku": "a"}, {"qty": 1}]}),
            json!({"items": []}),
        ],
        &[json!({"items": [{"sku": "a"}, {"sku": null}]})],
    );
}
