//! The RevOps store: one API over SQLite (the zero-set-up default) and Postgres.
//!
//! Every server and the operator CLI reach the database only through this crate.
//!
//! # Layout
//! - [`Store`] (this file): connecting, migrating, write transactions, the backend in use.
//! - [`location`]: where the database lives (`REVOPS_DATABASE_URL`, or a SQLite file in the
//!   user's data directory).
//! - [`clock`]: the one timestamp format of the store (UTC RFC 3339, fixed width).
//! - [`ids`]: prefixed record ids (`acc_…`, `lead_…`).
//! - [`records`]: the plain domain types the repositories return.
//! - [`accounts`], [`leads`], [`opportunities`], [`campaigns`], [`support`], [`activities`],
//!   [`overview`], [`credentials`], [`tasks`], [`predictions`], [`search`], [`settings`], [`funnel`], [`attribution`], [`audiences`], [`email`],
//!   [`backups`], [`health`], [`interventions`], [`tickets`], [`erasure`], [`models`]: repositories, one
//!   module per slice of the domain.
//!
//! # Invariants
//! - SQL and driver errors never leave this crate as text a tool caller could see:
//!   [`Error`] says what went wrong in domain terms; the driver detail is logged to stderr.
//! - Writes go through [`Store::begin_write`], which takes the SQLite write lock up front
//!   (`BEGIN IMMEDIATE`), so several processes sharing one file wait for each other
//!   (busy timeout) instead of failing with `database is locked`; or, for a short write
//!   that must cost one round trip, [`Store::write_statement`] (one statement, its own
//!   transaction) and [`Store::write_in_one_trip`] (SQLite: a whole transaction in one
//!   execution). None of them can leave a transaction open behind it. On SQLite all three
//!   first take the process's turn to write, so a process's writers queue in order.
//! - Money is integer minor units; timestamps are UTC text from [`clock`].

pub mod accounts;
pub mod activities;
pub mod attribution;
pub mod audiences;
pub mod backups;
pub mod campaigns;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod email;
pub mod erasure;
mod error;
mod filter;
pub mod funnel;
pub mod health;
pub mod ids;
pub mod interventions;
pub mod leads;
pub mod location;
pub mod model_features;
pub mod models;
pub mod opportunities;
pub mod overview;
pub mod predictions;
pub mod records;
mod rows;
pub mod search;
pub mod settings;
pub mod support;
pub mod sync;
pub mod tasks;
pub mod test_support;
pub mod tickets;

use sqlx::AssertSqlSafe;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection, Executor};

pub use error::{Error, Result};
pub use location::DatabaseLocation;

/// A transaction holding the write lock; commit it or drop it to roll back. It derefs to the
/// connection, so statements run on `&mut **tx`.
#[derive(Debug)]
pub struct WriteTx {
    transaction: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    /// SQLite: this process's turn to write, held until the transaction ends.
    _turn: Option<tokio::sync::OwnedMutexGuard<Option<sqlx::AnyConnection>>>,
}

/// The savepoint [`WriteTx::commit_after`] sets before its statement, to undo it alone.
const COMMIT_AFTER_SAVEPOINT: &str = "revops_commit_after";

