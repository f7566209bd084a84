//! The Lambda adapter: an SQS event source mapping with `ReportBatchItemFailures`.

use super::dispatch::{Delivery, Disposition};
use super::source::Source;
use super::sqs_batch::{SqsBatch, lambda_delivery};
use super::{Worker, answer_by};
use crate::job::BoxError;
use crate::limits::LAMBDA_MAX_TIMEOUT;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

impl<S: Send + Sync + 'static> Worker<S> {
    /// Serves SQS batches through the Lambda runtime API until the runtime stops: what
    /// [`Worker::run`] does on Lambda.
    ///
    /// Configure the event source mapping with `FunctionResponseTypes: [ReportBatchItemFailures]`:
    /// the answer names exactly the messages to retry.
    pub(super) async fn serve_lambda(self) -> Result<(), BoxError> {
        let worker = Arc::new(self);
        lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsBatch>| {
            let worker = worker.clone();
            // Boxed: the runtime's own future nests deeply enough to hit the compiler's limit.
            async move {
                let deadline = plausible_deadline(event.context.deadline);
                let records = event.payload.into_deliveries();
                Ok::<_, std::convert::Infallible>(
                    Box::pin(worker.handle_records(records, deadline)).await,
                )
            }
        }))
        .await
    }

    /// Processes one SQS event and answers which messages failed: for a Lambda handler that
    /// composes the worker with other services ([`Worker::run`] is the whole function).
    ///
    /// Never fails as a whole: a record that cannot even be named (no message id) or whose
    /// queue cannot be resolved is reported so that SQS delivers it again.
    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> SqsBatchResponse {
        let deadline = plausible_deadline(event.context.deadline);
        let records = event.payload.records.into_iter().map(|mut r| {
            let arn = r.event_source_arn.take().unwrap_or_default();
            (arn, delivery(r))
        });
        self.handle_records(records, deadline).await
    }

    /// The Lambda path from the raw event JSON, as [`Worker::run`] reads it (its own lean
    /// reading of the event, not `SqsEvent`'s): for overtime's benchmarks, not part of the API.
    #[doc(hidden)]
    pub async fn __bench_handle_json(
        &self,
        json: &str,
        context: lambda_runtime::Context,
    ) -> Result<SqsBatchResponse, serde_json::Error> {
        let batch: SqsBatch = serde_json::from_str(json)?;
        let deadline = plausible_deadline(context.deadline);
        Ok(self.handle_records(batch.into_deliveries(), deadline).await)
    }

    async fn handle_records(
        &self,
        records: impl Iterator<Item = (String, Result<Delivery, String>)>,
        deadline: Option<SystemTime>,
    ) -> SqsBatchResponse {
        let mut failures = Vec::new();
        // A mapping has one queue, but nothing stops a caller from mixing records.
        let mut by_source: Vec<(String, Vec<Delivery>)> = Vec::new();
        let expected = records.size_hint().0;
        for (arn, record) in records {
            match record {
                Ok(d) => match by_source.iter_mut().find(|(a, _)| *a == arn) {
                    Some((_, v)) => v.push(d),
                    None => {
                        let mut v = Vec::with_capacity(expected);
                        v.push(d);
                        by_source.push((arn, v));
                    }
                },
                Err(id) => failures.push(id),
            }
        }
        for (arn, deliveries) in by_source {
            let source = match self.source_for_arn(&arn).await {
                Ok(s) => s,
                Err(err) => {
                    tracing::error!(event_source_arn = %arn, error = %err, "cannot resolve the source queue; failing its records");
                    failures.extend(deliveries.into_iter().map(|d| d.message_id));
                    continue;
                }
            };
            failures.extend(
                self.process_before_deadline(&source, deliveries, deadline)
                    .await,
            );
        }
        tracing::info!(failed = failures.len(), "batch settled");
        batch_response(failures)
    }
}

