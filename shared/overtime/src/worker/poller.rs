//! The long-poll loop: the same worker outside Lambda (containers, servers, local runs).

use super::Worker;
use super::backoff::visibility_secs;
use super::dispatch::{Delivery, Disposition};
use super::source::{Source, SourceError};
use crate::error::SqsError;
use crate::limits::{SQS_MAX_RECEIVE, SQS_MAX_WAIT};
use crate::queue::Queue;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName,
};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Longest pause between receives after transient errors.
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(30);

/// Why the poller stopped other than by a shutdown signal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollerError {
    /// The queue cannot be used (missing, access denied…): retrying will not help.
    #[error("cannot poll {queue}: {source}")]
    Queue {
        /// The queue URL.
        queue: String,
        /// The SQS error.
        #[source]
        source: SqsError,
    },
    /// The queue has no dead-letter queue, so failures could not be kept.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// `OVERTIME_RUN_STORE` is set and names no store that opens.
    #[error(transparent)]
    Store(#[from] crate::ConfigError),
    /// The queue is a test queue, which [`TestWorker`](crate::testing::TestWorker) drives.
    #[error("{queue} is an in-memory test queue: run its jobs with overtime::testing::TestWorker")]
    NotSqs {
        /// The queue URL.
        queue: String,
    },
    /// A receive loop panicked (a bug in overtime: job panics are caught per message).
    #[error("a receive loop for {queue} crashed: {reason}")]
    Crashed {
        /// The queue URL.
        queue: String,
        /// The panic or cancellation.
        reason: String,
    },
}

/// When [`Worker::poll`] stops receiving.
#[non_exhaustive]
pub enum Stop<'a> {
    /// At SIGTERM or ctrl-c (stopping can take up to the 20 s long-poll wait).
    Signal,
    /// After a fixed window, for a platform that gives a function a fixed time, such as a
    /// Vercel cron route with its `maxDuration`. Jobs see the window's end as their deadline
    /// (chunked jobs end their slices before it), long polls are shortened to fit, and no
    /// receive starts in the last tenth of the window (at least 1 s).
    After(Duration),
    /// When this future completes.
    When(futures_util::future::BoxFuture<'a, ()>),
}

impl<'a> Stop<'a> {
    /// Stops when `stop` completes.
    pub fn when(stop: impl Future<Output = ()> + Send + 'a) -> Self {
        Stop::When(Box::pin(stop))
    }
}

impl std::fmt::Debug for Stop<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Signal => f.write_str("Signal"),
            Stop::After(d) => f.debug_tuple("After").field(d).finish(),
            Stop::When(_) => f.write_str("When(..)"),
        }
    }
}

impl<S: Send + Sync + 'static> Worker<S> {
    /// Long-polls `queue` and processes what arrives until `stop`; then stops receiving,
    /// finishes and settles the messages in hand, gives back anything a last poll took, and
    /// returns. Without a [`store`](Self::store), it opens the run store
    /// `OVERTIME_RUN_STORE` names, if set.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), overtime::BoxError> {
    /// use overtime::{Queue, Worker, worker::Stop};
    /// use std::time::Duration;
    /// let queue = Queue::from_env_var("OVERTIME_QUEUE_URL").await?;
    /// // A Vercel cron route with maxDuration = 300: drain for 290 s, then answer.
    /// Worker::new().poll(queue, Stop::After(Duration::from_secs(290))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn poll(mut self, queue: Queue, stop: Stop<'_>) -> Result<(), PollerError> {
        self.open_store_from_env().await?;
        match stop {
            Stop::Signal => self.poll_until(queue, shutdown_signal(), None).await,
            Stop::After(window) => {
                let now = std::time::SystemTime::now();
                let deadline = now.checked_add(window).unwrap_or(now);
                self.poll_until(queue, tokio::time::sleep(window), Some(deadline))
                    .await
            }
            Stop::When(stop) => self.poll_until(queue, stop, None).await,
        }
    }

    async fn poll_until(
        self,
        queue: Queue,
        stop: impl Future<Output = ()> + Send,
        deadline: Option<std::time::SystemTime>,
    ) -> Result<(), PollerError> {
        let Some(client) = queue.sqs().cloned() else {
            return Err(PollerError::NotSqs {
                queue: queue.url().to_owned(),
            });
        };
        let this = Arc::new(self.client(client));
        let source = this
            .source_for_url(queue.url())
            .await
            .map_err(|err| match err {
                SourceError::Sqs(source) => PollerError::Queue {
                    queue: queue.url().to_owned(),
                    source,
                },
                other => PollerError::Source(other),
            })?;
        tracing::info!(queue = %queue.url(), max_attempts = source.max_attempts,
            dead_letter = source.dead_letter.url(), "poller started");
        let (tx, rx) = watch::channel(false);
        // Enough receivers to keep `concurrency` messages in hand, ten at a time.
        let loops = this.config.concurrency.div_ceil(10).max(1);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..loops {
            tasks.spawn(poll_loop(
                this.clone(),
                source.clone(),
                rx.clone(),
                deadline,
            ));
        }
        let mut result = Ok(());
        tokio::select! {
            () = stop => {
                tracing::info!("stopping: finishing messages in hand");
            }
            Some(joined) = tasks.join_next() => {
                result = flatten(joined, queue.url());
            }
        }
        let _ = tx.send(true);
        while let Some(joined) = tasks.join_next().await {
            result = result.and(flatten(joined, queue.url()));
        }
        tracing::info!("poller stopped");
        result
    }
}

