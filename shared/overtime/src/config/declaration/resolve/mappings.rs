//! `[[mappings]]`: each queue feeding a function once, in batches Lambda accepts.

use super::Sections;
use super::functions::timeout_of;
use crate::config::declaration::raw::{Raw, RawMapping};
use crate::config::declaration::{Function, Mapping};
use crate::limits::{
    MAPPING_BATCH_SIZE_MAX, MAPPING_BATCH_SIZE_WITHOUT_WINDOW, MAPPING_BATCHING_WINDOW_MAX_SECS,
    MAPPING_FIFO_BATCH_SIZE_MAX, MAPPING_MAX_CONCURRENCY,
};

impl Sections<'_, '_> {
    /// `[[mappings]]`: which queue feeds which function, and in what batches.
    pub(super) fn mappings(&mut self, raw: &Raw, functions: &[Function]) -> Vec<Mapping> {
        let mut mappings: Vec<Mapping> = Vec::new();
        for m in &raw.mappings {
            let mapping = self.mapping(raw, functions, &mappings, m);
            mappings.push(mapping);
        }
        mappings
    }

    fn mapping(
        &mut self,
        raw: &Raw,
        functions: &[Function],
        earlier: &[Mapping],
        m: &RawMapping,
    ) -> Mapping {
        let report = &mut *self.report;
        if earlier
            .iter()
            .any(|o| o.queue == *m.queue.get_ref() && o.function == *m.function.get_ref())
        {
            report.error(m.queue.span().start, format!("queue `{}` is already mapped to function `{}`; remove the duplicate [[mappings]]", m.queue.get_ref(), m.function.get_ref()));
        }
        let queue = raw
            .queues
            .iter()
            .find(|(n, _)| n.get_ref() == m.queue.get_ref());
        if queue.is_none() {
            report.error(
                m.queue.span().start,
                format!(
                    "no queue `{}` is declared: add [queues.{}] or fix the name",
                    m.queue.get_ref(),
                    m.queue.get_ref()
                ),
            );
        }
        if timeout_of(functions, m.function.get_ref()).is_none() {
            report.error(
                m.function.span().start,
                format!(
                    "no function `{}` is declared: add [functions.{}] or fix the name",
                    m.function.get_ref(),
                    m.function.get_ref()
                ),
            );
        }
        let fifo = queue.is_some_and(|(_, q)| q.fifo);
        let batch_size = m.batch_size.as_ref().map_or(10, |b| {
            let value = *b.get_ref();
            let max = if fifo {
                MAPPING_FIFO_BATCH_SIZE_MAX
            } else {
                MAPPING_BATCH_SIZE_MAX
            };
            if !(1..=max).contains(&value) {
                report.error(
                    b.span().start,
                    format!(
                        "batch_size must be 1-{max}{}, not {value}",
                        if fifo { " for a FIFO queue" } else { "" }
                    ),
                );
            }
            value
        });
        let batching_window = m.batching_window.as_ref().map_or(0, |w| {
            let value = *w.get_ref();
            if value > MAPPING_BATCHING_WINDOW_MAX_SECS {
                report.error(
                    w.span().start,
                    format!(
                        "batching_window must be 0-{MAPPING_BATCHING_WINDOW_MAX_SECS} seconds, not {value}"
                    ),
                );
            } else if fifo && value > 0 {
                report.error(
                    w.span().start,
                    "FIFO queues take no batching_window: remove it",
                );
            }
            value
        });
        if batch_size > MAPPING_BATCH_SIZE_WITHOUT_WINDOW && batching_window == 0 {
            let at = m.batch_size.as_ref().map_or(0, |b| b.span().start);
            report.error(at, format!("a batch_size above {MAPPING_BATCH_SIZE_WITHOUT_WINDOW} needs batching_window of at least 1 second (Lambda's rule)"));
        }
        let max_concurrency = m.max_concurrency.as_ref().map(|c| {
            let value = *c.get_ref();
            if !MAPPING_MAX_CONCURRENCY.contains(&value) {
                report.error(
                    c.span().start,
                    format!(
                        "max_concurrency must be {}-{}, not {value}",
                        MAPPING_MAX_CONCURRENCY.start(),
                        MAPPING_MAX_CONCURRENCY.end()
                    ),
                );
            }
            value
        });
        Mapping {
            queue: m.queue.get_ref().clone(),
            function: m.function.get_ref().clone(),
            batch_size,
            batching_window,
            max_concurrency,
        }
    }
}
