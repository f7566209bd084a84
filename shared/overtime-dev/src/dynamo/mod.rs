//! The DynamoDB calls the run store makes, on the SQS endpoint's address: `POST /` with
//! `x-amz-target: DynamoDB_20120810.<Operation>` (AWS JSON 1.0, as aws-sdk-dynamodb sends it).
//!
//! A function keeps one code path: it opens `dynamodb:TABLE` on AWS and under `overtime dev`
//! alike, so no Lambda binary links SQLite to run locally. Each table is a [`SqliteStore`]
//! file, and the table the functions get (`overtime-runs`) is the state directory's `runs.db`,
//! which `overtime runs` and the dashboard read.
//!
//! What is served is what `overtime::store::DynamoStore` sends, with the
//! semantics the DynamoDB API reference gives those calls:
//! - `CreateTable` (keys `pk` HASH and `sk` RANGE, both `S`; `ResourceInUseException` when the
//!   table exists) and `DescribeTable`;
//! - `PutItem` of a run item (`sk = run`) under `attribute_not_exists(pk)` (create) or
//!   `version = :previous` (replace), and of a step item (`sk = step#NAME`) under
//!   `attribute_not_exists(pk)`, and of an entry (`sk = entry`) under
//!   `attribute_not_exists(pk) OR expires_ms <= :now` or
//!   `entry_token = :expected AND expires_ms > :now`; a failed condition is
//!   `ConditionalCheckFailedException`;
//! - `GetItem` by `pk` and `sk` (every read is strongly consistent here);
//! - `Scan` with `FilterExpression: sk = :run`, answered in one page.
//!
//! Anything else is refused with DynamoDB's error type and a line naming what is served.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use overtime::store::{Entry, RunRecord, RunStore, SqliteStore, StoreError};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The target prefix of DynamoDB's operations.
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// The largest request read: DynamoDB's item limit is 400 KB, a run record is far smaller.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The sort key of a run's own item, as the run store writes it.
const RUN_SK: &str = "run";

/// The sort key of an entry's item, as the run store writes it.
const ENTRY_SK: &str = "entry";

/// The tables of one `overtime dev`, each a SQLite file.
#[derive(Debug)]
pub struct Tables {
    dir: PathBuf,
    fixed: HashMap<String, PathBuf>,
    open: Mutex<HashMap<String, Arc<SqliteStore>>>,
}

/// A DynamoDB error: its type (the name the SDKs match on) and message.
#[derive(Debug, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct DynamoError {
    kind: &'static str,
    message: String,
    status: StatusCode,
}

