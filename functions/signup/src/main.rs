//! `POST /api/signup {"email": "…"}`: enqueue the welcome email, answer 202 at once.

use app::WelcomeEmail;
use overtime::http::{Request, Response, StatusCode, json, serve};
use overtime::{BoxError, Message, Queue};
use serde::Deserialize;
use serde_json::json as body;

#[derive(Deserialize)]
struct Signup {
    email: String,
}

async fn signup(queue: Queue, req: Request) -> Response {
    let Ok(Signup { email }) = serde_json::from_slice(req.body()) else {
        return json(
            StatusCode::BAD_REQUEST,
            &body!({"error": "expected {\"email\": \"…\"}"}),
        );
    };
    if !app::is_email(&email) {
        return json(
            StatusCode::UNPROCESSABLE_ENTITY,
            &body!({"error": "not an email address"}),
        );
    }
    // The key reaches the job, which passes it to the email provider's idempotency key.
    let key = format!("welcome:{email}");
    let sent = match Message::new(&WelcomeEmail { email }) {
        Ok(msg) => queue.send_message(msg.idempotency_key(key)).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(sent) => json(StatusCode::ACCEPTED, &body!({"queued": sent.job_id})),
        Err(err) => {
            tracing::error!(error = %err, "could not enqueue the welcome email");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                &body!({"error": "try again shortly"}),
            )
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    overtime::telemetry::init();
    let queue = Queue::from_env_var("OVERTIME_QUEUE_URL").await?;
    serve(move |req| signup(queue.clone(), req)).await
}