impl WriteTx {
    /// Commits the transaction (and ends this process's turn to write).
    pub async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.transaction.commit().await
    }

    /// Runs one last statement and commits, in a single trip to the database where running
    /// it and then [`WriteTx::commit`] costs two: how a write call's audit entry rides with
    /// its commit.
    ///
    /// `statement` is trusted SQL (a constant of the caller's) whose values are `$1`, `$2`, …
    /// taken from `values`; it holds no other `$`. SQLite binds them. Postgres cannot bind
    /// values in a message of several statements, so they are written into the text as
    /// literals: integers as `CAST(n AS BIGINT)`, text dollar-quoted with a tag that does not
    /// occur in it, so no value can end its literal early (text holding a NUL, which Postgres
    /// cannot store, is refused there before anything is sent).
    ///
    /// The message is `SAVEPOINT; statement; COMMIT; BEGIN`. The trailing `BEGIN` leaves an
    /// empty transaction open, as the driver expects of a transaction it has not ended
    /// itself; dropping `self` rolls that back, and the rollback rides with the ping the pool
    /// sends when the connection comes back, so it costs the caller nothing.
    ///
    /// If the statement fails, the database skips the rest of the message; the savepoint is
    /// rolled back to and released, and [`CommitAfter::StatementFailed`] hands the
    /// transaction back exactly as it was before the statement, still open. If the commit
    /// itself fails, the transaction is gone ([`CommitAfter::NotCommitted`]).
    pub async fn commit_after(
        mut self,
        action: &'static str,
        statement: &str,
        values: &[Value],
    ) -> std::result::Result<(), CommitAfter> {
        let sql = format!("SAVEPOINT {COMMIT_AFTER_SAVEPOINT}; {statement}; COMMIT; BEGIN");
        let ran = match self.backend {
            Backend::Sqlite => {
                let mut arguments = sqlx::any::AnyArguments::default();
                for value in values {
                    let added = match value {
                        Value::Integer(integer) => sqlx::Arguments::add(&mut arguments, *integer),
                        Value::Text(text) => sqlx::Arguments::add(&mut arguments, text.clone()),
                    };
                    if added.is_err() {
                        return Err(CommitAfter::StatementFailed {
                            tx: self,
                            error: Error::Internal(action),
                        });
                    }
                }
                sqlx::query_with(AssertSqlSafe(sql), arguments)
                    .execute(&mut *self.transaction)
                    .await
            }
            Backend::Postgres => {
                let Some(sql) = with_postgres_literals(&sql, values) else {
                    tracing::error!(action, "a value held a NUL or a placeholder had no value");
                    return Err(CommitAfter::StatementFailed {
                        tx: self,
                        error: Error::Internal(action),
                    });
                };
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut *self.transaction)
                    .await
            }
        };
        let Err(error) = ran else {
            // Dropping `self` rolls back the empty transaction the trailing BEGIN opened.
            return Ok(());
        };
        let undo = format!(
            "ROLLBACK TO SAVEPOINT {COMMIT_AFTER_SAVEPOINT}; RELEASE SAVEPOINT {COMMIT_AFTER_SAVEPOINT}"
        );
        match sqlx::raw_sql(AssertSqlSafe(undo))
            .execute(&mut *self.transaction)
            .await
        {
            Ok(_) => {
                // A broken rule is the statement's way to refuse (the caller's guard), not a
                // fault: the caller decides what it means.
                tracing::debug!(%error, action, "the statement before a commit failed");
                let error = Error::broken_rule(action, &error).unwrap_or(Error::Internal(action));
                Err(CommitAfter::StatementFailed { tx: self, error })
            }
            // No savepoint to return to: the transaction ended with the failed commit.
            Err(_) => Err(CommitAfter::NotCommitted(Error::from_sqlx(action, error))),
        }
    }

    /// Rolls the transaction back; dropping it does the same without waiting.
    pub async fn rollback(self) -> std::result::Result<(), sqlx::Error> {
        self.transaction.rollback().await
    }
}

/// A value for [`WriteTx::commit_after`]'s statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i64),
    Text(String),
}

/// Why [`WriteTx::commit_after`] did not commit.
#[derive(Debug)]
pub enum CommitAfter {
    /// The statement failed and is undone; `tx` is as it was before it and still open.
    StatementFailed { tx: WriteTx, error: Error },
    /// The commit failed: the transaction is gone and nothing in it was kept.
    NotCommitted(Error),
}

/// `sql` with every `$n` replaced by `values[n - 1]` written as a Postgres literal; `None`
/// when a placeholder has no value or a text holds a NUL.
fn with_postgres_literals(sql: &str, values: &[Value]) -> Option<String> {
    let mut out = String::with_capacity(sql.len() + values.len() * 24);
    let mut rest = sql;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let number: usize = after[..digits].parse().ok()?;
        match values.get(number.checked_sub(1)?)? {
            Value::Integer(integer) => out.push_str(&format!(" CAST({integer} AS BIGINT)")),
            Value::Text(text) => {
                if text.contains('\0') {
                    return None;
                }
                // A tag whose opening `$tag` is nowhere in the text: the text can then
                // neither contain the closing `$tag$` nor, ending in `$tag`, run into it.
                let tag = (0..)
                    .map(|n| format!("rv{n}"))
                    .find(|tag| !text.contains(&format!("${tag}")))?;
                out.push_str(&format!(" ${tag}${text}${tag}$"));
            }
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    Some(out)
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &sqlx::AnyConnection {
        &self.transaction
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.transaction
    }
}

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// How long a SQLite connection waits for another process's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// `REVOPS_SQLITE_SYNCHRONOUS`: `NORMAL` (the default; in WAL mode a commit survives a crash
/// of the process) or `FULL` (every commit is on disk before it returns, so it also survives a
/// power loss).
fn sqlite_synchronous() -> Result<&'static str> {
    match config::var("REVOPS_SQLITE_SYNCHRONOUS")
        .map(|value| value.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("normal") => Ok("NORMAL"),
        Some("full") => Ok("FULL"),
        Some(other) => Err(Error::Unavailable(format!(
            "REVOPS_SQLITE_SYNCHRONOUS is {other:?}; set it to normal or full"
        ))),
    }
}

