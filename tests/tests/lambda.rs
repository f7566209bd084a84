//! The Lambda adapters through a real Lambda runtime API (`cargo lambda watch`), invoked with
//! `cargo lambda invoke` and the event fixtures that ship with `aws_lambda_events`.
//! `cargo lambda watch` passes a made-up deadline; nothing here depends on it.

use overtime::Queue;
use overtime_tests::jobs::{Flaky, Record};
use overtime_tests::lambda::{Function, RuntimeApi, fixture, sqs_event};
use overtime_tests::{QueueSpec, attr, sqs};
use std::collections::HashSet;
use std::time::Duration;

fn lambda_env(api: &RuntimeApi) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", api.runtime_api()),
        (
            "AWS_LAMBDA_FUNCTION_NAME",
            RuntimeApi::FUNCTION_NAME.to_owned(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
    ]
}

#[tokio::test]
async fn sqs_batch_through_the_runtime_api_reports_partial_failures() {
    let sqs = sqs().await;
    let q = sqs.queue("lambda-sqs", QueueSpec::with_dlq(5)).await;
    let queue = Queue::new(sqs.client.clone(), &q.url);
    queue
        .send_all((0..4).map(|i| Record {
            id: format!("ok{i}"),
            sleep_ms: 0,
        }))
        .await;
    queue
        .send(Flaky {
            id: "bad".into(),
            fail_attempts: 9,
        })
        .await
        .expect("sent");

    let api = RuntimeApi::start();
    let mut env = lambda_env(&api);
    env.extend(sqs.env());
    env.push(("BACKOFF_MS", "4000".into()));
    let _worker = Function::start("test-worker", &env);

    let messages = sqs.receive_n(&q.url, 5).await;
    let response = api
        .invoke(&sqs_event(&messages, &q.arn))
        .expect("the invocation succeeds as a whole");
    let failed: HashSet<String> = response["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
        .collect();
    let bad: HashSet<String> = messages
        .iter()
        .filter(|m| m.body().unwrap_or_default().contains("\"bad\""))
        .map(|m| m.message_id().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(failed, bad);
    let (_, in_flight, _) = sqs.depth(&q.url).await;
    assert_eq!(
        in_flight, 5,
        "Lambda deletes the 4 successes; the worker deleted nothing early"
    );
    // The failed message's visibility was set to the backoff (2–4 s), not left at the
    // queue's 30 s: it comes back long before the successes would.
    let back = sqs.drain(&q.url, 1, Duration::from_secs(15)).await;
    assert_eq!(back.len(), 1);
    assert!(back[0].body().unwrap_or_default().contains("\"bad\""));
    assert_eq!(overtime_tests::receive_count(&back[0]), 2);

    // An empty batch is a valid event with nothing to report.
    let empty = api
        .invoke(&serde_json::json!({"Records": []}))
        .expect("empty batch");
    assert_eq!(empty["batchItemFailures"], serde_json::json!([]));
}

#[tokio::test]
async fn eventbridge_scheduled_event_fixture_fans_out_with_tick_keys() {
    let sqs = sqs().await;
    let q = sqs.queue("lambda-cron", QueueSpec::default()).await;
    let api = RuntimeApi::start();
    let mut env = lambda_env(&api);
    env.extend(sqs.env());
    env.push(("OVERTIME_QUEUE_URL", q.url.clone()));
    env.push(("ACCOUNT_COUNT", "25".into()));
    // The real example function, not a test double.
    let _cron = Function::start("sync-accounts", &env);

    let event = fixture("example-eventbridge-schedule.json");
    let response = api.invoke(&event).expect("tick handled");
    assert_eq!(response["tick"], "my-scheduled-rule@2015-10-08T16:53:06Z");

    let received = sqs.drain(&q.url, 25, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 25);
    let keys: HashSet<String> = received
        .iter()
        .filter_map(|m| attr(m, "overtime.key"))
        .collect();
    let expected: HashSet<String> = (1..=25)
        .map(|i| format!("my-scheduled-rule@2015-10-08T16:53:06Z/{i}"))
        .collect();
    assert_eq!(keys, expected);
    assert!(
        received
            .iter()
            .all(|m| attr(m, "overtime.job").as_deref() == Some("sync-account"))
    );

    // An event that is not a schedule fails the invocation with a reason, not a crash:
    // the function keeps serving.
    let err = api
        .invoke(&serde_json::json!({"Records": []}))
        .expect_err("not a tick");
    assert!(err.contains("not a schedule event"), "{err}");
    let again = api.invoke(&event).expect("still serving");
    assert_eq!(again["tick"], "my-scheduled-rule@2015-10-08T16:53:06Z");
}

#[tokio::test]
async fn scheduler_input_and_failing_handlers() {
    let api = RuntimeApi::start();
    let ticks = std::env::temp_dir().join(format!("overtime-ticks-{}", uuid::Uuid::new_v4()));
    let mut env = lambda_env(&api);
    env.push(("TICKS_PATH", ticks.display().to_string()));
    let _cron = Function::start("test-cron", &env);

    let input = serde_json::json!({
        "overtime": "tick",
        "schedule": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly-report",
        "scheduledTime": "2026-03-29T01:30:00Z",
        "payload": {"report": "daily"}
    });
    let response = api.invoke(&input).expect("tick handled");
    assert_eq!(response["tick"], "nightly-report@2026-03-29T01:30:00Z");
    let recorded: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&ticks)
            .expect("tick recorded")
            .trim(),
    )
    .expect("JSON");
    assert_eq!(recorded["source"], "event-bridge-scheduler");
    assert_eq!(recorded["payload"]["report"], "daily");

    let failing = serde_json::json!({
        "overtime": "tick", "schedule": "must-fail", "scheduledTime": "2026-03-29T01:30:00Z"
    });
    let err = api.invoke(&failing).expect_err("handler error surfaces");
    assert!(err.contains("must-fail is set to fail"), "{err}");
    let _ = std::fs::remove_file(ticks);
}

