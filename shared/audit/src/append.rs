//! Appending to the chain: inside the caller's write transaction, so an entry commits with
//! the change it records or not at all ([`Auditor::append`]); or in a transaction of its own
//! for calls that change nothing ([`Auditor::append_committed`]), where appends that arrive
//! while one commits are committed together next (a group commit).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

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
    /// The head this auditor last wrote or read. Only a guess: another process may have
    /// appended since, or the transaction that wrote it may have rolled back. An append
    /// built on it inserts only if the store's head is still exactly this entry (see
    /// [`Auditor::append_all`]), and otherwise reads the real head and builds again.
    head: Arc<Mutex<Option<Head>>>,
    /// Appends waiting for [`Auditor::append_committed`]'s committer.
    queue: Arc<Mutex<CommitQueue>>,
}

/// Appends waiting to be committed in a transaction of their own. While one group commits,
/// the appends that arrive wait here, and the next commit takes them all.
#[derive(Debug, Default)]
struct CommitQueue {
    waiting: Vec<WaitingAppend>,
    /// Whether a committer is running (an appender, or a task it handed over to); it runs
    /// until it finds the queue empty. Being
    /// the only one, it is also the only appender through this auditor that builds on the
    /// cached head without holding the write lock, so it never races itself to extend it.
    committing: bool,
}

#[derive(Debug)]
struct WaitingAppend {
    entries: Vec<Prepared>,
    appended: tokio::sync::oneshot::Sender<Result<Vec<AuditEntry>>>,
}

/// The most entries one group commit takes from the queue (a caller's own group is never
/// split).
const MOST_ENTRIES_PER_COMMIT: usize = 2048;

/// An entry ready to be numbered and hashed: arguments digested, actor pseudonymised, detail
/// cut to length. It owns its text, so it can wait in the commit queue.
#[derive(Debug, Clone)]
struct Prepared {
    server: String,
    /// The actor's name, kept only to register it in `audit_actors`; never hashed.
    actor_name: String,
    actor: String,
    tool: String,
    kind: String,
    args_digest: String,
    outcome: String,
    detail: String,
}

/// The newest entry's link fields: what the next entry continues.
#[derive(Debug, Clone)]
struct Head {
    seq: i64,
    hash: String,
    occurred_at: Option<String>,
}

impl Head {
    fn genesis() -> Head {
        Head {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
            occurred_at: None,
        }
    }
}

const COLUMNS: &str =
    "seq, occurred_at, server, actor, tool, kind, args_digest, outcome, detail, prev_hash, hash";

/// One entry, inserted only when the store's head is the entry it continues: nothing at its
/// seq yet, and its predecessor (if any) carrying its `prev_hash`. Seqs only ever grow by one
/// at the head, so nothing can exist after a free seq. Equality lookups only, so every plan
/// (a Postgres generic plan on a table whose statistics are stale, too) uses the indexes.
const GUARDED_INSERT: &str = "INSERT INTO audit_log (seq, occurred_at, server, actor, tool, kind, args_digest, outcome, detail, prev_hash, hash) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
     WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = $1) \
     AND ($1 = 1 OR EXISTS (SELECT 1 FROM audit_log WHERE seq = $1 - 1 AND hash = $10))";

/// Serialises appends on Postgres: every appender takes this transaction-scoped lock before
/// reading the head, so two connections can never extend the same head.
const POSTGRES_APPEND_LOCK: i64 = 0x7265_766f_7073_0001;

/// [`GUARDED_INSERT`] on Postgres, taking the append lock in the same statement: one round
/// trip instead of two. The statement's snapshot may predate the lock, so its guard can pass
/// on a head that another connection has just extended; the insert then meets that entry's
/// `seq` (or `prev_hash`) in a unique index, which sees committed rows whatever the snapshot,
/// and `ON CONFLICT DO NOTHING` turns the conflict into "nothing inserted" instead of an error
/// that would abort the caller's transaction. The caller then reads the real head under the
/// lock, in a new statement and so a new snapshot.
const POSTGRES_LOCKED_GUARDED_INSERT: &str = "WITH append_lock AS (SELECT pg_advisory_xact_lock($12)) \
     INSERT INTO audit_log (seq, occurred_at, server, actor, tool, kind, args_digest, outcome, detail, prev_hash, hash) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM append_lock \
     WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = $1) \
     AND ($1 = 1 OR EXISTS (SELECT 1 FROM audit_log WHERE seq = $1 - 1 AND hash = $10)) \
     ON CONFLICT DO NOTHING";

