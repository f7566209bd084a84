//! The JSON shapes of SQS's requests and responses (AWS JSON 1.0, as aws-sdk-sqs, boto3 and
//! the AWS CLI send them).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A message attribute value (`DataType` String, Number or Binary, with an optional
/// `.custom` suffix).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeValue {
    /// `String`, `Number`, `Binary`, optionally `.suffix`.
    pub data_type: String,
    /// For String and Number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// For Binary, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
    /// Reserved by SQS; accepted and ignored.
    #[serde(default, skip_serializing)]
    pub string_list_values: Option<Vec<String>>,
    /// Reserved by SQS; accepted and ignored.
    #[serde(default, skip_serializing)]
    pub binary_list_values: Option<Vec<String>>,
}

/// Message attributes by name, in name order (as SQS's MD5 wants them).
pub type Attributes = BTreeMap<String, AttributeValue>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateQueue {
    pub(crate) queue_name: Option<String>,
    #[serde(default)]
    pub(crate) attributes: BTreeMap<String, String>,
    #[serde(default, rename = "tags")]
    pub(crate) tags: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QueueName {
    pub(crate) queue_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListQueues {
    pub(crate) queue_name_prefix: Option<String>,
    pub(crate) next_token: Option<String>,
    pub(crate) max_results: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QueueUrl {
    pub(crate) queue_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetQueueAttributes {
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) attribute_names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SetQueueAttributes {
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) attributes: BTreeMap<String, String>,
}

/// One message to send (SendMessage, or an entry of SendMessageBatch).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendEntry {
    /// The batch entry id (batches only).
    #[serde(default)]
    pub id: Option<String>,
    /// The body.
    pub message_body: Option<String>,
    /// Per-message delay (standard queues).
    pub delay_seconds: Option<i64>,
    /// Message attributes.
    #[serde(default)]
    pub message_attributes: Attributes,
    /// System attributes (`AWSTraceHeader`).
    #[serde(default)]
    pub message_system_attributes: Attributes,
    /// FIFO deduplication id.
    pub message_deduplication_id: Option<String>,
    /// FIFO message group.
    pub message_group_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendMessage {
    pub(crate) queue_url: Option<String>,
    #[serde(flatten)]
    pub(crate) entry: SendEntry,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SendMessageBatch {
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) entries: Vec<SendEntry>,
}

/// What a send answers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Sent {
    /// The batch entry id (batches only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The message id.
    pub message_id: String,
    /// MD5 of the body.
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_message_body: String,
    /// MD5 of the message attributes, when there are any.
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_attributes: Option<String>,
    /// MD5 of the system attributes, when there are any.
    #[serde(
        rename = "MD5OfMessageSystemAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_system_attributes: Option<String>,
    /// FIFO sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ReceiveMessage {
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) attribute_names: Vec<String>,
    #[serde(default)]
    pub(crate) message_system_attribute_names: Vec<String>,
    #[serde(default)]
    pub(crate) message_attribute_names: Vec<String>,
    pub(crate) max_number_of_messages: Option<i64>,
    pub(crate) visibility_timeout: Option<i64>,
    pub(crate) wait_time_seconds: Option<i64>,
}

/// A received message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Received {
    /// The message id.
    pub message_id: String,
    /// The receipt handle for this receive.
    pub receipt_handle: String,
    /// MD5 of the body.
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
    /// The body.
    pub body: String,
    /// System attributes asked for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// MD5 of the message attributes returned.
    #[serde(
        rename = "MD5OfMessageAttributes",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_attributes: Option<String>,
    /// Message attributes asked for.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub message_attributes: Attributes,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteMessage {
    pub(crate) queue_url: Option<String>,
    pub(crate) receipt_handle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HandleEntry {
    pub(crate) id: Option<String>,
    pub(crate) receipt_handle: Option<String>,
    pub(crate) visibility_timeout: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HandleBatch {
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) entries: Vec<HandleEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChangeVisibility {
    pub(crate) queue_url: Option<String>,
    pub(crate) receipt_handle: Option<String>,
    pub(crate) visibility_timeout: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StartMove {
    pub(crate) source_arn: Option<String>,
    pub(crate) destination_arn: Option<String>,
    pub(crate) max_number_of_messages_per_second: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListMoves {
    pub(crate) source_arn: Option<String>,
    pub(crate) max_results: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TaskHandle {
    pub(crate) task_handle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagQueue {
    pub(crate) queue_url: Option<String>,
    #[serde(default)]
    pub(crate) tags: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) tag_keys: Vec<String>,
}

/// A batch entry that failed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct BatchFailure {
    /// The entry id.
    pub id: String,
    /// True when the caller is at fault.
    pub sender_fault: bool,
    /// The error code.
    pub code: String,
    /// What went wrong.
    pub message: String,
}
