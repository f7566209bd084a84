//! Entries: small values kept under a key until they expire, each write conditional on the
//! token the writer read. Idempotency keys are built on them (and flow control will be): the
//! same compare-and-swap as runs, with an expiry a store can also use to forget them.

/// A value kept under a key until `expires_ms`, replaced only by a writer holding its `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What the entry holds.
    pub value: String,
    /// Changes with every write: a writer names the token it read to replace the entry.
    pub token: String,
    /// Unix time in milliseconds from which the entry counts as absent.
    pub expires_ms: i64,
}

impl Entry {
    /// A new entry to write, with a fresh token.
    ///
    /// ```
    /// let e = overtime::store::Entry::new("running", 1_000);
    /// assert!(e.is_live(999) && !e.is_live(1_000));
    /// assert_ne!(e.token, overtime::store::Entry::new("running", 1_000).token);
    /// ```
    pub fn new(value: impl Into<String>, expires_ms: i64) -> Self {
        Self {
            value: value.into(),
            token: uuid::Uuid::new_v4().simple().to_string(),
            expires_ms,
        }
    }

    /// Whether the entry still counts at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        now_ms < self.expires_ms
    }
}
