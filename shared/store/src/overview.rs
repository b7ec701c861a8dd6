//! What is in the store: record counts per table, for `server_info` and `revops db`.

use schemars::JsonSchema;
use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::{Error, Result, Store};

/// How many records each domain table holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RecordCounts {
    pub accounts: i64,
    pub contacts: i64,
    pub leads: i64,
    pub opportunities: i64,
    pub activities: i64,
    pub tasks: i64,
    pub campaigns: i64,
    pub budget_ledger: i64,
    pub marketing_touches: i64,
    pub usage_snapshots: i64,
    pub support_tickets: i64,
    pub nps_responses: i64,
    pub predictions: i64,
    pub models: i64,
    pub audit_log: i64,
}

/// Counts every domain table in one round trip.
pub async fn record_counts(store: &Store) -> Result<RecordCounts> {
    const TABLES: [&str; 15] = [
        "accounts",
        "contacts",
        "leads",
        "opportunities",
        "activities",
        "tasks",
        "campaigns",
        "budget_ledger",
        "marketing_touches",
        "usage_snapshots",
        "support_tickets",
        "nps_responses",
        "predictions",
        "models",
        "audit_log",
    ];
    let sql = TABLES
        .iter()
        .map(|table| format!("(SELECT COUNT(*) FROM {table}) AS {table}"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = sqlx::query(AssertSqlSafe(format!("SELECT {sql}")))
        .fetch_one(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("count records", error))?;
    use crate::rows::get;
    Ok(RecordCounts {
        accounts: get(&row, "accounts")?,
        contacts: get(&row, "contacts")?,
        leads: get(&row, "leads")?,
        opportunities: get(&row, "opportunities")?,
        activities: get(&row, "activities")?,
        tasks: get(&row, "tasks")?,
        campaigns: get(&row, "campaigns")?,
        budget_ledger: get(&row, "budget_ledger")?,
        marketing_touches: get(&row, "marketing_touches")?,
        usage_snapshots: get(&row, "usage_snapshots")?,
        support_tickets: get(&row, "support_tickets")?,
        nps_responses: get(&row, "nps_responses")?,
        predictions: get(&row, "predictions")?,
        models: get(&row, "models")?,
        audit_log: get(&row, "audit_log")?,
    })
}
