//! `[events.NAME]` and `[[listeners]]`: event types and the jobs that listen to them, each
//! filter validated as the EventBridge pattern it becomes, with errors at its `line:col`.

use serde_json::Value;
use toml::Spanned;

use super::{Sections, check_name, too_long};
use crate::config::declaration::raw::{Raw, RawListener};
use crate::config::declaration::{EventDecl, Listener};
use crate::events::pattern::{Pattern, PatternError};
use crate::limits::{EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS, EVENTBRIDGE_MAX_RULE_NAME_CHARS};

impl Sections<'_, '_> {
    /// `[events.NAME]`: the event types whose fields listeners' filters are checked against.
    pub(super) fn events(&mut self, raw: &Raw) -> Vec<EventDecl> {
        raw.events
            .iter()
            .map(|(name, e)| {
                check_event_name(self.report, name);
                EventDecl {
                    name: name.get_ref().clone(),
                    fields: e.fields.iter().map(|f| f.get_ref().clone()).collect(),
                }
            })
            .collect()
    }

    /// `[[listeners]]`; one whose filter does not validate is left out.
    pub(super) fn listeners(
        &mut self,
        raw: &Raw,
        text: &str,
        events: &[EventDecl],
    ) -> Vec<Listener> {
        let mut listeners: Vec<Listener> = Vec::new();
        for l in &raw.listeners {
            if let Some(listener) = self.listener(raw, text, events, &listeners, l) {
                listeners.push(listener);
            }
        }
        listeners
    }

    fn listener(
        &mut self,
        raw: &Raw,
        text: &str,
        events: &[EventDecl],
        earlier: &[Listener],
        l: &RawListener,
    ) -> Option<Listener> {
        let name = match &l.name {
            Some(name) => name.clone(),
            None => Spanned::new(l.job.span(), l.job.get_ref().replace('.', "-")),
        };
        if l.name.is_none() && !super::valid_name(name.get_ref()) {
            self.report.error(l.job.span().start, format!("the listener's rule is named after its job, and `{}` cannot name a rule: add name = \"...\" (letters, digits, `-` or `_`)", l.job.get_ref()));
        } else {
            check_name(self.report, &name, "listener");
        }
        self.unique(&name, "listener");
        too_long(
            self.report,
            name.span().start,
            "the rule name",
            format!("{}-{}", self.project, name.get_ref()),
            EVENTBRIDGE_MAX_RULE_NAME_CHARS,
        );
        check_event_name(self.report, &l.event);
        if l.job.get_ref().trim().is_empty() {
            self.report.error(
                l.job.span().start,
                "job must name the job that runs (its Job::NAME)",
            );
        }
        if !raw.queues.keys().any(|q| q.get_ref() == l.queue.get_ref()) {
            self.report.error(
                l.queue.span().start,
                format!(
                    "no queue `{}` is declared: add [queues.{}] or fix the name",
                    l.queue.get_ref(),
                    l.queue.get_ref()
                ),
            );
        }
        if let Some(other) = earlier
            .iter()
            .find(|o| o.event == *l.event.get_ref() && o.job == *l.job.get_ref())
        {
            self.report.error(l.job.span().start, format!("job `{}` already listens to `{}` (listener `{}`, line {}); one listener per job and event, or the job runs twice per event", other.job, other.event, other.name, other.line));
        }
        let filter = match &l.filter {
            Some(f) => Some(self.filter(text, f)?),
            None => None,
        };
        let line = crate::config::line_column(text, l.event.span().start).0;
        let listener = Listener {
            name: name.get_ref().clone(),
            event: l.event.get_ref().clone(),
            job: l.job.get_ref().clone(),
            queue: l.queue.get_ref().clone(),
            filter,
            line,
        };
        // The whole rule pattern is what EventBridge limits, not only the filter.
        if let Err(e) = Pattern::from_value(&listener.event_pattern()) {
            let at = l
                .filter
                .as_ref()
                .map_or(l.event.span().start, |f| f.span().start);
            self.report.error(
                at,
                format!("the rule's pattern is not valid: {}", e.reason()),
            );
            return None;
        }
        if let (Some(f), Some(event)) =
            (&l.filter, events.iter().find(|e| e.name == listener.event))
        {
            self.check_fields(f.span().start, &listener, event);
        }
        Some(listener)
    }

