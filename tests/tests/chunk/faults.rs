//! Chunked runs under faults: SIGKILL at random points, bad cursors and runaway runs, a
//! panicking step, an unavailable store, and the chain check that tells a crash from a
//! second chain.

use super::*;

/// The attempts at each slice of run `tag`, from the ledger: `(first item, last item)` of each
/// unbroken stretch of items. Attempts running at once (a lease taken over) interleave their
/// lines; an item continues any open attempt of its slice that stopped just before it.
fn slice_attempts(ledger: &str, tag: &str) -> BTreeMap<u64, Vec<(u64, u64)>> {
    let mut attempts: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for (item, slice) in item_lines(ledger, tag) {
        let of_slice = attempts.entry(slice).or_default();
        match of_slice.iter_mut().find(|(_, last)| last + 1 == item) {
            Some(open) => open.1 = item,
            None => of_slice.push((item, item)),
        }
    }
    attempts
}

/// Asserts that run `tag`'s slices form one chain over `items` items: every attempt at a slice
/// starts from the slice's checkpoint, and each slice starts where an attempt at the one before
/// it stopped (the attempt that checkpointed). A crashed attempt may have gone further than its
/// retry; the items past the retry's checkpoint then run again in the next slice, which is
/// re-processing after a crash, not a second chain. Returns the attempts beyond one per slice.
fn one_chain(tag: &str, attempts: &BTreeMap<u64, Vec<(u64, u64)>>, items: u64) -> usize {
    let mut start = 0;
    let mut expected_slice = 0;
    let mut extra = 0;
    for (slice, of_slice) in attempts {
        assert_eq!(
            *slice, expected_slice,
            "run {tag}: slice {slice} ran, but slice {expected_slice} never did: {attempts:?}"
        );
        assert!(
            of_slice.iter().all(|(first, _)| *first == start),
            "run {tag}: an attempt at slice {slice} did not start from its checkpoint {start}: a second chain: {of_slice:?}"
        );
        extra += of_slice.len() - 1;
        expected_slice += 1;
        let ends: Vec<u64> = of_slice.iter().map(|(_, last)| last + 1).collect();
        match attempts.get(&expected_slice) {
            Some(next) => {
                start = next.first().map_or(start, |(first, _)| *first);
                assert!(
                    ends.contains(&start),
                    "run {tag}: slice {expected_slice} starts at {start}, where no attempt at slice {slice} stopped: {of_slice:?}"
                );
            }
            None => assert!(
                ends.contains(&items),
                "run {tag}: the last slice, {slice}, never reached item {items}: {of_slice:?}"
            ),
        }
    }
    extra
}

