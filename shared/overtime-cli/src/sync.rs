//! `overtime schedules sync`: makes the EventBridge Scheduler schedules of one schedule group
//! equal to the declaration. overtime owns that group (it carries the tag
//! `managed-by = overtime`) and touches nothing outside it; a group of the same name without the
//! tag is refused.

use std::collections::BTreeMap;

use aws_sdk_scheduler::types::{
    DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, SqsParameters,
    Tag, Target,
};
use overtime::config::{Declaration, ScheduleDecl, ScheduleDeploy, Target as DeclTarget};

use crate::infra::{function_name, queue_name, scheduler_role_name};

/// The tag that marks a schedule group as overtime's.
pub(crate) const MANAGED_TAG: (&str, &str) = ("managed-by", "overtime");

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    #[error("no AWS region is configured: set AWS_REGION (or a profile's region)")]
    NoRegion,
    #[error("cannot read the AWS account id (sts:GetCallerIdentity): {0}")]
    Account(String),
    #[error(
        "schedule group `{0}` exists but is not managed by overtime (no tag managed-by=overtime); pass --group with a group of its own"
    )]
    ForeignGroup(String),
    #[error("EventBridge Scheduler: {0}")]
    Scheduler(String),
    #[error(
        "this project's schedules deploy with infra/template.yaml; set `schedules = \"sync\"` under [project] in infra/overtime.toml (and render the template again) to manage them with `overtime schedules sync` instead, so no schedule runs twice"
    )]
    DeployedByTemplate,
}

fn scheduler_error<E: std::error::Error + 'static>(
    e: aws_sdk_scheduler::error::SdkError<E>,
) -> SyncError {
    SyncError::Scheduler(overtime::error_chain(&e))
}

/// One schedule as the service holds it, in the fields overtime sets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wanted {
    expression: String,
    timezone: String,
    state: String,
    target: String,
    role: String,
    input: String,
    dead_letter: String,
    group_id: Option<String>,
}

impl Wanted {
    fn changes(&self, old: &Wanted) -> Vec<String> {
        let mut out = Vec::new();
        let mut field = |name: &str, a: &str, b: &str| {
            if a != b {
                out.push(format!("{name}: {b} → {a}"));
            }
        };
        field("expression", &self.expression, &old.expression);
        field("timezone", &self.timezone, &old.timezone);
        field("state", &self.state, &old.state);
        field("target", &self.target, &old.target);
        field("role", &self.role, &old.role);
        field("input", &self.input, &old.input);
        field("dead-letter queue", &self.dead_letter, &old.dead_letter);
        field(
            "message group",
            self.group_id.as_deref().unwrap_or("-"),
            old.group_id.as_deref().unwrap_or("-"),
        );
        out
    }

    fn target(&self) -> Result<Target, SyncError> {
        let mut t = Target::builder()
            .arn(&self.target)
            .role_arn(&self.role)
            .input(&self.input)
            .dead_letter_config(DeadLetterConfig::builder().arn(&self.dead_letter).build());
        if let Some(group) = &self.group_id {
            t = t.sqs_parameters(SqsParameters::builder().message_group_id(group).build());
        }
        t.build().map_err(|e| SyncError::Scheduler(e.to_string()))
    }
}

/// The ARN partition of a region (China and GovCloud have their own).
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// What the declaration asks for, by schedule name.
fn wanted(
    d: &Declaration,
    region: &str,
    account: &str,
    role: Option<&str>,
) -> BTreeMap<String, Wanted> {
    let partition = partition(region);
    let role = role.map_or_else(
        || {
            format!(
                "arn:{partition}:iam::{account}:role/{}",
                scheduler_role_name(d)
            )
        },
        str::to_owned,
    );
    d.schedules
        .iter()
        .map(|s: &ScheduleDecl| {
            let (target, group_id) = match &s.target {
                DeclTarget::Function(f) => (
                    format!(
                        "arn:aws:lambda:{region}:{account}:function:{}",
                        function_name(d, f)
                    ),
                    None,
                ),
                DeclTarget::Queue { queue, .. } => {
                    let q = d.queue(queue);
                    let name = q.map_or_else(|| queue.clone(), |q| queue_name(d, q));
                    let group = q.filter(|q| q.fifo).map(|_| s.name.clone());
                    (
                        format!("arn:{partition}:sqs:{region}:{account}:{name}"),
                        group,
                    )
                }
            };
            (
                s.name.clone(),
                Wanted {
                    expression: s.schedule.expression().trim().to_owned(),
                    timezone: s.timezone.clone().unwrap_or_else(|| "UTC".to_owned()),
                    state: if s.enabled { "ENABLED" } else { "DISABLED" }.to_owned(),
                    target,
                    role: role.clone(),
                    input: s.input(),
                    dead_letter: format!(
                        "arn:{partition}:sqs:{region}:{account}:{}-schedules-dlq",
                        d.project.name
                    ),
                    group_id,
                },
            )
        })
        .collect()
}

