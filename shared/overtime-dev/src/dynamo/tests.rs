//! Tests of the DynamoDB calls, made as the run store makes them, against a fresh state directory.

use super::*;

fn tables() -> (Tables, PathBuf) {
    let dir = std::env::temp_dir().join(format!("overtime-dynamo-{}", uuid::Uuid::new_v4()));
    let t = Tables::new(
        dir.join("tables"),
        [("overtime-runs".to_owned(), dir.join("runs.db"))],
    );
    (t, dir)
}

async fn call(t: &Tables, op: &str, body: Value) -> Result<Value, DynamoError> {
    dispatch(t, op, &Bytes::from(body.to_string())).await
}

fn kind(r: Result<Value, DynamoError>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e.kind,
    }
}

fn record(id: &str, version: u64) -> String {
    json!({
        "id": id, "job": "report", "status": "running", "slice": version, "cursor": "0",
        "successor_sent": true, "owner": null, "lease_until_ms": 0, "items_done": 0,
        "items_total": null, "started_ms": 1, "updated_ms": 1, "error": null,
        "cancel_requested": false, "version": version,
    })
    .to_string()
}

fn put_run(id: &str, version: u64, condition: &str) -> Value {
    let mut req = json!({
        "TableName": "overtime-runs",
        "Item": {
            "pk": { "S": id }, "sk": { "S": "run" },
            "version": { "N": version.to_string() }, "started_ms": { "N": "1" },
            "record": { "S": record(id, version) },
        },
        "ConditionExpression": condition,
    });
    if condition.contains(":previous") {
        req["ExpressionAttributeValues"] =
            json!({ ":previous": { "N": version.saturating_sub(1).to_string() } });
    }
    req
}

#[tokio::test]
async fn conditional_puts_behave_as_dynamodb_s() {
    let (t, dir) = tables();
    assert!(
        call(&t, "PutItem", put_run("r1", 0, "attribute_not_exists(pk)"))
            .await
            .is_ok()
    );
    // A second create of the same run, and a replace from a stale version, fail the condition.
    let again = call(&t, "PutItem", put_run("r1", 0, "attribute_not_exists(pk)")).await;
    assert_eq!(kind(again), "ConditionalCheckFailedException");
    assert!(
        call(&t, "PutItem", put_run("r1", 1, "version = :previous"))
            .await
            .is_ok()
    );
    let stale = call(&t, "PutItem", put_run("r1", 1, "version = :previous")).await;
    assert_eq!(kind(stale), "ConditionalCheckFailedException");
    let got = call(
        &t,
        "GetItem",
        json!({ "TableName": "overtime-runs", "Key": { "pk": { "S": "r1" }, "sk": { "S": "run" } } }),
    )
    .await
    .expect("GetItem");
    assert_eq!(got["Item"]["version"]["N"], "1", "{got}");
    let missing = call(
        &t,
        "GetItem",
        json!({ "TableName": "overtime-runs", "Key": { "pk": { "S": "r2" }, "sk": { "S": "run" } } }),
    )
    .await
    .expect("GetItem");
    assert_eq!(missing, json!({}));
    let scan = json!({
        "TableName": "overtime-runs", "FilterExpression": "sk = :run",
        "ExpressionAttributeValues": { ":run": { "S": "run" } },
    });
    let runs = call(&t, "Scan", scan).await.expect("Scan");
    assert_eq!(runs["Count"], 1, "{runs}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_step_keeps_its_first_value() {
    let (t, dir) = tables();
    let step = |value: &str| {
        json!({
            "TableName": "overtime-runs",
            "Item": { "pk": { "S": "r1" }, "sk": { "S": "step#charge" }, "value": { "S": value } },
            "ConditionExpression": "attribute_not_exists(pk)",
        })
    };
    assert!(call(&t, "PutItem", step("\"a\"")).await.is_ok());
    assert_eq!(
        kind(call(&t, "PutItem", step("\"b\"")).await),
        "ConditionalCheckFailedException"
    );
    let got = call(
        &t,
        "GetItem",
        json!({ "TableName": "overtime-runs", "Key": { "pk": { "S": "r1" }, "sk": { "S": "step#charge" } } }),
    )
    .await
    .expect("GetItem");
    assert_eq!(got["Item"]["value"]["S"], "\"a\"");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn tables_are_created_once_and_missing_ones_are_named() {
    let (t, dir) = tables();
    let create = |name: &str| {
        json!({
            "TableName": name,
            "KeySchema": [
                { "AttributeName": "pk", "KeyType": "HASH" },
                { "AttributeName": "sk", "KeyType": "RANGE" },
            ],
        })
    };
    assert!(call(&t, "CreateTable", create("mine")).await.is_ok());
    assert_eq!(
        kind(call(&t, "CreateTable", create("mine")).await),
        "ResourceInUseException"
    );
    // The run store's table exists from the start.
    assert_eq!(
        kind(call(&t, "CreateTable", create("overtime-runs")).await),
        "ResourceInUseException"
    );
    assert!(
        call(&t, "DescribeTable", json!({ "TableName": "mine" }))
            .await
            .is_ok()
    );
    let missing = call(&t, "DescribeTable", json!({ "TableName": "other" })).await;
    assert_eq!(kind(missing), "ResourceNotFoundException");
    let bad = call(&t, "CreateTable", json!({ "TableName": "x" })).await;
    assert_eq!(kind(bad), "ValidationException");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn what_is_not_served_is_refused_with_dynamodb_s_errors() {
    let (t, dir) = tables();
    let query = call(&t, "Query", json!({ "TableName": "overtime-runs" })).await;
    assert_eq!(kind(query), "UnknownOperationException");
    let unconditional = json!({
        "TableName": "overtime-runs",
        "Item": { "pk": { "S": "r1" }, "sk": { "S": "run" }, "version": { "N": "0" },
                  "record": { "S": record("r1", 0) } },
    });
    assert_eq!(
        kind(call(&t, "PutItem", unconditional).await),
        "ValidationException"
    );
    let not_json = dispatch(&t, "GetItem", &Bytes::from_static(b"{")).await;
    assert_eq!(kind(not_json), "SerializationException");
    let wrong_id = json!({
        "TableName": "overtime-runs",
        "Item": { "pk": { "S": "r9" }, "sk": { "S": "run" }, "version": { "N": "0" },
                  "record": { "S": record("r1", 0) } },
        "ConditionExpression": "attribute_not_exists(pk)",
    });
    assert_eq!(
        kind(call(&t, "PutItem", wrong_id).await),
        "ValidationException"
    );
    let _ = std::fs::remove_dir_all(dir);
}