/// One entry, continuing the cached head, as the last statement of a write call's
/// transaction ([`WriteTx::commit_after`]). Nothing can be checked between it and the
/// `COMMIT` that follows it, so where [`GUARDED_INSERT`] inserts nothing on a stale guess,
/// this one fails: its `hash` is `NULL` unless the predecessor is in place (refused by the
/// column's `NOT NULL`), and a `seq` already taken breaks the primary key. The failed
/// statement stops the `COMMIT`.
const INSERT_ON_HEAD: &str = "INSERT INTO audit_log (seq, occurred_at, server, actor, tool, kind, args_digest, outcome, detail, prev_hash, hash) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
     CASE WHEN $1 = 1 OR EXISTS (SELECT 1 FROM audit_log WHERE seq = $1 - 1 AND hash = $10) THEN $11 END";

/// [`INSERT_ON_HEAD`] on Postgres: the procedure of migration 0016, which takes the append
/// lock, checks the head in a snapshot taken after it, and inserts (or raises). Postgres
/// takes a message of several statements only as a simple query, without a prepared
/// statement; the procedure keeps the insert's plan for the connection instead.
const POSTGRES_INSERT_ON_HEAD: &str =
    "CALL revops_append_audit_entry($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

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
            head: Arc::default(),
            queue: Arc::default(),
        })
    }

    /// Appends one entry in `tx` and returns it. The caller commits.
    pub async fn append(&self, tx: &mut WriteTx, new: NewEntry<'_>) -> Result<AuditEntry> {
        only_entry(self.append_all(tx, &[new]).await?)
    }

    /// Appends one entry in `tx` and commits both: a write call's change and its record, which
    /// are kept together or not at all. Returns the committed entry.
    ///
    /// With the head cached and the actor registered, the entry rides with the commit: one
    /// trip to the database for both ([`WriteTx::commit_after`] with [`INSERT_ON_HEAD`]).
    /// Should the guess be stale, that statement fails and is undone, the transaction comes
    /// back, and the entry goes the long way: the head read under the lock, the insert, the
    /// commit.
    pub async fn append_and_commit(&self, tx: WriteTx, new: NewEntry<'_>) -> Result<AuditEntry> {
        const ACTION: &str = "commit a change with its audit entry";
        let prepared = [self.prepare(&new)];
        let mut tx = tx;
        let cached = self.head.lock().ok().and_then(|head| head.clone());
        if let Some(head) = cached
            && self.all_registered(&prepared)
        {
            let appended = build(head, &prepared);
            let mut values = Vec::with_capacity(12);
            for entry in &appended {
                values.push(store::Value::Integer(entry.seq));
                values.extend(
                    entry
                        .view()
                        .text_fields()
                        .map(|text| store::Value::Text(text.to_owned())),
                );
            }
            let statement = match self.backend {
                Backend::Postgres => {
                    values.push(store::Value::Integer(POSTGRES_APPEND_LOCK));
                    POSTGRES_INSERT_ON_HEAD
                }
                Backend::Sqlite => INSERT_ON_HEAD,
            };
            match tx.commit_after(ACTION, statement, &values).await {
                Ok(()) => {
                    self.remember_head(&appended);
                    return only_entry(appended);
                }
                Err(store::CommitAfter::NotCommitted(error)) => {
                    self.forget_head();
                    return Err(error.into());
                }
                Err(store::CommitAfter::StatementFailed { tx: back, .. }) => {
                    // Another process appended since, or the transaction that wrote the
                    // cached head rolled back.
                    self.forget_head();
                    tx = back;
                }
            }
        }
        let appended = self.append_prepared(&mut tx, &prepared).await?;
        tx.commit().await.map_err(db_error(ACTION))?;
        only_entry(appended)
    }

    /// Appends entries in order in `tx`, reading the head once and inserting many rows per
    /// statement (a group commit). The caller commits.
    pub async fn append_all(
        &self,
        tx: &mut WriteTx,
        entries: &[NewEntry<'_>],
    ) -> Result<Vec<AuditEntry>> {
        let prepared: Vec<Prepared> = entries.iter().map(|new| self.prepare(new)).collect();
        self.append_prepared(tx, &prepared).await
    }

    async fn append_prepared(
        &self,
        tx: &mut WriteTx,
        entries: &[Prepared],
    ) -> Result<Vec<AuditEntry>> {
        let postgres = self.backend == Backend::Postgres;
        let cached = self.head.lock().ok().and_then(|head| head.clone());
        let built_on_cache = cached.is_some();
        let head = match cached {
            Some(head) => head,
            None => {
                if postgres {
                    lock_postgres_appends(tx).await?;
                }
                read_head(tx).await?
            }
        };
        self.register_actors(tx, entries).await?;
        let mut appended = build(head, entries);
        let mut rest = appended.as_slice();
        if built_on_cache && let Some((first, after_first)) = rest.split_first() {
            // Saves reading the head on every append: one statement both checks the guess
            // and inserts (and on Postgres takes the append lock too).
            let guarded = if postgres {
                bind_entry(sqlx::query(POSTGRES_LOCKED_GUARDED_INSERT), first)
                    .bind(POSTGRES_APPEND_LOCK)
            } else {
                bind_entry(sqlx::query(GUARDED_INSERT), first)
            };
            let inserted = guarded
                .execute(&mut **tx)
                .await
                .map_err(db_error("append to the audit log"))?
                .rows_affected();
            if inserted == 1 {
                rest = after_first;
            } else {
                // The guess was stale. When the guard failed on its own, the statement may
                // not have reached the lock: take it (again is harmless) before reading.
                if postgres {
                    lock_postgres_appends(tx).await?;
                }
                let head = read_head(tx).await?;
                appended = build(head, entries);
                rest = appended.as_slice();
            }
        }
        insert_all(tx, rest).await?;
        self.remember_head(&appended);
        Ok(appended)
    }

    /// Appends entries in order in a transaction of their own and commits them: the entries
    /// of calls that change nothing (successful reads in groups, refusals, errors). Returns
    /// once they are committed.
    ///
    /// Appends made while another commits wait, and the next commit takes every waiting one
    /// (each caller's entries stay together and in order): with several callers, one commit,
    /// and with `synchronous=FULL` one disk flush, serves many entries. The caller that finds
    /// nobody committing commits the first group itself, and a task of its own takes what
    /// queued meanwhile; a caller that stops waiting hands the queue to that task, so it
    /// cannot leave the others waiting (see `CommitterRunning`).
    ///
    /// When the head is cached and every actor registered, a commit is one trip to the
    /// database: one guarded statement for up to [`ROWS_PER_STATEMENT`] entries
    /// ([`store::Store::write_statement`], both backends), or on SQLite one multi-statement
    /// transaction for more ([`store::Store::write_in_one_trip`]). The rows are inserted only
    /// if the head is still the cached one; otherwise nothing is, and the commit goes the long
    /// way (begin, read the head under the lock, insert, commit).
    pub async fn append_committed(
        &self,
        store: &store::Store,
        entries: &[NewEntry<'_>],
    ) -> Result<Vec<AuditEntry>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let (appended, receiver) = tokio::sync::oneshot::channel();
        let waiting = WaitingAppend {
            entries: entries.iter().map(|new| self.prepare(new)).collect(),
            appended,
        };
        let start_committer = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push(waiting);
            !std::mem::replace(&mut queue.committing, true)
        };
        if start_committer {
            // The caller that found nobody committing commits the first group (its own
            // entries, and whatever joined them) itself: handing it to a task would cost, on
            // a runtime of several threads, waking another thread and then waking this one
            // back (on a 2-core VM, 150 µs an append instead of 90). What queued meanwhile
            // goes to a task, so this caller answers after one commit, not after everyone's;
            // and should it stop waiting part-way, the guard hands the queue to a task too.
            let mut running = CommitterRunning {
                auditor: self.clone(),
                store: store.clone(),
                hands_over: true,
                finished: false,
            };
            if self.commit_next_group(store, &mut running).await {
                self.finish_or_hand_over(running);
            }
        }
        receiver.await.map_err(|_| {
            crate::Error::Store(store::Error::Internal(
                "hear back from the audit log's committer",
            ))
        })?
    }

    /// The committer's task: commits what waits in the queue, a group at a time, until it is
    /// empty.
    async fn commit_queued(&self, store: &store::Store, running: &mut CommitterRunning) {
        while self.commit_next_group(store, running).await {}
    }

    /// Ends `running` if the queue is empty (nobody commits any more), or hands the queue to
    /// a task of its own.
    fn finish_or_hand_over(&self, mut running: CommitterRunning) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.waiting.is_empty() {
            queue.committing = false;
            running.finished = true;
        }
        drop(queue);
        // Unfinished, the guard spawns the task as it drops.
        drop(running);
    }

    /// Commits the group at the front of the queue and answers its callers. False, and
    /// nobody committing any more, when the queue was empty.
    async fn commit_next_group(
        &self,
        store: &store::Store,
        running: &mut CommitterRunning,
    ) -> bool {
        let group = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.waiting.is_empty() {
                queue.committing = false;
                running.finished = true;
                return false;
            }
            let mut taken = 0;
            let split = queue
                .waiting
                .iter()
                .position(|waiting| {
                    taken += waiting.entries.len();
                    taken > MOST_ENTRIES_PER_COMMIT
                })
                .unwrap_or(queue.waiting.len())
                .max(1);
            queue.waiting.drain(..split).collect::<Vec<_>>()
        };
        let entries: Vec<Prepared> = group
            .iter()
            .flat_map(|waiting| waiting.entries.iter().cloned())
            .collect();
        match self.commit_now(store, &entries).await {
            Ok(appended) => {
                let mut appended = appended.into_iter();
                for waiting in group {
                    let theirs = appended.by_ref().take(waiting.entries.len()).collect();
                    // A caller that has stopped waiting no longer needs to hear.
                    let _ = waiting.appended.send(Ok(theirs));
                }
            }
            Err(error) => {
                for waiting in group {
                    let _ = waiting.appended.send(Err(error.clone()));
                }
            }
        }
        true
    }

    /// Commits `entries` in a transaction of their own, now.
    async fn commit_now(
        &self,
        store: &store::Store,
        entries: &[Prepared],
    ) -> Result<Vec<AuditEntry>> {
        if let Some(appended) = self.append_in_one_trip(store, entries).await? {
            return Ok(appended);
        }
        let mut tx = store.begin_write().await?;
        let appended = self.append_prepared(&mut tx, entries).await?;
        tx.commit()
            .await
            .map_err(db_error("commit audit entries"))?;
        Ok(appended)
    }

    /// [`Auditor::append_committed`]'s one-trip path: `None` when it does not apply (no
    /// cached head, an actor not yet registered, a large group on Postgres) or the cached
    /// head was stale.
    async fn append_in_one_trip(
        &self,
        store: &store::Store,
        entries: &[Prepared],
    ) -> Result<Option<Vec<AuditEntry>>> {
        let Some(head) = self.head.lock().ok().and_then(|head| head.clone()) else {
            return Ok(None);
        };
        if !self.all_registered(entries) {
            return Ok(None);
        }
        let postgres = self.backend == Backend::Postgres;
        let form = if entries.len() <= ROWS_PER_STATEMENT {
            InsertForm::Statement { postgres }
        } else if postgres {
            // Several statements need a transaction, and a Postgres transaction costs a round
            // trip a statement; a group this large amortises them.
            return Ok(None);
        } else {
            InsertForm::Transaction
        };
        let appended = build(head, entries);
        let (statements, arguments) = guarded_inserts(&appended, form)?;
        const ACTION: &str = "append to the audit log";
        let written = match form {
            InsertForm::Statement { .. } => store
                .write_statement(ACTION, &statements, arguments)
                .await
                .map(|rows| rows as usize),
            InsertForm::Transaction => store
                .write_in_one_trip(ACTION, &statements, arguments)
                .await
                .map(|rows| rows.len()),
        };
        let inserted = match written {
            Ok(inserted) => inserted,
            // Postgres: the head moved after the statement's snapshot (see `guarded_inserts`).
            Err(store::Error::Conflict(_)) => 0,
            Err(error) => return Err(error.into()),
        };
        if inserted == 0 {
            // Another process appended since, or the transaction that wrote the cached head
            // rolled back: nothing was written.
            self.forget_head();
            return Ok(None);
        }
        if inserted != appended.len() {
            // Each chunk after the first inserts only on top of the chunk before it, and a
            // chunk is one statement, so this cannot happen; if it did, the chain would
            // still be whole but entries missing, which must be loud.
            tracing::error!(
                inserted,
                expected = appended.len(),
                "an audit group was written in part"
            );
            return Err(crate::Error::Store(store::Error::Internal(
                "append a whole group to the audit log",
            )));
        }
        self.remember_head(&appended);
        Ok(Some(appended))
    }

    /// `new`, ready to be numbered and hashed.
    fn prepare(&self, new: &NewEntry<'_>) -> Prepared {
        Prepared {
            server: new.server.to_string(),
            actor_name: new.actor_name.to_string(),
            actor: self.pseudonym(new.actor_name),
            tool: new.tool.to_string(),
            kind: new.kind.to_string(),
            args_digest: crate::canonical::arguments_digest(new.arguments),
            outcome: new.outcome.to_string(),
            detail: new.detail.chars().take(200).collect(),
        }
    }

    /// Registers (in `tx`) the entries' actors not known to be registered.
    async fn register_actors(&self, tx: &mut WriteTx, entries: &[Prepared]) -> Result<()> {
        for entry in entries {
            if !self.is_registered(&entry.actor) {
                // Not cached: `tx` may still roll back, which would take the registration
                // with it.
                insert_actor(tx, &entry.actor, &entry.actor_name).await?;
            }
        }
        Ok(())
    }

    fn is_registered(&self, pseudonym: &str) -> bool {
        self.registered
            .lock()
            .is_ok_and(|known| known.contains(pseudonym))
    }

    /// Whether every entry's actor is known to be registered.
    fn all_registered(&self, entries: &[Prepared]) -> bool {
        self.registered
            .lock()
            .is_ok_and(|known| entries.iter().all(|entry| known.contains(&entry.actor)))
    }

    fn forget_head(&self) {
        if let Ok(mut head) = self.head.lock() {
            *head = None;
        }
    }

    fn remember_head(&self, appended: &[AuditEntry]) {
        if let (Some(last), Ok(mut head)) = (appended.last(), self.head.lock()) {
            *head = Some(Head {
                seq: last.seq,
                hash: last.hash.clone(),
                occurred_at: Some(last.occurred_at.clone()),
            });
        }
    }

    /// The pseudonym of an actor: `u_` and 24 hex digits of SHA-256 over the store's salt and
    /// the name. Registers the name in `audit_actors` (in `tx`) unless it is known to be
    /// registered already (see [`Auditor::register_actor`]).
    pub async fn actor_ref(&self, tx: &mut WriteTx, name: &str) -> Result<String> {
        let pseudonym = self.pseudonym(name);
        if self.is_registered(&pseudonym) {
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

/// The one entry of a one-entry append.
fn only_entry(mut appended: Vec<AuditEntry>) -> Result<AuditEntry> {
    match (appended.pop(), appended.is_empty()) {
        (Some(entry), true) => Ok(entry),
        _ => Err(crate::Error::Store(store::Error::Internal(
            "append to the audit log",
        ))),
    }
}

/// The entries continuing `head`, hashed, not yet inserted.
fn build(head: Head, entries: &[Prepared]) -> Vec<AuditEntry> {
    let Head {
        mut seq,
        hash: mut prev_hash,
        occurred_at: mut previous_time,
    } = head;
    let mut appended = Vec::with_capacity(entries.len());
    for prepared in entries {
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
            server: prepared.server.clone(),
            actor: prepared.actor.clone(),
            tool: prepared.tool.clone(),
            kind: prepared.kind.clone(),
            args_digest: prepared.args_digest.clone(),
            outcome: prepared.outcome.clone(),
            detail: prepared.detail.clone(),
            prev_hash: std::mem::take(&mut prev_hash),
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        prev_hash = entry.hash.clone();
        previous_time = Some(entry.occurred_at.clone());
        appended.push(entry);
    }
    appended
}

/// Held by whoever is committing the queue: an appender, or the task it handed over to.
/// Should an appender stop before it has emptied the queue (it stopped waiting, or
/// panicked), the appends still waiting go on in a task of their own. Should that task stop
/// too (its runtime shutting down), or no runtime be there to run it, they are answered with
/// an error (their senders dropped) instead of waiting forever, and the next append starts
/// a new committer. The group being committed when it stopped hears an error too: whether
/// it was committed is not known.
struct CommitterRunning {
    auditor: Auditor,
    store: store::Store,
    /// Whether, stopping early, it hands the queue over to a task (an appender does; the
    /// task does not, so a runtime that drops every new task cannot make it spawn forever).
    hands_over: bool,
    finished: bool,
}

impl Drop for CommitterRunning {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if self.hands_over
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Made before the task is spawned, so a task dropped before it ever runs (its
            // runtime shutting down) lands here and empties the queue.
            let mut running = CommitterRunning {
                auditor: self.auditor.clone(),
                store: self.store.clone(),
                hands_over: false,
                finished: false,
            };
            runtime.spawn(async move {
                let (auditor, store) = (running.auditor.clone(), running.store.clone());
                auditor.commit_queued(&store, &mut running).await;
            });
            return;
        }
        let mut queue = self
            .auditor
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.waiting.clear();
        queue.committing = false;
    }
}

/// Takes the Postgres append lock for the rest of `tx`.
async fn lock_postgres_appends(tx: &mut WriteTx) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(POSTGRES_APPEND_LOCK)
        .execute(&mut **tx)
        .await
        .map_err(db_error("lock the audit log"))?;
    Ok(())
}

