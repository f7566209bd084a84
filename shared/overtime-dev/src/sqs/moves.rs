//! Dead-letter queues and message move tasks on [`Sqs`]: which queues dead-letter to one, and
//! moving its messages back in the background.

use super::{Sqs, SqsError, ops};
use std::time::Duration;

impl Sqs {
    /// ListDeadLetterSourceQueues: names.
    pub async fn dead_letter_sources(&self, name: &str) -> Result<Vec<String>, SqsError> {
        self.now(|st| ops::dead_letter_sources(st, name))
    }

    /// StartMessageMoveTask: moves a dead-letter queue's messages back in the background, at
    /// `rate` messages a second (500 when unset, as SQS's system-optimized rate); the task
    /// handle.
    pub async fn start_move(
        &self,
        source_arn: String,
        dest_arn: Option<String>,
        rate: Option<i64>,
    ) -> Result<String, SqsError> {
        let handle = self
            .durably(|st| ops::start_move(st, &source_arn, dest_arn.as_deref(), rate))
            .await?;
        // At most 10 steps a second; slower rates take one message a step, less often.
        let rate = u64::try_from(rate.unwrap_or(500)).unwrap_or(1).max(1);
        let per_tick = (rate / 10).max(1);
        let tick = Duration::from_millis(per_tick * 1000 / rate);
        let per_tick = usize::try_from(per_tick).unwrap_or(1);
        let (sqs, task) = (self.clone(), handle.clone());
        tokio::spawn(async move {
            loop {
                let step = sqs
                    .durably(|st| Ok(ops::move_step(st, &task, per_tick)))
                    .await;
                let Ok(step) = step else { return };
                for n in &step.targets {
                    sqs.wake(n);
                }
                if step.finished {
                    return;
                }
                tokio::time::sleep(tick).await;
            }
        });
        Ok(handle)
    }

    /// CancelMessageMoveTask: how many messages the task had moved.
    pub async fn cancel_move(&self, handle: &str) -> Result<i64, SqsError> {
        self.durably(|st| ops::cancel_move(st, handle)).await
    }

    /// ListMessageMoveTasks.
    pub async fn move_tasks(
        &self,
        source_arn: String,
        max: i64,
    ) -> Result<Vec<serde_json::Value>, SqsError> {
        self.now(|st| Ok(ops::move_tasks(st, &source_arn, max)))
    }
}
