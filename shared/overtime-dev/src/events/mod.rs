//! An EventBridge-compatible endpoint, served on the SQS endpoint's address (one
//! `AWS_ENDPOINT_URL` for both, as LocalStack's single port): the AWS JSON 1.1 protocol that
//! aws-sdk-eventbridge, boto3 and the AWS CLI speak (`x-amz-target: AWSEvents.*`).
//!
//! Buses, rules and targets live in `registry` (one JSON file, rewritten durably on each
//! change); `put` gives events EventBridge's shape and matches them with
//! [`overtime::events::pattern`]; `deliver` writes every matching target's message in one
//! durable SQS commit before `PutEvents` answers; `transform` makes a target's input;
//! `activity` keeps what the dashboard shows.

mod activity;
mod declared;
mod deliver;
mod error;
mod http;
mod invoke;
pub mod model;
mod ops;
mod put;
mod registry;
mod transform;

pub use activity::{Activity, EventRecord};
pub use declared::dead_letter_queue;
pub use deliver::INVOCATIONS_QUEUE;
pub use error::EventsError;
pub use http::intercept;
pub use registry::DEFAULT_BUS;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::runtime::Function;
use crate::sqs::Sqs;
use registry::Registry;

/// The event service: buses and rules, the queues it delivers to, what it has seen. Cheap
/// to clone.
#[derive(Clone, Debug)]
pub struct Events {
    registry: Arc<Mutex<Registry>>,
    sqs: Sqs,
    activity: Arc<Mutex<Activity>>,
    /// Declared functions that may be targets, by ARN (none with `--endpoint-only`).
    functions: Arc<BTreeMap<String, Arc<Function>>>,
}

impl Events {
    /// Opens the configuration kept at `path`; events are delivered through `sqs`.
    pub fn open(path: &Path, sqs: Sqs) -> Result<Self, EventsError> {
        Ok(Events {
            registry: Arc::new(Mutex::new(Registry::open(path)?)),
            sqs,
            activity: Arc::default(),
            functions: Arc::default(),
        })
    }

    /// What has been seen since start.
    pub fn activity_snapshot(&self) -> Activity {
        self.activity().clone()
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn activity(&self) -> MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the registry and writes it to disk before answering; a change that could
    /// not be written is undone by reloading what is on disk.
    fn change<T>(
        &self,
        f: impl FnOnce(&mut Registry) -> Result<T, EventsError>,
    ) -> Result<T, EventsError> {
        let mut reg = self.registry();
        let out = f(&mut reg)?;
        if let Err(e) = reg.save() {
            if let Ok(on_disk) = Registry::open(reg.path()) {
                *reg = on_disk;
            }
            return Err(e);
        }
        Ok(out)
    }
}
