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
//!
//! [`Sqs`] is the service; its operations are in `queues`, `messages` and `moves` (dead-letter
//! queues and message move tasks), each running the in-memory operation of the same family in
//! `ops` under the lock and waiting, where SQS's guarantees need it, for the log in `db`.
//! `http` speaks the wire protocol, `rules` holds SQS's limits and checks.

mod db;
mod error;
mod http;
mod messages;
pub mod model;
mod moves;
mod ops;
mod queues;
pub mod rules;
mod state;

pub use error::SqsError;
pub use http::router;
pub use ops::ReceiveRequest;
pub use queues::QueueStats;

use db::Writer;
use state::State;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, oneshot};

/// For a tokio runtime's `on_thread_park`: requests that wait for the log then wake its
/// thread when this thread has handled every request that had arrived, so they share one
/// commit and one sync, instead of the first waking it at once and the rest forming later,
/// smaller groups. Without it (any other thread) the first request wakes the log at once.
///
/// ```no_run
/// let runtime = tokio::runtime::Builder::new_current_thread()
///     .enable_all()
///     .on_thread_park(overtime_dev::sqs::on_park)
///     .build();
/// ```
pub fn on_park() {
    db::on_park();
}

/// Waits for a request's changes to be durable.
type Durable = Option<oneshot::Receiver<Result<(), SqsError>>>;

/// The queue service: the store, and wake-ups for long polls. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sqs {
    state: Arc<Mutex<State>>,
    writer: Writer,
    base_url: Arc<str>,
    wakers: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl Sqs {
    /// Opens the store at `path`; queue URLs begin with `base_url`.
    pub fn open(path: &Path, base_url: &str) -> Result<Self, SqsError> {
        let (state, writer) = db::open(path)?;
        Ok(Sqs {
            state,
            writer,
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

    /// Runs `f` on the queues under the lock and hands the changes it made to the log, in
    /// order; with `wait`, the returned receiver answers once they are durable.
    fn apply<T>(
        &self,
        wait: bool,
        f: impl FnOnce(&mut State) -> Result<T, SqsError>,
    ) -> Result<(T, Durable), SqsError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = &st.failed {
            return Err(SqsError::Internal(reason.clone()));
        }
        let Ok(result) = catch_unwind(AssertUnwindSafe(|| f(&mut st))) else {
            // Memory may be half changed; what is on disk is whole.
            st.log.clear();
            let reason = "a request panicked; restart overtime dev, which reloads what is on disk"
                .to_owned();
            st.failed = Some(reason.clone());
            return Err(SqsError::Internal(reason));
        };
        let changes = std::mem::take(&mut st.log);
        // A request that changed nothing may still depend on an earlier one being durable (a
        // FIFO duplicate, a delete of a message just deleted): with `wait`, it waits for the
        // log to pass it too.
        let durable = if changes.is_empty() && !wait {
            None
        } else {
            self.writer.log(changes, wait)
        };
        drop(st);
        result.map(|t| (t, durable))
    }

    /// [`Sqs::apply`], answering once the changes are durable.
    async fn durably<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, SqsError>,
    ) -> Result<T, SqsError> {
        let (t, durable) = self.apply(true, f)?;
        if let Some(rx) = durable {
            rx.await
                .map_err(|_| SqsError::Internal("the store stopped".into()))??;
        }
        Ok(t)
    }

    /// [`Sqs::apply`], answering at once: reads, and changes whose loss can only make a
    /// message visible again early (receives, visibility changes).
    fn now<T>(&self, f: impl FnOnce(&mut State) -> Result<T, SqsError>) -> Result<T, SqsError> {
        self.apply(false, f).map(|(t, _)| t)
    }
}

#[cfg(test)]
mod tests;
