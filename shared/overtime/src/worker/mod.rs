//! The worker: routes each message to its job, and decides what happens to it after.
//!
//! One core ([`Worker`]) and thin adapters: the Lambda SQS event source
//! ([`Worker::run_lambda`], feature `lambda`) and a long-poll loop for containers and local use
//! ([`Worker::run_poller`]). Whatever the adapter, a message ends in exactly one of three ways:
//! it succeeds and is deleted; it is retried after a backoff (its visibility is set to the
//! delay); or it goes to the dead-letter queue with its reason as message attributes and the
//! original is deleted. A panicking job fails only its own message.

mod backoff;
mod dispatch;
#[cfg(feature = "lambda")]
mod lambda;
mod poller;
mod settle;
mod source;
#[cfg(feature = "lambda")]
mod sqs_batch;

pub use backoff::Backoff;
pub(crate) use dispatch::panic_message;
pub use poller::{PollerError, shutdown_signal};
pub use settle::DeadLetterKind;
pub use source::SourceError;
#[cfg(feature = "lambda")]
pub use sqs_batch::SqsBatch;

use crate::chunk::{ChunkOptions, Chunked};
use crate::job::{BoxError, Job, JobContext, JobResult};
use crate::queue::Queue;
use crate::store::RunStore;
use aws_sdk_sqs::Client;
use futures_util::future::BoxFuture;
use source::Source;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, OnceCell};

/// Least time kept between answering a batch and the invocation deadline: enough to send the
/// response before Lambda stops the function.
const DEADLINE_MARGIN_MIN: std::time::Duration = std::time::Duration::from_millis(500);
/// Most time kept back from a long invocation for the same.
const DEADLINE_MARGIN_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// How long to wait before answering: until `deadline` less a margin of a tenth of the time
/// left, at least [`DEADLINE_MARGIN_MIN`] and at most [`DEADLINE_MARGIN_MAX`]. Chunked jobs
/// stop their slices by the same time.
pub(crate) fn answer_by(deadline: std::time::SystemTime) -> std::time::Duration {
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or(std::time::Duration::ZERO);
    let margin = (left / 10).clamp(DEADLINE_MARGIN_MIN, DEADLINE_MARGIN_MAX);
    left.saturating_sub(margin)
}

/// Attempts a message gets when neither the worker nor the queue's redrive policy says.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// The variable naming the queue [`Worker::run`] polls outside Lambda.
pub const QUEUE_URL_VAR: &str = "OVERTIME_QUEUE_URL";
/// Messages processed at once per batch (and per poller).
pub const DEFAULT_CONCURRENCY: usize = 16;

type Runner<S> = Arc<
    dyn Fn(&str, JobContext<S>) -> Result<BoxFuture<'static, JobResult>, serde_json::Error>
        + Send
        + Sync,
>;

/// Routes messages to jobs by name and settles each message.
///
/// ```no_run
/// # use overtime::{Job, JobContext, JobResult, Worker};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct WelcomeEmail { to: String }
/// # impl Job for WelcomeEmail { const NAME: &'static str = "welcome-email"; type State = ();
/// #   async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) } }
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let worker = Worker::new().job::<WelcomeEmail>().max_attempts(5);
/// // On AWS Lambda behind an SQS event source mapping (feature `lambda`):
/// // worker.run_lambda().await?;
/// // Anywhere else: long-poll the queue until SIGTERM or ctrl-c.
/// worker.run_poller(overtime::Queue::from_env_var("JOBS_QUEUE_URL").await?).await?;
/// # Ok(()) }
/// ```
pub struct Worker<S = ()> {
    runners: HashMap<&'static str, Runner<S>>,
    state: Arc<S>,
    config: Config,
    client: OnceCell<Client>,
    sources: Mutex<HashMap<String, Arc<Source>>>,
    store: Option<Arc<dyn RunStore>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_attempts: Option<u32>,
    pub(crate) backoff: Backoff,
    pub(crate) dead_letter_url: Option<String>,
    pub(crate) concurrency: usize,
    pub(crate) queue_urls: HashMap<String, String>,
}

impl Worker<()> {
    /// A worker with no shared state.
    pub fn new() -> Self {
        Self::with_state(())
    }
}

