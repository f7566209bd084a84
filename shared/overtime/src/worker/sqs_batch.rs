//! What the worker reads of a Lambda SQS event: only the fields it uses, with the message
//! attributes kept as a short list. Parsing this instead of the full `SqsEvent` (maps for every
//! record's attributes, MD5s, regions) is what keeps the worker's per-message cost near a bare
//! `serde_json::from_str` of the event.

use super::dispatch::Delivery;
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use std::fmt;

/// A Lambda SQS event, as the worker reads it. Unknown fields are skipped.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SqsBatch {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
}

impl SqsBatch {
    /// Each record's event source ARN with its delivery, or the id to report as failed.
    pub(crate) fn into_deliveries(
        self,
    ) -> impl Iterator<Item = (String, Result<Delivery, String>)> {
        self.records.into_iter().map(Record::into_delivery)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    message_id: Option<String>,
    receipt_handle: Option<String>,
    body: Option<String>,
    #[serde(default)]
    attributes: SystemAttributes,
    #[serde(default, deserialize_with = "string_attributes")]
    message_attributes: Vec<(String, String)>,
    #[serde(rename = "eventSourceARN")]
    event_source_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct SystemAttributes {
    #[serde(
        rename = "ApproximateReceiveCount",
        default,
        deserialize_with = "count"
    )]
    receive_count: Option<u32>,
    #[serde(rename = "MessageGroupId")]
    group_id: Option<String>,
    #[serde(rename = "SentTimestamp", default, deserialize_with = "millis")]
    sent_ms: Option<i64>,
}

impl Record {
    fn into_delivery(self) -> (String, Result<Delivery, String>) {
        let delivery = lambda_delivery(
            self.message_id,
            self.receipt_handle,
            self.body,
            self.attributes.receive_count,
            self.attributes.group_id,
            self.attributes.sent_ms,
            self.message_attributes,
        );
        (self.event_source_arn.unwrap_or_default(), delivery)
    }
}

/// A Lambda SQS record as a delivery, or the id to report as failed when it cannot be one. A
/// record with no message id is reported as the empty id, which makes Lambda retry the whole
/// batch: better than losing a message no one can name.
pub(super) fn lambda_delivery(
    message_id: Option<String>,
    receipt_handle: Option<String>,
    body: Option<String>,
    receive_count: Option<u32>,
    group_id: Option<String>,
    sent_ms: Option<i64>,
    attributes: Vec<(String, String)>,
) -> Result<Delivery, String> {
    let Some(message_id) = message_id else {
        tracing::error!("SQS record without a message id; failing the batch so nothing is lost");
        return Err(String::new());
    };
    let Some(receipt_handle) = receipt_handle else {
        tracing::error!(
            message_id,
            "SQS record without a receipt handle; failing it"
        );
        return Err(message_id);
    };
    Ok(Delivery {
        message_id,
        receipt_handle,
        body: body.unwrap_or_default(),
        receive_count: receive_count.unwrap_or(1),
        group_id,
        sent_ms,
        attributes,
    })
}

/// `"1700000000000"` → `Some(ms)`; anything else → `None`.
fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let s: Option<std::borrow::Cow<'de, str>> = Option::deserialize(d).unwrap_or(None);
    Ok(s.and_then(|s| s.parse().ok()))
}

/// `"3"` → `Some(3)`, read in place; anything else (absent, `null`, not a count) → `None`.
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    struct Count;
    impl Visitor<'_> for Count {
        type Value = Option<u32>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a receive count")
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.parse().ok())
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(u32::try_from(v).ok())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Count)
}

/// `{"name": {"stringValue": "v", …}, …}` → `[("name", "v"), …]`, skipping binary values.
fn string_attributes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct Attributes;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Value {
        string_value: Option<String>,
    }
    impl<'de> Visitor<'de> for Attributes {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of SQS message attributes")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(2));
            while let Some((name, value)) = map.next_entry::<String, Value>()? {
                if let Some(v) = value.string_value {
                    out.push((name, v));
                }
            }
            Ok(out)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_worker_needs_and_nothing_else() {
        let json = r#"{"Records":[{"messageId":"m1","receiptHandle":"h1","body":"b",
            "attributes":{"ApproximateReceiveCount":"3","MessageGroupId":"g","SentTimestamp":"1"},
            "messageAttributes":{"overtime.job":{"stringValue":"a","stringListValues":[],"dataType":"String"},
                                 "bin":{"binaryValue":"AA==","dataType":"Binary"}},
            "eventSourceARN":"arn:aws:sqs:us-east-1:1:q.fifo","md5OfBody":"x","awsRegion":"us-east-1"},
            {"receiptHandle":"h2"}, {"messageId":"m3","messageAttributes":null}]}"#;
        let batch: SqsBatch = serde_json::from_str(json).expect("parses");
        let records: Vec<_> = batch.into_deliveries().collect();
        let (arn, first) = &records[0];
        assert_eq!(arn, "arn:aws:sqs:us-east-1:1:q.fifo");
        let d = first.as_ref().expect("a delivery");
        assert_eq!((d.receive_count, d.group_id.as_deref()), (3, Some("g")));
        assert_eq!(
            d.attributes,
            vec![("overtime.job".to_owned(), "a".to_owned())]
        );
        assert_eq!(
            records[1].1.as_ref().err(),
            Some(&String::new()),
            "no id: fail the batch"
        );
        assert_eq!(
            records[2].1.as_ref().err().map(String::as_str),
            Some("m3"),
            "no handle: fail it"
        );
    }
}
