//! Just enough YAML to write a CloudFormation template deterministically: ordered maps, lists,
//! and every string double-quoted (JSON escapes are valid YAML, and `OFF` stays a string).

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
    /// Written as JSON, a YAML flow node: an event pattern reads as EventBridge spells it.
    Json(serde_json::Value),
}

impl Node {
    /// A map from pairs, in order.
    pub(crate) fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Node)>) -> Node {
        Node::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub(crate) fn str(s: impl Into<String>) -> Node {
        Node::Str(s.into())
    }

    /// `{"Ref": name}`.
    pub(crate) fn reference(name: &str) -> Node {
        Node::map([("Ref", Node::str(name))])
    }

    /// `{"Fn::GetAtt": [resource, attribute]}`.
    pub(crate) fn get_att(resource: &str, attribute: &str) -> Node {
        Node::map([(
            "Fn::GetAtt",
            Node::List(vec![Node::str(resource), Node::str(attribute)]),
        )])
    }

    /// Appends a key to a map; does nothing to other nodes.
    pub(crate) fn push(&mut self, key: &str, value: Node) {
        if let Node::Map(pairs) = self {
            pairs.push((key.to_owned(), value));
        }
    }
}

/// The document, ending with a newline.
pub(crate) fn to_string(node: &Node) -> String {
    let mut out = String::new();
    write_block(&mut out, node, 0);
    out
}

fn scalar(node: &Node) -> Option<String> {
    match node {
        Node::Str(s) => Some(serde_json::Value::String(s.clone()).to_string()),
        Node::Int(i) => Some(i.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        Node::List(l) if l.is_empty() => Some("[]".to_owned()),
        Node::Map(m) if m.is_empty() => Some("{}".to_owned()),
        Node::Json(v) => Some(v.to_string()),
        _ => None,
    }
}

fn key(k: &str) -> String {
    // YAML 1.1 reads these as booleans or null; quoted, they stay strings.
    const READ_AS_OTHER: &[&str] = &[
        "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~",
    ];
    let plain = !k.is_empty()
        && !READ_AS_OTHER.contains(&k.to_ascii_lowercase().as_str())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
        && !k.ends_with(':');
    if plain {
        k.to_owned()
    } else {
        serde_json::Value::String(k.to_owned()).to_string()
    }
}

fn write_block(out: &mut String, node: &Node, indent: usize) {
    let pad = " ".repeat(indent);
    match node {
        Node::Map(pairs) => {
            for (k, v) in pairs {
                match scalar(v) {
                    Some(s) => out.push_str(&format!("{pad}{}: {s}\n", key(k))),
                    None => {
                        out.push_str(&format!("{pad}{}:\n", key(k)));
                        write_block(out, v, indent + 2);
                    }
                }
            }
        }
        Node::List(items) => {
            for item in items {
                match scalar(item) {
                    Some(s) => out.push_str(&format!("{pad}- {s}\n")),
                    None => {
                        // The item's first line shares the dash; the rest indent under it.
                        let mut inner = String::new();
                        write_block(&mut inner, item, indent + 2);
                        let trimmed = inner.get(indent + 2..).unwrap_or_default();
                        out.push_str(&format!("{pad}- {trimmed}"));
                    }
                }
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push_str(&format!("{pad}{s}\n"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_maps_and_lists() {
        let doc = Node::map([
            ("Mode", Node::str("OFF")),
            ("Count", Node::Int(3)),
            ("Arns", Node::List(vec![Node::get_att("Queue", "Arn")])),
            (
                "Statement",
                Node::List(vec![Node::map([
                    ("Effect", Node::str("Allow")),
                    ("Action", Node::List(vec![Node::str("sqs:SendMessage")])),
                ])]),
            ),
            ("Empty", Node::List(vec![])),
            ("ON", Node::Bool(true)),
            ("Pattern", Node::Json(serde_json::json!({"n": [null, 1.5]}))),
        ]);
        assert_eq!(
            to_string(&doc),
            "Mode: \"OFF\"\nCount: 3\nArns:\n  - Fn::GetAtt:\n      - \"Queue\"\n      - \"Arn\"\nStatement:\n  - Effect: \"Allow\"\n    Action:\n      - \"sqs:SendMessage\"\nEmpty: []\n\"ON\": true\nPattern: {\"n\":[null,1.5]}\n"
        );
    }
}
