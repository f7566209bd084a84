//! Settling a message that did not simply succeed: back off, hop a long delay, or move it to
//! the dead-letter queue with its reason; each deletes or hides the original as SQS needs.

// Without `test-util` a queue's backend is always SQS, and its matches have one arm.
#![cfg_attr(
    not(feature = "test-util"),
    allow(clippy::infallible_destructuring_match)
)]

use super::Worker;
use super::backoff::visibility_secs;
use super::dispatch::{Delivery, Disposition};
use super::source::Source;
use crate::envelope::{
    ATTR_DLQ_ATTEMPTS, ATTR_DLQ_KIND, ATTR_DLQ_MESSAGE_ID, ATTR_DLQ_REASON, ATTR_DLQ_SOURCE,
    ATTR_FLOW, ATTR_WAIT,
};
use crate::error::SqsError;
use crate::limits::{SQS_MAX_DELAY, SQS_MAX_MESSAGE_ATTRIBUTES};
use crate::queue::{Backend, Queue, string_attribute};
use futures_util::future::BoxFuture;
use std::time::Duration;

/// Longest reason kept in a dead letter's attributes.
const MAX_REASON_BYTES: usize = 4096;

/// Why a message went to the dead-letter queue (attribute `overtime.dlq.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterKind {
    /// The job returned a permanent failure.
    Permanent,
    /// The job failed on its last allowed attempt.
    Exhausted,
    /// The body is not an overtime envelope, or the payload does not fit the job's type.
    Undecodable,
    /// No job of that name is registered with this worker.
    UnknownJob,
}

impl DeadLetterKind {
    /// The attribute value: `permanent`, `exhausted`, `undecodable` or `unknown-job`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::Exhausted => "exhausted",
            Self::Undecodable => "undecodable",
            Self::UnknownJob => "unknown-job",
        }
    }
}

