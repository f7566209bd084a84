//! EventBridge's event-pattern language: parse and validate a pattern, and match events with it.
//!
//! A listener's filter in `infra/overtime.toml` is checked with [`Pattern::parse`] before
//! deploy, so a mistake is reported with its field and byte offset instead of by `PutRule`;
//! `overtime dev` uses [`Pattern::matches`] to route events to rules and to answer
//! `TestEventPattern`.
//!
//! ```
//! use overtime::events::Pattern;
//! use serde_json::json;
//!
//! let pattern: Pattern = r#"{"detail-type": ["user.signed_up"], "detail": {"data": {"plan": [{"prefix": "pro"}]}}}"#
//!     .parse()?;
//! assert!(pattern.matches(&json!({"detail-type": "user.signed_up", "detail": {"data": {"plan": "pro-yearly"}}})));
//! assert_eq!(pattern.fields(), ["detail-type", "detail.data.plan"]);
//!
//! let error = Pattern::parse(r#"{"detail": {"plan": "pro"}}"#).unwrap_err();
//! assert_eq!(error.path(), Some("detail.plan"));
//! assert_eq!(error.offset(), Some(20));
//! # Ok::<(), overtime::events::PatternError>(())
//! ```
//!
//! # The language, as the EventBridge user guide documents it
//!
//! - A pattern is a non-empty JSON object of at most
//!   [`EVENTBRIDGE_MAX_PATTERN_CHARS`](crate::limits::EVENTBRIDGE_MAX_PATTERN_CHARS)
//!   characters. Nested objects match nested fields; every other value is a non-empty array,
//!   which matches if any of its values does. All fields must match.
//! - A field the event lacks does not match, except with `{"exists": false}`. `null` in a
//!   pattern matches a JSON `null`, not a missing field.
//! - If the event's value is an array, the field matches if any element does (nested arrays
//!   are looked into too); an array of objects matches a nested pattern if one element matches
//!   all of it.
//! - Values: strings (exact, case-sensitive), numbers (numerically: `300` matches `3.0e2`),
//!   `true`, `false` and `null`.
//! - Operators: `prefix` and `suffix` (a string, or `{"equals-ignore-case": "…"}`),
//!   `equals-ignore-case`, `wildcard` (`*` matches any run of characters, `\*` and `\\` are
//!   escapes, `**` is refused), `anything-but` (a string, a number, a list of only strings or
//!   only numbers, or `{"prefix" | "suffix" | "equals-ignore-case" | "wildcard": …}`),
//!   `numeric` (`["<", 10]` or `[">", 0, "<=", 5]`, operands within ±5.0e9), `exists`, `cidr`
//!   (IPv4 and IPv6), and `$or` (at least two sub-patterns, at any level, within
//!   [`EVENTBRIDGE_MAX_PATTERN_COMBINATIONS`](crate::limits::EVENTBRIDGE_MAX_PATTERN_COMBINATIONS)).
//! - String operators match only strings; `numeric` matches only numbers; `exists` looks only
//!   at leaves, so a field holding an object or an empty array does not exist.
//!
//! # Where this follows aws/event-ruler, or is our own call, because the guide is silent
//!
//! - `anything-but` never matches a missing field. A string `anything-but` matches every
//!   leaf that is not one of its strings (numbers, booleans and `null` included); a numeric one
//!   matches every leaf that is not one of its numbers. Its `prefix`, `suffix`,
//!   `equals-ignore-case` and `wildcard` forms match only strings, and take a list of strings
//!   as well as one (event-ruler; older guides say a single prefix only).
//! - `{"exists": true}` matches a field holding `null` (event-ruler: `null` is a value).
//! - `numeric` ranges need one lower and one upper bound with bottom < top, and `=` stands
//!   alone (event-ruler's "Bottom must be less than top"). Event values are compared as f64
//!   over their whole range, and operands at full f64 precision (older event-ruler kept six
//!   decimals); only the pattern's `numeric` operands are held to ±5.0e9.
//! - In an array of objects each element is matched on its own, `exists: false` included: it
//!   holds if one element lacks the field.
//! - Case folding for the `equals-ignore-case` forms is Unicode lowercasing.
//! - `cidr` needs a `/bits`; host bits in the address are ignored; an IPv4 network matches
//!   only IPv4 addresses. Event-ruler refuses nonstandard addresses such as `010.0.0.1`, as
//!   Rust's parser does.
//! - A key repeated in one object is refused (event-ruler: "Path … cannot be allowed multiple
//!   times"), though the guide says EventBridge uses the last one: the repeat is almost always a
//!   mistake. Only [`Pattern::parse`] can see it; `serde_json::Value` has already dropped it.
//! - `$or` that is not an array of at least two objects is refused (event-ruler would take it
//!   as an ordinary field named `$or`). Its combinations are counted as an `$or` adding its
//!   branches' counts and sibling `$or`s and nested objects multiplying.
//! - Empty objects are refused (event-ruler's "Empty objects are not allowed").

mod error;
mod json;
mod matcher;
mod operand;
mod parse;
mod rule;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

pub use error::{ErrorKind, PatternError};

use crate::limits::EVENTBRIDGE_MAX_PATTERN_CHARS;

/// A valid EventBridge event pattern, ready to match events.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    value: Value,
    rule: rule::Rule,
}

impl Pattern {
    /// Parses and validates a pattern from its JSON text; errors carry the byte offset of the
    /// problem in `text`.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        check_size(text.chars().count())?;
        let node = json::read(text)?;
        let rule = parse::compile(&node)?;
        Ok(Pattern {
            value: node.to_value(),
            rule,
        })
    }

    /// Validates a pattern already parsed as JSON (its size is that of its compact text).
    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        check_size(value.to_string().chars().count())?;
        let rule = parse::compile(&json::Node::from_value(value))?;
        Ok(Pattern {
            value: value.clone(),
            rule,
        })
    }

    /// Whether `event` (a whole EventBridge event, `source`, `detail-type`, `detail`, …)
    /// matches. An event that is not a JSON object matches nothing.
    pub fn matches(&self, event: &Value) -> bool {
        match event {
            Value::Object(map) => self.rule.matches_object(map),
            _ => false,
        }
    }

    /// Every field path the pattern tests, dotted (`detail.data.plan`), sorted, deduplicated;
    /// fields inside `$or` branches included.
    pub fn fields(&self) -> Vec<String> {
        let mut fields = Vec::new();
        self.rule.collect_fields("", &mut fields);
        fields.sort();
        fields.dedup();
        fields
    }

    /// The pattern as JSON.
    pub fn as_value(&self) -> &Value {
        &self.value
    }
}

fn check_size(chars: usize) -> Result<(), PatternError> {
    if chars <= EVENTBRIDGE_MAX_PATTERN_CHARS {
        return Ok(());
    }
    let reason = format!(
        "The pattern is {chars} characters, more than EventBridge's {EVENTBRIDGE_MAX_PATTERN_CHARS}; \
         split it into several rules or match on fewer values."
    );
    Err(PatternError::new(ErrorKind::TooLarge, reason))
}

impl fmt::Display for Pattern {
    /// The pattern as compact JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)
    }
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Pattern::parse(text)
    }
}
