//! Leads: people who may buy, with the engagement signals scoring reads.

use crate::filter::{Conditions, page_size};
use crate::records::{Lead, Page};
use crate::rows::{self, LEAD_COLUMNS};
use crate::{Error, Result, Store};
use sqlx::AssertSqlSafe;

/// Which leads to list; every field narrows the list when set.
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    pub owner: Option<String>,
    pub status: Option<String>,
    pub source: Option<String>,
    pub campaign_id: Option<String>,
    /// Only leads created at or after this UTC timestamp (RFC 3339).
    pub created_since: Option<String>,
}

/// The lead with this id.
pub async fn get(store: &Store, id: &str) -> Result<Lead> {
    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read a lead", error))?;
    match row {
        Some(row) => rows::lead(&row),
        None => Err(Error::NotFound {
            entity: "lead",
            id: id.to_string(),
        }),
    }
}

/// One page of leads in id order; `cursor` is the last id of the previous page.
pub async fn list(
    store: &Store,
    filter: &LeadFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Lead>> {
    let mut conditions = Conditions::default();
    conditions.add("owner", "=", filter.owner.as_deref());
    conditions.add("status", "=", filter.status.as_deref());
    conditions.add("source", "=", filter.source.as_deref());
    conditions.add("campaign_id", "=", filter.campaign_id.as_deref());
    conditions.add("created_at", ">=", filter.created_since.as_deref());
    conditions.add("id", ">", cursor);
    let limit = page_size(limit, 25, 200);
    let sql = format!(
        "SELECT {LEAD_COLUMNS} FROM leads{} ORDER BY id LIMIT ${}",
        conditions.where_clause(),
        conditions.next_placeholder()
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    let rows = query
        .bind(limit + 1)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("list leads", error))?;
    let mut items = rows.iter().map(rows::lead).collect::<Result<Vec<_>>>()?;
    Ok(crate::page(&mut items, limit, |l| l.id.clone()))
}