/// The store's newest entry, read inside the write transaction (so under the write lock).
async fn read_head(tx: &mut WriteTx) -> Result<Head> {
    let row = sqlx::query("SELECT seq, hash, occurred_at FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error("read the audit head"))?;
    let Some(row) = row else {
        return Ok(Head::genesis());
    };
    let read = || db_error("read the audit head");
    Ok(Head {
        seq: row.try_get("seq").map_err(read())?,
        hash: row.try_get("hash").map_err(read())?,
        occurred_at: Some(row.try_get("occurred_at").map_err(read())?),
    })
}

fn bind_entry<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    entry: &'q AuditEntry,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
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
        .bind(entry.hash.as_str())
}

/// Inserts entries, many rows per statement. The caller holds the write lock and has checked
/// that they continue the head.
async fn insert_all(tx: &mut WriteTx, entries: &[AuditEntry]) -> Result<()> {
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        let mut sql = format!("INSERT INTO audit_log ({COLUMNS}) VALUES ");
        push_value_rows(&mut sql, chunk.len(), 0);
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for entry in chunk {
            query = bind_entry(query, entry);
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(db_error("append to the audit log"))?;
    }
    Ok(())
}

/// The most rows one insert statement carries: large enough to amortise a statement, small
/// enough for SQLite's parameter handling to stay fast (11 values a row).
const ROWS_PER_STATEMENT: usize = 40;

