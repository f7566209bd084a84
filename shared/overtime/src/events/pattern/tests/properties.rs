use proptest::prelude::*;
use serde_json::Value;

use crate::events::pattern::Pattern;

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[a-zA-Z0-9./*:\\\\-]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("10.0.0.7"),
            Just("::1"),
            Just("us-east-1"),
            Just("a.png"),
            Just("running")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("a".to_owned()),
                    Just("b".to_owned()),
                    Just("detail".to_owned()),
                    "[a-z]{1,3}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const PATTERNS: &[&str] = &[
    r#"{"a": ["x", 1, null, true], "detail": {"b": [{"prefix": "us-"}, {"suffix": {"equals-ignore-case": ".PNG"}}]}}"#,
    r#"{"a": [{"wildcard": "*a*b\\*"}, {"anything-but": {"wildcard": ["*.png", "x*"]}}, {"equals-ignore-case": "İx"}]}"#,
    r#"{"a": [{"numeric": [">", 0, "<=", 5]}, {"cidr": "10.0.0.0/8"}, {"cidr": "::/0"}], "b": [{"exists": false}]}"#,
    r#"{"$or": [{"a": [{"anything-but": [1, 2]}]}, {"detail": {"$or": [{"a": [{"exists": true}]}, {"b": [{"anything-but": "x"}]}]}}]}"#,
];

proptest! {
    #[test]
    fn matching_never_panics_on_any_event(event in json()) {
        for text in PATTERNS {
            let pattern = Pattern::parse(text).expect("valid");
            let _ = pattern.matches(&event);
        }
    }

    #[test]
    fn parsing_never_panics_on_any_string(text in "\\PC{0,64}") {
        let _ = Pattern::parse(&text);
    }

    #[test]
    fn parsing_never_panics_on_pattern_like_text(text in r#"[\[\]{}":, a-z0-9*\\.$-]{0,48}"#) {
        let _ = Pattern::parse(&text);
    }

    #[test]
    fn parse_agrees_with_serde_json_on_any_json(value in json()) {
        let text = value.to_string();
        let parsed = Pattern::parse(&text);
        // Compared with serde_json's own reading of the text, whose last digit of a float can
        // differ from `value`'s.
        let reread: Value = serde_json::from_str(&text).expect("serde_json reads its own output");
        let from_value = Pattern::from_value(&reread);
        prop_assert_eq!(parsed.is_ok(), from_value.is_ok(), "{}", text);
        if let (Ok(parsed), Ok(from_value)) = (parsed, from_value) {
            prop_assert_eq!(parsed, from_value);
        }
    }
}
