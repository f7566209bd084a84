//! Cron on Vercel: a GET from Vercel's scheduler, authenticated by `CRON_SECRET`.
//!
//! Vercel calls the cron path with `Authorization: Bearer $CRON_SECRET`. The secret is
//! compared in constant time; a wrong or missing header gets 401. When `CRON_SECRET` is
//! unset or empty the function fails closed: every request gets 500 and an error log line,
//! because an unauthenticated cron endpoint lets anyone on the internet run the job.

use super::{Tick, TickSource, floor_to_minute};
use crate::http::json_response as json;
use crate::job::BoxError;
use crate::worker::panic_message as dispatch_panic_message;
use futures_util::FutureExt;
use http::{HeaderMap, Response, StatusCode, header};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use subtle::ConstantTimeEq;
use vercel_runtime::{Request, service_fn};

/// The header carrying the cron expression that fired the request.
pub const SCHEDULE_HEADER: &str = "x-vercel-cron-schedule";

/// Why a cron request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronAuthError {
    /// The function has no secret to check against: refuse everything.
    #[error(
        "CRON_SECRET is not set: refusing to run cron jobs unauthenticated; set it in the Vercel project's environment variables"
    )]
    SecretUnset,
    /// The request carries no `Authorization: Bearer …` header.
    #[error("missing Authorization: Bearer header")]
    MissingHeader,
    /// The bearer token does not match.
    #[error("Authorization header does not match CRON_SECRET")]
    Mismatch,
}

impl CronAuthError {
    /// The HTTP status to answer with: 500 when misconfigured, else 401.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::SecretUnset => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MissingHeader | Self::Mismatch => StatusCode::UNAUTHORIZED,
        }
    }
}

/// Checks a request's headers against `secret` (`None` or empty: fail closed).
///
/// Usable from any HTTP framework; [`run`] calls it on every request.
///
/// ```
/// use overtime::cron::vercel::{verify, CronAuthError};
/// let mut headers = http::HeaderMap::new();
/// headers.insert("authorization", "Bearer s3cret".parse().unwrap());
/// assert_eq!(verify(&headers, Some("s3cret")), Ok(()));
/// assert_eq!(verify(&headers, Some("other")), Err(CronAuthError::Mismatch));
/// assert_eq!(verify(&headers, None), Err(CronAuthError::SecretUnset));
/// ```
pub fn verify(headers: &HeaderMap, secret: Option<&str>) -> Result<(), CronAuthError> {
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(CronAuthError::SecretUnset)?;
    let given = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .ok_or(CronAuthError::MissingHeader)?;
    let expected = format!("Bearer {secret}");
    if bool::from(given.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(CronAuthError::Mismatch)
    }
}

/// The tick a verified Vercel cron request stands for: the path names the schedule, and
/// the minute it arrived in is its scheduled time (Vercel sends no scheduled time).
pub fn tick_from_request(path: &str, headers: &HeaderMap) -> Tick {
    Tick {
        schedule: path.to_owned(),
        scheduled_at: floor_to_minute(chrono::Utc::now()),
        source: TickSource::Vercel,
        expression: headers
            .get(SCHEDULE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        payload: None,
    }
}

/// Authenticates one request and runs the handler; the response says what happened.
pub async fn handle<F, Fut>(handler: &F, path: &str, headers: &HeaderMap) -> Response<String>
where
    F: Fn(Tick) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let secret = std::env::var(crate::env::CRON_SECRET).ok();
    if let Err(err) = verify(headers, secret.as_deref()) {
        if err == CronAuthError::SecretUnset {
            tracing::error!(path, "{err}");
        } else {
            tracing::warn!(path, "refused cron request: {err}");
        }
        return json(
            err.status(),
            &serde_json::json!({ "ok": false, "error": err.to_string() }),
        );
    }
    let tick = tick_from_request(path, headers);
    let key = tick.key();
    let span = tracing::info_span!("tick", schedule = %tick.schedule, scheduled_at = %tick.scheduled_at, source = "vercel");
    // Boxed: the handler's future stays out of the server's own layout.
    let run = Box::pin(tracing::Instrument::instrument(
        AssertUnwindSafe(handler(tick)).catch_unwind(),
        span,
    ));
    let error = match run.await {
        Ok(Ok(())) => {
            return json(
                StatusCode::OK,
                &serde_json::json!({ "ok": true, "tick": key }),
            );
        }
        Ok(Err(err)) => crate::error::error_chain(&*err),
        Err(panic) => format!("cron handler panicked: {}", dispatch_panic_message(&*panic)),
    };
    tracing::error!(path, error = %error, "cron handler failed");
    json(
        StatusCode::INTERNAL_SERVER_ERROR,
        &serde_json::json!({ "ok": false, "tick": key, "error": error }),
    )
}

/// Serves the cron handler with Vercel's Rust runtime (an HTTP server on
/// `127.0.0.1:$VERCEL_DEV_PORT`, default 3000).
pub async fn run<F, Fut>(handler: F) -> Result<(), BoxError>
where
    F: Fn(Tick) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    vercel_runtime::run(service_fn(move |req: Request| {
        let handler = handler.clone();
        async move {
            let (parts, _body) = req.into_parts();
            Ok::<_, vercel_runtime::Error>(handle(&handler, parts.uri.path(), &parts.headers).await)
        }
    }))
    .await
}
