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
mod state;

pub use error::SqsError;
pub use http::router;
pub use ops::ReceiveRequest;

use db::Writer;
use model::{Received, SendEntry, Sent};
use state::State;
use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

/// The longest a long poll waits without looking again. It is woken by sends, visibility
/// changes and (FIFO) deletes, and sleeps until the queue's next message becomes visible;
/// this only bounds a wait nothing announced.
const LONG_POLL_TICK: Duration = Duration::from_secs(1);

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

    /// SendMessage(Batch): one result per entry; an error for the whole request (no such
    /// queue) is the outer one. A batch's total size is the caller's to check
    /// ([`rules::check_batch_size`]).
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

    /// ListDeadLetterSourceQueues: names.
    pub async fn dead_letter_sources(&self, name: &str) -> Result<Vec<String>, SqsError> {
        self.now(|st| ops::dead_letter_sources(st, name))
    }

    /// StartMessageMoveTask: moves a dead-letter queue's messages back in the background, at
    /// `rate` messages a second (500 when unset, as SQS's system-optimized rate); the task
    /// handle.
    pub async fn start_move(
        &self,
        source_arn: String,
        dest_arn: Option<String>,
        rate: Option<i64>,
    ) -> Result<String, SqsError> {
        let handle = self
            .durably(|st| ops::start_move(st, &source_arn, dest_arn.as_deref(), rate))
            .await?;
        // At most 10 steps a second; slower rates take one message a step, less often.
        let rate = u64::try_from(rate.unwrap_or(500)).unwrap_or(1).max(1);
        let per_tick = (rate / 10).max(1);
        let tick = Duration::from_millis(per_tick * 1000 / rate);
        let per_tick = usize::try_from(per_tick).unwrap_or(1);
        let (sqs, task) = (self.clone(), handle.clone());
        tokio::spawn(async move {
            loop {
                let step = sqs
                    .durably(|st| Ok(ops::move_step(st, &task, per_tick)))
                    .await;
                let Ok(step) = step else { return };
                for n in &step.targets {
                    sqs.wake(n);
                }
                if step.finished {
                    return;
                }
                tokio::time::sleep(tick).await;
            }
        });
        Ok(handle)
    }

    /// CancelMessageMoveTask: how many messages the task had moved.
    pub async fn cancel_move(&self, handle: &str) -> Result<i64, SqsError> {
        self.durably(|st| ops::cancel_move(st, handle)).await
    }

    /// ListMessageMoveTasks.
    pub async fn move_tasks(
        &self,
        source_arn: String,
        max: i64,
    ) -> Result<Vec<serde_json::Value>, SqsError> {
        self.now(|st| Ok(ops::move_tasks(st, &source_arn, max)))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("overtime-sqs-{}.db", uuid::Uuid::new_v4()))
    }

    /// Opens the store once its previous owner's log thread has closed it.
    async fn reopen(path: &Path) -> Sqs {
        let began = Instant::now();
        loop {
            match Sqs::open(path, "http://127.0.0.1:1") {
                Ok(sqs) => return sqs,
                Err(e) if began.elapsed() > Duration::from_secs(10) => panic!("reopen: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn entry(body: &str) -> SendEntry {
        SendEntry {
            message_body: Some(body.into()),
            ..SendEntry::default()
        }
    }

    fn all_attributes(max: i64, visibility: i64) -> ReceiveRequest {
        ReceiveRequest {
            max,
            visibility: Some(visibility),
            attribute_names: vec!["All".into()],
            message_attribute_names: vec![],
        }
    }

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn in_group(body: &str, group: &str) -> SendEntry {
        SendEntry {
            message_group_id: Some(group.into()),
            ..entry(body)
        }
    }

    fn bodies(got: &[Received]) -> Vec<&str> {
        got.iter().map(|m| m.body.as_str()).collect()
    }

    #[tokio::test]
    async fn a_fifo_group_waits_for_messages_in_flight_and_keeps_order_past_delayed_ones() {
        let path = temp_db();
        let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
        let q = "g.fifo";
        let fifo = [("FifoQueue", "true"), ("ContentBasedDeduplication", "true")];
        sqs.create_queue(
            q,
            attrs(&[fifo[0], fifo[1], ("DelaySeconds", "1")]),
            BTreeMap::new(),
        )
        .await
        .expect("create");
        let receive = || sqs.receive(q, all_attributes(10, 60), Duration::ZERO);
        sqs.send(q, vec![in_group("m1", "g")]).await.expect("send");
        tokio::time::sleep(Duration::from_millis(600)).await;
        sqs.send(q, vec![in_group("m2", "g")]).await.expect("send");
        sqs.set_attributes(q, attrs(&[("DelaySeconds", "0")]))
            .await
            .expect("no delay");
        sqs.send(q, vec![in_group("m3", "g")]).await.expect("send");
        tokio::time::sleep(Duration::from_millis(500)).await;
        // m1's delay is over, m2's is not: m1 is delivered, and m3 waits behind m2.
        let got = receive().await.expect("receive");
        assert_eq!(bodies(&got), ["m1"]);
        sqs.delete(q, vec![got[0].receipt_handle.clone()])
            .await
            .expect("delete");
        assert!(
            receive().await.expect("receive").is_empty(),
            "m3 must not overtake m2"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
        let got = receive().await.expect("receive");
        assert_eq!(bodies(&got), ["m2", "m3"]);
        // With messages of the group in flight, a new one waits.
        sqs.send(q, vec![in_group("m4", "g"), in_group("other", "h")])
            .await
            .expect("send");
        assert_eq!(bodies(&receive().await.expect("receive")), ["other"]);
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn create_queue_again_compares_attributes_as_get_queue_attributes_shows_them() {
        let path = temp_db();
        let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
        sqs.create_queue("c.fifo", attrs(&[("FifoQueue", "true")]), BTreeMap::new())
            .await
            .expect("create");
        // Defaults given explicitly match, FIFO-only ones included.
        sqs.create_queue(
            "c.fifo",
            attrs(&[
                ("FifoQueue", "true"),
                ("ContentBasedDeduplication", "false"),
                ("DeduplicationScope", "queue"),
                ("FifoThroughputLimit", "perQueue"),
                ("VisibilityTimeout", "30"),
            ]),
            BTreeMap::new(),
        )
        .await
        .expect("same queue");
        sqs.create_queue("p", BTreeMap::new(), BTreeMap::new())
            .await
            .expect("create");
        for (k, v) in [
            ("Policy", r#"{"Version":"2012-10-17"}"#),
            ("VisibilityTimeout", "31"),
            ("KmsMasterKeyId", "alias/aws/sqs"),
        ] {
            let err = sqs
                .create_queue("p", attrs(&[(k, v)]), BTreeMap::new())
                .await
                .expect_err("differs");
            assert!(
                matches!(&err, SqsError::QueueNameExists(n) if n == k),
                "{err:?}"
            );
        }
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn visibility_extends_to_12_hours_from_the_receive_and_no_further() {
        let path = temp_db();
        let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
        sqs.create_queue("q", BTreeMap::new(), BTreeMap::new())
            .await
            .expect("create");
        sqs.send("q", vec![entry("a")]).await.expect("send");
        let got = sqs
            .receive("q", all_attributes(1, 43_200), Duration::ZERO)
            .await
            .expect("receive");
        let handle = got[0].receipt_handle.clone();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let changed = sqs
            .change_visibility(
                "q",
                vec![(handle.clone(), 43_200), (handle.clone(), 43_199)],
            )
            .await
            .expect("change visibility");
        assert!(
            matches!(&changed[0], Err(SqsError::InvalidParameterValue(m)) if m.contains("Total VisibilityTimeout")),
            "{changed:?}"
        );
        assert!(changed[1].is_ok(), "{changed:?}");
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_fifo_message_dead_lettered_counts_its_retention_from_the_move() {
        let path = temp_db();
        let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
        let fifo = [("FifoQueue", "true"), ("ContentBasedDeduplication", "true")];
        sqs.create_queue("dlq.fifo", attrs(&fifo), BTreeMap::new())
            .await
            .expect("create");
        let redrive = format!(
            r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#,
            rules::queue_arn("dlq.fifo")
        );
        sqs.create_queue(
            "src.fifo",
            attrs(&[fifo[0], fifo[1], ("RedrivePolicy", &redrive)]),
            BTreeMap::new(),
        )
        .await
        .expect("create");
        sqs.send("src.fifo", vec![in_group("a", "g")])
            .await
            .expect("send");
        let first = sqs
            .receive("src.fifo", all_attributes(1, 0), Duration::ZERO)
            .await
            .expect("receive");
        let sent: i64 = first[0].attributes["SentTimestamp"].parse().expect("ms");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let moved_at = state::now_ms();
        let again = sqs
            .receive("src.fifo", all_attributes(1, 0), Duration::ZERO)
            .await
            .expect("receive");
        assert!(again.is_empty(), "dead-lettered instead");
        let dead = sqs
            .receive("dlq.fifo", all_attributes(1, 30), Duration::ZERO)
            .await
            .expect("receive");
        let enqueued: i64 = dead[0].attributes["SentTimestamp"].parse().expect("ms");
        assert!(
            enqueued >= moved_at && moved_at > sent,
            "{sent} {moved_at} {enqueued}"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn long_polls_on_missing_queues_leave_no_waker_and_end_when_theirs_is_deleted() {
        let path = temp_db();
        let sqs = Arc::new(Sqs::open(&path, "http://127.0.0.1:1").expect("open"));
        let err = sqs
            .receive("made-up", all_attributes(1, 30), Duration::from_secs(5))
            .await
            .expect_err("no queue");
        assert!(matches!(err, SqsError::QueueDoesNotExist), "{err:?}");
        assert!(sqs.wakers.lock().expect("wakers").is_empty());
        sqs.create_queue("q", BTreeMap::new(), BTreeMap::new())
            .await
            .expect("create");
        let poll = tokio::spawn({
            let sqs = sqs.clone();
            async move {
                sqs.receive("q", all_attributes(1, 30), Duration::from_secs(20))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let began = Instant::now();
        sqs.delete_queue("q").await.expect("delete");
        let ended = tokio::time::timeout(Duration::from_secs(5), poll)
            .await
            .expect("the long poll ended")
            .expect("task");
        assert!(
            matches!(ended, Err(SqsError::QueueDoesNotExist)),
            "{ended:?}"
        );
        assert!(began.elapsed() < Duration::from_secs(5));
        assert!(sqs.wakers.lock().expect("wakers").is_empty());
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_restart_keeps_messages_receive_counts_receipts_and_deletes() {
        let path = temp_db();
        let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
        sqs.create_queue("q", BTreeMap::new(), BTreeMap::new())
            .await
            .expect("create");
        for body in ["a", "b", "c"] {
            sqs.send("q", vec![entry(body)]).await.expect("send");
        }
        let got = sqs
            .receive("q", all_attributes(2, 60), Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(
            got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        // On a standard queue the delete is answered before it is synced; closing writes it.
        let deleted = sqs
            .delete("q", vec![got[1].receipt_handle.clone()])
            .await
            .expect("delete");
        assert_eq!(deleted, [Ok(true)]);

        // The store is locked while open: a second one on the same file is refused.
        let second = Sqs::open(&path, "http://127.0.0.1:1").expect_err("locked");
        assert!(
            second.to_string().contains("in use by another process"),
            "{second}"
        );
        // Closing writes what was deferred (the receive's row update) and unlocks.
        drop(sqs);
        let again = reopen(&path).await;
        let stats = again.stats().await.expect("stats");
        assert_eq!(
            (stats[0].visible, stats[0].in_flight, stats[0].delayed),
            (1, 1, 0),
            "c visible, a in flight, b deleted"
        );
        // The receipt handle from before the restart still works.
        let changed = again
            .change_visibility("q", vec![(got[0].receipt_handle.clone(), 0)])
            .await
            .expect("change visibility");
        assert_eq!(changed, [Ok(())]);
        let got = again
            .receive("q", all_attributes(10, 60), Duration::ZERO)
            .await
            .expect("receive");
        let mut counts: Vec<(&str, &str)> = got
            .iter()
            .map(|m| {
                (
                    m.body.as_str(),
                    m.attributes["ApproximateReceiveCount"].as_str(),
                )
            })
            .collect();
        counts.sort_unstable();
        assert_eq!(counts, [("a", "2"), ("c", "1")]);
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_receipt_handle_from_before_a_restart_never_names_a_newer_message() {
        let path = temp_db();
        let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
        for q in ["q", "gone"] {
            sqs.create_queue(q, BTreeMap::new(), BTreeMap::new())
                .await
                .expect("create");
            sqs.send(q, vec![entry("old")]).await.expect("send");
        }
        let mut handles = Vec::new();
        for q in ["q", "gone"] {
            let got = sqs
                .receive(q, all_attributes(1, 60), Duration::ZERO)
                .await
                .expect("receive");
            handles.push(got[0].receipt_handle.clone());
        }
        assert_eq!(
            sqs.delete("q", vec![handles[0].clone()])
                .await
                .expect("delete"),
            [Ok(true)]
        );
        sqs.delete_queue("gone").await.expect("delete queue");
        drop(sqs);

        // After a restart the newest message and queue are gone from disk; their numbers are
        // still not handed out again.
        let sqs = reopen(&path).await;
        sqs.send("q", vec![entry("new")]).await.expect("send");
        sqs.create_queue("gone", BTreeMap::new(), BTreeMap::new())
            .await
            .expect("create again");
        sqs.send("gone", vec![entry("new")]).await.expect("send");
        assert_eq!(
            sqs.delete("q", vec![handles[0].clone()])
                .await
                .expect("delete"),
            [Ok(false)],
            "a retried delete with the old handle finds nothing"
        );
        assert_eq!(
            sqs.delete("gone", vec![handles[1].clone()])
                .await
                .expect("delete"),
            [Err(SqsError::ReceiptHandleIsInvalid(handles[1].clone()))],
            "a handle of the deleted queue does not name the new one's message"
        );
        let depths: Vec<i64> = sqs
            .stats()
            .await
            .expect("stats")
            .iter()
            .map(|q| q.visible)
            .collect();
        assert_eq!(depths, [1, 1], "both new messages are there");
        let _ = std::fs::remove_file(&path);
    }

    /// The layout of the first release: AUTOINCREMENT and two indexes on the messages.
    const FIRST_LAYOUT: &str = "
        CREATE TABLE queues (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, attributes TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '{}', created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL,
            purged_ms INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue INTEGER NOT NULL, id TEXT NOT NULL,
            body TEXT NOT NULL, attributes TEXT, md5_body TEXT NOT NULL, md5_attrs TEXT, trace_header TEXT,
            sent_ms INTEGER NOT NULL, visible_ms INTEGER NOT NULL, receives INTEGER NOT NULL DEFAULT 0,
            first_ms INTEGER, receipt TEXT, group_id TEXT, dedup_id TEXT, dead_from TEXT);
        CREATE INDEX messages_visible ON messages (queue, visible_ms);
        CREATE INDEX messages_order ON messages (queue, seq);
        CREATE TABLE dedup (queue INTEGER NOT NULL, key TEXT NOT NULL, message_id TEXT NOT NULL,
            sequence TEXT NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (queue, key));
        INSERT INTO queues (id, name, attributes, created_ms, modified_ms) VALUES (7, 'old', '{}', 1, 1);
        INSERT INTO messages (queue, id, body, md5_body, sent_ms, visible_ms, receives)
            VALUES (7, 'm-1', 'kept', 'x', 9999999999999, 0, 1);
    ";

    #[tokio::test]
    async fn a_store_of_the_first_layout_is_migrated_with_its_messages() {
        let path = temp_db();
        rusqlite::Connection::open(&path)
            .and_then(|c| c.execute_batch(FIRST_LAYOUT))
            .expect("old layout");
        let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
        let got = sqs
            .receive("old", all_attributes(10, 30), Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        assert_eq!(
            (
                got[0].message_id.as_str(),
                got[0].body.as_str(),
                got[0].attributes["ApproximateReceiveCount"].as_str()
            ),
            ("m-1", "kept", "2")
        );
        // New messages continue the sequence, and the new queue gets a fresh id.
        sqs.create_queue("new", BTreeMap::new(), BTreeMap::new())
            .await
            .expect("create");
        sqs.send("old", vec![entry("later")]).await.expect("send");
        drop(sqs);
        drop(reopen(&path).await);
        let indexes: i64 = rusqlite::Connection::open(&path)
            .and_then(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'",
                    [],
                    |r| r.get(0),
                )
            })
            .expect("indexes");
        assert_eq!(indexes, 0, "the messages table keeps only its row ids");
        let _ = std::fs::remove_file(&path);
    }

    /// `overtime dev`'s runtime calls [`on_park`]: its thread then writes and syncs the
    /// groups itself. Every durable request is answered, and sends and deletes from concurrent
    /// tasks all reach the disk.
    #[test]
    fn a_runtime_that_calls_on_park_writes_every_group_itself() {
        let path = temp_db();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(on_park)
            .build()
            .expect("runtime");
        let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
        const SENT: i64 = 100;
        let deleted = runtime.block_on(async {
            sqs.create_queue("q", BTreeMap::new(), BTreeMap::new())
                .await
                .expect("create");
            let mut tasks = tokio::task::JoinSet::new();
            for t in 0..20 {
                let sqs = sqs.clone();
                tasks.spawn(async move {
                    for i in 0..SENT / 20 {
                        let body = format!("{t}-{i}");
                        let out = sqs.send("q", vec![entry(&body)]).await.expect("send");
                        assert!(out[0].is_ok(), "{out:?}");
                    }
                });
            }
            tokio::time::timeout(Duration::from_secs(20), async {
                while let Some(done) = tasks.join_next().await {
                    done.expect("sender");
                }
            })
            .await
            .expect("every durable send is answered");
            // Receive 30 and delete them (a standard queue's delete is not waited for).
            let mut deleted = 0;
            while deleted < 30 {
                let got = sqs
                    .receive("q", all_attributes(10, 60), Duration::ZERO)
                    .await
                    .expect("receive");
                let handles = got.into_iter().map(|m| m.receipt_handle).collect();
                let out = sqs.delete("q", handles).await.expect("delete");
                deleted += out.iter().filter(|r| matches!(r, Ok(true))).count();
            }
            i64::try_from(deleted).expect("a count")
        });
        assert!(
            db::WRITTEN_ON_PARK.get() > 0,
            "the runtime's thread wrote groups itself"
        );
        drop(sqs);
        drop(runtime);
        let again = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                let again = reopen(&path).await;
                again.stats().await.expect("stats")
            });
        assert_eq!(
            (again[0].visible + again[0].in_flight, again[0].delayed),
            (SENT - deleted, 0),
            "all sends kept, the deletes written"
        );
        let _ = std::fs::remove_file(&path);
    }
}
