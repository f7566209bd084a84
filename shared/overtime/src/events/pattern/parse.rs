//! Validation: from a JSON tree to a [`Rule`], refusing what EventBridge refuses.

use super::error::{ErrorKind, PatternError};
use super::json::{Kind, Member, Node};
use super::operand::{cidr, fold, wildcard};
use super::rule::{AnythingBut, Bound, Field, Literal, Matcher, Range, Rule, Test, Text, join};
use crate::limits::{EVENTBRIDGE_MAX_PATTERN_COMBINATIONS, EVENTBRIDGE_PATTERN_NUMBER_RANGE};

const OPERATORS: &str =
    "prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, cidr";

fn invalid(reason: impl Into<String>, at: Option<usize>, path: &str) -> PatternError {
    PatternError::new(ErrorKind::Invalid, reason)
        .at(at)
        .in_field(path)
}

/// Validates a whole pattern: a non-empty object whose `$or`s stay within the combinations limit.
pub(super) fn compile(root: &Node) -> Result<Rule, PatternError> {
    let Kind::Object(members) = &root.kind else {
        return Err(invalid(
            "The pattern must be a JSON object, such as {\"source\": [\"overtime\"]}.",
            root.at,
            "",
        ));
    };
    let rule = object(members, root.at, "")?;
    let combinations = rule.combinations();
    if combinations > EVENTBRIDGE_MAX_PATTERN_COMBINATIONS {
        let reason = format!(
            "The pattern's $or expressions expand to {} combinations, more than EventBridge's \
             {EVENTBRIDGE_MAX_PATTERN_COMBINATIONS}; use fewer or smaller $or expressions.",
            if combinations == u64::MAX {
                "too many".to_owned()
            } else {
                combinations.to_string()
            },
        );
        return Err(PatternError::new(ErrorKind::TooComplex, reason).at(root.at));
    }
    Ok(rule)
}

fn object(members: &[Member], at: Option<usize>, path: &str) -> Result<Rule, PatternError> {
    if members.is_empty() {
        return Err(invalid(
            "Empty objects are not allowed; give this object a field or remove it.",
            at,
            path,
        ));
    }
    let mut rule = Rule::default();
    for member in members {
        if member.key == "$or" {
            rule.ors.push(or(&member.value, path)?);
            continue;
        }
        let path = join(path, &member.key);
        let test = match &member.value.kind {
            Kind::Object(inner) => Test::Nested(object(inner, member.value.at, &path)?),
            Kind::Array(items) => Test::Leaf(leaf(items, member.value.at, &path)?),
            _ => {
                let reason = format!(
                    "\"{}\" must be an object or an array; put the values to match in an array, as in \"{}\": [{}].",
                    member.key,
                    member.key,
                    member.value.to_value()
                );
                return Err(invalid(reason, member.value.at, &path));
            }
        };
        rule.fields.push(Field {
            name: member.key.clone(),
            test,
        });
    }
    // Fields are ANDed, so their order means nothing; sorted, equal patterns compare equal.
    rule.fields.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rule)
}

/// An `$or` in the object at `parent`: its branches test fields of that same object.
fn or(node: &Node, parent: &str) -> Result<Vec<Rule>, PatternError> {
    let path = &join(parent, "$or");
    let shape =
        "$or must be an array of at least 2 objects, as in \"$or\": [{\"a\": [1]}, {\"b\": [2]}]";
    let Kind::Array(items) = &node.kind else {
        return Err(invalid(format!("{shape}."), node.at, path));
    };
    if items.len() < 2 {
        let reason = format!("{shape}; this one has {}.", items.len());
        return Err(invalid(reason, node.at, path));
    }
    items
        .iter()
        .map(|item| match &item.kind {
            Kind::Object(members) => object(members, item.at, parent),
            _ => Err(invalid(
                format!("{shape}; an item is not an object."),
                item.at,
                path,
            )),
        })
        .collect()
}

fn leaf(items: &[Node], at: Option<usize>, path: &str) -> Result<Vec<Matcher>, PatternError> {
    if items.is_empty() {
        let reason = "Empty arrays are not allowed; give the field at least one value to match, such as [\"running\"].";
        return Err(invalid(reason, at, path));
    }
    items.iter().map(|item| value(item, path)).collect()
}

fn value(node: &Node, path: &str) -> Result<Matcher, PatternError> {
    let literal = match &node.kind {
        Kind::String(s) => Literal::String(s.clone()),
        Kind::Number(_) => Literal::Number(number(node, path, false)?),
        Kind::Bool(b) => Literal::Bool(*b),
        Kind::Null => Literal::Null,
        Kind::Array(_) => {
            let reason = "Match value must be a string, number, true, false, null or an operator object; arrays do not nest.";
            return Err(invalid(reason, node.at, path));
        }
        Kind::Object(members) => return operator(members, node.at, path),
    };
    Ok(Matcher::Exact(literal))
}

