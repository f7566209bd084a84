//! Every handler shape a user writes compiles: async fns, closures returning async blocks,
//! captured clients, `?` on overtime's errors, for cron, HTTP and job handlers.
//!
//! Each `main_*` is what a function's `main` would be. Taking the size of its future makes
//! the compiler lay the future out, which is where an inline cron closure that fans out used
//! to fail ("queries overflow the depth limit!", before the futures were boxed at overtime's
//! API boundaries). The handlers themselves are then called, so each shape also runs.

use overtime::cron::{self, Tick};
use overtime::http::{self, Request, Response, StatusCode, json_response};
use overtime::testing::{Outcome, TestWorker};
use overtime::{BoxError, Job, JobContext, JobResult, Message, Queue, Worker};
use serde::{Deserialize, Serialize};

/// A queue on a port nothing listens on, built without reading the environment (no
/// credential or region lookups): these tests send nothing.
fn offline_queue() -> Queue {
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .build(),
    );
    Queue::new(client, "http://127.0.0.1:9/000000000000/jobs")
}

#[derive(Serialize, Deserialize)]
struct SyncAccount {
    id: u64,
}

impl Job for SyncAccount {
    const NAME: &'static str = "sync-account";
    type State = ();
    async fn run(self, _: JobContext<()>) -> JobResult {
        Ok(())
    }
}

/// A job whose `run` uses `?` on overtime's own errors (a send, a fan-out, a step).
#[derive(Serialize, Deserialize)]
struct FanOut {
    count: u64,
}

impl Job for FanOut {
    const NAME: &'static str = "fan-out";
    type State = ();
    async fn run(self, ctx: JobContext<()>) -> JobResult {
        let total: u64 = ctx.step("count", || async { Ok(self.count) }).await?;
        ctx.queue().send(SyncAccount { id: 0 }).await?;
        let jobs =
            (1..total).map(|id| Message::new(&SyncAccount { id }).idempotency_key(id.to_string()));
        ctx.queue().send_all(jobs).await.into_result()?;
        Ok(())
    }
}

fn the_tick() -> Tick {
    Tick::manual("hourly-sync")
}

// --- cron ---------------------------------------------------------------------------------

/// The shape from the report: an inline closure capturing a client, fanning out in its body.
async fn main_cron_inline_closure(queue: Queue) -> Result<(), BoxError> {
    cron::run(move |tick: Tick| {
        let queue = queue.clone();
        async move {
            let jobs = (0..10u64)
                .map(|id| Message::new(&SyncAccount { id }).idempotency_key(tick.key_for(id)));
            queue.send_all(jobs).await.into_result()?;
            Ok(())
        }
    })
    .await
}

async fn cleanup(tick: Tick) -> Result<(), BoxError> {
    tracing::info!(schedule = tick.schedule, "cleaned up");
    Ok(())
}

async fn main_cron_async_fn() -> Result<(), BoxError> {
    cron::run(cleanup).await
}

async fn sync(queue: Queue, tick: Tick) -> Result<(), BoxError> {
    queue
        .send(Message::new(&SyncAccount { id: 1 }).idempotency_key(tick.key()))
        .await?;
    Ok(())
}

async fn main_cron_captured_client(queue: Queue) -> Result<(), BoxError> {
    cron::run(move |tick| sync(queue.clone(), tick)).await
}

#[test]
fn cron_handlers_of_every_shape_compile_into_a_main() {
    let queue = offline_queue();
    assert!(std::mem::size_of_val(&main_cron_inline_closure(queue.clone())) > 0);
    assert!(std::mem::size_of_val(&main_cron_async_fn()) > 0);
    assert!(std::mem::size_of_val(&main_cron_captured_client(queue)) > 0);
}

#[tokio::test]
async fn a_cron_handler_called_directly_runs_and_reports_a_failed_send() {
    cleanup(the_tick()).await.expect("runs");
    // Nothing listens on port 9: the `?` on the send turns into the handler's error.
    let err = sync(offline_queue(), the_tick())
        .await
        .expect_err("no SQS there");
    assert!(err.to_string().contains("SendMessageBatch"), "{err}");
}

