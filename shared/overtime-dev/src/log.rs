//! What happened: one line per invocation and trigger, printed and kept for the dashboard.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many recent invocations the dashboard shows.
const KEEP: usize = 500;

/// One invocation of a function.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    /// The function.
    pub function: String,
    /// Its request id.
    pub request_id: String,
    /// What invoked it (`mapping jobs`, `schedule cleanup`, `cron /api/cron/drain`).
    pub trigger: String,
    /// When it began.
    pub started: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: String,
    /// Whether it succeeded.
    pub ok: bool,
}

/// The invocation log; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Log {
    recent: Arc<Mutex<VecDeque<Invocation>>>,
    quiet: bool,
}

impl Log {
    /// A log that prints a line per invocation (unless `quiet`).
    pub fn new(quiet: bool) -> Self {
        Log {
            recent: Arc::default(),
            quiet,
        }
    }

    /// Records (and prints) an invocation.
    pub fn record(&self, inv: Invocation) {
        if !self.quiet {
            println!(
                "{} {:<5} {} <- {} ({} ms): {}",
                inv.started.format("%H:%M:%S"),
                if inv.ok { "ok" } else { "FAIL" },
                inv.function,
                inv.trigger,
                inv.duration_ms,
                inv.outcome
            );
        }
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == KEEP {
            recent.pop_front();
        }
        recent.push_back(inv);
    }

    /// The recent invocations, newest first.
    pub fn recent(&self) -> Vec<Invocation> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .cloned()
            .collect()
    }
}