impl<S: Send + Sync + 'static> Worker<S> {
    /// Hides the message for `delay`; on error SQS's visibility timeout brings it back anyway.
    pub(super) fn retry_later<'a>(
        &'a self,
        queue: &'a Queue,
        d: &'a Delivery,
        delay: Duration,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let client = match queue.backend() {
                Backend::Sqs(client) => client,
                #[cfg(feature = "test-util")]
                Backend::Memory(mailbox) => {
                    mailbox.change_visibility(&d.receipt_handle, visibility_secs(delay));
                    return;
                }
            };
            let result = client
                .change_message_visibility()
                .queue_url(queue.url())
                .receipt_handle(&d.receipt_handle)
                .visibility_timeout(visibility_secs(delay))
                .send()
                .await;
            if let Err(e) = result {
                let err = SqsError::from_sdk("ChangeMessageVisibility", e);
                tracing::warn!(error = %err, "could not set the retry delay; the queue's visibility timeout applies");
            }
        })
    }

    /// Re-enqueues a message that is not due yet with the remaining delay, then deletes it.
    // The slow paths below are boxed: their SQS calls make large futures, and keeping them
    // out of the per-message future keeps the common path's future small and cheap to move.
    pub(super) fn hop<'a>(
        &'a self,
        source: &'a Source,
        d: &'a Delivery,
        wait: Duration,
        wait_mark: Option<&'a str>,
    ) -> BoxFuture<'a, Disposition> {
        Box::pin(async move {
            let delay = wait.min(SQS_MAX_DELAY);
            tracing::debug!(remaining_s = wait.as_secs(), "not due yet; re-enqueueing");
            // The wait's mark goes only on the message that continues that wait.
            let attrs = d
                .attributes
                .iter()
                .filter(|(k, _)| k != ATTR_WAIT)
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain(wait_mark.map(|m| (ATTR_WAIT.to_owned(), m.to_owned())))
                .collect();
            match forward(&source.queue, d, attrs, visibility_secs(delay)).await {
                Ok(()) => self.delete(&source.queue, d).await,
                Err(err) => {
                    tracing::warn!(error = %err, "could not re-enqueue a delayed job; it will come back");
                    Disposition::Failed
                }
            }
        })
    }

    /// Sends a message flow control holds back again, to come back after `wait` carrying
    /// `marks` (what it already passed), then deletes it: a new message, so waiting never
    /// counts toward the queue's `maxReceiveCount`. `(attempt, sent_as)`: the attempt it is,
    /// and the one its body says; a retry's body is rewritten so the attempt is kept. SQS
    /// delays are whole seconds: the message comes back up to a second early and the worker
    /// sleeps the rest. On a FIFO queue (no per-message delay) it stays and is hidden instead.
    pub(super) fn hop_flow<'a>(
        &'a self,
        source: &'a Source,
        d: &'a Delivery,
        wait: Duration,
        marks: &'a str,
        (attempt, sent_as): (u32, u32),
    ) -> BoxFuture<'a, Disposition> {
        Box::pin(async move {
            if source.queue.is_fifo() {
                self.retry_later(&source.queue, d, wait).await;
                return Disposition::Failed;
            }
            let secs = wait.min(SQS_MAX_DELAY).as_secs();
            let attrs = d
                .attributes
                .iter()
                .filter(|(k, _)| k != ATTR_FLOW)
                .map(|(k, v)| (k.clone(), v.clone()))
                .chain((!marks.is_empty()).then(|| (ATTR_FLOW.to_owned(), marks.to_owned())))
                .collect();
            let rewritten = (attempt != sent_as)
                .then(|| crate::envelope::with_attempt(&d.body, attempt))
                .flatten();
            let body = rewritten.as_deref().unwrap_or(&d.body);
            let delay = i32::try_from(secs).unwrap_or(i32::MAX);
            let fifo = Some((d.group_id.as_deref(), d.message_id.as_str()));
            match send_body(&source.queue, body, fifo, attrs, delay).await {
                Ok(()) => self.delete(&source.queue, d).await,
                Err(err) => {
                    tracing::warn!(error = %err, "could not send a held-back job again; it will come back");
                    Disposition::Failed
                }
            }
        })
    }

    /// Keeps the body of a message suspended at `ctx.wait_for_event`, for the wake job to send
    /// again when the event comes (first write wins; the body is the same every time).
    pub(super) fn keep_for_wake<'a>(
        &'a self,
        source: &'a Source,
        d: &'a Delivery,
        run: &'a str,
        step: &'a str,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(store) = &self.store else { return };
            let kept = crate::durable::wait::KeptMessage {
                queue: source.queue.url().to_owned(),
                body: d.body.clone(),
            };
            let Ok(json) = serde_json::to_string(&kept) else {
                return;
            };
            let name = crate::durable::wait::message_step(step);
            if let Err(err) = store.put_step(run, &name, &json).await {
                tracing::warn!(error = %err, "could not keep the waiting message; the run resumes at its next wake-up instead of at once");
            }
        })
    }

    /// Sends the message to the dead-letter queue with why, then deletes the original.
    pub(super) fn dead_letter<'a>(
        &'a self,
        source: &'a Source,
        d: &'a Delivery,
        kind: DeadLetterKind,
        reason: &'a str,
        attempts: u32,
    ) -> BoxFuture<'a, Disposition> {
        Box::pin(async move {
            if let Some(hook) = &self.failure_hook {
                hook(reason);
            }
            let dlq = &source.dead_letter;
            let mut attrs: Vec<(String, String)> = vec![
                (ATTR_DLQ_KIND.into(), kind.as_str().into()),
                (
                    ATTR_DLQ_REASON.into(),
                    attribute_text(reason, MAX_REASON_BYTES),
                ),
                (ATTR_DLQ_ATTEMPTS.into(), attempts.to_string()),
                (ATTR_DLQ_SOURCE.into(), source.queue.url().into()),
                (ATTR_DLQ_MESSAGE_ID.into(), d.message_id.clone()),
            ];
            let mut kept: Vec<_> = d
                .attributes
                .iter()
                .filter(|(k, _)| !k.starts_with("overtime.dlq."))
                .collect();
            kept.sort();
            for (k, v) in kept
                .into_iter()
                .take(SQS_MAX_MESSAGE_ATTRIBUTES - attrs.len())
            {
                attrs.push((k.clone(), v.clone()));
            }
            match forward(dlq, d, attrs, 0).await {
                Ok(()) => {
                    tracing::warn!(
                        kind = kind.as_str(),
                        reason,
                        dlq = dlq.url(),
                        "message dead-lettered"
                    );
                    self.delete(&source.queue, d).await
                }
                Err(err) => {
                    tracing::error!(error = %err, kind = kind.as_str(), "could not dead-letter; the message will come back");
                    Disposition::Failed
                }
            }
        })
    }

    async fn delete(&self, queue: &Queue, d: &Delivery) -> Disposition {
        let client = match queue.backend() {
            Backend::Sqs(client) => client,
            #[cfg(feature = "test-util")]
            Backend::Memory(mailbox) => {
                mailbox.delete(&d.receipt_handle);
                return Disposition::Settled;
            }
        };
        let result = client
            .delete_message()
            .queue_url(queue.url())
            .receipt_handle(&d.receipt_handle)
            .send()
            .await;
        if let Err(e) = result {
            // The copy is safe; the original comes back and is settled again (at least once).
            let err = SqsError::from_sdk("DeleteMessage", e);
            tracing::warn!(error = %err, "could not delete the original after moving it");
        }
        Disposition::Settled
    }
}

