//! Errors from SQS calls, classified once so callers can act on them.

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use std::fmt;

/// An SQS call that failed, after the SDK's own retries.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SqsError {
    /// SQS throttled the request (`ThrottlingException`, `RequestThrottled`, `KmsThrottled`).
    #[error(
        "SQS throttled {operation} ({code}): {message}; slow down or ask AWS for a higher quota"
    )]
    Throttled {
        /// The SQS action, e.g. `SendMessageBatch`.
        operation: &'static str,
        /// The error code SQS returned.
        code: String,
        /// What SQS said.
        message: String,
    },
    /// The queue holds the most in-flight messages it may (`OverLimit`).
    #[error(
        "SQS refused {operation}: too many in-flight messages (OverLimit): {message}; delete or release messages before receiving more"
    )]
    OverLimit {
        /// The SQS action.
        operation: &'static str,
        /// What SQS said.
        message: String,
    },
    /// SQS answered with any other error (missing queue, access denied, invalid parameter …).
    #[error("SQS rejected {operation} ({code}): {message}")]
    Service {
        /// The SQS action.
        operation: &'static str,
        /// The error code SQS returned.
        code: String,
        /// What SQS said.
        message: String,
    },
    /// SQS could not be reached or its answer could not be read.
    #[error(
        "could not complete {operation} with SQS: {detail}; check AWS_ENDPOINT_URL_SQS, the region and the network"
    )]
    Transport {
        /// The SQS action.
        operation: &'static str,
        /// The transport error, with its causes.
        detail: String,
    },
}

impl SqsError {
    /// Classifies an SDK error from `operation` (an SQS action name, e.g. `"ReceiveMessage"`).
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        match err
            .as_service_error()
            .and_then(|e| e.code().map(|c| (c, e.message())))
        {
            Some((code, message)) => Self::from_code(operation, code, message.unwrap_or_default()),
            None => Self::Transport {
                operation,
                detail: error_chain(&err),
            },
        }
    }

    /// Classifies an error code returned for one entry of a batch call, or for a whole call.
    pub(crate) fn from_code(operation: &'static str, code: &str, message: &str) -> Self {
        let message = message.to_owned();
        match code {
            "ThrottlingException" | "RequestThrottled" | "KmsThrottled" | "Throttling" => {
                Self::Throttled {
                    operation,
                    code: code.to_owned(),
                    message,
                }
            }
            "OverLimit" => Self::OverLimit { operation, message },
            _ => Self::Service {
                operation,
                code: code.to_owned(),
                message,
            },
        }
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::OverLimit { .. } | Self::Transport { .. } => true,
            Self::Service { code, .. } => {
                matches!(
                    code.as_str(),
                    "InternalError" | "ServiceUnavailable" | "InternalFailure"
                )
            }
        }
    }

    /// The SQS error code, when SQS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Throttled { code, .. } | Self::Service { code, .. } => Some(code),
            Self::OverLimit { .. } => Some("OverLimit"),
            Self::Transport { .. } => None,
        }
    }
}

/// Something the environment was to say is missing or wrong: a variable, a store's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable that names a queue is not set.
    #[error(
        "environment variable {var} is not set; set it to the queue URL (e.g. https://sqs.us-east-1.amazonaws.com/123456789012/jobs){hint}"
    )]
    MissingVar {
        /// The variable.
        var: String,
        /// More help, when the name given looks like a mistake.
        hint: &'static str,
    },
    /// `OVERTIME_EVENT_BUS` is unset where events are sent.
    #[error(
        "OVERTIME_EVENT_BUS is not set: set it to the project's event bus (its name or ARN; `overtime infra render` and `overtime dev` set it for declared functions)"
    )]
    MissingEventBus,
    /// `OVERTIME_RUN_STORE` is unset where a run store is needed.
    #[error("OVERTIME_RUN_STORE is not set: use sqlite:PATH (one host) or dynamodb:TABLE (AWS)")]
    MissingStore,
    /// A run store's name that names no store this build has.
    #[error(
        "OVERTIME_RUN_STORE={0:?} is not sqlite:PATH or dynamodb:TABLE (or its feature is off in this build)"
    )]
    UnknownStore(String),
    /// The run store would not open.
    #[error("could not open the run store {spec:?}")]
    Store {
        /// What named it.
        spec: String,
        /// Why.
        #[source]
        source: crate::store::StoreError,
    },
    /// A job's flow-control declaration cannot work.
    #[error("job {job:?} declares flow control that cannot work: {source}")]
    Flow {
        /// The job.
        job: String,
        /// What to change.
        #[source]
        source: crate::flow::FlowError,
    },
    /// A job declares flow control, and the worker has no run store to keep its state in.
    #[error(
        "job {job:?} declares flow control ({controls}), which keeps its state in the run store: set OVERTIME_RUN_STORE (sqlite:PATH or dynamodb:TABLE) or give the worker one with Worker::store"
    )]
    FlowWithoutStore {
        /// The job.
        job: String,
        /// Its controls.
        controls: String,
    },
}

impl ConfigError {
    pub(crate) fn missing_var(var: &str) -> Self {
        let hint = if var.contains("://") {
            "; Queue::from_env_var takes the variable's name: for a URL, call Queue::from_url"
        } else {
            ""
        };
        ConfigError::MissingVar {
            var: var.to_owned(),
            hint,
        }
    }
}

/// Renders an error with its whole `source()` chain on one line (AWS SDK errors put the useful
/// part in their sources).
///
/// ```
/// let err = std::io::Error::new(std::io::ErrorKind::Other, "refused");
/// assert_eq!(overtime::error_chain(&err), "refused");
/// ```
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        let t = SqsError::from_code("SendMessage", "ThrottlingException", "slow");
        assert!(matches!(t, SqsError::Throttled { .. }));
        assert!(t.is_transient());
        let o = SqsError::from_code("ReceiveMessage", "OverLimit", "too many");
        assert!(matches!(o, SqsError::OverLimit { .. }));
        assert!(o.to_string().contains("in-flight"));
        let s = SqsError::from_code(
            "SendMessage",
            "AWS.SimpleQueueService.NonExistentQueue",
            "gone",
        );
        assert!(!s.is_transient());
        assert_eq!(s.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));
    }
}
