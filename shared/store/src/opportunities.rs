//! Opportunities (deals) and the pipeline they make up.

use crate::records::{Opportunity, StageTotal};
use crate::rows::{self, OPPORTUNITY_COLUMNS, get};
use crate::{Error, Result, Store};
use sqlx::AssertSqlSafe;

/// The opportunity with this id.
pub async fn get_one(store: &Store, id: &str) -> Result<Opportunity> {
    let sql = format!("SELECT {OPPORTUNITY_COLUMNS} FROM opportunities WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read an opportunity", error))?;
    match row {
        Some(row) => rows::opportunity(&row),
        None => Err(Error::NotFound {
            entity: "opportunity",
            id: id.to_string(),
        }),
    }
}

/// An account's opportunities, open ones first, then by close date.
pub async fn for_account(store: &Store, account_id: &str) -> Result<Vec<Opportunity>> {
    let sql = format!(
        "SELECT {OPPORTUNITY_COLUMNS} FROM opportunities WHERE account_id = $1 \
         ORDER BY CASE WHEN stage IN ('closed_won', 'closed_lost') THEN 1 ELSE 0 END, close_date, id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read opportunities", error))?;
    rows.iter().map(rows::opportunity).collect()
}

/// Deal count, value and weighted value per stage, in funnel order; for one owner or all.
pub async fn totals_by_stage(store: &Store, owner: Option<&str>) -> Result<Vec<StageTotal>> {
    let sql = "SELECT stage, COUNT(*) AS deals, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS amount_minor, \
               CAST(COALESCE(SUM(amount_minor * probability / 100), 0) AS BIGINT) AS weighted_amount_minor \
               FROM opportunities WHERE ($1 = '' OR owner = $1) GROUP BY stage";
    let rows = sqlx::query(sql)
        .bind(owner.unwrap_or(""))
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("total the pipeline", error))?;
    let mut totals = rows
        .iter()
        .map(|row| {
            Ok(StageTotal {
                stage: get(row, "stage")?,
                deals: get(row, "deals")?,
                amount_minor: get(row, "amount_minor")?,
                weighted_amount_minor: get(row, "weighted_amount_minor")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    totals.sort_by_key(|t| {
        STAGE_ORDER
            .iter()
            .position(|s| *s == t.stage)
            .unwrap_or(usize::MAX)
    });
    Ok(totals)
}

/// Pipeline stages in funnel order.
pub const STAGE_ORDER: [&str; 6] = [
    "prospecting",
    "qualification",
    "proposal",
    "negotiation",
    "closed_won",
    "closed_lost",
];
