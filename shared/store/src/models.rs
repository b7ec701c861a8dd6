//! The model registry: every version of every model kind, with its status (one active per
//! kind), parameters, metrics and origin. Activation and retirement happen in the caller's
//! write transaction, so the change and its audit entry commit together.

use crate::rows::get;
use crate::{Error, Result, Store, WriteTx};

/// The model kinds the registry holds.
pub const KINDS: [&str; 4] = ["lead", "churn", "conversion", "health"];

/// One version of a model, without its (possibly large) parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ModelVersion {
    pub id: String,
    pub name: String,
    /// lead, churn, conversion or health.
    pub kind: String,
    pub version: i64,
    /// candidate, active or retired.
    pub status: String,
    /// Where it was learnt from (a CSV file's name, "store outcomes"), or the rule-based default.
    pub learnt_from: Option<String>,
    pub trained_at: Option<String>,
    pub created_at: String,
    pub activated_at: Option<String>,
    pub retired_at: Option<String>,
    /// The evaluation report saved at training (AUC, Brier, calibration, …).
    pub metrics: Option<serde_json::Value>,
}

const COLUMNS: &str = "id, name, kind, version, status, learnt_from, trained_at, created_at, activated_at, \
    retired_at, metrics_json";

fn version_of(row: &sqlx::any::AnyRow) -> Result<ModelVersion> {
    let metrics: Option<String> = get(row, "metrics_json")?;
    Ok(ModelVersion {
        id: get(row, "id")?,
        name: get(row, "name")?,
        kind: get(row, "kind")?,
        version: get(row, "version")?,
        status: get(row, "status")?,
        learnt_from: get(row, "learnt_from")?,
        trained_at: get(row, "trained_at")?,
        created_at: get(row, "created_at")?,
        activated_at: get(row, "activated_at")?,
        retired_at: get(row, "retired_at")?,
        metrics: metrics.and_then(|m| serde_json::from_str(&m).ok()),
    })
}

fn check_kind(kind: &str) -> Result<()> {
    if KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "there is no model kind {kind:?}; the kinds are {}",
            KINDS.join(", ")
        )))
    }
}

/// Every version, of one kind or all, newest first within a kind.
pub async fn list(store: &Store, kind: Option<&str>) -> Result<Vec<ModelVersion>> {
    if let Some(kind) = kind {
        check_kind(kind)?;
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM models WHERE ($1 IS NULL OR kind = $1) ORDER BY kind, version DESC"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(kind)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("list models", error))?;
    rows.iter().map(version_of).collect()
}

/// One version and its parameters (JSON).
pub async fn get_version(
    store: &Store,
    kind: &str,
    version: i64,
) -> Result<(ModelVersion, String)> {
    check_kind(kind)?;
    let sql = format!("SELECT {COLUMNS}, params_json FROM models WHERE kind = $1 AND version = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(kind)
        .bind(version)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read a model", error))?
        .ok_or_else(|| Error::NotFound {
            entity: "model version",
            id: format!("{kind} v{version}"),
        })?;
    Ok((version_of(&row)?, get(&row, "params_json")?))
}

/// The number of the active version of a kind (one indexed read; servers check it on every
/// score to notice an activation made elsewhere).
pub async fn active_version(store: &Store, kind: &str) -> Result<Option<i64>> {
    check_kind(kind)?;
    sqlx::query_scalar("SELECT version FROM models WHERE kind = $1 AND status = 'active'")
        .bind(kind)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read the active model", error))
}

/// The active version of a kind and its parameters.
pub async fn active(store: &Store, kind: &str) -> Result<(ModelVersion, String)> {
    check_kind(kind)?;
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM models WHERE kind = $1 AND status = 'active'")
            .bind(kind)
            .fetch_optional(store.pool())
            .await
            .map_err(|error| Error::from_sqlx("read the active model", error))?;
    let version = version.ok_or_else(|| Error::NotFound {
        entity: "active model",
        id: kind.to_string(),
    })?;
    get_version(store, kind, version).await
}

/// A newly learnt version to register as a candidate.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub params_json: &'a str,
    pub metrics_json: &'a str,
    pub baseline_json: Option<&'a str>,
    pub learnt_from: &'a str,
}

/// Registers a candidate under the next version number of its kind; returns that number.
pub async fn insert_candidate(tx: &mut WriteTx, new: &NewVersion<'_>) -> Result<i64> {
    check_kind(new.kind)?;
    let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM models WHERE kind = $1")
        .bind(new.kind)
        .fetch_one(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("number a model version", error))?;
    let version = latest.unwrap_or(0) + 1;
    let now = crate::clock::now();
    sqlx::query(
        "INSERT INTO models (id, name, kind, version, status, params_json, metrics_json, baseline_json, trained_at, \
         created_at, learnt_from) VALUES ($1, $2, $3, $4, 'candidate', $5, $6, $7, $8, $8, $9)",
    )
    .bind(crate::ids::new_id("mdl"))
    .bind(new.name)
    .bind(new.kind)
    .bind(version)
    .bind(new.params_json)
    .bind(new.metrics_json)
    .bind(new.baseline_json)
    .bind(&now)
    .bind(new.learnt_from)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("register a model version", error))?;
    Ok(version)
}

async fn status_in(tx: &mut WriteTx, kind: &str, version: i64) -> Result<String> {
    check_kind(kind)?;
    sqlx::query_scalar("SELECT status FROM models WHERE kind = $1 AND version = $2")
        .bind(kind)
        .bind(version)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a model", error))?
        .ok_or_else(|| Error::NotFound {
            entity: "model version",
            id: format!("{kind} v{version}"),
        })
}

/// Makes `version` the active one of its kind; the version active before is retired.
/// Returns the version that was active before (None when it was this one already).
pub async fn activate(tx: &mut WriteTx, kind: &str, version: i64) -> Result<Option<i64>> {
    if status_in(tx, kind, version).await? == "active" {
        return Ok(None);
    }
    let previous: Option<i64> =
        sqlx::query_scalar("SELECT version FROM models WHERE kind = $1 AND status = 'active'")
            .bind(kind)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("read the active model", error))?;
    let now = crate::clock::now();
    sqlx::query("UPDATE models SET status = 'retired', retired_at = $2 WHERE kind = $1 AND status = 'active'")
        .bind(kind)
        .bind(&now)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("retire the active model", error))?;
    sqlx::query(
        "UPDATE models SET status = 'active', activated_at = $3, retired_at = NULL WHERE kind = $1 AND version = $2",
    )
    .bind(kind)
    .bind(version)
    .bind(&now)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("activate a model", error))?;
    Ok(previous)
}

/// Retires a candidate (or an already retired version: no change). The active version
/// cannot be retired: activate another first, so a kind is never left without a model.
pub async fn retire(tx: &mut WriteTx, kind: &str, version: i64) -> Result<bool> {
    match status_in(tx, kind, version).await?.as_str() {
        "active" => Err(Error::Conflict(format!(
            "{kind} v{version} is the active version; activate another version first (e.g. v1, the rule-based default)"
        ))),
        "retired" => Ok(false),
        _ => {
            sqlx::query("UPDATE models SET status = 'retired', retired_at = $3 WHERE kind = $1 AND version = $2")
                .bind(kind)
                .bind(version)
                .bind(crate::clock::now())
                .execute(&mut **tx)
                .await
                .map_err(|error| Error::from_sqlx("retire a model", error))?;
            Ok(true)
        }
    }
}
