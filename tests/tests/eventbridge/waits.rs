//! `ctx.wait_for_event` end to end: a real `overtime dev` (its SQS and EventBridge), a worker
//! polling it with the SQLite run store, the wake listener's rule as `infra/overtime.toml`
//! declares it. A run resumes with the event (once, though the timeout's message also comes),
//! another times out, and an event sent before the wait began does not count. Cancel on event:
//! a job stops at its next step, a chunked run at its next slice, recorded as cancelled.

use super::*;
use overtime::chunk::{Advance, ChunkOptions, Chunked, SliceContext};
use overtime::config::{LISTENER_INPUT_PATHS, Listener};
use overtime::events::{EventBus, OutgoingEvent};
use overtime::store::{RunStatus, RunStore, SqliteStore};
use overtime::wait::{CancelOn, Match, WAKE_JOB};
use overtime::worker::Stop;
use overtime::{Job, JobContext, JobError, JobResult, Queue, Worker};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<String>>>);

impl Calls {
    fn push(&self, s: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push(s);
        }
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
    fn count(&self, s: &str) -> usize {
        self.all().iter().filter(|c| *c == s).count()
    }
}

/// Waits for `payment.succeeded` with its order id, then says how it ended.
#[derive(Serialize, Deserialize)]
struct AwaitPayment {
    order: String,
    timeout_ms: u64,
}

#[derive(Deserialize)]
struct Paid {
    cents: u64,
}

impl Job for AwaitPayment {
    const NAME: &'static str = "await-payment";
    type State = Calls;

    async fn run(self, ctx: JobContext<Calls>) -> JobResult {
        let calls = ctx.state().clone();
        calls.push(format!("started {}", self.order));
        let on = Match::field("data.order_id", &self.order);
        let timeout = Duration::from_millis(self.timeout_ms);
        match ctx
            .wait_for_event::<Paid>("paid", "payment.succeeded", on, timeout)
            .await?
        {
            Some(paid) => calls.push(format!("paid {} {}", self.order, paid.data.cents)),
            None => calls.push(format!("timed out {}", self.order)),
        }
        calls.push(format!("done {}", self.order));
        Ok(())
    }
}

/// Packs, waits for the courier, ships; cancelled by `order.cancelled` for its order.
#[derive(Serialize, Deserialize)]
struct Fulfil {
    order: String,
}

impl Job for Fulfil {
    const NAME: &'static str = "fulfil";
    type State = Calls;

    async fn run(self, ctx: JobContext<Calls>) -> JobResult {
        let calls = ctx.state().clone();
        calls.push(format!("started {}", self.order));
        ctx.step("pack", || async {
            calls.push(format!("packed {}", self.order));
            Ok(())
        })
        .await?;
        ctx.sleep("courier", Duration::from_millis(1_500)).await?;
        ctx.step("ship", || async {
            calls.push(format!("shipped {}", self.order));
            Ok(())
        })
        .await?;
        Ok(())
    }

    fn cancel_on(&self) -> Option<CancelOn> {
        Some(CancelOn::new(
            "order.cancelled",
            Match::field("data.order_id", &self.order),
        ))
    }
}

/// Counts to `to`, one item every 20 ms, in slices of 100 ms; cancelled like `Fulfil`.
#[derive(Serialize, Deserialize)]
struct Tally {
    order: String,
    to: u64,
}

impl Job for Tally {
    const NAME: &'static str = "tally";
    type State = Calls;

    async fn run(self, ctx: JobContext<Calls>) -> JobResult {
        ctx.run_slice(self).await
    }

    fn cancel_on(&self) -> Option<CancelOn> {
        Some(CancelOn::new(
            "order.cancelled",
            Match::field("data.order_id", &self.order),
        ))
    }
}

impl Chunked for Tally {
    type Cursor = u64;

    fn start(&self) -> u64 {
        0
    }

    async fn advance(
        &self,
        next: u64,
        ctx: &mut SliceContext<'_, Calls>,
    ) -> Result<Advance<u64>, JobError> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ctx.progress(1);
        ctx.state().push(format!("counted {}", self.order));
        Ok(if next + 1 >= self.to {
            Advance::Done
        } else {
            Advance::To(next + 1)
        })
    }

    fn chunking() -> ChunkOptions {
        ChunkOptions::from_env().budget(Duration::from_millis(100))
    }
}

