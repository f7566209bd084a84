//! `[events.NAME]` and `[[listeners]]`: filters validated as EventBridge patterns, located.

use super::tests::{errors, warnings};
use super::*;

const BASE: &str =
    "[queues.jobs]\n[events.\"user.signed_up\"]\nfields = [\"plan\", \"address.country\"]\n";

fn with(listener: &str) -> String {
    format!("{BASE}[[listeners]]\n{listener}")
}

#[test]
fn a_listener_becomes_a_rule_on_the_event_and_its_filter() {
    let text = with(
        "event = \"user.signed_up\"\njob = \"crm-sync\"\nqueue = \"jobs\"\nfilter = { plan = [\"pro\"] }\n",
    );
    let (d, w) = Declaration::parse("overtime.toml", &text).expect("valid");
    assert!(w.is_empty(), "{w:?}");
    let l = &d.listeners[0];
    assert_eq!(
        (l.name.as_str(), l.job.as_str(), l.queue.as_str()),
        ("crm-sync", "crm-sync", "jobs")
    );
    assert_eq!(
        l.event_pattern(),
        serde_json::json!({"source": ["overtime"], "detail-type": ["user.signed_up"], "detail": {"data": {"plan": ["pro"]}}})
    );
    assert_eq!(
        l.input_template(),
        r#"{"v":1,"job":"crm-sync","id":<id>,"key":<key>,"payload":<payload>}"#
    );
    assert_eq!(d.bus_name(), "overtime-events");
}

#[test]
fn a_malformed_filter_is_an_error_at_its_line_and_column() {
    // The error is inside the JSON text: line 8, the `"pro"` that is not in an array.
    let text = with(
        "event = \"user.signed_up\"\njob = \"crm\"\nqueue = \"jobs\"\nfilter = '{\"plan\": \"pro\"}'\n",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("overtime.toml:8:"), "{errs:?}");
    assert!(
        errs[0].contains("filter is not a valid EventBridge pattern"),
        "{errs:?}"
    );
    let col: usize = errs[0]
        .split(':')
        .nth(2)
        .and_then(|c| c.parse().ok())
        .expect("a column");
    assert!(
        col > "filter = '".len(),
        "points into the JSON, not at its start: {errs:?}"
    );
    let bad_json = errors(&with(
        "event = \"e\"\njob = \"j\"\nqueue = \"jobs\"\nfilter = '{\"plan\": [}'\n",
    ));
    assert!(bad_json[0].starts_with("overtime.toml:8:"), "{bad_json:?}");
    let not_a_pattern = errors(&with(
        "event = \"e\"\njob = \"j\"\nqueue = \"jobs\"\nfilter = 3\n",
    ));
    assert!(
        not_a_pattern[0].contains("filter must be an EventBridge pattern"),
        "{not_a_pattern:?}"
    );
}

#[test]
fn unknown_queues_duplicates_and_unknown_fields_are_errors() {
    let errs = errors(&with(
        "event = \"user.signed_up\"\njob = \"crm\"\nqueue = \"nope\"\n",
    ));
    assert!(errs[0].contains("no queue `nope` is declared"), "{errs:?}");
    let twice = format!(
        "{}[[listeners]]\nevent = \"user.signed_up\"\njob = \"crm\"\nqueue = \"jobs\"\nname = \"crm2\"\n",
        with("event = \"user.signed_up\"\njob = \"crm\"\nqueue = \"jobs\"\n")
    );
    let errs = errors(&twice);
    assert!(
        errs.iter().any(|e| e.contains("already listens")),
        "{errs:?}"
    );
    let errs = errors(&with(
        "event = \"user.signed_up\"\njob = \"crm\"\nqueue = \"jobs\"\nfliter = '{}'\n",
    ));
    assert!(errs[0].contains("fliter"), "{errs:?}");
    let errs = errors(&with(
        "event = \"user.signed_up\"\njob = \"email.welcome\"\nqueue = \"jobs\"\nname = \"a b\"\n",
    ));
    assert!(errs[0].contains("listener name `a b`"), "{errs:?}");
}

#[test]
fn a_filter_on_a_field_the_event_does_not_declare_is_a_warning() {
    let w = warnings(&with(
        "event = \"user.signed_up\"\njob = \"crm\"\nqueue = \"jobs\"\nfilter = '{\"plan\": [\"pro\"], \"address\": {\"country\": [\"FR\"]}, \"tier\": [1]}'\n",
    ));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("filters on `tier`"), "{w:?}");
    assert!(w[0].starts_with("overtime.toml:8:"), "{w:?}");
    // An event nobody declared is not checked.
    assert!(
        warnings(&with(
            "event = \"order.paid\"\njob = \"j\"\nqueue = \"jobs\"\nfilter = '{\"x\": [1]}'\n"
        ))
        .is_empty()
    );
}
