//! `ctx.wait_for_event` end to end: a real `overtime dev` (its SQS and EventBridge), a worker
//! polling it with the SQLite run store, the wake listener's rule as `infra/overtime.toml`
//! declares it. A run resumes with the event (once, though the timeout's message also comes),
//! another times out, and an event sent before the wait began does not count.

use super::*;
use overtime::config::{LISTENER_INPUT_PATHS, Listener};
use overtime::events::{EventBus, OutgoingEvent};
use overtime::store::{RunStore, SqliteStore};
use overtime::wait::{Match, WAKE_JOB};
use overtime::worker::Stop;
use overtime::{Job, JobContext, JobResult, Queue, Worker};
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
    let client = eventbridge(&dev);
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
    rule_to(
        &client,
        "default",
        "wake-payment",
        &listener.event_pattern(),
        target("jobs", &arn)
            .input_transformer(transformer)
            .build()
            .expect("target"),
    )
    .await;
    let sqs = dev.client(3).await;
    let queue = Queue::new(sqs, &url);
    let bus = EventBus::new(client, "default");
    let calls = Calls::default();
    let store = Arc::new(SqliteStore::open_in_memory().expect("store"));
    let worker = Worker::with_state(calls.clone())
        .store(store.clone())
        .dead_letter_queue(dlq)
        .job::<AwaitPayment>();
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
        let event = OutgoingEvent::from_json(
            "payment.succeeded",
            &json!({"order_id": order, "cents": cents}).to_string(),
        )
        .expect("event");
        self.bus.send(event).await.expect("PutEvents");
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
    let sqs = s.dev.client(3).await;
    let started = Instant::now();
    loop {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(s.queue.url())
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
        let seen = n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages) == 0
            && n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                == 0;
        if seen {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never consumed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
