//! The worker: routes each message to its job, and decides what happens to it after.
//!
//! One core ([`Worker`]) and thin adapters, both behind [`Worker::run`]: the Lambda SQS event
//! source (feature `lambda`) and a long-poll loop for containers and local use
//! ([`Worker::poll`]). Whatever the adapter, a message ends in exactly one of three ways:
//! it succeeds and is deleted; it is retried after a backoff (its visibility is set to the
//! delay); or it goes to the dead-letter queue with its reason as message attributes and the
//! original is deleted. A panicking job fails only its own message.

mod backoff;
mod dispatch;
mod flow;
#[cfg(feature = "lambda")]
mod lambda;
mod once;
mod poller;
mod settle;
mod source;
#[cfg(feature = "lambda")]
mod sqs_batch;

pub use backoff::Backoff;
pub(crate) use dispatch::panic_message;
#[cfg(feature = "test-util")]
pub(crate) use dispatch::{Delivery, Disposition};
pub use poller::{PollerError, Stop, shutdown_signal};
pub use settle::DeadLetterKind;
pub(crate) use settle::{resend_marked, truncate};
pub(crate) use source::Source;
pub use source::SourceError;

use crate::chunk::{Observer, SliceEvent};
use crate::job::{BoxError, Job, JobContext, JobOptions, JobResult};
use crate::queue::Queue;
use crate::store::RunStore;
use aws_sdk_sqs::Client;
use futures_util::future::BoxFuture;
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
/// Messages processed at once per batch (and per poller).
pub const DEFAULT_CONCURRENCY: usize = 16;

type Runner<S> = Arc<
    dyn Fn(&str, JobContext<S>) -> Result<BoxFuture<'static, JobResult>, serde_json::Error>
        + Send
        + Sync,
>;

/// Told the reason of each failed delivery (the test worker's report).
pub(crate) type FailureHook = Arc<dyn Fn(&str) + Send + Sync>;

/// A registered job: how to run it and its own policies.
pub(crate) struct Registered<S> {
    /// The Rust type, for the duplicate-name message.
    type_name: &'static str,
    pub(crate) options: JobOptions,
    pub(crate) run: Runner<S>,
    /// Its flow control, if it declares any.
    pub(crate) flow: Option<flow::FlowSpec>,
}

/// Routes messages to jobs by name and settles each message.
///
/// ```no_run
/// # use overtime::{Job, JobContext, JobResult, Worker};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Serialize, Deserialize)] struct WelcomeEmail { to: String }
/// # impl Job for WelcomeEmail { const NAME: &'static str = "welcome-email"; type State = ();
/// #   async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) } }
/// # async fn demo() -> Result<(), overtime::BoxError> {
/// // On AWS Lambda behind an SQS event source mapping: SQS batches with partial failures.
/// // Anywhere else: long-polls the queue in OVERTIME_QUEUE_URL until SIGTERM or ctrl-c.
/// Worker::new().job::<WelcomeEmail>().max_attempts(5).run().await?;
/// # Ok(()) }
/// ```
pub struct Worker<S = ()> {
    pub(crate) runners: HashMap<&'static str, Registered<S>>,
    state: Arc<S>,
    pub(crate) config: Config,
    client: OnceCell<Client>,
    sources: Mutex<HashMap<String, Arc<Source>>>,
    pub(crate) store: Option<Arc<dyn RunStore>>,
    pub(crate) observer: Option<Observer>,
    /// Tests only: slices end after this many steps, whatever the time.
    pub(crate) slice_steps: Option<u64>,
    /// Tests only: told the reason of every failed or dead-lettered delivery.
    pub(crate) failure_hook: Option<FailureHook>,
    /// Flow-control state this worker wrote last, per key.
    pub(crate) flow_states: crate::flow::cache::States,
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
        // Every worker can resume runs that wait for an event (`ctx.wait_for_event`).
        let wake: Runner<S> = Arc::new(|payload: &str, ctx: JobContext<S>| {
            let wake: crate::durable::wake::Wake = serde_json::from_str(payload)?;
            Ok(Box::pin(wake.run(ctx)) as BoxFuture<'static, JobResult>)
        });
        let mut runners = HashMap::new();
        runners.insert(
            crate::wait::WAKE_JOB,
            Registered {
                type_name: "overtime's wake job (resumes runs waiting for an event)",
                options: JobOptions::default(),
                run: wake,
                flow: None,
            },
        );
        Self {
            runners,
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
            observer: None,
            slice_steps: None,
            failure_hook: None,
            flow_states: crate::flow::cache::States::default(),
        }
    }