struct Setup {
    dev: Dev,
    bus: EventBus,
    queue: Queue,
    calls: Calls,
    _stop: tokio::sync::oneshot::Sender<()>,
    poller: Option<tokio::task::JoinHandle<Result<(), overtime::worker::PollerError>>>,
    store: Arc<SqliteStore>,
}

/// overtime dev, a queue `jobs`, the wake listener's rule on the default bus, a worker.
async fn setup() -> Setup {
    let dev = Dev::endpoint();
    let client = dev.eventbridge();
    let (url, arn) = queue(&dev, "jobs").await;
    let (dlq, _) = queue(&dev, "jobs-dlq").await;
    let listener = Listener {
        name: "wake-payment".into(),
        event: "payment.succeeded".into(),
        job: WAKE_JOB.into(),
        queue: "jobs".into(),
        filter: None,
        line: 1,
    };
    let transformer = aws_sdk_eventbridge::types::InputTransformer::builder()
        .set_input_paths_map(Some(
            LISTENER_INPUT_PATHS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ))
        .input_template(listener.input_template())
        .build()
        .expect("transformer");
    for event in ["payment.succeeded", "order.cancelled"] {
        let listener = Listener {
            name: format!("wake-{event}"),
            event: event.into(),
            ..listener.clone()
        };
        rule_to(
            &client,
            "default",
            &listener.name,
            &listener.event_pattern(),
            target("jobs", &arn)
                .input_transformer(transformer.clone())
                .build()
                .expect("target"),
        )
        .await;
    }
    let sqs = dev.client(3).await;
    let queue = Queue::new(sqs, &url);
    let bus = EventBus::new(client, "default");
    let calls = Calls::default();
    let store = Arc::new(SqliteStore::open_in_memory().expect("store"));
    let worker = Worker::with_state(calls.clone())
        .store(store.clone())
        .dead_letter_queue(dlq)
        .job::<AwaitPayment>()
        .job::<Fulfil>()
        .job::<Tally>();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let poller = tokio::spawn(worker.poll(
        queue.clone(),
        Stop::when(async move {
            let _ = stop_rx.await;
        }),
    ));
    Setup {
        dev,
        bus,
        queue,
        calls,
        _stop: stop,
        poller: Some(poller),
        store,
    }
}

