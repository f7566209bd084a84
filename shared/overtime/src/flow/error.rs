//! What is wrong with a flow-control declaration, or with computing a job's key.

use std::time::Duration;

/// A flow-control declaration that cannot work, or a key function that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// A count out of its range.
    #[error("{control}: the {what} is {value}; it must be at least 1 and at most {max}")]
    Limit {
        /// The control (`throttle`, `concurrency`, …).
        control: &'static str,
        /// Which of its numbers.
        what: &'static str,
        /// The declared value.
        value: u32,
        /// The largest allowed.
        max: u32,
    },
    /// A duration out of its range.
    #[error("{control}: the {what} is {value:?}; it must be between {min:?} and {max:?}")]
    Period {
        /// The control.
        control: &'static str,
        /// Which of its durations.
        what: &'static str,
        /// The declared value.
        value: Duration,
        /// The shortest allowed.
        min: Duration,
        /// The longest allowed.
        max: Duration,
    },
    /// Settings that contradict each other.
    #[error("{0}")]
    Conflict(String),
    /// The key function panicked on this job's payload: this job fails alone.
    #[error("{control}: the key function panicked on this job's payload: {reason}")]
    KeyPanicked {
        /// The control whose key it is.
        control: &'static str,
        /// The panic's message.
        reason: String,
    },
}
