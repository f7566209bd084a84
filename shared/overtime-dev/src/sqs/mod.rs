//! An SQS-compatible endpoint on SQLite: the AWS JSON 1.0 protocol that aws-sdk-sqs, boto3
//! and the AWS CLI speak, with SQS's semantics (visibility, receive counts, delays, redrive,
//! FIFO groups and deduplication, limits and error codes), durable across kill -9.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sqs = overtime_dev::sqs::Sqs::open(".overtime/sqs.db".as_ref(), "http://127.0.0.1:9324")?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9324").await?;
//! axum::serve(listener, overtime_dev::sqs::router(sqs)).await?;
//! # Ok(()) }
//! ```

mod db;
mod error;
mod http;
pub mod model;
mod ops;
pub mod rules;

pub use error::SqsError;
pub use http::router;
pub use ops::ReceiveRequest;

use db::{Answer, Writer};
use model::{Received, SendEntry, Sent};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How often a long poll looks again without being woken (delays and visibility timeouts
/// end without a send to wake it).
const LONG_POLL_TICK: Duration = Duration::from_millis(100);

/// The queue service: the store, and wake-ups for long polls. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sqs {
    writer: Writer,
    base_url: Arc<str>,
    wakers: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

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
    /// Opens the store at `path`; queue URLs begin with `base_url`.
    pub fn open(path: &Path, base_url: &str) -> Result<Self, SqsError> {
        Ok(Sqs {
            writer: Writer::open(path)?,
            base_url: base_url.trim_end_matches('/').into(),
            wakers: Arc::default(),
        })
    }

    /// The endpoint's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of a queue.
    pub fn queue_url(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.base_url, rules::ACCOUNT)
    }

    /// The queue name a URL names. Any host is accepted (SDKs rewrite hosts); the account
    /// must be the local one.
    pub fn queue_name_of_url(url: &str) -> Result<String, SqsError> {
        let invalid = || SqsError::QueueDoesNotExist;
        let path = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
        let mut parts = path.trim_end_matches('/').split('/');
        let (account, name) = (
            parts.next().ok_or_else(invalid)?,
            parts.next().ok_or_else(invalid)?,
        );
        if parts.next().is_some() || account != rules::ACCOUNT || name.is_empty() {
            return Err(invalid());
        }
        Ok(name.to_owned())
    }

    fn waker(&self, name: &str) -> Arc<Notify> {
        let mut wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        wakers.entry(name.to_owned()).or_default().clone()
    }

    fn wake(&self, name: &str) {
        if let Some(n) = self
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            n.notify_waiters();
        }
    }

    /// CreateQueue: the queue's URL.
    pub async fn create_queue(
        &self,
        name: &str,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<String, SqsError> {
        let n = name.to_owned();
        self.writer
            .call(move |db| ops::create_queue(db, &n, &attributes, &tags))
            .await?;
        Ok(self.queue_url(name))
    }

    /// GetQueueUrl.
    pub async fn get_queue_url(&self, name: &str) -> Result<String, SqsError> {
        let n = name.to_owned();
        self.writer
            .call_as(Answer::Committed, move |db| db.queue(&n).map(|_| ()))
            .await?;
        Ok(self.queue_url(name))
    }

    /// ListQueues: names starting with `prefix`.
    pub async fn list_queues(&self, prefix: &str) -> Result<Vec<String>, SqsError> {
        let p = prefix.to_owned();
        self.writer
            .call_as(Answer::Committed, move |db| ops::list_queues(db, &p))
            .await
    }

    /// GetQueueAttributes.
    pub async fn get_attributes(
        &self,
        name: &str,
        names: Vec<String>,
    ) -> Result<BTreeMap<String, String>, SqsError> {
        let n = name.to_owned();
        self.writer
            .call_as(Answer::Committed, move |db| {
                ops::get_attributes(db, &n, &names)
            })
            .await
    }

    /// The queue's settings.
    pub async fn config(&self, name: &str) -> Result<rules::QueueConfig, SqsError> {
        let n = name.to_owned();
        self.writer
            .call(move |db| db.queue(&n).map(|q| q.config))
            .await
    }

    /// SetQueueAttributes.
    pub async fn set_attributes(
        &self,
        name: &str,
        attributes: BTreeMap<String, String>,
    ) -> Result<(), SqsError> {
        let n = name.to_owned();
        self.writer
            .call(move |db| ops::set_attributes(db, &n, &attributes))
            .await
    }

    /// DeleteQueue.
    pub async fn delete_queue(&self, name: &str) -> Result<(), SqsError> {
        let n = name.to_owned();
        self.writer.call(move |db| ops::delete_queue(db, &n)).await
    }

    /// PurgeQueue.
    pub async fn purge(&self, name: &str) -> Result<(), SqsError> {
        let n = name.to_owned();
        self.writer.call(move |db| ops::purge(db, &n)).await
    }

    /// Tags and untags; the queue's tags after.
    pub async fn tag(
        &self,
        name: &str,
        add: BTreeMap<String, String>,
        remove: Vec<String>,
    ) -> Result<BTreeMap<String, String>, SqsError> {
        let n = name.to_owned();
        self.writer
            .call(move |db| ops::tag(db, &n, &add, &remove))
            .await
    }

    /// SendMessage(Batch): one result per entry; an error for the whole request (no such
    /// queue) is the outer one. A batch's total size is the caller's to check
    /// ([`rules::check_batch_size`]).
    pub async fn send(
        &self,
        name: &str,
        entries: Vec<SendEntry>,
    ) -> Result<Vec<Result<Sent, SqsError>>, SqsError> {
        // Checks and digests here, on the request's thread; the writer only inserts.
        let prepared: Vec<Result<ops::Prepared, SqsError>> =
            entries.into_iter().map(ops::prepare).collect();
        let n = name.to_owned();
        let results = self
            .writer
            .call(move |db| {
                let queue = db.queue(&n)?;
                Ok(prepared
                    .into_iter()
                    .map(|p| p.and_then(|p| ops::insert(db, &queue, &p)))
                    .collect::<Vec<_>>())
            })
            .await?;
        self.wake(name);
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
        let waker = self.waker(name);
        loop {
            let notified = waker.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let n = name.to_owned();
            let r = req.clone();
            let (got, dead_lettered_to) =
                self.writer.call(move |db| ops::receive(db, &n, &r)).await?;
            if let Some(dlq) = dead_lettered_to {
                self.wake(&dlq);
            }
            let now = Instant::now();
            if !got.is_empty() || now >= deadline {
                return got.into_iter().map(|t| t.into_received(&req)).collect();
            }
            let _ = tokio::time::timeout(LONG_POLL_TICK.min(deadline - now), notified).await;
        }
    }

    /// DeleteMessage(Batch): one result per handle (`Ok(false)`: already gone).
    pub async fn delete(
        &self,
        name: &str,
        handles: Vec<String>,
    ) -> Result<Vec<Result<bool, SqsError>>, SqsError> {
        let n = name.to_owned();
        self.writer
            .call(move |db| {
                let queue = db.queue(&n)?;
                Ok(handles.iter().map(|h| ops::delete(db, &queue, h)).collect())
            })
            .await
    }

    /// ChangeMessageVisibility(Batch): one result per (handle, seconds).
    pub async fn change_visibility(
        &self,
        name: &str,
        entries: Vec<(String, i64)>,
    ) -> Result<Vec<Result<(), SqsError>>, SqsError> {
        let n = name.to_owned();
        let results = self
            .writer
            .call_as(Answer::Committed, move |db| {
                let queue = db.queue(&n)?;
                Ok(entries
                    .iter()
                    .map(|(h, t)| ops::change_visibility(db, &queue, h, *t))
                    .collect::<Vec<_>>())
            })
            .await?;
        self.wake(name);
        Ok(results)
    }

    /// ListDeadLetterSourceQueues: names.
    pub async fn dead_letter_sources(&self, name: &str) -> Result<Vec<String>, SqsError> {
        let n = name.to_owned();
        self.writer
            .call(move |db| ops::dead_letter_sources(db, &n))
            .await
    }

    /// StartMessageMoveTask: moves a dead-letter queue's messages back; the task handle.
    pub async fn start_move(
        &self,
        source_arn: String,
        dest_arn: Option<String>,
        rate: Option<i64>,
    ) -> Result<String, SqsError> {
        let (handle, _) = self
            .writer
            .call(move |db| ops::move_messages(db, &source_arn, dest_arn.as_deref(), rate))
            .await?;
        let names = self.list_queues("").await?;
        for n in names {
            self.wake(&n);
        }
        Ok(handle)
    }

    /// ListMessageMoveTasks.
    pub async fn move_tasks(
        &self,
        source_arn: String,
        max: i64,
    ) -> Result<Vec<serde_json::Value>, SqsError> {
        self.writer
            .call(move |db| ops::move_tasks(db, &source_arn, max))
            .await
    }

    /// Every queue with its depth.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, SqsError> {
        let base = self.clone();
        self.writer
            .call_as(Answer::Committed, move |db| {
                let mut out = Vec::new();
                for name in ops::list_queues(db, "")? {
                    let q = db.queue(&name)?;
                    let (visible, in_flight, delayed) = ops::counts(db, &q)?;
                    out.push(QueueStats {
                        url: base.queue_url(&name),
                        dead_letter_queue: q.config.redrive.map(|(d, _)| d),
                        name,
                        visible,
                        in_flight,
                        delayed,
                    });
                }
                Ok(out)
            })
            .await
    }
}
