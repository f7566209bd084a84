//! Overhead of slicing: a 100,000-item run whose steps do real work (hashing), run as a chunked
//! job under a 2 s slice budget (so ≥ 20 slices, each checkpointed in SQLite and enqueued on a
//! real SQS-compatible server) against the same work in one uninterrupted loop, in the same
//! process, one after the other. Prints wall times and the ratio.
//!
//! Needs an SQS endpoint: `scripts/bench-chunk` starts moto's server and runs this bench.

use overtime::chunk::{Advance, ChunkOptions, Chunked, SliceContext};
use overtime::store::{RunStatus, RunStore, SqliteStore};
use overtime::worker::Stop;
use overtime::{Job, JobContext, JobError, JobResult, Message, Queue, Worker};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::time::{Duration, Instant};

const ITEMS: u64 = 100_000;
const PER_STEP: u64 = 500;
const BUDGET: Duration = Duration::from_secs(2);

/// The real work of one item: about 0.4 ms of hashing (10,000 rounds; `BENCH_ROUNDS` to change).
fn work(item: u64) -> u8 {
    let mut digest = Sha256::digest(item.to_le_bytes());
    for _ in 0..rounds() {
        digest = Sha256::digest(digest);
    }
    digest[0]
}

fn rounds() -> u32 {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

#[derive(Serialize, Deserialize)]
struct Hash {
    items: u64,
}

impl Job for Hash {
    const NAME: &'static str = "hash";
    type State = ();
    async fn run(self, ctx: JobContext<()>) -> JobResult {
        ctx.run_slice(self).await
    }
}

impl Chunked for Hash {
    type Cursor = u64;

    fn chunking() -> ChunkOptions {
        ChunkOptions::default().budget(BUDGET)
    }

    fn start(&self) -> u64 {
        0
    }

    async fn advance(
        &self,
        next: u64,
        ctx: &mut SliceContext<'_, ()>,
    ) -> Result<Advance<u64>, JobError> {
        let end = (next + PER_STEP).min(self.items);
        let mut acc = 0u8;
        for item in next..end {
            acc ^= work(item);
        }
        black_box(acc);
        ctx.progress(end - next);
        Ok(if end == self.items {
            Advance::Done
        } else {
            Advance::To(end)
        })
    }
}

fn uninterrupted() -> Duration {
    let started = Instant::now();
    let mut acc = 0u8;
    for item in 0..ITEMS {
        acc ^= work(item);
    }
    black_box(acc);
    started.elapsed()
}

async fn chunked(endpoint: &str) -> (Duration, u64) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "bench",
        ))
        .load()
        .await;
    let client = aws_sdk_sqs::Client::new(&config);
    let name = format!("bench-chunk-{}", uuid::Uuid::new_v4().simple());
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("dlq");
    let dlq_url = dlq.queue_url().unwrap_or_default().to_owned();
    let queue = client
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("queue");
    let url = queue.queue_url().unwrap_or_default().to_owned();
    let path = std::env::temp_dir().join(format!("{name}.db"));
    let store = SqliteStore::open(&path).expect("store");
    let worker = Worker::new()
        .client(client.clone())
        .dead_letter_queue(dlq_url)
        .store(store.clone())
        .job::<Hash>();
    let queue = Queue::new(client.clone(), &url);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = Stop::when(async move {
        let _ = stop_rx.await;
    });
    let poller = tokio::spawn(worker.poll(queue.clone(), stop));
    // Let the poller start before the clock does.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let sent = queue
        .send(Message::from_json("hash", &format!("{{\"items\":{ITEMS}}}")).expect("message"))
        .await
        .expect("send");
    let run = loop {
        if let Some(run) = store.get(&sent.job_id).await.expect("store")
            && run.status().is_final()
        {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let took = started.elapsed();
    assert_eq!(run.status(), RunStatus::Done);
    assert_eq!(run.items_done(), ITEMS);
    let _ = stop_tx.send(());
    let _ = poller.await;
    let _ = std::fs::remove_file(path);
    (took, run.slice() + 1)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let Ok(endpoint) = std::env::var("OVERTIME_BENCH_SQS_ENDPOINT") else {
        eprintln!("set OVERTIME_BENCH_SQS_ENDPOINT (scripts/bench-chunk starts moto and sets it)");
        std::process::exit(2);
    };
    let before = uninterrupted();
    let (sliced, slices) = chunked(&endpoint).await;
    let after = uninterrupted();
    let baseline = (before + after) / 2;
    println!("slicing overhead: {ITEMS} items, {BUDGET:?} budget");
    println!(
        "  uninterrupted loop: {:.2} s (runs {:.2} s and {:.2} s)",
        baseline.as_secs_f64(),
        before.as_secs_f64(),
        after.as_secs_f64()
    );
    println!(
        "  chunked:            {:.2} s in {slices} slices",
        sliced.as_secs_f64()
    );
    println!(
        "  ratio:              {:.3}x",
        sliced.as_secs_f64() / baseline.as_secs_f64()
    );
}
