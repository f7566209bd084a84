use serde_json::json;

use super::{error, refused};
use crate::events::pattern::{ErrorKind, Pattern};
use crate::limits::EVENTBRIDGE_MAX_PATTERN_CHARS;

use ErrorKind::{Invalid, Syntax, TooComplex, TooLarge};

#[test]
fn a_pattern_must_be_a_json_object() {
    refused(r#"["source"]"#, Invalid, "must be a JSON object", "[");
    refused("  \"x\"", Invalid, "must be a JSON object", "\"");
    refused("{}", Invalid, "Empty objects are not allowed", "{");
}

#[test]
fn text_that_is_not_json_is_a_syntax_error_at_the_problem() {
    refused(r#"{"a": ["x",]}"#, Syntax, "expected a value", "]");
    refused(r#"{"a": ["x"]"#, Syntax, "expected ',' or '}'", "");
    refused(r#"{"a" ["x"]}"#, Syntax, "expected ':'", "[");
    refused(r#"{a: ["x"]}"#, Syntax, "expected a key", "a:");
    refused(r#"{"a": ["y"]} x"#, Syntax, "text after", "x");
    refused(r#"{"a": [01]}"#, Syntax, "not a JSON number", "01");
    refused(r#"{"a": ["\q"]}"#, Syntax, "string is not valid", "\"\\q");
    refused(r#"{"a": ["open]}"#, Syntax, "never closed", "\"open");
    refused(r#"{"a": [tru]}"#, Syntax, "expected a value", "tru");
    refused(" ", Syntax, "ends where a value should start", "");
}

#[test]
fn a_repeated_key_is_refused_at_its_second_occurrence() {
    let text = r#"{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}"#;
    let error = error(text);
    assert_eq!(error.kind(), Invalid);
    assert!(
        error.reason().contains("\"location\" appears twice"),
        "{error}"
    );
    assert_eq!(error.offset(), text.rfind("\"location\""));
}

#[test]
fn a_field_must_hold_an_object_or_an_array() {
    refused(
        r#"{"detail": {"plan": "pro"}}"#,
        Invalid,
        r#"put the values to match in an array, as in "plan": ["pro"]"#,
        r#""pro""#,
    );
    assert_eq!(
        error(r#"{"detail": {"plan": "pro"}}"#).path(),
        Some("detail.plan")
    );
    refused(r#"{"n": 5}"#, Invalid, "must be an object or an array", "5");
    refused(
        r#"{"n": null}"#,
        Invalid,
        "must be an object or an array",
        "null",
    );
}

#[test]
fn leaves_must_not_be_empty_or_nest_arrays() {
    refused(
        r#"{"detail": {"state": []}}"#,
        Invalid,
        "Empty arrays are not allowed",
        "[]",
    );
    refused(
        r#"{"state": [["a"]]}"#,
        Invalid,
        "arrays do not nest",
        "[\"a\"]",
    );
    refused(
        r#"{"state": [{}]}"#,
        Invalid,
        "Empty objects are not allowed",
        "{}",
    );
    refused(
        r#"{"detail": {}}"#,
        Invalid,
        "Empty objects are not allowed",
        "{}",
    );
}

#[test]
fn unknown_operators_and_two_operators_in_one_object_are_refused() {
    refused(
        r#"{"a": [{"contains": "x"}]}"#,
        Invalid,
        "Unrecognized match type \"contains\"",
        "\"contains\"",
    );
    refused(
        r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
        Invalid,
        "Only one key allowed",
        "\"suffix\"",
    );
}

#[test]
fn string_operators_need_string_operands() {
    refused(
        r#"{"a": [{"prefix": 5}]}"#,
        Invalid,
        "prefix must be a string",
        "5",
    );
    refused(r#"{"a": [{"prefix": null}]}"#, Invalid, "not null", "null");
    refused(
        r#"{"a": [{"suffix": {"wildcard": "x"}}]}"#,
        Invalid,
        "Unsupported suffix pattern",
        "\"wildcard\"",
    );
    refused(
        r#"{"a": [{"prefix": {"equals-ignore-case": 1}}]}"#,
        Invalid,
        "equals-ignore-case must be a string",
        "1}",
    );
    refused(
        r#"{"a": [{"equals-ignore-case": ["x"]}]}"#,
        Invalid,
        "must be a string",
        "[\"x\"]",
    );
    refused(
        r#"{"a": [{"wildcard": true}]}"#,
        Invalid,
        "must be a string",
        "true",
    );
    refused(
        r#"{"a": [{"cidr": 10}]}"#,
        Invalid,
        "must be a string",
        "10}",
    );
}

#[test]
fn wildcards_refuse_consecutive_stars_and_unknown_escapes() {
    refused(
        r#"{"a": [{"wildcard": "a**b"}]}"#,
        Invalid,
        "Consecutive wildcard characters at position 2",
        "\"a**b\"",
    );
    refused(
        r#"{"a": [{"wildcard": "a\\nb"}]}"#,
        Invalid,
        "Invalid escape character at position 1",
        "\"a\\\\nb\"",
    );
    refused(
        r#"{"a": [{"wildcard": "ab\\"}]}"#,
        Invalid,
        "Invalid escape",
        "\"ab",
    );
    refused(
        r#"{"a": [{"anything-but": {"wildcard": ["ok", "x**"]}}]}"#,
        Invalid,
        "Consecutive wildcard",
        "[\"ok\"",
    );
}

#[test]
fn anything_but_takes_only_strings_or_only_numbers() {
    refused(
        r#"{"a": [{"anything-but": ["x", 1]}]}"#,
        Invalid,
        "either all values are numbers or all are strings",
        "1]",
    );
    refused(
        r#"{"a": [{"anything-but": [null]}]}"#,
        Invalid,
        "either all values",
        "null",
    );
    refused(
        r#"{"a": [{"anything-but": []}]}"#,
        Invalid,
        "Empty arrays are not allowed in anything-but",
        "[]",
    );
    refused(
        r#"{"a": [{"anything-but": true}]}"#,
        Invalid,
        "anything-but takes a string",
        "true",
    );
    refused(
        r#"{"a": [{"anything-but": {"numeric": [">", 1]}}]}"#,
        Invalid,
        "Unsupported anything-but pattern: \"numeric\"",
        "\"numeric\"",
    );
    refused(
        r#"{"a": [{"anything-but": {"prefix": 1}}]}"#,
        Invalid,
        "anything-but/prefix must be a string",
        "1}",
    );
    refused(
        r#"{"a": [{"anything-but": {"suffix": ["x", 2]}}]}"#,
        Invalid,
        "every value must be a string",
        "2]",
    );
}

#[test]
fn numeric_needs_an_operator_and_number_or_a_well_formed_range() {
    refused(
        r#"{"a": [{"numeric": 5}]}"#,
        Invalid,
        "Value of numeric must be an array",
        "5",
    );
    refused(
        r#"{"a": [{"numeric": [">"]}]}"#,
        Invalid,
        "this one has 1 elements",
        "[\">\"]",
    );
    refused(
        r#"{"a": [{"numeric": [">", 1, "<"]}]}"#,
        Invalid,
        "this one has 3 elements",
        "[\">\"",
    );
    refused(
        r#"{"a": [{"numeric": ["!=", 1]}]}"#,
        Invalid,
        "Bad numeric range operator: \"!=\"",
        "\"!=\"",
    );
    refused(
        r#"{"a": [{"numeric": [1, 1]}]}"#,
        Invalid,
        "Bad numeric range operator: 1",
        "1,",
    );
    refused(
        r#"{"a": [{"numeric": [">", "1"]}]}"#,
        Invalid,
        "Value of > must be numeric",
        "\"1\"",
    );
    refused(
        r#"{"a": [{"numeric": [">", 0, ">", 5]}]}"#,
        Invalid,
        "one lower bound",
        "\">\", 5",
    );
    refused(
        r#"{"a": [{"numeric": ["=", 0, "<", 5]}]}"#,
        Invalid,
        "cannot be part of a numeric range",
        "\"=\"",
    );
    refused(
        r#"{"a": [{"numeric": [">", 5, "<", 5]}]}"#,
        Invalid,
        "Bottom must be less than top",
        "[\">\"",
    );
    refused(
        r#"{"a": [{"numeric": ["<", 10, ">", 20]}]}"#,
        Invalid,
        "Bottom must be less than top",
        "[\"<\"",
    );
}

#[test]
fn numeric_operands_must_lie_within_eventbridges_range() {
    refused(
        r#"{"a": [{"numeric": [">", 5.0000001e9]}]}"#,
        Invalid,
        "between -5.0e9 and 5.0e9",
        "5.0000001e9",
    );
    refused(
        r#"{"a": [{"numeric": ["<", -6e9]}]}"#,
        Invalid,
        "between -5.0e9 and 5.0e9",
        "-6e9",
    );
    assert!(Pattern::parse(r#"{"a": [{"numeric": [">=", -5e9, "<=", 5e9]}]}"#).is_ok());
}

#[test]
fn exists_must_be_true_or_false() {
    refused(
        r#"{"a": [{"exists": "true"}]}"#,
        Invalid,
        "exists must be either true or false",
        "\"true\"",
    );
    refused(
        r#"{"a": [{"exists": null}]}"#,
        Invalid,
        "either true or false",
        "null",
    );
}

#[test]
fn cidr_must_be_an_address_and_mask_bits() {
    refused(
        r#"{"a": [{"cidr": "10.0.0.1"}]}"#,
        Invalid,
        "one '/' required",
        "\"10",
    );
    refused(
        r#"{"a": [{"cidr": "10.0.0.0/33"}]}"#,
        Invalid,
        "IPv4 mask bits must be at most 32",
        "\"10",
    );
    refused(
        r#"{"a": [{"cidr": "::/129"}]}"#,
        Invalid,
        "IPv6 mask bits must be at most 128",
        "\"::",
    );
    refused(
        r#"{"a": [{"cidr": "10.0.0.0/-1"}]}"#,
        Invalid,
        "non-negative integer",
        "\"10",
    );
    refused(
        r#"{"a": [{"cidr": "10.0.0.0/+8"}]}"#,
        Invalid,
        "non-negative integer",
        "\"10",
    );
    refused(
        r#"{"a": [{"cidr": "010.0.0.0/8"}]}"#,
        Invalid,
        "Invalid IP address \"010.0.0.0\"",
        "\"010",
    );
    refused(
        r#"{"a": [{"cidr": "300.0.0.0/8"}]}"#,
        Invalid,
        "Invalid IP address",
        "\"300",
    );
}

#[test]
fn or_needs_an_array_of_at_least_two_objects() {
    refused(r#"{"$or": [{"a": [1]}]}"#, Invalid, "this one has 1", "[{");
    refused(
        r#"{"$or": {"a": [1]}}"#,
        Invalid,
        "$or must be an array of at least 2 objects",
        "{\"a\"",
    );
    refused(
        r#"{"$or": [{"a": [1]}, "b"]}"#,
        Invalid,
        "an item is not an object",
        "\"b\"",
    );
    refused(
        r#"{"$or": [{"a": [1]}, {}]}"#,
        Invalid,
        "Empty objects are not allowed",
        "{}",
    );
    assert_eq!(
        error(r#"{"detail": {"$or": [{"a": [1]}]}}"#).path(),
        Some("detail.$or")
    );
    assert_eq!(
        error(r#"{"detail": {"$or": [{"a": [1]}, {"b": 2}]}}"#).path(),
        Some("detail.b")
    );
}

#[test]
fn too_many_or_combinations_are_refused() {
    let or10 = (0..10)
        .map(|i| format!(r#"{{"f{i}": [{i}]}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let ok = format!(
        r#"{{"a": {{"$or": [{or10}]}}, "b": {{"$or": [{or10}]}}, "c": {{"$or": [{or10}]}}}}"#
    );
    assert!(
        Pattern::parse(&ok).is_ok(),
        "10 x 10 x 10 = 1000 is the limit"
    );
    let over = format!(
        r#"{{"a": {{"$or": [{or10}]}}, "b": {{"$or": [{or10}]}}, "c": {{"$or": [{or10}, {{"x": [1]}}]}}}}"#
    );
    let error = error(&over);
    assert_eq!(error.kind(), TooComplex);
    assert!(error.reason().contains("1100 combinations"), "{error}");
}

#[test]
fn patterns_longer_than_2048_characters_are_too_large() {
    let value = "x".repeat(EVENTBRIDGE_MAX_PATTERN_CHARS);
    let text = format!(r#"{{"a": ["{value}"]}}"#);
    let error = error(&text);
    assert_eq!(error.kind(), TooLarge);
    assert!(
        error
            .reason()
            .contains(&format!("is {} characters", text.len())),
        "{error}"
    );
    assert_eq!(error.offset(), None);
    let from_value = Pattern::from_value(&json!({ "a": [value] })).expect_err("too large");
    assert_eq!(from_value.kind(), TooLarge);
    let fits = "é".repeat(EVENTBRIDGE_MAX_PATTERN_CHARS - 12);
    assert!(
        Pattern::parse(&format!(r#"{{"a": ["{fits}"]}}"#)).is_ok(),
        "characters, not bytes"
    );
}

#[test]
fn from_value_reports_paths_but_no_offsets() {
    let error =
        Pattern::from_value(&json!({"detail": {"state": [{"exists": 1}]}})).expect_err("invalid");
    assert_eq!(error.kind(), Invalid);
    assert_eq!(error.path(), Some("detail.state"));
    assert_eq!(error.offset(), None);
    assert_eq!(
        error.to_string(),
        "Event pattern is not valid. Reason: exists must be either true or false. (field `detail.state`)"
    );
}

#[test]
fn the_message_names_the_field_and_the_byte() {
    let error = error(r#"{"detail": {"state": [{"exists": 1}]}}"#);
    assert_eq!(
        error.to_string(),
        "Event pattern is not valid. Reason: exists must be either true or false. (field `detail.state`, byte 33)"
    );
}

#[test]
fn nesting_deeper_than_128_levels_is_refused_without_overflowing() {
    let text = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(error(&text).kind(), Syntax);
}
