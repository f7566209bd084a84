//! Chunked runs through a real worker process against moto's SQS server, with the SQLite and
//! the DynamoDB (moto) run stores: work that needs many slices under a 1-second budget runs
//! every item exactly once, in order, and completes once.

use overtime::store::{DynamoStore, RunRecord, RunStatus, RunStore, SqliteStore};
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
    env.push(("AWS_ENDPOINT_URL", sqs.endpoint.clone()));
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
        .send_message(Message::from_json("count", &job.to_string()).expect("message"))
        .await
        .expect("send");
    sent.job_id
}

async fn wait_for_end(store: &dyn RunStore, id: &str, timeout: Duration) -> RunRecord {
    let started = Instant::now();
    loop {
        if let Some(run) = store.get(id).await.expect("store")
            && run.status.is_final()
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

/// Items per tag from the ledger: (item → (times processed, slices it ran in)), and done lines.
fn read_ledger(path: &PathBuf, tag: &str) -> (BTreeMap<u64, Vec<u64>>, Vec<u64>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut items: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut order = Vec::new();
    let mut done = 0;
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts[..] {
            ["item", t, item, slice] if t == tag => {
                let item: u64 = item.parse().expect("item");
                items
                    .entry(item)
                    .or_default()
                    .push(slice.parse().expect("slice"));
                order.push(item);
            }
            ["done", t] if t == tag => done += 1,
            _ => {}
        }
    }
    (items, order, done)
}

async fn exactly_once_in_order(run: Run) {
    let items = 600;
    let id = start(&run, "plain", items).await;
    let worker = Function::start("test-chunked", &run.env);
    let ended = wait_for_end(&*run.store, &id, Duration::from_secs(120)).await;
    drop(worker);

    assert_eq!(ended.status, RunStatus::Done, "{ended:?}");
    assert_eq!(ended.items_done, items);
    assert_eq!(ended.items_total, Some(items));
    let slices = ended.slice + 1;
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
    assert_eq!(last_slice, Some(ended.slice));
    assert_eq!(
        run.sqs.depth(&run.url).await,
        (0, 0, 0),
        "no slice message left"
    );
    assert_eq!(run.sqs.depth(&run.dlq).await.0, 0, "nothing dead-lettered");
    println!("{slices} slices, {items} items, each once, in order; completed once");
    let _ = std::fs::remove_file(&run.ledger);
}

#[tokio::test]
async fn a_chunked_run_on_sqlite_processes_every_item_once_in_order() {
    let path = std::env::temp_dir().join(format!("overtime-runs-{}.db", uuid::Uuid::new_v4()));
    let store: Arc<dyn RunStore> = Arc::new(SqliteStore::open(&path).expect("sqlite"));
    let run = setup(&format!("sqlite:{}", path.display()), store).await;
    exactly_once_in_order(run).await;
    let _ = std::fs::remove_file(path);
}

async fn dynamo(sqs: &Sqs) -> DynamoStore {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&sqs.endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .load()
        .await;
    let table = format!("runs-{}", uuid::Uuid::new_v4().simple());
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    store.create_table().await.expect("create table");
    store
}

#[tokio::test]
async fn a_chunked_run_on_dynamodb_processes_every_item_once_in_order() {
    let store = dynamo(&sqs().await).await;
    let table = store.table().to_owned();
    let run = setup(&format!("dynamodb:{table}"), Arc::new(store)).await;
    exactly_once_in_order(run).await;
}

#[tokio::test]
async fn the_dynamodb_store_honours_the_store_contract() {
    let store = dynamo(&sqs().await).await;
    overtime::store::conformance::check(&store).await;
}
