//! What the dashboard shows of events: the latest ones, with the rules each matched and the
//! jobs it started, and a count per event name of those no rule matched.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

use super::put::Built;

/// How many recent events are kept for the dashboard.
const RECENT: usize = 200;

/// One event, as the dashboard lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    /// Its name: the entry's `detail-type`.
    pub name: String,
    /// overtime's id for it (`detail.id`), its listeners' idempotency key; none for an event
    /// overtime did not send.
    pub id: Option<String>,
    /// EventBridge's id (a new one each time the same event is sent).
    pub eventbridge_id: String,
    /// When it was sent (its `time`).
    pub time: String,
    /// The bus.
    pub bus: String,
    /// Its `source`.
    pub source: String,
    /// The rules it matched.
    pub rules: Vec<String>,
    /// What it started: `job NAME on QUEUE`, a queue, a function.
    pub started: Vec<String>,
    /// Deliveries that failed, with their reasons.
    pub failures: Vec<String>,
}

impl EventRecord {
    pub(crate) fn of(event: &Built) -> Self {
        let id = (event.source == overtime::events::SOURCE)
            .then(|| event.value["detail"]["id"].as_str().map(str::to_owned))
            .flatten();
        EventRecord {
            name: event.detail_type.clone(),
            id,
            eventbridge_id: event.id.clone(),
            time: event.time.clone(),
            bus: event.bus.clone(),
            source: event.source.clone(),
            rules: Vec::new(),
            started: Vec::new(),
            failures: Vec::new(),
        }
    }
}

/// Events seen since start.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Activity {
    /// Every event accepted since start.
    pub accepted: u64,
    /// Accepted events no rule matched, by name: sent, but no one listens.
    pub unmatched: BTreeMap<String, u64>,
    /// The latest events, newest first.
    pub recent: VecDeque<EventRecord>,
}

impl Activity {
    pub(crate) fn record(&mut self, records: Vec<EventRecord>) {
        for r in records {
            self.accepted += 1;
            if r.rules.is_empty() {
                *self.unmatched.entry(r.name.clone()).or_default() += 1;
            }
            self.recent.push_front(r);
        }
        self.recent.truncate(RECENT);
    }
}
