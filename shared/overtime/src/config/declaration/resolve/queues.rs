//! `[queues.NAME]`: reserved names, and visibility, receives and delay against SQS's limits and
//! the timeouts of the functions consuming each queue.

use toml::Spanned;

use super::functions::timeout_of;
use super::{Sections, check_name, too_long};
use crate::config::declaration::Function;
use crate::config::declaration::QueueDecl;
use crate::config::declaration::raw::{Raw, RawMapping, RawQueue};
use crate::limits::{
    MAPPING_VISIBILITY_PER_TIMEOUT, SQS_MAX_DELAY, SQS_MAX_QUEUE_NAME_CHARS, SQS_MAX_RECEIVE_COUNT,
    SQS_MAX_VISIBILITY_SECS, SQS_MIN_RECOMMENDED_RECEIVES,
};

impl Sections<'_, '_> {
    /// `[queues.NAME]`, whose defaults follow the functions consuming them.
    pub(super) fn queues(&mut self, raw: &Raw, functions: &[Function]) -> Vec<QueueDecl> {
        raw.queues
            .iter()
            .map(|(name, q)| self.queue(raw, functions, name, q))
            .collect()
    }

    fn queue(
        &mut self,
        raw: &Raw,
        functions: &[Function],
        name: &Spanned<String>,
        q: &RawQueue,
    ) -> QueueDecl {
        check_name(self.report, name, "queue");
        self.unique(name, "queue");
        let report = &mut *self.report;
        let n = name.get_ref();
        if n.ends_with("-dlq") || n == "schedules" {
            report.error(name.span().start, format!("queue name `{n}` is reserved: `NAME-dlq` names each queue's dead-letter queue and `schedules-dlq` the schedules'; rename it"));
        }
        too_long(
            report,
            name.span().start,
            "the dead-letter queue name",
            format!(
                "{}-{n}-dlq{}",
                self.project,
                if q.fifo { ".fifo" } else { "" }
            ),
            SQS_MAX_QUEUE_NAME_CHARS,
        );
        let consumers: Vec<&RawMapping> = raw
            .mappings
            .iter()
            .filter(|m| m.queue.get_ref() == name.get_ref())
            .collect();
        let longest = consumers
            .iter()
            .filter_map(|m| timeout_of(functions, m.function.get_ref()))
            .max();
        let visibility_timeout = match &q.visibility_timeout {
            Some(v) => {
                let value = *v.get_ref();
                if value > SQS_MAX_VISIBILITY_SECS {
                    report.error(v.span().start, format!("visibility_timeout must be at most {SQS_MAX_VISIBILITY_SECS} seconds (12 hours), not {value}"));
                } else if let Some(t) = longest {
                    if value < t {
                        report.error(v.span().start, format!("visibility_timeout {value} s is shorter than the consuming function's timeout {t} s: Lambda refuses the event source mapping; use at least {}", t.saturating_mul(MAPPING_VISIBILITY_PER_TIMEOUT)));
                    } else if value < t.saturating_mul(MAPPING_VISIBILITY_PER_TIMEOUT) {
                        report.warn(v.span().start, format!("visibility_timeout {value} s is under {MAPPING_VISIBILITY_PER_TIMEOUT} × the consuming function's timeout ({t} s); AWS recommends at least {} so retries of throttled batches are not redelivered early", t.saturating_mul(MAPPING_VISIBILITY_PER_TIMEOUT)));
                    }
                }
                value
            }
            None => longest.map_or(30, |t| {
                (t.saturating_mul(MAPPING_VISIBILITY_PER_TIMEOUT)).min(SQS_MAX_VISIBILITY_SECS)
            }),
        };
        let max_receives = match &q.max_receives {
            Some(m) => {
                let value = *m.get_ref();
                if !SQS_MAX_RECEIVE_COUNT.contains(&value) {
                    report.error(
                        m.span().start,
                        format!(
                            "max_receives must be {}-{}, not {value}",
                            SQS_MAX_RECEIVE_COUNT.start(),
                            SQS_MAX_RECEIVE_COUNT.end()
                        ),
                    );
                } else if value < SQS_MIN_RECOMMENDED_RECEIVES {
                    report.warn(m.span().start, format!("max_receives {value} is under {SQS_MIN_RECOMMENDED_RECEIVES}: AWS recommends at least {SQS_MIN_RECOMMENDED_RECEIVES}, so a message whose batch was throttled is not dead-lettered before it ever ran"));
                }
                value
            }
            None => SQS_MIN_RECOMMENDED_RECEIVES,
        };
        let delay = q.delay.as_ref().map_or(0, |d| {
            let value = *d.get_ref();
            let max = SQS_MAX_DELAY.as_secs();
            if u64::from(value) > max {
                report.error(
                    d.span().start,
                    format!("delay must be at most {max} seconds (SQS's limit), not {value}"),
                );
            }
            value
        });
        QueueDecl {
            name: name.get_ref().clone(),
            fifo: q.fifo,
            visibility_timeout,
            max_receives,
            delay,
        }
    }
}
