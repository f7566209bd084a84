//! A [`JobContext`] built by hand, to call a job's `run` directly in a unit test.

use super::Mailbox;
use crate::chunk::Durable;
use crate::job::{Delivered, JobContext};
use crate::queue::{Backend, Queue};
use crate::store::{MemoryStore, RunStore};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Builds a [`JobContext`] for a unit test ([`JobContext::builder`]): attempt 1 of 5, a fresh
/// job id, no deadline, an in-memory queue and run store, unless told otherwise.
///
/// ```
/// # use overtime::JobContext;
/// # use std::time::Duration;
/// let ctx = JobContext::builder(())
///     .attempt(5)
///     .max_attempts(5)
///     .idempotency_key("welcome:ada@example.com")
///     .deadline_in(Duration::from_secs(30))
///     .build();
/// assert!(ctx.is_last_attempt());
/// assert_eq!(ctx.idempotency_key(), Some("welcome:ada@example.com"));
/// ```
#[must_use]
pub struct ContextBuilder<S> {
    state: S,
    meta: Delivered,
    queue: Option<Queue>,
    store: Option<Arc<dyn RunStore>>,
}

impl<S> JobContext<S> {
    /// A context for calling a job directly in a unit test (feature `test-util`).
    pub fn builder(state: S) -> ContextBuilder<S> {
        let id = uuid::Uuid::new_v4().to_string();
        ContextBuilder {
            state,
            meta: Delivered {
                job: "test",
                message_id: format!("test-message-{id}"),
                job_id: id,
                attempt: 1,
                max_attempts: crate::worker::DEFAULT_MAX_ATTEMPTS,
                deadline: None,
                idempotency_key: None,
                run: None,
                wait_mark: None,
                cancel_watch: std::sync::OnceLock::new(),
                continues: std::sync::Arc::default(),
            },
            queue: None,
            store: None,
        }
    }
}

impl<S> ContextBuilder<S> {
    /// Which attempt this is (from 1).
    pub fn attempt(mut self, n: u32) -> Self {
        self.meta.attempt = n.max(1);
        self
    }

    /// How many attempts the job gets.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.meta.max_attempts = n.max(1);
        self
    }

    /// The job id (the same on every attempt; memoized steps are kept under it).
    pub fn job_id(mut self, id: impl Into<String>) -> Self {
        self.meta.job_id = id.into();
        self
    }

    /// The sender's idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.meta.idempotency_key = Some(key.into());
        self
    }

    /// When the platform would stop the function.
    pub fn deadline(mut self, at: SystemTime) -> Self {
        self.meta.deadline = Some(at);
        self
    }

    /// A deadline `left` from now.
    pub fn deadline_in(self, left: Duration) -> Self {
        self.deadline(SystemTime::now() + left)
    }

    /// The queue the job sends follow-up work to (default: a new in-memory one; a
    /// [`TestWorker`](super::TestWorker)'s runs what is sent to it).
    pub fn queue(mut self, queue: Queue) -> Self {
        self.queue = Some(queue);
        self
    }

    /// The run store memoized steps use (default: a new [`MemoryStore`]); pass the same one
    /// to a second context to see a retry skip the steps that succeeded.
    pub fn store(mut self, store: Arc<dyn RunStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The context.
    pub fn build(self) -> JobContext<S> {
        let queue = self.queue.unwrap_or_else(|| {
            Queue::with_backend(
                Backend::Memory(Arc::new(Mailbox::default())),
                "memory://jobs".into(),
            )
        });
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        JobContext {
            span: tracing::info_span!("job", job = self.meta.job, message_id = %self.meta.message_id),
            meta: Arc::new(self.meta),
            queue,
            state: Arc::new(self.state),
            durable: Durable {
                store: Some(store),
                observer: None,
                slice_steps: None,
            },
        }
    }
}
