//! What a target receives: the event, a constant `Input`, the part an `InputPath` selects, or an
//! `InputTransformer`'s template filled from the event, as the EventBridge user guide
//! ("Amazon EventBridge input transformation") describes it:
//! - a placeholder outside quotes takes the value as JSON (a string keeps its quotes); inside
//!   a quoted string it takes a string's text as is, unescaped, as EventBridge does;
//! - a path that matches nothing fills nothing;
//! - JSON sent to a target is minified;
//! - `aws.events.rule-arn`, `aws.events.rule-name`, `aws.events.event`,
//!   `aws.events.event.ingestion-time` and `aws.events.event.json` are predefined.
//!
//! Values are taken from the event's text, not re-serialized, so key order and number
//! spellings reach the target as they were sent.

use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;

use super::model::{InputTransformer, Target};

/// Most placeholders of one input transformer.
/// Source: Amazon EventBridge API reference, `InputTransformer` (`InputPathsMap`: 100 entries).
pub(crate) const MAX_INPUT_PATHS: usize = 100;
/// Longest input template.
/// Source: Amazon EventBridge API reference, `InputTransformer` (`InputTemplate`: 8192).
pub(crate) const MAX_INPUT_TEMPLATE_CHARS: usize = 8192;

/// One step of a JSON path: a field, or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(usize),
}

/// `$.detail.items[0].id` → its steps; `None` for what EventBridge's paths do not allow here
/// (bracketed names, wildcards, filters).
fn steps(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.strip_prefix('$')?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() || name == "*" {
                return None;
            }
            out.push(Step::Field(name.to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            out.push(Step::Index(after[..end].parse().ok()?));
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

/// Checks a path as `PutTargets` does; the message says what is wrong.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    steps(path).map(|_| ()).ok_or_else(|| {
        format!("{path:?} is not a JSON path overtime dev can follow: use $ with dot notation and array indices ($.detail.items[0].id)")
    })
}

/// The value at `path` in `json`, as its text.
fn select<'a>(json: &'a RawValue, path: &[Step]) -> Option<&'a RawValue> {
    let mut at = json;
    for step in path {
        at = match step {
            Step::Field(name) => {
                let map: BTreeMap<Cow<'a, str>, &'a RawValue> =
                    serde_json::from_str(at.get()).ok()?;
                map.get(name.as_str()).copied()?
            }
            Step::Index(i) => {
                let list: Vec<&'a RawValue> = serde_json::from_str(at.get()).ok()?;
                list.get(*i).copied()?
            }
        };
    }
    Some(at)
}

/// What the rule passes besides the event, for the predefined placeholders.
pub(crate) struct Context<'a> {
    pub(crate) rule_arn: &'a str,
    pub(crate) rule_name: &'a str,
    pub(crate) ingestion_time: &'a str,
}

/// The body `target` receives for `event` (the event's minified JSON text).
pub(crate) fn body(target: &Target, event: &RawValue, cx: &Context<'_>) -> Result<String, String> {
    if let Some(input) = &target.input {
        return Ok(minify(input));
    }
    if let Some(path) = &target.input_path {
        let steps = steps(path).ok_or_else(|| format!("InputPath {path:?} is not a JSON path"))?;
        return select(event, &steps)
            .map(|v| v.get().to_owned())
            .ok_or_else(|| format!("InputPath {path} matches nothing in the event"));
    }
    match &target.input_transformer {
        Some(t) => Ok(fill(t, event, cx)),
        None => Ok(event.get().to_owned()),
    }
}

