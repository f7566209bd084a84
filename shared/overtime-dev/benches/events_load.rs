//! The same aws-sdk-eventbridge load against several EventBridge-compatible servers, in one
//! run: a bus with three rules matching one event, each targeting its own SQS queue; N events
//! sent with PutEvents ×10, 8 calls in flight, while receivers long-poll the three queues.
//! Measured: events/s accepted (the wall time of the whole send phase), and for every copy of
//! an accepted event the time from its PutEvents answer to its first receive (p50, p99). Then
//! the same on a fresh bus at a pace the receivers keep up with (one call every 10 ms), where
//! that latency is the server's rather than the receivers' backlog.
//! Optionally, PutEvents → a listener's job starting in a real worker process that overtime
//! dev runs through its event source mapping.
//!
//! Run by `scripts/bench-events`, which starts the servers:
//! `BENCH_SERVERS="overtime-dev=http://127.0.0.1:P1=10000 rustack=http://127.0.0.1:P2=10000"
//!  BENCH_JOBS="http://127.0.0.1:P3=200=LEDGER" cargo bench -p overtime-dev --bench events_load`
//!
//! A fourth field of a server, its pid (`name=URL=N=PID`), prints its CPU per event sent on
//! stderr. `BENCH_JOBS` names an overtime dev running the whole topology of a project `bench`
//! whose listener of `bench.ping` starts the test worker's `record` job, the events to send one
//! at a time, and the worker's ledger file.

use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The throughput load: calls in flight, no pause.
const SATURATING: Load = Load {
    name: "8 in flight",
    in_flight: 8,
    pause: Duration::ZERO,
};
/// A load the bench's receivers keep up with on 2 cores (at most 1,000 events/s, 3,000 copies/s), so
/// the latency is the server's, not the receivers' backlog.
const PACED: Load = Load {
    name: "1 call, 10 ms pauses",
    in_flight: 1,
    pause: Duration::from_millis(10),
};
/// PutEvents' most entries a call. Source: Amazon EventBridge API reference, PutEvents.
const BATCH: usize = 10;
const RECEIVERS_PER_QUEUE: usize = 2;
/// How long receivers go on after the last answer for copies not yet received.
const DRAIN: Duration = Duration::from_secs(10);
/// Three rules, each matching the bench's events through a different part of the pattern
/// language, each with one queue target.
const PATTERNS: [&str; 3] = [
    r#"{"source":["bench.load"]}"#,
    r#"{"detail-type":["tick"],"detail":{"kind":["tick"]}}"#,
    r#"{"source":[{"prefix":"bench."}],"detail":{"seq":[{"numeric":[">=",0]}]}}"#,
];

async fn clients(endpoint: &str) -> (aws_sdk_eventbridge::Client, aws_sdk_sqs::Client) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .load()
        .await;
    (
        aws_sdk_eventbridge::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    )
}

