//! Appending to the chain, inside the caller's write transaction, so an entry commits with
//! the change it records or not at all.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use rand::RngExt;
use serde_json::Value;
use sqlx::Row;
use store::{Backend, WriteTx};

use crate::entry::{AuditEntry, GENESIS_HASH, sha256_hex};
use crate::{Result, db_error};

/// A tool call (or operator action) to record.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    pub server: &'a str,
    /// The actor's name; only its pseudonym enters the chain.
    pub actor_name: &'a str,
    pub tool: &'a str,
    /// read, write or destructive.
    pub kind: &'a str,
    /// The call's arguments; only their digest enters the chain.
    pub arguments: &'a Value,
    /// ok, error, denied or awaiting_confirmation.
    pub outcome: &'a str,
    /// Short, chosen by code, no personal data.
    pub detail: &'a str,
}

/// Appends entries for one store. Holds the store's pseudonym salt, read (or created and
/// committed) once when the auditor opens, so pseudonyms never change.
#[derive(Debug, Clone)]
pub struct Auditor {
    backend: Backend,
    salt: String,
    /// Pseudonyms whose names are known to be committed in `audit_actors`.
    registered: Arc<Mutex<HashSet<String>>>,
}

/// Serialises appends on Postgres: every appender takes this transaction-scoped lock before
/// reading the head, so two connections can never extend the same head.
const POSTGRES_APPEND_LOCK: i64 = 0x7265_766f_7073_0001;

