//! Buses, rules and targets: the configuration calls of EventBridge, each one change written
//! to disk before it is answered.

use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use super::model::Target;
use super::registry::{Bus, DEFAULT_BUS, Rule, bus_arn, check_name, rule_arn};
use super::{Events, EventsError, transform};
use overtime::events::pattern::Pattern;
use overtime::limits::{EVENTBRIDGE_MAX_RULE_NAME_CHARS, EVENTBRIDGE_MAX_TARGETS_PER_RULE};

/// Longest bus name. Source: Amazon EventBridge API reference, `CreateEventBus` (`Name`).
const MAX_BUS_NAME_CHARS: usize = 256;
/// Longest target id. Source: Amazon EventBridge API reference, `Target` (`Id`).
const MAX_TARGET_ID_CHARS: usize = 64;
/// Most items a List call answers at once. Source: EventBridge API reference (`Limit`: 1-100).
const MAX_LIST: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BusRequest {
    name: Option<String>,
    description: Option<String>,
    event_source_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListRequest {
    name_prefix: Option<String>,
    event_bus_name: Option<String>,
    limit: Option<usize>,
    next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RuleRequest {
    name: Option<String>,
    event_bus_name: Option<String>,
    event_pattern: Option<String>,
    schedule_expression: Option<String>,
    state: Option<String>,
    description: Option<String>,
    #[serde(default)]
    force: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TargetsRequest {
    rule: Option<String>,
    event_bus_name: Option<String>,
    #[serde(default)]
    targets: Vec<Target>,
    #[serde(default)]
    ids: Vec<String>,
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, EventsError> {
    v.as_deref().ok_or_else(|| {
        EventsError::Validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// One page of `items` after `next_token`: the page and the token of the next one.
fn page<T: Clone>(items: &[T], req: &ListRequest) -> Result<(Vec<T>, Option<String>), EventsError> {
    let start = match &req.next_token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| EventsError::Validation(format!("The NextToken {t:?} is not valid.")))?,
    };
    let limit = req.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items.get(start..end).unwrap_or_default().to_vec(), next))
}

fn bus_json(bus: &Bus) -> Value {
    let mut v = json!({
        "Name": bus.name,
        "Arn": bus_arn(&bus.name),
        "CreationTime": bus.created,
        "LastModifiedTime": bus.created,
    });
    if let Some(d) = &bus.description {
        v["Description"] = json!(d);
    }
    v
}

fn rule_json(bus: &str, rule: &Rule) -> Value {
    let mut v = json!({
        "Name": rule.name,
        "Arn": rule_arn(bus, &rule.name),
        "EventPattern": rule.event_pattern,
        "State": rule.state,
        "EventBusName": bus,
    });
    if let Some(d) = &rule.description {
        v["Description"] = json!(d);
    }
    v
}

impl Events {
    pub(crate) fn create_event_bus(&self, req: BusRequest) -> Result<Value, EventsError> {
        let name = required(&req.name, "name")?;
        check_name("name", name, MAX_BUS_NAME_CHARS, true)?;
        if req.event_source_name.is_some() {
            return Err(EventsError::Validation(
                "Partner event sources are not served by overtime dev; create a bus without EventSourceName.".into(),
            ));
        }
        self.change(|reg| {
            if reg.buses.contains_key(name) {
                return Err(EventsError::ResourceAlreadyExists(format!(
                    "Event bus {name} already exists."
                )));
            }
            reg.buses.insert(
                name.to_owned(),
                Bus {
                    name: name.to_owned(),
                    description: req.description.clone(),
                    created: chrono::Utc::now().timestamp(),
                    rules: BTreeMap::new(),
                },
            );
            Ok(json!({ "EventBusArn": bus_arn(name) }))
        })
    }

    pub(crate) fn describe_event_bus(&self, req: BusRequest) -> Result<Value, EventsError> {
        let reg = self.registry();
        reg.bus(req.name.as_deref()).map(bus_json)
    }

    pub(crate) fn list_event_buses(&self, req: ListRequest) -> Result<Value, EventsError> {
        let reg = self.registry();
        let prefix = req.name_prefix.as_deref().unwrap_or("");
        let buses: Vec<Value> = reg
            .buses
            .values()
            .filter(|b| b.name.starts_with(prefix))
            .map(bus_json)
            .collect();
        let (items, next) = page(&buses, &req)?;
        let mut v = json!({ "EventBuses": items });
        if let Some(t) = next {
            v["NextToken"] = json!(t);
        }
        Ok(v)
    }

    pub(crate) fn delete_event_bus(&self, req: BusRequest) -> Result<Value, EventsError> {
        let name = required(&req.name, "name")?;
        if name == DEFAULT_BUS {
            return Err(EventsError::Validation(
                "Cannot delete event bus default.".into(),
            ));
        }
        self.change(|reg| {
            reg.buses.remove(name);
            Ok(json!({}))
        })
    }

    pub(crate) fn put_rule(&self, req: RuleRequest) -> Result<Value, EventsError> {
        let name = required(&req.name, "name")?;
        check_name("name", name, EVENTBRIDGE_MAX_RULE_NAME_CHARS, false)?;
        if req.schedule_expression.is_some() {
            return Err(EventsError::Validation(
                "overtime dev runs schedules from infra/overtime.toml and vercel.json (as EventBridge Scheduler does); rules with a ScheduleExpression are not served locally.".into(),
            ));
        }
        let text = req.event_pattern.as_deref().ok_or_else(|| {
            EventsError::Validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.".into(),
            )
        })?;
        let pattern =
            Pattern::parse(text).map_err(|e| EventsError::InvalidEventPattern(e.to_string()))?;
        let state = match req.state.as_deref() {
            None | Some("ENABLED") => "ENABLED",
            Some("DISABLED") => "DISABLED",
            Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") => {
                "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
            }
            Some(other) => {
                return Err(EventsError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
                )));
            }
        };
        self.change(|reg| {
            let bus = reg.bus_mut(req.event_bus_name.as_deref())?;
            let bus_name = bus.name.clone();
            let rule = bus.rules.entry(name.to_owned()).or_insert_with(|| Rule {
                name: name.to_owned(),
                description: None,
                event_pattern: String::new(),
                state: String::new(),
                targets: Vec::new(),
                declared: false,
                pattern: None,
            });
            rule.event_pattern = text.to_owned();
            rule.pattern = Some(pattern);
            rule.state = state.to_owned();
            rule.description = req.description.clone();
            Ok(json!({ "RuleArn": rule_arn(&bus_name, name) }))
        })
    }

    pub(crate) fn describe_rule(&self, req: RuleRequest) -> Result<Value, EventsError> {
        let name = required(&req.name, "name")?;
        let reg = self.registry();
        let bus = reg.bus(req.event_bus_name.as_deref())?;
        let rule = bus
            .rules
            .get(name)
            .ok_or_else(|| EventsError::no_rule(name, &bus.name))?;
        Ok(rule_json(&bus.name, rule))
    }

    pub(crate) fn list_rules(&self, req: ListRequest) -> Result<Value, EventsError> {
        let reg = self.registry();
        let bus = reg.bus(req.event_bus_name.as_deref())?;
        let prefix = req.name_prefix.as_deref().unwrap_or("");
        let rules: Vec<Value> = bus
            .rules
            .values()
            .filter(|r| r.name.starts_with(prefix))
            .map(|r| rule_json(&bus.name, r))
            .collect();
        let (items, next) = page(&rules, &req)?;
        let mut v = json!({ "Rules": items });
        if let Some(t) = next {
            v["NextToken"] = json!(t);
        }
        Ok(v)
    }

    pub(crate) fn set_rule_state(
        &self,
        req: RuleRequest,
        state: &str,
    ) -> Result<Value, EventsError> {
        let name = required(&req.name, "name")?;
        self.change(|reg| {
            reg.rule_mut(req.event_bus_name.as_deref(), name)?.state = state.to_owned();
            Ok(json!({}))
        })
    }

    pub(crate) fn delete_rule(&self, req: RuleRequest) -> Result<Value, EventsError> {
        let name = required(&req.name, "name")?;
        self.change(|reg| {
            let bus = reg.bus_mut(req.event_bus_name.as_deref())?;
            match bus.rules.get(name) {
                None => return Ok(json!({})),
                Some(rule) if !rule.targets.is_empty() && !req.force => {
                    return Err(EventsError::Validation(
                        "Rule can't be deleted since it has targets.".into(),
                    ));
                }
                Some(_) => {}
            }
            bus.rules.remove(name);
            Ok(json!({}))
        })
    }

    pub(crate) fn put_targets(&self, req: TargetsRequest) -> Result<Value, EventsError> {
        let rule_name = required(&req.rule, "rule")?;
        if req.targets.is_empty() {
            return Err(EventsError::Validation(
                "1 validation error detected: Value '[]' at 'targets' failed to satisfy constraint: Member must have length greater than or equal to 1".into(),
            ));
        }
        for t in &req.targets {
            check_name("targets.member.id", &t.id, MAX_TARGET_ID_CHARS, false)?;
            transform::check(t).map_err(EventsError::Validation)?;
            if t.arn.ends_with(".fifo")
                && t.sqs_parameters
                    .as_ref()
                    .and_then(|p| p.message_group_id.as_ref())
                    .is_none()
            {
                return Err(EventsError::Validation(format!(
                    "Parameter(s) SqsParameters must be specified for target: {}.",
                    t.id
                )));
            }
        }
        let functions = self.functions.clone();
        self.change(|reg| {
            let rule = reg.rule_mut(req.event_bus_name.as_deref(), rule_name)?;
            let mut failed = Vec::new();
            let mut targets = rule.targets.clone();
            for t in &req.targets {
                if let Err(why) = super::deliver::check_arn(&t.arn, &functions) {
                    failed.push(json!({"TargetId": t.id, "ErrorCode": "ValidationException", "ErrorMessage": why}));
                    continue;
                }
                match targets.iter_mut().find(|o| o.id == t.id) {
                    Some(existing) => *existing = t.clone(),
                    None => targets.push(t.clone()),
                }
            }
            if targets.len() > EVENTBRIDGE_MAX_TARGETS_PER_RULE {
                return Err(EventsError::LimitExceeded(format!(
                    "The requested resource exceeds the maximum number allowed: a rule has at most {EVENTBRIDGE_MAX_TARGETS_PER_RULE} targets."
                )));
            }
            rule.targets = targets;
            Ok(json!({ "FailedEntryCount": failed.len(), "FailedEntries": failed }))
        })
    }

    pub(crate) fn remove_targets(&self, req: TargetsRequest) -> Result<Value, EventsError> {
        let rule_name = required(&req.rule, "rule")?;
        self.change(|reg| {
            let rule = reg.rule_mut(req.event_bus_name.as_deref(), rule_name)?;
            rule.targets.retain(|t| !req.ids.contains(&t.id));
            Ok(json!({ "FailedEntryCount": 0, "FailedEntries": [] }))
        })
    }

    pub(crate) fn list_targets_by_rule(&self, req: TargetsRequest) -> Result<Value, EventsError> {
        let rule_name = required(&req.rule, "rule")?;
        let reg = self.registry();
        let bus = reg.bus(req.event_bus_name.as_deref())?;
        let rule = bus
            .rules
            .get(rule_name)
            .ok_or_else(|| EventsError::no_rule(rule_name, &bus.name))?;
        Ok(json!({ "Targets": rule.targets }))
    }
}