impl Default for Worker<()> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Send + Sync + 'static> Worker<S> {
    /// A worker handing `state` to every job (`JobContext::state`).
    pub fn with_state(state: S) -> Self {
        Self {
            runners: HashMap::new(),
            state: Arc::new(state),
            config: Config {
                max_attempts: None,
                backoff: Backoff::default(),
                dead_letter_url: None,
                concurrency: DEFAULT_CONCURRENCY,
                queue_urls: HashMap::new(),
            },
            client: OnceCell::new(),
            sources: Mutex::new(HashMap::new()),
            store: None,
        }
    }

    /// The run store for durable work: chunked jobs' runs and memoized steps live here.
    pub fn run_store(mut self, store: impl RunStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Registers chunked job `C` with [`ChunkOptions::from_env`]: each message is one slice.
    pub fn chunked<C: Chunked<State = S>>(self) -> Self {
        self.chunked_with::<C>(ChunkOptions::from_env())
    }

    /// Registers chunked job `C` with the given slice budget and run limits.
    pub fn chunked_with<C: Chunked<State = S>>(mut self, options: ChunkOptions) -> Self {
        let options = Arc::new(options);
        let runner: Runner<S> = Arc::new(move |payload: &str, ctx: JobContext<S>| {
            let input: C = serde_json::from_str(payload)?;
            let run = crate::chunk::run_slice(input, payload.to_owned(), ctx, options.clone());
            Ok(Box::pin(run) as BoxFuture<'static, JobResult>)
        });
        self.runners.insert(C::NAME, runner);
        self
    }

    /// Registers job `J`: messages named `J::NAME` are decoded as `J` and run.
    pub fn job<J: Job<State = S>>(mut self) -> Self {
        let runner: Runner<S> = Arc::new(|payload: &str, ctx: JobContext<S>| {
            let job: J = serde_json::from_str(payload)?;
            Ok(Box::pin(job.run(ctx)) as BoxFuture<'static, JobResult>)
        });
        self.runners.insert(J::NAME, runner);
        self
    }

    /// Attempts before a retried message is dead-lettered. Never more than the queue's own
    /// `maxReceiveCount`, or SQS would move it first, without a reason.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = Some(n.max(1));
        self
    }

    /// The retry delays (default: 5 s doubling to 15 min, with jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Where dead letters go. Defaults to the source queue's redrive policy target.
    pub fn dead_letter_queue(mut self, url: impl Into<String>) -> Self {
        self.config.dead_letter_url = Some(url.into());
        self
    }

    /// How many messages are processed at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n.max(1);
        self
    }

    /// The SQS client to use; by default one from the standard AWS configuration.
    pub fn client(self, client: Client) -> Self {
        Self {
            client: OnceCell::new_with(Some(client)),
            ..self
        }
    }

    /// Declares the URL of the queue behind an event source ARN, saving a `GetQueueUrl`
    /// call on a cold start. (The queue's redrive policy is still read once, to keep
    /// [`max_attempts`](Self::max_attempts) within its `maxReceiveCount`.)
    pub fn queue_url(mut self, arn: impl Into<String>, url: impl Into<String>) -> Self {
        self.config.queue_urls.insert(arn.into(), url.into());
        self
    }

    /// Runs where the process finds itself: [`run_lambda`](Self::run_lambda) under the Lambda
    /// runtime API (`AWS_LAMBDA_RUNTIME_API` set, feature `lambda`), else
    /// [`run_poller`](Self::run_poller) on the queue named by `OVERTIME_QUEUE_URL`.
    pub async fn run(self) -> Result<(), BoxError> {
        #[cfg(feature = "lambda")]
        if crate::platform::on_lambda() {
            return Box::pin(self.run_lambda()).await;
        }
        let queue = Queue::from_env_var(QUEUE_URL_VAR).await?;
        Ok(Box::pin(self.run_poller(queue)).await?)
    }

    /// The names of the registered jobs.
    pub fn job_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.runners.keys().copied()
    }

    pub(crate) async fn sqs(&self) -> &Client {
        self.client
            .get_or_init(crate::queue::sqs_client_from_env)
            .await
    }
}
