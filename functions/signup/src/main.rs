//! `POST /api/signup {"email": "…", "plan": "pro"}`: enqueue the welcome email, tell the app a
//! user signed up (`user.signed_up`, which the CRM sync listens to), answer 202 at once.

use app::{SignedUp, WelcomeEmail};
use overtime::events::{EventBus, OutgoingEvent};
use overtime::http::{Request, Response, StatusCode, json_response, serve};
use overtime::{BoxError, Message, Queue};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Signup {
    email: String,
    #[serde(default = "free")]
    plan: String,
}

fn free() -> String {
    "free".into()
}

async fn signup(queue: Queue, bus: EventBus, req: Request) -> Response {
    let Ok(Signup { email, plan }) = serde_json::from_slice(req.body()) else {
        let error = json!({"error": "expected {\"email\": \"…\", \"plan\": \"…\"}"});
        return json_response(StatusCode::BAD_REQUEST, &error);
    };
    if !app::is_email(&email) {
        let error = json!({"error": "not an email address"});
        return json_response(StatusCode::UNPROCESSABLE_ENTITY, &error);
    }
    let user = SignedUp::new(email, plan);
    // One key for the sign-up: the welcome email's and the event's, so a retried request, and
    // the welcome-email listener hearing the event, still send one email.
    let key = user.key();
    let welcome = WelcomeEmail {
        email: user.email.clone(),
    };
    let queued = match queue
        .send(Message::new(&welcome).idempotency_key(&key))
        .await
    {
        Ok(sent) => sent.job_id,
        Err(err) => return unavailable("could not enqueue the welcome email", &err),
    };
    match bus.send(OutgoingEvent::new(&user).id(key)).await {
        Ok(sent) => json_response(
            StatusCode::ACCEPTED,
            &json!({"queued": queued, "event": sent.id}),
        ),
        Err(err) => unavailable("could not send user.signed_up", &err),
    }
}

/// A 503 the client retries, which is safe: the retry reuses the sign-up's key.
fn unavailable(what: &str, err: &dyn std::error::Error) -> Response {
    tracing::error!(error = %err, "{what}");
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": "try again shortly"}),
    )
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    let queue = Queue::from_env_var("OVERTIME_QUEUE_URL").await?;
    let bus = EventBus::from_env().await?;
    serve(move |req| signup(queue.clone(), bus.clone(), req)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use overtime::testing::{Outcome, TestWorker};

    fn post(body: &str) -> Request {
        Request::new(body.as_bytes().to_vec())
    }

    /// A bus nothing serves: a loopback port no one listens on, one attempt per call.
    fn unreachable_bus() -> EventBus {
        use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region, retry};
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .credentials_provider(Credentials::for_tests())
            .retry_config(retry::RetryConfig::disabled())
            .build();
        EventBus::new(aws_sdk_eventbridge::Client::from_conf(config), "nowhere")
    }

    #[tokio::test]
    async fn a_signup_whose_event_cannot_be_sent_is_answered_503_for_the_client_to_retry() {
        let worker = TestWorker::new(app::worker(app::App::from_env()));
        let body = r#"{"email":"ada@example.com","plan":"pro"}"#;
        let response = signup(worker.queue().clone(), unreachable_bus(), post(body)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        // The welcome email went out before the event failed; the retry's has the same key.
        let report = worker.run_until_idle().await;
        let runs: Vec<_> = report.of("welcome-email").collect();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].outcome, Outcome::Succeeded);
    }

    #[tokio::test]
    async fn a_bad_request_is_refused_and_nothing_is_enqueued() {
        let worker = TestWorker::new(app::worker(app::App::from_env()));
        let queue = worker.queue().clone();
        let not_json = signup(queue.clone(), unreachable_bus(), post("email=ada")).await;
        assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
        let not_an_email = signup(queue, unreachable_bus(), post(r#"{"email":"ada"}"#)).await;
        assert_eq!(not_an_email.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(worker.pending(), 0);
    }
}
