//! SQS event source mappings, as Lambda runs them: pollers receive batches (up to the batch
//! size, within the batching window), invoke the function with an SQS event, delete what
//! succeeded and leave the rest to SQS's visibility timeout and redrive.

use crate::runtime::{Function, Outcome};
use crate::sqs::model::Received;
use crate::sqs::{ReceiveRequest, Sqs, rules};
use axum::body::Bytes;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pollers a mapping starts with when no maximum concurrency is declared (Lambda starts
/// SQS mappings with five).
pub const DEFAULT_POLLERS: u32 = 5;

/// The largest event a mapping passes: Lambda's payload limit for a synchronous invocation.
/// A batch stops gathering at it, and what does not fit waits for the poller's next
/// invocation (one message always fits: SQS's 1 MiB limit is well under it).
pub const MAX_EVENT_BYTES: usize = overtime::limits::LAMBDA_MAX_PAYLOAD_BYTES;

/// A mapping from the declaration.
#[derive(Debug, Clone)]
pub struct MappingSpec {
    /// The queue's name.
    pub queue: String,
    /// Messages per invocation.
    pub batch_size: u32,
    /// How long to gather a batch.
    pub batching_window: Duration,
    /// Most concurrent invocations.
    pub max_concurrency: Option<u32>,
    /// Whether the function reports partial batch failures (overtime always declares it).
    pub report_batch_item_failures: bool,
}

/// Runs a mapping's pollers until the task is dropped.
pub async fn run(sqs: Sqs, spec: MappingSpec, function: Arc<Function>) {
    let pollers = spec
        .max_concurrency
        .unwrap_or(DEFAULT_POLLERS)
        .min(function.spec().concurrency as u32)
        .max(1);
    let mut tasks = Vec::new();
    for _ in 0..pollers {
        tasks.push(tokio::spawn(poll(
            sqs.clone(),
            spec.clone(),
            function.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn poll(sqs: Sqs, spec: MappingSpec, function: Arc<Function>) {
    let trigger = format!("queue {}", spec.queue);
    // Messages received but over the payload limit of the last invocation: the next one
    // takes them before receiving more (they are in flight, so no one else can).
    let mut carried: Vec<Received> = Vec::new();
    loop {
        let batch = if carried.is_empty() {
            match gather(&sqs, &spec).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(queue = %spec.queue, error = %e, "receive failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        } else {
            std::mem::take(&mut carried)
        };
        if batch.is_empty() {
            continue;
        }
        let (event, batch, rest) = fit(&spec.queue, batch);
        carried = rest;
        let outcome = function.invoke(Bytes::from(event), &trigger).await;
        let succeeded = settled(&outcome, &batch, spec.report_batch_item_failures);
        if succeeded.is_empty() {
            continue;
        }
        let handles = batch
            .iter()
            .filter(|m| succeeded.contains(m.message_id.as_str()))
            .map(|m| m.receipt_handle.clone())
            .collect();
        if let Err(e) = sqs.delete(&spec.queue, handles).await {
            tracing::warn!(queue = %spec.queue, error = %e, "delete after invoke failed; the messages will be received again");
        }
    }
}

/// The event for the longest prefix of `batch` within [`MAX_EVENT_BYTES`] (at least one
/// message), the messages in it, and the rest.
pub fn fit(queue: &str, mut batch: Vec<Received>) -> (Vec<u8>, Vec<Received>, Vec<Received>) {
    const HEAD: &[u8] = br#"{"Records":["#;
    let arn = rules::queue_arn(queue);
    let mut out = HEAD.to_vec();
    let mut taken = 0;
    for m in &batch {
        let record = record(&arn, m).to_string();
        let added = record.len() + usize::from(taken > 0);
        if taken > 0 && out.len() + added + 2 > MAX_EVENT_BYTES {
            break;
        }
        if taken > 0 {
            out.push(b',');
        }
        out.extend_from_slice(record.as_bytes());
        taken += 1;
    }
    out.extend_from_slice(b"]}");
    let rest = batch.split_off(taken);
    (out, batch, rest)
}

/// A received message's size in its event, near enough to stop gathering at the limit.
fn approximate_size(m: &Received) -> usize {
    const RECORD_OVERHEAD: usize = 1024;
    m.body.len()
        + RECORD_OVERHEAD
        + m.message_attributes
            .iter()
            .map(|(k, v)| {
                k.len()
                    + v.data_type.len()
                    + v.string_value.as_ref().map_or(0, String::len)
                    + v.binary_value.as_ref().map_or(0, String::len)
            })
            .sum::<usize>()
}

async fn gather(sqs: &Sqs, spec: &MappingSpec) -> Result<Vec<Received>, crate::sqs::SqsError> {
    let mut batch = Vec::new();
    let mut size = 0;
    let started = Instant::now();
    loop {
        let want = (spec.batch_size as usize - batch.len()).min(rules::MAX_RECEIVE as usize);
        let waited = started.elapsed();
        // The first receive long-polls; later ones wait only for what is left of the window.
        let wait = if batch.is_empty() {
            Duration::from_secs(rules::MAX_WAIT_SECS as u64)
        } else {
            spec.batching_window.saturating_sub(waited)
        };
        let req = ReceiveRequest {
            max: want as i64,
            visibility: None,
            attribute_names: vec!["All".into()],
            message_attribute_names: vec!["All".into()],
        };
        let got = sqs.receive(&spec.queue, req, wait).await?;
        let empty = got.is_empty();
        size += got.iter().map(approximate_size).sum::<usize>();
        batch.extend(got);
        if batch.len() >= spec.batch_size as usize
            || size >= MAX_EVENT_BYTES
            || (!batch.is_empty() && started.elapsed() >= spec.batching_window)
            || (empty && !batch.is_empty())
        {
            return Ok(batch);
        }
        if batch.is_empty() && empty {
            return Ok(batch);
        }
    }
}

/// One message's record in the SQS event Lambda passes for a batch (`{"Records": [...]}`,
/// built by [`fit`]).
fn record(arn: &str, m: &Received) -> Value {
    let attrs: serde_json::Map<String, Value> = m
        .message_attributes
        .iter()
        .map(|(k, v)| {
            let mut a = json!({
                "dataType": v.data_type,
                "stringListValues": [],
                "binaryListValues": [],
            });
            if let Some(s) = &v.string_value {
                a["stringValue"] = s.clone().into();
            }
            if let Some(b) = &v.binary_value {
                a["binaryValue"] = b.clone().into();
            }
            (k.clone(), a)
        })
        .collect();
    let mut r = json!({
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": m.attributes,
        "messageAttributes": attrs,
        "md5OfBody": m.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": rules::REGION,
    });
    if let Some(md5) = &m.md5_of_message_attributes {
        r["md5OfMessageAttributes"] = md5.clone().into();
    }
    r
}

/// The message ids an outcome settles, as Lambda reads a response: an error settles none;
/// with ReportBatchItemFailures, every id but the listed ones, unless the response is not
/// JSON or the list is malformed (then none).
pub fn settled<'a>(
    outcome: &Outcome,
    batch: &'a [Received],
    report_failures: bool,
) -> HashSet<&'a str> {
    let all: HashSet<&str> = batch.iter().map(|m| m.message_id.as_str()).collect();
    let Outcome::Ok(body) = outcome else {
        return HashSet::new();
    };
    if !report_failures {
        return all;
    }
    let response: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            // An invalid JSON response fails the whole batch (Lambda's partial batch rules).
            Err(_) => return HashSet::new(),
        }
    };
    let Some(failures) = response.get("batchItemFailures") else {
        return all;
    };
    let Some(list) = failures.as_array() else {
        return if failures.is_null() {
            all
        } else {
            HashSet::new()
        };
    };
    let mut failed = HashSet::new();
    for f in list {
        match f.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if all.contains(id) => {
                failed.insert(id);
            }
            // Lambda fails the whole batch on an empty, missing or unknown identifier.
            _ => return HashSet::new(),
        }
    }
    all.into_iter().filter(|id| !failed.contains(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str) -> Received {
        Received {
            message_id: id.into(),
            receipt_handle: format!("h-{id}"),
            md5_of_body: String::new(),
            body: "{}".into(),
            attributes: Default::default(),
            md5_of_message_attributes: None,
            message_attributes: Default::default(),
        }
    }

    #[test]
    fn responses_settle_as_lambda_reads_them() {
        let batch = vec![msg("a"), msg("b"), msg("c")];
        let ok = |s: &str| Outcome::Ok(Bytes::from(s.to_owned()));
        fn ids(set: HashSet<&str>) -> Vec<String> {
            let mut v: Vec<String> = set.into_iter().map(str::to_owned).collect();
            v.sort_unstable();
            v
        }
        assert_eq!(ids(settled(&ok(""), &batch, true)), ["a", "b", "c"]);
        assert_eq!(ids(settled(&ok("null"), &batch, true)), ["a", "b", "c"]);
        assert_eq!(
            ids(settled(&ok(r#"{"batchItemFailures":[]}"#), &batch, true)),
            ["a", "b", "c"]
        );
        assert_eq!(
            ids(settled(
                &ok(r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#),
                &batch,
                true
            )),
            ["a", "c"]
        );
        // A response that is not JSON fails the whole batch, as does an unknown or empty
        // identifier.
        assert!(settled(&ok("<html>oops</html>"), &batch, true).is_empty());
        assert!(
            settled(
                &ok(r#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#),
                &batch,
                true
            )
            .is_empty()
        );
        assert!(
            settled(
                &ok(r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#),
                &batch,
                true
            )
            .is_empty()
        );
        // Without ReportBatchItemFailures the list is not read.
        assert_eq!(
            ids(settled(
                &ok(r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#),
                &batch,
                false
            )),
            ["a", "b", "c"]
        );
        assert!(settled(&Outcome::Timeout(Duration::from_secs(1)), &batch, true).is_empty());
        assert!(
            settled(
                &Outcome::Error {
                    error_type: "x".into(),
                    message: "y".into()
                },
                &batch,
                true
            )
            .is_empty()
        );
    }

    #[test]
    fn an_event_stays_within_lambdas_payload_limit_and_the_rest_waits() {
        let big = |id: &str| Received {
            body: "x".repeat(1 << 20),
            ..msg(id)
        };
        let batch: Vec<Received> = ["a", "b", "c", "d", "e", "f", "g", "h"]
            .into_iter()
            .map(big)
            .collect();
        let (event, sent, rest) = fit("q", batch);
        assert!(event.len() <= MAX_EVENT_BYTES, "{}", event.len());
        assert_eq!(
            sent.len(),
            5,
            "six 1 MiB bodies and their records are over 6 MiB"
        );
        assert_eq!(
            rest.iter()
                .map(|m| m.message_id.as_str())
                .collect::<Vec<_>>(),
            ["f", "g", "h"]
        );
        // The event is Lambda's shape: the records of the messages in it.
        let parsed: Value = serde_json::from_slice(&event).expect("JSON");
        let arn = rules::queue_arn("q");
        let records: Vec<Value> = sent.iter().map(|m| record(&arn, m)).collect();
        assert_eq!(parsed, json!({ "Records": records }));
        assert_eq!(parsed["Records"][0]["eventSource"], "aws:sqs");
        // Small batches go whole; a lone message always goes.
        let (_, sent, rest) = fit("q", vec![msg("a"), msg("b")]);
        assert_eq!((sent.len(), rest.len()), (2, 0));
        let huge = Received {
            body: "x".repeat(MAX_EVENT_BYTES),
            ..msg("z")
        };
        let (_, sent, rest) = fit("q", vec![huge, msg("y")]);
        assert_eq!((sent.len(), rest.len()), (1, 1));
    }

    #[tokio::test]
    async fn batches_fill_up_within_the_window_and_no_longer() {
        let path =
            std::env::temp_dir().join(format!("overtime-gather-{}.db", uuid::Uuid::new_v4()));
        let sqs = Sqs::open(&path, "http://127.0.0.1:9").expect("store");
        sqs.create_queue("q", Default::default(), Default::default())
            .await
            .expect("queue");
        let sender = sqs.clone();
        let send = move |n: usize| {
            let sqs = sender.clone();
            async move {
                let entries = (0..n)
                    .map(|i| crate::sqs::model::SendEntry {
                        message_body: Some(format!("m{i}")),
                        ..Default::default()
                    })
                    .collect();
                sqs.send("q", entries).await.expect("send");
            }
        };
        let spec = |batch_size, window_ms| MappingSpec {
            queue: "q".into(),
            batch_size,
            batching_window: Duration::from_millis(window_ms),
            max_concurrency: None,
            report_batch_item_failures: true,
        };
        // No window: one receive's worth, at once.
        send(3).await;
        let started = Instant::now();
        assert_eq!(gather(&sqs, &spec(10, 0)).await.expect("batch").len(), 3);
        assert!(started.elapsed() < Duration::from_millis(500));
        // A window: what arrives within it joins the batch (batch size over 10 needs one).
        send(10).await;
        let late = tokio::spawn({
            let send = send.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                send(15).await;
            }
        });
        let batch = gather(&sqs, &spec(25, 1500)).await.expect("batch");
        late.await.expect("late sender");
        assert_eq!(batch.len(), 25, "10 at first, 15 within the window");
        // A full batch returns before the window ends.
        send(12).await;
        let started = Instant::now();
        assert_eq!(
            gather(&sqs, &spec(12, 5000)).await.expect("batch").len(),
            12
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
