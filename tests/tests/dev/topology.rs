//! The whole topology end to end through real function processes.

use super::*;

fn at_in(secs: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::seconds(secs);
    format!("at({})", t.format("%Y-%m-%dT%H:%M:%S"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_topology_runs_end_to_end() {
    let project = temp_project("dev-e2e");
    let declaration = format!(
        r#"[project]
name = "e2e"

[functions.fanout]
binary = "sync-accounts"
timeout = 10
queues = {{ OVERTIME_QUEUE_URL = "jobs" }}
environment = {{ ACCOUNT_COUNT = "20" }}

[functions.worker]
timeout = 3
queues = {{ OVERTIME_QUEUE_URL = "jobs" }}
runs = true

[functions.slow]
binary = "test-overrun"
timeout = 2
environment = {{ SLEEP_MS = "5000" }}

[queues.jobs]

[queues.slow]
visibility_timeout = 2
max_receives = 2

[[mappings]]
queue = "jobs"
function = "worker"

[[mappings]]
queue = "slow"
function = "slow"
batch_size = 1

[schedules.fanout]
expression = "{fanout_at}"
function = "fanout"

[schedules.rescore]
expression = "{rescore_at}"
queue = "jobs"
job = "rescore-accounts"
payload = {{ from = 0, to = 400000 }}
"#,
        fanout_at = at_in(12),
        rescore_at = at_in(12),
    );
    std::fs::write(project.join("infra/overtime.toml"), declaration).expect("write");
    std::fs::write(
        project.join("vercel.json"),
        r#"{"crons": [{"path": "/api/cron/test-cron", "schedule": "0 0 1 1 *"}]}"#,
    )
    .expect("write");
    std::fs::write(
        project.join(".env.local"),
        format!("TICKS_PATH={}\n", project.join("ticks").display()),
    )
    .expect("write");
    let mut dev = Dev::start(
        &["--binaries".into(), bin_dir().display().to_string()],
        Some(&project),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    let client = dev.client(3).await;
    let slow = queue_url(&client, "e2e-slow").await;
    Queue::new(client.clone(), &slow)
        .send(Record {
            id: "sleepy".into(),
            sleep_ms: 5_000,
        })
        .await
        .expect("send");

    // Wait for: the fan-out tick, its 20 jobs consumed, the chunked run completed, and the
    // overrunning job killed twice and dead-lettered.
    let start = Instant::now();
    let mut state = serde_json::Value::Null;
    let done = |s: &serde_json::Value| {
        let runs_done = s["runs"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["status"] == "done"));
        let queues = s["queues"].as_array().cloned().unwrap_or_default();
        let depth = |name: &str| {
            queues.iter().find(|q| q["name"] == name).map_or(-1, |q| {
                q["visible"].as_i64().unwrap_or(0) + q["in_flight"].as_i64().unwrap_or(0)
            })
        };
        runs_done && depth("e2e-jobs") == 0 && depth("e2e-slow-dlq") == 1 && depth("e2e-slow") == 0
    };
    while start.elapsed() < Duration::from_secs(120) {
        state = dev.state_json().await;
        if done(&state) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(done(&state), "not finished in time: {state}\n{}", dev.log());
    let invocations = state["invocations"].as_array().cloned().unwrap_or_default();
    let count =
        |f: &dyn Fn(&serde_json::Value) -> bool| invocations.iter().filter(|i| f(i)).count();
    assert_eq!(
        count(&|i| i["function"] == "fanout"
            && i["trigger"] == "schedule fanout"
            && i["ok"] == true),
        1,
        "the schedule fired once: {invocations:?}"
    );
    assert!(
        count(&|i| i["function"] == "worker"
            && i["trigger"] == "queue e2e-jobs"
            && i["ok"] == true)
            >= 2
    );
    assert_eq!(
        count(&|i| i["function"] == "worker" && i["ok"] == false),
        0,
        "{invocations:?}"
    );
    assert_eq!(
        count(&|i| i["function"] == "slow"
            && i["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("timed out after 2 s"))),
        2,
        "killed at its deadline on each of its two receives: {invocations:?}"
    );
    let run = state["runs"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["job"] == "rescore-accounts"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["items_done"], 400_000);
    assert!(
        run["slice"].as_u64().is_some_and(|s| s >= 2),
        "several slices under a 3 s timeout: {run}"
    );
    // The start-up output says what runs where.
    let log = dev.log();
    for line in [
        "SQS endpoint",
        "dashboard",
        "mapping        e2e-jobs -> worker",
        "schedule       fanout",
    ] {
        assert!(log.contains(line), "{line}: {log}");
    }
    // And the dashboard page is served.
    let page = reqwest::get(&dev.endpoint)
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("page");
    assert!(page.contains("<title>overtime dev</title>"));

    // `overtime trigger` fires a schedule now: a Vercel cron as Vercel calls it (GET with
    // CRON_SECRET, which the route checks), and a name that is not a schedule is refused.
    let trigger = |name: &str| dev.trigger(name);
    let out = trigger("/api/cron/test-cron");
    assert!(out.status.success(), "{}", output_text(&out));
    let ticks = std::fs::read_to_string(project.join("ticks")).unwrap_or_default();
    let tick: serde_json::Value =
        serde_json::from_str(ticks.lines().next().unwrap_or_default()).expect("a tick");
    assert_eq!(tick["schedule"], "/api/cron/test-cron");
    assert_eq!(tick["source"], "vercel");
    let out = trigger("no-such-schedule");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        output_text(&out).contains("the schedules are: "),
        "{}",
        output_text(&out)
    );

    // SIGKILLed, overtime dev takes the processes it started with it: the warm Lambda
    // instances and the Vercel route server (which outlived it before).
    let children = dev.children();
    assert!(
        children.len() >= 2,
        "function instances and a route server running: {children:?}"
    );
    dev.kill9();
    let gone = Instant::now();
    let alive = |pid: &u32| overtime_tests::dev::running(*pid);
    while children.iter().any(alive) && gone.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left: Vec<&u32> = children.iter().filter(|p| alive(p)).collect();
    assert!(left.is_empty(), "still running after kill -9: {left:?}");
}
