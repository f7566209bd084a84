//! The environment a function gets: Lambda's, not the shell's.

use super::FunctionSpec;
use std::net::SocketAddr;
use tokio::process::Command;

/// Variables from `overtime dev`'s own environment that a function also sees: logging and
/// backtraces, which change what it prints, not what it does.
pub const PASSED_THROUGH: &[&str] = &["RUST_LOG", "RUST_BACKTRACE", "RUST_LIB_BACKTRACE"];

/// Starts `cmd` from the environment Lambda gives a function rather than from the shell's:
/// nothing of `overtime dev`'s environment but `PATH` and [`PASSED_THROUGH`], plus Lambda's
/// reserved variables (`TZ=:UTC`, `LANG`, `LAMBDA_TASK_ROOT` as the binary's folder,
/// `LAMBDA_RUNTIME_DIR`). A variable a function needs is declared in `infra/overtime.toml`
/// (`environment`), as it must be to exist on Lambda.
pub(crate) fn lambda_environment(cmd: &mut Command, binary: &std::path::Path) {
    cmd.env_clear();
    for var in std::iter::once("PATH").chain(PASSED_THROUGH.iter().copied()) {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    let root = binary.parent().unwrap_or(std::path::Path::new("/"));
    cmd.env("TZ", ":UTC")
        .env("LANG", "en_US.UTF-8")
        .env("LAMBDA_TASK_ROOT", root)
        .env("LAMBDA_RUNTIME_DIR", root);
}

/// What one instance of `spec` is given on top of [`lambda_environment`]: the declared
/// variables, then Lambda's own for the function and its runtime API at `api`.
pub(super) fn instance_environment(cmd: &mut Command, spec: &FunctionSpec, api: SocketAddr) {
    cmd.envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        )
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            uuid::Uuid::new_v4().to_string(),
        )
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
        .env("_HANDLER", "bootstrap");
}