impl DynamoError {
    fn new(kind: &'static str, message: impl Into<String>) -> Self {
        DynamoError {
            kind,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    fn validation(message: impl Into<String>) -> Self {
        DynamoError::new("ValidationException", message)
    }

    fn store(e: StoreError) -> Self {
        DynamoError {
            kind: "InternalServerError",
            message: format!("the table's SQLite file: {e}"),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for DynamoError {
    fn into_response(self) -> Response {
        let body = json!({
            "__type": format!("com.amazonaws.dynamodb.v20120810#{}", self.kind),
            "message": self.message,
        });
        json_response(self.status, body.to_string())
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    r
}

impl Tables {
    /// Tables under `dir` (`dir/NAME.db`), plus `fixed` ones at paths of their own; those
    /// exist from the start.
    pub fn new(
        dir: impl Into<PathBuf>,
        fixed: impl IntoIterator<Item = (String, PathBuf)>,
    ) -> Self {
        Tables {
            dir: dir.into(),
            fixed: fixed.into_iter().collect(),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The store behind a fixed table, opened once and shared with every request.
    pub fn store(&self, table: &str) -> Result<Arc<SqliteStore>, DynamoError> {
        self.get(table, false)
    }

    fn path(&self, table: &str) -> PathBuf {
        match self.fixed.get(table) {
            Some(p) => p.clone(),
            None => self.dir.join(format!("{table}.db")),
        }
    }

    fn exists(&self, table: &str) -> bool {
        self.fixed.contains_key(table) || self.path(table).exists()
    }

    /// The table's store; `create` makes its file, else a missing table is DynamoDB's
    /// `ResourceNotFoundException`.
    fn get(&self, table: &str, create: bool) -> Result<Arc<SqliteStore>, DynamoError> {
        valid_name(table)?;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = open.get(table) {
            return Ok(store.clone());
        }
        if !create && !self.exists(table) {
            return Err(DynamoError::new(
                "ResourceNotFoundException",
                format!(
                    "Requested resource not found: Table: {table} not found (overtime dev serves \
                     the tables created with CreateTable and the run store's table, which \
                     OVERTIME_RUN_STORE names)"
                ),
            ));
        }
        let path = self.path(table);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| DynamoError {
                kind: "InternalServerError",
                message: format!("create {}: {e}", parent.display()),
                status: StatusCode::INTERNAL_SERVER_ERROR,
            })?;
        }
        let store = Arc::new(SqliteStore::open(&path).map_err(DynamoError::store)?);
        open.insert(table.to_owned(), store.clone());
        Ok(store)
    }
}

/// DynamoDB's rule for table names: 3 to 255 of `a-z A-Z 0-9 _ - .`.
fn valid_name(table: &str) -> Result<(), DynamoError> {
    let ok = (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(DynamoError::validation(format!(
            "TableName {table:?} must be 3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'"
        )))
    }
}

/// Axum middleware for the SQS router: a request naming a DynamoDB operation is answered
/// here, any other goes on to SQS.
pub async fn intercept(State(tables): State<Arc<Tables>>, req: Request, next: Next) -> Response {
    let op = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .map(str::to_owned);
    let Some(op) = op else {
        return next.run(req).await;
    };
    let body = match axum::body::to_bytes(req.into_body(), MAX_REQUEST_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return DynamoError::validation(format!(
                "the request is over {MAX_REQUEST_BYTES} bytes; an item is at most 400 KB"
            ))
            .into_response();
        }
    };
    let span = tracing::debug_span!("dynamodb", op = %op);
    let _enter = span.enter();
    match dispatch(&tables, &op, &body).await {
        Ok(v) => json_response(StatusCode::OK, v.to_string()),
        Err(e) => {
            tracing::debug!(error = %e, "request refused");
            e.into_response()
        }
    }
}

async fn dispatch(tables: &Tables, op: &str, body: &Bytes) -> Result<Value, DynamoError> {
    let req: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| DynamoError::new("SerializationException", format!("the body: {e}")))?;
    let table = req
        .get("TableName")
        .and_then(Value::as_str)
        .ok_or_else(|| DynamoError::validation("TableName is required"))?;
    match op {
        "CreateTable" => create_table(tables, table, &req),
        "DescribeTable" => {
            tables.get(table, false)?;
            Ok(json!({ "Table": description(table) }))
        }
        "PutItem" => put_item(&*tables.get(table, false)?, &req).await,
        "GetItem" => get_item(&*tables.get(table, false)?, &req).await,
        "Scan" => scan(&*tables.get(table, false)?, &req).await,
        other => Err(DynamoError::new(
            "UnknownOperationException",
            format!(
                "overtime dev serves the DynamoDB operations the run store makes (CreateTable, \
                 DescribeTable, PutItem, GetItem, Scan), not {other}"
            ),
        )),
    }
}

fn description(table: &str) -> Value {
    json!({
        "TableName": table,
        "TableStatus": "ACTIVE",
        "TableArn": format!("arn:aws:dynamodb:us-east-1:000000000000:table/{table}"),
        "KeySchema": [
            { "AttributeName": "pk", "KeyType": "HASH" },
            { "AttributeName": "sk", "KeyType": "RANGE" },
        ],
        "AttributeDefinitions": [
            { "AttributeName": "pk", "AttributeType": "S" },
            { "AttributeName": "sk", "AttributeType": "S" },
        ],
        "BillingModeSummary": { "BillingMode": "PAY_PER_REQUEST" },
    })
}

fn create_table(
    tables: &Tables,
    table: &str,
    req: &Map<String, Value>,
) -> Result<Value, DynamoError> {
    let keys: Vec<(&str, &str)> = req
        .get("KeySchema")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| {
            Some((
                k.get("AttributeName")?.as_str()?,
                k.get("KeyType")?.as_str()?,
            ))
        })
        .collect();
    if keys != [("pk", "HASH"), ("sk", "RANGE")] {
        return Err(DynamoError::validation(
            "overtime dev's tables are run stores: KeySchema pk (HASH) and sk (RANGE), both S",
        ));
    }
    valid_name(table)?;
    if tables.exists(table) {
        return Err(DynamoError::new(
            "ResourceInUseException",
            format!("Table already exists: {table}"),
        ));
    }
    tables.get(table, true)?;
    Ok(json!({ "TableDescription": description(table) }))
}

/// A string attribute of an item or key: `{"S": "…"}`.
fn string<'a>(item: &'a Map<String, Value>, name: &str) -> Result<&'a str, DynamoError> {
    item.get(name)
        .and_then(|v| v.get("S"))
        .and_then(Value::as_str)
        .ok_or_else(|| DynamoError::validation(format!("{name} must be a string attribute (S)")))
}

/// A whole-number attribute: `{"N": "…"}`.
fn number<T: std::str::FromStr>(item: &Map<String, Value>, name: &str) -> Result<T, DynamoError> {
    item.get(name)
        .and_then(|v| v.get("N"))
        .and_then(Value::as_str)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| DynamoError::validation(format!("{name} must be a whole number (N)")))
}

