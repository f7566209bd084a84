//! Cases from the EventBridge user guide ("Amazon EventBridge event patterns", "Content
//! filtering in Amazon EventBridge event patterns", "Arrays in event patterns", "Matching null
//! values and empty strings"), then event-ruler's edge cases, then properties.

mod invalid;
mod matching;
mod properties;

use serde_json::Value;

use super::{ErrorKind, Pattern, PatternError};

fn pattern(text: &str) -> Pattern {
    Pattern::parse(text).unwrap_or_else(|e| panic!("{text} should be valid: {e}"))
}

/// Asserts that `text` matches each of `matching` and none of `not_matching`.
fn check(text: &str, matching: &[Value], not_matching: &[Value]) {
    let pattern = pattern(text);
    for event in matching {
        assert!(pattern.matches(event), "{text} should match {event}");
    }
    for event in not_matching {
        assert!(!pattern.matches(event), "{text} should not match {event}");
    }
}

fn error(text: &str) -> PatternError {
    match Pattern::parse(text) {
        Ok(pattern) => panic!("{text} should be invalid, parsed as {pattern}"),
        Err(error) => error,
    }
}

/// Asserts the kind of error, that its reason contains `reason`, and that its offset points at
/// the first occurrence of `at` in the text (the end of the text if `at` is empty).
fn refused(text: &str, kind: ErrorKind, reason: &str, at: &str) {
    let error = error(text);
    assert_eq!(error.kind(), kind, "{text}: {error}");
    assert!(
        error.reason().contains(reason),
        "{text}: reason {:?} lacks {reason:?}",
        error.reason()
    );
    assert!(
        error
            .to_string()
            .starts_with("Event pattern is not valid. Reason: "),
        "{error}"
    );
    let expected = if at.is_empty() {
        Some(text.len())
    } else {
        text.find(at)
    };
    assert_eq!(
        error.offset(),
        expected,
        "{text}: offset of {at:?} in {error}"
    );
}
