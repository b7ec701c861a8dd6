//! Campaigns, what they spent (from the budget ledger) and what they touched.

use crate::filter::{Conditions, page_size};
use crate::records::{CampaignSummary, Page};
use crate::rows::{self, get};
use crate::{Error, Result, Store};
use sqlx::AssertSqlSafe;

/// Which campaigns to list; every field narrows the list when set.
#[derive(Debug, Clone, Default)]
pub struct CampaignFilter {
    pub channel: Option<String>,
    pub status: Option<String>,
}

const SUMMARY_SELECT: &str = "SELECT c.id, c.name, c.channel, c.status, c.audience, c.starts_on, c.ends_on, \
    c.budget_lifetime_minor, c.budget_daily_minor, c.currency, c.impressions, c.clicks, \
    CAST(COALESCE((SELECT SUM(b.amount_minor) FROM budget_ledger b WHERE b.campaign_id = c.id AND b.entry_kind = 'commit'), 0) AS BIGINT) AS spent_minor, \
    (SELECT COUNT(*) FROM marketing_touches t WHERE t.campaign_id = c.id) AS touches, \
    (SELECT COUNT(*) FROM leads l WHERE l.campaign_id = c.id) AS leads \
    FROM campaigns c";

fn summary(row: &sqlx::any::AnyRow) -> Result<CampaignSummary> {
    let campaign = rows::campaign(row)?;
    let spent_minor: i64 = get(row, "spent_minor")?;
    Ok(CampaignSummary {
        remaining_budget_minor: campaign
            .budget_lifetime_minor
            .saturating_sub(spent_minor)
            .max(0),
        campaign,
        spent_minor,
        touches: get(row, "touches")?,
        leads: get(row, "leads")?,
    })
}

/// The campaign with this id, with its spend, touches and leads.
pub async fn get_summary(store: &Store, id: &str) -> Result<CampaignSummary> {
    let sql = format!("{SUMMARY_SELECT} WHERE c.id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read a campaign", error))?;
    match row {
        Some(row) => summary(&row),
        None => Err(Error::NotFound {
            entity: "campaign",
            id: id.to_string(),
        }),
    }
}

/// One page of campaigns in id order; `cursor` is the last id of the previous page.
pub async fn list(
    store: &Store,
    filter: &CampaignFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<CampaignSummary>> {
    let mut conditions = Conditions::default();
    conditions.add("c.channel", "=", filter.channel.as_deref());
    conditions.add("c.status", "=", filter.status.as_deref());
    conditions.add("c.id", ">", cursor);
    let limit = page_size(limit, 25, 100);
    let sql = format!(
        "{SUMMARY_SELECT}{} ORDER BY c.id LIMIT ${}",
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
        .map_err(|error| Error::from_sqlx("list campaigns", error))?;
    let mut items = rows.iter().map(summary).collect::<Result<Vec<_>>>()?;
    Ok(crate::page(&mut items, limit, |c| c.campaign.id.clone()))
}

/// A marketing touch to record: a campaign reached a lead.
#[derive(Debug, Clone)]
pub struct NewTouch {
    pub campaign_id: String,
    pub lead_id: String,
    /// impression, click, form_fill, email_open, email_click, event_attended or content_download.
    pub touch_type: String,
    pub occurred_at: String,
}

/// Records a touch once per `request_key`: a retry with the same key returns the first
/// touch's id and `false` instead of recording it twice.
pub async fn record_touch(
    tx: &mut crate::WriteTx,
    touch: &NewTouch,
    request_key: Option<&str>,
) -> Result<(String, bool)> {
    if let Some(key) = request_key {
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM marketing_touches WHERE request_key = $1")
                .bind(key)
                .fetch_optional(&mut **tx)
                .await
                .map_err(|error| Error::from_sqlx("look up a touch", error))?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
    }
    crate::require_exists(tx, "campaigns", "campaign", &touch.campaign_id).await?;
    crate::require_exists(tx, "leads", "lead", &touch.lead_id).await?;
    let id = crate::ids::new_id("tch");
    sqlx::query(
        "INSERT INTO marketing_touches (id, request_key, campaign_id, lead_id, touch_type, occurred_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(request_key)
    .bind(&touch.campaign_id)
    .bind(&touch.lead_id)
    .bind(&touch.touch_type)
    .bind(&touch.occurred_at)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("record a touch", error))?;
    Ok((id, true))
}

/// What deleting a campaign removes or detaches.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct CampaignDeletion {
    pub campaign_id: String,
    pub name: String,
    /// Budget ledger entries removed with the campaign.
    pub ledger_entries: i64,
    /// Committed spend those entries recorded, minor units.
    pub spent_minor: i64,
    /// Marketing touches removed with the campaign.
    pub touches: i64,
    /// Leads whose source campaign it was; they keep existing but lose this attribution.
    pub leads_losing_attribution: i64,
    /// Up to five of those leads' ids.
    pub sample_lead_ids: Vec<String>,
}

/// Deletes a campaign with its ledger entries and touches, detaching its leads; returns what
/// was affected, counted before the delete.
pub async fn delete(tx: &mut crate::WriteTx, id: &str) -> Result<CampaignDeletion> {
    let row = sqlx::query(
        "SELECT c.name, \
         (SELECT COUNT(*) FROM budget_ledger b WHERE b.campaign_id = c.id) AS ledger_entries, \
         CAST(COALESCE((SELECT SUM(b.amount_minor) FROM budget_ledger b WHERE b.campaign_id = c.id AND b.entry_kind = 'commit'), 0) AS BIGINT) AS spent_minor, \
         (SELECT COUNT(*) FROM marketing_touches t WHERE t.campaign_id = c.id) AS touches, \
         (SELECT COUNT(*) FROM leads l WHERE l.campaign_id = c.id) AS leads \
         FROM campaigns c WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("read a campaign", error))?
    .ok_or_else(|| Error::NotFound { entity: "campaign", id: id.to_string() })?;
    let sample_lead_ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM leads WHERE campaign_id = $1 ORDER BY id LIMIT 5")
            .bind(id)
            .fetch_all(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("read a campaign's leads", error))?;
    let deletion = CampaignDeletion {
        campaign_id: id.to_string(),
        name: get(&row, "name")?,
        ledger_entries: get(&row, "ledger_entries")?,
        spent_minor: get(&row, "spent_minor")?,
        touches: get(&row, "touches")?,
        leads_losing_attribution: get(&row, "leads")?,
        sample_lead_ids,
    };
    // Closings reference their reservation within the same campaign; remove them first so no
    // row is left pointing at a deleted one.
    sqlx::query("DELETE FROM budget_ledger WHERE campaign_id = $1 AND reservation_id IS NOT NULL")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("delete a campaign's ledger", error))?;
    sqlx::query("DELETE FROM campaigns WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("delete a campaign", error))?;
    Ok(deletion)
}