/// Sends a kept message's `body` again to the standard queue `to`, marked as continuing the
/// wait `step` (the wake job's resume).
pub(crate) async fn resend_marked(to: &Queue, body: &str, step: &str) -> Result<(), SqsError> {
    let attrs = vec![(ATTR_WAIT.to_owned(), step.to_owned())];
    send_body(to, body, None, attrs, 0).await
}

/// Sends `d`'s body to `to` with `attrs`, keeping FIFO group order.
async fn forward(
    to: &Queue,
    d: &Delivery,
    attrs: Vec<(String, String)>,
    delay_secs: i32,
) -> Result<(), SqsError> {
    let fifo = Some((d.group_id.as_deref(), d.message_id.as_str()));
    send_body(to, &d.body, fifo, attrs, delay_secs).await
}

/// Sends `body` to `to` with `attrs`; on a FIFO queue, in the group and with the dedup id
/// `fifo` gives.
async fn send_body(
    to: &Queue,
    body: &str,
    fifo: Option<(Option<&str>, &str)>,
    attrs: Vec<(String, String)>,
    delay_secs: i32,
) -> Result<(), SqsError> {
    let client = match to.backend() {
        Backend::Sqs(client) => client,
        #[cfg(feature = "test-util")]
        Backend::Memory(mailbox) => {
            mailbox.push_raw(body.to_owned(), attrs, delay_secs);
            return Ok(());
        }
    };
    let mut req = client.send_message().queue_url(to.url()).message_body(body);
    if to.is_fifo() {
        let (group, dedup) = match fifo {
            Some((group, dedup)) => (group, dedup.to_owned()),
            None => (None, crate::queue::message::sha256_hex(body.as_bytes())),
        };
        req = req
            .message_group_id(group.unwrap_or("overtime"))
            .message_deduplication_id(dedup);
    } else if delay_secs > 0 {
        req = req.delay_seconds(delay_secs);
    }
    for (k, v) in attrs {
        if let Ok(a) = string_attribute(&v) {
            req = req.message_attributes(k, a);
        }
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| SqsError::from_sdk("SendMessage", e))
}

/// `s` as SQS accepts in an attribute value (XML characters only), cut to `max` bytes:
/// an error message quoting bad input must not make its own dead letter undeliverable.
fn attribute_text(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| match c {
            '\t'
            | '\n'
            | '\r'
            | '\u{20}'..='\u{D7FF}'
            | '\u{E000}'..='\u{FFFD}'
            | '\u{10000}'.. => c,
            _ => '\u{FFFD}',
        })
        .collect();
    truncate(&clean, max).to_owned()
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_text_is_what_sqs_accepts() {
        assert_eq!(
            attribute_text("bad \u{0}byte\u{1b}", 100),
            "bad \u{FFFD}byte\u{FFFD}"
        );
        assert_eq!(attribute_text("line\nbreak", 4), "line");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
