//! Shared harness for the integration tests: an SQS-compatible server over HTTP (moto's, or
//! any endpoint named by `OVERTIME_TEST_SQS_ENDPOINT`), fresh queues per test, test jobs,
//! and helpers to run the workspace's binaries as real processes.

pub mod fakes;
pub mod jobs;
pub mod lambda;
pub mod server;

pub use server::{
    QueueSpec, Sqs, TestQueue, attr, free_port, receive_count, repo_root, sqs, venv_tool,
    wait_for_port,
};
