//! Customer-success signals: weekly usage, support tickets, NPS answers.

use crate::records::{NpsResponse, Ticket, UsageWeek};
use crate::rows::{self, TICKET_COLUMNS};
use crate::{Error, Result, Store};
use sqlx::AssertSqlSafe;

/// The account's last `weeks` weeks of usage, oldest first.
pub async fn usage_history(store: &Store, account_id: &str, weeks: u32) -> Result<Vec<UsageWeek>> {
    let rows = sqlx::query(
        "SELECT week_start, active_users, seats_used, logins, feature_events, premium_feature_events \
         FROM usage_snapshots WHERE account_id = $1 ORDER BY week_start DESC LIMIT $2",
    )
    .bind(account_id)
    .bind(i64::from(weeks.clamp(1, 260)))
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read usage history", error))?;
    let mut history = rows
        .iter()
        .map(rows::usage_week)
        .collect::<Result<Vec<_>>>()?;
    history.reverse();
    Ok(history)
}

/// The account's tickets, newest first; only unresolved ones when `open_only`.
pub async fn tickets_for(
    store: &Store,
    account_id: &str,
    status: Option<&str>,
    limit: Option<u32>,
) -> Result<Vec<Ticket>> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM support_tickets WHERE account_id = $1 AND ($2 = '' OR status = $2) \
         ORDER BY opened_at DESC, id LIMIT $3"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .bind(status.unwrap_or(""))
        .bind(crate::filter::page_size(limit, 20, 200))
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read tickets", error))?;
    rows.iter().map(rows::ticket).collect()
}

/// The account's NPS answers, newest first.
pub async fn nps_for(
    store: &Store,
    account_id: &str,
    limit: Option<u32>,
) -> Result<Vec<NpsResponse>> {
    let rows = sqlx::query(
        "SELECT id, account_id, contact_id, score, comment, responded_at FROM nps_responses \
         WHERE account_id = $1 ORDER BY responded_at DESC, id LIMIT $2",
    )
    .bind(account_id)
    .bind(crate::filter::page_size(limit, 10, 200))
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read NPS answers", error))?;
    rows.iter().map(rows::nps_response).collect()
}

/// NPS answers with their comments for an account or a scope of accounts, in a period
/// (`since` inclusive, `until` exclusive, stored timestamps), oldest first; for the NPS
/// summary. A scope with no conditions means every account.
pub async fn nps_answers(
    store: &Store,
    account_id: Option<&str>,
    scope: &crate::health::Scope,
    since: &str,
    until: &str,
) -> Result<Vec<NpsResponse>> {
    let mut conditions = vec![
        "responded_at >= $1".to_owned(),
        "responded_at < $2".to_owned(),
    ];
    let mut binds = vec![since.to_owned(), until.to_owned()];
    if let Some(id) = account_id {
        binds.push(id.to_owned());
        conditions.push(format!("account_id = ${}", binds.len()));
    }
    let mut account_conditions = Vec::new();
    if !scope.lifecycle_stages.is_empty() {
        let mut marks = Vec::new();
        for stage in &scope.lifecycle_stages {
            binds.push(stage.clone());
            marks.push(format!("${}", binds.len()));
        }
        account_conditions.push(format!("lifecycle_stage IN ({})", marks.join(", ")));
    }
    for (column, value) in [
        ("segment", &scope.segment),
        ("plan_tier", &scope.plan_tier),
        ("csm_owner", &scope.csm_owner),
    ] {
        if let Some(value) = value {
            binds.push(value.clone());
            account_conditions.push(format!("{column} = ${}", binds.len()));
        }
    }
    if !account_conditions.is_empty() {
        conditions.push(format!(
            "account_id IN (SELECT id FROM accounts WHERE {})",
            account_conditions.join(" AND ")
        ));
    }
    let sql = format!(
        "SELECT id, account_id, contact_id, score, comment, responded_at FROM nps_responses \
         WHERE {} ORDER BY responded_at, id",
        conditions.join(" AND ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for b in binds {
        query = query.bind(b);
    }
    let rows = query
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read NPS answers", error))?;
    rows.iter().map(rows::nps_response).collect()
}
