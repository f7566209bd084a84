//! Tests of the queue service through its own API: SQS's semantics, and what a restart keeps.

use super::model::{Received, SendEntry};
use super::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn temp_db() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("overtime-sqs-{}.db", uuid::Uuid::new_v4()))
}

/// Opens the store once its previous owner's log thread has closed it.
async fn reopen(path: &Path) -> Sqs {
    let began = Instant::now();
    loop {
        match Sqs::open(path, "http://127.0.0.1:1") {
            Ok(sqs) => return sqs,
            Err(e) if began.elapsed() > Duration::from_secs(10) => panic!("reopen: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn entry(body: &str) -> SendEntry {
    SendEntry {
        message_body: Some(body.into()),
        ..SendEntry::default()
    }
}

fn all_attributes(max: i64, visibility: i64) -> ReceiveRequest {
    ReceiveRequest {
        max,
        visibility: Some(visibility),
        attribute_names: vec!["All".into()],
        message_attribute_names: vec![],
    }
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn in_group(body: &str, group: &str) -> SendEntry {
    SendEntry {
        message_group_id: Some(group.into()),
        ..entry(body)
    }
}

fn bodies(got: &[Received]) -> Vec<&str> {
    got.iter().map(|m| m.body.as_str()).collect()
}

#[tokio::test]
async fn a_fifo_group_waits_for_messages_in_flight_and_keeps_order_past_delayed_ones() {
    let path = temp_db();
    let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
    let q = "g.fifo";
    let fifo = [("FifoQueue", "true"), ("ContentBasedDeduplication", "true")];
    sqs.create_queue(
        q,
        attrs(&[fifo[0], fifo[1], ("DelaySeconds", "1")]),
        BTreeMap::new(),
    )
    .await
    .expect("create");
    let receive = || sqs.receive(q, all_attributes(10, 60), Duration::ZERO);
    sqs.send(q, vec![in_group("m1", "g")]).await.expect("send");
    tokio::time::sleep(Duration::from_millis(600)).await;
    sqs.send(q, vec![in_group("m2", "g")]).await.expect("send");
    sqs.set_attributes(q, attrs(&[("DelaySeconds", "0")]))
        .await
        .expect("no delay");
    sqs.send(q, vec![in_group("m3", "g")]).await.expect("send");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // m1's delay is over, m2's is not: m1 is delivered, and m3 waits behind m2.
    let got = receive().await.expect("receive");
    assert_eq!(bodies(&got), ["m1"]);
    sqs.delete(q, vec![got[0].receipt_handle.clone()])
        .await
        .expect("delete");
    assert!(
        receive().await.expect("receive").is_empty(),
        "m3 must not overtake m2"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = receive().await.expect("receive");
    assert_eq!(bodies(&got), ["m2", "m3"]);
    // With messages of the group in flight, a new one waits.
    sqs.send(q, vec![in_group("m4", "g"), in_group("other", "h")])
        .await
        .expect("send");
    assert_eq!(bodies(&receive().await.expect("receive")), ["other"]);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn create_queue_again_compares_attributes_as_get_queue_attributes_shows_them() {
    let path = temp_db();
    let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
    sqs.create_queue("c.fifo", attrs(&[("FifoQueue", "true")]), BTreeMap::new())
        .await
        .expect("create");
    // Defaults given explicitly match, FIFO-only ones included.
    sqs.create_queue(
        "c.fifo",
        attrs(&[
            ("FifoQueue", "true"),
            ("ContentBasedDeduplication", "false"),
            ("DeduplicationScope", "queue"),
            ("FifoThroughputLimit", "perQueue"),
            ("VisibilityTimeout", "30"),
        ]),
        BTreeMap::new(),
    )
    .await
    .expect("same queue");
    sqs.create_queue("p", BTreeMap::new(), BTreeMap::new())
        .await
        .expect("create");
    for (k, v) in [
        ("Policy", r#"{"Version":"2012-10-17"}"#),
        ("VisibilityTimeout", "31"),
        ("KmsMasterKeyId", "alias/aws/sqs"),
    ] {
        let err = sqs
            .create_queue("p", attrs(&[(k, v)]), BTreeMap::new())
            .await
            .expect_err("differs");
        assert!(
            matches!(&err, SqsError::QueueNameExists(n) if n == k),
            "{err:?}"
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn visibility_extends_to_12_hours_from_the_receive_and_no_further() {
    let path = temp_db();
    let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
    sqs.create_queue("q", BTreeMap::new(), BTreeMap::new())
        .await
        .expect("create");
    sqs.send("q", vec![entry("a")]).await.expect("send");
    let got = sqs
        .receive("q", all_attributes(1, 43_200), Duration::ZERO)
        .await
        .expect("receive");
    let handle = got[0].receipt_handle.clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let changed = sqs
        .change_visibility(
            "q",
            vec![(handle.clone(), 43_200), (handle.clone(), 43_199)],
        )
        .await
        .expect("change visibility");
    assert!(
        matches!(&changed[0], Err(SqsError::InvalidParameterValue(m)) if m.contains("Total VisibilityTimeout")),
        "{changed:?}"
    );
    assert!(changed[1].is_ok(), "{changed:?}");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_fifo_message_dead_lettered_counts_its_retention_from_the_move() {
    let path = temp_db();
    let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
    let fifo = [("FifoQueue", "true"), ("ContentBasedDeduplication", "true")];
    sqs.create_queue("dlq.fifo", attrs(&fifo), BTreeMap::new())
        .await
        .expect("create");
    let redrive = format!(
        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":1}}"#,
        rules::queue_arn("dlq.fifo")
    );
    sqs.create_queue(
        "src.fifo",
        attrs(&[fifo[0], fifo[1], ("RedrivePolicy", &redrive)]),
        BTreeMap::new(),
    )
    .await
    .expect("create");
    sqs.send("src.fifo", vec![in_group("a", "g")])
        .await
        .expect("send");
    let first = sqs
        .receive("src.fifo", all_attributes(1, 0), Duration::ZERO)
        .await
        .expect("receive");
    let sent: i64 = first[0].attributes["SentTimestamp"].parse().expect("ms");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let moved_at = state::now_ms();
    let again = sqs
        .receive("src.fifo", all_attributes(1, 0), Duration::ZERO)
        .await
        .expect("receive");
    assert!(again.is_empty(), "dead-lettered instead");
    let dead = sqs
        .receive("dlq.fifo", all_attributes(1, 30), Duration::ZERO)
        .await
        .expect("receive");
    let enqueued: i64 = dead[0].attributes["SentTimestamp"].parse().expect("ms");
    assert!(
        enqueued >= moved_at && moved_at > sent,
        "{sent} {moved_at} {enqueued}"
    );
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn long_polls_on_missing_queues_leave_no_waker_and_end_when_theirs_is_deleted() {
    let path = temp_db();
    let sqs = Arc::new(Sqs::open(&path, "http://127.0.0.1:1").expect("open"));
    let err = sqs
        .receive("made-up", all_attributes(1, 30), Duration::from_secs(5))
        .await
        .expect_err("no queue");
    assert!(matches!(err, SqsError::QueueDoesNotExist), "{err:?}");
    assert!(sqs.wakers.lock().expect("wakers").is_empty());
    sqs.create_queue("q", BTreeMap::new(), BTreeMap::new())
        .await
        .expect("create");
    let poll = tokio::spawn({
        let sqs = sqs.clone();
        async move {
            sqs.receive("q", all_attributes(1, 30), Duration::from_secs(20))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let began = Instant::now();
    sqs.delete_queue("q").await.expect("delete");
    let ended = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the long poll ended")
        .expect("task");
    assert!(
        matches!(ended, Err(SqsError::QueueDoesNotExist)),
        "{ended:?}"
    );
    assert!(began.elapsed() < Duration::from_secs(5));
    assert!(sqs.wakers.lock().expect("wakers").is_empty());
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_restart_keeps_messages_receive_counts_receipts_and_deletes() {
    let path = temp_db();
    let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
    sqs.create_queue("q", BTreeMap::new(), BTreeMap::new())
        .await
        .expect("create");
    for body in ["a", "b", "c"] {
        sqs.send("q", vec![entry(body)]).await.expect("send");
    }
    let got = sqs
        .receive("q", all_attributes(2, 60), Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(
        got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    // On a standard queue the delete is answered before it is synced; closing writes it.
    let deleted = sqs
        .delete("q", vec![got[1].receipt_handle.clone()])
        .await
        .expect("delete");
    assert_eq!(deleted, [Ok(true)]);

    // The store is locked while open: a second one on the same file is refused.
    let second = Sqs::open(&path, "http://127.0.0.1:1").expect_err("locked");
    assert!(
        second.to_string().contains("in use by another process"),
        "{second}"
    );
    // Closing writes what was deferred (the receive's row update) and unlocks.
    drop(sqs);
    let again = reopen(&path).await;
    let stats = again.stats().await.expect("stats");
    assert_eq!(
        (stats[0].visible, stats[0].in_flight, stats[0].delayed),
        (1, 1, 0),
        "c visible, a in flight, b deleted"
    );
    // The receipt handle from before the restart still works.
    let changed = again
        .change_visibility("q", vec![(got[0].receipt_handle.clone(), 0)])
        .await
        .expect("change visibility");
    assert_eq!(changed, [Ok(())]);
    let got = again
        .receive("q", all_attributes(10, 60), Duration::ZERO)
        .await
        .expect("receive");
    let mut counts: Vec<(&str, &str)> = got
        .iter()
        .map(|m| {
            (
                m.body.as_str(),
                m.attributes["ApproximateReceiveCount"].as_str(),
            )
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, [("a", "2"), ("c", "1")]);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_receipt_handle_from_before_a_restart_never_names_a_newer_message() {
    let path = temp_db();
    let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
    for q in ["q", "gone"] {
        sqs.create_queue(q, BTreeMap::new(), BTreeMap::new())
            .await
            .expect("create");
        sqs.send(q, vec![entry("old")]).await.expect("send");
    }
    let mut handles = Vec::new();
    for q in ["q", "gone"] {
        let got = sqs
            .receive(q, all_attributes(1, 60), Duration::ZERO)
            .await
            .expect("receive");
        handles.push(got[0].receipt_handle.clone());
    }
    assert_eq!(
        sqs.delete("q", vec![handles[0].clone()])
            .await
            .expect("delete"),
        [Ok(true)]
    );
    sqs.delete_queue("gone").await.expect("delete queue");
    drop(sqs);

    // After a restart the newest message and queue are gone from disk; their numbers are
    // still not handed out again.
    let sqs = reopen(&path).await;
    sqs.send("q", vec![entry("new")]).await.expect("send");
    sqs.create_queue("gone", BTreeMap::new(), BTreeMap::new())
        .await
        .expect("create again");
    sqs.send("gone", vec![entry("new")]).await.expect("send");
    assert_eq!(
        sqs.delete("q", vec![handles[0].clone()])
            .await
            .expect("delete"),
        [Ok(false)],
        "a retried delete with the old handle finds nothing"
    );
    assert_eq!(
        sqs.delete("gone", vec![handles[1].clone()])
            .await
            .expect("delete"),
        [Err(SqsError::ReceiptHandleIsInvalid(handles[1].clone()))],
        "a handle of the deleted queue does not name the new one's message"
    );
    let depths: Vec<i64> = sqs
        .stats()
        .await
        .expect("stats")
        .iter()
        .map(|q| q.visible)
        .collect();
    assert_eq!(depths, [1, 1], "both new messages are there");
    let _ = std::fs::remove_file(&path);
}

/// The layout of the first release: AUTOINCREMENT and two indexes on the messages.
const FIRST_LAYOUT: &str = "
        CREATE TABLE queues (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, attributes TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '{}', created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL,
            purged_ms INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue INTEGER NOT NULL, id TEXT NOT NULL,
            body TEXT NOT NULL, attributes TEXT, md5_body TEXT NOT NULL, md5_attrs TEXT, trace_header TEXT,
            sent_ms INTEGER NOT NULL, visible_ms INTEGER NOT NULL, receives INTEGER NOT NULL DEFAULT 0,
            first_ms INTEGER, receipt TEXT, group_id TEXT, dedup_id TEXT, dead_from TEXT);
        CREATE INDEX messages_visible ON messages (queue, visible_ms);
        CREATE INDEX messages_order ON messages (queue, seq);
        CREATE TABLE dedup (queue INTEGER NOT NULL, key TEXT NOT NULL, message_id TEXT NOT NULL,
            sequence TEXT NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (queue, key));
        INSERT INTO queues (id, name, attributes, created_ms, modified_ms) VALUES (7, 'old', '{}', 1, 1);
        INSERT INTO messages (queue, id, body, md5_body, sent_ms, visible_ms, receives)
            VALUES (7, 'm-1', 'kept', 'x', 9999999999999, 0, 1);
    ";

#[tokio::test]
async fn a_store_of_the_first_layout_is_migrated_with_its_messages() {
    let path = temp_db();
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch(FIRST_LAYOUT))
        .expect("old layout");
    let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
    let got = sqs
        .receive("old", all_attributes(10, 30), Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    assert_eq!(
        (
            got[0].message_id.as_str(),
            got[0].body.as_str(),
            got[0].attributes["ApproximateReceiveCount"].as_str()
        ),
        ("m-1", "kept", "2")
    );
    // New messages continue the sequence, and the new queue gets a fresh id.
    sqs.create_queue("new", BTreeMap::new(), BTreeMap::new())
        .await
        .expect("create");
    sqs.send("old", vec![entry("later")]).await.expect("send");
    drop(sqs);
    drop(reopen(&path).await);
    let indexes: i64 = rusqlite::Connection::open(&path)
        .and_then(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'",
                [],
                |r| r.get(0),
            )
        })
        .expect("indexes");
    assert_eq!(indexes, 0, "the messages table keeps only its row ids");
    let _ = std::fs::remove_file(&path);
}

/// `overtime dev`'s runtime calls [`on_park`]: its thread then writes and syncs the
/// groups itself. Every durable request is answered, and sends and deletes from concurrent
/// tasks all reach the disk.
#[test]
fn a_runtime_that_calls_on_park_writes_every_group_itself() {
    let path = temp_db();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(on_park)
        .build()
        .expect("runtime");
    let sqs = Sqs::open(&path, "http://127.0.0.1:1").expect("open");
    const SENT: i64 = 100;
    let deleted = runtime.block_on(async {
        sqs.create_queue("q", BTreeMap::new(), BTreeMap::new())
            .await
            .expect("create");
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..20 {
            let sqs = sqs.clone();
            tasks.spawn(async move {
                for i in 0..SENT / 20 {
                    let body = format!("{t}-{i}");
                    let out = sqs.send("q", vec![entry(&body)]).await.expect("send");
                    assert!(out[0].is_ok(), "{out:?}");
                }
            });
        }
        tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(done) = tasks.join_next().await {
                done.expect("sender");
            }
        })
        .await
        .expect("every durable send is answered");
        // Receive 30 and delete them (a standard queue's delete is not waited for).
        let mut deleted = 0;
        while deleted < 30 {
            let got = sqs
                .receive("q", all_attributes(10, 60), Duration::ZERO)
                .await
                .expect("receive");
            let handles = got.into_iter().map(|m| m.receipt_handle).collect();
            let out = sqs.delete("q", handles).await.expect("delete");
            deleted += out.iter().filter(|r| matches!(r, Ok(true))).count();
        }
        i64::try_from(deleted).expect("a count")
    });
    assert!(
        db::WRITTEN_ON_PARK.get() > 0,
        "the runtime's thread wrote groups itself"
    );
    drop(sqs);
    drop(runtime);
    let again = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let again = reopen(&path).await;
            again.stats().await.expect("stats")
        });
    assert_eq!(
        (again[0].visible + again[0].in_flight, again[0].delayed),
        (SENT - deleted, 0),
        "all sends kept, the deletes written"
    );
    let _ = std::fs::remove_file(&path);
}
