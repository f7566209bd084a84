//! Durable work: runs longer than one invocation ([`chunk`]), multi-step jobs that resume at
//! the step that failed (memoized steps, `JobContext::step` and `sleep`), and the run store
//! both keep their state in ([`store`]), and waits for events ([`wait`]).

pub mod chunk;
mod steps;
pub mod store;
pub mod wait;
pub(crate) mod wake;
