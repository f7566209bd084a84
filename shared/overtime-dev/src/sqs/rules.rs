//! SQS's rules for names, queue attributes, message contents and sizes, and its MD5 digests.

use super::SqsError;
use super::model::{AttributeValue, Attributes, SendEntry};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use std::collections::BTreeMap;

/// A queue name's longest length, `.fifo` included (SQS CreateQueue).
pub const MAX_QUEUE_NAME: usize = 80;
/// How long a FIFO deduplication id is remembered (SQS: 5 minutes).
pub const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;
/// The longest batch entry id (SQS: 80 characters).
pub const MAX_BATCH_ENTRY_ID: usize = 80;
/// The longest a long poll may wait (SQS: 20 seconds).
pub const MAX_WAIT_SECS: i64 = 20;
/// Most messages one receive returns (SQS: 10).
pub const MAX_RECEIVE: i64 = 10;
/// The longest visibility timeout (SQS: 12 hours).
pub const MAX_VISIBILITY_SECS: i64 = 43_200;
/// The longest delay (SQS: 15 minutes).
pub const MAX_DELAY_SECS: i64 = 900;
/// The largest message and batch (SQS since August 2025: 1 MiB).
pub const MAX_MESSAGE_BYTES: i64 = 1_048_576;
/// Retention bounds and default (SQS: 60 s to 14 days, default 4 days).
pub const RETENTION_SECS: (i64, i64, i64) = (60, 1_209_600, 345_600);

/// The account every local queue belongs to.
pub const ACCOUNT: &str = "000000000000";
/// The region in every local ARN.
pub const REGION: &str = "us-east-1";

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

/// The queue name an SQS ARN names, when it is one of this account's queues.
pub fn queue_name_of_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, _partition, service, _region, account, name) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (arn_ == "arn" && service == "sqs" && account == ACCOUNT).then_some(name)
}

/// The ARN of a local queue.
pub fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
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

/// The hex MD5 of bytes.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// Lower-case hex, without a formatter call per byte (it showed in profiles: every send and
/// receive digests).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// SQS's MD5 of message attributes: names in order, each as length-prefixed name, data type,
/// a transport byte (1 string, 2 binary) and the length-prefixed value.
pub fn md5_of_attributes(attrs: &Attributes) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    let mut buf = Vec::new();
    for (name, value) in attrs {
        put(&mut buf, name.as_bytes());
        put(&mut buf, value.data_type.as_bytes());
        if let Some(s) = &value.string_value {
            buf.push(1);
            put(&mut buf, s.as_bytes());
        } else if let Some(raw) = binary(value) {
            buf.push(2);
            put(&mut buf, &raw);
        }
    }
    Some(md5_hex(&buf))
}

fn binary(value: &AttributeValue) -> Option<Vec<u8>> {
    let b = value.binary_value.as_ref()?;
    base64::engine::general_purpose::STANDARD.decode(b).ok()
}

/// Checks a message body's characters against the set SQS allows.
pub fn check_body(body: &str) -> Result<(), SqsError> {
    let allowed = |c: char| matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}');
    if body.chars().all(allowed) {
        Ok(())
    } else {
        Err(SqsError::InvalidMessageContents)
    }
}

/// Checks message attributes (at most 10, SQS's name rules, a known data type and a value)
/// and returns the bytes they count towards the message size.
pub fn check_message_attributes(attrs: &Attributes) -> Result<usize, SqsError> {
    if attrs.len() > 10 {
        return Err(SqsError::InvalidParameterValue(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
            attrs.len()
        )));
    }
    let mut size = 0;
    for (name, value) in attrs {
        let lower = name.to_ascii_lowercase();
        let name_ok = !name.is_empty()
            && name.len() <= 256
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
            && !lower.starts_with("aws.")
            && !lower.starts_with("amazon.");
        if !name_ok {
            return Err(SqsError::InvalidParameterValue(format!(
                "Message attribute name '{name}' is invalid: use up to 256 of A-Z a-z 0-9 _ - ., not starting or ending with a period, without '..', not starting with AWS. or Amazon."
            )));
        }
        let base = value.data_type.split('.').next().unwrap_or_default();
        // An empty value is no value: SQS wants name, type and value all non-empty.
        let value_size = match base {
            "String" | "Number" => value
                .string_value
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| check_body(s).map(|()| s.len())),
            "Binary" => value.binary_value.as_ref().filter(|b| !b.is_empty()).map(|_| {
                binary(value).map(|b| b.len()).ok_or_else(|| {
                    SqsError::InvalidParameterValue(format!(
                        "Message attribute '{name}' has a BinaryValue that is not base64."
                    ))
                })
            }),
            _ => {
                return Err(SqsError::InvalidParameterValue(format!(
                    "The message attribute '{name}' has an invalid message attribute type {:?}: use String, Number or Binary, optionally with a .suffix.",
                    value.data_type
                )));
            }
        }
        .transpose()?
        .ok_or_else(|| {
            SqsError::InvalidParameterValue(format!(
                "The message attribute '{name}' with type '{base}' must contain a non-empty value of type '{base}'."
            ))
        })?;
        if base == "Number" && !value.string_value.as_deref().is_some_and(is_number) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Can't cast the value of message (user) attribute '{name}' to a number."
            )));
        }
        size += name.len() + value.data_type.len() + value_size;
    }
    Ok(size)
}

