//! Events: the project's bus; one rule per listener, whose target is the job's queue through
//! an input transformer, with retries and a dead-letter queue; and the queue policies that let
//! EventBridge send, each limited to the rules that target that queue (`aws:SourceArn`).

use overtime::config::{Declaration, LISTENER_INPUT_PATHS, Listener};
use overtime::limits::{EVENTBRIDGE_MAX_EVENT_AGE_SECS, EVENTBRIDGE_MAX_RETRY_ATTEMPTS};

use super::{DEAD_LETTER_RETENTION_SECS, logical, queue_id};
use crate::yaml::Node;

/// The bus's logical id: `Ref` gives its name, `GetAtt Arn` its ARN.
pub(super) const BUS_ID: &str = "EventBus";
/// Where an event goes when EventBridge cannot deliver it to a queue within the retry policy.
const DEAD_LETTER_ID: &str = "EventsDeadLetterQueue";

fn rule_id(l: &Listener) -> String {
    format!("{}Listener", logical(&l.name))
}

/// The bus, the listeners' rules, the target dead-letter queue and the queue policies; none
/// when the project neither listens nor sends.
pub(super) fn event_resources(d: &Declaration) -> Vec<(String, Node)> {
    if !d.uses_events() {
        return Vec::new();
    }
    let mut resources = vec![(
        BUS_ID.to_owned(),
        Node::map([
            ("Type", Node::str("AWS::Events::EventBus")),
            ("Properties", Node::map([("Name", Node::str(d.bus_name()))])),
        ]),
    )];
    if d.listeners.is_empty() {
        return resources;
    }
    for l in &d.listeners {
        resources.push((rule_id(l), rule(d, l)));
    }
    resources.push((
        DEAD_LETTER_ID.to_owned(),
        Node::map([
            ("Type", Node::str("AWS::SQS::Queue")),
            (
                "Properties",
                Node::map([
                    (
                        "QueueName",
                        Node::str(format!("{}-events-dlq", d.project.name)),
                    ),
                    (
                        "MessageRetentionPeriod",
                        Node::Int(DEAD_LETTER_RETENTION_SECS),
                    ),
                ]),
            ),
        ]),
    ));
    // One policy per queue: a second AWS::SQS::QueuePolicy on the same queue replaces the first.
    let mut queues: Vec<&str> = Vec::new();
    for l in &d.listeners {
        if !queues.contains(&l.queue.as_str()) {
            queues.push(&l.queue);
        }
    }
    for q in queues {
        let rules = d.listeners.iter().filter(|l| l.queue == q);
        resources.push((
            format!("{}EventsPolicy", queue_id(q)),
            queue_policy(&queue_id(q), rules),
        ));
    }
    resources.push((
        format!("{DEAD_LETTER_ID}Policy"),
        queue_policy(DEAD_LETTER_ID, d.listeners.iter()),
    ));
    resources
}

fn rule(d: &Declaration, l: &Listener) -> Node {
    let mut target = Node::map([
        ("Id", Node::str("queue")),
        ("Arn", Node::get_att(&queue_id(&l.queue), "Arn")),
        (
            "InputTransformer",
            Node::map([
                (
                    "InputPathsMap",
                    Node::map(
                        LISTENER_INPUT_PATHS
                            .iter()
                            .map(|(name, path)| (*name, Node::str(*path))),
                    ),
                ),
                ("InputTemplate", Node::str(l.input_template())),
            ]),
        ),
        (
            "RetryPolicy",
            Node::map([
                (
                    "MaximumRetryAttempts",
                    Node::Int(EVENTBRIDGE_MAX_RETRY_ATTEMPTS.into()),
                ),
                (
                    "MaximumEventAgeInSeconds",
                    Node::Int(EVENTBRIDGE_MAX_EVENT_AGE_SECS.into()),
                ),
            ]),
        ),
        (
            "DeadLetterConfig",
            Node::map([("Arn", Node::get_att(DEAD_LETTER_ID, "Arn"))]),
        ),
    ]);
    if d.queue(&l.queue).is_some_and(|q| q.fifo) {
        target.push(
            "SqsParameters",
            Node::map([("MessageGroupId", Node::str(l.name.clone()))]),
        );
    }
    Node::map([
        ("Type", Node::str("AWS::Events::Rule")),
        (
            "Properties",
            Node::map([
                ("Name", Node::str(l.rule_name(&d.project.name))),
                (
                    "Description",
                    Node::str(format!(
                        "{} starts job {} on queue {}",
                        l.event, l.job, l.queue
                    )),
                ),
                ("EventBusName", Node::reference(BUS_ID)),
                ("EventPattern", Node::Json(l.event_pattern())),
                ("State", Node::str("ENABLED")),
                ("Targets", Node::List(vec![target])),
            ]),
        ),
    ])
}

/// Lets EventBridge send to the queue `queue` (a logical id), from these listeners' rules only.
fn queue_policy<'a>(queue: &str, rules: impl Iterator<Item = &'a Listener>) -> Node {
    let arns: Vec<Node> = rules.map(|l| Node::get_att(&rule_id(l), "Arn")).collect();
    Node::map([
        ("Type", Node::str("AWS::SQS::QueuePolicy")),
        (
            "Properties",
            Node::map([
                ("Queues", Node::List(vec![Node::reference(queue)])),
                (
                    "PolicyDocument",
                    Node::map([
                        ("Version", Node::str("2012-10-17")),
                        (
                            "Statement",
                            Node::List(vec![Node::map([
                                ("Effect", Node::str("Allow")),
                                (
                                    "Principal",
                                    Node::map([("Service", Node::str("events.amazonaws.com"))]),
                                ),
                                ("Action", Node::str("sqs:SendMessage")),
                                ("Resource", Node::get_att(queue, "Arn")),
                                (
                                    "Condition",
                                    Node::map([(
                                        "ArnEquals",
                                        Node::map([("aws:SourceArn", Node::List(arns))]),
                                    )]),
                                ),
                            ])]),
                        ),
                    ]),
                ),
            ]),
        ),
    ])
}
