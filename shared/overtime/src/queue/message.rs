//! One outgoing message: a job plus its send options, checked before any network call.

use crate::envelope::{ATTR_JOB, ATTR_KEY, ENVELOPE_VERSION, Envelope};
use crate::error::SqsError;
use crate::job::Job;
use crate::limits::{SQS_MAX_DELAY, SQS_MAX_FIFO_ID_CHARS, SQS_MAX_MESSAGE_BYTES};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::time::Duration;

/// A job ready to send, with its options.
///
/// ```
/// # use overtime::{Job, JobContext, JobResult, Message};
/// # use serde::{Deserialize, Serialize};
/// # use std::time::Duration;
/// # #[derive(Serialize, Deserialize)] struct Charge { order: u64 }
/// # impl Job for Charge { const NAME: &'static str = "charge"; type State = ();
/// #   async fn run(self, _: JobContext<()>) -> JobResult { Ok(()) } }
/// let msg = Message::new(&Charge { order: 42 })
///     .group("customer-7")              // FIFO: ordered within the group
///     .idempotency_key("charge:42")     // FIFO: also the deduplication id
///     .delay(Duration::ZERO);
/// assert_eq!(msg.job(), "charge");
/// ```
#[derive(Debug, Clone)]
pub struct Message {
    job: Cow<'static, str>,
    /// The payload's JSON, or why it has none: reported when the message is sent.
    payload: Result<Box<RawValue>, SendError>,
    delay: Duration,
    group: Option<String>,
    dedup_id: Option<String>,
    key: Option<String>,
    run: Option<(String, u64)>,
}

/// What SQS said about a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The SQS message id.
    pub message_id: String,
    /// overtime's id for the job, carried in the envelope (the same on every attempt).
    pub job_id: String,
    /// The FIFO sequence number, for FIFO queues.
    pub sequence_number: Option<String>,
}

