//! Listeners declared in `infra/overtime.toml`, as `overtime dev` sets them up at start: an
//! event sent with `overtime events send` reaches each matching listener's queue as an
//! overtime envelope for its job, keyed by the event's id.

use super::*;
use overtime_tests::{output_text, temp_project};
use std::time::Duration;

const DECLARATION: &str = r#"[project]
name = "evl"

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

#[tokio::test]
async fn overtime_events_send_reaches_the_queue_of_each_listener_whose_filter_matches() {
    let project = temp_project("evl");
    std::fs::write(project.join("infra/overtime.toml"), DECLARATION).expect("write");
    let bin_dir = overtime_tests::lambda::workspace_bin("overtime")
        .parent()
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let dev = Dev::start(
        &["--binaries".into(), bin_dir.display().to_string()],
        Some(&project),
        &overtime_tests::dev::fresh_state(),
    );
    assert!(
        dev.wait_for_output("ready", Duration::from_secs(60)),
        "{}",
        dev.log()
    );
    // The command as a function's environment would run it: the bus from
    // OVERTIME_EVENT_BUS, EventBridge at overtime dev's address.
    let send = |args: &[&str]| {
        std::process::Command::new(overtime_tests::lambda::workspace_bin("overtime"))
            .args(["events", "send"])
            .args(args)
            .env("AWS_ENDPOINT_URL", &dev.endpoint)
            .env("AWS_REGION", overtime_tests::server::REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("OVERTIME_EVENT_BUS", "evl-events")
            .output()
            .expect("run overtime events send")
    };
    let out = send(&[
        "user.signed_up",
        r#"{"email":"ada@example.com","plan":"free"}"#,
        "--id",
        "signup-ada",
    ]);
    let said = output_text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("sent user.signed_up on evl-events: event id signup-ada"),
        "{said}"
    );
    let out = send(&[
        "user.signed_up",
        r#"{"email":"bob@example.com","plan":"team"}"#,
        "--id",
        "signup-bob",
    ]);
    assert!(out.status.success(), "{}", output_text(&out));

    let sqs = dev.client(1).await;
    let url = sqs
        .get_queue_url()
        .queue_name("evl-jobs")
        .send()
        .await
        .expect("GetQueueUrl")
        .queue_url
        .expect("a URL");
    let got = drain(&dev, &url, 4).await;
    let mut envelopes: Vec<(String, String, serde_json::Value)> = got
        .iter()
        .map(|m| {
            let e: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or_default()).expect("an envelope");
            assert_eq!(e["v"], 1, "{e}");
            assert!(e["id"].as_str().is_some_and(|id| !id.is_empty()), "{e}");
            (
                e["job"].as_str().unwrap_or_default().to_owned(),
                e["key"].as_str().unwrap_or_default().to_owned(),
                e["payload"].clone(),
            )
        })
        .collect();
    envelopes.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let ada = serde_json::json!({"email": "ada@example.com", "plan": "free"});
    let bob = serde_json::json!({"email": "bob@example.com", "plan": "team"});
    assert_eq!(
        envelopes,
        vec![
            ("crm-sync".into(), "signup-bob".into(), bob.clone()),
            ("welcome-email".into(), "signup-ada".into(), ada),
            ("welcome-email".into(), "signup-bob".into(), bob),
        ],
        "each listener's job once per event it matches, keyed by the event's id"
    );
}
