//! The queue operations of [`Sqs`]: create, find, list, attributes, delete, purge, tags, and
//! every queue's depth.

use super::{Sqs, SqsError, ops, rules, state};
use std::collections::BTreeMap;

/// A queue's depth, for the dashboard and start-up output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueStats {
    /// Name.
    pub name: String,
    /// URL.
    pub url: String,
    /// Visible messages.
    pub visible: i64,
    /// Received, not deleted, not yet visible again.
    pub in_flight: i64,
    /// Not yet visible because of a delay.
    pub delayed: i64,
    /// Its dead-letter queue, if any.
    pub dead_letter_queue: Option<String>,
}

impl Sqs {
    /// CreateQueue: the queue's URL.
    pub async fn create_queue(
        &self,
        name: &str,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<String, SqsError> {
        self.durably(|st| ops::create_queue(st, name, &attributes, &tags))
            .await?;
        Ok(self.queue_url(name))
    }

    /// GetQueueUrl.
    pub async fn get_queue_url(&self, name: &str) -> Result<String, SqsError> {
        self.now(|st| st.queue(name).map(|_| ()))?;
        Ok(self.queue_url(name))
    }

    /// ListQueues: names starting with `prefix`.
    pub async fn list_queues(&self, prefix: &str) -> Result<Vec<String>, SqsError> {
        self.now(|st| Ok(ops::list_queues(st, prefix)))
    }

    /// GetQueueAttributes.
    pub async fn get_attributes(
        &self,
        name: &str,
        names: Vec<String>,
    ) -> Result<BTreeMap<String, String>, SqsError> {
        self.now(|st| ops::get_attributes(st, name, &names))
    }

    /// The queue's settings.
    pub async fn config(&self, name: &str) -> Result<rules::QueueConfig, SqsError> {
        self.now(|st| st.queue(name).map(|q| q.row.config.clone()))
    }

    /// SetQueueAttributes.
    pub async fn set_attributes(
        &self,
        name: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<(), SqsError> {
        self.durably(|st| ops::set_attributes(st, name, &attributes))
            .await
    }

    /// DeleteQueue.
    pub async fn delete_queue(&self, name: &str) -> Result<(), SqsError> {
        self.durably(|st| ops::delete_queue(st, name)).await?;
        // Long polls on it end now (with QueueDoesNotExist), and its waker goes.
        let waker = self
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        if let Some(n) = waker {
            n.notify_waiters();
        }
        Ok(())
    }

    /// PurgeQueue.
    pub async fn purge(&self, name: &str) -> Result<(), SqsError> {
        self.durably(|st| ops::purge(st, name)).await
    }

    /// Tags and untags; the queue's tags after.
    pub async fn tag(
        &self,
        name: &str,
        add: BTreeMap<String, String>,
        remove: Vec<String>,
    ) -> Result<BTreeMap<String, String>, SqsError> {
        self.durably(|st| ops::tag(st, name, &add, &remove)).await
    }

    /// Every queue with its depth.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, SqsError> {
        let now = state::now_ms();
        self.now(|st| {
            let names: Vec<String> = st.queues.keys().cloned().collect();
            for name in &names {
                ops::sweep(st, name)?;
            }
            Ok(st
                .queues
                .values()
                .map(|q| {
                    let (visible, in_flight, delayed) = q.counts(now);
                    QueueStats {
                        url: self.queue_url(&q.row.name),
                        dead_letter_queue: q.row.config.redrive.clone().map(|(d, _)| d),
                        name: q.row.name.clone(),
                        visible,
                        in_flight,
                        delayed,
                    }
                })
                .collect())
        })
    }
}
