//! What a [`TestWorker`](super::TestWorker) run did: each delivery with its outcome, and the
//! dead letters with their reasons.

use super::mailbox::Stored;
use crate::envelope::{ATTR_DLQ_ATTEMPTS, ATTR_DLQ_KIND, ATTR_DLQ_REASON, RawEnvelope};

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The job succeeded; its message is deleted.
    Succeeded,
    /// The job failed and its message comes back after the backoff.
    Retried {
        /// The error.
        reason: String,
    },
    /// The message went to the dead-letter queue ([`TestWorker::dead_letters`](super::TestWorker::dead_letters)).
    DeadLettered {
        /// Why.
        reason: String,
    },
    /// The message was re-enqueued to run later: a sleep, a delay past 15 minutes, a slice
    /// another delivery holds.
    Postponed,
}

/// One delivery of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ran {
    /// The job's name, from the envelope (empty if the body was not one).
    pub job: String,
    /// The job id (for a chunked job, the run id), the same on every attempt.
    pub job_id: String,
    /// Which attempt this was, from 1.
    pub attempt: u32,
    /// How it ended.
    pub outcome: Outcome,
}

/// Every delivery of a [`TestWorker::run_until_idle`](super::TestWorker::run_until_idle), in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    runs: Vec<Ran>,
}

impl Report {
    pub(crate) fn new(runs: Vec<Ran>) -> Self {
        Self { runs }
    }

    /// Every delivery, in the order they ran.
    pub fn runs(&self) -> &[Ran] {
        &self.runs
    }

    /// The deliveries of the job named `job`.
    pub fn of<'a>(&'a self, job: &'a str) -> impl Iterator<Item = &'a Ran> + 'a {
        self.runs.iter().filter(move |r| r.job == job)
    }

    /// How many deliveries succeeded.
    pub fn succeeded(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Succeeded))
    }

    /// How many deliveries failed and were retried.
    pub fn retried(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Retried { .. }))
    }

    /// How many deliveries ended in the dead-letter queue.
    pub fn dead_lettered(&self) -> usize {
        self.count(|o| matches!(o, Outcome::DeadLettered { .. }))
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.runs.iter().filter(|r| f(&r.outcome)).count()
    }
}

/// A message in the test dead-letter queue, with what the worker said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The job's name (empty if the body was not an envelope).
    pub job: String,
    /// `permanent`, `exhausted`, `undecodable` or `unknown-job`.
    pub kind: String,
    /// The error, in words.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// The message body as sent.
    pub body: String,
}

impl DeadLetter {
    pub(crate) fn from_stored(m: Stored) -> Self {
        let attr = |name: &str| {
            m.attributes
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        DeadLetter {
            job: RawEnvelope::decode(&m.body)
                .map(|e| e.job.to_string())
                .unwrap_or_default(),
            kind: attr(ATTR_DLQ_KIND),
            reason: attr(ATTR_DLQ_REASON),
            attempts: attr(ATTR_DLQ_ATTEMPTS).parse().unwrap_or(0),
            body: m.body.clone(),
        }
    }
}
