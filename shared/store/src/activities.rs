//! Activities: calls, emails, meetings, notes and customer-success touchpoints, logged
//! against a lead or an account (and optionally a contact or opportunity).

use crate::records::Activity;
use crate::rows::{self, ACTIVITY_COLUMNS};
use crate::{Error, Result, Store, WriteTx};
use sqlx::AssertSqlSafe;

/// An activity to log.
#[derive(Debug, Clone)]
pub struct NewActivity {
    /// call, email, meeting, note or touchpoint.
    pub kind: String,
    pub subject: String,
    pub detail: Option<String>,
    pub lead_id: Option<String>,
    pub account_id: Option<String>,
    pub contact_id: Option<String>,
    pub opportunity_id: Option<String>,
    pub actor: String,
    pub occurred_at: String,
}

/// Logs an activity once per `request_key`: a retry with the same key returns the first
/// activity and `false` instead of logging it twice. Every referenced record must exist.
pub async fn log(
    tx: &mut WriteTx,
    activity: &NewActivity,
    request_key: Option<&str>,
) -> Result<(Activity, bool)> {
    if let Some(key) = request_key {
        let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activities WHERE request_key = $1");
        let existing = sqlx::query(AssertSqlSafe(sql))
            .bind(key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("look up an activity", error))?;
        if let Some(row) = existing {
            return Ok((rows::activity(&row)?, false));
        }
    }
    if activity.lead_id.is_none() && activity.account_id.is_none() {
        return Err(Error::Conflict(
            "an activity needs a lead_id or an account_id".into(),
        ));
    }
    if let Some(id) = &activity.lead_id {
        crate::require_exists(tx, "leads", "lead", id).await?;
    }
    if let Some(id) = &activity.account_id {
        crate::require_exists(tx, "accounts", "account", id).await?;
    }
    if let Some(id) = &activity.contact_id {
        crate::require_exists(tx, "contacts", "contact", id).await?;
    }
    if let Some(id) = &activity.opportunity_id {
        crate::require_exists(tx, "opportunities", "opportunity", id).await?;
    }
    let id = crate::ids::new_id("act");
    let created_at = crate::clock::now();
    let sql = format!(
        "INSERT INTO activities (request_key, {ACTIVITY_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(request_key)
        .bind(&id)
        .bind(&activity.kind)
        .bind(&activity.subject)
        .bind(activity.detail.as_deref())
        .bind(activity.lead_id.as_deref())
        .bind(activity.account_id.as_deref())
        .bind(activity.contact_id.as_deref())
        .bind(activity.opportunity_id.as_deref())
        .bind(&activity.actor)
        .bind(&activity.occurred_at)
        .bind(&created_at)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("log an activity", error))?;
    let logged = Activity {
        id,
        kind: activity.kind.clone(),
        subject: activity.subject.clone(),
        detail: activity.detail.clone(),
        lead_id: activity.lead_id.clone(),
        account_id: activity.account_id.clone(),
        contact_id: activity.contact_id.clone(),
        opportunity_id: activity.opportunity_id.clone(),
        actor: activity.actor.clone(),
        occurred_at: activity.occurred_at.clone(),
        created_at,
    };
    Ok((logged, true))
}

/// The most recent activities on an account, newest first.
pub async fn recent_for_account(
    store: &Store,
    account_id: &str,
    limit: u32,
) -> Result<Vec<Activity>> {
    let sql = format!(
        "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE account_id = $1 ORDER BY occurred_at DESC, id LIMIT $2"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .bind(i64::from(limit.clamp(1, 200)))
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read activities", error))?;
    rows.iter().map(rows::activity).collect()
}