/// The only member of an operator object, such as `{"prefix": "us-"}`.
fn single<'a>(
    members: &'a [Member],
    at: Option<usize>,
    path: &str,
    what: &str,
) -> Result<&'a Member, PatternError> {
    match members {
        [member] => Ok(member),
        [] => Err(invalid(
            format!(
                "Empty objects are not allowed in {what}; write one operator, such as {{\"prefix\": \"us-\"}}."
            ),
            at,
            path,
        )),
        [_, second, ..] => Err(invalid(
            format!(
                "Only one key allowed in match expression; put \"{}\" in an object of its own.",
                second.key
            ),
            second.at,
            path,
        )),
    }
}

fn operator(members: &[Member], at: Option<usize>, path: &str) -> Result<Matcher, PatternError> {
    let member = single(members, at, path, "a match array")?;
    let operand = &member.value;
    let wrong = |what: &str| invalid(format!("{} must be {what}.", member.key), operand.at, path);
    Ok(match member.key.as_str() {
        "prefix" | "suffix" => {
            let text = match &operand.kind {
                Kind::String(s) => Text {
                    value: s.clone(),
                    ignore_case: false,
                },
                Kind::Object(inner) => {
                    let inner = single(inner, operand.at, path, &member.key)?;
                    match (&inner.key[..], &inner.value.kind) {
                        ("equals-ignore-case", Kind::String(s)) => Text {
                            value: fold(s),
                            ignore_case: true,
                        },
                        ("equals-ignore-case", _) => {
                            return Err(invalid(
                                "equals-ignore-case must be a string.",
                                inner.value.at,
                                path,
                            ));
                        }
                        (other, _) => {
                            let reason = format!(
                                "Unsupported {} pattern: \"{other}\"; only equals-ignore-case can go inside it.",
                                member.key
                            );
                            return Err(invalid(reason, inner.at, path));
                        }
                    }
                }
                Kind::Null => {
                    return Err(wrong(
                        "a string, not null (null prefix/suffix is not allowed)",
                    ));
                }
                _ => return Err(wrong("a string, or {\"equals-ignore-case\": \"...\"}")),
            };
            if member.key == "prefix" {
                Matcher::Prefix(text)
            } else {
                Matcher::Suffix(text)
            }
        }
        "equals-ignore-case" => match &operand.kind {
            Kind::String(s) => Matcher::EqualsIgnoreCase(fold(s)),
            _ => return Err(wrong("a string")),
        },
        "wildcard" => match &operand.kind {
            Kind::String(s) => {
                Matcher::Wildcard(wildcard(s).map_err(|r| invalid(r, operand.at, path))?)
            }
            _ => return Err(wrong("a string")),
        },
        "anything-but" => Matcher::AnythingBut(anything_but(operand, path)?),
        "numeric" => Matcher::Numeric(numeric(operand, path)?),
        "exists" => match &operand.kind {
            Kind::Bool(b) => Matcher::Exists(*b),
            _ => return Err(wrong("either true or false")),
        },
        "cidr" => match &operand.kind {
            Kind::String(s) => Matcher::Cidr(cidr(s).map_err(|r| invalid(r, operand.at, path))?),
            _ => return Err(wrong("a string such as \"10.0.0.0/24\"")),
        },
        other => {
            let reason = format!("Unrecognized match type \"{other}\"; use one of {OPERATORS}.");
            return Err(invalid(reason, member.at, path));
        }
    })
}

fn anything_but(node: &Node, path: &str) -> Result<AnythingBut, PatternError> {
    let shape = "anything-but takes a string, a number, a list of only strings or only numbers, or one of \
                 {\"prefix\"|\"suffix\"|\"equals-ignore-case\"|\"wildcard\": ...}";
    match &node.kind {
        Kind::String(s) => Ok(AnythingBut::Strings(vec![s.clone()])),
        Kind::Number(_) => Ok(AnythingBut::Numbers(vec![number(node, path, false)?])),
        Kind::Array(items) => {
            if items.is_empty() {
                return Err(invalid(
                    "Empty arrays are not allowed in anything-but; list at least one value.",
                    node.at,
                    path,
                ));
            }
            if items.iter().all(|i| matches!(i.kind, Kind::String(_))) {
                Ok(AnythingBut::Strings(strings(items, path, "anything-but")?))
            } else if items.iter().all(|i| matches!(i.kind, Kind::Number(_))) {
                Ok(AnythingBut::Numbers(
                    items
                        .iter()
                        .map(|i| number(i, path, false))
                        .collect::<Result<_, _>>()?,
                ))
            } else {
                let odd = items
                    .iter()
                    .find(|i| !matches!(i.kind, Kind::String(_) | Kind::Number(_)));
                let at = odd.or(items.get(1)).and_then(|i| i.at);
                let reason = "Inside an anything-but list, either all values are numbers or all are strings (no null, booleans or objects).";
                Err(invalid(reason, at, path))
            }
        }
        Kind::Object(members) => {
            let member = single(members, node.at, path, "anything-but")?;
            let op = member.key.as_str();
            if !matches!(op, "prefix" | "suffix" | "equals-ignore-case" | "wildcard") {
                let reason = format!(
                    "Unsupported anything-but pattern: \"{op}\"; use prefix, suffix, equals-ignore-case or wildcard."
                );
                return Err(invalid(reason, member.at, path));
            }
            let what = format!("anything-but/{op}");
            let values = match &member.value.kind {
                Kind::String(s) => vec![s.clone()],
                Kind::Array(items) if !items.is_empty() => strings(items, path, &what)?,
                _ => {
                    let reason = format!("{what} must be a string or a non-empty list of strings.");
                    return Err(invalid(reason, member.value.at, path));
                }
            };
            Ok(match op {
                "prefix" => AnythingBut::Prefixes(values),
                "suffix" => AnythingBut::Suffixes(values),
                "equals-ignore-case" => {
                    AnythingBut::IgnoreCase(values.iter().map(|s| fold(s)).collect())
                }
                _ => AnythingBut::Wildcards(
                    values
                        .iter()
                        .map(|s| wildcard(s))
                        .collect::<Result<_, _>>()
                        .map_err(|r| invalid(r, member.value.at, path))?,
                ),
            })
        }
        _ => Err(invalid(format!("{shape}."), node.at, path)),
    }
}

