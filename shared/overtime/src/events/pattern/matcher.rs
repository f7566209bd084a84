//! Matching: does an event satisfy a validated pattern. Allocation-free, and total on any JSON.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::rule::{AnythingBut, Cidr, Field, Literal, Matcher, Range, Rule, Test, Text, Wildcard};

impl Rule {
    pub(super) fn matches_object(&self, event: &Map<String, Value>) -> bool {
        self.fields
            .iter()
            .all(|field| field.matches(event.get(&field.name)))
            && self
                .ors
                .iter()
                .all(|branches| branches.iter().any(|rule| rule.matches_object(event)))
    }

    /// `value` is what the event holds where this rule's object sits in the pattern.
    fn matches_value(&self, value: Option<&Value>) -> bool {
        match value {
            Some(Value::Object(map)) => self.matches_object(map),
            // An array of objects matches if one element does (each element on its own, so two
            // fields are never taken from two different elements).
            Some(Value::Array(items)) if !items.is_empty() => {
                items.iter().any(|item| self.matches_value(Some(item)))
            }
            // No object here, so every field below is missing.
            _ => self.matches_absent(),
        }
    }

    fn matches_absent(&self) -> bool {
        self.fields.iter().all(|field| field.matches(None))
            && self
                .ors
                .iter()
                .all(|branches| branches.iter().any(Rule::matches_absent))
    }
}

impl Field {
    fn matches(&self, value: Option<&Value>) -> bool {
        let matchers = match &self.test {
            Test::Nested(rule) => return rule.matches_value(value),
            Test::Leaf(matchers) => matchers,
        };
        match value {
            Some(value) if any_leaf(value, &|_| true) => {
                matchers.iter().any(|matcher| match matcher {
                    Matcher::Exists(exists) => *exists,
                    matcher => any_leaf(value, &|leaf| matcher.matches_leaf(leaf)),
                })
            }
            // Missing, an object, or an array without any leaf value: the field does not exist.
            _ => matchers
                .iter()
                .any(|matcher| matches!(matcher, Matcher::Exists(false))),
        }
    }
}

/// Whether `test` holds for a leaf (string, number, boolean or null) of `value`, looking into
/// arrays (nested ones too) and never into objects.
fn any_leaf(value: &Value, test: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| any_leaf(item, test)),
        Value::Object(_) => false,
        leaf => test(leaf),
    }
}

impl Matcher {
    fn matches_leaf(&self, leaf: &Value) -> bool {
        let text = leaf.as_str();
        match self {
            Matcher::Exact(Literal::String(s)) => text == Some(s.as_str()),
            Matcher::Exact(Literal::Number(n)) => leaf.as_f64() == Some(*n),
            Matcher::Exact(Literal::Bool(b)) => leaf.as_bool() == Some(*b),
            Matcher::Exact(Literal::Null) => leaf.is_null(),
            Matcher::Prefix(prefix) => text.is_some_and(|s| starts_with(s, prefix)),
            Matcher::Suffix(suffix) => text.is_some_and(|s| ends_with(s, suffix)),
            Matcher::EqualsIgnoreCase(folded) => text.is_some_and(|s| equals_folded(s, folded)),
            Matcher::Wildcard(wildcard) => text.is_some_and(|s| wildcard.matches(s)),
            Matcher::AnythingBut(but) => but.matches(leaf),
            Matcher::Numeric(range) => leaf.as_f64().is_some_and(|n| range.contains(n)),
            Matcher::Exists(exists) => *exists,
            Matcher::Cidr(cidr) => text
                .and_then(|s| s.parse::<IpAddr>().ok())
                .is_some_and(|ip| cidr.contains(ip)),
        }
    }
}

impl AnythingBut {
    fn matches(&self, leaf: &Value) -> bool {
        match (self, leaf.as_str()) {
            (AnythingBut::Strings(values), text) => {
                text.is_none_or(|s| !values.iter().any(|v| v == s))
            }
            (AnythingBut::Numbers(values), _) => leaf.as_f64().is_none_or(|n| !values.contains(&n)),
            (_, None) => false,
            (AnythingBut::Prefixes(values), Some(s)) => {
                !values.iter().any(|v| s.starts_with(v.as_str()))
            }
            (AnythingBut::Suffixes(values), Some(s)) => {
                !values.iter().any(|v| s.ends_with(v.as_str()))
            }
            (AnythingBut::IgnoreCase(values), Some(s)) => {
                !values.iter().any(|v| equals_folded(s, v))
            }
            (AnythingBut::Wildcards(values), Some(s)) => !values.iter().any(|w| w.matches(s)),
        }
    }
}

impl Range {
    fn contains(&self, n: f64) -> bool {
        let above = self.lower.is_none_or(|b| {
            if b.inclusive {
                n >= b.value
            } else {
                n > b.value
            }
        });
        let below = self.upper.is_none_or(|b| {
            if b.inclusive {
                n <= b.value
            } else {
                n < b.value
            }
        });
        above && below
    }
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Cidr::V4 { network, mask }, IpAddr::V4(ip)) => u32::from(ip) & mask == *network,
            (Cidr::V6 { network, mask }, IpAddr::V6(ip)) => u128::from(ip) & mask == *network,
            _ => false,
        }
    }
}

impl Wildcard {
    pub(super) fn matches(&self, s: &str) -> bool {
        let Some((first, rest)) = self.parts.split_first() else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return s == first;
        };
        let Some(s) = s.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some(mut s) = s.strip_suffix(last.as_str()) else {
            return false;
        };
        // Taking each middle part at its first occurrence leaves the most room for the rest.
        for part in middle {
            match s.find(part.as_str()) {
                Some(at) => s = &s[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

fn starts_with(s: &str, prefix: &Text) -> bool {
    if !prefix.ignore_case {
        return s.starts_with(prefix.value.as_str());
    }
    let mut folded = s.chars().flat_map(char::to_lowercase);
    prefix.value.chars().all(|c| folded.next() == Some(c))
}

fn ends_with(s: &str, suffix: &Text) -> bool {
    if !suffix.ignore_case {
        return s.ends_with(suffix.value.as_str());
    }
    let mut folded = s.chars().rev().flat_map(|c| c.to_lowercase().rev());
    suffix.value.chars().rev().all(|c| folded.next() == Some(c))
}

fn equals_folded(s: &str, folded: &str) -> bool {
    s.chars().flat_map(char::to_lowercase).eq(folded.chars())
}
