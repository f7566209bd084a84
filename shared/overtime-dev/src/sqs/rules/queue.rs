//! A queue's name and attributes: which may be given, what they mean ([`QueueConfig`]), and
//! the checks CreateQueue and SetQueueAttributes make of them.

use super::{ACCOUNT, RETENTION_SECS, queue_name_of_arn};
use super::{
    MAX_DELAY_SECS, MAX_MESSAGE_BYTES, MAX_QUEUE_NAME, MAX_VISIBILITY_SECS, MAX_WAIT_SECS,
};
use crate::sqs::SqsError;
use std::collections::BTreeMap;

/// A queue's settings, read from its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// `DelaySeconds`.
    pub delay_secs: i64,
    /// `MaximumMessageSize`.
    pub max_message_bytes: i64,
    /// `MessageRetentionPeriod`.
    pub retention_secs: i64,
    /// `ReceiveMessageWaitTimeSeconds`.
    pub wait_secs: i64,
    /// `VisibilityTimeout`.
    pub visibility_secs: i64,
    /// `RedrivePolicy`: the dead-letter queue's name and `maxReceiveCount`.
    pub redrive: Option<(String, i64)>,
    /// `FifoQueue`.
    pub fifo: bool,
    /// `ContentBasedDeduplication`.
    pub content_dedup: bool,
}

/// The attributes a queue may be created or updated with, and whether FIFO-only.
pub(crate) const SETTABLE: &[(&str, bool)] = &[
    ("DelaySeconds", false),
    ("MaximumMessageSize", false),
    ("MessageRetentionPeriod", false),
    ("Policy", false),
    ("ReceiveMessageWaitTimeSeconds", false),
    ("VisibilityTimeout", false),
    ("RedrivePolicy", false),
    ("RedriveAllowPolicy", false),
    ("KmsMasterKeyId", false),
    ("KmsDataKeyReusePeriodSeconds", false),
    ("SqsManagedSseEnabled", false),
    ("FifoQueue", true),
    ("ContentBasedDeduplication", true),
    ("DeduplicationScope", true),
    ("FifoThroughputLimit", true),
];

/// The read-only attributes GetQueueAttributes reports.
pub const COMPUTED: &[&str] = &[
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
];

/// Checks a queue name: 1–80 of `[A-Za-z0-9_-]`, and `.fifo` exactly for FIFO queues.
pub fn check_queue_name(name: &str, fifo: bool) -> Result<(), SqsError> {
    let stem = name.strip_suffix(".fifo").unwrap_or(name);
    let valid = !stem.is_empty()
        && name.len() <= MAX_QUEUE_NAME
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(SqsError::InvalidParameterValue(format!(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length (queue name {name:?})"
        )));
    }
    if fifo != name.ends_with(".fifo") {
        return Err(SqsError::InvalidParameterValue(
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.".into(),
        ));
    }
    Ok(())
}

fn int_in(name: &str, value: &str, lo: i64, hi: i64) -> Result<i64, SqsError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| (lo..=hi).contains(v))
        .ok_or_else(|| {
            SqsError::InvalidAttributeValue(
                name.into(),
                format!("{value:?} is not an integer from {lo} to {hi}"),
            )
        })
}

fn boolean(name: &str, value: &str) -> Result<bool, SqsError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SqsError::InvalidAttributeValue(
            name.into(),
            format!("{value:?} is not true or false"),
        )),
    }
}

fn redrive(value: &str) -> Result<Option<(String, i64)>, SqsError> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let bad = |why: &str| SqsError::InvalidAttributeValue("RedrivePolicy".into(), why.into());
    let policy: serde_json::Value = serde_json::from_str(value)
        .map_err(|e| bad(&format!("Redrive policy is not a valid JSON map: {e}")))?;
    let arn = policy["deadLetterTargetArn"].as_str().ok_or_else(|| {
        bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
    })?;
    // SQS accepts the count as a number or a numeric string.
    let max = match &policy["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad("Redrive policy does not contain mandatory attribute: maxReceiveCount."))?;
    if !(1..=1000).contains(&max) {
        return Err(bad(
            "Value for maxReceiveCount must be an integer from 1 to 1000.",
        ));
    }
    let name = queue_name_of_arn(arn)
        .ok_or_else(|| bad(&format!("Value {arn} for parameter deadLetterTargetArn is invalid: not a queue ARN of account {ACCOUNT}.")))?;
    Ok(Some((name.to_owned(), max)))
}

