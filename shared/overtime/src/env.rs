//! The environment variables overtime reads, and those Lambda reserves, in one place.
//!
//! Functions are configured the serverless way, by environment: `overtime infra render`
//! writes these into the template, `overtime dev` gives them to the functions it runs, and
//! Vercel takes them from the project settings.
//!
//! ```
//! // A worker outside Lambda polls the queue this variable names.
//! assert_eq!(overtime::env::QUEUE_URL, "OVERTIME_QUEUE_URL");
//! ```

/// The queue [`Worker::run`](crate::Worker::run) polls outside Lambda, and that functions send
/// to when their code reads it (`Queue::from_env_var`).
pub const QUEUE_URL: &str = "OVERTIME_QUEUE_URL";

/// The EventBridge bus `events::EventBus::from_env` sends on
/// (feature `events`): its name or ARN; `overtime infra render` and `overtime dev` set it.
pub const EVENT_BUS: &str = "OVERTIME_EVENT_BUS";

/// The run store of durable work: `sqlite:PATH` (feature `sqlite`) or `dynamodb:TABLE`
/// (feature `dynamodb`); the worker opens it itself.
pub const RUN_STORE: &str = "OVERTIME_RUN_STORE";

/// A slice's time budget in seconds, for platforms without a deadline the process can read
/// (Vercel: its `maxDuration`); sets [`ChunkOptions::budget`](crate::chunk::ChunkOptions::budget).
pub const SLICE_BUDGET_SECS: &str = "OVERTIME_SLICE_BUDGET_SECS";

/// How long a slice's claim on its run lasts, in seconds; sets
/// [`ChunkOptions::lease`](crate::chunk::ChunkOptions::lease).
pub const SLICE_LEASE_SECS: &str = "OVERTIME_SLICE_LEASE_SECS";

/// The secret Vercel sends with cron requests (`Authorization: Bearer …`); without it every
/// cron request is refused.
/// Source: Vercel docs, "Securing cron jobs".
pub const CRON_SECRET: &str = "CRON_SECRET";

/// Set where the Lambda runtime API is (Lambda, `cargo lambda watch`, `overtime dev`).
/// Source: AWS Lambda developer guide, "Defined runtime environment variables".
pub const LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// The variables Lambda sets itself, which a function's configuration may not set.
/// Source: AWS Lambda developer guide, "Defined runtime environment variables" (reserved keys).
pub const LAMBDA_RESERVED: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    LAMBDA_RUNTIME_API,
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];
