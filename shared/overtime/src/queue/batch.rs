//! Fan-out: pack messages into `SendMessageBatch` calls, run them concurrently, retry
//! only the entries that failed for transient reasons, and answer once per message.

// Without `test-util` a queue's backend is always SQS, and its matches have one arm.
#![cfg_attr(
    not(feature = "test-util"),
    allow(clippy::infallible_destructuring_match)
)]

use super::message::{Prepared, SendError, Sent};
use super::{Backend, Message, Queue};
use crate::batching::{self, ENTRY_ATTEMPTS};
use crate::error::SqsError;
use crate::limits::{SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::BuildError;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};

type Outcome = Result<Sent, SendError>;

pub(super) async fn send(queue: &Queue, messages: Vec<Message>) -> Vec<Outcome> {
    let count = messages.len();
    let mut results: Vec<Option<Outcome>> = (0..count).map(|_| None).collect();
    let mut ready = Vec::with_capacity(count);
    let mut limit = None;
    let now_ms = queue.now_ms();
    for (index, message) in messages.into_iter().enumerate() {
        let prepared = message.prepare(queue.url(), queue.is_fifo(), now_ms);
        // The queue's own limit is read once, and only when a message passed SQS's limit.
        let prepared = match prepared {
            Ok(p) => {
                let limit = match limit {
                    Some(l) => l,
                    None => *limit.insert(queue.max_message_bytes().await),
                };
                if p.size > limit {
                    Err(SendError::TooLarge {
                        job: p.job,
                        size: p.size,
                        limit,
                    })
                } else {
                    Ok(p)
                }
            }
            Err(e) => Err(e),
        };
        match prepared {
            Ok(p) => ready.push((index, p)),
            Err(e) => results[index] = Some(Err(e)),
        }
    }

    let client = match &queue.inner.backend {
        Backend::Sqs(client) => client,
        #[cfg(feature = "test-util")]
        Backend::Memory(mailbox) => {
            for (index, p) in ready {
                results[index] = Some(Ok(mailbox.push(p)));
            }
            return finish(results);
        }
    };
    let chunks = pack(ready);
    if queue.is_fifo() {
        send_fifo(client, queue.url(), chunks, &mut results).await;
    } else {
        let mut calls = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|chunk| send_chunk(client, queue.url(), chunk, true)),
        )
        .buffer_unordered(queue.inner.concurrency);
        while let Some(done) = calls.next().await {
            for (index, outcome) in done {
                results[index] = Some(outcome);
            }
        }
    }
    finish(results)
}

fn finish(results: Vec<Option<Outcome>>) -> Vec<Outcome> {
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(SendError::Internal("message left without a result"))))
        .collect()
}

/// FIFO order survives only if batches go one after another and a failed message is not
/// re-sent behind its successors: once a message of a group fails, the group's messages in
/// later batches are not sent (`GroupBlocked`), and the caller re-sends from the first
/// failure. (Entries after it in the same batch are SQS's to accept or refuse.)
async fn send_fifo(
    client: &Client,
    url: &str,
    chunks: Vec<Vec<(usize, Prepared)>>,
    results: &mut [Option<Outcome>],
) {
    let mut blocked: HashSet<String> = HashSet::new();
    for chunk in chunks {
        let (held, go): (Vec<_>, Vec<_>) = chunk
            .into_iter()
            .partition(|(_, p)| p.group.as_ref().is_some_and(|g| blocked.contains(g)));
        for (index, p) in held {
            results[index] = Some(Err(SendError::GroupBlocked {
                group: p.group.unwrap_or_default(),
            }));
        }
        let groups: HashMap<usize, Option<String>> =
            go.iter().map(|(i, p)| (*i, p.group.clone())).collect();
        for (index, outcome) in send_chunk(client, url, go, false).await {
            if let (Err(_), Some(Some(group))) = (&outcome, groups.get(&index)) {
                blocked.insert(group.clone());
            }
            results[index] = Some(outcome);
        }
    }
}

/// Packs messages, in order, into batches of at most 10 entries and 1 MiB.
fn pack(ready: Vec<(usize, Prepared)>) -> Vec<Vec<(usize, Prepared)>> {
    batching::pack(ready, SQS_MAX_BATCH_ENTRIES, SQS_MAX_BATCH_BYTES, |p| {
        p.size
    })
}