/// A fresh bus, its three rules and their queues; the bus's name and the queues' URLs.
async fn topology(
    eb: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
) -> (String, Vec<String>) {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let bus = format!("bench-{tag}");
    eb.create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("CreateEventBus");
    let mut urls = Vec::new();
    for (i, pattern) in PATTERNS.iter().enumerate() {
        let url = sqs
            .create_queue()
            .queue_name(format!("bench-{tag}-{i}"))
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue URL");
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("QueueArn");
        let rule = format!("rule-{i}");
        eb.put_rule()
            .event_bus_name(&bus)
            .name(&rule)
            .event_pattern(*pattern)
            .send()
            .await
            .expect("PutRule");
        let out = eb
            .put_targets()
            .event_bus_name(&bus)
            .rule(&rule)
            .targets(
                Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("PutTargets");
        assert_eq!(out.failed_entry_count, 0, "{:?}", out.failed_entries);
        urls.push(url);
    }
    (bus, urls)
}

/// How events are sent: calls of 10 in flight at once, each sender pausing between calls.
#[derive(Clone, Copy)]
struct Load {
    name: &'static str,
    in_flight: usize,
    pause: Duration,
}

/// Nanoseconds since the run's start, 0 for "not yet": one slot per event.
struct Times(Vec<AtomicU64>);

impl Times {
    fn new(n: usize) -> Self {
        Times((0..n).map(|_| AtomicU64::new(0)).collect())
    }
    /// Sets slot `i` if unset; whether it was.
    fn first(&self, i: usize, start: Instant) -> bool {
        let t = start.elapsed().as_nanos() as u64 + 1;
        self.0[i]
            .compare_exchange(0, t, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
    fn get(&self, i: usize) -> Option<u64> {
        Some(self.0[i].load(Ordering::SeqCst)).filter(|t| *t != 0)
    }
}

/// The bench's event number in a delivered body (the event as EventBridge delivers it).
fn seq_of(body: &str) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["detail"]["seq"].as_u64().map(|s| s as usize)
}

/// Sends `n` events; the seconds it took, and the refused entries by error code.
async fn send(
    eb: &aws_sdk_eventbridge::Client,
    bus: &str,
    n: usize,
    load: Load,
    answered: &Arc<Times>,
    start: Instant,
) -> (f64, BTreeMap<String, usize>) {
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let pad = "p".repeat(160);
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..load.in_flight {
        let (eb, bus, next, pad) = (eb.clone(), bus.to_owned(), next.clone(), pad.clone());
        let (answered, refused) = (answered.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let from = next.fetch_add(BATCH, Ordering::SeqCst);
                if from >= n {
                    return;
                }
                let seqs: Vec<usize> = (from..(from + BATCH).min(n)).collect();
                let mut req = eb.put_events();
                for &seq in &seqs {
                    req = req.entries(
                        PutEventsRequestEntry::builder()
                            .event_bus_name(&bus)
                            .source("bench.load")
                            .detail_type("tick")
                            .detail(format!(r#"{{"seq":{seq},"kind":"tick","pad":"{pad}"}}"#))
                            .build(),
                    );
                }
                let out = req.send().await;
                let refused = |code: &str, k: usize| {
                    *refused
                        .lock()
                        .expect("lock")
                        .entry(code.to_owned())
                        .or_default() += k;
                };
                match out {
                    Ok(out) => {
                        for (seq, entry) in seqs.iter().zip(out.entries()) {
                            if entry.event_id().is_some() {
                                answered.first(*seq, start);
                            } else {
                                refused(entry.error_code().unwrap_or("?"), 1);
                            }
                        }
                    }
                    Err(e) => refused(&format!("call failed: {e}"), seqs.len()),
                }
                if !load.pause.is_zero() {
                    tokio::time::sleep(load.pause).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let elapsed = began.elapsed().as_secs_f64();
    let refused = refused.lock().expect("lock").clone();
    (elapsed, refused)
}

/// Long-polls `url` until `stop`, recording when each event is first received there and
/// deleting what it received; the number of receives of a copy already seen.
async fn receive(
    sqs: aws_sdk_sqs::Client,
    url: String,
    received: Arc<Times>,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> usize {
    let mut again = 0;
    while !stop.load(Ordering::SeqCst) {
        let Ok(out) = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
        else {
            continue;
        };
        let msgs = out.messages.unwrap_or_default();
        if msgs.is_empty() {
            continue;
        }
        let mut del = sqs.delete_message_batch().queue_url(&url);
        for (i, m) in msgs.iter().enumerate() {
            match m.body().and_then(seq_of) {
                Some(seq) if seq < received.0.len() => {
                    if !received.first(seq, start) {
                        again += 1;
                    }
                }
                _ => eprintln!("an unexpected message on {url}: {:?}", m.body()),
            }
            del = del.entries(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("entry"),
            );
        }
        // Deleted off the receive path, so the next long poll starts at once.
        tokio::spawn(async move { del.send().await });
    }
    again
}

/// Percentile `p` (0–100) of sorted `v`.
fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p / 100.0).round() as usize]
}

/// A process's user + system CPU seconds, from `/proc/PID/stat` (Linux).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime are fields 14 and 15; clock ticks are 100 a second on Linux.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// What one server did.
struct Run {
    accepted_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn phase(name: &str, endpoint: &str, n: usize, load: Load, pid: Option<&str>) -> Run {
    let (eb, sqs) = clients(endpoint).await;
    let (bus, urls) = topology(&eb, &sqs).await;
    let start = Instant::now();
    let answered = Arc::new(Times::new(n));
    let received: Vec<Arc<Times>> = urls.iter().map(|_| Arc::new(Times::new(n))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let mut receivers = Vec::new();
    for (url, times) in urls.iter().zip(&received) {
        for _ in 0..RECEIVERS_PER_QUEUE {
            receivers.push(tokio::spawn(receive(
                sqs.clone(),
                url.clone(),
                times.clone(),
                start,
                stop.clone(),
            )));
        }
    }
    let cpu0 = pid.and_then(cpu_seconds);
    let (send_s, refused) = send(&eb, &bus, n, load, &answered, start).await;
    let cpu1 = pid.and_then(cpu_seconds);
    let accepted: Vec<usize> = (0..n).filter(|i| answered.get(*i).is_some()).collect();
    let all_in = || {
        received
            .iter()
            .all(|r| accepted.iter().all(|i| r.get(*i).is_some()))
    };
    let drain_from = Instant::now();
    while drain_from.elapsed() < DRAIN && !all_in() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut again = 0;
    for r in receivers {
        again += r.await.expect("receiver");
    }
    let (mut lat, mut lost, mut early) = (Vec::new(), 0, 0);
    for r in &received {
        for &i in &accepted {
            let answer = answered.get(i).expect("accepted");
            match r.get(i) {
                // A copy received before its answer was read was receivable by then: 0.
                Some(t) if t < answer => {
                    early += 1;
                    lat.push(0.0);
                }
                Some(t) => lat.push((t - answer) as f64 / 1e6),
                None => lost += 1,
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    let run = Run {
        accepted_per_s: accepted.len() as f64 / send_s,
        p50_ms: pct(&lat, 50.0),
        p99_ms: pct(&lat, 99.0),
    };
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        eprintln!(
            "cpu {name} ({}) send_us_per_event {:.1}",
            load.name,
            (b - a) * 1e6 / n as f64
        );
    }
    println!(
        "| {name} | {} | {n} | {} | {refused:?} | {:.0} | {:.2} | {:.2} | {:.2} | {early} | {lost} | {again} |",
        load.name,
        accepted.len(),
        run.accepted_per_s,
        run.p50_ms,
        run.p99_ms,
        pct(&lat, 100.0),
    );
    run
}

/// PutEvents → the listener's job running in the worker: `n` events one at a time, each sent
/// once the previous one's job ran; milliseconds from each call's start and from its answer.
async fn job_start(endpoint: &str, n: usize, ledger: &str) -> (Vec<f64>, Vec<f64>) {
    let (eb, _) = clients(endpoint).await;
    let start = Instant::now();
    let ran = Arc::new(Mutex::new(HashMap::<String, Duration>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // The ledger is read every 200 µs on a thread of its own, so its reads wait for nothing.
    let tail = {
        let (ran, stop, ledger) = (ran.clone(), stop.clone(), ledger.to_owned());
        std::thread::spawn(move || {
            let mut text = String::new();
            let mut file = None;
            while !stop.load(Ordering::SeqCst) {
                if file.is_none() {
                    file = std::fs::File::open(&ledger).ok();
                }
                let before = text.len();
                if let Some(f) = file.as_mut() {
                    let _ = f.read_to_string(&mut text);
                }
                if text.len() > before {
                    let now = start.elapsed();
                    let mut ran = ran.lock().expect("lock");
                    // Only whole lines; a partial last one is read again next time.
                    let whole = text.rfind('\n').map_or(0, |i| i + 1);
                    for line in text[..whole].lines() {
                        if let Some(id) = line.split_whitespace().nth(1) {
                            ran.entry(id.to_owned()).or_insert(now);
                        }
                    }
                    text.drain(..whole);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let bus = "bench-events";
    let (mut from_call, mut from_answer) = (Vec::new(), Vec::new());
    // The first events start the worker's process: not counted.
    let warm = 5;
    for seq in 0..n + warm {
        let id = format!("j{seq}-{}", uuid::Uuid::new_v4().simple());
        let called = start.elapsed();
        let out = eb
            .put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source("overtime")
                    .detail_type("bench.ping")
                    .detail(format!(
                        r#"{{"id":"{id}","data":{{"id":"{id}","sleep_ms":0}}}}"#
                    ))
                    .build(),
            )
            .send()
            .await
            .expect("PutEvents");
        let answered = start.elapsed();
        assert_eq!(out.failed_entry_count, 0, "{:?}", out.entries);
        let waited = Instant::now();
        let at = loop {
            if let Some(t) = ran.lock().expect("lock").get(&id) {
                break Some(*t);
            }
            if waited.elapsed() > Duration::from_secs(30) {
                break None;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        };
        let at = at.unwrap_or_else(|| panic!("the job of event {seq} did not run in 30 s"));
        if seq >= warm {
            from_call.push((at - called).as_secs_f64() * 1e3);
            from_answer.push(at.saturating_sub(answered).as_secs_f64() * 1e3);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    tail.join().expect("ledger reader");
    from_call.sort_by(f64::total_cmp);
    from_answer.sort_by(f64::total_cmp);
    (from_call, from_answer)
}

#[tokio::main]
async fn main() {
    let servers = std::env::var("BENCH_SERVERS").unwrap_or_default();
    if servers.is_empty() {
        eprintln!("set BENCH_SERVERS (scripts/bench-events does): name=URL=events …");
        return;
    }
    println!(
        "| server | load | events | accepted | refused | events/s accepted | answer→receivable p50 ms | p99 ms | max ms | received before the answer | never received | received again |"
    );
    println!("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut runs = Vec::new();
    for spec in servers.split_whitespace() {
        let mut parts = spec.splitn(4, '=');
        let (Some(name), Some(endpoint), Some(n)) = (parts.next(), parts.next(), parts.next())
        else {
            eprintln!("bad server spec {spec:?}: name=URL=events[=server pid]");
            continue;
        };
        let n: usize = n.parse().expect("event count");
        let pid = parts.next();
        let saturating = phase(name, endpoint, n, SATURATING, pid).await;
        let paced = phase(name, endpoint, (n / 5).max(200), PACED, pid).await;
        runs.push((name.to_owned(), saturating, paced));
    }
    if let Some(((ours, a, a_paced), rest)) = runs.split_first() {
        for (peer, b, b_paced) in rest {
            println!(
                "\nratio {ours} / {peer}: events/s {:.2}; answer→receivable at 8 in flight p50 {:.2}, p99 {:.2}; paced p50 {:.2}, p99 {:.2}",
                a.accepted_per_s / b.accepted_per_s,
                a.p50_ms / b.p50_ms,
                a.p99_ms / b.p99_ms,
                a_paced.p50_ms / b_paced.p50_ms,
                a_paced.p99_ms / b_paced.p99_ms
            );
        }
    }
    if let Ok(jobs) = std::env::var("BENCH_JOBS") {
        let parts: Vec<&str> = jobs.splitn(3, '=').collect();
        let [endpoint, n, ledger] = parts[..] else {
            eprintln!("bad BENCH_JOBS {jobs:?}: URL=events=LEDGER");
            return;
        };
        let n: usize = n.parse().expect("event count");
        let (call, answer) = job_start(endpoint, n, ledger).await;
        println!(
            "\nPutEvents → job start (overtime dev, listener → queue → mapping → test-worker), {n} events one at a time: from the call p50 {:.2} ms, p99 {:.2} ms; from the answer p50 {:.2} ms, p99 {:.2} ms",
            pct(&call, 50.0),
            pct(&call, 99.0),
            pct(&answer, 50.0),
            pct(&answer, 99.0)
        );
    }
}
