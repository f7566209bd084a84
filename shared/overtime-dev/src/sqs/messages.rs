//! The message operations of [`Sqs`]: send, receive (long-polling), delete and change
//! visibility, each answered once SQS's guarantees for it hold.

use super::model::{Received, SendEntry, Sent};
use super::state::{self, State};
use super::{ReceiveRequest, Sqs, SqsError, ops};
use std::time::{Duration, Instant};

/// The longest a long poll waits without looking again. It is woken by sends, visibility
/// changes and (FIFO) deletes, and sleeps until the queue's next message becomes visible;
/// this only bounds a wait nothing announced.
const LONG_POLL_TICK: Duration = Duration::from_secs(1);

impl Sqs {
    /// SendMessage(Batch): one result per entry; an error for the whole request (no such
    /// queue) is the outer one. A batch's total size is the caller's to check
    /// ([`rules::check_batch_size`](super::rules::check_batch_size)).
    pub async fn send(
        &self,
        name: &str,
        entries: Vec<SendEntry>,
    ) -> Result<Vec<Result<Sent, SqsError>>, SqsError> {
        // Checks and digests here, outside the lock.
        let prepared: Vec<Result<ops::Prepared, SqsError>> =
            entries.into_iter().map(ops::prepare).collect();
        let results = self
            .durably(|st| {
                st.queue(name)?;
                Ok(prepared
                    .into_iter()
                    .map(|p| p.and_then(|p| ops::insert(st, name, p)))
                    .collect::<Vec<_>>())
            })
            .await?;
        self.wake(name);
        Ok(results)
    }

    /// Sends to several queues at once, atomically and durably: every message is in its queue
    /// or none is (one commit), then answers. A queue that does not exist fails the whole
    /// call; an entry SQS refuses fails only itself. EventBridge's PutEvents uses it, so an
    /// acknowledged event has reached every matching queue.
    pub async fn send_many(
        &self,
        batches: Vec<(String, Vec<SendEntry>)>,
    ) -> Result<Vec<Vec<Result<Sent, SqsError>>>, SqsError> {
        let prepared: Vec<(String, Vec<Result<ops::Prepared, SqsError>>)> = batches
            .into_iter()
            .map(|(name, entries)| (name, entries.into_iter().map(ops::prepare).collect()))
            .collect();
        let names: Vec<String> = prepared.iter().map(|(n, _)| n.clone()).collect();
        let results = self
            .durably(|st| {
                for (name, _) in &prepared {
                    st.queue(name)?;
                }
                Ok(prepared
                    .into_iter()
                    .map(|(name, entries)| {
                        entries
                            .into_iter()
                            .map(|p| p.and_then(|p| ops::insert(st, &name, p)))
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>())
            })
            .await?;
        for name in &names {
            self.wake(name);
        }
        Ok(results)
    }

    /// ReceiveMessage, long-polling up to `wait` for a first message.
    pub async fn receive(
        &self,
        name: &str,
        req: ReceiveRequest,
        wait: Duration,
    ) -> Result<Vec<Received>, SqsError> {
        let deadline = Instant::now() + wait;
        // Only queues that exist get a waker (the map never grows with made-up names).
        self.now(|st| st.queue(name).map(|_| ()))?;
        let waker = self.waker(name);
        loop {
            let notified = waker.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.now(|st| ops::receive(st, name, &req))?;
            if let Some(dlq) = &got.dead_lettered_to {
                self.wake(dlq);
            }
            let now = Instant::now();
            if !got.taken.is_empty() || now >= deadline {
                return got
                    .taken
                    .into_iter()
                    .map(|t| t.into_received(&req))
                    .collect();
            }
            let mut nap = LONG_POLL_TICK.min(deadline - now);
            if let Some(at) = got.next_visible {
                let ms = u64::try_from(at - state::now_ms()).unwrap_or(0);
                nap = nap.min(Duration::from_millis(ms + 1));
            }
            let _ = tokio::time::timeout(nap, notified).await;
        }
    }

    /// DeleteMessage(Batch): one result per handle (`Ok(false)`: already gone).
    pub async fn delete(
        &self,
        name: &str,
        handles: Vec<String>,
    ) -> Result<Vec<Result<bool, SqsError>>, SqsError> {
        let delete = |st: &mut State| {
            st.queue(name)?;
            Ok(handles.iter().map(|h| ops::delete(st, name, h)).collect())
        };
        // FIFO queue names end in `.fifo`. There a delete is durable before it is answered
        // (exactly-once processing), and it unblocks the message group. On a standard queue
        // it is written within a moment, unsynced: a delete lost to a crash delivers the
        // message again, which SQS's at-least-once delivery allows (SQS may do the same).
        if name.ends_with(".fifo") {
            let results = self.durably(delete).await?;
            self.wake(name);
            Ok(results)
        } else {
            self.now(delete)
        }
    }

    /// ChangeMessageVisibility(Batch): one result per (handle, seconds).
    pub async fn change_visibility(
        &self,
        name: &str,
        entries: Vec<(String, i64)>,
    ) -> Result<Vec<Result<(), SqsError>>, SqsError> {
        let results = self.now(|st| {
            st.queue(name)?;
            Ok(entries
                .iter()
                .map(|(h, t)| ops::change_visibility(st, name, h, *t))
                .collect::<Vec<_>>())
        })?;
        self.wake(name);
        Ok(results)
    }
}
