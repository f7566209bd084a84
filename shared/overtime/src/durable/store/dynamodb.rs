//! The DynamoDB run store: one table keyed by `pk` (the run id, or an entry's key) and `sk`
//! (`run`, `step#NAME`, or `entry`), conditional writes for create, replace, first-write-wins
//! steps and entries, and strongly consistent reads. Entries carry `expires_at` (seconds), the
//! table's TTL attribute, so DynamoDB deletes them some time after they expire; until then the
//! conditions treat an expired entry as absent.

use super::{Entry, RunRecord, RunStore, StoreError, decode, encode};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use futures_util::future::BoxFuture;
use std::collections::HashMap;

/// The sort key of a run's own item.
const RUN_SK: &str = "run";
/// The sort key of an entry's item.
const ENTRY_SK: &str = "entry";
/// The condition of an entry written where the writer read none.
pub(crate) const ENTRY_CREATE: &str = "attribute_not_exists(pk) OR expires_ms <= :now";
/// The condition of an entry written over the one the writer read.
pub(crate) const ENTRY_REPLACE: &str = "entry_token = :expected AND expires_ms > :now";

/// A run store in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn unavailable<E: std::error::Error + 'static>(e: SdkError<E>) -> StoreError {
    StoreError::Unavailable(crate::error_chain(&e))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

impl DynamoStore {
    /// A store over `table` (keys `pk` and `sk`, both strings).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// A store over `table`, with a client from the standard AWS configuration
    /// (`AWS_ENDPOINT_URL_DYNAMODB` and friends).
    pub async fn from_env(table: impl Into<String>) -> Self {
        DynamoStore::new(Client::new(crate::platform::aws_config().await), table)
    }

    /// Creates the table (on-demand billing) if it does not exist; the SAM template declares it
    /// on AWS, this is for local endpoints and tests.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        };
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    fn run_item(run: &RunRecord) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), s(&run.id)),
            ("sk".to_owned(), s(RUN_SK)),
            ("version".to_owned(), n(run.version)),
            ("started_ms".to_owned(), n(run.started_ms)),
            ("record".to_owned(), s(encode(run))),
        ])
    }

    async fn get_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// Puts an item under a condition; false when the condition failed.
    async fn put_if(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: &str,
        values: Option<HashMap<String, AttributeValue>>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl RunStore for DynamoStore {
    fn create<'a>(&'a self, run: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.put_if(Self::run_item(run), "attribute_not_exists(pk)", None))
    }

    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<RunRecord>, StoreError>> {
        Box::pin(async move {
            let Some(item) = self.get_item(id, RUN_SK).await? else {
                return Ok(None);
            };
            let json = text(&item, "record").ok_or_else(|| StoreError::Corrupt {
                id: id.to_owned(),
                reason: "no record attribute".into(),
            })?;
            decode(id, &json).map(Some)
        })
    }

    fn replace<'a>(&'a self, next: &'a RunRecord) -> BoxFuture<'a, Result<bool, StoreError>> {
        let previous = next.version.saturating_sub(1);
        Box::pin(self.put_if(
            Self::run_item(next),
            "version = :previous",
            Some(HashMap::from([(":previous".to_owned(), n(previous))])),
        ))
    }

    fn list(&self, limit: usize) -> BoxFuture<'_, Result<Vec<RunRecord>, StoreError>> {
        Box::pin(async move {
            let mut runs = Vec::new();
            let mut pages = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :run")
                .expression_attribute_values(":run", s(RUN_SK))
                .consistent_read(true)
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                let item = item.map_err(unavailable)?;
                let id = text(&item, "pk").unwrap_or_default();
                let json = text(&item, "record").unwrap_or_default();
                runs.push(decode(&id, &json)?);
            }
            runs.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then(a.id.cmp(&b.id)));
            runs.truncate(limit);
            Ok(runs)
        })
    }

    fn step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .get_item(run, &format!("step#{name}"))
                .await?
                .and_then(|item| text(&item, "value")))
        })
    }

    fn put_step<'a>(
        &'a self,
        run: &'a str,
        name: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move {
            let sk = format!("step#{name}");
            let item = HashMap::from([
                ("pk".to_owned(), s(run)),
                ("sk".to_owned(), s(&sk)),
                ("value".to_owned(), s(value)),
            ]);
            if self.put_if(item, "attribute_not_exists(pk)", None).await? {
                return Ok(value.to_owned());
            }
            self.get_item(run, &sk)
                .await?
                .and_then(|item| text(&item, "value"))
                .ok_or_else(|| StoreError::Corrupt {
                    id: run.to_owned(),
                    reason: format!("step {name} vanished after a conditional write failed"),
                })
        })
    }

    fn entry<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            let Some(item) = self.get_item(key, ENTRY_SK).await? else {
                return Ok(None);
            };
            let corrupt = |what: &str| StoreError::Corrupt {
                id: key.to_owned(),
                reason: format!("entry without {what}"),
            };
            let expires_ms = item
                .get("expires_ms")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| corrupt("expires_ms"))?;
            let entry = Entry {
                value: text(&item, "entry_value").ok_or_else(|| corrupt("entry_value"))?,
                token: text(&item, "entry_token").ok_or_else(|| corrupt("entry_token"))?,
                expires_ms,
            };
            Ok(entry.is_live(now_ms).then_some(entry))
        })
    }

    fn put_entry<'a>(
        &'a self,
        key: &'a str,
        entry: &'a Entry,
        expected: Option<&'a str>,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let item = HashMap::from([
            ("pk".to_owned(), s(key)),
            ("sk".to_owned(), s(ENTRY_SK)),
            ("entry_value".to_owned(), s(&entry.value)),
            ("entry_token".to_owned(), s(&entry.token)),
            ("expires_ms".to_owned(), n(entry.expires_ms)),
            // The table's TTL attribute is in seconds; round up so it never precedes expires_ms.
            (
                "expires_at".to_owned(),
                n(entry.expires_ms.div_euclid(1000) + 1),
            ),
        ]);
        let mut values = HashMap::from([(":now".to_owned(), n(now_ms))]);
        let condition = match expected {
            None => ENTRY_CREATE,
            Some(token) => {
                values.insert(":expected".to_owned(), s(token));
                ENTRY_REPLACE
            }
        };
        Box::pin(self.put_if(item, condition, Some(values)))
    }
}
