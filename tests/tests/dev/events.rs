//! Listeners end to end: events sent on the project's bus run the listening jobs in the real
//! worker through `overtime dev`'s rules, queues, mapping and run store, once per job and
//! event, whether the event is sent twice, delivered twice, or acknowledged just before a
//! kill -9.

use super::*;
use overtime::events::OutgoingEvent;

/// Three listeners of `user.signed_up`: `record` for every sign-up, `noted` for paying ones,
/// and `refuses` for a plan no event here has (it would write `refuses … permanent`).
fn declaration(ledger: &std::path::Path, mapping: bool) -> String {
    let mut d = format!(
        r#"[project]
name = "evo"

[functions.worker]
binary = "test-worker"
timeout = 10
runs = true
environment = {{ LEDGER_PATH = "{}" }}

[queues.jobs]

[events."user.signed_up"]
fields = ["id", "plan"]

[[listeners]]
event = "user.signed_up"
job = "record"
queue = "jobs"

[[listeners]]
event = "user.signed_up"
job = "noted"
queue = "jobs"
filter = '{{"plan": ["pro", "team"]}}'

[[listeners]]
event = "user.signed_up"
job = "refuses"
queue = "jobs"
filter = '{{"plan": ["enterprise"]}}'
"#,
        ledger.display()
    );
    if mapping {
        d.push_str("\n[[mappings]]\nqueue = \"jobs\"\nfunction = \"worker\"\nbatch_size = 10\n");
    }
    d
}

fn start(project: &std::path::Path, ledger: &std::path::Path, mapping: bool) -> Dev {
    std::fs::write(
        project.join("infra/overtime.toml"),
        declaration(ledger, mapping),
    )
    .expect("write");
    let dev = Dev::start(
        &["--binaries".into(), bin_dir().display().to_string()],
        Some(project),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    dev
}

fn signup(id: &str, plan: &str) -> OutgoingEvent {
    OutgoingEvent::from_json(
        "user.signed_up",
        &format!(r#"{{"id":"{id}","plan":"{plan}"}}"#),
    )
    .expect("json")
    .id(id)
}

/// The ledger's lines (`job id attempt outcome`), sorted.
fn ledger_lines(ledger: &std::path::Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string(ledger)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// Polls the dashboard until the jobs queue and its dead-letter queue are empty (nothing
/// visible, in flight or delayed: every delivery settled) and the ledger has `runs` lines.
async fn settle(dev: &Dev, ledger: &std::path::Path, runs: usize, limit: Duration) {
    let start = Instant::now();
    loop {
        let state = dev.state_json().await;
        let queues = state["queues"].as_array().cloned().unwrap_or_default();
        let empty = ["evo-jobs", "evo-jobs-dlq"].iter().all(|name| {
            queues.iter().any(|q| {
                q["name"] == *name
                    && ["visible", "in_flight", "delayed"]
                        .iter()
                        .all(|k| q[*k].as_u64() == Some(0))
            })
        });
        let lines = ledger_lines(ledger).len();
        if empty && lines >= runs {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "not settled after {limit:?}: {lines} of {runs} runs, queues {queues:?}\n{}",
            dev.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_matching_listener_runs_once_per_event_sent_twice_or_delivered_twice() {
    let project = temp_project("dev-events-once");
    let ledger = project.join("ledger");
    let dev = start(&project, &ledger, true);
    let bus = dev.event_bus("evo-events");
    // A paying sign-up sent twice with its id (a retried request), and a free one.
    let first = bus.send(signup("ada", "pro")).await.expect("sent");
    let again = bus.send(signup("ada", "pro")).await.expect("sent again");
    assert_eq!(first.id, again.id);
    assert_ne!(first.eventbridge_id, again.eventbridge_id);
    bus.send(signup("bob", "free")).await.expect("sent");
    settle(&dev, &ledger, 3, Duration::from_secs(30)).await;
    let once = [
        "noted ada 1 ok".to_owned(),
        "record ada 1 ok".to_owned(),
        "record bob 1 ok".to_owned(),
    ];
    assert_eq!(ledger_lines(&ledger), once);

    // A delivery of the same message again, as SQS or EventBridge may make one: the body the
    // record listener's input transformer wrote for the first send.
    let sqs = dev.client(3).await;
    let jobs = queue_url(&sqs, "evo-jobs").await;
    let envelope = serde_json::json!({
        "v": 1,
        "job": "record",
        "id": first.eventbridge_id,
        "key": "ada",
        "payload": {"id": "ada", "plan": "pro"},
    });
    sqs.send_message()
        .queue_url(&jobs)
        .message_body(envelope.to_string())
        .send()
        .await
        .expect("SendMessage");
    settle(&dev, &ledger, 3, Duration::from_secs(30)).await;
    assert_eq!(ledger_lines(&ledger), once, "the redelivery did not run");

    // Every job the rules started, as the dashboard lists them.
    let state = dev.state_json().await;
    let recent = state["events"]["recent"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let started: Vec<_> = recent
        .iter()
        .map(|e| (e["id"].clone(), e["started"].clone()))
        .collect();
    let pro = serde_json::json!(["job noted on evo-jobs", "job record on evo-jobs"]);
    let free = serde_json::json!(["job record on evo-jobs"]);
    assert_eq!(
        started,
        [
            ("bob".into(), free),
            ("ada".into(), pro.clone()),
            ("ada".into(), pro)
        ],
        "{state}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_acknowledged_before_a_kill_9_each_run_their_listeners_once() {
    let project = temp_project("dev-events-kill");
    let ledger = project.join("ledger");
    // No mapping yet: nothing consumes before the kill. A job killed while it runs runs again
    // (at least once); what this test checks is that no acknowledged event is lost.
    let mut dev = start(&project, &ledger, false);
    let mut expected = Vec::new();
    let events: Vec<_> = (0..1000)
        .map(|n| {
            let id = format!("u{n:04}");
            let plan = if n % 2 == 0 { "pro" } else { "free" };
            expected.push(format!("record {id} 1 ok"));
            if plan == "pro" {
                expected.push(format!("noted {id} 1 ok"));
            }
            signup(&id, plan)
        })
        .collect();
    // 100 PutEvents calls of 10, every one answered before the kill.
    let report = dev.event_bus("evo-events").send_all(events).await;
    assert_eq!(
        report.published().count(),
        1000,
        "{:?}",
        report.failed().next()
    );
    dev.kill9();

    std::fs::write(
        project.join("infra/overtime.toml"),
        declaration(&ledger, true),
    )
    .expect("write");
    dev.restart();
    assert!(
        dev.wait_for_output("mapping        evo-jobs -> worker", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    settle(&dev, &ledger, expected.len(), Duration::from_secs(90)).await;
    expected.sort();
    let lines = ledger_lines(&ledger);
    assert_eq!(
        lines.len(),
        1500,
        "every pro sign-up twice, every free one once"
    );
    assert!(
        lines == expected,
        "each listener once per event: {} lines, first difference {:?}",
        lines.len(),
        lines.iter().zip(&expected).find(|(a, b)| a != b)
    );
}
