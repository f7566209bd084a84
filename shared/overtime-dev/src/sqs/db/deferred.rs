//! Receive and visibility row updates held back: the delete that usually follows within a
//! moment replaces them, so most are never written.

use crate::sqs::state::Change;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a receive's row update may wait to be written: a delete arriving meanwhile
/// replaces it, and a received message is usually deleted within this. Losing one (kill -9
/// within it) only makes a message visible again early, as a power cut could.
const DEFER: Duration = Duration::from_millis(250);

/// A message's receive count, first receive time and receipt token.
type Received = (i64, Option<i64>, u64);

/// Receive and visibility row updates waiting to be written, newest values per message.
#[derive(Default)]
pub(super) struct Deferred {
    /// Per message: visible time and, after a receive, (receives, first receive, receipt).
    rows: HashMap<i64, (i64, Option<Received>)>,
    /// When each message's first deferred update arrived, oldest first.
    order: VecDeque<(Instant, i64)>,
}

impl Deferred {
    /// Takes a receive or visibility change to write later (true), or leaves the change to be
    /// written now (false); a delete drops what was deferred for its message.
    pub(super) fn defer(&mut self, change: &Change) -> bool {
        match change {
            Change::MessageState {
                seq,
                visible_ms,
                receives,
                first_ms,
                receipt,
            } => {
                let row = self.rows.entry(*seq).or_insert_with(|| {
                    self.order.push_back((Instant::now(), *seq));
                    (*visible_ms, None)
                });
                *row = (*visible_ms, Some((*receives, *first_ms, *receipt)));
                true
            }
            Change::Visibility { seq, visible_ms } => {
                let row = self.rows.entry(*seq).or_insert_with(|| {
                    self.order.push_back((Instant::now(), *seq));
                    (*visible_ms, None)
                });
                row.0 = *visible_ms;
                true
            }
            Change::DeleteMessage(seq) => {
                self.rows.remove(seq);
                false
            }
            _ => false,
        }
    }

    /// When the oldest deferred update is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.order.front().map(|(since, _)| *since + DEFER)
    }

    /// The updates due now (all of them with `all`), as changes to write.
    pub(super) fn take_due(&mut self, all: bool) -> Vec<Change> {
        let mut due = Vec::new();
        while let Some(&(since, seq)) = self.order.front() {
            if !all && since.elapsed() < DEFER {
                break;
            }
            self.order.pop_front();
            match self.rows.remove(&seq) {
                Some((visible_ms, Some((receives, first_ms, receipt)))) => {
                    due.push(Change::MessageState {
                        seq,
                        visible_ms,
                        receives,
                        first_ms,
                        receipt,
                    });
                }
                Some((visible_ms, None)) => due.push(Change::Visibility { seq, visible_ms }),
                None => {}
            }
        }
        due
    }
}
