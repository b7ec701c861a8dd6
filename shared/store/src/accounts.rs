//! Accounts and their contacts.

use crate::filter::{Conditions, page_size};
use crate::records::{Account, Contact, Page};
use crate::rows::{self, ACCOUNT_COLUMNS, CONTACT_COLUMNS};
use crate::{Error, Result, Store};
use sqlx::AssertSqlSafe;

/// Which accounts to list; every field narrows the list when set.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub lifecycle_stage: Option<String>,
    pub plan_tier: Option<String>,
    pub segment: Option<String>,
    pub owner: Option<String>,
    pub csm_owner: Option<String>,
}

/// The account with this id.
pub async fn get(store: &Store, id: &str) -> Result<Account> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read an account", error))?;
    match row {
        Some(row) => rows::account(&row),
        None => Err(Error::NotFound {
            entity: "account",
            id: id.to_string(),
        }),
    }
}

/// The people at an account, decision makers first.
pub async fn contacts_of(store: &Store, account_id: &str) -> Result<Vec<Contact>> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = $1 \
         ORDER BY CASE role WHEN 'decision_maker' THEN 0 WHEN 'champion' THEN 1 ELSE 2 END, id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read contacts", error))?;
    rows.iter().map(rows::contact).collect()
}

/// One page of accounts in id order; `cursor` is the last id of the previous page.
pub async fn list(
    store: &Store,
    filter: &AccountFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Account>> {
    let mut conditions = Conditions::default();
    conditions.add("lifecycle_stage", "=", filter.lifecycle_stage.as_deref());
    conditions.add("plan_tier", "=", filter.plan_tier.as_deref());
    conditions.add("segment", "=", filter.segment.as_deref());
    conditions.add("owner", "=", filter.owner.as_deref());
    conditions.add("csm_owner", "=", filter.csm_owner.as_deref());
    conditions.add("id", ">", cursor);
    let limit = page_size(limit, 25, 200);
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts{} ORDER BY id LIMIT ${}",
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
        .map_err(|error| Error::from_sqlx("list accounts", error))?;
    let mut items = rows.iter().map(rows::account).collect::<Result<Vec<_>>>()?;
    Ok(crate::page(&mut items, limit, |a| a.id.clone()))
}

/// Accounts and MRR in one lifecycle stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LifecycleTotal {
    /// trial, active, at_risk or churned.
    pub lifecycle_stage: String,
    pub accounts: i64,
    /// Monthly recurring revenue, minor units.
    pub mrr_minor: i64,
}

/// Account count and MRR per lifecycle stage, optionally for one CSM's book.
pub async fn totals_by_lifecycle(
    store: &Store,
    csm_owner: Option<&str>,
) -> Result<Vec<LifecycleTotal>> {
    let rows = sqlx::query(
        "SELECT lifecycle_stage, COUNT(*) AS accounts, CAST(COALESCE(SUM(mrr_minor), 0) AS BIGINT) AS mrr_minor \
         FROM accounts WHERE ($1 = '' OR csm_owner = $1) GROUP BY lifecycle_stage ORDER BY lifecycle_stage",
    )
    .bind(csm_owner.unwrap_or(""))
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("total accounts by lifecycle stage", error))?;
    rows.iter()
        .map(|row| {
            Ok(LifecycleTotal {
                lifecycle_stage: rows::get(row, "lifecycle_stage")?,
                accounts: rows::get(row, "accounts")?,
                mrr_minor: rows::get(row, "mrr_minor")?,
            })
        })
        .collect()
}
