//! Checksummed exports of the marketing data (issue 6): the rows of `campaigns`,
//! `budget_ledger`, `marketing_touches` and the marketing `settings`, written as JSON lines,
//! and the `backups` register of every file written.
//!
//! The store only reads rows and keeps the register; the server chooses the file, hashes
//! what is written (SHA-256) and removes files. A deleted backup keeps its row as a tombstone
//! (`deleted_at`, `deleted_by`), so the register says what existed and who removed it.

use std::collections::BTreeMap;
use std::io::Write;

use futures::TryStreamExt;
use sqlx::AssertSqlSafe;

use crate::records::Page;
use crate::rows::get;
use crate::{Backend, Error, Result, Store, WriteTx};

/// One backup in the register.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct BackupRecord {
    pub id: String,
    /// The file's name inside the backups folder (generated, never from a caller).
    pub file_name: String,
    pub created_at: String,
    pub created_by: String,
    pub note: Option<String>,
    pub size_bytes: i64,
    /// Data rows in the file (header and trailer lines not counted).
    pub row_count: i64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// When it was deleted (a tombstone), if it was.
    pub deleted_at: Option<String>,
    pub deleted_by: Option<String>,
}

const COLUMNS: &str = "id, file_name, created_at, created_by, note, size_bytes, row_count, sha256, deleted_at, deleted_by";

fn record(row: &sqlx::any::AnyRow) -> Result<BackupRecord> {
    Ok(BackupRecord {
        id: get(row, "id")?,
        file_name: get(row, "file_name")?,
        created_at: get(row, "created_at")?,
        created_by: get(row, "created_by")?,
        note: get(row, "note")?,
        size_bytes: get(row, "size_bytes")?,
        row_count: get(row, "row_count")?,
        sha256: get(row, "sha256")?,
        deleted_at: get(row, "deleted_at")?,
        deleted_by: get(row, "deleted_by")?,
    })
}

/// How a column is decoded into the export.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    OptText,
    Int,
    OptInt,
}

/// One exported table: its name, the query (constants only) and its columns.
struct Table {
    name: &'static str,
    sql: &'static str,
    columns: &'static [(&'static str, Kind)],
}

const TABLES: [Table; 4] = [
    Table {
        name: "campaigns",
        sql: "SELECT id, name, channel, status, audience, starts_on, ends_on, budget_lifetime_minor, budget_daily_minor, \
              currency, impressions, clicks, created_at, updated_at, request_key FROM campaigns ORDER BY id",
        columns: &[
            ("id", Kind::Text),
            ("name", Kind::Text),
            ("channel", Kind::Text),
            ("status", Kind::Text),
            ("audience", Kind::OptText),
            ("starts_on", Kind::Text),
            ("ends_on", Kind::OptText),
            ("budget_lifetime_minor", Kind::Int),
            ("budget_daily_minor", Kind::OptInt),
            ("currency", Kind::Text),
            ("impressions", Kind::Int),
            ("clicks", Kind::Int),
            ("created_at", Kind::Text),
            ("updated_at", Kind::Text),
            ("request_key", Kind::OptText),
        ],
    },
    // Reservations before the rows that close them, so a restore can insert in file order.
    Table {
        name: "budget_ledger",
        sql: "SELECT id, campaign_id, entry_kind, amount_minor, spend_date, request_key, actor, created_at, reservation_id \
              FROM budget_ledger ORDER BY CASE WHEN reservation_id IS NULL THEN 0 ELSE 1 END, id",
        columns: &[
            ("id", Kind::Text),
            ("campaign_id", Kind::Text),
            ("entry_kind", Kind::Text),
            ("amount_minor", Kind::Int),
            ("spend_date", Kind::Text),
            ("request_key", Kind::OptText),
            ("actor", Kind::Text),
            ("created_at", Kind::Text),
            ("reservation_id", Kind::OptText),
        ],
    },
    Table {
        name: "marketing_touches",
        sql: "SELECT id, request_key, campaign_id, lead_id, touch_type, occurred_at FROM marketing_touches ORDER BY id",
        columns: &[
            ("id", Kind::Text),
            ("request_key", Kind::OptText),
            ("campaign_id", Kind::Text),
            ("lead_id", Kind::Text),
            ("touch_type", Kind::Text),
            ("occurred_at", Kind::Text),
        ],
    },
    Table {
        name: "settings",
        sql: "SELECT server, key, value_json, updated_by, updated_at FROM settings WHERE server = 'marketing' ORDER BY key",
        columns: &[
            ("server", Kind::Text),
            ("key", Kind::Text),
            ("value_json", Kind::Text),
            ("updated_by", Kind::Text),
            ("updated_at", Kind::Text),
        ],
    },
];

