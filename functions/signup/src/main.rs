//! `POST /api/signup {"email": "…"}`: enqueue the welcome email, answer 202 at once.

use app::WelcomeEmail;
use overtime::http::{Request, Response, StatusCode, json_response, serve};
use overtime::{BoxError, Message, Queue};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct Signup {
    email: String,
}

async fn signup(queue: Queue, req: Request) -> Response {
    let Ok(Signup { email }) = serde_json::from_slice(req.body()) else {
        let error = json!({"error": "expected {\"email\": \"…\"}"});
        return json_response(StatusCode::BAD_REQUEST, &error);
    };
    if !app::is_email(&email) {
        let error = json!({"error": "not an email address"});
        return json_response(StatusCode::UNPROCESSABLE_ENTITY, &error);
    }
    // The key reaches the job, which passes it to the email provider's idempotency key.
    let key = format!("welcome:{email}");
    let message = Message::new(&WelcomeEmail { email }).idempotency_key(key);
    match queue.send(message).await {
        Ok(sent) => json_response(StatusCode::ACCEPTED, &json!({"queued": sent.job_id})),
        Err(err) => {
            tracing::error!(error = %err, "could not enqueue the welcome email");
            let error = json!({"error": "try again shortly"});
            json_response(StatusCode::SERVICE_UNAVAILABLE, &error)
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    let queue = Queue::from_env_var("OVERTIME_QUEUE_URL").await?;
    serve(move |req| signup(queue.clone(), req)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use overtime::testing::{Outcome, TestWorker};

    fn post(body: &str) -> Request {
        Request::new(body.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn a_signup_is_answered_202_and_its_welcome_email_runs() {
        let worker = TestWorker::new(app::worker(app::App::from_env()));
        let response = signup(
            worker.queue().clone(),
            post(r#"{"email":"ada@example.com"}"#),
        )
        .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: serde_json::Value = serde_json::from_str(response.body()).expect("json");
        let report = worker.run_until_idle().await;
        let runs: Vec<_> = report.of("welcome-email").collect();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].outcome, Outcome::Succeeded);
        assert_eq!(body["queued"].as_str(), Some(runs[0].job_id.as_str()));
    }

    #[tokio::test]
    async fn a_bad_request_is_refused_and_nothing_is_enqueued() {
        let worker = TestWorker::new(app::worker(app::App::from_env()));
        let queue = worker.queue().clone();
        let not_json = signup(queue.clone(), post("email=ada")).await;
        assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
        let not_an_email = signup(queue, post(r#"{"email":"ada"}"#)).await;
        assert_eq!(not_an_email.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(worker.pending(), 0);
    }
}