/// Kills the test asks for: a CI-sized default, more with `OVERTIME_FAULT_KILLS`.
fn kill_target() -> usize {
    std::env::var("OVERTIME_FAULT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

#[tokio::test]
async fn sigkill_at_random_points_loses_nothing_and_duplicates_no_chain() {
    let sqs = sqs().await;
    // A short visibility timeout brings a killed slice's message back quickly; receives are
    // not limited, since a killed attempt is not a failure.
    let q = sqs
        .queue(
            "chunk-faults",
            QueueSpec {
                visibility: Some(2),
                max_receive: Some(1000),
                fifo: false,
            },
        )
        .await;
    let db = std::env::temp_dir().join(format!("overtime-fault-runs-{}.db", uuid::Uuid::new_v4()));
    let store = SqliteStore::open(&db).expect("sqlite");
    let ledger =
        std::env::temp_dir().join(format!("overtime-fault-ledger-{}", uuid::Uuid::new_v4()));
    let mut env = sqs.env();
    env.push(("OVERTIME_QUEUE_URL", q.url.clone()));
    env.push(("OVERTIME_RUN_STORE", format!("sqlite:{}", db.display())));
    env.push(("OVERTIME_SLICE_BUDGET_SECS", "0.5".to_owned()));
    // A killed slice's claim lapses quickly, so its redelivery can take over.
    env.push(("OVERTIME_SLICE_LEASE_SECS", "2".to_owned()));
    env.push(("LEDGER_PATH", ledger.display().to_string()));
    env.push(("RUST_LOG", "warn".to_owned()));
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let job = |tag: &str| {
        serde_json::json!({"tag": tag, "items": 120, "per_step": 2, "step_ms": 20}).to_string()
    };

    let mut runs: Vec<(String, String)> = Vec::new();
    let start_run = async |runs: &mut Vec<(String, String)>| {
        let tag = format!("r{}", runs.len());
        let sent = queue
            .send(Message::from_json("count", &job(&tag)).expect("message"))
            .await
            .expect("send");
        runs.push((tag, sent.job_id));
    };
    start_run(&mut runs).await;

    let target = kill_target();
    let (mut external, mut self_killed) = (0usize, 0usize);
    let mut faulty = env.clone();
    faulty.push(("KILL_MID_STEP", "0.01".to_owned()));
    faulty.push(("KILL_AT_BOUNDARY", "0.25".to_owned()));
    while external + self_killed < target {
        // Two worker processes at once, so deliveries of one run (repaired successors,
        // redeliveries) race across processes; both die each round.
        let mut workers = [
            Function::start("test-chunked", &faulty),
            Function::start("test-chunked", &faulty),
        ];
        // Kill at a random point of real work: wait for the first new ledger line, then let
        // them run a random while (a slice is 0.5 s).
        let ledger_len = || std::fs::metadata(&ledger).map(|m| m.len()).unwrap_or(0);
        let before = ledger_len();
        let born = Instant::now();
        let mut working_since: Option<Instant> = None;
        // Until a worker has killed itself after a checkpoint or an enqueue, a round runs
        // until the workers kill themselves (or 15 s pass), so those windows are reached
        // however slow the machine is; after that, rounds are killed from outside at a random
        // point.
        let boundary_seen = std::fs::read_to_string(&ledger)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("crash after-"));
        let lifetime = if boundary_seen {
            Duration::from_millis(fastrand::u64(0..1_200))
        } else {
            Duration::from_secs(15)
        };
        loop {
            let all_died = workers
                .iter_mut()
                .all(|w| w.child.try_wait().ok().flatten().is_some());
            if all_died {
                break;
            }
            if working_since.is_none() && ledger_len() != before {
                working_since = Some(Instant::now());
            }
            if working_since.is_some_and(|t| t.elapsed() >= lifetime)
                || born.elapsed() > Duration::from_secs(15)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for worker in &mut workers {
            if worker.child.try_wait().expect("wait").is_some() {
                self_killed += 1;
                continue;
            }
            let killed = std::process::Command::new("kill")
                .args(["-9", &worker.child.id().to_string()])
                .status()
                .expect("kill");
            assert!(killed.success());
            let _ = worker.child.wait();
            external += 1;
        }
        let (_, current) = runs.last().cloned().expect("a run");
        if store
            .get(&current)
            .await
            .expect("store")
            .is_some_and(|r| r.status().is_final())
        {
            start_run(&mut runs).await;
        }
    }

    // Then without faults, until every run has ended.
    let worker = Function::start("test-chunked", &env);
    let mut records = Vec::new();
    for (_, id) in &runs {
        records.push(wait_for_end(&store, id, Duration::from_secs(300)).await);
    }
    // Messages the killed workers had taken come back after their visibility timeout: stale
    // slices and duplicate successors, which must die out (be dropped), not run.
    let drained = Instant::now();
    while sqs.depth(&q.url).await != (0, 0, 0) && drained.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(worker);

    let text = std::fs::read_to_string(&ledger).unwrap_or_default();
    if std::env::var_os("DEBUG_LEDGER").is_some() {
        eprintln!("{text}");
    }
    let count = |prefix: &str| text.lines().filter(|l| l.starts_with(prefix)).count();
    let crashes_at = |point: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("crash {point} ")))
            .count()
    };
    let mut reprocessed = 0usize;
    let mut rerun_slices = 0usize;
    let mut unnoted = 0usize;
    for ((tag, id), record) in runs.iter().zip(&records) {
        assert_eq!(record.status(), RunStatus::Done, "run {tag}: {record:?}");
        let (seen, _, _) = read_ledger(&ledger, tag);
        assert_eq!(seen.len(), 120, "run {tag}: no item lost");
        reprocessed += seen.values().map(|s| s.len() - 1).sum::<usize>();
        rerun_slices += one_chain(tag, &slice_attempts(&text, tag), 120);
        let completed = text
            .lines()
            .filter(|l| *l == format!("completed {id}"))
            .count();
        // The store marks a run done once (compare-and-swap); the ledger line comes after
        // that, so a SIGKILL between the two leaves a done run without its line.
        assert!(completed <= 1, "run {tag} completed {completed} times");
        unnoted += usize::from(completed == 0);
    }
    let kills = external + self_killed;
    assert!(
        rerun_slices <= kills,
        "{rerun_slices} slice attempts beyond the first, but only {kills} workers died"
    );
    assert_eq!(
        sqs.depth(&q.url).await,
        (0, 0, 0),
        "no slice message left behind"
    );
    assert_eq!(
        sqs.depth(&q.dlq.clone().unwrap_or_default()).await.0,
        0,
        "nothing dead-lettered"
    );
    println!(
        "kills: {kills} ({external} external SIGKILLs at random times; self-SIGKILLs: {} mid-step, {} after checkpoint, {} after enqueue); runs: {} all done, none completed twice ({unnoted} completions not noted: killed right after); slices run again after a crash: {rerun_slices}, re-processing {reprocessed} items; successors repaired: {}; duplicate or stale slice messages dropped: {}",
        crashes_at("mid-step"),
        crashes_at("after-checkpoint"),
        crashes_at("after-enqueue"),
        runs.len(),
        count("repaired "),
        count("dropped "),
    );
    assert!(
        crashes_at("after-checkpoint") + crashes_at("after-enqueue") > 0 || target < 20,
        "the kills reached the windows between checkpoint, enqueue and delete ({external} external kills, {self_killed} self-kills, {} mid-step)",
        crashes_at("mid-step")
    );
    let _ = std::fs::remove_file(ledger);
    let _ = std::fs::remove_file(db);
}

