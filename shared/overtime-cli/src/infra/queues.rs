//! Queues, each with its dead-letter queue.

use overtime::config::{Declaration, QueueDecl};

use super::{DEAD_LETTER_RETENTION_SECS, logical, queue_id, queue_name};
use crate::yaml::Node;

pub(super) fn queue(d: &Declaration, q: &QueueDecl) -> Vec<(String, Node)> {
    let dlq_id = format!("{}DeadLetterQueue", logical(&q.name));
    let dlq_name = q.dead_letter_name(&d.project.name);
    let mut dlq_props = Node::map([
        ("QueueName", Node::str(dlq_name)),
        (
            "MessageRetentionPeriod",
            Node::Int(DEAD_LETTER_RETENTION_SECS),
        ),
    ]);
    let mut props = Node::map([
        ("QueueName", Node::str(queue_name(d, q))),
        ("VisibilityTimeout", Node::Int(q.visibility_timeout.into())),
    ]);
    if q.delay > 0 {
        props.push("DelaySeconds", Node::Int(q.delay.into()));
    }
    if q.fifo {
        // Content-based deduplication: Scheduler sends to a FIFO queue only with it on.
        props.push("FifoQueue", Node::Bool(true));
        props.push("ContentBasedDeduplication", Node::Bool(true));
        dlq_props.push("FifoQueue", Node::Bool(true));
        dlq_props.push("ContentBasedDeduplication", Node::Bool(true));
    }
    props.push(
        "RedrivePolicy",
        Node::map([
            ("deadLetterTargetArn", Node::get_att(&dlq_id, "Arn")),
            ("maxReceiveCount", Node::Int(q.max_receives.into())),
        ]),
    );
    vec![
        (
            queue_id(&q.name),
            Node::map([
                ("Type", Node::str("AWS::SQS::Queue")),
                ("Properties", props),
            ]),
        ),
        (
            dlq_id,
            Node::map([
                ("Type", Node::str("AWS::SQS::Queue")),
                ("Properties", dlq_props),
            ]),
        ),
    ]
}
