//! The same aws-sdk-sqs load against several SQS-compatible servers, in one run: N messages
//! of ~200 bytes sent with SendMessageBatch ×10, 8 batches in flight; then 8 consumers doing
//! ReceiveMessage ×10 + DeleteMessageBatch until all are gone. Optionally, end-to-end jobs/s
//! through a real worker process (overtime's poller) against each server.
//!
//! Run by `scripts/bench-dev`, which starts the servers:
//! `BENCH_SERVERS="overtime=http://127.0.0.1:P1=5000 rustack=http://127.0.0.1:P2=5000"
//!  BENCH_WORKER=target/release/test-worker cargo bench -p overtime-dev --bench sqs_load`
//!
//! A fourth field, the server's pid (`name=URL=N=PID`), prints the server's CPU per message in
//! each phase on stderr. `BENCH_SEND_ONLY=1` runs the sends alone and leaves the messages
//! queued, for profiling the send path (`perf record -p PID`).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const IN_FLIGHT: usize = 8;
const CONSUMERS: usize = 8;

async fn client(endpoint: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .load()
        .await;
    Client::new(&config)
}

async fn queue(c: &Client, name: &str) -> String {
    queue_with(c, name, None).await
}

/// A queue, dead-lettering to `dlq` (an ARN) after 5 receives when given.
async fn queue_with(c: &Client, name: &str, dlq: Option<&str>) -> String {
    let mut req = c.create_queue().queue_name(name);
    if let Some(arn) = dlq {
        req = req.attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#),
        );
    }
    req.send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("queue URL")
}

