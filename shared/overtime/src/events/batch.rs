//! Fan-out of events: pack them into `PutEvents` calls, run the calls concurrently, retry
//! only the entries that failed for transient reasons, and answer once per event.

use super::SOURCE;
use super::bus::EventBus;
use super::error::{EventsError, PublishError};
use super::event::{OutgoingEvent, Prepared, Published};
use crate::batching::{self, ENTRY_ATTEMPTS};
use crate::limits::{EVENTBRIDGE_MAX_PUT_BYTES, EVENTBRIDGE_MAX_PUT_ENTRIES};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use futures_util::StreamExt;
use tracing::Instrument;

type Outcome = Result<Published, PublishError>;

pub(super) async fn send(bus: &EventBus, events: Vec<OutgoingEvent>) -> Vec<Outcome> {
    let span = tracing::info_span!("put_events", bus = %bus.inner.name, events = events.len());
    async {
        let mut results: Vec<Option<Outcome>> = (0..events.len()).map(|_| None).collect();
        let mut ready = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            match event.prepare() {
                Ok(p) => ready.push((index, p)),
                Err(e) => results[index] = Some(Err(e)),
            }
        }
        let mut calls =
            futures_util::stream::iter(pack(ready).into_iter().map(|chunk| send_chunk(bus, chunk)))
                .buffer_unordered(bus.inner.concurrency);
        while let Some(done) = calls.next().await {
            for (index, outcome) in done {
                results[index] = Some(outcome);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(PublishError::Internal("event left without a result"))))
            .collect()
    }
    .instrument(span)
    .await
}

/// Packs events, in order, into calls of at most 10 entries and 256 KiB.
fn pack(ready: Vec<(usize, Prepared)>) -> Vec<Vec<(usize, Prepared)>> {
    batching::pack(
        ready,
        EVENTBRIDGE_MAX_PUT_ENTRIES,
        EVENTBRIDGE_MAX_PUT_BYTES,
        |p| p.size,
    )
}

/// Sends one call's entries. A whole call that fails transiently is retried; so are entries
/// that fail transiently (`PutEvents` answers per entry, in the order sent).
async fn send_chunk(bus: &EventBus, mut pending: Vec<(usize, Prepared)>) -> Vec<(usize, Outcome)> {
    let mut done = Vec::with_capacity(pending.len());
    for attempt in 1..=ENTRY_ATTEMPTS {
        let entries = pending
            .iter()
            .map(|(_, p)| entry(&bus.inner.name, p))
            .collect();
        let call = bus
            .inner
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await;
        let last = attempt == ENTRY_ATTEMPTS;
        match call {
            Err(e) => {
                let err = EventsError::from_sdk("PutEvents", e);
                if last || !err.is_transient() {
                    done.extend(pending.drain(..).map(|(i, _)| (i, Err(err.clone().into()))));
                    break;
                }
                tracing::warn!(attempt, error = %err, "PutEvents failed; retrying");
            }
            Ok(out) => {
                let answers = out.entries();
                if answers.len() != pending.len() {
                    let err = EventsError::Service {
                        operation: "PutEvents",
                        code: "MismatchedEntries".into(),
                        message: format!(
                            "{} entries answered for {} sent",
                            answers.len(),
                            pending.len()
                        ),
                    };
                    done.extend(pending.drain(..).map(|(i, _)| (i, Err(err.clone().into()))));
                    break;
                }
                let mut retry = Vec::new();
                for ((index, p), answer) in pending.drain(..).zip(answers) {
                    match (answer.event_id(), answer.error_code()) {
                        (Some(eventbridge_id), None) => done.push((
                            index,
                            Ok(Published {
                                id: p.id,
                                eventbridge_id: eventbridge_id.to_owned(),
                            }),
                        )),
                        (_, code) => {
                            let err = EventsError::Service {
                                operation: "PutEvents",
                                code: code.unwrap_or("NoEventId").to_owned(),
                                message: answer.error_message().unwrap_or_default().to_owned(),
                            };
                            if last || !err.is_transient() {
                                done.push((index, Err(err.into())));
                            } else {
                                retry.push((index, p));
                            }
                        }
                    }
                }
                pending = retry;
                if pending.is_empty() {
                    break;
                }
                tracing::warn!(
                    attempt,
                    left = pending.len(),
                    "retrying failed PutEvents entries"
                );
            }
        }
        tokio::time::sleep(batching::retry_pause(attempt)).await;
    }
    done.extend(pending.into_iter().map(|(i, _)| {
        (
            i,
            Err(PublishError::Internal(
                "EventBridge answered neither success nor failure",
            )),
        )
    }));
    done
}

fn entry(bus: &str, p: &Prepared) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(SOURCE)
        .detail_type(&p.name)
        .detail(&p.detail)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(n: usize) -> Prepared {
        OutgoingEvent::from_json("e", &format!("\"{}\"", "x".repeat(n)))
            .expect("json")
            .prepare()
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

        let big: Vec<_> = (0..5).map(|i| (i, prepared(100_000))).collect();
        let chunks = pack(big);
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        for c in &chunks {
            assert!(c.iter().map(|(_, p)| p.size).sum::<usize>() <= EVENTBRIDGE_MAX_PUT_BYTES);
        }
    }
}
