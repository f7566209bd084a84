//! Buses, their rules and the rules' targets: EventBridge's configuration, kept in memory and
//! written whole to one JSON file on every change (written aside, synced, then renamed, so a
//! kill -9 leaves the old file or the new one).

use overtime::events::pattern::Pattern;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::EventsError;
use super::model::Target;
use crate::sqs::rules::{ACCOUNT, REGION};

/// The bus every account has, which cannot be deleted.
pub const DEFAULT_BUS: &str = "default";

/// A rule on a bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// As it was given, answered as is.
    pub(crate) event_pattern: String,
    /// `ENABLED` or `DISABLED`.
    pub(crate) state: String,
    pub(crate) targets: Vec<Target>,
    /// Set up from `infra/overtime.toml`, not by a client.
    #[serde(default)]
    pub(crate) declared: bool,
    #[serde(skip)]
    pub(crate) pattern: Option<Pattern>,
}

impl Rule {
    pub(crate) fn enabled(&self) -> bool {
        self.state != "DISABLED"
    }
}

/// An event bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Bus {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    /// Seconds since the epoch.
    pub(crate) created: i64,
    pub(crate) rules: BTreeMap<String, Rule>,
}

/// Every bus, by name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Registry {
    pub(crate) buses: BTreeMap<String, Bus>,
    #[serde(skip)]
    path: PathBuf,
}

impl Registry {
    /// Reads the file at `path`, or starts with only the default bus.
    pub(crate) fn open(path: &Path) -> Result<Registry, EventsError> {
        let mut registry = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice::<Registry>(&bytes).map_err(|e| {
                EventsError::Internal(format!(
                    "{} is not overtime dev's EventBridge state ({e}); move it away to start afresh",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Registry::default(),
            Err(e) => {
                return Err(EventsError::Internal(format!("read {}: {e}", path.display())));
            }
        };
        registry.path = path.to_owned();
        for bus in registry.buses.values_mut() {
            for rule in bus.rules.values_mut() {
                rule.pattern = Pattern::parse(&rule.event_pattern).ok();
            }
        }
        registry
            .buses
            .entry(DEFAULT_BUS.to_owned())
            .or_insert_with(|| Bus {
                name: DEFAULT_BUS.to_owned(),
                description: None,
                created: chrono::Utc::now().timestamp(),
                rules: BTreeMap::new(),
            });
        Ok(registry)
    }

    /// The file it is kept in.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the whole registry durably.
    pub(crate) fn save(&self) -> Result<(), EventsError> {
        let fail = |what: &str, e: std::io::Error| {
            EventsError::Internal(format!("{what} {}: {e}", self.path.display()))
        };
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| EventsError::Internal(e.to_string()))?;
        let aside = self.path.with_extension("json.new");
        let mut file = std::fs::File::create(&aside).map_err(|e| fail("create", e))?;
        file.write_all(&json).map_err(|e| fail("write", e))?;
        file.sync_all().map_err(|e| fail("sync", e))?;
        std::fs::rename(&aside, &self.path).map_err(|e| fail("replace", e))?;
        if let Some(dir) = self.path.parent()
            && let Ok(dir) = std::fs::File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    pub(crate) fn bus(&self, name_or_arn: Option<&str>) -> Result<&Bus, EventsError> {
        let name = bus_name(name_or_arn);
        self.buses
            .get(name)
            .ok_or_else(|| EventsError::no_bus(name))
    }

    pub(crate) fn bus_mut(&mut self, name_or_arn: Option<&str>) -> Result<&mut Bus, EventsError> {
        let name = bus_name(name_or_arn);
        self.buses
            .get_mut(name)
            .ok_or_else(|| EventsError::no_bus(name))
    }

    pub(crate) fn rule_mut(
        &mut self,
        bus: Option<&str>,
        rule: &str,
    ) -> Result<&mut Rule, EventsError> {
        let bus = self.bus_mut(bus)?;
        let bus_name = bus.name.clone();
        bus.rules
            .get_mut(rule)
            .ok_or_else(|| EventsError::no_rule(rule, &bus_name))
    }
}

/// A bus's name from its name or ARN (`arn:aws:events:REGION:ACCOUNT:event-bus/NAME`);
/// `default` when unset.
pub(crate) fn bus_name(name_or_arn: Option<&str>) -> &str {
    match name_or_arn {
        None | Some("") => DEFAULT_BUS,
        Some(s) => s.rsplit_once(":event-bus/").map_or(s, |(_, name)| name),
    }
}

pub(crate) fn bus_arn(bus: &str) -> String {
    format!("arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}")
}

/// A rule's ARN: without the bus for the default bus, as EventBridge writes it.
pub(crate) fn rule_arn(bus: &str, rule: &str) -> String {
    if bus == DEFAULT_BUS {
        format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}")
    } else {
        format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{bus}/{rule}")
    }
}

/// EventBridge's rule for bus, rule and target names: 1-`max` of letters, digits, `.`, `-`, `_`
/// (a custom bus's name may also hold `/`).
pub(crate) fn check_name(
    what: &str,
    value: &str,
    max: usize,
    slash: bool,
) -> Result<(), EventsError> {
    let ok = !value.is_empty()
        && value.chars().count() <= max
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') || (slash && c == '/')
        });
    if ok {
        Ok(())
    } else {
        Err(EventsError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{what}' failed to satisfy constraint: Member must have length between 1 and {max} and satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
        )))
    }
}
