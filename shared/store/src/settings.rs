//! Run-time settings of a team server, as JSON values by key (`settings` table). The store
//! keeps values; the server that owns a key knows its type, default and valid range, and
//! checks a whole change before calling [`set_many`], which writes it in the call's one
//! transaction.

use std::collections::BTreeMap;

use crate::{Error, Result, Store, WriteTx};

/// One stored setting.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct StoredSetting {
    pub key: String,
    pub value: serde_json::Value,
    pub updated_by: String,
    pub updated_at: String,
}

fn decode(key: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|error| {
        tracing::error!(%error, key, "a stored setting is not JSON");
        Error::Internal("a stored setting is unreadable")
    })
}

/// Every setting `server` has stored, by key.
pub async fn all(store: &Store, server: &str) -> Result<BTreeMap<String, StoredSetting>> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT key, value_json, updated_by, updated_at FROM settings WHERE server = $1 ORDER BY key",
    )
    .bind(server)
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read settings", error))?;
    rows.into_iter()
        .map(|(key, value, updated_by, updated_at)| {
            Ok((
                key.clone(),
                StoredSetting {
                    value: decode(&key, &value)?,
                    key,
                    updated_by,
                    updated_at,
                },
            ))
        })
        .collect()
}

/// The stored value of one setting, if it was ever set.
pub async fn get(store: &Store, server: &str, key: &str) -> Result<Option<serde_json::Value>> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT value_json FROM settings WHERE server = $1 AND key = $2")
            .bind(server)
            .bind(key)
            .fetch_optional(store.pool())
            .await
            .map_err(|error| Error::from_sqlx("read a setting", error))?;
    text.map(|text| decode(key, &text)).transpose()
}

/// The stored value of one setting inside a write transaction (so a check and a change
/// read the same value).
pub async fn get_in(
    tx: &mut WriteTx,
    server: &str,
    key: &str,
) -> Result<Option<serde_json::Value>> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT value_json FROM settings WHERE server = $1 AND key = $2")
            .bind(server)
            .bind(key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("read a setting", error))?;
    text.map(|text| decode(key, &text)).transpose()
}

/// Writes every (key, value) of `changes` for `server` in `tx`; the caller has checked
/// them all first.
pub async fn set_many(
    tx: &mut WriteTx,
    server: &str,
    changes: &BTreeMap<String, serde_json::Value>,
    actor: &str,
) -> Result<()> {
    let now = crate::clock::now();
    for (key, value) in changes {
        sqlx::query(
            "INSERT INTO settings (server, key, value_json, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (server, key) DO UPDATE SET value_json = excluded.value_json, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(server)
        .bind(key)
        .bind(value.to_string())
        .bind(actor)
        .bind(&now)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("write a setting", error))?;
    }
    Ok(())
}
