//! Reading the log back: the head, batches in `seq` order, and filtered queries.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::entry::AuditEntry;
use crate::{Result, db_error};

const COLUMNS: &str =
    "seq, occurred_at, server, actor, tool, kind, args_digest, outcome, detail, prev_hash, hash";

fn entry(row: &AnyRow) -> Result<AuditEntry> {
    let read = db_error("read an audit entry");
    let get = |column: &str| row.try_get::<String, _>(column);
    Ok(AuditEntry {
        seq: row
            .try_get("seq")
            .map_err(db_error("read an audit entry"))?,
        occurred_at: get("occurred_at").map_err(db_error("read an audit entry"))?,
        server: get("server").map_err(db_error("read an audit entry"))?,
        actor: get("actor").map_err(db_error("read an audit entry"))?,
        tool: get("tool").map_err(db_error("read an audit entry"))?,
        kind: get("kind").map_err(db_error("read an audit entry"))?,
        args_digest: get("args_digest").map_err(db_error("read an audit entry"))?,
        outcome: get("outcome").map_err(db_error("read an audit entry"))?,
        detail: get("detail").map_err(db_error("read an audit entry"))?,
        prev_hash: get("prev_hash").map_err(db_error("read an audit entry"))?,
        hash: get("hash").map_err(read)?,
    })
}

/// Up to `limit` entries with `seq > after`, in order.
pub async fn entries_after(
    store: &store::Store,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(store.pool())
        .await
        .map_err(db_error("read the audit log"))?;
    rows.iter().map(entry).collect()
}

/// The newest entry, if any.
pub async fn head(store: &store::Store) -> Result<Option<AuditEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_optional(store.pool())
        .await
        .map_err(db_error("read the audit head"))?;
    row.as_ref().map(entry).transpose()
}

/// Which entries to return; every field narrows when set.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The actor's pseudonym (see `Auditor::pseudonym`).
    pub actor: Option<String>,
    pub server: Option<String>,
    pub tool: Option<String>,
    pub outcome: Option<String>,
    /// At or after this UTC time (RFC 3339, store format).
    pub since: Option<String>,
    /// Before this UTC time.
    pub until: Option<String>,
}

/// Entries matching `filter` with `seq > after`, oldest first, at most `limit`.
pub async fn find(
    store: &store::Store,
    filter: &AuditFilter,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEntry>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 \
         AND ($2 = '' OR actor = $2) AND ($3 = '' OR server = $3) AND ($4 = '' OR tool = $4) \
         AND ($5 = '' OR outcome = $5) AND ($6 = '' OR occurred_at >= $6) AND ($7 = '' OR occurred_at < $7) \
         ORDER BY seq LIMIT $8"
    );
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(text(&filter.actor))
        .bind(text(&filter.server))
        .bind(text(&filter.tool))
        .bind(text(&filter.outcome))
        .bind(text(&filter.since))
        .bind(text(&filter.until))
        .bind(i64::from(limit.clamp(1, 10_000)))
        .fetch_all(store.pool())
        .await
        .map_err(db_error("query the audit log"))?;
    rows.iter().map(entry).collect()
}

/// The display name of an actor pseudonym, unless it has been erased.
pub async fn actor_name(store: &store::Store, actor_ref: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT display_name FROM audit_actors WHERE actor_ref = $1")
        .bind(actor_ref)
        .fetch_optional(store.pool())
        .await
        .map_err(db_error("read an audit actor"))
}