fn value(row: &sqlx::any::AnyRow, column: &str, kind: Kind) -> Result<serde_json::Value> {
    Ok(match kind {
        Kind::Text => serde_json::Value::from(get::<String>(row, column)?),
        Kind::OptText => get::<Option<String>>(row, column)?
            .map_or(serde_json::Value::Null, serde_json::Value::from),
        Kind::Int => serde_json::Value::from(get::<i64>(row, column)?),
        Kind::OptInt => get::<Option<i64>>(row, column)?
            .map_or(serde_json::Value::Null, serde_json::Value::from),
    })
}

fn write_line(out: &mut (dyn Write + Send), value: &serde_json::Value) -> Result<()> {
    let mut line = value.to_string();
    line.push('\n');
    out.write_all(line.as_bytes())
        .map_err(|error| Error::Unavailable(format!("cannot write the backup file: {error}")))
}

/// Rows written per table.
pub type ExportCounts = BTreeMap<String, i64>;

/// Writes the marketing data as JSON lines to `out`, reading inside `tx` so the export is
/// one consistent view (on SQLite the transaction holds the write lock; on Postgres the
/// caller takes the budget lock so no spend lands halfway). Line one is a header with
/// `header`'s fields; then one `{"table": …, "row": {…}}` per row; the last line is a
/// trailer with the counts per table.
pub async fn export(
    tx: &mut WriteTx,
    backend: Backend,
    header: serde_json::Map<String, serde_json::Value>,
    out: &mut (dyn Write + Send),
) -> Result<ExportCounts> {
    let mut first = serde_json::Map::new();
    first.insert("format".into(), "revops-marketing-backup".into());
    first.insert("version".into(), 1.into());
    first.insert("backend".into(), backend.as_str().into());
    first.extend(header);
    write_line(out, &serde_json::Value::Object(first))?;
    let mut counts = ExportCounts::new();
    for table in &TABLES {
        let mut rows = sqlx::query(AssertSqlSafe(table.sql)).fetch(&mut **tx);
        let mut count = 0i64;
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(|error| Error::from_sqlx("read rows to back up", error))?
        {
            let mut fields = serde_json::Map::new();
            for (column, kind) in table.columns {
                fields.insert((*column).to_string(), value(&row, column, *kind)?);
            }
            write_line(
                out,
                &serde_json::json!({"table": table.name, "row": fields}),
            )?;
            count += 1;
        }
        counts.insert(table.name.to_string(), count);
    }
    write_line(out, &serde_json::json!({"end": true, "rows": counts}))?;
    Ok(counts)
}

/// Adds a written backup to the register.
pub async fn insert(tx: &mut WriteTx, backup: &BackupRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO backups (id, file_name, created_at, created_by, note, size_bytes, row_count, sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&backup.id)
    .bind(&backup.file_name)
    .bind(&backup.created_at)
    .bind(&backup.created_by)
    .bind(backup.note.as_deref())
    .bind(backup.size_bytes)
    .bind(backup.row_count)
    .bind(&backup.sha256)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("register a backup", error))?;
    Ok(())
}