/// The options of the SQLite pool.
fn sqlite_pool_options(synchronous: &'static str) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        // A SQLite connection is a local file handle: pinging it before every use costs a
        // round trip to its worker thread and finds nothing.
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _meta| Box::pin(prepare_sqlite_connection(conn, synchronous)))
}

/// The settings every SQLite connection of the store runs with.
async fn prepare_sqlite_connection(
    conn: &mut sqlx::AnyConnection,
    synchronous: &'static str,
) -> sqlx::Result<()> {
    // The page cache (64 MiB, taken only as it fills) and the WAL's checkpoint interval
    // (10,000 pages, about 40 MiB) are sized for the audit log: every entry lands on a random
    // page of its `prev_hash` index, and checkpointing every 1,000 pages (the default) copied
    // those pages back so often that appends ran at half the speed.
    conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = {synchronous}; \
         PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 10000;",
        SQLITE_BUSY_TIMEOUT.as_millis()
    ))))
    .await?;
    Ok(())
}

/// The connection one-trip writes go through, opened on first use and again after a failed
/// write closes it. Not a pool's: a pool pings a connection each time it comes back, another
/// trip to its worker thread, and a one-trip write is there to save trips.
struct OneTripWriter {
    options: AnyConnectOptions,
    synchronous: &'static str,
    /// Also this process's turn to write: [`Store::begin_write`] holds it for the whole
    /// transaction, so the process's writers queue here in order instead of polling the file
    /// lock through SQLite's busy handler (which sleeps 1 ms, then longer, between tries).
    connection: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::AnyConnection>>>,
}

impl OneTripWriter {
    /// Waits for this process's turn to write, as long as SQLite would wait for the lock.
    async fn turn(&self) -> Result<tokio::sync::OwnedMutexGuard<Option<sqlx::AnyConnection>>> {
        tokio::time::timeout(SQLITE_BUSY_TIMEOUT, self.connection.clone().lock_owned())
            .await
            .map_err(|_| {
                Error::Unavailable(format!(
                    "another write in this process has held the store for {} s; try again shortly",
                    SQLITE_BUSY_TIMEOUT.as_secs()
                ))
            })
    }

    /// The connection in `slot`, opened first if there is none.
    async fn ready<'a>(
        &self,
        slot: &'a mut Option<sqlx::AnyConnection>,
    ) -> Result<&'a mut sqlx::AnyConnection> {
        use sqlx::ConnectOptions;
        if let Some(connection) = slot {
            return Ok(connection);
        }
        let opened = async {
            let mut connection = self.options.connect().await?;
            prepare_sqlite_connection(&mut connection, self.synchronous).await?;
            Ok::<_, sqlx::Error>(connection)
        };
        let connection = opened
            .await
            .map_err(|error| Error::from_sqlx("open a write connection", error))?;
        Ok(slot.insert(connection))
    }
}

impl std::fmt::Debug for OneTripWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The options hold the database URL, which may carry a password.
        f.debug_struct("OneTripWriter").finish_non_exhaustive()
    }
}

/// A handle to the store; cheap to clone (it is a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// SQLite only: the connection [`Store::write_in_one_trip`] and
    /// [`Store::write_statement`] write through.
    one_trip: Option<std::sync::Arc<OneTripWriter>>,
    backend: Backend,
}

