//! The local runtime behind `overtime dev`: the whole topology on one machine.
//!
//! - [`sqs`]: an SQS-compatible endpoint (AWS JSON 1.0) stored in SQLite, durable across
//!   kill -9.
//! - [`events`]: an EventBridge-compatible endpoint (buses, rules, targets, PutEvents) on the
//!   same address, delivering to the local queues and functions.
//! - [`dynamo`]: the DynamoDB calls of the run store, on the same endpoint, so functions use
//!   `dynamodb:TABLE` here as on AWS.
//! - [`runtime`]: the Lambda runtime API; each function instance is a real process with the
//!   real deadline, killed when it overruns its timeout.
//! - [`mapping`]: SQS event source mappings with partial batch responses.
//! - [`scheduler`]: both files' schedules, delivered as EventBridge Scheduler and Vercel's
//!   cron deliver them; [`vercel`] runs Vercel routes as vercel_runtime servers.
//! - [`dashboard`]: what runs, queue depths, invocations and runs, in the browser.
//! - [`dev`]: `overtime dev` itself, which wires these from the declarations.
//! - [`guard`]: what keeps other sites' pages out of all of these servers.
#![forbid(unsafe_code)]

pub mod build;
pub mod dashboard;
pub mod dev;
pub mod dynamo;
pub mod events;
pub mod guard;
pub mod log;
pub mod mapping;
pub mod runtime;
pub mod scheduler;
pub mod sqs;
pub mod vercel;
