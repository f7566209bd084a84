//! The Vercel adapters over real HTTP: each function runs as its own vercel_runtime server.

use overtime_tests::lambda::Function;
use overtime_tests::{QueueSpec, attr, free_port, sqs, wait_for_port};
use std::time::Duration;

struct Server {
    base: String,
    _process: Function,
}

fn serve(bin: &str, env: &[(&str, String)]) -> Server {
    let port = free_port();
    let mut env = env.to_vec();
    env.push(("VERCEL_DEV_PORT", port.to_string()));
    let process = Function::start(bin, &env);
    assert!(
        wait_for_port(port, Duration::from_secs(20)),
        "{bin} did not listen on {port}"
    );
    Server {
        base: format!("http://127.0.0.1:{port}"),
        _process: process,
    }
}

fn ticks_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("overtime-ticks-{}", uuid::Uuid::new_v4()))
}

#[tokio::test]
async fn cron_secret_is_checked_and_missing_secret_fails_closed() {
    let ticks = ticks_file();
    let server = serve(
        "test-cron",
        &[
            ("CRON_SECRET", "s3cret-value".into()),
            ("TICKS_PATH", ticks.display().to_string()),
        ],
    );
    let http = reqwest::Client::new();
    let url = format!("{}/api/cron/hourly", server.base);

    let ok = http
        .get(&url)
        .header("authorization", "Bearer s3cret-value")
        .header("x-vercel-cron-schedule", "0 * * * *")
        .header("user-agent", "vercel-cron/1.0")
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
    let body: serde_json::Value = ok.json().await.expect("JSON");
    assert_eq!(body["ok"], true);
    assert!(
        body["tick"]
            .as_str()
            .is_some_and(|k| k.starts_with("/api/cron/hourly@"))
    );

    for auth in [
        Some("Bearer wrong"),
        Some("Bearer s3cret-valuE"),
        Some("s3cret-value"),
        None,
    ] {
        let mut req = http.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.expect("request");
        assert_eq!(res.status(), 401, "authorization {auth:?}");
    }
    // Only the authenticated request ran the handler.
    let recorded = std::fs::read_to_string(&ticks).expect("ticks");
    assert_eq!(recorded.lines().count(), 1);
    let tick: serde_json::Value = serde_json::from_str(recorded.trim()).expect("JSON");
    assert_eq!(tick["source"], "vercel");
    assert_eq!(tick["schedule"], "/api/cron/hourly");
    assert_eq!(tick["expression"], "0 * * * *");

    // A failing handler answers 500 with the error, and the server keeps serving.
    let failed = http
        .get(format!("{}/api/cron/fail", server.base))
        .header("authorization", "Bearer s3cret-value")
        .send()
        .await
        .expect("request");
    assert_eq!(failed.status(), 500);
    assert!(
        failed
            .text()
            .await
            .unwrap_or_default()
            .contains("set to fail")
    );

    // Fail closed: no secret (or an empty one) refuses even a request that sends one.
    for secret in [None, Some("")] {
        let mut env = vec![("TICKS_PATH", ticks.display().to_string())];
        if let Some(s) = secret {
            env.push(("CRON_SECRET", s.to_owned()));
        }
        let open = serve("test-cron", &env);
        let res = http
            .get(format!("{}/api/cron/hourly", open.base))
            .header("authorization", "Bearer ")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 500, "secret {secret:?}");
        assert!(
            res.text()
                .await
                .unwrap_or_default()
                .contains("CRON_SECRET is not set")
        );
    }
    assert_eq!(
        std::fs::read_to_string(&ticks)
            .expect("ticks")
            .lines()
            .count(),
        1
    );
    let _ = std::fs::remove_file(ticks);
}

