//! Tests of SQS's rules: digests against an independent implementation's, and the names,
//! attributes and values SQS accepts or refuses.

use super::*;
use crate::sqs::SqsError;
use crate::sqs::model::{AttributeValue, Attributes};
use std::collections::BTreeMap;

#[test]
fn attribute_md5_matches_sqs() {
    let attr = |data_type: &str, string: Option<&str>, binary: Option<&str>| AttributeValue {
        data_type: data_type.into(),
        string_value: string.map(Into::into),
        binary_value: binary.map(Into::into),
        string_list_values: None,
        binary_list_values: None,
    };
    let attrs = Attributes::from([
        (
            "overtime.job".to_string(),
            attr("String", Some("record"), None),
        ),
        ("n".to_string(), attr("Number", Some("42"), None)),
        // base64 of [0x00, 0x01, 0xff]
        ("b".to_string(), attr("Binary", None, Some("AAH/"))),
    ]);
    // The same attributes digested by moto's independent implementation
    // (moto.sqs.models.Message.attribute_md5).
    assert_eq!(
        md5_of_attributes(&attrs).as_deref(),
        Some("cb92812d885375cb6010c28ee87c0eae")
    );
    assert_eq!(md5_of_attributes(&Attributes::new()), None);
    assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
}

#[test]
fn names_and_attributes_follow_sqs_rules() {
    assert!(check_queue_name("jobs", false).is_ok());
    assert!(check_queue_name("jobs.fifo", true).is_ok());
    assert!(check_queue_name("jobs.fifo", false).is_err());
    assert!(check_queue_name("jobs", true).is_err());
    assert!(check_queue_name("bad name", false).is_err());
    assert!(check_queue_name(&"x".repeat(81), false).is_err());
    let given = BTreeMap::from([("VisibilityTimeout".to_string(), "43201".to_string())]);
    assert!(matches!(
        merge_attributes(&BTreeMap::new(), &given, true),
        Err(SqsError::InvalidAttributeValue(..))
    ));
    let given = BTreeMap::from([("Nope".to_string(), "1".to_string())]);
    assert!(matches!(
        merge_attributes(&BTreeMap::new(), &given, true),
        Err(SqsError::InvalidAttributeName(_))
    ));
    let given = BTreeMap::from([(
        "RedrivePolicy".to_string(),
        r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"3"}"#
            .to_string(),
    )]);
    let (_, config) = merge_attributes(&BTreeMap::new(), &given, true).expect("valid");
    assert_eq!(config.redrive, Some(("dlq".into(), 3)));
    assert!(check_body("ok\n\t").is_ok());
    assert!(check_body("\u{1}").is_err());
}

fn value(data_type: &str, string: Option<&str>, binary: Option<&str>) -> AttributeValue {
    AttributeValue {
        data_type: data_type.into(),
        string_value: string.map(Into::into),
        binary_value: binary.map(Into::into),
        string_list_values: None,
        binary_list_values: None,
    }
}

fn one(name: &str, v: AttributeValue) -> Attributes {
    Attributes::from([(name.to_string(), v)])
}

#[test]
fn attribute_values_must_be_present_and_numbers_decimal() {
    for v in [
        value("String", Some(""), None),
        value("Number", Some(""), None),
        value("Binary", None, Some("")),
        value("String", None, None),
        value("Number", Some("NaN"), None),
        value("Number", Some("inf"), None),
        value("Number", Some(" 1"), None),
        value("Number", Some("1e"), None),
        value("Number", Some("."), None),
        value("Number", Some("1.2.3"), None),
    ] {
        let attrs = one("a", v.clone());
        assert!(
            matches!(
                check_message_attributes(&attrs),
                Err(SqsError::InvalidParameterValue(_))
            ),
            "{v:?} should be refused"
        );
    }
    for n in ["0", "-2", "+3.25", ".5", "5.", "1.5e3", "2E-7", "00042"] {
        let attrs = one("a", value("Number", Some(n), None));
        assert!(check_message_attributes(&attrs).is_ok(), "{n} is a number");
    }
    assert_eq!(
        check_message_attributes(&one("a", value("Binary", None, Some("AAH/")))).ok(),
        Some("a".len() + "Binary".len() + 3)
    );
}

#[test]
fn the_only_system_attribute_is_a_string_trace_header() {
    let ok = one(
        "AWSTraceHeader",
        value("String", Some("Root=1-5759e988"), None),
    );
    assert!(check_system_attributes(&ok).is_ok());
    for bad in [
        one("Bogus", value("String", Some("x"), None)),
        one("AWSTraceHeader", value("Number", Some("1"), None)),
        one("AWSTraceHeader", value("String", Some(""), None)),
    ] {
        let err = check_system_attributes(&bad).expect_err("refused");
        assert!(err.to_string().contains("AWSTraceHeader"), "{err}");
    }
}

#[test]
fn fifo_throughput_settings_take_only_their_values() {
    let fifo = |pairs: &[(&str, &str)]| {
        let mut given = BTreeMap::from([("FifoQueue".to_string(), "true".to_string())]);
        given.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        merge_attributes(&BTreeMap::new(), &given, true)
    };
    assert!(fifo(&[("DeduplicationScope", "messageGroup")]).is_ok());
    assert!(
        fifo(&[
            ("DeduplicationScope", "messageGroup"),
            ("FifoThroughputLimit", "perMessageGroupId")
        ])
        .is_ok()
    );
    for bad in [
        &[("DeduplicationScope", "MessageGroup")][..],
        &[("FifoThroughputLimit", "perGroup")][..],
        &[("FifoThroughputLimit", "perMessageGroupId")][..],
        &[
            ("DeduplicationScope", "queue"),
            ("FifoThroughputLimit", "perMessageGroupId"),
        ][..],
    ] {
        assert!(
            matches!(fifo(bad), Err(SqsError::InvalidAttributeValue(..))),
            "{bad:?} should be refused"
        );
    }
    // Changing the scope back under a per-group limit is refused too.
    let (current, _) = fifo(&[
        ("DeduplicationScope", "messageGroup"),
        ("FifoThroughputLimit", "perMessageGroupId"),
    ])
    .expect("valid");
    let given = BTreeMap::from([("DeduplicationScope".to_string(), "queue".to_string())]);
    assert!(merge_attributes(&current, &given, false).is_err());
}
