//! Memoized steps and sleeps through a real worker loop on moto's SQS server, with the SQLite
//! run store: a retry resumes at the failed step, a sleep suspends and wakes, oversized results
//! and an unavailable store are handled without losing the job.

use overtime::store::{RunStore, SqliteStore};
use overtime::worker::Stop;
use overtime::{Backoff, Job, JobContext, JobError, JobResult, Queue, Worker};
use overtime_tests::{QueueSpec, sqs};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    fn push(&self, s: impl Into<String>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(s.into());
        }
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
    fn count(&self, s: &str) -> usize {
        self.all().iter().filter(|c| *c == s).count()
    }
}

/// Charge → receipt → update the database → notify; the update fails on the first attempts.
#[derive(Serialize, Deserialize)]
struct Checkout {
    order: String,
    update_fails_until: u32,
}

impl Job for Checkout {
    const NAME: &'static str = "checkout";
    type State = Calls;

    async fn run(self, ctx: JobContext<Calls>) -> JobResult {
        let calls = ctx.state().clone();
        let charge: String = ctx
            .step("charge", || async {
                calls.push("charge");
                Ok(format!("ch_{}", self.order))
            })
            .await?;
        ctx.step("receipt", || async {
            calls.push("receipt");
            Ok(())
        })
        .await?;
        ctx.step("update", || async {
            calls.push("update");
            if ctx.attempt() <= self.update_fails_until {
                return Err(JobError::retry("the database is down"));
            }
            Ok(())
        })
        .await?;
        ctx.step("notify", || async {
            calls.push("notify");
            Ok(())
        })
        .await?;
        calls.push(format!("done {charge}"));
        Ok(())
    }
}

/// Does a step, sleeps, does another.
#[derive(Serialize, Deserialize)]
struct Nap {
    secs: u64,
}

impl Job for Nap {
    const NAME: &'static str = "nap";
    type State = Calls;

    async fn run(self, ctx: JobContext<Calls>) -> JobResult {
        let calls = ctx.state().clone();
        ctx.step("before", || async {
            calls.push("before");
            Ok(())
        })
        .await?;
        ctx.sleep("nap", Duration::from_secs(self.secs)).await?;
        ctx.step("after", || async {
            calls.push("after");
            Ok(())
        })
        .await?;
        calls.push("woke");
        Ok(())
    }
}

/// A step whose result is too big for the run store.
#[derive(Serialize, Deserialize)]
struct Hoard;

impl Job for Hoard {
    const NAME: &'static str = "hoard";
    type State = Calls;

    async fn run(self, ctx: JobContext<Calls>) -> JobResult {
        ctx.state().push("tried");
        let _: String = ctx
            .step("everything", || async { Ok("x".repeat(400 * 1024)) })
            .await?;
        Ok(())
    }
}

/// Runs a worker with `store` on a fresh queue until `until(calls)` or the timeout.
async fn run_jobs(
    store: impl RunStore,
    jobs: Vec<overtime::Message>,
    until: impl Fn(&Calls) -> bool,
) -> (Calls, Vec<aws_sdk_sqs::types::Message>) {
    let sqs = sqs().await;
    let q = sqs.queue("steps", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    for job in jobs {
        queue.send(job).await.expect("send");
    }
    let calls = Calls::default();
    let worker = Worker::with_state(calls.clone())
        .store(store)
        .job::<Checkout>()
        .job::<Nap>()
        .job::<Hoard>()
        .backoff(Backoff::new(
            Duration::from_millis(200),
            Duration::from_millis(400),
        ));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let poller = tokio::spawn(worker.poll(
        queue,
        Stop::when(async move {
            let _ = stop_rx.await;
        }),
    ));
    let started = Instant::now();
    while !until(&calls) && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    poller
        .await
        .expect("joined")
        .expect("the poller stops cleanly");
    let dead = sqs.receive(&q.dlq.clone().unwrap_or_default(), 1).await;
    (calls, dead)
}

fn memory() -> SqliteStore {
    SqliteStore::open_in_memory().expect("store")
}

#[tokio::test]
async fn a_retry_resumes_at_the_failed_step() {
    let job = overtime::Message::new(&Checkout {
        order: "o1".into(),
        update_fails_until: 2,
    });
    let (calls, dead) = run_jobs(memory(), vec![job], |c| c.count("done ch_o1") == 1).await;
    assert_eq!(calls.count("done ch_o1"), 1, "{:?}", calls.all());
    assert_eq!(calls.count("charge"), 1, "charged once: {:?}", calls.all());
    assert_eq!(calls.count("receipt"), 1, "one receipt: {:?}", calls.all());
    assert_eq!(
        calls.count("update"),
        3,
        "two failures, then success: {:?}",
        calls.all()
    );
    assert_eq!(calls.count("notify"), 1);
    assert!(dead.is_empty());
}

#[tokio::test]
async fn a_sleep_suspends_the_job_and_wakes_it() {
    let job = overtime::Message::new(&Nap { secs: 2 });
    let started = Instant::now();
    let (calls, dead) = run_jobs(memory(), vec![job], |c| c.count("woke") == 1).await;
    assert_eq!(
        calls.all(),
        ["before", "after", "woke"],
        "each step once, in order"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "woke after the nap, not before"
    );
    assert!(dead.is_empty());
}

#[tokio::test]
async fn an_oversized_step_result_is_dead_lettered_with_the_reason() {
    let job = overtime::Message::new(&Hoard);
    // The poller settles what it holds before it stops: the dead letter is written by then.
    let (_, dead) = run_jobs(memory(), vec![job], |c| c.count("tried") == 1).await;
    let reason = dead
        .first()
        .and_then(|m| overtime_tests::attr(m, "overtime.dlq.reason"))
        .unwrap_or_default();
    assert!(
        reason.contains("over the run store's 358400-byte limit"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_unavailable_store_retries_the_job_and_loses_nothing() {
    let store = overtime_tests::stores::Down::new(memory(), 3);
    let job = overtime::Message::new(&Checkout {
        order: "o2".into(),
        update_fails_until: 0,
    });
    let (calls, dead) = run_jobs(store, vec![job], |c| c.count("done ch_o2") == 1).await;
    assert_eq!(calls.count("done ch_o2"), 1, "{:?}", calls.all());
    assert_eq!(calls.count("charge"), 1, "{:?}", calls.all());
    assert!(dead.is_empty());
}

#[tokio::test]
async fn steps_without_a_run_store_fail_permanently_with_the_fix() {
    let sqs = sqs().await;
    let q = sqs.queue("steps-nostore", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    queue
        .send(Checkout {
            order: "o3".into(),
            update_fails_until: 0,
        })
        .await
        .expect("send");
    let worker = Worker::with_state(Calls::default()).job::<Checkout>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let poller = tokio::spawn(worker.poll(
        queue,
        Stop::when(async move {
            let _ = stop_rx.await;
        }),
    ));
    let dlq = q.dlq.clone().unwrap_or_default();
    let dead = sqs.drain(&dlq, 1, Duration::from_secs(20)).await;
    let _ = stop_tx.send(());
    poller.await.expect("joined").expect("stops");
    let reason = dead
        .first()
        .and_then(|m| overtime_tests::attr(m, "overtime.dlq.reason"))
        .unwrap_or_default();
    assert!(
        reason.contains("needs a run store: set OVERTIME_RUN_STORE (sqlite:PATH or dynamodb:TABLE) or call Worker::store"),
        "{reason}"
    );
}