/// Sends a CreateSchedule or UpdateSchedule with every field overtime sets: the two builders
/// have the same setters but no common trait.
macro_rules! put {
    ($builder:expr, $group:expr, $name:expr, $want:expr, $window:expr) => {
        $builder
            .group_name($group)
            .name($name)
            .schedule_expression(&$want.expression)
            .schedule_expression_timezone(&$want.timezone)
            .state(ScheduleState::from($want.state.as_str()))
            .flexible_time_window($window)
            .target($want.target()?)
            .send()
            .await
            .map_err(scheduler_error)?
    };
}

/// Reconciles the group with the declaration and prints the diff; with `dry_run`, only prints.
/// Returns the number of changes (made or, in a dry run, that would be made).
pub(crate) async fn sync(
    d: &Declaration,
    group: &str,
    role: Option<&str>,
    dry_run: bool,
) -> Result<usize, SyncError> {
    if d.project.schedules == ScheduleDeploy::Template {
        return Err(SyncError::DeployedByTemplate);
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let region = config.region().ok_or(SyncError::NoRegion)?.to_string();
    let account = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| SyncError::Account(e.to_string()))?
        .account()
        .map(str::to_owned)
        .ok_or_else(|| SyncError::Account("no account in the answer".to_owned()))?;
    let client = aws_sdk_scheduler::Client::new(&config);
    let wanted = wanted(d, &region, &account, role);

    let group_exists = match client.get_schedule_group().name(group).send().await {
        Ok(found) => {
            let arn = found.arn().unwrap_or_default().to_owned();
            let tags = client
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(scheduler_error)?;
            let managed = tags
                .tags()
                .iter()
                .any(|t| t.key() == MANAGED_TAG.0 && t.value() == MANAGED_TAG.1);
            if !managed {
                return Err(SyncError::ForeignGroup(group.to_owned()));
            }
            true
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(scheduler_error(e)),
    };

    let mut current: BTreeMap<String, Wanted> = BTreeMap::new();
    if group_exists {
        let mut pages = client
            .list_schedules()
            .group_name(group)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(scheduler_error)?;
            names.extend(
                page.schedules()
                    .iter()
                    .filter_map(|s| s.name().map(str::to_owned)),
            );
        }
        for name in names {
            let s = client
                .get_schedule()
                .group_name(group)
                .name(&name)
                .send()
                .await
                .map_err(scheduler_error)?;
            let t = s.target();
            current.insert(
                name,
                Wanted {
                    expression: s.schedule_expression().unwrap_or_default().to_owned(),
                    timezone: s.schedule_expression_timezone().unwrap_or("UTC").to_owned(),
                    state: s.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    target: t.map(|t| t.arn().to_owned()).unwrap_or_default(),
                    role: t.map(|t| t.role_arn().to_owned()).unwrap_or_default(),
                    input: t.and_then(|t| t.input()).unwrap_or_default().to_owned(),
                    dead_letter: t
                        .and_then(|t| t.dead_letter_config())
                        .and_then(|c| c.arn())
                        .unwrap_or_default()
                        .to_owned(),
                    group_id: t
                        .and_then(|t| t.sqs_parameters())
                        .and_then(|p| p.message_group_id())
                        .map(str::to_owned),
                },
            );
        }
    }

    let verb = if dry_run { "would " } else { "" };
    let mut changes = 0;
    if !group_exists {
        println!(
            "+ {verb}create schedule group {group} (tagged {}={})",
            MANAGED_TAG.0, MANAGED_TAG.1
        );
        changes += 1;
        if !dry_run {
            client
                .create_schedule_group()
                .name(group)
                .tags(
                    Tag::builder()
                        .key(MANAGED_TAG.0)
                        .value(MANAGED_TAG.1)
                        .build()
                        .map_err(|e| SyncError::Scheduler(e.to_string()))?,
                )
                .send()
                .await
                .map_err(scheduler_error)?;
        }
    }
    for (name, want) in &wanted {
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| SyncError::Scheduler(e.to_string()))?;
        match current.get(name) {
            None => {
                println!(
                    "+ {verb}create {name}: {} ({}) → {}",
                    want.expression, want.timezone, want.target
                );
                changes += 1;
                if !dry_run {
                    put!(client.create_schedule(), group, name, want, window);
                }
            }
            Some(old) if old == want => println!("= {name}: unchanged"),
            Some(old) => {
                println!("~ {verb}update {name}: {}", want.changes(old).join("; "));
                changes += 1;
                if !dry_run {
                    // UpdateSchedule replaces the whole schedule: every field is sent.
                    put!(client.update_schedule(), group, name, want, window);
                }
            }
        }
    }
    for name in current.keys().filter(|n| !wanted.contains_key(*n)) {
        println!("- {verb}delete {name}: no longer declared");
        changes += 1;
        if !dry_run {
            client
                .delete_schedule()
                .group_name(group)
                .name(name)
                .send()
                .await
                .map_err(scheduler_error)?;
        }
    }
    Ok(changes)
}
