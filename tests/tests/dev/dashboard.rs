//! The dashboard in a real browser.

use super::*;

/// Debian's Chromium (installed by `.ci/run`), headless, with the flags this machine needs.
fn chromium_dom(url: &str) -> String {
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", fresh_state().display()))
        .arg(url)
        .output()
        .expect("run chromium (apt-get install chromium; .ci/run does)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_topology_in_a_browser() {
    let project = temp_project("dev-dash");
    std::fs::write(
        project.join("infra/overtime.toml"),
        "[project]\nname = \"dash\"\n\n[functions.w]\nbinary = \"test-worker\"\ntimeout = 5\nqueues = { OVERTIME_QUEUE_URL = \"jobs\" }\n\n\
         [queues.jobs]\n\n[[mappings]]\nqueue = \"jobs\"\nfunction = \"w\"\n\n\
         [schedules.nightly]\nexpression = \"cron(0 3 * * ? *)\"\ntimezone = \"Europe/Paris\"\nqueue = \"jobs\"\njob = \"record\"\npayload = { id = \"n\", sleep_ms = 0 }\n",
    )
    .expect("write");
    let dev = Dev::start(
        &["--binaries".into(), bin_dir().display().to_string()],
        Some(&project),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    // One invocation to show: the schedule fired by hand, its job consumed by `w`.
    let out = dev.trigger("nightly");
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        dev.wait_for_output("w <- queue dash-jobs", Duration::from_secs(20)),
        "{}",
        dev.log()
    );
    let dom = chromium_dom(&dev.endpoint);
    for text in [
        "<td>dash-jobs</td>",
        "<td>dash-jobs-dlq</td>",
        "<td>w</td><td>5 s</td>",
        "<td>nightly</td><td>infra/overtime.toml</td><td><code>cron(0 3 * * ? *)</code></td><td>queue dash-jobs</td>",
        "<td>queue dash-jobs</td>",
        "class=\"ok\">ok</td>",
    ] {
        assert!(
            dom.contains(text),
            "{text} not in the rendered page:\n{dom}"
        );
    }
}

/// A project that listens to sign-ups: every one starts `welcome-email`, a paying one
/// `crm-sync` too.
const LISTENING: &str = r#"[project]
name = "evdash"

[queues.jobs]

[events."user.signed_up"]
fields = ["email", "plan"]

[[listeners]]
event = "user.signed_up"
job = "welcome-email"
queue = "jobs"

[[listeners]]
event = "user.signed_up"
job = "crm-sync"
queue = "jobs"
filter = '{"plan": ["pro", "team"]}'
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_events_with_their_rules_jobs_failures_and_names_no_one_listens_to() {
    use overtime::events::OutgoingEvent;
    let project = temp_project("dev-dash-events");
    std::fs::write(project.join("infra/overtime.toml"), LISTENING).expect("write");
    let dev = Dev::start(
        &["--binaries".into(), bin_dir().display().to_string()],
        Some(&project),
        &fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    // A rule made by hand whose queue does not exist: its deliveries fail.
    let client = dev.eventbridge();
    client
        .put_rule()
        .name("orders")
        .event_bus_name("evdash-events")
        .event_pattern(r#"{"detail-type": ["order.paid"]}"#)
        .send()
        .await
        .expect("PutRule");
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("gone")
        .arn("arn:aws:sqs:us-east-1:000000000000:no-such-queue")
        .build()
        .expect("target");
    client
        .put_targets()
        .rule("orders")
        .event_bus_name("evdash-events")
        .targets(target)
        .send()
        .await
        .expect("PutTargets");

    let bus = dev.event_bus("evdash-events");
    let event = |name: &str, json: &str, id: &str| {
        OutgoingEvent::from_json(name.to_owned(), json)
            .expect("json")
            .id(id)
    };
    let report = bus
        .send_all(vec![
            event(
                "user.signed_up",
                r#"{"email":"ada@example.com","plan":"pro"}"#,
                "signup-ada",
            ),
            event(
                "user.signed_up",
                r#"{"email":"bob@example.com","plan":"free"}"#,
                "signup-bob",
            ),
            event("cart.abandoned", r#"{"cart":1}"#, "cart-1"),
            event("cart.abandoned", r#"{"cart":2}"#, "cart-2"),
            event("order.paid", r#"{"order":7}"#, "order-7"),
        ])
        .await;
    report.into_result().expect("all five accepted");

    let state = dev.state_json().await;
    let events = &state["events"];
    assert_eq!(events["accepted"], 5, "{events}");
    assert_eq!(
        events["unmatched"],
        serde_json::json!({"cart.abandoned": 2}),
        "names no rule matched are counted: {events}"
    );
    let recent = events["recent"].as_array().cloned().unwrap_or_default();
    assert_eq!(recent.len(), 5, "{events}");
    assert_eq!(recent[0]["id"], "order-7", "the latest first: {events}");
    let of = |id: &str| {
        recent
            .iter()
            .find(|e| e["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {events}"))
    };
    let ada = of("signup-ada");
    assert_eq!(ada["name"], "user.signed_up");
    assert!(
        ada["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{ada}"
    );
    assert_eq!(
        ada["rules"],
        serde_json::json!(["evdash-crm-sync", "evdash-welcome-email"]),
        "{ada}"
    );
    assert_eq!(
        ada["started"],
        serde_json::json!([
            "job crm-sync on evdash-jobs",
            "job welcome-email on evdash-jobs"
        ]),
        "{ada}"
    );
    assert_eq!(ada["failures"], serde_json::json!([]));
    let bob = of("signup-bob");
    assert_eq!(bob["rules"], serde_json::json!(["evdash-welcome-email"]));
    assert_eq!(
        bob["started"],
        serde_json::json!(["job welcome-email on evdash-jobs"])
    );
    let cart = of("cart-1");
    assert_eq!(cart["rules"], serde_json::json!([]));
    let order = of("order-7");
    assert_eq!(order["rules"], serde_json::json!(["orders"]));
    let failures = order["failures"].as_array().cloned().unwrap_or_default();
    assert!(
        failures.len() == 1
            && failures[0]
                .as_str()
                .is_some_and(|f| f.contains("queue no-such-queue does not exist")),
        "{order}"
    );

    // The page shows the same, as a browser renders it.
    let dom = chromium_dom(&dev.endpoint);
    for text in [
        "5 sent since start",
        "No one listens to: <span class=\"unmatched\"><code>cart.abandoned</code> × 2</span>",
        "<td>user.signed_up</td><td><code>signup-ada</code></td><td><div>evdash-crm-sync</div><div>evdash-welcome-email</div></td><td><div>job crm-sync on evdash-jobs</div><div>job welcome-email on evdash-jobs</div></td>",
        "<td>cart.abandoned</td><td><code>cart-2</code></td><td><span class=\"muted\">no rule</span></td>",
        "<td>order.paid</td><td><code>order-7</code></td><td><div>orders</div></td><td></td><td class=\"fail\"><div>orders → arn:aws:sqs:us-east-1:000000000000:no-such-queue: queue no-such-queue does not exist</div></td>",
    ] {
        assert!(
            dom.contains(text),
            "{text} not in the rendered page:\n{dom}"
        );
    }
}