/// Why a message was not sent.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The job's payload could not be serialized to JSON.
    #[error("job {job} could not be serialized to JSON: {reason}")]
    Serialize {
        /// The job name.
        job: Cow<'static, str>,
        /// serde_json's message.
        reason: String,
    },
    /// The message is larger than the queue accepts. Nothing was sent.
    #[error(
        "job {job} is {size} bytes with its envelope and attributes, over the queue's limit of {limit} bytes; store the data elsewhere (e.g. S3) and send a reference"
    )]
    TooLarge {
        /// The job name.
        job: Cow<'static, str>,
        /// The message's size in bytes, as SQS counts it.
        size: usize,
        /// The limit that applies.
        limit: usize,
    },
    /// A FIFO queue needs a message group id.
    #[error("queue {queue} is FIFO and job {job} has no message group id; call Message::group(..)")]
    MissingGroupId {
        /// The queue URL.
        queue: String,
        /// The job name.
        job: Cow<'static, str>,
    },
    /// FIFO queues have no per-message delay.
    #[error(
        "queue {queue} is FIFO, and FIFO queues take no per-message delay; set DelaySeconds on the queue or use a standard queue"
    )]
    FifoDelay {
        /// The queue URL.
        queue: String,
    },
    /// A group or deduplication id SQS would refuse.
    #[error("{what} {value:?} is invalid: {reason}")]
    InvalidId {
        /// Which id.
        what: &'static str,
        /// The id given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not sent: an earlier message of the same FIFO group failed, and sending this one
    /// would deliver the group out of order. Re-send from the first failed message.
    #[error(
        "not sent: an earlier message of FIFO group {group:?} failed; re-send from the first failure to keep the order"
    )]
    GroupBlocked {
        /// The message group id.
        group: String,
    },
    /// SQS refused the message or the call failed (after retries for transient errors).
    #[error(transparent)]
    Sqs(#[from] SqsError),
    /// A bug in overtime: a sent message got no result.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl Message {
    /// Serializes `job` into a message with default options. A payload that does not
    /// serialize is reported by the send ([`SendError::Serialize`]).
    pub fn new<J: Job>(job: &J) -> Self {
        let payload = serde_json::value::to_raw_value(job).map_err(|e| SendError::Serialize {
            job: Cow::Borrowed(J::NAME),
            reason: e.to_string(),
        });
        Self {
            job: Cow::Borrowed(J::NAME),
            payload,
            delay: Duration::ZERO,
            group: None,
            dedup_id: None,
            run: None,
            key: None,
        }
    }

    /// A message for the job named `job` with `payload` as its JSON, for tools that send
    /// jobs they have no Rust type for (the `overtime send` command, other languages' glue).
    ///
    /// ```
    /// let msg = overtime::Message::from_json("welcome-email", r#"{"email":"ada@example.com"}"#)?;
    /// assert_eq!(msg.job(), "welcome-email");
    /// assert!(overtime::Message::from_json("x", "{not json").is_err());
    /// # Ok::<(), overtime::SendError>(())
    /// ```
    pub fn from_json(job: impl Into<Cow<'static, str>>, payload: &str) -> Result<Self, SendError> {
        let job = job.into();
        let payload =
            RawValue::from_string(payload.to_owned()).map_err(|e| SendError::Serialize {
                job: job.clone(),
                reason: format!("the payload is not JSON: {e}"),
            })?;
        Ok(Self {
            job,
            payload: Ok(payload),
            delay: Duration::ZERO,
            group: None,
            dedup_id: None,
            run: None,
            key: None,
        })
    }

    /// The job's name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Delays delivery. Up to 900 s SQS delays natively; longer delays hop through the
    /// worker, which re-enqueues the message with the remaining delay.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// FIFO message group id: messages in one group are delivered in order.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// FIFO deduplication id. Defaults to the idempotency key, else a hash of job and payload.
    pub fn dedup_id(mut self, id: impl Into<String>) -> Self {
        self.dedup_id = Some(id.into());
        self
    }

    /// An idempotency key: carried to the job (`JobContext::idempotency_key`), and the
    /// deduplication id on FIFO queues (hashed if SQS would not take it as is). With a run
    /// store, the worker runs the job once per job name and key for 24 hours: another send with
    /// the key succeeds without running, while the first one's retries still run.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Marks the message as slice `slice` of durable run `run`.
    pub(crate) fn continuing(mut self, run: &str, slice: u64) -> Self {
        self.run = Some((run.to_owned(), slice));
        self
    }

    /// Checks the options against the queue and renders the SQS entry; `now_ms` is the
    /// queue's time (a test queue's runs ahead of the wall clock).
    pub(crate) fn prepare(
        self,
        queue_url: &str,
        fifo: bool,
        now_ms: i64,
    ) -> Result<Prepared, SendError> {
        let payload = self.payload.clone()?;
        let job_id = uuid::Uuid::new_v4().to_string();
        let mut delay_secs = self.delay.as_secs();
        let mut not_before_ms = None;
        if fifo && !self.delay.is_zero() {
            return Err(SendError::FifoDelay {
                queue: queue_url.to_owned(),
            });
        }
        if self.delay > SQS_MAX_DELAY {
            let delay_ms = i64::try_from(self.delay.as_millis()).unwrap_or(i64::MAX);
            not_before_ms = Some(now_ms.saturating_add(delay_ms));
            delay_secs = SQS_MAX_DELAY.as_secs();
        }
        let (group, dedup) = if fifo {
            let group = self
                .group
                .clone()
                .ok_or_else(|| SendError::MissingGroupId {
                    queue: queue_url.to_owned(),
                    job: self.job.clone(),
                })?;
            check_fifo_id("message group id", &group)?;
            let dedup = match (&self.dedup_id, &self.key) {
                (Some(id), _) => {
                    check_fifo_id("deduplication id", id)?;
                    id.clone()
                }
                (None, Some(key)) if check_fifo_id("", key).is_ok() => key.clone(),
                (None, Some(key)) => sha256_hex(key.as_bytes()),
                (None, None) => sha256_hex(format!("{}\n{}", self.job, payload.get()).as_bytes()),
            };
            (Some(group), Some(dedup))
        } else {
            if let Some(g) = &self.group {
                check_fifo_id("message group id", g)?;
            }
            (self.group.clone(), None)
        };
        let envelope = Envelope {
            v: ENVELOPE_VERSION,
            job: self.job.to_string(),
            id: job_id.clone(),
            attempt: 1,
            key: self.key.clone(),
            not_before_ms,
            run: self.run.as_ref().map(|(run, _)| run.clone()),
            slice: self.run.as_ref().map(|(_, slice)| *slice),
            payload: &*payload,
        };
        let body = serde_json::to_string(&envelope).map_err(|e| SendError::Serialize {
            job: self.job.clone(),
            reason: e.to_string(),
        })?;
        let mut attributes = vec![(ATTR_JOB, self.job.to_string())];
        if let Some(key) = &self.key {
            attributes.push((ATTR_KEY, key.clone()));
        }
        let size = message_size(&body, &attributes);
        if size > SQS_MAX_MESSAGE_BYTES {
            return Err(SendError::TooLarge {
                job: self.job.clone(),
                size,
                limit: SQS_MAX_MESSAGE_BYTES,
            });
        }
        Ok(Prepared {
            job: self.job.clone(),
            job_id,
            body,
            attributes,
            // At most 900 after the hop split above.
            delay_secs: i32::try_from(delay_secs).unwrap_or(900),
            group,
            dedup,
            size,
        })
    }
}