// --- HTTP ---------------------------------------------------------------------------------

async fn hello(req: Request) -> Response {
    Response::new(format!("hello {}", req.uri().path()))
}

/// A route with `?`: its error is logged and answered 500.
async fn enqueue(queue: Queue, req: Request) -> Result<Response, BoxError> {
    let job: SyncAccount = serde_json::from_slice(req.body())?;
    let sent = queue.send(job).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &serde_json::json!({"queued": sent.job_id}),
    ))
}

async fn main_http_async_fn() -> Result<(), BoxError> {
    http::serve(hello).await
}

async fn main_http_closure_with_question_marks(queue: Queue) -> Result<(), BoxError> {
    http::serve(move |req| enqueue(queue.clone(), req)).await
}

async fn main_http_inline_async_block(queue: Queue) -> Result<(), BoxError> {
    http::serve(move |req: Request| {
        let queue = queue.clone();
        async move {
            let job: SyncAccount = serde_json::from_slice(req.body())?;
            queue.send(job).await?;
            Ok::<_, BoxError>(json_response(StatusCode::ACCEPTED, &serde_json::json!({})))
        }
    })
    .await
}

#[test]
fn http_routes_of_every_shape_compile_into_a_main() {
    let queue = offline_queue();
    assert!(std::mem::size_of_val(&main_http_async_fn()) > 0);
    assert!(std::mem::size_of_val(&main_http_closure_with_question_marks(queue.clone())) > 0);
    assert!(std::mem::size_of_val(&main_http_inline_async_block(queue)) > 0);
}

#[tokio::test]
async fn a_route_s_error_becomes_a_500_and_its_response_passes_through() {
    use overtime::http::IntoResponse;
    let req = |body: &str| Request::new(body.as_bytes().to_vec());
    let mut get = req("");
    *get.uri_mut() = "/x".parse().expect("a path");
    let ok = hello(get).await;
    assert_eq!(ok.into_response().body(), "hello /x");
    let bad = enqueue(offline_queue(), req("not json"))
        .await
        .into_response();
    assert_eq!(bad.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(bad.body(), r#"{"error":"internal error"}"#);
}

// --- jobs ---------------------------------------------------------------------------------

async fn main_worker() -> Result<(), BoxError> {
    Worker::new()
        .job::<SyncAccount>()
        .job::<FanOut>()
        .run()
        .await
}

#[test]
fn a_worker_main_compiles() {
    assert!(std::mem::size_of_val(&main_worker()) > 0);
}

#[tokio::test]
async fn a_job_using_question_marks_on_overtime_errors_runs_under_the_test_worker() {
    let worker = TestWorker::new(Worker::new().job::<SyncAccount>().job::<FanOut>());
    worker
        .queue()
        .send(FanOut { count: 5 })
        .await
        .expect("sent");
    let report = worker.run_until_idle().await;
    assert_eq!(
        report
            .of("fan-out")
            .map(|r| r.outcome.clone())
            .collect::<Vec<_>>(),
        [Outcome::Succeeded]
    );
    assert_eq!(report.of("sync-account").count(), 5);
    assert_eq!(report.succeeded(), 6);
}

/// Another job under `SyncAccount`'s name.
#[derive(Serialize, Deserialize)]
struct Impostor;

impl Job for Impostor {
    const NAME: &'static str = "sync-account";
    type State = ();
    async fn run(self, _: JobContext<()>) -> JobResult {
        Ok(())
    }
}

#[test]
#[should_panic(
    expected = "job name \"sync-account\" is taken by handler_shapes::SyncAccount; handler_shapes::Impostor cannot be registered under it too"
)]
fn a_second_job_under_a_taken_name_is_refused_with_both_types_named() {
    let _ = Worker::new().job::<SyncAccount>().job::<Impostor>();
}
