//! Functions: their environment, the least privilege they need, their SQS event sources; and
//! the run store the durable ones share.

use overtime::config::{Declaration, Function, Mapping};

use super::{function_name, logical, queue_id, statement};
use crate::yaml::Node;

pub(super) fn function(d: &Declaration, f: &Function) -> Node {
    let mut props = Node::map([
        ("FunctionName", Node::str(function_name(d, &f.name))),
        ("CodeUri", Node::str("..")),
        ("Handler", Node::str("bootstrap")),
        ("Runtime", Node::str("provided.al2023")),
        (
            "Architectures",
            Node::List(vec![Node::str(f.architecture.as_str())]),
        ),
        ("Timeout", Node::Int(f.timeout.into())),
        ("MemorySize", Node::Int(f.memory.into())),
    ]);
    let mut vars: Vec<(String, Node)> = f
        .queues
        .iter()
        .map(|(var, q)| (var.clone(), Node::reference(&queue_id(q))))
        .collect();
    vars.extend(
        f.environment
            .iter()
            .map(|(k, v)| (k.clone(), Node::str(v.clone()))),
    );
    if f.runs {
        vars.push((
            overtime::env::RUN_STORE.to_owned(),
            Node::map([("Fn::Sub", Node::str("dynamodb:${RunsTable}"))]),
        ));
    }
    if f.events {
        vars.push((
            overtime::env::EVENT_BUS.to_owned(),
            Node::reference(super::events::BUS_ID),
        ));
    }
    if !vars.is_empty() {
        props.push("Environment", Node::map([("Variables", Node::Map(vars))]));
    }

    // Sending to its queues; consuming its mapped queues, with the worker's backoff
    // (ChangeMessageVisibility) and dead-lettering (SendMessage to the DLQ).
    let mut statements = Vec::new();
    let sends: Vec<Node> = f
        .queues
        .values()
        .map(|q| Node::get_att(&queue_id(q), "Arn"))
        .collect();
    if !sends.is_empty() {
        statements.push(statement(
            &[
                "sqs:SendMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
            ],
            sends,
        ));
    }
    let consumed: Vec<&Mapping> = d.mappings.iter().filter(|m| m.function == f.name).collect();
    if !consumed.is_empty() {
        statements.push(statement(
            // SendMessage: a job not yet due (a delay over 900 s) hops back onto its queue.
            &[
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:SendMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
            ],
            consumed
                .iter()
                .map(|m| Node::get_att(&queue_id(&m.queue), "Arn"))
                .collect(),
        ));
        statements.push(statement(
            &["sqs:SendMessage", "sqs:GetQueueUrl"],
            consumed
                .iter()
                .map(|m| Node::get_att(&format!("{}DeadLetterQueue", logical(&m.queue)), "Arn"))
                .collect(),
        ));
    }
    if f.runs {
        // The run store's calls: conditional puts, consistent gets, and scans for `runs list`.
        statements.push(statement(
            &["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"],
            vec![Node::get_att("RunsTable", "Arn")],
        ));
    }
    if f.events {
        statements.push(statement(
            &["events:PutEvents"],
            vec![Node::get_att(super::events::BUS_ID, "Arn")],
        ));
    }
    if !statements.is_empty() {
        props.push(
            "Policies",
            Node::List(vec![Node::map([("Statement", Node::List(statements))])]),
        );
    }
    if f.url {
        props.push(
            "FunctionUrlConfig",
            Node::map([("AuthType", Node::str("NONE"))]),
        );
    }
    if !consumed.is_empty() {
        let mut events = Node::map::<String>([]);
        for m in consumed {
            let mut p = Node::map([
                ("Queue", Node::get_att(&queue_id(&m.queue), "Arn")),
                ("BatchSize", Node::Int(m.batch_size.into())),
            ]);
            if m.batching_window > 0 {
                p.push(
                    "MaximumBatchingWindowInSeconds",
                    Node::Int(m.batching_window.into()),
                );
            }
            p.push(
                "FunctionResponseTypes",
                Node::List(vec![Node::str("ReportBatchItemFailures")]),
            );
            if let Some(c) = m.max_concurrency {
                p.push(
                    "ScalingConfig",
                    Node::map([("MaximumConcurrency", Node::Int(c.into()))]),
                );
            }
            events.push(
                &queue_id(&m.queue),
                Node::map([("Type", Node::str("SQS")), ("Properties", p)]),
            );
        }
        props.push("Events", events);
    }
    Node::map([
        ("Type", Node::str("AWS::Serverless::Function")),
        (
            "Metadata",
            Node::map([
                ("BuildMethod", Node::str("rust-cargolambda")),
                (
                    "BuildProperties",
                    Node::map([("Binary", Node::str(f.binary.clone()))]),
                ),
            ]),
        ),
        ("Properties", props),
    ])
}

/// The DynamoDB run store: `pk` (run id) and `sk` (`run` or `step#NAME`), on demand.
pub(super) fn runs_table(d: &Declaration) -> Node {
    let attr = |name: &str| {
        Node::map([
            ("AttributeName", Node::str(name)),
            ("AttributeType", Node::str("S")),
        ])
    };
    let key = |name: &str, kind: &str| {
        Node::map([
            ("AttributeName", Node::str(name)),
            ("KeyType", Node::str(kind)),
        ])
    };
    Node::map([
        ("Type", Node::str("AWS::DynamoDB::Table")),
        (
            "Properties",
            Node::map([
                ("TableName", Node::str(format!("{}-runs", d.project.name))),
                ("BillingMode", Node::str("PAY_PER_REQUEST")),
                (
                    "AttributeDefinitions",
                    Node::List(vec![attr("pk"), attr("sk")]),
                ),
                (
                    "KeySchema",
                    Node::List(vec![key("pk", "HASH"), key("sk", "RANGE")]),
                ),
                (
                    "PointInTimeRecoverySpecification",
                    Node::map([("PointInTimeRecoveryEnabled", Node::Bool(true))]),
                ),
                // Entries (idempotency keys) carry `expires_at`: DynamoDB deletes them after it.
                (
                    "TimeToLiveSpecification",
                    Node::map([
                        ("AttributeName", Node::str("expires_at")),
                        ("Enabled", Node::Bool(true)),
                    ]),
                ),
            ]),
        ),
    ])
}
