//! Which platform this process runs on, read once from the environment.

/// Whether the Lambda runtime API is here (`AWS_LAMBDA_RUNTIME_API` is set): Lambda itself,
/// `cargo lambda watch`, or `overtime dev`.
#[cfg_attr(not(feature = "lambda"), allow(dead_code))]
pub(crate) fn on_lambda() -> bool {
    std::env::var_os(crate::env::LAMBDA_RUNTIME_API).is_some()
}

/// The standard AWS configuration (environment, profile files, endpoints), loaded once per
/// process and shared by every client overtime builds: a cold start reads it once, not once
/// per service.
pub(crate) async fn aws_config() -> &'static aws_config::SdkConfig {
    static CONFIG: tokio::sync::OnceCell<aws_config::SdkConfig> =
        tokio::sync::OnceCell::const_new();
    CONFIG
        .get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest()))
        .await
}
