//! A pattern once validated: the tree the matcher walks.

/// One object of the pattern: every field must match, and every `$or` must have a branch that does.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Rule {
    pub(super) fields: Vec<Field>,
    pub(super) ors: Vec<Vec<Rule>>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct Field {
    pub(super) name: String,
    pub(super) test: Test,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Test {
    /// An object in the pattern: the event's field must hold an object that matches it.
    Nested(Rule),
    /// An array in the pattern: the field matches if any of these does.
    Leaf(Vec<Matcher>),
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Matcher {
    Exact(Literal),
    Prefix(Text),
    Suffix(Text),
    /// Held case-folded (lowercased).
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Exists(bool),
    Cidr(Cidr),
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
}

/// The operand of `prefix` or `suffix`; held case-folded when `ignore_case`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Text {
    pub(super) value: String,
    pub(super) ignore_case: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    /// Held case-folded.
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

/// A `numeric` condition: one bound, both, or `=` (both bounds equal and inclusive).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Range {
    pub(super) lower: Option<Bound>,
    pub(super) upper: Option<Bound>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Bound {
    pub(super) value: f64,
    pub(super) inclusive: bool,
}

/// A `wildcard` operand split at its unescaped `*`s: the literal text before, between and
/// after them (escapes resolved), so `parts.len()` is one more than the number of `*`s.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Wildcard {
    pub(super) parts: Vec<String>,
}

/// A `cidr` operand: the network's address with its host bits cleared, and its mask.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Cidr {
    V4 { network: u32, mask: u32 },
    V6 { network: u128, mask: u128 },
}

impl Rule {
    /// Adds the dotted path of every leaf this rule tests, under `prefix`, to `out`.
    pub(super) fn collect_fields(&self, prefix: &str, out: &mut Vec<String>) {
        for field in &self.fields {
            let path = join(prefix, &field.name);
            match &field.test {
                Test::Nested(rule) => rule.collect_fields(&path, out),
                Test::Leaf(_) => out.push(path),
            }
        }
        for branch in self.ors.iter().flatten() {
            branch.collect_fields(prefix, out);
        }
    }

    /// How many patterns this one is once every `$or` is multiplied out.
    pub(super) fn combinations(&self) -> u64 {
        let nested = self.fields.iter().filter_map(|field| match &field.test {
            Test::Nested(rule) => Some(rule.combinations()),
            Test::Leaf(_) => None,
        });
        let ors = self.ors.iter().map(|branches| {
            branches
                .iter()
                .map(Rule::combinations)
                .fold(0u64, u64::saturating_add)
        });
        nested.chain(ors).fold(1u64, u64::saturating_mul)
    }
}

pub(super) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}