impl Auditor {
    /// Opens the auditor of `store`, creating the pseudonym salt on first use.
    pub async fn open(store: &store::Store) -> Result<Auditor> {
        let mut tx = store.begin_write().await?;
        sqlx::query(
            "INSERT INTO store_settings (key, value, created_at) VALUES ('audit_actor_salt', $1, $2) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(random_hex(32))
        .bind(store::clock::now())
        .execute(&mut *tx)
        .await
        .map_err(db_error("create the actor salt"))?;
        let salt = sqlx::query_scalar::<_, String>(
            "SELECT value FROM store_settings WHERE key = 'audit_actor_salt'",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error("read the actor salt"))?;
        tx.commit().await.map_err(db_error("save the actor salt"))?;
        Ok(Auditor {
            backend: store.backend(),
            salt,
            registered: Arc::default(),
        })
    }

    /// Appends one entry in `tx` and returns it. The caller commits.
    pub async fn append(&self, tx: &mut WriteTx, new: NewEntry<'_>) -> Result<AuditEntry> {
        let mut appended = self.append_all(tx, &[new]).await?;
        appended
            .pop()
            .ok_or(crate::Error::Store(store::Error::Internal(
                "append to the audit log",
            )))
    }

    /// Appends entries in order in `tx`, reading the head once and inserting many rows per
    /// statement (a group commit). The caller commits.
    pub async fn append_all(
        &self,
        tx: &mut WriteTx,
        entries: &[NewEntry<'_>],
    ) -> Result<Vec<AuditEntry>> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(POSTGRES_APPEND_LOCK)
                .execute(&mut **tx)
                .await
                .map_err(db_error("lock the audit log"))?;
        }
        let head =
            sqlx::query("SELECT seq, hash, occurred_at FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error("read the audit head"))?;
        let (mut seq, mut prev_hash, mut previous_time) = match head {
            Some(row) => (
                row.try_get::<i64, _>("seq")
                    .map_err(db_error("read the audit head"))?,
                row.try_get::<String, _>("hash")
                    .map_err(db_error("read the audit head"))?,
                Some(
                    row.try_get::<String, _>("occurred_at")
                        .map_err(db_error("read the audit head"))?,
                ),
            ),
            None => (0, GENESIS_HASH.to_string(), None),
        };
        let mut appended = Vec::with_capacity(entries.len());
        for new in entries {
            let actor = self.actor_ref(tx, new.actor_name).await?;
            let now = store::clock::now();
            // Time never goes backwards in the chain, even if the clock does.
            let occurred_at = match previous_time.take() {
                Some(previous) if previous > now => previous,
                _ => now,
            };
            seq += 1;
            let mut entry = AuditEntry {
                seq,
                occurred_at,
                server: new.server.to_string(),
                actor,
                tool: new.tool.to_string(),
                kind: new.kind.to_string(),
                args_digest: crate::canonical::arguments_digest(new.arguments),
                outcome: new.outcome.to_string(),
                detail: new.detail.chars().take(200).collect(),
                prev_hash: std::mem::take(&mut prev_hash),
                hash: String::new(),
            };
            entry.hash = entry.computed_hash();
            prev_hash = entry.hash.clone();
            previous_time = Some(entry.occurred_at.clone());
            appended.push(entry);
        }
        // 40 rows (440 bound values) per statement: large enough to amortise a statement,
        // small enough for SQLite's parameter handling to stay fast.
        for chunk in appended.chunks(40) {
            let mut sql = String::from(
                "INSERT INTO audit_log (seq, occurred_at, server, actor, tool, kind, args_digest, outcome, detail, prev_hash, hash) VALUES ",
            );
            for row in 0..chunk.len() {
                let base = row * 11;
                let placeholders: Vec<String> =
                    (1..=11).map(|k| format!("${}", base + k)).collect();
                if row > 0 {
                    sql.push(',');
                }
                sql.push('(');
                sql.push_str(&placeholders.join(", "));
                sql.push(')');
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for entry in chunk {
                query = query
                    .bind(entry.seq)
                    .bind(entry.occurred_at.as_str())
                    .bind(entry.server.as_str())
                    .bind(entry.actor.as_str())
                    .bind(entry.tool.as_str())
                    .bind(entry.kind.as_str())
                    .bind(entry.args_digest.as_str())
                    .bind(entry.outcome.as_str())
                    .bind(entry.detail.as_str())
                    .bind(entry.prev_hash.as_str())
                    .bind(entry.hash.as_str());
            }
            query
                .execute(&mut **tx)
                .await
                .map_err(db_error("append to the audit log"))?;
        }
        Ok(appended)
    }

    /// The pseudonym of an actor: `u_` and 24 hex digits of SHA-256 over the store's salt and
    /// the name. Registers the name in `audit_actors` (in `tx`) unless it is known to be
    /// registered already (see [`Auditor::register_actor`]).
    pub async fn actor_ref(&self, tx: &mut WriteTx, name: &str) -> Result<String> {
        let pseudonym = self.pseudonym(name);
        if self
            .registered
            .lock()
            .is_ok_and(|known| known.contains(&pseudonym))
        {
            return Ok(pseudonym);
        }
        // Not cached: `tx` may still roll back, which would take the registration with it.
        insert_actor(tx, &pseudonym, name).await?;
        Ok(pseudonym)
    }

    /// Registers an actor's name in its own committed transaction, so later appends by that
    /// actor skip the registration. Servers register their actors when they start.
    pub async fn register_actor(&self, store: &store::Store, name: &str) -> Result<String> {
        let pseudonym = self.pseudonym(name);
        let mut tx = store.begin_write().await?;
        insert_actor(&mut tx, &pseudonym, name).await?;
        tx.commit()
            .await
            .map_err(db_error("register an audit actor"))?;
        if let Ok(mut known) = self.registered.lock() {
            known.insert(pseudonym.clone());
        }
        Ok(pseudonym)
    }

    /// The pseudonym of `name`, without touching the store (for queries by actor).
    pub fn pseudonym(&self, name: &str) -> String {
        format!(
            "u_{}",
            &sha256_hex(format!("revops-actor-v1\0{}\0{name}", self.salt).as_bytes())[..24]
        )
    }
}

async fn insert_actor(tx: &mut WriteTx, pseudonym: &str, name: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_actors (actor_ref, display_name, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (actor_ref) DO NOTHING",
    )
    .bind(pseudonym)
    .bind(name)
    .bind(store::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(db_error("register an audit actor"))?;
    Ok(())
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let buffer: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
    hex::encode(buffer)
}
