//! Flow control declarations: how many runs of a job may start, how often, and which of them
//! run at all, per key computed from the typed payload.
//!
//! A job declares its controls with [`Flow`]; [`Flow::check`] refuses a declaration that
//! cannot work (a zero limit, a period out of range) with a [`FlowError`] that says what to
//! change. The decisions themselves are pure functions of the state kept per key
//! ([`throttle`] for throttles, [`window`] for rate limits, [`slots`] for concurrency), kept
//! in the run store by compare-and-swap ([`slots::update`]), so the same arithmetic holds
//! across every worker.
//!
//! A job declares them in [`Job::flow`](crate::Job::flow); the worker applies them to every
//! delivery before the job runs, wherever it runs (Lambda's SQS event source, the poller,
//! Vercel's drain route, `overtime dev`), in this order:
//!
//! 1. **singleton**: one active run per key; a new one is skipped, or cancels the active
//!    one at its next step or slice;
//! 2. **debounce**: the key's job sent last runs once the key has been quiet for the period
//!    (at the latest the maximum wait after the burst's first); the others end unrun;
//! 3. **rate limit**: beyond the limit, skipped; each skip counted per key with its payload
//!    ([`skipped`]);
//! 4. **throttle**: each start books its turn (GCRA); a job whose turn is later waits;
//! 5. **concurrency**: per key, in arrival order, then in total; a slot is held while the job
//!    runs (renewed every third of its lease) and given back when it ends or sleeps.
//!
//! The first three judge a job once, at its first attempt: a retry is not a new arrival. A job
//! that has to wait is sent again as a new message with a delay, carrying what it passed in
//! its `overtime.flow` attribute, and the original deleted: waiting never counts toward the
//! queue's `maxReceiveCount`, and adds no function time beyond the check (SQS delays are
//! whole seconds; the sub-second rest is slept). On a FIFO queue, which has no per-message
//! delay, the message is hidden instead, and those receives do count.
//!
//! ```
//! use overtime::flow::{Concurrency, Debounce, Flow, Throttle};
//! use std::time::Duration;
//!
//! struct SyncAccount { account: String }
//!
//! let flow = Flow::<SyncAccount>::new()
//!     .concurrency(Concurrency::per_key(1, |j: &SyncAccount| j.account.clone()).total(10))
//!     .throttle(Throttle::new(5, Duration::from_secs(2)).burst(2));
//! assert!(flow.check().is_ok());
//!
//! let zero = Flow::<SyncAccount>::new().throttle(Throttle::new(0, Duration::from_secs(1)));
//! assert!(zero.check().unwrap_err().to_string().contains("at least 1"));
//! # let _ = Debounce::<SyncAccount>::new(Duration::from_secs(5));
//! ```

pub(crate) mod cache;
mod decl;
mod error;
pub(crate) mod gate;
pub(crate) mod plan;
pub(crate) mod record;
pub mod slots;
pub mod throttle;
pub mod window;

#[cfg(test)]
mod gate_tests;
#[cfg(test)]
mod slots_tests;
#[cfg(test)]
mod tests;

pub use decl::{Concurrency, Debounce, Flow, KeyFn, RateLimit, Singleton, SingletonMode, Throttle};
pub use error::FlowError;
pub use record::{Skipped, declared, skipped};

use std::time::Duration;

/// The shortest period a throttle, rate limit or debounce may have.
pub const MIN_PERIOD: Duration = Duration::from_secs(1);
/// The longest period a throttle, rate limit or debounce (or a debounce's maximum wait) may
/// have: 7 days, as Inngest allows.
pub const MAX_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most runs a concurrency limit may allow at once.
pub const MAX_CONCURRENCY: u32 = 10_000;
/// The most starts a rate limit may allow per period: it keeps one start time per allowed
/// start and key, so its state stays a small item.
pub const MAX_RATE_LIMIT: u32 = 1_000;
/// The most extra starts a throttle's burst may allow.
pub const MAX_BURST: u32 = 10_000;
/// The shortest and longest lease of a concurrency slot: a crashed holder's slot frees itself
/// after it.
pub const LEASE_RANGE: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(900));