impl Setup {
    /// Polls until `done` or 30 s.
    async fn until(&self, what: &str, done: impl Fn(&Calls) -> bool) {
        let started = Instant::now();
        while !done(&self.calls) {
            assert!(
                !self.poller.as_ref().is_some_and(|p| p.is_finished()),
                "the worker stopped"
            );
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{what}: {:?}\n{}",
                self.calls.all(),
                self.dev.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until the run `job_id` is registered as waiting at step `paid`.
    async fn until_waiting(&self, job_id: &str) {
        let started = Instant::now();
        while self
            .store
            .step(job_id, "wait:paid:since")
            .await
            .expect("store")
            .is_none()
        {
            assert!(started.elapsed() < Duration::from_secs(30), "never waited");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn pay(&self, order: &str, cents: u64) {
        self.send(
            "payment.succeeded",
            json!({"order_id": order, "cents": cents}),
        )
        .await;
    }

    async fn send(&self, name: &'static str, data: serde_json::Value) {
        let event = OutgoingEvent::from_json(name, &data.to_string()).expect("event");
        self.bus.send(event).await.expect("PutEvents");
    }

    /// Polls until the queue holds no message, visible or not.
    async fn until_queue_empty(&self) {
        let sqs = self.dev.client(3).await;
        let started = Instant::now();
        loop {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(self.queue.url())
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .expect("GetQueueAttributes");
            let n = |k| {
                attrs
                    .attributes()
                    .and_then(|a| a.get(&k))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1)
            };
            use aws_sdk_sqs::types::QueueAttributeName as A;
            if n(A::ApproximateNumberOfMessages) == 0
                && n(A::ApproximateNumberOfMessagesNotVisible) == 0
                && n(A::ApproximateNumberOfMessagesDelayed) == 0
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never consumed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until the run `run` has a step `step`.
    async fn until_step(&self, run: &str, step: &str) {
        let started = Instant::now();
        while self.store.step(run, step).await.expect("store").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no step {step}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the worker: aborted, not asked (asked, it would finish its 20 s long poll), once
    /// the test has seen what it checks.
    async fn stop(mut self) {
        if let Some(poller) = self.poller.take() {
            poller.abort();
        }
    }
}

#[tokio::test]
async fn a_run_resumes_with_the_event_once_though_the_timeouts_message_comes_too() {
    let s = setup().await;
    let sent = s
        .queue
        .send(AwaitPayment {
            order: "o1".into(),
            timeout_ms: 3_000,
        })
        .await
        .expect("send");
    s.until_waiting(&sent.job_id).await;
    s.pay("o-other", 1).await; // another order's payment does not end this wait
    s.pay("o1", 500).await;
    s.until("resumed", |c| c.count("done o1") == 1).await;
    assert_eq!(s.calls.count("paid o1 500"), 1, "{:?}", s.calls.all());
    // The timeout's message comes at 3 s, runs to the wait and is superseded.
    s.until("the timeout's message came", |c| c.count("started o1") == 3)
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.calls.count("done o1"), 1, "{:?}", s.calls.all());
    assert_eq!(s.calls.count("timed out o1"), 0, "{:?}", s.calls.all());
    s.stop().await;
}

#[tokio::test]
async fn a_run_with_no_event_times_out_once() {
    let s = setup().await;
    s.queue
        .send(AwaitPayment {
            order: "o2".into(),
            timeout_ms: 1_500,
        })
        .await
        .expect("send");
    s.until("timed out", |c| c.count("done o2") == 1).await;
    assert_eq!(
        s.calls.all(),
        ["started o2", "started o2", "timed out o2", "done o2"]
    );
    s.stop().await;
}

#[tokio::test]
async fn an_event_sent_before_the_wait_began_does_not_count() {
    let s = setup().await;
    s.pay("o3", 700).await;
    // The message is on the queue when PutEvents answers: once the queue is empty again the
    // wake job has seen it (no run waited). Then the next second begins, since an event
    // counts from the second its wait began.
    s.until_queue_empty().await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    s.queue
        .send(AwaitPayment {
            order: "o3".into(),
            timeout_ms: 1_500,
        })
        .await
        .expect("send");
    s.until("timed out", |c| c.count("done o3") == 1).await;
    assert_eq!(s.calls.count("timed out o3"), 1, "{:?}", s.calls.all());
    assert_eq!(s.calls.count("paid o3 700"), 0, "{:?}", s.calls.all());
    s.stop().await;
}

#[tokio::test]
async fn a_job_cancelled_by_an_event_stops_at_its_next_step() {
    let s = setup().await;
    let sent = s
        .queue
        .send(Fulfil { order: "o4".into() })
        .await
        .expect("send");
    s.until("packed", |c| c.count("packed o4") == 1).await;
    s.until_step(&sent.job_id, "cancel:since").await;
    s.send("order.cancelled", json!({"order_id": "o-other"}))
        .await;
    s.send("order.cancelled", json!({"order_id": "o4"})).await;
    s.until_step(&sent.job_id, "cancel").await;
    // The sleep's message comes back and stops before the next step: nothing is left.
    s.until_queue_empty().await;
    assert_eq!(s.calls.count("shipped o4"), 0, "{:?}", s.calls.all());
    assert_eq!(s.calls.count("packed o4"), 1, "{:?}", s.calls.all());
    s.stop().await;
}

#[tokio::test]
async fn a_chunked_run_cancelled_by_an_event_stops_at_its_next_slice() {
    let s = setup().await;
    let sent = s
        .queue
        .send(Tally {
            order: "o5".into(),
            to: 10_000,
        })
        .await
        .expect("send");
    s.until("counting", |c| c.count("counted o5") >= 3).await;
    s.until_step(&sent.job_id, "cancel:since").await;
    s.send("order.cancelled", json!({"order_id": "o5"})).await;
    let started = Instant::now();
    let run = loop {
        let run = s
            .store
            .get(&sent.job_id)
            .await
            .expect("store")
            .expect("the run");
        if run.status() == RunStatus::Cancelled {
            break run;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{run:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(run.items_done() < 10_000, "{run:?}");
    let counted = s.calls.count("counted o5");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.calls.count("counted o5"), counted, "nothing runs after");
    s.stop().await;
}
