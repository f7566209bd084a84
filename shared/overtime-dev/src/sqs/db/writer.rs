//! The hand-off from requests to the log: changes queue up in the order requests made them,
//! and whoever writes (a request thread about to park, else the log thread) takes everything
//! queued as one group.

use super::SqsError;
use super::log::Log;
use crate::sqs::state::Change;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The longest changes nobody waits for (receives, visibility changes, deletes on standard
/// queues) stay in memory before the log thread takes them.
pub(super) const PICK_UP: Duration = Duration::from_millis(100);

/// Changes waiting that wake the log thread even though nobody waits for them.
const WAKE_AT: usize = 20_000;

/// Commits between checkpoints of the write-ahead log into the database.
const CHECKPOINT_EVERY: u32 = 500;

/// A reply to a request, once its changes are durable.
pub(super) type Reply = oneshot::Sender<Result<(), SqsError>>;

/// Changes waiting for the log thread, in the order requests made them, and the requests
/// waiting for them to be durable.
#[derive(Default)]
pub(super) struct Pending {
    changes: Vec<Change>,
    replies: Vec<Reply>,
    /// When `changes` last went from empty to not empty.
    since: Option<Instant>,
    /// The log thread sleeps on the condvar (so a wake-up is worth a syscall).
    idle: bool,
    /// Every handle is gone: write everything and stop.
    closing: bool,
    /// When the oldest deferred row update is due.
    deferred_due: Option<Instant>,
    /// A checkpoint is due: the log thread's to do, off the request threads.
    checkpoint: bool,
}

/// The queue between requests and the log, and the log itself: written by the log thread,
/// or by a request thread that is about to sleep ([`on_park`]).
pub(super) struct Shared {
    pub(super) pending: Mutex<Pending>,
    pub(super) wake: Condvar,
    pub(super) log: Mutex<Log>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes what is waiting and writes it as one group; the caller holds `log`, so groups
    /// go in order. True once the log is closed.
    fn write(&self, log: &mut Log) -> bool {
        let (changes, replies, closing) = {
            let mut p = self.lock();
            p.since = None;
            (
                std::mem::take(&mut p.changes),
                std::mem::take(&mut p.replies),
                p.closing,
            )
        };
        let closed = log.group(changes, replies, closing);
        let mut p = self.lock();
        p.deferred_due = log.deferred.next_due();
        p.checkpoint = log.commits >= CHECKPOINT_EVERY;
        closed
    }

    /// Wakes the log thread if it sleeps.
    fn wake_log(&self, mut pending: std::sync::MutexGuard<'_, Pending>) {
        let wake = pending.idle;
        pending.idle = false;
        drop(pending);
        if wake {
            self.wake.notify_one();
        }
    }
}

/// Closes the log when the last [`Writer`] clone goes.
pub(super) struct Handle(pub(super) Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.lock().closing = true;
        self.0.wake.notify_one();
    }
}

/// A handle on the writer thread; cheap to clone.
#[derive(Clone)]
pub(crate) struct Writer {
    pub(super) handle: Arc<Handle>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer")
    }
}

impl Writer {
    /// Logs `changes` after those logged before; with `wait`, the receiver answers once they
    /// are durable. Without it the log thread is not woken: it takes them with the next
    /// request that waits, or within [`PICK_UP`].
    pub(crate) fn log(
        &self,
        changes: Vec<Change>,
        wait: bool,
    ) -> Option<oneshot::Receiver<Result<(), SqsError>>> {
        let shared = &self.handle.0;
        let mut pending = shared.lock();
        if !changes.is_empty() {
            if pending.changes.is_empty() {
                pending.since = Some(Instant::now());
                pending.changes = changes;
            } else {
                pending.changes.extend(changes);
            }
        }
        let answer = wait.then(|| {
            let (tx, rx) = oneshot::channel();
            pending.replies.push(tx);
            rx
        });
        if pending.changes.len() >= WAKE_AT {
            shared.wake_log(pending);
        } else if wait && PARKS.get() {
            // This thread's runtime calls `on_park` when it runs out of work: the requests
            // it is about to handle join this one's group instead of forming the next.
            drop(pending);
            LATER.with_borrow_mut(|later| {
                if !later.iter().any(|s| Arc::ptr_eq(s, shared)) {
                    later.push(shared.clone());
                }
            });
        } else if wait {
            shared.wake_log(pending);
        }
        answer
    }
}

thread_local! {
    /// This thread calls [`on_park`] before it sleeps.
    static PARKS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Log threads to wake when this one parks.
    static LATER: std::cell::RefCell<Vec<Arc<Shared>>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(test)]
thread_local! {
    /// Groups this thread wrote in [`on_park`].
    pub(crate) static WRITTEN_ON_PARK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Writes and syncs, on this thread, what requests on it left waiting for the log; see
/// [`crate::sqs::on_park`]. Where the log thread is writing already, it is woken instead.
pub(crate) fn on_park() {
    PARKS.set(true);
    let later = LATER.with_borrow_mut(std::mem::take);
    for shared in later {
        // Closing and checkpoints are the log thread's to do; so is a group while it writes.
        if let Ok(mut log) = shared.log.try_lock()
            && !shared.lock().closing
        {
            shared.write(&mut log);
            #[cfg(test)]
            WRITTEN_ON_PARK.with(|n| n.set(n.get() + 1));
            drop(log);
            let pending = shared.lock();
            if pending.checkpoint {
                shared.wake_log(pending);
            }
            continue;
        }
        shared.wake_log(shared.lock());
    }
}

/// The log thread's loop: waits until a request waits for a change (and no request thread
/// writes it, see [`on_park`]), changes nobody waits for are due, a checkpoint is due, or every
/// handle is gone; then writes what is waiting as one group, and checkpoints when due (so a
/// request thread never stalls on one).
pub(super) fn run(shared: &Shared) {
    loop {
        wait(shared);
        let mut log = shared.log.lock().unwrap_or_else(|p| p.into_inner());
        if shared.write(&mut log) {
            return;
        }
        if log.commits >= CHECKPOINT_EVERY {
            log.checkpoint();
            shared.lock().checkpoint = false;
        }
    }
}

/// Waits until there is something to do: a request waiting, changes piling up, changes
/// nobody waits for or deferred updates due, a checkpoint due, or every handle gone.
fn wait(shared: &Shared) {
    let mut p = shared.lock();
    while !(p.closing || p.checkpoint || !p.replies.is_empty() || p.changes.len() >= WAKE_AT) {
        let due = [p.since.map(|since| since + PICK_UP), p.deferred_due]
            .into_iter()
            .flatten()
            .min();
        let now = Instant::now();
        if due.is_some_and(|due| due <= now) {
            break;
        }
        // Never longer than PICK_UP: a request thread may defer updates meanwhile.
        let nap = due.map_or(PICK_UP, |due| (due - now).min(PICK_UP));
        p.idle = true;
        p = shared
            .wake
            .wait_timeout(p, nap)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    p.idle = false;
}
