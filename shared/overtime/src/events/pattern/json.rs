//! A small JSON reader that remembers where each value and key starts, so that a pattern's
//! errors can point into the text (serde_json gives no spans), and that refuses repeated keys.
//!
//! Strings and numbers are delimited here and decoded by serde_json, so escapes, surrogate
//! pairs and number syntax follow serde_json exactly.

use serde_json::{Map, Number, Value};

use super::error::{ErrorKind, PatternError};

/// Deeper nesting than this is refused, as serde_json does, so reading never exhausts the stack.
const MAX_DEPTH: usize = 128;

/// A JSON value and the byte offset where it starts (`None` when it did not come from text).
#[derive(Debug)]
pub(super) struct Node {
    pub(super) at: Option<usize>,
    pub(super) kind: Kind,
}

#[derive(Debug)]
pub(super) enum Kind {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<Member>),
}

/// One `"key": value` of an object; `at` is where the key starts.
#[derive(Debug)]
pub(super) struct Member {
    pub(super) key: String,
    pub(super) at: Option<usize>,
    pub(super) value: Node,
}

impl Node {
    pub(super) fn from_value(value: &Value) -> Node {
        let kind = match value {
            Value::Null => Kind::Null,
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(n) => Kind::Number(n.clone()),
            Value::String(s) => Kind::String(s.clone()),
            Value::Array(items) => Kind::Array(items.iter().map(Node::from_value).collect()),
            Value::Object(map) => Kind::Object(
                map.iter()
                    .map(|(key, value)| Member {
                        key: key.clone(),
                        at: None,
                        value: Node::from_value(value),
                    })
                    .collect(),
            ),
        };
        Node { at: None, kind }
    }

    pub(super) fn to_value(&self) -> Value {
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Number(n) => Value::Number(n.clone()),
            Kind::String(s) => Value::String(s.clone()),
            Kind::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Kind::Object(members) => {
                let map: Map<String, Value> = members
                    .iter()
                    .map(|m| (m.key.clone(), m.value.to_value()))
                    .collect();
                Value::Object(map)
            }
        }
    }
}

/// Reads one JSON value that fills `text` (surrounding whitespace aside).
pub(super) fn read(text: &str) -> Result<Node, PatternError> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let node = reader.value(0)?;
    reader.skip_whitespace();
    if reader.pos < reader.bytes.len() {
        return Err(reader.syntax("there is text after the pattern's closing brace; remove it"));
    }
    Ok(node)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn syntax(&self, reason: &str) -> PatternError {
        self.syntax_at(self.pos, reason)
    }

    fn syntax_at(&self, at: usize, reason: &str) -> PatternError {
        PatternError::new(
            ErrorKind::Syntax,
            format!("The pattern is not valid JSON: {reason}."),
        )
        .at(Some(at))
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, PatternError> {
        if depth > MAX_DEPTH {
            return Err(self.syntax("it is nested more than 128 levels deep"));
        }
        self.skip_whitespace();
        let at = self.pos;
        let kind = match self.bytes.get(at) {
            None => return Err(self.syntax("it ends where a value should start")),
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Kind::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => self.number()?,
            Some(_) => self.literal()?,
        };
        Ok(Node { at: Some(at), kind })
    }

    fn literal(&mut self) -> Result<Kind, PatternError> {
        let rest = &self.bytes[self.pos..];
        let (kind, len) = if rest.starts_with(b"true") {
            (Kind::Bool(true), 4)
        } else if rest.starts_with(b"false") {
            (Kind::Bool(false), 5)
        } else if rest.starts_with(b"null") {
            (Kind::Null, 4)
        } else {
            return Err(self.syntax(
                "expected a value (an object, array, string, number, true, false or null)",
            ));
        };
        self.pos += len;
        Ok(kind)
    }

    fn number(&mut self) -> Result<Kind, PatternError> {
        let start = self.pos;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        match serde_json::from_str::<Value>(&self.text[start..self.pos]) {
            Ok(Value::Number(n)) => Ok(Kind::Number(n)),
            _ => Err(self.syntax_at(start, "this is not a JSON number")),
        }
    }

    fn string(&mut self) -> Result<String, PatternError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.syntax_at(start, "this string is never closed")),
                Some(b'"') => break,
                // Skipping one byte is enough: '"' and '\' never occur inside a UTF-8 sequence.
                Some(b'\\') => self.pos += 2,
                Some(_) => self.pos += 1,
            }
        }
        self.pos += 1;
        serde_json::from_str::<String>(&self.text[start..self.pos]).map_err(|e| {
            let reason = format!("this string is not valid ({e})");
            self.syntax_at(start, &reason)
        })
    }

    fn array(&mut self, depth: usize) -> Result<Kind, PatternError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Kind::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Kind::Array(items));
                }
                _ => return Err(self.syntax("expected ',' or ']' in this array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, PatternError> {
        self.pos += 1;
        let mut members: Vec<Member> = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Kind::Object(members));
        }
        loop {
            self.skip_whitespace();
            let at = self.pos;
            if self.bytes.get(at) != Some(&b'"') {
                return Err(self.syntax("expected a key in double quotes"));
            }
            let key = self.string()?;
            if members.iter().any(|m| m.key == key) {
                let reason = format!(
                    "The key \"{key}\" appears twice in one object; keep one (EventBridge would \
                     silently use the last)."
                );
                return Err(PatternError::new(ErrorKind::Invalid, reason).at(Some(at)));
            }
            self.skip_whitespace();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.syntax("expected ':' after the key"));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                at: Some(at),
                value,
            });
            self.skip_whitespace();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Kind::Object(members));
                }
                _ => return Err(self.syntax("expected ',' or '}' in this object")),
            }
        }
    }
}