fn object<'a>(
    req: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a Map<String, Value>, DynamoError> {
    req.get(name)
        .and_then(Value::as_object)
        .ok_or_else(|| DynamoError::validation(format!("{name} is required")))
}

fn condition_failed() -> DynamoError {
    DynamoError::new(
        "ConditionalCheckFailedException",
        "The conditional request failed",
    )
}

/// Refused shapes name the two the run store writes.
fn unsupported_write(what: &str) -> DynamoError {
    DynamoError::validation(format!(
        "overtime dev's DynamoDB stores run-store items only: a run (sk = run, with version and \
         record) written under attribute_not_exists(pk) or version = :previous, a step \
         (sk = step#NAME, with value) under attribute_not_exists(pk), or an entry (sk = entry) \
         under attribute_not_exists(pk) OR expires_ms <= :now or \
         entry_token = :expected AND expires_ms > :now; this PutItem has {what}"
    ))
}

async fn put_item(store: &SqliteStore, req: &Map<String, Value>) -> Result<Value, DynamoError> {
    let item = object(req, "Item")?;
    let pk = string(item, "pk")?;
    let sk = string(item, "sk")?;
    let condition = req
        .get("ConditionExpression")
        .and_then(Value::as_str)
        .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "));
    let written = if sk == RUN_SK {
        let record: RunRecord = serde_json::from_str(string(item, "record")?)
            .map_err(|e| DynamoError::validation(format!("record is not a run record: {e}")))?;
        if record.id() != pk || number::<u64>(item, "version")? != record.version() {
            return Err(DynamoError::validation(
                "pk and version must be the record's own id and version",
            ));
        }
        match condition.as_deref() {
            Some("attribute_not_exists(pk)") => store.create(&record).await,
            Some("version = :previous") => {
                let values = object(req, "ExpressionAttributeValues")?;
                if number::<u64>(values, ":previous")? + 1 != record.version() {
                    return Err(DynamoError::validation(
                        ":previous must be one below the record's version",
                    ));
                }
                store.replace(&record).await
            }
            Some(other) => return Err(unsupported_write(&format!("the condition {other:?}"))),
            None => return Err(unsupported_write("no condition")),
        }
        .map_err(DynamoError::store)?
    } else if let Some(name) = sk.strip_prefix("step#") {
        let value = string(item, "value")?;
        if condition.as_deref() != Some("attribute_not_exists(pk)") {
            return Err(unsupported_write(
                "a step written without attribute_not_exists(pk)",
            ));
        }
        // The store keeps the first value written; a later write with the same value changes
        // nothing, so reporting it as written is what the caller would conclude either way.
        store
            .put_step(pk, name, value)
            .await
            .map_err(DynamoError::store)?
            == value
    } else if sk == ENTRY_SK {
        put_entry(store, req, item, pk, condition.as_deref()).await?
    } else {
        return Err(unsupported_write(&format!("sk {sk:?}")));
    };
    if written {
        Ok(json!({}))
    } else {
        Err(condition_failed())
    }
}

