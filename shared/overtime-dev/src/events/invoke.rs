//! Function targets: invocations wait in a local queue ([`INVOCATIONS_QUEUE`]), written in the
//! same commit as the event's other deliveries, and are invoked from there asynchronously with
//! Lambda's retries for asynchronous invocations (two, about 1 and then 2 minutes apart); one
//! that fails three times goes to the target's dead-letter queue with the reason.

use std::time::Duration;

use axum::body::Bytes;

use super::Events;
use super::deliver::INVOCATIONS_QUEUE;
use crate::sqs::ReceiveRequest;
use crate::sqs::model::{AttributeValue, Received, SendEntry};
use crate::sqs::rules;

/// Lambda retries a failed asynchronous invocation twice.
const ASYNC_ATTEMPTS: u64 = 3;

impl Events {
    /// Creates the invocations queue and invokes what arrives in it, forever; does nothing
    /// without function targets (`--endpoint-only`). `retry_delay` is the first retry's wait.
    pub async fn run_invocations(self, retry_delay: Duration) {
        if self.functions.is_empty() {
            return;
        }
        let longest = self
            .functions
            .values()
            .map(|f| f.spec().timeout)
            .max()
            .unwrap_or(Duration::from_secs(900));
        // An invocation is in flight as long as the longest function may run, plus a margin.
        let visibility = longest.as_secs() as i64 + 30;
        if let Err(e) = self
            .sqs
            .create_queue(INVOCATIONS_QUEUE, Default::default(), Default::default())
            .await
        {
            tracing::error!(error = %e, "the invocations queue could not be made; functions will not be invoked by events");
            return;
        }
        loop {
            let req = ReceiveRequest {
                max: 10,
                visibility: Some(visibility),
                attribute_names: vec!["ApproximateReceiveCount".into()],
                message_attribute_names: vec!["All".into()],
            };
            match self
                .sqs
                .receive(INVOCATIONS_QUEUE, req, Duration::from_secs(20))
                .await
            {
                Ok(messages) => {
                    for m in messages {
                        tokio::spawn(self.clone().invoke(m, retry_delay));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "receive from the invocations queue failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn invoke(self, m: Received, retry_delay: Duration) {
        let attr = |name: &str| {
            m.message_attributes
                .get(name)
                .and_then(|a| a.string_value.clone())
        };
        let attempt: u64 = m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let Some(function) = attr("FUNCTION_ARN").and_then(|arn| self.functions.get(&arn).cloned())
        else {
            tracing::warn!(message = %m.message_id, "an invocation names no declared function; it is dropped");
            let _ = self
                .sqs
                .delete(INVOCATIONS_QUEUE, vec![m.receipt_handle])
                .await;
            return;
        };
        let rule = attr("RULE_ARN").unwrap_or_default();
        let trigger = format!(
            "event rule {}{}",
            rule.rsplit('/').next().unwrap_or_default(),
            if attempt > 1 {
                format!(" (retry {})", attempt - 1)
            } else {
                String::new()
            }
        );
        let outcome = function.invoke(Bytes::from(m.body.clone()), &trigger).await;
        if outcome.is_ok() {
            let _ = self
                .sqs
                .delete(INVOCATIONS_QUEUE, vec![m.receipt_handle])
                .await;
            return;
        }
        if attempt < ASYNC_ATTEMPTS {
            let wait = retry_delay.as_secs().max(1) << (attempt - 1);
            let _ = self
                .sqs
                .change_visibility(INVOCATIONS_QUEUE, vec![(m.receipt_handle, wait as i64)])
                .await;
            return;
        }
        let reason = format!("failed {ASYNC_ATTEMPTS} times: {}", outcome.summary());
        match attr("DEAD_LETTER_ARN")
            .and_then(|arn| rules::queue_name_of_arn(&arn).map(str::to_owned))
        {
            Some(dlq) => {
                let mut entry = SendEntry {
                    message_body: Some(m.body.clone()),
                    ..SendEntry::default()
                };
                for (k, v) in [
                    ("RULE_ARN", rule.clone()),
                    ("TARGET_ARN", function.arn()),
                    ("ERROR_CODE", "LAMBDA_INVOCATION_FAILED".to_owned()),
                    ("ERROR_MESSAGE", reason.clone()),
                ] {
                    entry.message_attributes.insert(
                        k.into(),
                        AttributeValue {
                            data_type: "String".into(),
                            string_value: Some(v),
                            ..AttributeValue::default()
                        },
                    );
                }
                if let Err(e) = self.sqs.send(&dlq, vec![entry]).await {
                    tracing::warn!(error = %e, "the dead-letter queue refused an invocation; it stays queued");
                    return;
                }
            }
            None => {
                tracing::warn!(function = %function.spec().name, %reason, "an event's invocation failed and its target has no dead-letter queue: it is dropped, as Lambda drops it");
            }
        }
        let _ = self
            .sqs
            .delete(INVOCATIONS_QUEUE, vec![m.receipt_handle])
            .await;
    }
}
