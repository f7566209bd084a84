//! Logging set-up shared by every function: one call in `main`.

use tracing_subscriber::EnvFilter;

/// Installs a tracing subscriber for a function binary.
///
/// Follows Lambda's advanced logging controls wherever it runs: `AWS_LAMBDA_LOG_FORMAT=JSON`
/// gives one JSON object per line (with the current span's fields: job, message id,
/// attempt), and the level comes from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`.
/// Calling it twice is harmless.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(level.to_lowercase()).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_target(false);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let _ = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
