//! Chunked runs through a real worker process against the SQS server under test, with the
//! SQLite and the DynamoDB run stores (moto's or `overtime dev`'s DynamoDB, whichever serves
//! SQS): work that needs many slices under a 1-second budget runs every item exactly once, in
//! order, and completes once.

mod faults;
mod runs;

use overtime::store::{RunRecord, RunStatus, RunStore, SqliteStore};
use overtime::worker::Stop;
use overtime::{Message, Queue};
use overtime_tests::lambda::Function;
use overtime_tests::{QueueSpec, Sqs, sqs};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Run {
    ledger: PathBuf,
    store: Arc<dyn RunStore>,
    env: Vec<(&'static str, String)>,
    queue: Queue,
    sqs: Sqs,
    url: String,
    dlq: String,
}

async fn setup(store_spec: &str, store: Arc<dyn RunStore>) -> Run {
    let sqs = sqs().await;
    let q = sqs.queue("chunk", QueueSpec::with_dlq(5)).await;
    let ledger =
        std::env::temp_dir().join(format!("overtime-chunk-ledger-{}", uuid::Uuid::new_v4()));
    let mut env = sqs.env();
    env.push(("OVERTIME_QUEUE_URL", q.url.clone()));
    env.push(("OVERTIME_RUN_STORE", store_spec.to_owned()));
    env.push(("OVERTIME_SLICE_BUDGET_SECS", "1".to_owned()));
    env.push(("LEDGER_PATH", ledger.display().to_string()));
    Run {
        ledger,
        store,
        env,
        queue: Queue::new(sqs.client.clone(), &q.url),
        url: q.url.clone(),
        dlq: q.dlq.clone().unwrap_or_default(),
        sqs,
    }
}

/// Starts a run of `items` and returns its id.
async fn start(run: &Run, tag: &str, items: u64) -> String {
    let job = serde_json::json!({"tag": tag, "items": items, "per_step": 2, "step_ms": 40});
    let sent = run
        .queue
        .send(Message::from_json("count", &job.to_string()).expect("message"))
        .await
        .expect("send");
    sent.job_id
}

async fn wait_for_end(store: &dyn RunStore, id: &str, timeout: Duration) -> RunRecord {
    let started = Instant::now();
    loop {
        if let Some(run) = store.get(id).await.expect("store")
            && run.status().is_final()
        {
            return run;
        }
        assert!(
            started.elapsed() < timeout,
            "run {id} did not end in {timeout:?}: {:?}",
            store.get(id).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `item TAG ITEM SLICE` lines of run `tag`, in ledger order, as `(item, slice)`.
fn item_lines<'a>(ledger: &'a str, tag: &'a str) -> impl Iterator<Item = (u64, u64)> + 'a {
    ledger.lines().filter_map(move |line| {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts[..] {
            ["item", t, item, slice] if t == tag => {
                Some((item.parse().expect("item"), slice.parse().expect("slice")))
            }
            _ => None,
        }
    })
}

/// Items per tag from the ledger: (item → (times processed, slices it ran in)), and done lines.
fn read_ledger(path: &PathBuf, tag: &str) -> (BTreeMap<u64, Vec<u64>>, Vec<u64>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut items: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut order = Vec::new();
    for (item, slice) in item_lines(&text, tag) {
        items.entry(item).or_default().push(slice);
        order.push(item);
    }
    let done = text.lines().filter(|l| *l == format!("done {tag}")).count();
    (items, order, done)
}

async fn exactly_once_in_order(run: Run) {
    let items = 600;
    let id = start(&run, "plain", items).await;
    let worker = Function::start("test-chunked", &run.env);
    let ended = wait_for_end(&*run.store, &id, Duration::from_secs(120)).await;
    // The last slice marks the run done in the store, returns, and only then is its message
    // deleted: killing the worker as soon as the store says done could leave that message in
    // flight. So the worker runs until the queue is empty, for at most 10 s: well under the
    // queue's 30 s visibility timeout, so a lost delete cannot be hidden by a redelivery that
    // the worker then drops, and a message still there after 10 s is one left behind.
    let drained = Instant::now();
    while run.sqs.depth(&run.url).await != (0, 0, 0) && drained.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(worker);

    assert_eq!(ended.status(), RunStatus::Done, "{ended:?}");
    assert_eq!(ended.items_done(), items);
    assert_eq!(ended.items_total(), Some(items));
    let slices = ended.slice() + 1;
    assert!(
        slices >= 10,
        "the work needed at least 10 slices of 1 s, took {slices}"
    );
    let (seen, order, done) = read_ledger(&run.ledger, "plain");
    assert_eq!(seen.len() as u64, items, "every item processed");
    assert!(
        seen.values().all(|s| s.len() == 1),
        "each item exactly once"
    );
    assert_eq!(order, (0..items).collect::<Vec<_>>(), "in order");
    assert_eq!(done, 1, "the run completed once");
    let last_slice = seen.values().filter_map(|s| s.first()).max().copied();
    assert_eq!(last_slice, Some(ended.slice()));
    assert_eq!(
        run.sqs.depth(&run.url).await,
        (0, 0, 0),
        "no slice message left"
    );
    assert_eq!(run.sqs.depth(&run.dlq).await.0, 0, "nothing dead-lettered");
    println!("{slices} slices, {items} items, each once, in order; completed once");
    let _ = std::fs::remove_file(&run.ledger);
}

/// Stores a run as given and sends its slice's message, as a worker would have.
async fn planted(run: &Run, cursor: &str, slice: u64, started_ms: i64) -> String {
    let id = format!("planted-{}", uuid::Uuid::new_v4());
    // A record as a worker would have left it, written as the stores keep it: JSON.
    let record: RunRecord = serde_json::from_value(serde_json::json!({
        "id": id, "job": "count", "status": "running", "slice": slice, "cursor": cursor,
        "successor_sent": true, "owner": null, "lease_until_ms": 0, "items_done": 0,
        "items_total": 10, "started_ms": started_ms, "updated_ms": started_ms, "error": null,
        "cancel_requested": false, "version": 0
    }))
    .expect("a run record");
    assert!(run.store.create(&record).await.expect("create"));
    let body = serde_json::json!({"v": 1, "job": "count", "id": format!("{id}.{slice}"), "run": id, "slice": slice,
        "payload": {"tag": "planted", "items": 10, "per_step": 2, "step_ms": 1}});
    run.sqs
        .client
        .send_message()
        .queue_url(&run.url)
        .message_body(body.to_string())
        .send()
        .await
        .expect("send");
    id
}

/// Records each item it processes in the worker's state.
#[derive(serde::Serialize, serde::Deserialize)]
struct Tally {
    items: u64,
    step_ms: u64,
}

impl overtime::Job for Tally {
    const NAME: &'static str = "tally";
    type State = Arc<std::sync::Mutex<Vec<u64>>>;

    async fn run(self, ctx: overtime::JobContext<Self::State>) -> overtime::JobResult {
        ctx.run_slice(self).await
    }
}

impl overtime::chunk::Chunked for Tally {
    type Cursor = u64;

    fn start(&self) -> u64 {
        0
    }

    fn chunking() -> overtime::chunk::ChunkOptions {
        // Not from the environment: the window, not a budget, is what these tests vary.
        overtime::chunk::ChunkOptions::default()
    }

    async fn advance(
        &self,
        next: u64,
        ctx: &mut overtime::chunk::SliceContext<'_, Self::State>,
    ) -> Result<overtime::chunk::Advance<u64>, overtime::JobError> {
        tokio::time::sleep(Duration::from_millis(self.step_ms)).await;
        if let Ok(mut seen) = ctx.state().lock() {
            seen.push(next);
        }
        ctx.progress(1);
        Ok(if next + 1 == self.items {
            overtime::chunk::Advance::Done
        } else {
            overtime::chunk::Advance::To(next + 1)
        })
    }
}
