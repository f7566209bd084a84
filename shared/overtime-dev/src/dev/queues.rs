//! The declared queues, made as the template declares them: `<project>-<name>`, each with a
//! dead-letter queue.

use super::DevError;
use crate::sqs::{self, Sqs, rules};
use overtime::config::Declaration;
use std::collections::{BTreeMap, HashMap};

/// How long dead letters are kept: SQS's longest retention (14 days), in the template and
/// under `overtime dev` alike.
const DEAD_LETTER_RETENTION_SECS: i64 = *overtime::limits::SQS_RETENTION_SECS.end() as i64;

/// Creates (or updates) every queue of `d` and its dead-letter queue; the queues' URLs by
/// their declared names.
pub(super) async fn declare(
    sqs: &Sqs,
    d: &Declaration,
) -> Result<HashMap<String, String>, DevError> {
    let mut queue_urls: HashMap<String, String> = HashMap::new();
    for q in &d.queues {
        let name = q.sqs_name(&d.project.name);
        let dlq = q.dead_letter_name(&d.project.name);
        let mut dlq_attrs = BTreeMap::from([(
            "MessageRetentionPeriod".to_string(),
            DEAD_LETTER_RETENTION_SECS.to_string(),
        )]);
        let mut attrs = BTreeMap::from([
            (
                "VisibilityTimeout".to_string(),
                q.visibility_timeout.to_string(),
            ),
            ("DelaySeconds".to_string(), q.delay.to_string()),
            (
                "RedrivePolicy".to_string(),
                serde_json::json!({
                    "deadLetterTargetArn": rules::queue_arn(&dlq),
                    "maxReceiveCount": q.max_receives,
                })
                .to_string(),
            ),
        ]);
        if q.fifo {
            for a in [&mut attrs, &mut dlq_attrs] {
                a.insert("FifoQueue".into(), "true".into());
                a.insert("ContentBasedDeduplication".into(), "true".into());
            }
        }
        ensure_queue(sqs, &dlq, dlq_attrs).await?;
        let url = ensure_queue(sqs, &name, attrs).await?;
        queue_urls.insert(q.name.clone(), url);
    }
    if !d.listeners.is_empty() {
        let dlq_attrs = BTreeMap::from([(
            "MessageRetentionPeriod".to_string(),
            DEAD_LETTER_RETENTION_SECS.to_string(),
        )]);
        ensure_queue(sqs, &crate::events::dead_letter_queue(d), dlq_attrs).await?;
    }
    Ok(queue_urls)
}

/// Creates a queue, or brings an existing one's attributes up to the declaration.
async fn ensure_queue(
    sqs: &Sqs,
    name: &str,
    attrs: BTreeMap<String, String>,
) -> Result<String, DevError> {
    let wrap = |source| DevError::Queue {
        name: name.to_owned(),
        source,
    };
    match sqs.get_queue_url(name).await {
        Ok(url) => {
            let mut settable = attrs;
            settable.remove("FifoQueue");
            sqs.set_attributes(name, settable).await.map_err(wrap)?;
            Ok(url)
        }
        Err(sqs::SqsError::QueueDoesNotExist) => sqs
            .create_queue(name, attrs, BTreeMap::new())
            .await
            .map_err(wrap),
        Err(e) => Err(wrap(e)),
    }
}
