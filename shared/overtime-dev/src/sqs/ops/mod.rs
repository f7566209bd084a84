//! SQS's operations on the queues in memory. Each runs under the state's lock and notes what
//! it changed in `state.log`, which the caller hands to the SQLite log.
//!
//! By family: `queues`, `send`, `receive`, `handles` (what a receipt handle names: delete and
//! visibility changes), `moves` (dead-letter queues and message move tasks), and `retention`
//! (what expires).

mod handles;
mod moves;
mod queues;
mod receive;
mod retention;
mod send;

pub(crate) use handles::{change_visibility, delete};
pub(crate) use moves::{cancel_move, dead_letter_sources, move_step, move_tasks, start_move};
pub(crate) use queues::{
    create_queue, delete_queue, get_attributes, list_queues, purge, set_attributes, tag,
};
pub use receive::ReceiveRequest;
pub(crate) use receive::receive;
pub(crate) use retention::sweep;
pub(crate) use send::{Prepared, insert, prepare};
