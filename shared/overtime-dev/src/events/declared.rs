//! The listeners of `infra/overtime.toml`, set up at start as `overtime infra render` deploys
//! them: the project's bus, one rule per listener whose target is the job's queue through the
//! listener's input transformer, and the events' dead-letter queue. Rules a client made are
//! left alone; declared rules no longer declared are removed.

use std::collections::BTreeMap;
use std::sync::Arc;

use overtime::config::{Declaration, LISTENER_INPUT_PATHS};
use overtime::events::pattern::Pattern;

use super::model::{DeadLetterConfig, InputTransformer, SqsParameters, Target};
use super::registry::{Bus, Rule};
use super::{Events, EventsError};
use crate::runtime::Function;
use crate::sqs::rules::queue_arn;

/// The events' dead-letter queue of a project, as the template names it.
pub fn dead_letter_queue(d: &Declaration) -> String {
    format!("{}-events-dlq", d.project.name)
}

impl Events {
    /// The declared functions that rules may target, by name (with the whole topology).
    pub fn with_functions(mut self, functions: &BTreeMap<String, Arc<Function>>) -> Self {
        self.functions = Arc::new(functions.values().map(|f| (f.arn(), f.clone())).collect());
        self
    }

    /// Sets up the bus and rules `d` declares (its dead-letter queue must exist already).
    pub fn declare(&self, d: &Declaration) -> Result<(), EventsError> {
        if !d.uses_events() {
            return Ok(());
        }
        let bus_name = d.bus_name();
        let dlq = queue_arn(&dead_letter_queue(d));
        let mut rules = BTreeMap::new();
        for l in &d.listeners {
            let Some(queue) = d.queue(&l.queue) else {
                continue;
            };
            let text = l.event_pattern().to_string();
            let pattern = Pattern::parse(&text).map_err(|e| {
                EventsError::InvalidEventPattern(format!("listener {}: {e}", l.name))
            })?;
            let name = l.rule_name(&d.project.name);
            let target = Target {
                id: "queue".into(),
                arn: queue_arn(&queue.sqs_name(&d.project.name)),
                input_transformer: Some(InputTransformer {
                    input_paths_map: LISTENER_INPUT_PATHS
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                        .collect(),
                    input_template: l.input_template(),
                }),
                dead_letter_config: Some(DeadLetterConfig {
                    arn: Some(dlq.clone()),
                }),
                sqs_parameters: queue.fifo.then(|| SqsParameters {
                    message_group_id: Some(l.name.clone()),
                }),
                ..Target::default()
            };
            rules.insert(
                name.clone(),
                Rule {
                    name,
                    description: Some(format!(
                        "{} starts job {} on queue {}",
                        l.event, l.job, l.queue
                    )),
                    event_pattern: text,
                    state: "ENABLED".into(),
                    targets: vec![target],
                    declared: true,
                    pattern: Some(pattern),
                },
            );
        }
        self.change(|reg| {
            let bus = reg.buses.entry(bus_name.clone()).or_insert_with(|| Bus {
                name: bus_name.clone(),
                description: Some("the project's bus, from infra/overtime.toml".into()),
                created: chrono::Utc::now().timestamp(),
                rules: BTreeMap::new(),
            });
            bus.rules.retain(|_, r| !r.declared);
            bus.rules.extend(rules);
            Ok(())
        })
    }
}