/// A receive loop's end as the poller's result; a loop that panicked is an error too, so a
/// supervisor sees the poller fail instead of exiting cleanly.
fn flatten(
    joined: Result<Result<(), PollerError>, tokio::task::JoinError>,
    queue: &str,
) -> Result<(), PollerError> {
    joined.unwrap_or_else(|err| {
        Err(PollerError::Crashed {
            queue: queue.to_owned(),
            reason: err.to_string(),
        })
    })
}

async fn poll_loop<S: Send + Sync + 'static>(
    worker: Arc<Worker<S>>,
    source: Arc<Source>,
    mut stop: watch::Receiver<bool>,
    deadline: Option<std::time::SystemTime>,
) -> Result<(), PollerError> {
    let queue = &source.queue;
    let client = worker.sqs().await;
    let mut pause = Duration::from_millis(200);
    let mut wait = SQS_MAX_WAIT;
    let window = deadline.and_then(|d| d.duration_since(std::time::SystemTime::now()).ok());
    while !*stop.borrow() {
        if let (Some(deadline), Some(window)) = (deadline, window) {
            let left = deadline
                .duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO);
            // Too little time left to receive and finish anything: leave it for the next run.
            if left <= (window / 10).max(Duration::from_secs(1)) {
                break;
            }
            wait = SQS_MAX_WAIT.min(left / 2);
        }
        let receive = client
            .receive_message()
            .queue_url(queue.url())
            .max_number_of_messages(SQS_MAX_RECEIVE)
            .wait_time_seconds(wait.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_attribute_names("All")
            .send();
        tokio::pin!(receive);
        let received = tokio::select! {
            r = &mut receive => r,
            _ = stop.changed() => {
                // Dropping the call would not stop SQS from handing this poll messages, which
                // would then stay hidden for a whole visibility timeout. Let the poll end (at
                // most SQS_MAX_WAIT) and give back whatever it took.
                if let Ok(out) = receive.await {
                    let handles: Vec<String> = out
                        .messages()
                        .iter()
                        .filter_map(|m| m.receipt_handle().map(str::to_owned))
                        .collect();
                    set_visibility(queue, &handles, Duration::ZERO).await;
                }
                break;
            }
        };
        let messages = match received {
            Ok(out) => {
                pause = Duration::from_millis(200);
                out.messages.unwrap_or_default()
            }
            Err(e) => {
                let err = SqsError::from_sdk("ReceiveMessage", e);
                if !err.is_transient() {
                    return Err(PollerError::Queue {
                        queue: queue.url().to_owned(),
                        source: err,
                    });
                }
                tracing::warn!(error = %err, pause_ms = pause.as_millis() as u64, "receive failed; pausing");
                tokio::select! {
                    () = tokio::time::sleep(pause) => {},
                    _ = stop.changed() => break,
                }
                pause = (pause * 2).min(MAX_ERROR_PAUSE);
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let deliveries: Vec<Delivery> = messages.into_iter().filter_map(delivery).collect();
        // Jobs may outlast the queue's visibility timeout: keep the ones still running hidden,
        // so SQS does not hand them (or their finished batch-mates) to another consumer.
        let running: Mutex<HashMap<String, String>> = Mutex::new(
            deliveries
                .iter()
                .map(|d| (d.message_id.clone(), d.receipt_handle.clone()))
                .collect(),
        );
        // Successes stay hidden until the batch delete below; the others have their own
        // visibility now (a retry's backoff) or are gone (dead-lettered, hopped).
        let on_done = |i: usize, disposition: Disposition| {
            if let (Ok(mut r), false, Some(d)) = (
                running.lock(),
                disposition == Disposition::Succeeded,
                deliveries.get(i),
            ) {
                r.remove(&d.message_id);
            }
        };
        // Not raced with the stop signal: messages in hand are always finished and settled.
        let work = worker.process_batch(&source, &deliveries, deadline, &on_done);
        let settled = with_heartbeat(work, queue, source.visibility_timeout, &running).await;
        let done: Vec<&str> = deliveries
            .iter()
            .zip(&settled)
            .filter(|(_, d)| **d == Disposition::Succeeded)
            .map(|(d, _)| d.receipt_handle.as_str())
            .collect();
        delete_batch(queue, &done).await;
    }
    Ok(())
}

/// Runs `work`; every half visibility timeout meanwhile, extends the visibility of the
/// messages still in `running` by one visibility timeout.
async fn with_heartbeat<T>(
    work: impl Future<Output = T>,
    queue: &Queue,
    visibility: Option<Duration>,
    running: &Mutex<HashMap<String, String>>,
) -> T {
    let Some(visibility) = visibility.filter(|v| !v.is_zero()) else {
        return work.await;
    };
    let period = (visibility / 2).max(Duration::from_secs(1));
    let heartbeat = async {
        loop {
            tokio::time::sleep(period).await;
            let handles: Vec<String> = running
                .lock()
                .map(|r| r.values().cloned().collect())
                .unwrap_or_default();
            set_visibility(queue, &handles, visibility).await;
        }
    };
    tokio::pin!(work);
    tokio::pin!(heartbeat);
    loop {
        tokio::select! {
            biased;
            out = &mut work => return out,
            () = &mut heartbeat => {}
        }
    }
}

async fn set_visibility(queue: &Queue, handles: &[String], visibility: Duration) {
    let Some(client) = queue.sqs() else {
        return;
    };
    for chunk in handles.chunks(crate::limits::SQS_MAX_BATCH_ENTRIES) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, handle)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(visibility_secs(visibility))
                    .build()
                    .ok()
            })
            .collect();
        let result = client
            .change_message_visibility_batch()
            .queue_url(queue.url())
            .set_entries(Some(entries))
            .send()
            .await;
        if let Err(e) = result {
            let err = SqsError::from_sdk("ChangeMessageVisibilityBatch", e);
            tracing::warn!(error = %err, "could not extend visibility; long jobs may be delivered twice");
        }
    }
}

