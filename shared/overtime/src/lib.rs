#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::all)]
#![warn(missing_docs)]

mod batching;
#[cfg(feature = "config")]
pub mod config;
pub mod cron;
mod durable;
pub mod env;
pub mod envelope;
mod error;
#[cfg(any(feature = "events", feature = "event-patterns"))]
pub mod events;
pub mod flow;
pub mod http;
mod job;
pub mod limits;
mod platform;
pub mod queue;
#[cfg(feature = "schedule")]
pub mod schedule;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod worker;

pub use durable::{chunk, store, wait};
pub use error::{ConfigError, SqsError, error_chain};
pub use job::{BoxError, Failure, Job, JobContext, JobError, JobOptions, JobResult};
pub use queue::{IntoMessage, Message, Queue, SendAllError, SendError, SendReport, Sent};
pub use worker::{Backoff, DeadLetterKind, Worker};