/// Checks attributes given to CreateQueue or SetQueueAttributes and merges them over
/// `current`; returns the merged map and the settings it gives.
pub fn merge_attributes(
    current: &BTreeMap<String, String>,
    given: &BTreeMap<String, String>,
    creating: bool,
) -> Result<(BTreeMap<String, String>, QueueConfig), SqsError> {
    let fifo_queue = current.get("FifoQueue").is_some_and(|v| v == "true")
        || (creating
            && given
                .get("FifoQueue")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")));
    let mut merged = current.clone();
    for (name, value) in given {
        let Some((_, fifo_only)) = SETTABLE.iter().find(|(n, _)| n == name) else {
            return Err(SqsError::InvalidAttributeName(name.clone()));
        };
        if *fifo_only && !fifo_queue && !(name == "FifoQueue" && value == "false") {
            return Err(SqsError::InvalidAttributeName(name.clone()));
        }
        if name == "FifoQueue" && !creating && current.get("FifoQueue") != Some(value) {
            return Err(SqsError::InvalidAttributeValue(
                name.clone(),
                "a queue cannot change between standard and FIFO".into(),
            ));
        }
        merged.insert(name.clone(), value.clone());
    }
    check_fifo_throughput(given, &merged)?;
    let config = config_of(&merged)?;
    if let Some(v) = merged.get_mut("FifoQueue") {
        *v = config.fifo.to_string();
    }
    Ok((merged, config))
}

/// Checks the given values of FIFO high-throughput settings: `DeduplicationScope` is
/// `messageGroup` or `queue`, `FifoThroughputLimit` is `perQueue` or `perMessageGroupId`, and
/// `perMessageGroupId` needs `messageGroup`.
fn check_fifo_throughput(
    given: &BTreeMap<String, String>,
    merged: &BTreeMap<String, String>,
) -> Result<(), SqsError> {
    for (name, allowed) in [
        ("DeduplicationScope", ["messageGroup", "queue"]),
        ("FifoThroughputLimit", ["perQueue", "perMessageGroupId"]),
    ] {
        if let Some(v) = given.get(name)
            && !allowed.contains(&v.as_str())
        {
            return Err(SqsError::InvalidAttributeValue(
                name.into(),
                format!("{v:?} is not one of {allowed:?}"),
            ));
        }
    }
    let per_group =
        merged.get("FifoThroughputLimit").map(String::as_str) == Some("perMessageGroupId");
    let by_group = merged.get("DeduplicationScope").map(String::as_str) == Some("messageGroup");
    if per_group
        && !by_group
        && (given.contains_key("FifoThroughputLimit") || given.contains_key("DeduplicationScope"))
    {
        return Err(SqsError::InvalidAttributeValue(
            "FifoThroughputLimit".into(),
            "perMessageGroupId is allowed only with DeduplicationScope messageGroup".into(),
        ));
    }
    Ok(())
}

/// The settings a queue's stored attributes give.
pub fn config_of(attrs: &BTreeMap<String, String>) -> Result<QueueConfig, SqsError> {
    let get = |n: &str| attrs.get(n).map(String::as_str);
    let int = |n: &str, lo, hi, default| get(n).map_or(Ok(default), |v| int_in(n, v, lo, hi));
    Ok(QueueConfig {
        delay_secs: int("DelaySeconds", 0, MAX_DELAY_SECS, 0)?,
        max_message_bytes: int(
            "MaximumMessageSize",
            1024,
            MAX_MESSAGE_BYTES,
            MAX_MESSAGE_BYTES,
        )?,
        retention_secs: int(
            "MessageRetentionPeriod",
            RETENTION_SECS.0,
            RETENTION_SECS.1,
            RETENTION_SECS.2,
        )?,
        wait_secs: int("ReceiveMessageWaitTimeSeconds", 0, MAX_WAIT_SECS, 0)?,
        visibility_secs: int("VisibilityTimeout", 0, MAX_VISIBILITY_SECS, 30)?,
        redrive: get("RedrivePolicy").map_or(Ok(None), redrive)?,
        fifo: get("FifoQueue").map_or(Ok(false), |v| boolean("FifoQueue", v))?,
        content_dedup: get("ContentBasedDeduplication")
            .map_or(Ok(false), |v| boolean("ContentBasedDeduplication", v))?,
    })
}
