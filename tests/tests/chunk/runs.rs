//! Chunked runs that end well: exactly once in order on both stores, the store contract,
//! cancellation seen from the CLI, and fixed windows like Vercel's `maxDuration`.

use super::*;

#[tokio::test]
async fn a_chunked_run_on_sqlite_processes_every_item_once_in_order() {
    let path = std::env::temp_dir().join(format!("overtime-runs-{}.db", uuid::Uuid::new_v4()));
    let store: Arc<dyn RunStore> = Arc::new(SqliteStore::open(&path).expect("sqlite"));
    let run = setup(&format!("sqlite:{}", path.display()), store).await;
    exactly_once_in_order(run).await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_chunked_run_on_dynamodb_processes_every_item_once_in_order() {
    let store = sqs().await.run_table().await;
    let table = store.table().to_owned();
    let run = setup(&format!("dynamodb:{table}"), Arc::new(store)).await;
    exactly_once_in_order(run).await;
}

#[tokio::test]
async fn the_dynamodb_store_honours_the_store_contract() {
    let store = sqs().await.run_table().await;
    overtime::testing::check_store(&store).await;
}

fn overtime_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(overtime_tests::lambda::workspace_bin("overtime"))
        .args(args)
        .output()
        .expect("run overtime")
}

#[tokio::test]
async fn a_cancelled_run_stops_and_the_cli_shows_it() {
    let path = std::env::temp_dir().join(format!("overtime-runs-{}.db", uuid::Uuid::new_v4()));
    let store: Arc<dyn RunStore> = Arc::new(SqliteStore::open(&path).expect("sqlite"));
    let spec = format!("sqlite:{}", path.display());
    let run = setup(&spec, store.clone()).await;
    let id = start(&run, "cancel", 100_000).await;
    let worker = Function::start("test-chunked", &run.env);
    let began = Instant::now();
    while store
        .get(&id)
        .await
        .expect("get")
        .is_none_or(|r| r.items_done() == 0)
    {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "the run never progressed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = overtime_cli(&["runs", "cancel", &id, "--store", &spec]);
    assert!(
        out.status.success(),
        "{}",
        overtime_tests::output_text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cancel requested"));
    let ended = wait_for_end(&*store, &id, Duration::from_secs(30)).await;
    let drained = Instant::now();
    while run.sqs.depth(&run.url).await != (0, 0, 0) && drained.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(worker);
    assert_eq!(ended.status(), RunStatus::Cancelled);
    assert!(ended.items_done() < 100_000, "stopped early: {ended:?}");
    assert_eq!(
        run.sqs.depth(&run.url).await,
        (0, 0, 0),
        "no slice left running"
    );

    let list = overtime_cli(&["runs", "list", "--store", &spec]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("cancelled")),
        "{listed}"
    );
    let show = overtime_cli(&["runs", "show", &id, "--json", "--store", &spec]);
    let shown: RunRecord = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(shown.status(), RunStatus::Cancelled);
    let missing = overtime_cli(&["runs", "show", "nope", "--store", &spec]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(overtime_tests::output_text(&missing).contains("no run nope in the run store"));
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn fixed_windows_like_vercel_max_duration_drain_a_run_slice_by_slice() {
    let sqs = sqs().await;
    let q = sqs.queue("chunk-window", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    let store = SqliteStore::open_in_memory().expect("store");
    let sent = queue
        .send(Message::from_json("tally", r#"{"items":60,"step_ms":50}"#).expect("message"))
        .await
        .expect("send");
    let seen: Arc<std::sync::Mutex<Vec<u64>>> = Arc::default();
    let mut windows = 0;
    let record = loop {
        // One cron invocation of a Vercel function with maxDuration = 2 s (the slice budget
        // itself is larger: the window's end is what stops the slice).
        let worker = overtime::Worker::with_state(seen.clone())
            .store(store.clone())
            .job::<Tally>();
        windows += 1;
        worker
            .poll(queue.clone(), Stop::After(Duration::from_secs(2)))
            .await
            .expect("the window ends cleanly");
        let run = store.get(&sent.job_id).await.expect("get");
        if let Some(run) = run.filter(|r| r.status().is_final()) {
            break run;
        }
        if windows == 1 {
            let run = store
                .get(&sent.job_id)
                .await
                .expect("get")
                .expect("the run exists");
            assert!(
                run.items_done() > 0,
                "the first window made progress: {run:?}"
            );
            assert!(
                run.next_slice_sent() && !run.is_claimed(),
                "its slice ended before the window did, checkpointed and handed over: {run:?}"
            );
        }
        assert!(windows < 20, "the run never finished");
    };
    assert_eq!(record.status(), RunStatus::Done);
    assert_eq!(record.items_done(), 60);
    assert!(windows >= 2, "3 s of work took {windows} windows of 2 s");
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        (0..60).collect::<Vec<_>>(),
        "each item once, in order, across the windows"
    );
    assert_eq!(sqs.depth(&q.url).await, (0, 0, 0));
}
