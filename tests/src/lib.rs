//! Shared harness for the integration tests: an SQS-compatible server over HTTP (moto's, or
//! any endpoint named by `OVERTIME_TEST_SQS_ENDPOINT`), fresh queues per test, test jobs,
//! and helpers to run the workspace's binaries as real processes.

pub mod dev;
pub mod fakes;
pub mod jobs;
pub mod lambda;
pub mod server;
pub mod stores;

pub use server::{
    QueueSpec, Sqs, TestQueue, attr, free_port, moto_endpoint, receive_count, repo_root, sqs,
    venv_tool, wait_for_port,
};

/// A finished process's stdout then stderr, for assertion messages and matching.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh project directory with an `infra/` folder, under the system's temp directory.
pub fn temp_project(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("overtime-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("infra")).expect("temp project");
    dir
}
