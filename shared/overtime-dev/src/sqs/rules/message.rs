//! A message's contents and size as SQS checks them: the body's characters, message and
//! system attributes, and batches (their size and entry ids).

use super::digest::binary;
use super::{MAX_BATCH_ENTRY_ID, MAX_MESSAGE_BYTES};
use crate::sqs::SqsError;
use crate::sqs::model::{Attributes, SendEntry};

/// Checks a message body's characters against the set SQS allows.
pub fn check_body(body: &str) -> Result<(), SqsError> {
    let allowed = |c: char| matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}');
    if body.chars().all(allowed) {
        Ok(())
    } else {
        Err(SqsError::InvalidMessageContents)
    }
}

/// Checks message attributes (at most 10, SQS's name rules, a known data type and a value)
/// and returns the bytes they count towards the message size.
pub fn check_message_attributes(attrs: &Attributes) -> Result<usize, SqsError> {
    if attrs.len() > 10 {
        return Err(SqsError::InvalidParameterValue(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
            attrs.len()
        )));
    }
    let mut size = 0;
    for (name, value) in attrs {
        let lower = name.to_ascii_lowercase();
        let name_ok = !name.is_empty()
            && name.len() <= 256
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
            && !lower.starts_with("aws.")
            && !lower.starts_with("amazon.");
        if !name_ok {
            return Err(SqsError::InvalidParameterValue(format!(
                "Message attribute name '{name}' is invalid: use up to 256 of A-Z a-z 0-9 _ - ., not starting or ending with a period, without '..', not starting with AWS. or Amazon."
            )));
        }
        let base = value.data_type.split('.').next().unwrap_or_default();
        // An empty value is no value: SQS wants name, type and value all non-empty.
        let value_size = match base {
            "String" | "Number" => value
                .string_value
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| check_body(s).map(|()| s.len())),
            "Binary" => value.binary_value.as_ref().filter(|b| !b.is_empty()).map(|_| {
                binary(value).map(|b| b.len()).ok_or_else(|| {
                    SqsError::InvalidParameterValue(format!(
                        "Message attribute '{name}' has a BinaryValue that is not base64."
                    ))
                })
            }),
            _ => {
                return Err(SqsError::InvalidParameterValue(format!(
                    "The message attribute '{name}' has an invalid message attribute type {:?}: use String, Number or Binary, optionally with a .suffix.",
                    value.data_type
                )));
            }
        }
        .transpose()?
        .ok_or_else(|| {
            SqsError::InvalidParameterValue(format!(
                "The message attribute '{name}' with type '{base}' must contain a non-empty value of type '{base}'."
            ))
        })?;
        if base == "Number" && !value.string_value.as_deref().is_some_and(is_number) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Can't cast the value of message (user) attribute '{name}' to a number."
            )));
        }
        size += name.len() + value.data_type.len() + value_size;
    }
    Ok(size)
}

/// A Number attribute's value: a decimal number, optionally signed, with an optional
/// fraction and exponent (no spaces, no `NaN` or `inf`).
fn is_number(s: &str) -> bool {
    fn digits(s: &str) -> usize {
        s.bytes().take_while(u8::is_ascii_digit).count()
    }
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let whole = digits(s);
    let mut rest = &s[whole..];
    let mut fraction = 0;
    if let Some(r) = rest.strip_prefix('.') {
        fraction = digits(r);
        rest = &r[fraction..];
    }
    if whole + fraction == 0 {
        return false;
    }
    if let Some(r) = rest.strip_prefix(['e', 'E']) {
        let r = r.strip_prefix(['+', '-']).unwrap_or(r);
        let exponent = digits(r);
        return exponent > 0 && exponent == r.len();
    }
    rest.is_empty()
}

/// Checks message system attributes: SQS supports one, `AWSTraceHeader`, a non-empty String.
pub fn check_system_attributes(attrs: &Attributes) -> Result<(), SqsError> {
    for (name, value) in attrs {
        let valid = name == "AWSTraceHeader"
            && value.data_type == "String"
            && value.string_value.as_deref().is_some_and(|v| !v.is_empty());
        if !valid {
            return Err(SqsError::InvalidParameterValue(format!(
                "Message system attribute '{name}' is invalid: the only one SQS supports is AWSTraceHeader, with DataType String and a non-empty StringValue."
            )));
        }
    }
    Ok(())
}

/// A send's size as SQS counts it: body plus attribute names, types and values.
pub fn message_size(entry: &SendEntry) -> Result<usize, SqsError> {
    let body = entry.message_body.as_deref().unwrap_or_default();
    Ok(body.len() + check_message_attributes(&entry.message_attributes)?)
}

/// Checks a whole batch's size before any entry is stored.
pub fn check_batch_size(entries: &[SendEntry]) -> Result<(), SqsError> {
    let mut total = 0;
    for e in entries {
        // An entry with bad attributes fails on its own later; it counts its body here.
        total += message_size(e).unwrap_or_else(|_| e.message_body.as_deref().map_or(0, str::len));
    }
    if total as i64 > MAX_MESSAGE_BYTES {
        return Err(SqsError::BatchRequestTooLong {
            size: total,
            limit: MAX_MESSAGE_BYTES as usize,
        });
    }
    Ok(())
}

/// Checks a batch's entry ids: 1 to 10 entries, distinct, each 1–80 of `[A-Za-z0-9_-]`.
pub fn check_batch_ids<'a>(
    ids: impl ExactSizeIterator<Item = Option<&'a str>>,
    what: &'static str,
) -> Result<(), SqsError> {
    let n = ids.len();
    if n == 0 {
        return Err(SqsError::EmptyBatchRequest(what));
    }
    if n > 10 {
        return Err(SqsError::TooManyEntriesInBatchRequest(n));
    }
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        let id = id.ok_or_else(|| SqsError::MissingParameter(format!("{what}RequestEntry.Id")))?;
        if id.is_empty()
            || id.len() > MAX_BATCH_ENTRY_ID
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SqsError::InvalidBatchEntryId);
        }
        if !seen.insert(id) {
            return Err(SqsError::BatchEntryIdsNotDistinct(id.into()));
        }
    }
    Ok(())
}