#[tokio::test]
async fn signup_route_enqueues_a_welcome_email_and_sends_user_signed_up() {
    let sqs = sqs().await;
    let q = sqs.queue("signup", QueueSpec::default()).await;
    let (bus, events) = sqs.bus_to_queue("user.signed_up").await;
    let mut env = sqs.env();
    env.push(("OVERTIME_QUEUE_URL", q.url.clone()));
    env.push(("OVERTIME_EVENT_BUS", bus));
    let server = serve("signup", &env);
    let http = reqwest::Client::new();
    let url = format!("{}/api/signup", server.base);

    let res = http
        .post(&url)
        .json(&serde_json::json!({"email": "ada@example.com", "plan": "pro"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 202);
    let body: serde_json::Value = res.json().await.expect("JSON");
    let job_id = body["queued"].as_str().expect("a job id").to_owned();
    let ada = app::SignedUp::new("ada@example.com".into(), "pro".into());
    assert_eq!(body["event"], ada.key().as_str());

    let bad = http
        .post(&url)
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 400);
    let invalid = http
        .post(&url)
        .json(&serde_json::json!({"email": "nobody"}))
        .send()
        .await
        .expect("request");
    assert_eq!(invalid.status(), 422);

    let received = sqs.drain(&q.url, 1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1, "only the valid signup was enqueued");
    assert_eq!(
        attr(&received[0], "overtime.job").as_deref(),
        Some("welcome-email")
    );
    assert_eq!(
        attr(&received[0], "overtime.key").as_deref(),
        Some(ada.key().as_str())
    );
    let env: serde_json::Value =
        serde_json::from_str(received[0].body().unwrap_or_default()).expect("JSON");
    assert_eq!(env["id"], job_id.as_str());
    assert_eq!(env["payload"]["email"], "ada@example.com");

    let sent = sqs.drain(&events, 1, Duration::from_secs(10)).await;
    assert_eq!(sent.len(), 1, "one event, for the valid signup");
    let event: serde_json::Value =
        serde_json::from_str(sent[0].body().unwrap_or_default()).expect("an event");
    assert_eq!(event["detail-type"], "user.signed_up");
    assert_eq!(
        event["detail"],
        serde_json::json!({
            "id": ada.key(),
            "data": {"id": ada.id, "email": "ada@example.com", "plan": "pro"}
        })
    );
}

#[tokio::test]
async fn the_drain_route_runs_durable_work_across_cron_ticks_within_max_duration() {
    use overtime::store::{RunStatus, RunStore};
    let sqs = sqs().await;
    let q = sqs.queue("drain", QueueSpec::with_dlq(5)).await;
    // The route opens the store as it would on Vercel with AWS credentials: a DynamoDB table.
    let store = sqs.run_table().await;
    let mut env = sqs.env();
    env.push(("OVERTIME_QUEUE_URL", q.url.clone()));
    env.push(("OVERTIME_RUN_STORE", format!("dynamodb:{}", store.table())));
    env.push(("OVERTIME_SLICE_BUDGET_SECS", "3".into()));
    env.push(("CRON_SECRET", "drain-secret".into()));
    let server = serve("drain", &env);
    let queue = overtime::Queue::new(sqs.client.clone(), &q.url);
    let accounts = 400_000u64;
    let sent = queue
        .send(app::RescoreAccounts {
            from: 0,
            to: accounts,
        })
        .await
        .expect("send");

    let http = reqwest::Client::new();
    let tick = || {
        http.get(format!("{}/api/cron/drain", server.base))
            .header("authorization", "Bearer drain-secret")
            .header("x-vercel-cron-schedule", "* * * * *")
            .send()
    };
    let forged = http
        .get(format!("{}/api/cron/drain", server.base))
        .header("authorization", "Bearer guess")
        .send()
        .await
        .expect("request");
    assert_eq!(forged.status(), 401, "a forged cron request drains nothing");

    let mut ticks = 0;
    let run = loop {
        ticks += 1;
        let answer = tick().await.expect("request");
        assert_eq!(answer.status(), 200, "each tick answers after its window");
        let run = store
            .get(&sent.job_id)
            .await
            .expect("store")
            .expect("the run exists");
        if run.status().is_final() {
            break run;
        }
        assert!(
            !run.is_claimed() && run.next_slice_sent(),
            "between ticks the run waits on its next slice: {run:?}"
        );
        assert!(ticks < 40, "the run never finished: {run:?}");
    };
    assert!(ticks >= 2, "the work outlasted one 3 s window");
    assert_eq!(run.status(), RunStatus::Done);
    assert_eq!(run.items_done(), accounts);
    assert_eq!(sqs.depth(&q.url).await, (0, 0, 0));
}