/// A Number attribute's value: a decimal number, optionally signed, with an optional
/// fraction and exponent (no spaces, no `NaN` or `inf`).
fn is_number(s: &str) -> bool {
    fn digits(s: &str) -> usize {
        s.bytes().take_while(u8::is_ascii_digit).count()
    }
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let whole = digits(s);
    let mut rest = &s[whole..];
    let mut fraction = 0;
    if let Some(r) = rest.strip_prefix('.') {
        fraction = digits(r);
        rest = &r[fraction..];
    }
    if whole + fraction == 0 {
        return false;
    }
    if let Some(r) = rest.strip_prefix(['e', 'E']) {
        let r = r.strip_prefix(['+', '-']).unwrap_or(r);
        let exponent = digits(r);
        return exponent > 0 && exponent == r.len();
    }
    rest.is_empty()
}

/// Checks message system attributes: SQS supports one, `AWSTraceHeader`, a non-empty String.
pub fn check_system_attributes(attrs: &Attributes) -> Result<(), SqsError> {
    for (name, value) in attrs {
        let valid = name == "AWSTraceHeader"
            && value.data_type == "String"
            && value.string_value.as_deref().is_some_and(|v| !v.is_empty());
        if !valid {
            return Err(SqsError::InvalidParameterValue(format!(
                "Message system attribute '{name}' is invalid: the only one SQS supports is AWSTraceHeader, with DataType String and a non-empty StringValue."
            )));
        }
    }
    Ok(())
}

/// A send's size as SQS counts it: body plus attribute names, types and values.
pub fn message_size(entry: &SendEntry) -> Result<usize, SqsError> {
    let body = entry.message_body.as_deref().unwrap_or_default();
    Ok(body.len() + check_message_attributes(&entry.message_attributes)?)
}

/// Checks a whole batch's size before any entry is stored.
pub fn check_batch_size(entries: &[SendEntry]) -> Result<(), SqsError> {
    let mut total = 0;
    for e in entries {
        // An entry with bad attributes fails on its own later; it counts its body here.
        total += message_size(e).unwrap_or_else(|_| e.message_body.as_deref().map_or(0, str::len));
    }
    if total as i64 > MAX_MESSAGE_BYTES {
        return Err(SqsError::BatchRequestTooLong {
            size: total,
            limit: MAX_MESSAGE_BYTES as usize,
        });
    }
    Ok(())
}

/// Checks a batch's entry ids: 1 to 10 entries, distinct, each 1–80 of `[A-Za-z0-9_-]`.
pub fn check_batch_ids<'a>(
    ids: impl ExactSizeIterator<Item = Option<&'a str>>,
    what: &'static str,
) -> Result<(), SqsError> {
    let n = ids.len();
    if n == 0 {
        return Err(SqsError::EmptyBatchRequest(what));
    }
    if n > 10 {
        return Err(SqsError::TooManyEntriesInBatchRequest(n));
    }
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        let id = id.ok_or_else(|| SqsError::MissingParameter(format!("{what}RequestEntry.Id")))?;
        if id.is_empty()
            || id.len() > MAX_BATCH_ENTRY_ID
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SqsError::InvalidBatchEntryId);
        }
        if !seen.insert(id) {
            return Err(SqsError::BatchEntryIdsNotDistinct(id.into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"3"}"#.to_string(),
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
}