#[tokio::test]
async fn signup_route_on_a_lambda_function_url() {
    let sqs = sqs().await;
    let q = sqs.queue("lambda-signup", QueueSpec::default()).await;
    let (bus, events) = sqs.bus_to_queue("user.signed_up").await;
    let api = RuntimeApi::start();
    let mut env = lambda_env(&api);
    env.extend(sqs.env());
    env.push(("OVERTIME_QUEUE_URL", q.url.clone()));
    env.push(("OVERTIME_EVENT_BUS", bus));
    // The real example function: the same binary that serves Vercel.
    let _signup = Function::start("signup", &env);

    let request = |body: &str, base64: bool| {
        serde_json::json!({
            "version": "2.0",
            "rawPath": "/api/signup",
            "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": "/api/signup"}, "timeEpoch": 0},
            "body": body,
            "isBase64Encoded": base64
        })
    };
    let ok = api
        .invoke(&request(r#"{"email":"ada@example.com"}"#, false))
        .expect("invoked");
    assert_eq!(ok["statusCode"], 202, "{ok}");
    // {"email":"bob@example.com"}, base64-encoded as function URLs send binary bodies.
    let encoded = api
        .invoke(&request("eyJlbWFpbCI6ImJvYkBleGFtcGxlLmNvbSJ9", true))
        .expect("invoked");
    assert_eq!(encoded["statusCode"], 202, "{encoded}");
    let bad = api.invoke(&request("{not json", false)).expect("invoked");
    assert_eq!(bad["statusCode"], 400, "{bad}");

    let received = sqs.drain(&q.url, 3, Duration::from_secs(6)).await;
    let keys: HashSet<String> = received
        .iter()
        .filter_map(|m| attr(m, "overtime.key"))
        .collect();
    let expected: HashSet<String> = ["ada@example.com", "bob@example.com"]
        .into_iter()
        .map(|email| app::SignedUp::new(email.into(), "free".into()).key())
        .collect();
    assert_eq!(
        keys, expected,
        "exactly the two valid signups were enqueued"
    );
    let sent = sqs.drain(&events, 2, Duration::from_secs(10)).await;
    let ids: HashSet<String> = sent
        .iter()
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(m.body()?).ok())
        .filter_map(|e| e["detail"]["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        ids, expected,
        "and each sent user.signed_up under the same key"
    );
}
