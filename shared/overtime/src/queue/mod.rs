//! The queue helper: typed jobs onto SQS from any route, one at a time or fanned out.
//!
//! ```no_run
//! # use overtime::{Job, JobContext, JobResult, Queue, Message};
//! # use serde::{Deserialize, Serialize};
//! # use std::time::Duration;
//! # #[derive(Serialize, Deserialize)] struct SyncAccount { id: u64 }
//! # impl Job for SyncAccount { const NAME: &'static str = "sync-account"; type State = ();
//! #   async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) } }
//! # async fn demo() -> Result<(), overtime::BoxError> {
//! let queue = Queue::from_env_var("JOBS_QUEUE_URL").await?;
//! queue.send(SyncAccount { id: 1 }).await?;
//! // Options: a delay (longer than 15 minutes hops), an idempotency key.
//! let msg = Message::new(&SyncAccount { id: 7 })
//!     .delay(Duration::from_secs(3600))
//!     .idempotency_key("sync:7:2026-11-27T10:00");
//! queue.send(msg).await?;
//! // Fan out: batches of ≤ 10 entries and ≤ 1 MiB, sent concurrently, one result per message;
//! // `into_result` makes any failure an error.
//! let jobs = (2..200).map(|id| Message::new(&SyncAccount { id }).idempotency_key(format!("sync:{id}")));
//! let sent = queue.send_all(jobs).await.into_result()?;
//! assert_eq!(sent.len(), 198);
//! # Ok(()) }
//! ```

mod batch;
pub(crate) mod message;

mod report;

pub(crate) use batch::string_attribute;
pub use message::{Message, SendError, Sent};
pub use report::{SendAllError, SendReport};

use crate::error::{ConfigError, SqsError};
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
    backend: Backend,
    url: String,
    fifo: bool,
    concurrency: usize,
    /// The queue's `MaximumMessageSize`, read once on first use.
    max_message_bytes: OnceCell<usize>,
}

/// Where a queue's messages go.
#[derive(Clone)]
pub(crate) enum Backend {
    /// SQS, or anything that speaks its API (`overtime dev`, moto).
    Sqs(Client),
    /// A queue in this process, for tests ([`crate::testing`]).
    #[cfg(feature = "test-util")]
    Memory(Arc<crate::testing::Mailbox>),
}

/// Something [`Queue::send`] takes: a job (sent with default options), or a [`Message`].
pub trait IntoMessage {
    /// The message to send.
    fn into_message(self) -> Message;
}

impl IntoMessage for Message {
    fn into_message(self) -> Message {
        self
    }
}

impl<J: Job> IntoMessage for J {
    fn into_message(self) -> Message {
        Message::new(&self)
    }
}

impl Queue {
    /// A queue at `url`, called through `client`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self::with_backend(Backend::Sqs(client), url.into())
    }

    pub(crate) fn with_backend(backend: Backend, url: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                fifo: url.ends_with(".fifo"),
                backend,
                url,
                concurrency: DEFAULT_SEND_CONCURRENCY,
                max_message_bytes: OnceCell::new(),
            }),
        }
    }

    /// The queue at `url`, with a client from the standard AWS configuration (region,
    /// credentials, and `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` for other endpoints).
    pub async fn from_url(url: impl Into<String>) -> Self {
        Self::new(sqs_client_from_env().await, url)
    }

    /// Like [`from_url`](Self::from_url), with the URL read from the environment variable `var`.
    ///
    /// ```
    /// # tokio_test_block(async {
    /// let err = overtime::Queue::from_env_var("NO_SUCH_QUEUE_VAR").await.unwrap_err();
    /// assert!(err.to_string().starts_with("environment variable NO_SUCH_QUEUE_VAR is not set"));
    /// # });
    /// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f) }
    /// ```
    pub async fn from_env_var(var: &str) -> Result<Self, ConfigError> {
        let url = std::env::var(var).map_err(|_| ConfigError::missing_var(var))?;
        Ok(Self::from_url(url).await)
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

    /// The SQS client behind this queue; `None` for a test queue.
    pub(crate) fn sqs(&self) -> Option<&Client> {
        match &self.inner.backend {
            Backend::Sqs(client) => Some(client),
            #[cfg(feature = "test-util")]
            Backend::Memory(_) => None,
        }
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// The queue's time in Unix ms: the wall clock, or a test queue's, which skips ahead over
    /// delays and sleeps.
    pub(crate) fn now_ms(&self) -> i64 {
        match &self.inner.backend {
            Backend::Sqs(_) => crate::store::now_ms(),
            #[cfg(feature = "test-util")]
            Backend::Memory(mailbox) => mailbox.now_ms(),
        }
    }

    /// Sends one job, or one [`Message`] (a job with a delay, FIFO ids, an idempotency key).
    /// A chunked job starts a run: [`Sent::job_id`] is the run's id.
    pub async fn send(&self, message: impl IntoMessage) -> Result<Sent, SendError> {
        let mut results = self.send_prepared(vec![message.into_message()]).await;
        results
            .pop()
            .unwrap_or(Err(SendError::Internal("no result for a sent message")))
    }

    /// Sends many jobs or messages, of any jobs and options: packed into batches, sent
    /// concurrently, and answered with one result per message, in order.
    pub async fn send_all<M: IntoMessage>(
        &self,
        messages: impl IntoIterator<Item = M>,
    ) -> SendReport {
        let messages = messages
            .into_iter()
            .map(IntoMessage::into_message)
            .collect();
        SendReport::new(self.send_prepared(messages).await)
    }

    #[tracing::instrument(name = "queue.send", skip_all, fields(queue = %self.inner.url, count = messages.len()))]
    async fn send_prepared(&self, messages: Vec<Message>) -> Vec<Result<Sent, SendError>> {
        // Boxed: a handler that awaits a send inside a closure's async block would otherwise
        // carry the whole batch machinery in its own future's layout.
        Box::pin(batch::send(self, messages)).await
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
        let Some(client) = self.sqs() else {
            return Ok(SQS_MAX_MESSAGE_BYTES);
        };
        let out = client
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
    Client::new(crate::platform::aws_config().await)
}
