//! A queue in this process: what [`TestWorker`](super::TestWorker) receives from, with a clock
//! that skips ahead over delays instead of waiting them out.

use crate::queue::Sent;
use crate::queue::message::Prepared;
use crate::worker::Delivery;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The messages of one test queue, and its clock.
#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    held: Mutex<Held>,
    /// How far this queue's clock runs ahead of the wall clock, in ms.
    ahead_ms: AtomicI64,
}

#[derive(Debug, Default)]
struct Held {
    sent: u64,
    messages: Vec<Stored>,
}

/// A message as the mailbox keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) message_id: String,
    receipt: String,
    pub(crate) body: String,
    pub(crate) attributes: Vec<(String, String)>,
    visible_at_ms: i64,
    receive_count: u32,
    seq: u64,
}

impl Mailbox {
    /// The queue's time in Unix ms.
    pub(crate) fn now_ms(&self) -> i64 {
        crate::store::now_ms().saturating_add(self.ahead_ms.load(Ordering::Relaxed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a checked message, visible after its delay.
    pub(crate) fn push(&self, p: Prepared) -> Sent {
        let attributes = p
            .attributes
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let message_id = self.push_raw(p.body, attributes, p.delay_secs);
        Sent {
            message_id,
            job_id: p.job_id,
            sequence_number: None,
        }
    }

    /// Adds a message body with its attributes, visible after `delay_secs`; its message id.
    pub(crate) fn push_raw(
        &self,
        body: String,
        attributes: Vec<(String, String)>,
        delay_secs: i32,
    ) -> String {
        let visible_at_ms = self.now_ms() + i64::from(delay_secs.max(0)) * 1000;
        let mut held = self.lock();
        held.sent += 1;
        let seq = held.sent;
        let message_id = format!("test-message-{seq}");
        held.messages.push(Stored {
            message_id: message_id.clone(),
            receipt: String::new(),
            body,
            attributes,
            visible_at_ms,
            receive_count: 0,
            seq,
        });
        message_id
    }

    /// The visible message sent first, made invisible for `visibility`.
    pub(crate) fn receive(&self, visibility: Duration) -> Option<Delivery> {
        let now = self.now_ms();
        let mut held = self.lock();
        let next = held
            .messages
            .iter_mut()
            .filter(|m| m.visible_at_ms <= now)
            .min_by_key(|m| m.seq)?;
        next.receive_count += 1;
        next.receipt = format!("{}#{}", next.message_id, next.receive_count);
        next.visible_at_ms = now + i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
        Some(Delivery {
            message_id: next.message_id.clone(),
            receipt_handle: next.receipt.clone(),
            body: next.body.clone(),
            receive_count: next.receive_count,
            group_id: None,
            sent_ms: None,
            attributes: next.attributes.clone(),
        })
    }

    /// Makes the message received under `receipt` visible again after `secs`.
    pub(crate) fn change_visibility(&self, receipt: &str, secs: i32) {
        let now = self.now_ms();
        if let Some(m) = self
            .lock()
            .messages
            .iter_mut()
            .find(|m| m.receipt == receipt)
        {
            m.visible_at_ms = now + i64::from(secs.max(0)) * 1000;
        }
    }

    /// Deletes the message received under `receipt`.
    pub(crate) fn delete(&self, receipt: &str) {
        self.lock().messages.retain(|m| m.receipt != receipt);
    }

    /// Runs the clock forward to when the next message becomes visible, if none is now;
    /// false when the mailbox is empty.
    pub(crate) fn skip_to_next(&self) -> bool {
        let now = self.now_ms();
        let Some(next) = self.lock().messages.iter().map(|m| m.visible_at_ms).min() else {
            return false;
        };
        if next > now {
            self.ahead_ms.fetch_add(next - now, Ordering::Relaxed);
        }
        true
    }

    /// Every message held, oldest first.
    pub(crate) fn messages(&self) -> Vec<Stored> {
        let mut all = self.lock().messages.clone();
        all.sort_by_key(|m| m.seq);
        all
    }

    /// How many messages are held.
    pub(crate) fn len(&self) -> usize {
        self.lock().messages.len()
    }
}
