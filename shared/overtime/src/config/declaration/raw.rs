//! The declaration as TOML spells it: the serde shapes `resolve` validates, spans kept for messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Architecture, ScheduleDeploy};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) project: Option<RawProject>,
    #[serde(default)]
    pub(super) functions: BTreeMap<Spanned<String>, RawFunction>,
    #[serde(default)]
    pub(super) queues: BTreeMap<Spanned<String>, RawQueue>,
    #[serde(default)]
    pub(super) schedules: BTreeMap<Spanned<String>, RawSchedule>,
    #[serde(default)]
    pub(super) mappings: Vec<RawMapping>,
    #[serde(default)]
    pub(super) events: BTreeMap<Spanned<String>, RawEvent>,
    #[serde(default)]
    pub(super) listeners: Vec<RawListener>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProject {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) schedules: ScheduleDeploy,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFunction {
    pub(super) binary: Option<String>,
    pub(super) timeout: Option<Spanned<u32>>,
    pub(super) memory: Option<Spanned<u32>>,
    pub(super) architecture: Option<Architecture>,
    #[serde(default)]
    pub(super) queues: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub(super) environment: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) url: bool,
    #[serde(default)]
    pub(super) runs: bool,
    #[serde(default)]
    pub(super) events: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQueue {
    #[serde(default)]
    pub(super) fifo: bool,
    pub(super) visibility_timeout: Option<Spanned<u32>>,
    pub(super) max_receives: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) delay: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) expression: Spanned<String>,
    pub(super) timezone: Option<Spanned<String>>,
    pub(super) function: Option<Spanned<String>>,
    pub(super) queue: Option<Spanned<String>>,
    pub(super) job: Option<Spanned<String>>,
    pub(super) payload: Option<toml::Value>,
    pub(super) enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMapping {
    pub(super) queue: Spanned<String>,
    pub(super) function: Spanned<String>,
    pub(super) batch_size: Option<Spanned<u32>>,
    pub(super) batching_window: Option<Spanned<u32>>,
    pub(super) max_concurrency: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEvent {
    #[serde(default)]
    pub(super) fields: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListener {
    pub(super) name: Option<Spanned<String>>,
    pub(super) event: Spanned<String>,
    pub(super) job: Spanned<String>,
    pub(super) queue: Spanned<String>,
    /// An EventBridge pattern on the event's data: JSON text, or a TOML table.
    pub(super) filter: Option<Spanned<toml::Value>>,
}