impl<S: Send + Sync + 'static> Worker<S> {
    /// Processes one source's deliveries and returns the ids that failed. Shortly before the
    /// deadline it stops waiting: whatever has not finished is reported as failed, so Lambda
    /// keeps the successes instead of timing out and redelivering the whole batch.
    async fn process_before_deadline(
        &self,
        source: &Arc<Source>,
        deliveries: Vec<Delivery>,
        deadline: Option<SystemTime>,
    ) -> Vec<String> {
        let Some(wait) = deadline.map(answer_by) else {
            let settled = self
                .process_batch(source, &deliveries, None, &|_, _| {})
                .await;
            return failed_ids(deliveries, &settled);
        };
        let finished: Vec<OnceLock<Disposition>> = std::iter::repeat_with(OnceLock::new)
            .take(deliveries.len())
            .collect();
        let on_done = |i: usize, disposition: Disposition| {
            if let Some(slot) = finished.get(i) {
                let _ = slot.set(disposition);
            }
        };
        let work = self.process_batch(source, &deliveries, deadline, &on_done);
        let settled = match tokio::time::timeout(wait, work).await {
            Ok(settled) => settled,
            Err(_) => {
                let settled: Vec<Disposition> = finished
                    .iter()
                    .map(|f| f.get().copied().unwrap_or(Disposition::Failed))
                    .collect();
                tracing::warn!(
                    unfinished = finished.iter().filter(|f| f.get().is_none()).count(),
                    "the invocation deadline is near: reporting unfinished messages as failed"
                );
                settled
            }
        };
        failed_ids(deliveries, &settled)
    }
}

/// The ids of the deliveries that failed, to report to Lambda.
fn failed_ids(deliveries: Vec<Delivery>, settled: &[Disposition]) -> Vec<String> {
    deliveries
        .into_iter()
        .zip(settled)
        .filter(|(_, d)| **d == Disposition::Failed)
        .map(|(d, _)| d.message_id)
        .collect()
}

fn batch_response(failures: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

/// An `aws_lambda_events` record as a delivery (see [`lambda_delivery`]).
fn delivery(mut r: SqsMessage) -> Result<Delivery, String> {
    let group_id = r.attributes.remove("MessageGroupId");
    let attributes = r
        .message_attributes
        .into_iter()
        .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
        .collect();
    lambda_delivery(
        r.message_id,
        r.receipt_handle,
        r.body,
        r.attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok()),
        group_id,
        r.attributes
            .get("SentTimestamp")
            .and_then(|t| t.parse().ok()),
        attributes,
    )
}

/// The invocation deadline, unless it is in the past or further away than Lambda allows
/// (emulators such as `cargo lambda watch` pass made-up deadlines).
fn plausible_deadline(deadline_ms: u64) -> Option<SystemTime> {
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let left = deadline.duration_since(SystemTime::now()).ok()?;
    (left <= LAMBDA_MAX_TIMEOUT + Duration::from_secs(60)).then_some(deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_deadlines_are_ignored() {
        assert_eq!(plausible_deadline(0), None);
        let far = SystemTime::now() + Duration::from_secs(86_400);
        let far_ms = far
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        assert_eq!(plausible_deadline(far_ms), None);
        let soon = SystemTime::now() + Duration::from_secs(30);
        let soon_ms = soon
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        assert!(plausible_deadline(soon_ms).is_some());
    }

    #[test]
    fn answers_a_margin_before_the_deadline() {
        let wait = answer_by(SystemTime::now() + Duration::from_secs(60));
        assert!(
            wait > Duration::from_secs(54) && wait <= Duration::from_secs(55), // 60 s / 10, capped at 5 s
            "{wait:?}"
        );
        let wait = answer_by(SystemTime::now() + Duration::from_secs(2));
        assert!(wait <= Duration::from_millis(1500), "{wait:?}");
        assert_eq!(answer_by(SystemTime::now()), Duration::ZERO);
    }

    #[test]
    fn records_without_ids_are_reported() {
        let r = SqsMessage::default();
        assert_eq!(delivery(r).err(), Some(String::new()));
    }
}