/// A checked message, rendered as SQS will see it.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub(crate) job: Cow<'static, str>,
    pub(crate) job_id: String,
    pub(crate) body: String,
    pub(crate) attributes: Vec<(&'static str, String)>,
    pub(crate) delay_secs: i32,
    pub(crate) group: Option<String>,
    pub(crate) dedup: Option<String>,
    /// Bytes as SQS counts them: body plus each attribute's name, type and value.
    pub(crate) size: usize,
}

/// A message's size as SQS counts it toward `MaximumMessageSize`.
pub(crate) fn message_size(body: &str, attributes: &[(&str, String)]) -> usize {
    body.len()
        + attributes
            .iter()
            .map(|(name, value)| name.len() + "String".len() + value.len())
            .sum::<usize>()
}

/// SQS's rule for group and deduplication ids: 1–128 characters from `!` to `~`.
fn check_fifo_id(what: &'static str, value: &str) -> Result<(), SendError> {
    let reason = if value.is_empty() {
        Some("it is empty")
    } else if value.chars().count() > SQS_MAX_FIFO_ID_CHARS {
        Some("it is longer than 128 characters")
    } else if !value.chars().all(|c| c.is_ascii_graphic()) {
        Some("SQS takes only the characters ! to ~ (letters, digits, punctuation; no spaces)")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(SendError::InvalidId {
            what,
            value: value.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobContext, JobResult};
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Blob {
        data: String,
    }
    impl Job for Blob {
        const NAME: &'static str = "blob";
        type State = ();
        async fn run(self, _: JobContext<()>) -> JobResult {
            Ok(())
        }
    }

    const NOW: i64 = 1_800_000_000_000;

    fn blob(n: usize) -> Message {
        Message::new(&Blob {
            data: "x".repeat(n),
        })
    }

    #[test]
    fn oversized_payloads_name_size_and_limit() {
        let err = blob(SQS_MAX_MESSAGE_BYTES)
            .prepare("q", false, NOW)
            .expect_err("too large");
        match err {
            SendError::TooLarge { size, limit, job } => {
                assert!(size > SQS_MAX_MESSAGE_BYTES);
                assert_eq!(limit, SQS_MAX_MESSAGE_BYTES);
                assert_eq!(job, "blob");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(blob(1000).prepare("q", false, NOW).is_ok());
    }

    #[test]
    fn long_delays_hop() {
        let p = blob(1)
            .delay(Duration::from_secs(3600))
            .prepare("q", false, NOW)
            .expect("ok");
        assert_eq!(p.delay_secs, 900);
        assert!(p.body.contains("not_before_ms"));
        let p = blob(1)
            .delay(Duration::from_secs(60))
            .prepare("q", false, NOW)
            .expect("ok");
        assert_eq!(p.delay_secs, 60);
        assert!(!p.body.contains("not_before_ms"));
    }

    #[test]
    fn fifo_rules() {
        let q = "https://sqs/1/q.fifo";
        assert!(matches!(
            blob(1).prepare(q, true, NOW),
            Err(SendError::MissingGroupId { .. })
        ));
        assert!(matches!(
            blob(1)
                .group("g")
                .delay(Duration::from_secs(1))
                .prepare(q, true, NOW),
            Err(SendError::FifoDelay { .. })
        ));
        assert!(matches!(
            blob(1).group("has space").prepare(q, true, NOW),
            Err(SendError::InvalidId { .. })
        ));
        let a = blob(1).group("g").prepare(q, true, NOW).expect("ok");
        let b = blob(1).group("g").prepare(q, true, NOW).expect("ok");
        assert_eq!(
            a.dedup, b.dedup,
            "same job and payload deduplicate by content"
        );
        let k = blob(1)
            .group("g")
            .idempotency_key("k 1")
            .prepare(q, true, NOW)
            .expect("ok");
        assert_eq!(
            k.dedup.as_deref().map(str::len),
            Some(64),
            "invalid key is hashed"
        );
        let k = blob(1)
            .group("g")
            .idempotency_key("k-1")
            .prepare(q, true, NOW)
            .expect("ok");
        assert_eq!(k.dedup.as_deref(), Some("k-1"));
    }
}
