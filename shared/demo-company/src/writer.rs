//! Writing generated rows: they collect in a [`Batch`] for one chunk of work, then go to
//! the store in one write transaction as multi-row `INSERT`s, parents before children
//! (foreign keys are enforced), and the batch is emptied for the next chunk.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::SeedError;
use crate::rows::{
    AccountRow, BudgetEntryRow, CampaignRow, ContactRow, LeadRow, NpsRow, OpportunityRow,
    TableRow, TicketRow, TouchRow, UsageRow,
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
    /// Writes every row in one transaction and empties the batch; adds what was written
    /// to `counts`.
    pub(crate) async fn flush(
        &mut self,
        store: &store::Store,
        counts: &mut RowCounts,
    ) -> Result<(), SeedError> {
        let placeholders = Placeholders::for_backend(store.backend());
        let mut tx = store.begin_write().await?;
        // Parents first: campaigns <- ledger; accounts <- contacts, leads <- opportunities,
        // touches; contacts <- tickets, NPS.
        counts.campaigns += insert(&mut tx, placeholders, std::mem::take(&mut self.campaigns)).await?;
        counts.budget_ledger += insert(&mut tx, placeholders, std::mem::take(&mut self.budget_ledger)).await?;
        counts.accounts += insert(&mut tx, placeholders, std::mem::take(&mut self.accounts)).await?;
        counts.contacts += insert(&mut tx, placeholders, std::mem::take(&mut self.contacts)).await?;
        counts.leads += insert(&mut tx, placeholders, std::mem::take(&mut self.leads)).await?;
        counts.opportunities += insert(&mut tx, placeholders, std::mem::take(&mut self.opportunities)).await?;
        counts.marketing_touches +=
            insert(&mut tx, placeholders, std::mem::take(&mut self.marketing_touches)).await?;
        counts.usage_snapshots += insert(&mut tx, placeholders, std::mem::take(&mut self.usage_snapshots)).await?;
        counts.support_tickets += insert(&mut tx, placeholders, std::mem::take(&mut self.support_tickets)).await?;
        counts.nps_responses += insert(&mut tx, placeholders, std::mem::take(&mut self.nps_responses)).await?;
        tx.commit().await.map_err(|source| SeedError::Database { action: "commit a chunk", source })?;
        Ok(())
    }
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
        // Every full chunk has the same text, so build it once (and the driver's statement
        // cache prepares it once per connection).
        let sql = if chunk.len() == rows_per_statement {
            full_statement.get_or_insert_with(|| insert_statement::<T>(rows_per_statement, placeholders)).clone()
        } else {
            insert_statement::<T>(chunk.len(), placeholders)
        };
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = row.bind(query);
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(|source| SeedError::Insert { table: T::TABLE, source })?;
    }
    Ok(total)
}

/// `INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ...` for `rows` rows.
fn insert_statement<T: TableRow>(rows: usize, placeholders: Placeholders) -> String {
    let width = T::COLUMNS.len();
    let mut sql = format!("INSERT INTO {} ({}) VALUES ", T::TABLE, T::COLUMNS.join(", "));
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
