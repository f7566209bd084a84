//! The shapes of EventBridge's API that `overtime dev` serves, as aws-sdk-eventbridge, boto3 and
//! the AWS CLI send them (AWS JSON 1.1, PascalCase), and as buses and rules are kept on disk.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A rule's target, as `PutTargets` takes it and `ListTargetsByRule` answers it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    /// Unique within the rule.
    #[serde(default)]
    pub id: String,
    /// An SQS queue of this endpoint, or (with the whole topology) a declared function.
    #[serde(default)]
    pub arn: String,
    /// Kept and answered; local targets need no role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Constant JSON sent instead of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The part of the event sent (`$.detail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    /// Values picked from the event and filled into a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
    /// Kept and answered; a local delivery to a queue does not fail for want of retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Where an event goes that cannot be delivered, with the reason as message attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    /// The message group of a FIFO queue target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs_parameters: Option<SqsParameters>,
}

/// `InputTransformer`: named JSON paths into the event, and the template they fill.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    /// Placeholder name → JSON path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_paths_map: BTreeMap<String, String>,
    /// The text sent, with `<name>` placeholders.
    #[serde(default)]
    pub input_template: String,
}

/// `RetryPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    /// 0-185.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<i64>,
    /// 60-86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<i64>,
}

/// `DeadLetterConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    /// An SQS queue's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// `SqsParameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqsParameters {
    /// Required for a FIFO queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id: Option<String>,
}

/// One entry of `PutEvents`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsEntry {
    /// The event's source (`overtime` for overtime's events).
    pub source: Option<String>,
    /// The event's type (an overtime event's name).
    pub detail_type: Option<String>,
    /// A JSON object, as text.
    pub detail: Option<String>,
    /// ARNs the event concerns.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Seconds since the epoch (the SDKs send a number); now when unset.
    pub time: Option<f64>,
    /// A bus name or ARN; `default` when unset.
    pub event_bus_name: Option<String>,
    /// An X-Ray trace header, ignored.
    pub trace_header: Option<String>,
}

/// `PutEvents`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsRequest {
    /// 1 to 10 entries.
    #[serde(default)]
    pub entries: Vec<PutEventsEntry>,
    /// Global endpoints are not served locally.
    pub endpoint_id: Option<String>,
}

/// One result of `PutEvents`, in the order of the entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventsResultEntry {
    /// The event's id, when it was accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Why it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// What to fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl PutEventsResultEntry {
    pub(crate) fn accepted(id: String) -> Self {
        PutEventsResultEntry {
            event_id: Some(id),
            error_code: None,
            error_message: None,
        }
    }

    pub(crate) fn failed(code: &str, message: impl Into<String>) -> Self {
        PutEventsResultEntry {
            event_id: None,
            error_code: Some(code.to_owned()),
            error_message: Some(message.into()),
        }
    }
}