/// Sends one batch. Whole-call failures are retried when transient; so are failed entries,
/// if `retry_entries` (not on FIFO queues, where a late re-send would break the order).
async fn send_chunk(
    client: &Client,
    url: &str,
    mut pending: Vec<(usize, Prepared)>,
    retry_entries: bool,
) -> Vec<(usize, Outcome)> {
    let mut done = Vec::with_capacity(pending.len());
    for attempt in 1..=ENTRY_ATTEMPTS {
        let entries = match pending.iter().map(|(i, p)| entry(*i, p)).collect() {
            Ok(entries) => entries,
            Err(_) => {
                let err = SendError::Internal("could not build a SendMessageBatch entry");
                done.extend(pending.drain(..).map(|(i, _)| (i, Err(err.clone()))));
                break;
            }
        };
        let call = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await;
        let last = attempt == ENTRY_ATTEMPTS;
        match call {
            Err(e) => {
                let err = SqsError::from_sdk("SendMessageBatch", e);
                if last || !err.is_transient() {
                    done.extend(pending.drain(..).map(|(i, _)| (i, Err(err.clone().into()))));
                    break;
                }
                tracing::warn!(attempt, error = %err, "SendMessageBatch failed; retrying");
            }
            Ok(out) => {
                for ok in out.successful() {
                    if let Some(pos) = position(&pending, ok.id()) {
                        let (i, p) = pending.swap_remove(pos);
                        done.push((
                            i,
                            Ok(Sent {
                                message_id: ok.message_id().to_owned(),
                                job_id: p.job_id,
                                sequence_number: ok.sequence_number().map(str::to_owned),
                            }),
                        ));
                    }
                }
                for failed in out.failed() {
                    let err = SqsError::from_code(
                        "SendMessageBatch",
                        failed.code(),
                        failed.message().unwrap_or_default(),
                    );
                    // Entries SQS blames on the sender will fail the same way again.
                    let settled =
                        failed.sender_fault() || last || !err.is_transient() || !retry_entries;
                    if let Some(pos) = position(&pending, failed.id()).filter(|_| settled) {
                        let (i, _) = pending.swap_remove(pos);
                        done.push((i, Err(err.into())));
                    }
                }
                if pending.is_empty() {
                    break;
                }
                tracing::warn!(
                    attempt,
                    left = pending.len(),
                    "retrying failed batch entries"
                );
            }
        }
        tokio::time::sleep(batching::retry_pause(attempt)).await;
    }
    done.extend(pending.into_iter().map(|(i, _)| {
        (
            i,
            Err(SendError::Internal(
                "SQS answered neither success nor failure",
            )),
        )
    }));
    done
}

fn position(pending: &[(usize, Prepared)], id: &str) -> Option<usize> {
    pending.iter().position(|(i, _)| id.parse() == Ok(*i))
}

fn entry(index: usize, p: &Prepared) -> Result<SendMessageBatchRequestEntry, BuildError> {
    let mut e = SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(&p.body)
        .set_message_group_id(p.group.clone())
        .set_message_deduplication_id(p.dedup.clone());
    if p.delay_secs > 0 {
        e = e.delay_seconds(p.delay_secs);
    }
    for (name, value) in &p.attributes {
        e = e.message_attributes(*name, string_attribute(value)?);
    }
    e.build()
}

pub(crate) fn string_attribute(value: &str) -> Result<MessageAttributeValue, BuildError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Job, JobContext, JobResult};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Blob(String);
    impl Job for Blob {
        const NAME: &'static str = "blob";
        type State = ();
        async fn run(self, _: JobContext<()>) -> JobResult {
            Ok(())
        }
    }

    fn prepared(n: usize) -> Prepared {
        Message::new(&Blob("x".repeat(n)))
            .prepare("q", false, 0)
            .expect("prepares")
    }

    #[test]
    fn packs_by_count_and_bytes_in_order() {
        let small: Vec<_> = (0..25).map(|i| (i, prepared(10))).collect();
        let chunks = pack(small);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        assert_eq!(chunks[2][0].0, 20);

        let big: Vec<_> = (0..5).map(|i| (i, prepared(400_000))).collect();
        let chunks = pack(big);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        for c in &chunks {
            assert!(c.iter().map(|(_, p)| p.size).sum::<usize>() <= SQS_MAX_BATCH_BYTES);
        }
    }
}
