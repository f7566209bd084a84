//! The queue helper: typed jobs onto SQS from any route, one at a time or fanned out.
//!
//! ```no_run
//! # use overtime::{Job, JobContext, JobResult, Queue, Message};
//! # use serde::{Deserialize, Serialize};
//! # use std::time::Duration;
//! # #[derive(Serialize, Deserialize)] struct SyncAccount { id: u64 }
//! # impl Job for SyncAccount { const NAME: &'static str = "sync-account"; type State = ();
//! #   async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) } }
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let queue = Queue::from_env_var("JOBS_QUEUE_URL").await?;
//! queue.send(&SyncAccount { id: 1 }).await?;
//! // Fan out: batches of ≤ 10 entries and ≤ 1 MiB, sent concurrently, one result per job.
//! let results = queue.send_batch((2..200).map(|id| SyncAccount { id })).await;
//! assert!(results.iter().all(Result::is_ok));
//! // Options: a delay (longer than 15 minutes hops), an idempotency key.
//! let msg = Message::new(&SyncAccount { id: 7 })?
//!     .delay(Duration::from_secs(3600))
//!     .idempotency_key("sync:7:2026-11-27T10:00");
//! queue.send_message(msg).await?;
//! # Ok(()) }
//! ```

mod batch;
mod message;

pub(crate) use batch::string_attribute;
pub use message::{Message, SendError, Sent};

use crate::error::SqsError;
use crate::job::Job;
use crate::limits::SQS_MAX_MESSAGE_BYTES;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// How many `SendMessageBatch` calls one `send_batch` keeps in flight.
pub const DEFAULT_SEND_CONCURRENCY: usize = 8;

/// A handle on one SQS queue. Cheap to clone; build it once and share it.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    client: Client,
    url: String,
    fifo: bool,
    concurrency: usize,
    /// The queue's `MaximumMessageSize`, read once on first use.
    max_message_bytes: OnceCell<usize>,
}

/// A queue could not be set up from the environment.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable naming the queue URL is not set.
    #[error(
        "environment variable {0} is not set; set it to the queue URL (e.g. https://sqs.us-east-1.amazonaws.com/123456789012/jobs)"
    )]
    MissingVar(String),
}

impl Queue {
    /// A queue at `url`, called through `client`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            inner: Arc::new(Inner {
                fifo: url.ends_with(".fifo"),
                client,
                url,
                concurrency: DEFAULT_SEND_CONCURRENCY,
                max_message_bytes: OnceCell::new(),
            }),
        }
    }

    /// A queue at `url`, with a client from the standard AWS configuration
    /// (region, credentials, and `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` for other endpoints).
    pub async fn from_env(url: impl Into<String>) -> Self {
        Self::new(sqs_client_from_env().await, url)
    }

    /// Like [`from_env`](Self::from_env), with the URL read from the environment variable `var`.
    pub async fn from_env_var(var: &str) -> Result<Self, ConfigError> {
        let url = std::env::var(var).map_err(|_| ConfigError::MissingVar(var.to_owned()))?;
        Ok(Self::from_env(url).await)
    }

    /// The same queue, with at most `n` batch calls in flight per `send_batch`.
    pub fn with_concurrency(self, n: usize) -> Self {
        self.rebuild(|i| i.concurrency = n.max(1))
    }

    /// The same queue, taking `bytes` as its message size limit instead of reading the
    /// queue's `MaximumMessageSize` (useful when the role may only `sqs:SendMessage`).
    pub fn with_max_message_bytes(self, bytes: usize) -> Self {
        let bytes = bytes.min(SQS_MAX_MESSAGE_BYTES);
        self.rebuild(|i| i.max_message_bytes = OnceCell::new_with(Some(bytes)))
    }

    fn rebuild(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Inner::clone(&self.inner);
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Whether this is a FIFO queue (its name ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.inner.fifo
    }

    /// The SQS client this queue uses.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Sends one job.
    pub async fn send<J: Job>(&self, job: &J) -> Result<Sent, SendError> {
        self.send_message(Message::new(job)?).await
    }

    /// Starts a run of chunked job `C`; [`Sent::job_id`] is the run's id (`overtime runs show`).
    pub async fn start<C: crate::chunk::Chunked>(&self, job: &C) -> Result<Sent, SendError> {
        self.send_message(Message::run(job)?).await
    }

    /// Sends one message built with [`Message`] (delay, FIFO ids, idempotency key).
    pub async fn send_message(&self, message: Message) -> Result<Sent, SendError> {
        let mut results = self.send_prepared(vec![Ok(message)]).await;
        results
            .pop()
            .unwrap_or(Err(SendError::Internal("no result for a sent message")))
    }

    /// Sends many jobs of one type; one result per job, in order.
    pub async fn send_batch<J: Job>(
        &self,
        jobs: impl IntoIterator<Item = J>,
    ) -> Vec<Result<Sent, SendError>> {
        let messages = jobs.into_iter().map(|j| Message::new(&j)).collect();
        self.send_prepared(messages).await
    }

    /// Sends many messages, possibly of different jobs and options; one result per message, in order.
    pub async fn send_messages(
        &self,
        messages: impl IntoIterator<Item = Message>,
    ) -> Vec<Result<Sent, SendError>> {
        self.send_prepared(messages.into_iter().map(Ok).collect())
            .await
    }

    #[tracing::instrument(name = "queue.send", skip_all, fields(queue = %self.inner.url, count = messages.len()))]
    async fn send_prepared(
        &self,
        messages: Vec<Result<Message, SendError>>,
    ) -> Vec<Result<Sent, SendError>> {
        batch::send(self, messages).await
    }

    /// The largest message this queue takes: its `MaximumMessageSize`, read once. If the
    /// attribute cannot be read, SQS's own limit applies and SQS has the last word.
    pub(crate) async fn max_message_bytes(&self) -> usize {
        *self
            .inner
            .max_message_bytes
            .get_or_init(|| async {
                match self.read_max_message_size().await {
                    Ok(n) => n,
                    Err(err) => {
                        tracing::warn!(queue = %self.inner.url, error = %err,
                            "could not read MaximumMessageSize; assuming SQS's limit");
                        SQS_MAX_MESSAGE_BYTES
                    }
                }
            })
            .await
    }

    async fn read_max_message_size(&self) -> Result<usize, SqsError> {
        let out = self
            .inner
            .client
            .get_queue_attributes()
            .queue_url(&self.inner.url)
            .attribute_names(QueueAttributeName::MaximumMessageSize)
            .send()
            .await
            .map_err(|e| SqsError::from_sdk("GetQueueAttributes", e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::MaximumMessageSize))
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(SQS_MAX_MESSAGE_BYTES, |n| n.min(SQS_MAX_MESSAGE_BYTES)))
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("url", &self.inner.url)
            .finish()
    }
}

/// An SQS client from the standard AWS configuration (honours `AWS_ENDPOINT_URL_SQS`).
pub async fn sqs_client_from_env() -> Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&config)
}