fn strings(items: &[Node], path: &str, what: &str) -> Result<Vec<String>, PatternError> {
    items
        .iter()
        .map(|item| match &item.kind {
            Kind::String(s) => Ok(s.clone()),
            _ => Err(invalid(
                format!("Inside {what} list, every value must be a string."),
                item.at,
                path,
            )),
        })
        .collect()
}

/// A JSON number as f64; `numeric` operands must also lie in EventBridge's documented range.
fn number(node: &Node, path: &str, in_range: bool) -> Result<f64, PatternError> {
    let value = match &node.kind {
        Kind::Number(n) => n.as_f64(),
        _ => None,
    };
    let Some(value) = value else {
        return Err(invalid("This must be a number.", node.at, path));
    };
    if in_range && !EVENTBRIDGE_PATTERN_NUMBER_RANGE.contains(&value) {
        let reason =
            format!("Numeric operands must be between -5.0e9 and 5.0e9 inclusive; {value} is not.");
        return Err(invalid(reason, node.at, path));
    }
    Ok(value)
}

fn numeric(node: &Node, path: &str) -> Result<Range, PatternError> {
    let shape =
        "numeric takes [op, n] or a range [\">\", a, \"<=\", b], with op one of =, <, <=, >, >=";
    let Kind::Array(items) = &node.kind else {
        return Err(invalid(
            format!("Value of numeric must be an array: {shape}."),
            node.at,
            path,
        ));
    };
    if items.len() != 2 && items.len() != 4 {
        let reason = format!("{shape}; this one has {} elements.", items.len());
        return Err(invalid(reason, node.at, path));
    }
    let mut range = Range {
        lower: None,
        upper: None,
    };
    for pair in items.chunks_exact(2) {
        let (op, operand) = (&pair[0], &pair[1]);
        let Kind::String(op_text) = &op.kind else {
            return Err(invalid(
                format!("Bad numeric range operator: {}; {shape}.", op.to_value()),
                op.at,
                path,
            ));
        };
        if !matches!(operand.kind, Kind::Number(_)) {
            return Err(invalid(
                format!("Value of {op_text} must be numeric."),
                operand.at,
                path,
            ));
        }
        let value = number(operand, path, true)?;
        let (is_lower, bound) = match op_text.as_str() {
            "=" if items.len() == 2 => {
                let bound = Bound {
                    value,
                    inclusive: true,
                };
                return Ok(Range {
                    lower: Some(bound),
                    upper: Some(bound),
                });
            }
            ">" => (
                true,
                Bound {
                    value,
                    inclusive: false,
                },
            ),
            ">=" => (
                true,
                Bound {
                    value,
                    inclusive: true,
                },
            ),
            "<" => (
                false,
                Bound {
                    value,
                    inclusive: false,
                },
            ),
            "<=" => (
                false,
                Bound {
                    value,
                    inclusive: true,
                },
            ),
            "=" => {
                let reason =
                    "\"=\" cannot be part of a numeric range; write [\"=\", n] on its own.";
                return Err(invalid(reason, op.at, path));
            }
            other => {
                return Err(invalid(
                    format!("Bad numeric range operator: \"{other}\"; {shape}."),
                    op.at,
                    path,
                ));
            }
        };
        let slot = if is_lower {
            &mut range.lower
        } else {
            &mut range.upper
        };
        if slot.is_some() {
            let reason =
                "A numeric range needs one lower bound (> or >=) and one upper bound (< or <=).";
            return Err(invalid(reason, op.at, path));
        }
        *slot = Some(bound);
    }
    if let (Some(lower), Some(upper)) = (range.lower, range.upper)
        && lower.value >= upper.value
    {
        let reason = format!(
            "Bottom must be less than top: {} is not less than {}.",
            lower.value, upper.value
        );
        return Err(invalid(reason, node.at, path));
    }
    Ok(range)
}