impl Store {
    /// Connects to the database at `location`, creating a SQLite file (and its folder) if
    /// needed, and applies any pending migrations.
    pub async fn open(location: &DatabaseLocation) -> Result<Store> {
        let store = Store::connect(location).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without migrating (for `revops db migrate` and checks).
    pub async fn connect(location: &DatabaseLocation) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = location.backend();
        let url = location.connect_url()?;
        let options = AnyConnectOptions::from_str(&url).map_err(|error| {
            Error::Unavailable(format!(
                "the database URL is not valid ({}): {error}",
                location.redacted()
            ))
        })?;
        let synchronous = sqlite_synchronous()?;
        let pool_options = match backend {
            Backend::Sqlite => sqlite_pool_options(synchronous),
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30)),
        };
        let connect_failed = |error: sqlx::Error| {
            tracing::error!(%error, database = %location.redacted(), "cannot connect to the database");
            Error::Unavailable(format!(
                "cannot connect to the database at {}: {}",
                location.redacted(),
                error::connect_hint(&error)
            ))
        };
        let pool = pool_options
            .connect_with(options.clone())
            .await
            .map_err(connect_failed)?;
        if backend == Backend::Sqlite {
            // WAL lets readers run beside the one writer; it is a property of the file, so
            // setting it again is a no-op. Switching needs a moment of exclusive access, so
            // retry briefly when another process is starting at the same time.
            let mut attempt = 0;
            loop {
                match pool.execute("PRAGMA journal_mode = WAL").await {
                    Ok(_) => break,
                    Err(error) if attempt < 50 && error::is_busy(&error) => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(error) => return Err(Error::from_sqlx("enable WAL mode", error)),
                }
            }
        }
        let one_trip = match backend {
            Backend::Sqlite => Some(std::sync::Arc::new(OneTripWriter {
                options,
                synchronous,
                connection: std::sync::Arc::default(),
            })),
            Backend::Postgres => None,
        };
        Ok(Store {
            pool,
            backend,
            one_trip,
        })
    }

    /// Applies the migrations up to `level` only, so a test can fill a database as an older
    /// release left it and then upgrade it with [`Store::migrate`].
    pub async fn migrate_to(&self, level: i64) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run_to(level, &self.pool).await.map_err(|error| {
            tracing::error!(%error, level, "migration failed");
            Error::Internal("migrate the database")
        })
    }

    /// Applies pending migrations for this backend; safe to run again and from several
    /// processes at once.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let mut attempt = 0;
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                // Two processes starting together on one SQLite file may race for the lock
                // the migrator takes; the loser retries once the winner has finished.
                Err(sqlx::migrate::MigrateError::Execute(error))
                    if attempt < 20 && error::is_busy(&error) =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => {
                    tracing::error!(%error, "migration failed");
                    return Err(Error::Migration(error.to_string()));
                }
            }
        }
    }

    /// The newest migration applied to this database (0 when none).
    pub async fn migration_level(&self) -> Result<i64> {
        // A database never migrated has no migrations table: level 0, not an error.
        let catalogue = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let tables: i64 = sqlx::query_scalar(catalogue)
            .fetch_one(&self.pool)
            .await
            .map_err(|error| Error::from_sqlx("read the migration level", error))?;
        if tables == 0 {
            return Ok(0);
        }
        let level: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_one(&self.pool)
                .await
                .map_err(|error| Error::from_sqlx("read the migration level", error))?;
        Ok(level.unwrap_or(0))
    }

    /// The newest migration this build knows.
    pub fn known_migration_level(&self) -> i64 {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.iter().map(|m| m.version).max().unwrap_or(0)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction holding the write lock (SQLite: first this process's turn
    /// to write, then `BEGIN IMMEDIATE`, which waits up to the busy timeout for another
    /// process's writer; Postgres: an ordinary transaction, rows are locked as they are
    /// written).
    pub async fn begin_write(&self) -> Result<WriteTx> {
        let (begin, turn) = match &self.one_trip {
            Some(one_trip) => {
                let turn = one_trip.turn().await?;
                (self.pool.begin_with("BEGIN IMMEDIATE").await, Some(turn))
            }
            None => (self.pool.begin().await, None),
        };
        let transaction =
            begin.map_err(|error| Error::from_sqlx("start a write transaction", error))?;
        Ok(WriteTx {
            transaction,
            backend: self.backend,
            _turn: turn,
        })
    }

    /// SQLite only: runs `statements` (`;`-separated, parameters numbered `$1`, `$2`, … across
    /// all of them) as one write transaction, `BEGIN IMMEDIATE; statements; COMMIT`, in a
    /// single trip to the connection's worker thread, and returns the rows they return. `action`
    /// says what the write is for, in errors.
    /// [`Store::begin_write`] costs a trip for `BEGIN`, one per statement and one for `COMMIT`
    /// (and the pool pings the connection when it comes back), and each trip wakes two
    /// threads. One-trip writes go through a connection of their own, one at a time.
    ///
    /// Either every statement commits or none does: if any statement fails, the transaction
    /// is left open on that connection, so the connection is closed (SQLite rolls back an
    /// open transaction when its connection closes) instead of going back to the pool. The
    /// work runs in a task of its own, so a caller that stops waiting cannot cut it off
    /// between `BEGIN` and `COMMIT` either.
    pub async fn write_in_one_trip(
        &self,
        action: &'static str,
        statements: &str,
        arguments: sqlx::any::AnyArguments,
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        let Some(one_trip) = &self.one_trip else {
            return Err(Error::Internal("run a one-trip write (SQLite only)"));
        };
        let sql = format!("BEGIN IMMEDIATE; {statements}; COMMIT");
        let one_trip = one_trip.clone();
        let written = tokio::spawn(async move {
            let mut slot = one_trip.turn().await?;
            one_trip.ready(&mut slot).await?;
            // Out of the slot while the transaction may be open: if this task is dropped
            // (its runtime shutting down) between BEGIN and COMMIT, the connection is dropped
            // with it, which closes it and rolls back, instead of staying in the slot with a
            // transaction open for the next write to run inside.
            let Some(mut connection) = slot.take() else {
                return Err(Error::Internal("open a write connection"));
            };
            match sqlx::query_with(AssertSqlSafe(sql), arguments)
                .fetch_all(&mut connection)
                .await
            {
                Ok(rows) => {
                    *slot = Some(connection);
                    Ok(rows)
                }
                Err(error) => {
                    if let Err(close_error) = connection.close().await {
                        tracing::warn!(error = %close_error, "closing a connection after a failed write");
                    }
                    Err(Error::from_sqlx(action, error))
                }
            }
        })
        .await;
        written.map_err(|_| Error::Internal("finish a write (its task stopped)"))?
    }

    /// Runs one statement as a transaction of its own (the database commits a statement
    /// run outside a transaction by itself, all of it or none) and returns how many rows it
    /// changed: one round trip, where [`Store::begin_write`] costs three. On SQLite a
    /// statement that writes takes the write lock as it starts, so its reads and its writes
    /// see the same state; it goes through the same connection as
    /// [`Store::write_in_one_trip`]. A caller that stops waiting leaves nothing open: the
    /// statement either ran or did not.
    pub async fn write_statement(
        &self,
        action: &'static str,
        statement: &str,
        arguments: sqlx::any::AnyArguments,
    ) -> Result<u64> {
        let query = sqlx::query_with(AssertSqlSafe(statement.to_owned()), arguments);
        let done = match &self.one_trip {
            Some(one_trip) => {
                let mut slot = one_trip.turn().await?;
                query.execute(one_trip.ready(&mut slot).await?).await
            }
            None => query.execute(&self.pool).await,
        };
        done.map(|done| done.rows_affected())
            .map_err(|error| Error::from_sqlx(action, error))
    }

    /// Whether a write begun now would wait for another of this process to end: on SQLite,
    /// while a write transaction (a tool's, say) holds the process's turn to write. A write
    /// started by code running inside that transaction would wait for its own transaction, so
    /// such code saves what must not wait in a task of its own. Always false on Postgres.
    pub fn writes_must_wait(&self) -> bool {
        self.one_trip
            .as_ref()
            .is_some_and(|one_trip| one_trip.connection.try_lock().is_err())
    }

    /// The connection pool, for bulk loaders (fixtures) and tests that need raw SQL.
    /// Domain code uses the repositories instead.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection (waits for checked-out ones to return).
    pub async fn close(&self) {
        if let Some(one_trip) = &self.one_trip
            && let Some(connection) = one_trip.connection.lock().await.take()
            && let Err(error) = connection.close().await
        {
            tracing::warn!(%error, "closing the one-trip write connection");
        }
        self.pool.close().await;
    }
}

/// A stored boolean: `BOOLEAN` on Postgres, a 0/1 integer on SQLite.
pub(crate) fn flag(row: &sqlx::any::AnyRow, column: &str) -> Result<bool> {
    use sqlx::Row;
    match row.try_get::<bool, _>(column) {
        Ok(value) => Ok(value),
        Err(_) => row
            .try_get::<i64, _>(column)
            .map(|value| value != 0)
            .map_err(|error| Error::from_sqlx("read a flag", error)),
    }
}

/// Cuts a fetched `limit + 1` rows down to `limit` and says where the next page starts.
pub(crate) fn page<T>(
    items: &mut Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> records::Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(&cursor_of)
    } else {
        None
    };
    records::Page {
        items: std::mem::take(items),
        next_cursor,
    }
}

/// Fails with [`Error::NotFound`] unless `table` has a row with this id.
pub(crate) async fn require_exists(
    tx: &mut WriteTx,
    table: &'static str,
    entity: &'static str,
    id: &str,
) -> Result<()> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE id = $1");
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("check a reference", error))?;
    if count == 0 {
        return Err(Error::NotFound {
            entity,
            id: id.to_string(),
        });
    }
    Ok(())
}
