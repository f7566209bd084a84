//! The queue a batch came from: its URL, its attempt limit and its dead-letter queue,
//! resolved once per queue and cached.

use super::{Config, DEFAULT_MAX_ATTEMPTS, Worker};
use crate::error::SqsError;
use crate::queue::Queue;
use aws_sdk_sqs::types::QueueAttributeName;
use std::sync::Arc;
use std::time::Duration;

/// A source queue as the worker needs it.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) queue: Queue,
    pub(crate) max_attempts: u32,
    /// The queue's `maxReceiveCount`, which caps a job's own `max_attempts` too.
    pub(crate) max_receive_count: Option<u32>,
    pub(crate) dead_letter: Queue,
    /// The queue's visibility timeout, if it could be read: the poller's heartbeat period.
    pub(crate) visibility_timeout: Option<Duration>,
}

/// Why the worker cannot consume from a queue.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An SQS call needed to resolve the queue failed.
    #[error(transparent)]
    Sqs(#[from] SqsError),
    /// Neither the queue's redrive policy nor the worker names a dead-letter queue.
    #[error(
        "queue {queue} has no dead-letter queue: set a RedrivePolicy on it (maxReceiveCount ≥ 5) or call Worker::dead_letter_queue; without one, failed messages would be dropped when the queue's retention runs out"
    )]
    NoDeadLetterQueue {
        /// The queue URL.
        queue: String,
    },
}

/// What a queue's `RedrivePolicy` attribute says.
#[derive(Debug, PartialEq)]
struct Redrive {
    target_arn: String,
    max_receive_count: u32,
}

impl<S: Send + Sync + 'static> Worker<S> {
    /// The source for a queue known by URL (the poller).
    pub(crate) async fn source_for_url(&self, url: &str) -> Result<Arc<Source>, SourceError> {
        self.cached_source(url, || async { Ok(url.to_owned()) })
            .await
    }

    /// The source for an event source ARN (Lambda), looking up its URL if not declared.
    #[cfg_attr(not(feature = "lambda"), allow(dead_code))]
    pub(crate) async fn source_for_arn(&self, arn: &str) -> Result<Arc<Source>, SourceError> {
        let declared = self.config.queue_urls.get(arn).cloned();
        self.cached_source(arn, || async move {
            match declared {
                Some(url) => Ok(url),
                None => self.url_for_arn(arn).await,
            }
        })
        .await
    }

    async fn cached_source<F, Fut>(&self, key: &str, url: F) -> Result<Arc<Source>, SourceError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, SqsError>>,
    {
        let mut sources = self.sources.lock().await;
        if let Some(s) = sources.get(key) {
            return Ok(s.clone());
        }
        let url = url().await?;
        let source = Arc::new(self.resolve(url).await?);
        sources.insert(key.to_owned(), source.clone());
        Ok(source)
    }

    async fn url_for_arn(&self, arn: &str) -> Result<String, SqsError> {
        let (account, name) = parse_queue_arn(arn).ok_or_else(|| SqsError::Service {
            operation: "GetQueueUrl",
            code: "InvalidEventSourceArn".into(),
            message: format!("{arn:?} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)"),
        })?;
        let out = self
            .sqs()
            .await
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| SqsError::from_sdk("GetQueueUrl", e))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| SqsError::Service {
                operation: "GetQueueUrl",
                code: "MissingQueueUrl".into(),
                message: format!("SQS returned no URL for {arn}"),
            })
    }

    async fn resolve(&self, url: String) -> Result<Source, SourceError> {
        let client = self.sqs().await.clone();
        let cfg: &Config = &self.config;
        // Read even when attempts and DLQ are declared: the clamp below needs maxReceiveCount.
        let (redrive, visibility_timeout) = match read_policy(&client, &url).await {
            Ok(policy) => policy,
            Err(err) => {
                tracing::warn!(queue = %url, error = %err,
                    "could not read the queue's RedrivePolicy; using the worker's settings");
                (None, None)
            }
        };
        let max_attempts = match (cfg.max_attempts, &redrive) {
            (Some(n), Some(r)) if n > r.max_receive_count => {
                tracing::warn!(queue = %url, configured = n, max_receive_count = r.max_receive_count,
                    "max_attempts exceeds the queue's maxReceiveCount; using maxReceiveCount");
                r.max_receive_count
            }
            (Some(n), _) => n,
            (None, Some(r)) => r.max_receive_count,
            (None, None) => DEFAULT_MAX_ATTEMPTS,
        };
        let max_receive_count = redrive.as_ref().map(|r| r.max_receive_count);
        let dead_letter_url = match (&cfg.dead_letter_url, redrive) {
            (Some(u), _) => u.clone(),
            (None, Some(r)) => self.url_for_arn(&r.target_arn).await?,
            // Without one, failures would circle until the queue's retention drops them.
            (None, None) => return Err(SourceError::NoDeadLetterQueue { queue: url }),
        };
        Ok(Source {
            queue: Queue::new(client.clone(), url),
            max_attempts,
            max_receive_count,
            dead_letter: Queue::new(client, dead_letter_url),
            visibility_timeout,
        })
    }
}

/// The queue's redrive policy and visibility timeout, in one call.
async fn read_policy(
    client: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<(Option<Redrive>, Option<Duration>), SqsError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .map_err(|e| SqsError::from_sdk("GetQueueAttributes", e))?;
    let attrs = out.attributes();
    let get = |name| attrs.and_then(|a| a.get(&name));
    Ok((
        get(QueueAttributeName::RedrivePolicy).and_then(|p| parse_redrive(p)),
        get(QueueAttributeName::VisibilityTimeout)
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs),
    ))
}

/// Parses `{"deadLetterTargetArn":"…","maxReceiveCount":5}` (the count may be a string).
fn parse_redrive(policy: &str) -> Option<Redrive> {
    let v: serde_json::Value = serde_json::from_str(policy).ok()?;
    let target_arn = v.get("deadLetterTargetArn")?.as_str()?.to_owned();
    let count = v.get("maxReceiveCount")?;
    let max_receive_count = count
        .as_u64()
        .or_else(|| count.as_str().and_then(|s| s.parse().ok()))
        .and_then(|n| u32::try_from(n).ok())?;
    Some(Redrive {
        target_arn,
        max_receive_count,
    })
}

/// `arn:aws:sqs:REGION:ACCOUNT:NAME` → (ACCOUNT, NAME).
pub(crate) fn parse_queue_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("sqs"), Some(_region), Some(account), Some(name)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (!name.is_empty()).then_some((account, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redrive_policy_in_both_spellings() {
        let a = parse_redrive(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d","maxReceiveCount":3}"#,
        );
        let b = parse_redrive(
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d","maxReceiveCount":"3"}"#,
        );
        assert_eq!(a, b);
        assert_eq!(a.map(|r| r.max_receive_count), Some(3));
        assert_eq!(parse_redrive("{}"), None);
    }

    #[test]
    fn queue_arns() {
        assert_eq!(
            parse_queue_arn("arn:aws:sqs:us-west-2:123456789012:SQSQueue"),
            Some(("123456789012", "SQSQueue"))
        );
        assert_eq!(parse_queue_arn("arn:aws:sns:us-west-2:1:topic"), None);
        assert_eq!(parse_queue_arn("nonsense"), None);
    }
}