/// The template with its placeholders filled.
fn fill(t: &InputTransformer, event: &RawValue, cx: &Context<'_>) -> String {
    let template = &t.input_template;
    let mut out = String::with_capacity(template.len() + event.get().len());
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while let Some(c) = template[i..].chars().next() {
        if c == '<'
            && let Some(len) = template[i + 1..].find('>')
        {
            let name = &template[i + 1..i + 1 + len];
            if let Some(value) = placeholder(t, name, event, cx) {
                match (value, in_string) {
                    (Value::Raw(raw), true) => out.push_str(string_text(raw.get())),
                    (Value::Raw(raw), false) => out.push_str(raw.get()),
                    (Value::Text(s), true) => out.push_str(&s),
                    (Value::Text(s), false) => {
                        out.push_str(&serde_json::Value::String(s).to_string())
                    }
                    (Value::JsonText(s), true) => {
                        let quoted = serde_json::Value::String(s).to_string();
                        out.push_str(&quoted[1..quoted.len() - 1]);
                    }
                    (Value::JsonText(s), false) => {
                        out.push_str(&serde_json::Value::String(s).to_string())
                    }
                    (Value::Missing, _) => {}
                }
                i += len + 2;
                escaped = false;
                continue;
            }
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        i += c.len_utf8();
    }
    minify(&out)
}

enum Value<'a> {
    /// JSON from the event.
    Raw(&'a RawValue),
    /// A string of ours (a rule's name, a time).
    Text(String),
    /// JSON text passed as a string (`aws.events.event.json`): escaped even inside quotes.
    JsonText(String),
    /// A path that matches nothing.
    Missing,
}

fn placeholder<'a>(
    t: &InputTransformer,
    name: &str,
    event: &'a RawValue,
    cx: &Context<'_>,
) -> Option<Value<'a>> {
    Some(match name {
        "aws.events.rule-arn" => Value::Text(cx.rule_arn.to_owned()),
        "aws.events.rule-name" => Value::Text(cx.rule_name.to_owned()),
        "aws.events.event.ingestion-time" => Value::Text(cx.ingestion_time.to_owned()),
        "aws.events.event" => Value::Raw(event),
        "aws.events.event.json" => Value::JsonText(event.get().to_owned()),
        _ => {
            let path = t.input_paths_map.get(name)?;
            match steps(path).and_then(|s| select(event, &s)) {
                Some(raw) => Value::Raw(raw),
                None => Value::Missing,
            }
        }
    })
}

/// A JSON string's text without its quotes (unescaped as EventBridge leaves it); other JSON
/// as it is.
fn string_text(json: &str) -> &str {
    json.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(json)
}

/// JSON text without the whitespace outside strings; other text unchanged.
pub(crate) fn minify(text: &str) -> String {
    if serde_json::from_str::<&RawValue>(text).is_err() {
        return text.to_owned();
    }
    minify_valid(text)
}

/// [`minify`] of text already known to be JSON.
pub(crate) fn minify_valid(text: &str) -> String {
    // JSON's whitespace outside strings is ASCII: text without any is already minified.
    if !text.bytes().any(|b| b.is_ascii_whitespace()) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Checks a target's input settings as `PutTargets` does.
pub(crate) fn check(target: &Target) -> Result<(), String> {
    let set = [
        target.input.is_some(),
        target.input_path.is_some(),
        target.input_transformer.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err("Only one of Input, InputPath, or InputTransformer must be provided.".into());
    }
    if let Some(input) = &target.input
        && serde_json::from_str::<&RawValue>(input).is_err()
    {
        return Err(format!(
            "Input for target {} is not valid JSON text.",
            target.id
        ));
    }
    if let Some(path) = &target.input_path {
        check_path(path)?;
    }
    let Some(t) = &target.input_transformer else {
        return Ok(());
    };
    if t.input_paths_map.len() > MAX_INPUT_PATHS {
        return Err(format!(
            "InputPathsMap has {} entries; at most {MAX_INPUT_PATHS} are allowed.",
            t.input_paths_map.len()
        ));
    }
    for (name, path) in &t.input_paths_map {
        if name.starts_with("aws.") {
            return Err(format!(
                "InputPathsMap key {name} is reserved: keys may not start with aws."
            ));
        }
        check_path(path)?;
    }
    let chars = t.input_template.chars().count();
    if chars == 0 || chars > MAX_INPUT_TEMPLATE_CHARS {
        return Err(format!(
            "InputTemplate must be 1-{MAX_INPUT_TEMPLATE_CHARS} characters, not {chars}."
        ));
    }
    // A JSON template must be JSON once filled: every placeholder stands for a value.
    if t.input_template.trim_start().starts_with('{') {
        let sample = fill_for_check(&t.input_template);
        if serde_json::from_str::<&RawValue>(&sample).is_err() {
            return Err(format!(
                "InputTemplate for target {} contains invalid JSON.",
                target.id
            ));
        }
    }
    Ok(())
}

/// The template with each placeholder outside a string replaced by `null` and inside by
/// nothing, to check that it is JSON.
fn fill_for_check(template: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    let mut i = 0;
    while let Some(c) = template[i..].chars().next() {
        if c == '<'
            && let Some(len) = template[i + 1..].find('>')
        {
            if !in_string {
                out.push_str("null");
            }
            i += len + 2;
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests;
