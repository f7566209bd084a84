//! Schedules: EventBridge Scheduler schedules with their time zones, and the role they run as.

use overtime::config::{Declaration, ScheduleDecl, Target};

use super::{SCHEDULE_RETRY_SECS, function_id, queue_id, scheduler_role_name, statement};
use crate::yaml::Node;

pub(super) fn scheduler_role(d: &Declaration) -> Node {
    // Only what schedules target, and only for this account's Scheduler.
    let mut functions: Vec<&str> = Vec::new();
    let mut queues: Vec<&str> = Vec::new();
    for s in &d.schedules {
        match &s.target {
            Target::Function(f) if !functions.contains(&f.as_str()) => functions.push(f),
            Target::Queue { queue, .. } if !queues.contains(&queue.as_str()) => queues.push(queue),
            _ => {}
        }
    }
    let mut statements = Vec::new();
    if !functions.is_empty() {
        statements.push(statement(
            &["lambda:InvokeFunction"],
            functions
                .iter()
                .map(|f| Node::get_att(&function_id(f), "Arn"))
                .collect(),
        ));
    }
    let mut sends: Vec<Node> = queues
        .iter()
        .map(|q| Node::get_att(&queue_id(q), "Arn"))
        .collect();
    sends.push(Node::get_att("ScheduleDeadLetterQueue", "Arn"));
    statements.push(statement(&["sqs:SendMessage"], sends));
    Node::map([
        ("Type", Node::str("AWS::IAM::Role")),
        (
            "Properties",
            Node::map([
                ("RoleName", Node::str(scheduler_role_name(d))),
                (
                    "AssumeRolePolicyDocument",
                    Node::map([
                        ("Version", Node::str("2012-10-17")),
                        (
                            "Statement",
                            Node::List(vec![Node::map([
                                ("Effect", Node::str("Allow")),
                                (
                                    "Principal",
                                    Node::map([("Service", Node::str("scheduler.amazonaws.com"))]),
                                ),
                                ("Action", Node::str("sts:AssumeRole")),
                                (
                                    "Condition",
                                    Node::map([(
                                        "StringEquals",
                                        Node::map([(
                                            "aws:SourceAccount",
                                            Node::reference("AWS::AccountId"),
                                        )]),
                                    )]),
                                ),
                            ])]),
                        ),
                    ]),
                ),
                (
                    "Policies",
                    Node::List(vec![Node::map([
                        ("PolicyName", Node::str("invoke-targets")),
                        (
                            "PolicyDocument",
                            Node::map([
                                ("Version", Node::str("2012-10-17")),
                                ("Statement", Node::List(statements)),
                            ]),
                        ),
                    ])]),
                ),
            ]),
        ),
    ])
}

pub(super) fn schedule(d: &Declaration, s: &ScheduleDecl) -> Node {
    let target_arn = match &s.target {
        Target::Function(f) => Node::get_att(&function_id(f), "Arn"),
        Target::Queue { queue, .. } => Node::get_att(&queue_id(queue), "Arn"),
    };
    let mut props = Node::map([
        ("Name", Node::str(format!("{}-{}", d.project.name, s.name))),
        (
            "ScheduleExpression",
            Node::str(s.schedule.expression().trim()),
        ),
        (
            "ScheduleExpressionTimezone",
            Node::str(s.timezone.clone().unwrap_or_else(|| "UTC".to_owned())),
        ),
        (
            "FlexibleTimeWindow",
            Node::map([("Mode", Node::str("OFF"))]),
        ),
        (
            "State",
            Node::str(if s.enabled { "ENABLED" } else { "DISABLED" }),
        ),
    ]);
    let mut target = Node::map([
        ("Arn", target_arn),
        ("RoleArn", Node::get_att("SchedulerRole", "Arn")),
        ("Input", Node::str(s.input())),
        (
            "RetryPolicy",
            Node::map([("MaximumEventAgeInSeconds", Node::Int(SCHEDULE_RETRY_SECS))]),
        ),
        (
            "DeadLetterConfig",
            Node::map([("Arn", Node::get_att("ScheduleDeadLetterQueue", "Arn"))]),
        ),
    ]);
    if let Target::Queue { queue, .. } = &s.target
        && d.queue(queue).is_some_and(|q| q.fifo)
    {
        target.push(
            "SqsParameters",
            Node::map([("MessageGroupId", Node::str(s.name.clone()))]),
        );
    }
    props.push("Target", target);
    Node::map([
        ("Type", Node::str("AWS::Scheduler::Schedule")),
        ("Properties", props),
    ])
}
