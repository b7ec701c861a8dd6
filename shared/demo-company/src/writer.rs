//! Writing generated rows: they collect in a [`Batch`] for one chunk of work, then a
//! [`Writer`] sends them to the store as multi-row `INSERT`s, parents before children
//! (foreign keys are enforced), inside write transactions that it commits every few
//! hundred thousand rows.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::SeedError;
use crate::rows::{
    AccountRow, BudgetEntryRow, CampaignRow, ContactRow, LeadRow, NpsRow, OpportunityRow, TableRow,
    TicketRow, TouchRow, UsageRow,
};

/// Bound parameters per statement: well under SQLite's limit of 32,766 (Postgres allows
/// 65,535), and large enough that round trips do not dominate.
const PARAMETERS_PER_STATEMENT: usize = 12_000;

/// How many rows each table received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    pub accounts: u64,
    pub contacts: u64,
    pub leads: u64,
    pub opportunities: u64,
    pub campaigns: u64,
    pub budget_ledger: u64,
    pub marketing_touches: u64,
    pub usage_snapshots: u64,
    pub support_tickets: u64,
    pub nps_responses: u64,
}

/// The rows of one chunk of work, not yet written.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) campaigns: Vec<CampaignRow>,
    pub(crate) budget_ledger: Vec<BudgetEntryRow>,
    pub(crate) accounts: Vec<AccountRow>,
    pub(crate) contacts: Vec<ContactRow>,
    pub(crate) leads: Vec<LeadRow>,
    pub(crate) opportunities: Vec<OpportunityRow>,
    pub(crate) marketing_touches: Vec<TouchRow>,
    pub(crate) usage_snapshots: Vec<UsageRow>,
    pub(crate) support_tickets: Vec<TicketRow>,
    pub(crate) nps_responses: Vec<NpsRow>,
}

impl Batch {
    fn len(&self) -> u64 {
        [
            self.campaigns.len(),
            self.budget_ledger.len(),
            self.accounts.len(),
            self.contacts.len(),
            self.leads.len(),
            self.opportunities.len(),
            self.marketing_touches.len(),
            self.usage_snapshots.len(),
            self.support_tickets.len(),
            self.nps_responses.len(),
        ]
        .iter()
        .sum::<usize>() as u64
    }
}

/// Rows per transaction before a commit. Every chunk touches pages all over the
/// randomly-ordered indexes (emails, domains, names); committing a group of chunks at once
/// writes each such page once per group instead of once per chunk. Chunks keep memory flat;
/// the group bounds how much a failure rolls back and how long the write lock is held.
const ROWS_PER_TRANSACTION: u64 = 600_000;

/// Page cache for the seeding transactions on SQLite. The default (2 MiB) is far smaller
/// than the index pages a transaction touches, so SQLite would spill dirty pages to the WAL
/// again and again within it; with room for them each page is written once per commit.
const SQLITE_SEEDING_CACHE_KIB: i64 = 160 * 1024;

/// Writes batches into the store, committing every [`ROWS_PER_TRANSACTION`] rows.
pub(crate) struct Writer<'s> {
    store: &'s store::Store,
    placeholders: Placeholders,
    open: Option<OpenTransaction>,
    counts: RowCounts,
}

struct OpenTransaction {
    tx: store::WriteTx,
    rows: u64,
    /// The connection's own SQLite cache size, restored before it goes back to the pool.
    default_cache: Option<i64>,
}

impl<'s> Writer<'s> {
    pub(crate) fn new(store: &'s store::Store) -> Writer<'s> {
        Writer {
            store,
            placeholders: Placeholders::for_backend(store.backend()),
            open: None,
            counts: RowCounts::default(),
        }
    }

    /// Writes every row of `batch`, parents before children; commits when the open
    /// transaction has grown large enough.
    pub(crate) async fn write(&mut self, batch: Batch) -> Result<(), SeedError> {
        let rows = batch.len();
        let open = match self.open.take() {
            Some(open) => open,
            None => self.begin().await?,
        };
        let mut open = open;
        let tx = &mut open.tx;
        let placeholders = self.placeholders;
        let counts = &mut self.counts;
        // Parents first: campaigns <- ledger; accounts <- contacts, leads <- opportunities,
        // touches; contacts <- tickets, NPS.
        counts.campaigns += insert(tx, placeholders, batch.campaigns).await?;
        counts.budget_ledger += insert(tx, placeholders, batch.budget_ledger).await?;
        counts.accounts += insert(tx, placeholders, batch.accounts).await?;
        counts.contacts += insert(tx, placeholders, batch.contacts).await?;
        counts.leads += insert(tx, placeholders, batch.leads).await?;
        counts.opportunities += insert(tx, placeholders, batch.opportunities).await?;
        counts.marketing_touches += insert(tx, placeholders, batch.marketing_touches).await?;
        counts.usage_snapshots += insert(tx, placeholders, batch.usage_snapshots).await?;
        counts.support_tickets += insert(tx, placeholders, batch.support_tickets).await?;
        counts.nps_responses += insert(tx, placeholders, batch.nps_responses).await?;
        open.rows += rows;
        if open.rows >= ROWS_PER_TRANSACTION {
            commit(open).await?;
            tracing::debug!(counts = ?self.counts, "seeding transaction committed");
        } else {
            self.open = Some(open);
        }
        Ok(())
    }

    /// Commits what is still open; returns the rows written per table.
    pub(crate) async fn finish(mut self) -> Result<RowCounts, SeedError> {
        if let Some(open) = self.open.take() {
            commit(open).await?;
        }
        Ok(self.counts)
    }

    async fn begin(&self) -> Result<OpenTransaction, SeedError> {
        let mut tx = self.store.begin_write().await?;
        let default_cache = match self.store.backend() {
            store::Backend::Sqlite => {
                let previous: i64 = sqlx::query_scalar("PRAGMA cache_size")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|source| SeedError::Database {
                        action: "read the SQLite cache size",
                        source,
                    })?;
                set_sqlite_cache(&mut tx, -SQLITE_SEEDING_CACHE_KIB).await?;
                Some(previous)
            }
            store::Backend::Postgres => None,
        };
        Ok(OpenTransaction {
            tx,
            rows: 0,
            default_cache,
        })
    }
}

