//! What a fan-out did: one result per message, and one `?` from an error.

use super::{SendError, Sent};

/// The outcome of [`Queue::send_all`](super::Queue::send_all): one result per message, in
/// the order they were given.
///
/// ```
/// # use overtime::{SendError, SendReport};
/// # fn demo(report: SendReport) -> Result<(), overtime::BoxError> {
/// tracing::info!(sent = report.sent().count(), failed = report.failed().count(), "fanned out");
/// // Any failure as an error (it names how many failed and the first reason):
/// let sent = report.into_result()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SendReport {
    results: Vec<Result<Sent, SendError>>,
}

impl SendReport {
    pub(crate) fn new(results: Vec<Result<Sent, SendError>>) -> Self {
        Self { results }
    }

    /// How many messages were given.
    pub fn len(&self) -> usize {
        self.results.len()
    }

    /// Whether no message was given.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }

    /// The messages that went out.
    pub fn sent(&self) -> impl Iterator<Item = &Sent> {
        self.results.iter().filter_map(|r| r.as_ref().ok())
    }

    /// The messages that did not, by their position in the input.
    pub fn failed(&self) -> impl Iterator<Item = (usize, &SendError)> {
        self.results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }

    /// Every result, in input order.
    pub fn results(&self) -> &[Result<Sent, SendError>] {
        &self.results
    }

    /// Every result, in input order.
    pub fn into_results(self) -> Vec<Result<Sent, SendError>> {
        self.results
    }

    /// All sent, or an error naming how many were not and why the first was not (it keeps
    /// the report, to re-send what failed).
    pub fn into_result(self) -> Result<Vec<Sent>, SendAllError> {
        let Some((index, first)) = self.failed().next().map(|(i, e)| (i, e.clone())) else {
            return Ok(self.results.into_iter().filter_map(Result::ok).collect());
        };
        Err(SendAllError {
            failed: self.failed().count(),
            index,
            first,
            report: self,
        })
    }
}

/// Some messages of a [`Queue::send_all`](super::Queue::send_all) were not sent.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{failed} of {} messages were not sent; the first (message {index}): {first}", report.len())]
pub struct SendAllError {
    failed: usize,
    index: usize,
    // In the message, not `source()`: it is one of several, not the cause of the rest.
    first: SendError,
    report: SendReport,
}

impl SendAllError {
    /// How many messages were not sent.
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// The whole report: which went out, which did not and why.
    pub fn report(&self) -> &SendReport {
        &self.report
    }

    /// The whole report, to re-send what failed.
    pub fn into_report(self) -> SendReport {
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(id: &str) -> Result<Sent, SendError> {
        Ok(Sent {
            message_id: id.into(),
            job_id: id.into(),
            sequence_number: None,
        })
    }

    #[test]
    fn a_report_with_a_failure_is_an_error_naming_the_count_and_the_first() {
        let report = SendReport::new(vec![
            sent("a"),
            Err(SendError::Internal("first")),
            sent("c"),
            Err(SendError::Internal("second")),
        ]);
        assert_eq!(report.sent().count(), 2);
        assert_eq!(
            report.failed().map(|(i, _)| i).collect::<Vec<_>>(),
            vec![1, 3]
        );
        let err = report.into_result().expect_err("two failed");
        assert_eq!(err.failed(), 2);
        assert_eq!(
            err.to_string(),
            "2 of 4 messages were not sent; the first (message 1): internal error: first"
        );
        assert_eq!(err.into_report().len(), 4);
    }

    #[test]
    fn a_report_without_failures_is_the_sent_messages_in_order() {
        let ids: Vec<_> = SendReport::new(vec![sent("a"), sent("b")])
            .into_result()
            .expect("all sent")
            .into_iter()
            .map(|s| s.message_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }
}
