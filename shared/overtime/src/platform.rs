//! Which platform this process runs on, read once from the environment.

/// Whether the Lambda runtime API is here (`AWS_LAMBDA_RUNTIME_API` is set): Lambda itself,
/// `cargo lambda watch`, or `overtime dev`.
#[cfg_attr(not(feature = "lambda"), allow(dead_code))]
pub(crate) fn on_lambda() -> bool {
    std::env::var_os(crate::env::LAMBDA_RUNTIME_API).is_some()
}