async fn commit(mut open: OpenTransaction) -> Result<(), SeedError> {
    if let Some(size) = open.default_cache {
        set_sqlite_cache(&mut open.tx, size).await?;
    }
    open.tx
        .commit()
        .await
        .map_err(|source| SeedError::Database {
            action: "commit a chunk of rows",
            source,
        })
}

/// `PRAGMA cache_size`: positive values are pages, negative values KiB.
async fn set_sqlite_cache(tx: &mut store::WriteTx, size: i64) -> Result<(), SeedError> {
    sqlx::query(AssertSqlSafe(format!("PRAGMA cache_size = {size}")))
        .execute(&mut **tx)
        .await
        .map_err(|source| SeedError::Database {
            action: "set the SQLite cache size",
            source,
        })?;
    Ok(())
}

/// How a statement numbers its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholders {
    /// `$1, $2, ...`: what Postgres needs.
    Numbered,
    /// `?, ?, ...`: SQLite looks named or numbered parameters up in a list, once per
    /// parameter when parsing and again when binding, which is quadratic in a statement
    /// with thousands of them; plain `?` avoids the lookups.
    Positional,
}

impl Placeholders {
    fn for_backend(backend: store::Backend) -> Placeholders {
        match backend {
            store::Backend::Sqlite => Placeholders::Positional,
            store::Backend::Postgres => Placeholders::Numbered,
        }
    }
}

/// Inserts `rows` as multi-row statements; returns how many were written.
async fn insert<T: TableRow>(
    tx: &mut store::WriteTx,
    placeholders: Placeholders,
    rows: Vec<T>,
) -> Result<u64, SeedError> {
    let total = rows.len() as u64;
    if rows.is_empty() {
        return Ok(0);
    }
    let rows_per_statement = (PARAMETERS_PER_STATEMENT / T::COLUMNS.len()).max(1);
    let mut full_statement: Option<String> = None;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<T> = rows.by_ref().take(rows_per_statement).collect();
        // Every full chunk has the same text, so build it once; only that statement is
        // cached (the driver prepares it once per connection): caching every odd-sized
        // remainder would fill the statement cache with large one-off statements.
        let full = chunk.len() == rows_per_statement;
        let sql = if full {
            full_statement
                .get_or_insert_with(|| insert_statement::<T>(rows_per_statement, placeholders))
                .clone()
        } else {
            insert_statement::<T>(chunk.len(), placeholders)
        };
        let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(full);
        for row in chunk {
            query = row.bind(query);
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(|source| SeedError::Insert {
                table: T::TABLE,
                source,
            })?;
    }
    Ok(total)
}

/// `INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ...` for `rows` rows.
fn insert_statement<T: TableRow>(rows: usize, placeholders: Placeholders) -> String {
    let width = T::COLUMNS.len();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        T::TABLE,
        T::COLUMNS.join(", ")
    );
    sql.reserve(rows * width * 7);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            match placeholders {
                Placeholders::Numbered => {
                    sql.push('$');
                    sql.push_str(&(row * width + column + 1).to_string());
                }
                Placeholders::Positional => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statements_number_their_placeholders_row_by_row() {
        assert_eq!(
            insert_statement::<crate::rows::NpsRow>(2, Placeholders::Numbered),
            "INSERT INTO nps_responses (id, account_id, contact_id, score, comment, responded_at) \
             VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)"
        );
        assert_eq!(
            insert_statement::<crate::rows::NpsRow>(1, Placeholders::Positional),
            "INSERT INTO nps_responses (id, account_id, contact_id, score, comment, responded_at) \
             VALUES (?, ?, ?, ?, ?, ?)"
        );
    }
}