/// Sends `n` messages; the seconds it took.
async fn send(c: &Client, url: &str, n: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let body = "b".repeat(194);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (c, url, next, body) = (c.clone(), url.to_owned(), next.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let from = next.fetch_add(10, Ordering::SeqCst);
                if from >= n {
                    return;
                }
                let mut req = c.send_message_batch().queue_url(&url);
                for i in from..(from + 10).min(n) {
                    req = req.entries(
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(format!("{i:06}{body}"))
                            .build()
                            .expect("entry"),
                    );
                }
                let out = req.send().await.expect("SendMessageBatch");
                assert!(out.failed.is_empty(), "{:?}", out.failed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    start.elapsed().as_secs_f64()
}

/// Receives and deletes until `n` messages were deleted; the seconds until the last delete
/// (consumers still in a long poll then are not waited for).
async fn consume(c: &Client, url: &str, n: usize) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONSUMERS {
        let (c, url, done, finished) = (c.clone(), url.to_owned(), done.clone(), finished.clone());
        tasks.push(tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < n {
                let out = c
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .expect("ReceiveMessage");
                let msgs = out.messages.unwrap_or_default();
                if msgs.is_empty() {
                    continue;
                }
                let mut req = c.delete_message_batch().queue_url(&url);
                for (i, m) in msgs.iter().enumerate() {
                    req = req.entries(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                            .expect("entry"),
                    );
                }
                let out = req.send().await.expect("DeleteMessageBatch");
                let before = done.fetch_add(out.successful.len(), Ordering::SeqCst);
                if before < n && before + out.successful.len() >= n {
                    *finished.lock().expect("lock") = Some(Instant::now());
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("consumer");
    }
    let end = finished.lock().expect("lock").unwrap_or_else(Instant::now);
    (end - start).as_secs_f64()
}

/// Jobs/s through a worker process polling `url`: sends `n` jobs, waits until its ledger
/// has `n` lines.
async fn through_worker(c: &Client, endpoint: &str, url: &str, worker: &str, n: usize) -> f64 {
    let ledger = std::env::temp_dir().join(format!("bench-ledger-{}", uuid::Uuid::new_v4()));
    let mut child = Command::new(worker)
        .env("AWS_ENDPOINT_URL_SQS", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("OVERTIME_QUEUE_URL", url)
        .env("LEDGER_PATH", &ledger)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the worker");
    let queue = overtime::Queue::new(c.clone(), url);
    let start = Instant::now();
    let jobs = (0..n).map(|i| Job {
        id: i.to_string(),
        sleep_ms: 0,
    });
    queue
        .send_all(jobs)
        .await
        .into_result()
        .expect("every job sent");
    let mut elapsed = f64::NAN;
    while start.elapsed() < Duration::from_secs(300) {
        let lines = std::fs::read_to_string(&ledger)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= n {
            elapsed = start.elapsed().as_secs_f64();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&ledger);
    assert!(
        elapsed.is_finite(),
        "the worker did not process {n} jobs in 300 s"
    );
    elapsed
}

/// The test worker's `record` job (same name and shape).
#[derive(serde::Serialize, serde::Deserialize)]
struct Job {
    id: String,
    sleep_ms: u64,
}

impl overtime::Job for Job {
    const NAME: &'static str = "record";
    type State = ();
    async fn run(self, _ctx: overtime::JobContext<()>) -> overtime::JobResult {
        Ok(())
    }
}

/// A process's user + system CPU seconds, from `/proc/PID/stat` (Linux).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime are fields 14 and 15; clock ticks are 100 a second on Linux.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

#[tokio::main]
async fn main() {
    let servers = std::env::var("BENCH_SERVERS").unwrap_or_default();
    if servers.is_empty() {
        eprintln!("set BENCH_SERVERS (scripts/bench-dev does): name=URL=messages …");
        return;
    }
    let worker = std::env::var("BENCH_WORKER").ok();
    println!("| server | messages | send msg/s | receive+delete msg/s | worker jobs/s |");
    println!("|---|---:|---:|---:|---:|");
    for spec in servers.split_whitespace() {
        let mut parts = spec.splitn(4, '=');
        let (Some(name), Some(endpoint), Some(n)) = (parts.next(), parts.next(), parts.next())
        else {
            eprintln!("bad server spec {spec:?}: name=URL=messages[=server pid]");
            continue;
        };
        let n: usize = n.parse().expect("message count");
        let pid = parts.next().map(str::to_owned);
        let c = client(endpoint).await;
        let url = queue(&c, &format!("bench-{}", uuid::Uuid::new_v4().simple())).await;
        let cpu0 = pid.as_deref().and_then(cpu_seconds);
        let send_s = send(&c, &url, n).await;
        let cpu1 = pid.as_deref().and_then(cpu_seconds);
        // BENCH_SEND_ONLY=1 leaves the messages queued (for profiling the send path alone).
        let recv_s = if std::env::var_os("BENCH_SEND_ONLY").is_some() {
            f64::NAN
        } else {
            consume(&c, &url, n).await
        };
        let cpu2 = pid.as_deref().and_then(cpu_seconds);
        if let (Some(before), Some(sent), Some(consumed)) = (cpu0, cpu1, cpu2) {
            // The server's CPU per message in each phase, on stderr (scripts/bench-dev-rounds).
            eprintln!(
                "cpu {name} send_us_per_msg {:.1} receive_delete_us_per_msg {:.1}",
                (sent - before) * 1e6 / n as f64,
                (consumed - sent) * 1e6 / n as f64
            );
        }
        let jobs = match &worker {
            Some(w) => {
                // The worker wants a dead-letter queue to put failures in.
                let wname = format!("bench-w-{}", uuid::Uuid::new_v4().simple());
                let dlq = queue(&c, &format!("{wname}-dlq")).await;
                let arn = c
                    .get_queue_attributes()
                    .queue_url(&dlq)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .expect("GetQueueAttributes")
                    .attributes
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                            .cloned()
                    })
                    .expect("QueueArn");
                let wurl = queue_with(&c, &wname, Some(&arn)).await;
                let s = through_worker(&c, endpoint, &wurl, w, n).await;
                format!("{:.0}", n as f64 / s)
            }
            None => "-".into(),
        };
        println!(
            "| {name} | {n} | {:.0} | {:.0} | {jobs} |",
            n as f64 / send_s,
            n as f64 / recv_s
        );
    }
}