fn delivery(m: aws_sdk_sqs::types::Message) -> Option<Delivery> {
    let attrs = m.attributes.unwrap_or_default();
    Some(Delivery {
        message_id: m.message_id?,
        receipt_handle: m.receipt_handle?,
        body: m.body.unwrap_or_default(),
        receive_count: attrs
            .get(&MessageSystemAttributeName::ApproximateReceiveCount)
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
        group_id: attrs
            .get(&MessageSystemAttributeName::MessageGroupId)
            .cloned(),
        sent_ms: attrs
            .get(&MessageSystemAttributeName::SentTimestamp)
            .and_then(|t| t.parse().ok()),
        attributes: m
            .message_attributes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
            .collect(),
    })
}

async fn delete_batch(queue: &Queue, done: &[&str]) {
    let Some(client) = queue.sqs() else {
        return;
    };
    for chunk in done.chunks(crate::limits::SQS_MAX_BATCH_ENTRIES) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, handle)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(*handle)
                    .build()
                    .ok()
            })
            .collect();
        let result = client
            .delete_message_batch()
            .queue_url(queue.url())
            .set_entries(Some(entries))
            .send()
            .await;
        match result {
            Ok(out) if out.failed().is_empty() => {}
            Ok(out) => {
                tracing::warn!(
                    failed = out.failed().len(),
                    "some deletes failed; those messages will be delivered again"
                );
            }
            Err(e) => {
                let err = SqsError::from_sdk("DeleteMessageBatch", e);
                tracing::warn!(error = %err, "delete failed; these messages will be delivered again");
            }
        }
    }
}

/// Completes on SIGTERM (how Lambda, ECS and Kubernetes stop a process) or ctrl-c.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