/// One page of backups, newest first (by id within a second); deleted ones only when asked.
/// `cursor` is the last id of the previous page.
pub async fn list(
    store: &Store,
    include_deleted: bool,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<BackupRecord>> {
    let limit = crate::filter::page_size(limit, 20, 100);
    let deleted = if include_deleted {
        ""
    } else {
        "deleted_at IS NULL"
    };
    // Ids are `bak_` + a time-ordered suffix (see [`new_id`]), so id order is creation order.
    let (sql, binds) = match cursor {
        Some(cursor) => {
            let and = if deleted.is_empty() { "" } else { " AND " };
            (
                format!(
                    "SELECT {COLUMNS} FROM backups WHERE id < $1{and}{deleted} ORDER BY id DESC LIMIT $2"
                ),
                vec![cursor.to_string()],
            )
        }
        None => {
            let filter = if deleted.is_empty() {
                String::new()
            } else {
                format!(" WHERE {deleted}")
            };
            (
                format!("SELECT {COLUMNS} FROM backups{filter} ORDER BY id DESC LIMIT $1"),
                Vec::new(),
            )
        }
    };
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in &binds {
        query = query.bind(value.as_str());
    }
    let rows = query
        .bind(limit + 1)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("list backups", error))?;
    let mut items = rows.iter().map(record).collect::<Result<Vec<_>>>()?;
    Ok(crate::page(&mut items, limit, |b| b.id.clone()))
}

/// A fresh backup id whose text order is creation order: `bak_` + the UTC time to the
/// microsecond + four random characters.
pub fn new_id() -> String {
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S%6f").to_string();
    let random = crate::ids::new_id("x");
    format!("bak_{stamp}{}", random.get(2..6).unwrap_or("0000"))
}

/// The backup with this id (tombstones included), inside a write transaction.
pub async fn get_in(tx: &mut WriteTx, id: &str) -> Result<BackupRecord> {
    let sql = format!("SELECT {COLUMNS} FROM backups WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a backup", error))?
        .ok_or_else(|| Error::NotFound {
            entity: "backup",
            id: id.to_string(),
        })?;
    record(&row)
}

/// Marks a backup deleted (a tombstone); its file goes once this commits.
pub async fn mark_deleted(tx: &mut WriteTx, id: &str, actor: &str) -> Result<()> {
    sqlx::query(
        "UPDATE backups SET deleted_at = $1, deleted_by = $2 WHERE id = $3 AND deleted_at IS NULL",
    )
    .bind(crate::clock::now())
    .bind(actor)
    .bind(id)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("delete a backup", error))?;
    Ok(())
}

/// The live backups beyond the newest `keep`, oldest first: what retention removes.
pub async fn beyond_retention(tx: &mut WriteTx, keep: i64) -> Result<Vec<BackupRecord>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM backups WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 100000 OFFSET $1"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(keep)
        .fetch_all(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read old backups", error))?;
    let mut old = rows.iter().map(record).collect::<Result<Vec<_>>>()?;
    old.reverse();
    Ok(old)
}

/// The file names of committed tombstones (read outside any write, so only deletions that
/// have committed are seen): the files that may be removed from disk.
pub async fn deleted_files(store: &Store) -> Result<Vec<String>> {
    sqlx::query_scalar("SELECT file_name FROM backups WHERE deleted_at IS NOT NULL ORDER BY id")
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read deleted backups", error))
}

/// Waits until the transaction that last wrote backup `id`'s row has ended (committed or
/// rolled back), then says whether the row is a committed tombstone, with its file name.
///
/// SQLite: `BEGIN IMMEDIATE` waits for the writer holding the file's write lock. Postgres:
/// `SELECT … FOR UPDATE` waits for the transaction holding the row's lock. Nothing is
/// written; the waiting transaction is rolled back.
pub async fn settled_tombstone(store: &Store, id: &str) -> Result<Option<String>> {
    let mut tx = store.begin_write().await?;
    let lock = match store.backend() {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let sql = format!("SELECT file_name, deleted_at FROM backups WHERE id = $1{lock}");
    let row: Option<(String, Option<String>)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|error| Error::from_sqlx("read a backup", error))?;
    tx.rollback()
        .await
        .map_err(|error| Error::from_sqlx("end a read", error))?;
    Ok(row.and_then(|(file, deleted)| deleted.map(|_| file)))
}

/// The file of a SQLite store's main database (`None` on Postgres or for a temporary one).
pub async fn sqlite_main_file(store: &Store) -> Result<Option<String>> {
    if store.backend() != Backend::Sqlite {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("find the database file", error))
}