#[tokio::test]
async fn bad_cursors_and_runaway_runs_fail_with_the_reason() {
    let path = std::env::temp_dir().join(format!("overtime-runs-{}.db", uuid::Uuid::new_v4()));
    let store: Arc<dyn RunStore> = Arc::new(SqliteStore::open(&path).expect("sqlite"));
    let run = setup(&format!("sqlite:{}", path.display()), store.clone()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    // The stored cursor is not the job's cursor type (u64).
    let bad_cursor = planted(&run, "\"not a number\"", 3, now).await;
    // A run far past its limits: started in 1970, and at slice 10,000.
    let too_old = planted(&run, "4", 3, 0).await;
    let too_many = planted(&run, "4", 10_000, now).await;
    let worker = Function::start("test-chunked", &run.env);
    let mut ended = Vec::new();
    for id in [&bad_cursor, &too_old, &too_many] {
        ended.push(wait_for_end(&*store, id, Duration::from_secs(30)).await);
    }
    let dead = run.sqs.drain(&run.dlq, 3, Duration::from_secs(20)).await;
    drop(worker);
    let expect = [
        "the checkpointed cursor does not deserialize",
        "run exceeded its 604800 s limit on total duration",
        "run exceeded 10000 slices",
    ];
    for (record, reason) in ended.iter().zip(expect) {
        assert_eq!(record.status(), RunStatus::Failed, "{record:?}");
        assert!(record.error().unwrap_or("").contains(reason), "{record:?}");
    }
    let reasons: Vec<String> = dead
        .iter()
        .filter_map(|m| overtime_tests::attr(m, "overtime.dlq.reason"))
        .collect();
    assert_eq!(
        reasons.len(),
        3,
        "each failed slice dead-lettered: {reasons:?}"
    );
    for reason in expect {
        assert!(
            reasons.iter().any(|r| r.contains(reason)),
            "{reason} in {reasons:?}"
        );
    }
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_step_that_panics_is_retried_from_its_checkpoint() {
    let path = std::env::temp_dir().join(format!("overtime-runs-{}.db", uuid::Uuid::new_v4()));
    let store: Arc<dyn RunStore> = Arc::new(SqliteStore::open(&path).expect("sqlite"));
    let run = setup(&format!("sqlite:{}", path.display()), store.clone()).await;
    let job = serde_json::json!({"tag": "panics", "items": 60, "per_step": 2, "step_ms": 10, "panic_once_at": 30});
    let sent = run
        .queue
        .send(Message::from_json("count", &job.to_string()).expect("message"))
        .await
        .expect("send");
    let worker = Function::start("test-chunked", &run.env);
    let ended = wait_for_end(&*run.store, &sent.job_id, Duration::from_secs(60)).await;
    drop(worker);
    assert_eq!(ended.status(), RunStatus::Done, "{ended:?}");
    let (seen, order, _) = read_ledger(&run.ledger, "panics");
    let text = std::fs::read_to_string(&run.ledger).unwrap_or_default();
    assert!(text.contains("panic panics 30"), "the step did panic");
    assert_eq!(
        order,
        (0..60).collect::<Vec<_>>(),
        "each item once, in order, across the panic"
    );
    assert_eq!(seen.len(), 60);
    assert_eq!(run.sqs.depth(&run.dlq).await.0, 0);
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn an_unavailable_store_retries_the_slice_and_loses_nothing() {
    let sqs = sqs().await;
    let q = sqs.queue("chunk-store-down", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let inner = SqliteStore::open_in_memory().expect("store");
    let store = overtime_tests::stores::Down::new(inner.clone(), 3);
    let sent = queue
        .send(Message::from_json("tally", r#"{"items":20,"step_ms":5}"#).expect("message"))
        .await
        .expect("send");
    let seen: Arc<std::sync::Mutex<Vec<u64>>> = Arc::default();
    let worker = overtime::Worker::with_state(seen.clone())
        .store(store)
        .backoff(overtime::Backoff::new(
            Duration::from_millis(200),
            Duration::from_millis(400),
        ))
        .job::<Tally>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let poller = tokio::spawn(worker.poll(
        queue,
        Stop::when(async move {
            let _ = stop_rx.await;
        }),
    ));
    let run = wait_for_end(&inner, &sent.job_id, Duration::from_secs(60)).await;
    let _ = stop_tx.send(());
    poller.await.expect("joined").expect("stops");
    assert_eq!(run.status(), RunStatus::Done, "{run:?}");
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        (0..20).collect::<Vec<_>>(),
        "each item once, after the store came back"
    );
    assert_eq!(
        sqs.depth(&q.dlq.clone().unwrap_or_default()).await.0,
        0,
        "nothing dead-lettered"
    );
}

/// The chain check passes re-processing after a crash and catches a second chain.
#[test]
fn the_chain_check_tells_a_crash_from_a_second_chain() {
    let ledger = |lines: &[(u64, std::ops::RangeInclusive<u64>)]| {
        lines
            .iter()
            .flat_map(|(slice, items)| items.clone().map(move |i| format!("item t {i} {slice}")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Slice 1 crashed at item 9, its retry checkpointed at 6: items 6..=9 run again in slice 2.
    let crashed = ledger(&[(0, 0..=3), (1, 4..=9), (1, 4..=5), (2, 6..=11)]);
    assert_eq!(one_chain("t", &slice_attempts(&crashed, "t"), 12), 1);
    let broken = |lines: &[(u64, std::ops::RangeInclusive<u64>)]| {
        let text = ledger(lines);
        std::panic::catch_unwind(|| one_chain("t", &slice_attempts(&text, "t"), 12)).is_err()
    };
    // Two successors of slice 0 that both checkpointed and went on from different items.
    assert!(broken(&[(0, 0..=3), (1, 4..=7), (1, 6..=9), (2, 8..=11)]));
    // A slice starting where no attempt of the one before stopped.
    assert!(broken(&[(0, 0..=3), (1, 5..=11)]));
    // A slice number skipped, or the run cut short.
    assert!(broken(&[(0, 0..=3), (2, 4..=11)]));
    assert!(broken(&[(0, 0..=3), (1, 4..=10)]));
}