    /// Registers job `J`: messages named `J::NAME` are decoded as `J` and run, with
    /// [`J::options`](Job::options). Chunked jobs register the same way.
    ///
    /// # Panics
    /// If another job type is registered under the same name: one of the two would never
    /// run, so the worker refuses to be built.
    ///
    /// ```should_panic
    /// # use overtime::{Job, JobContext, JobResult, Worker};
    /// # use serde::{Deserialize, Serialize};
    /// #[derive(Serialize, Deserialize)] struct Welcome;
    /// #[derive(Serialize, Deserialize)] struct WelcomeV2;
    /// impl Job for Welcome { const NAME: &'static str = "welcome"; type State = ();
    ///     async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) } }
    /// impl Job for WelcomeV2 { const NAME: &'static str = "welcome"; type State = ();
    ///     async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) } }
    /// // panics: job name "welcome" is taken by rust_out::Welcome; rust_out::WelcomeV2 …
    /// Worker::new().job::<Welcome>().job::<WelcomeV2>();
    /// ```
    pub fn job<J: Job<State = S>>(mut self) -> Self {
        let type_name = std::any::type_name::<J>();
        if let Some(taken) = self.runners.get(J::NAME) {
            panic!(
                "job name {:?} is taken by {}; {type_name} cannot be registered under it too (give one of them another Job::NAME)",
                J::NAME,
                taken.type_name,
            );
        }
        let run: Runner<S> = Arc::new(|payload: &str, ctx: JobContext<S>| {
            let job: J = serde_json::from_str(payload)?;
            let Some(cancel) = job.cancel_on() else {
                return Ok(Box::pin(job.run(ctx)) as BoxFuture<'static, JobResult>);
            };
            Ok(Box::pin(async move {
                ctx.watch_cancel(cancel).await?;
                job.run(ctx).await
            }) as BoxFuture<'static, JobResult>)
        });
        self.runners.insert(
            J::NAME,
            Registered {
                type_name,
                options: J::options(),
                run,
                flow: flow::FlowSpec::of::<J>(),
            },
        );
        self
    }

    /// The run store for durable work (chunked runs, memoized steps). Without one,
    /// [`run`](Self::run) and [`poll`](Self::poll) open the store `OVERTIME_RUN_STORE` names,
    /// if it is set.
    pub fn store(mut self, store: impl RunStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Calls `observer` with every [`SliceEvent`] of the chunked jobs this worker runs, in the
    /// slice's task: for metrics, and for fault-injection tests.
    pub fn on_slice(mut self, observer: impl Fn(&SliceEvent) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
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

    /// Runs where the process finds itself: under the Lambda runtime API
    /// (`AWS_LAMBDA_RUNTIME_API` set, feature `lambda`) it serves SQS batches with
    /// `ReportBatchItemFailures`; elsewhere it long-polls the queue `OVERTIME_QUEUE_URL` names
    /// until SIGTERM or ctrl-c. Without a [`store`](Self::store), it opens the run store
    /// `OVERTIME_RUN_STORE` names, if set.
    pub async fn run(mut self) -> Result<(), BoxError> {
        self.open_store_from_env().await?;
        #[cfg(feature = "lambda")]
        if crate::platform::on_lambda() {
            return Box::pin(self.serve_lambda()).await;
        }
        let queue = Queue::from_env_var(crate::env::QUEUE_URL).await?;
        Ok(Box::pin(self.poll(queue, Stop::Signal)).await?)
    }

    /// Opens the run store `OVERTIME_RUN_STORE` names, unless the worker has one or it is unset.
    /// Then checks the jobs' flow control, which needs one.
    pub(crate) async fn open_store_from_env(&mut self) -> Result<(), crate::ConfigError> {
        if self.store.is_none() && std::env::var_os(crate::env::RUN_STORE).is_some() {
            self.store = Some(crate::store::from_env().await?);
        }
        self.check_flows().await
    }

    /// What durable work running under this worker needs of it.
    pub(crate) fn durable(&self) -> crate::chunk::Durable {
        crate::chunk::Durable {
            store: self.store.clone(),
            observer: self.observer.clone(),
            slice_steps: self.slice_steps,
        }
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
