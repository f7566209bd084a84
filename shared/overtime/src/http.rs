//! HTTP routes that enqueue work, on Lambda (function URLs) or Vercel, with one handler.
//!
//! A route is an `async fn(Request)` over the `http` crate's types with the body read in
//! full, answering a [`Response`] or a `Result<Response, E>` (an error is logged with its
//! causes and answered 500, so `?` works in a route); [`serve`] runs it on whichever platform
//! the process is on.
//!
//! ```no_run
//! use overtime::http::{Request, Response, serve};
//!
//! async fn hello(req: Request) -> Response {
//!     Response::new(format!("{} {}", req.method(), req.uri().path()))
//! }
//!
//! # async fn demo() -> Result<(), overtime::BoxError> {
//! serve(hello).await
//! # }
//! ```

use crate::job::BoxError;
use std::future::Future;

pub use http::StatusCode;

/// A request with its whole body.
pub type Request = http::Request<Vec<u8>>;
/// A response with a text body.
pub type Response = http::Response<String>;

/// What a route may answer: a [`Response`], or a `Result` whose error becomes a 500.
pub trait IntoResponse {
    /// The response to send.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<E: Into<BoxError>> IntoResponse for Result<Response, E> {
    fn into_response(self) -> Response {
        self.unwrap_or_else(|err| {
            let err: BoxError = err.into();
            tracing::error!(error = %crate::error_chain(&*err), "route failed");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &serde_json::json!({ "error": "internal error" }),
            )
        })
    }
}

/// A response with `body` as JSON and the given status.
///
/// ```
/// use overtime::http::{StatusCode, json_response};
/// let r = json_response(StatusCode::ACCEPTED, &serde_json::json!({"queued": "6f1c"}));
/// assert_eq!(r.status(), StatusCode::ACCEPTED);
/// assert_eq!(r.body(), r#"{"queued":"6f1c"}"#);
/// ```
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = Response::new(body.to_string());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves `handler` under the Lambda runtime API when `AWS_LAMBDA_RUNTIME_API` is set
/// (feature `lambda`: Lambda function URL events), else with Vercel's runtime
/// (feature `vercel`).
pub async fn serve<F, Fut>(handler: F) -> Result<(), BoxError>
where
    F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output: IntoResponse> + Send + 'static,
{
    // Boxed: a `main` that awaits this stays shallow whatever the handler's future holds.
    #[cfg(feature = "lambda")]
    if crate::platform::on_lambda() {
        return Box::pin(lambda::serve(handler)).await;
    }
    #[cfg(feature = "vercel")]
    {
        Box::pin(vercel::serve(handler)).await
    }
    #[cfg(not(feature = "vercel"))]
    {
        let _ = handler;
        Err("no HTTP platform: enable overtime's `lambda` feature and run under the Lambda runtime API, or enable `vercel`".into())
    }
}

#[cfg(feature = "lambda")]
mod lambda {
    use super::{BoxError, IntoResponse, Request, Response};
    use aws_lambda_events::event::lambda_function_urls::{
        LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
    };
    use base64::Engine;
    use lambda_runtime::{LambdaEvent, service_fn};
    use std::future::Future;

    pub(super) async fn serve<F, Fut>(handler: F) -> Result<(), BoxError>
    where
        F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output: IntoResponse> + Send + 'static,
    {
        lambda_runtime::run(service_fn(
            move |event: LambdaEvent<LambdaFunctionUrlRequest>| {
                let handler = handler.clone();
                async move {
                    let request = to_request(event.payload)?;
                    let response = Box::pin(handler(request)).await.into_response();
                    Ok::<_, BoxError>(to_response(response))
                }
            },
        ))
        .await
    }

    fn to_request(e: LambdaFunctionUrlRequest) -> Result<Request, BoxError> {
        let body = match e.body {
            Some(b) if e.is_base64_encoded => {
                base64::engine::general_purpose::STANDARD.decode(b)?
            }
            Some(b) => b.into_bytes(),
            None => Vec::new(),
        };
        let path = e
            .raw_path
            .or(e.request_context.http.path)
            .unwrap_or_else(|| "/".into());
        let uri = match e.raw_query_string.filter(|q| !q.is_empty()) {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut request = http::Request::builder()
            .method(e.request_context.http.method.as_deref().unwrap_or("GET"))
            .uri(uri)
            .body(body)?;
        *request.headers_mut() = e.headers;
        Ok(request)
    }

    fn to_response(r: Response) -> LambdaFunctionUrlResponse {
        let (parts, body) = r.into_parts();
        let mut out = LambdaFunctionUrlResponse::default();
        out.status_code = i64::from(parts.status.as_u16());
        out.headers = parts.headers;
        out.body = Some(body);
        out
    }
}

#[cfg(feature = "vercel")]
mod vercel {
    use super::{BoxError, IntoResponse, Request};
    use http_body_util::BodyExt;
    use std::future::Future;
    use vercel_runtime::service_fn;

    pub(super) async fn serve<F, Fut>(handler: F) -> Result<(), BoxError>
    where
        F: Fn(Request) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output: IntoResponse> + Send + 'static,
    {
        vercel_runtime::run(service_fn(move |req: vercel_runtime::Request| {
            let handler = handler.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await?.to_bytes().to_vec();
                let request = http::Request::from_parts(parts, body);
                Ok::<_, vercel_runtime::Error>(Box::pin(handler(request)).await.into_response())
            }
        }))
        .await
    }
}