/// How [`guarded_inserts`] writes a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InsertForm {
    /// One statement, its own transaction ([`store::Store::write_statement`]); on Postgres it
    /// takes the append lock too.
    Statement { postgres: bool },
    /// SQLite: statements of [`ROWS_PER_STATEMENT`] rows run as one transaction
    /// ([`store::Store::write_in_one_trip`]), each returning its rows' `seq`.
    Transaction,
}

/// The statements that insert `entries` (continuing a guessed head), and their arguments.
/// The first statement inserts only if the store's head is the entry the first one continues
/// (as [`GUARDED_INSERT`]); each later one only if the last row of the statement before it
/// is in the store. So the group is inserted whole or not at all.
///
/// On Postgres the statement's snapshot may predate the append lock it takes, so the guard
/// can pass on a head that another connection has just extended; the insert then breaks the
/// `seq` or `prev_hash` unique index and fails whole. (`ON CONFLICT DO NOTHING`, as in
/// [`POSTGRES_LOCKED_GUARDED_INSERT`], would skip only the rows that conflict and could
/// store a later row of the group without the earlier ones.)
fn guarded_inserts(
    entries: &[AuditEntry],
    form: InsertForm,
) -> Result<(String, sqlx::any::AnyArguments)> {
    let mut sql = String::new();
    let mut arguments = sqlx::any::AnyArguments::default();
    let mut bound = 0usize;
    // The parameter numbers of the previous chunk's last row's seq and hash.
    let mut previous_last: Option<(usize, usize)> = None;
    for chunk in entries.chunks(ROWS_PER_STATEMENT) {
        if !sql.is_empty() {
            sql.push_str("; ");
        }
        let postgres = form == InsertForm::Statement { postgres: true };
        if postgres {
            // Numbered after every row's values, so the rows are numbered alike on both.
            let lock = entries.len() * 11 + 1;
            sql.push_str(&format!(
                "WITH append_lock AS (SELECT pg_advisory_xact_lock(${lock})) "
            ));
        }
        sql.push_str("INSERT INTO audit_log (");
        sql.push_str(COLUMNS);
        sql.push_str(") SELECT v.* FROM (VALUES ");
        let first_row = bound;
        push_value_rows(&mut sql, chunk.len(), first_row);
        for entry in chunk {
            bound += 11;
            add(&mut arguments, entry.seq)?;
            for value in entry.view().text_fields() {
                add(&mut arguments, value.to_owned())?;
            }
        }
        sql.push_str(") AS v");
        if postgres {
            sql.push_str(" CROSS JOIN append_lock");
        }
        let seq = format!("${}", first_row + 1);
        let prev_hash = format!("${}", first_row + 10);
        match previous_last {
            None => sql.push_str(&format!(
                " WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = {seq}) \
                 AND ({seq} = 1 OR EXISTS (SELECT 1 FROM audit_log WHERE seq = {seq} - 1 AND hash = {prev_hash}))"
            )),
            Some((last_seq, last_hash)) => sql.push_str(&format!(
                " WHERE EXISTS (SELECT 1 FROM audit_log WHERE seq = ${last_seq} AND hash = ${last_hash})"
            )),
        }
        if form == InsertForm::Transaction {
            sql.push_str(" RETURNING seq");
        }
        let last_row = bound - 11;
        previous_last = Some((last_row + 1, last_row + 11));
    }
    if form == (InsertForm::Statement { postgres: true }) {
        add(&mut arguments, POSTGRES_APPEND_LOCK)?;
    }
    Ok((sql, arguments))
}

/// Appends `rows` rows of 11 parameters (`($n, …), ($m, …)`), numbered after the first
/// `before` parameters.
fn push_value_rows(sql: &mut String, rows: usize, before: usize) {
    for row in 0..rows {
        let base = before + row * 11;
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for column in 1..=11 {
            if column > 1 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(base + column).to_string());
        }
        sql.push(')');
    }
}

fn add<T>(arguments: &mut sqlx::any::AnyArguments, value: T) -> Result<()>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    sqlx::Arguments::add(arguments, value)
        .map_err(|_| crate::Error::Store(store::Error::Internal("bind an audit entry")))
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
