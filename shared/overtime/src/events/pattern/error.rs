//! What is wrong with an event pattern, in EventBridge's words, and where.

use std::fmt;

/// What kind of problem made a pattern invalid.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text is not JSON.
    Syntax,
    /// The JSON is not an event pattern: a wrong shape, operator or operand, or a repeated key.
    Invalid,
    /// The pattern is longer than [`EVENTBRIDGE_MAX_PATTERN_CHARS`](crate::limits::EVENTBRIDGE_MAX_PATTERN_CHARS).
    TooLarge,
    /// The pattern's `$or`s expand to more than
    /// [`EVENTBRIDGE_MAX_PATTERN_COMBINATIONS`](crate::limits::EVENTBRIDGE_MAX_PATTERN_COMBINATIONS).
    TooComplex,
}

/// Why EventBridge would refuse a pattern (`InvalidEventPatternException`), with the field and
/// byte offset of the problem when they are known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PatternError {
    kind: ErrorKind,
    reason: String,
    path: Option<String>,
    offset: Option<usize>,
}

impl PatternError {
    pub(super) fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
            path: None,
            offset: None,
        }
    }

    pub(super) fn at(mut self, offset: Option<usize>) -> Self {
        self.offset = self.offset.or(offset);
        self
    }

    pub(super) fn in_field(mut self, path: &str) -> Self {
        if self.path.is_none() && !path.is_empty() {
            self.path = Some(path.to_owned());
        }
        self
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What is wrong and how to fix it, one sentence.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The dotted path of the field where the problem is (`detail.state`), when known.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The byte offset into the parsed text where the problem is; `None` for
    /// [`Pattern::from_value`](super::Pattern::from_value).
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event pattern is not valid. Reason: {}", self.reason)?;
        match (&self.path, self.offset) {
            (Some(path), Some(offset)) => write!(f, " (field `{path}`, byte {offset})"),
            (Some(path), None) => write!(f, " (field `{path}`)"),
            (None, Some(offset)) => write!(f, " (byte {offset})"),
            (None, None) => Ok(()),
        }
    }
}