    /// A filter, as JSON text (EventBridge's own spelling) or as a TOML table.
    fn filter(&mut self, text: &str, filter: &Spanned<toml::Value>) -> Option<Value> {
        let at = filter.span().start;
        let parsed = match filter.get_ref() {
            toml::Value::String(json) => Pattern::parse(json).map_err(|e| {
                let offset = e
                    .offset()
                    .map_or(at, |o| at + string_content_start(text, at) + o);
                (offset, e)
            }),
            toml::Value::Table(_) => match serde_json::to_value(filter.get_ref()) {
                Ok(value) => Pattern::from_value(&value).map_err(|e| (at, e)),
                Err(e) => {
                    self.report
                        .error(at, format!("filter cannot be read as JSON: {e}"));
                    return None;
                }
            },
            _ => {
                self.report.error(at, r#"filter must be an EventBridge pattern on the event's data: JSON text (filter = '{"plan": ["pro"]}') or a table (filter = { plan = ["pro"] })"#);
                return None;
            }
        };
        match parsed {
            Ok(pattern) => Some(pattern.as_value().clone()),
            Err((offset, e)) => {
                self.report.error(offset, filter_message(&e));
                None
            }
        }
    }

    /// A filter on a field the event's data does not have never matches: worth a warning.
    fn check_fields(&mut self, at: usize, listener: &Listener, event: &EventDecl) {
        let Some(filter) = &listener.filter else {
            return;
        };
        let Ok(pattern) = Pattern::from_value(filter) else {
            return;
        };
        for field in pattern.fields() {
            if !event.has_field(&field) {
                self.report.warn(at, format!("listener `{}` filters on `{field}`, a field event `{}` does not declare (its fields: {}); events without it never start `{}`", listener.name, event.name, if event.fields.is_empty() { "none".to_owned() } else { event.fields.join(", ") }, listener.job));
            }
        }
    }
}

/// An event name is an entry's `DetailType`: 1 to 128 characters.
fn check_event_name(report: &mut crate::config::Report<'_>, name: &Spanned<String>) {
    let chars = name.get_ref().chars().count();
    if chars == 0 || chars > EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS {
        report.error(name.span().start, format!("event name `{}` must be 1-{EVENTBRIDGE_MAX_DETAIL_TYPE_CHARS} characters (EventBridge's DetailType), not {chars}", name.get_ref()));
    }
}

fn filter_message(e: &PatternError) -> String {
    match e.path() {
        Some(path) => format!(
            "filter is not a valid EventBridge pattern at `{path}`: {}",
            e.reason()
        ),
        None => format!("filter is not a valid EventBridge pattern: {}", e.reason()),
    }
}

/// Bytes from a TOML string's first character (its quote) to its content: 1 for `'` and `"`,
/// 3 for `'''` and `"""`, plus a newline right after those, which TOML trims. Inside a basic
/// string an escape shifts later columns; JSON patterns rarely hold one.
fn string_content_start(text: &str, at: usize) -> usize {
    let rest = text.get(at..).unwrap_or_default();
    let quotes = if rest.starts_with("'''") || rest.starts_with("\"\"\"") {
        3
    } else {
        1
    };
    let after = rest.get(quotes..).unwrap_or_default();
    let newline = if quotes == 3 {
        if after.starts_with("\r\n") {
            2
        } else if after.starts_with('\n') {
            1
        } else {
            0
        }
    } else {
        0
    };
    quotes + newline
}
