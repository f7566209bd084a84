#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::all)]
#![warn(missing_docs)]

pub mod chunk;
#[cfg(feature = "config")]
pub mod config;
pub mod cron;
pub mod envelope;
mod error;
pub mod http;
mod job;
pub mod limits;
mod platform;
pub mod queue;
pub mod schedule;
mod steps;
pub mod store;
pub mod telemetry;
pub mod worker;

pub use error::{SqsError, error_chain};
pub use job::{BoxError, Failure, Job, JobContext, JobError, JobResult};
pub use queue::{Message, Queue, SendError, Sent};
pub use worker::{Backoff, DeadLetterKind, Worker};