async fn put_entry(
    store: &SqliteStore,
    req: &Map<String, Value>,
    item: &Map<String, Value>,
    key: &str,
    condition: Option<&str>,
) -> Result<bool, DynamoError> {
    let entry = Entry {
        value: string(item, "entry_value")?.to_owned(),
        token: string(item, "entry_token")?.to_owned(),
        expires_ms: number(item, "expires_ms")?,
    };
    let values = object(req, "ExpressionAttributeValues")?;
    let now = number(values, ":now")?;
    let expected = match condition {
        Some("attribute_not_exists(pk) OR expires_ms <= :now") => None,
        Some("entry_token = :expected AND expires_ms > :now") => Some(string(values, ":expected")?),
        Some(other) => return Err(unsupported_write(&format!("the condition {other:?}"))),
        None => return Err(unsupported_write("no condition")),
    };
    store
        .put_entry(key, &entry, expected, now)
        .await
        .map_err(DynamoError::store)
}

fn entry_item(key: &str, entry: &Entry) -> Value {
    json!({
        "pk": { "S": key },
        "sk": { "S": ENTRY_SK },
        "entry_value": { "S": entry.value },
        "entry_token": { "S": entry.token },
        "expires_ms": { "N": entry.expires_ms.to_string() },
        "expires_at": { "N": (entry.expires_ms.div_euclid(1000) + 1).to_string() },
    })
}

fn run_item(run: &RunRecord) -> Value {
    json!({
        "pk": { "S": run.id() },
        "sk": { "S": RUN_SK },
        "version": { "N": run.version().to_string() },
        "started_ms": { "N": run.started_ms().to_string() },
        "record": { "S": serde_json::to_string(run).unwrap_or_default() },
    })
}

async fn get_item(store: &SqliteStore, req: &Map<String, Value>) -> Result<Value, DynamoError> {
    let key = object(req, "Key")?;
    let pk = string(key, "pk")?;
    let sk = string(key, "sk")?;
    let item =
        if sk == RUN_SK {
            store
                .get(pk)
                .await
                .map_err(DynamoError::store)?
                .map(|r| run_item(&r))
        } else if let Some(name) = sk.strip_prefix("step#") {
            store.step(pk, name).await.map_err(DynamoError::store)?.map(
                |value| json!({ "pk": { "S": pk }, "sk": { "S": sk }, "value": { "S": value } }),
            )
        } else if sk == ENTRY_SK {
            // DynamoDB returns an expired item until TTL deletes it; so does this.
            store
                .entry(pk, i64::MIN)
                .await
                .map_err(DynamoError::store)?
                .map(|e| entry_item(pk, &e))
        } else {
            None
        };
    Ok(match item {
        Some(item) => json!({ "Item": item }),
        None => json!({}),
    })
}

async fn scan(store: &SqliteStore, req: &Map<String, Value>) -> Result<Value, DynamoError> {
    let filter = req.get("FilterExpression").and_then(Value::as_str);
    let values = req
        .get("ExpressionAttributeValues")
        .and_then(Value::as_object);
    let runs_only = filter.map(|f| f.split_whitespace().collect::<Vec<_>>().join(" "))
        == Some("sk = :run".to_owned())
        && values.is_some_and(|v| string(v, ":run").ok() == Some(RUN_SK));
    if !runs_only {
        return Err(DynamoError::validation(
            "overtime dev answers the run store's Scan: FilterExpression sk = :run with :run = \"run\"",
        ));
    }
    let runs = store.list(usize::MAX).await.map_err(DynamoError::store)?;
    let items: Vec<Value> = runs.iter().map(run_item).collect();
    // One page: a dev machine's runs fit, and without LastEvaluatedKey the SDK's paginator stops.
    Ok(json!({ "Items": items, "Count": items.len(), "ScannedCount": items.len() }))
}

#[cfg(test)]
mod tests;
