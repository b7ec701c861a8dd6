//! Campaigns, what they spent (from the budget ledger) and what they touched.

use crate::filter::{Conditions, page_size};
use crate::records::{Campaign, CampaignSummary, Page};
use crate::rows::{self, get};
use crate::{Error, Result, Store};
use sqlx::AssertSqlSafe;

/// Which campaigns to list; every field narrows the list when set.
#[derive(Debug, Clone, Default)]
pub struct CampaignFilter {
    pub channel: Option<String>,
    pub status: Option<String>,
    /// Case-insensitive substring of the name; `%` and `_` match themselves.
    pub name_contains: Option<String>,
    /// Only campaigns whose window covers this day (`YYYY-MM-DD`).
    pub active_on: Option<String>,
}

/// The columns [`rows::campaign`] decodes, for reads without the summary's totals.
const CAMPAIGN_COLUMNS: &str = "id, name, channel, status, audience, starts_on, ends_on, budget_lifetime_minor, \
    budget_daily_minor, currency, impressions, clicks";

/// `text` as a LIKE pattern matching it anywhere, with `!` escaping the wildcards (and itself),
/// so a caller's `%` or `_` matches only that character.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
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
    conditions.add("c.starts_on", "<=", filter.active_on.as_deref());
    let limit = page_size(limit, 25, 100);
    // The two conditions `Conditions` cannot say (an OR, a LIKE with ESCAPE) are added here
    // from constants, their values bound after the others in placeholder order.
    let mut extra = String::new();
    let mut extra_values: Vec<String> = Vec::new();
    let mut next = conditions.next_placeholder();
    let mut joiner = if conditions.where_clause().is_empty() {
        " WHERE "
    } else {
        " AND "
    };
    if let Some(day) = &filter.active_on {
        extra.push_str(&format!(
            "{joiner}(c.ends_on IS NULL OR c.ends_on >= ${next})"
        ));
        extra_values.push(day.clone());
        next += 1;
        joiner = " AND ";
    }
    if let Some(text) = &filter.name_contains {
        extra.push_str(&format!("{joiner}LOWER(c.name) LIKE ${next} ESCAPE '!'"));
        extra_values.push(contains_pattern(text));
        next += 1;
    }
    let sql = format!(
        "{SUMMARY_SELECT}{}{extra} ORDER BY c.id LIMIT ${next}",
        conditions.where_clause(),
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in conditions.values.iter().chain(extra_values.iter()) {
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
    /// Open reservations released by the deletion, minor units.
    pub reserved_minor: i64,
    /// The currency of the amounts.
    pub currency: String,
    /// The first and last day with spend, if any.
    pub first_spend_date: Option<String>,
    pub last_spend_date: Option<String>,
    /// Marketing touches removed with the campaign.
    pub touches: i64,
    /// Those touches by type (e.g. click, form_fill), for attribution.
    pub touches_by_type: std::collections::BTreeMap<String, i64>,
    /// Distinct leads the removed touches reached; their multi-touch attribution loses them.
    pub touched_leads: i64,
    /// Leads whose source campaign it was; they keep existing but lose this attribution.
    pub leads_losing_attribution: i64,
    /// Up to twenty of those leads' ids.
    pub sample_lead_ids: Vec<String>,
}

/// Deletes a campaign with its ledger entries and touches, detaching its leads; returns what
/// was affected, counted before the delete.
pub async fn delete(tx: &mut crate::WriteTx, id: &str) -> Result<CampaignDeletion> {
    let row = sqlx::query(
        "SELECT c.name, c.currency, \
         (SELECT COUNT(*) FROM budget_ledger b WHERE b.campaign_id = c.id) AS ledger_entries, \
         CAST(COALESCE((SELECT SUM(b.amount_minor) FROM budget_ledger b WHERE b.campaign_id = c.id AND b.entry_kind = 'commit'), 0) AS BIGINT) AS spent_minor, \
         CAST(COALESCE((SELECT SUM(b.amount_minor) FROM budget_ledger b WHERE b.campaign_id = c.id AND b.entry_kind = 'reservation' \
           AND NOT EXISTS (SELECT 1 FROM budget_ledger x WHERE x.reservation_id = b.id)), 0) AS BIGINT) AS reserved_minor, \
         (SELECT MIN(b.spend_date) FROM budget_ledger b WHERE b.campaign_id = c.id AND b.entry_kind = 'commit') AS first_spend, \
         (SELECT MAX(b.spend_date) FROM budget_ledger b WHERE b.campaign_id = c.id AND b.entry_kind = 'commit') AS last_spend, \
         (SELECT COUNT(*) FROM marketing_touches t WHERE t.campaign_id = c.id) AS touches, \
         (SELECT COUNT(DISTINCT t.lead_id) FROM marketing_touches t WHERE t.campaign_id = c.id) AS touched_leads, \
         (SELECT COUNT(*) FROM leads l WHERE l.campaign_id = c.id) AS leads \
         FROM campaigns c WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("read a campaign", error))?
    .ok_or_else(|| Error::NotFound { entity: "campaign", id: id.to_string() })?;
    let sample_lead_ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM leads WHERE campaign_id = $1 ORDER BY id LIMIT 20")
            .bind(id)
            .fetch_all(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("read a campaign's leads", error))?;
    let by_type: Vec<(String, i64)> = sqlx::query_as(
        "SELECT touch_type, COUNT(*) FROM marketing_touches WHERE campaign_id = $1 GROUP BY touch_type ORDER BY touch_type",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("count a campaign's touches", error))?;
    let deletion = CampaignDeletion {
        campaign_id: id.to_string(),
        name: get(&row, "name")?,
        ledger_entries: get(&row, "ledger_entries")?,
        spent_minor: get(&row, "spent_minor")?,
        reserved_minor: get(&row, "reserved_minor")?,
        currency: get(&row, "currency")?,
        first_spend_date: get(&row, "first_spend")?,
        last_spend_date: get(&row, "last_spend")?,
        touches: get(&row, "touches")?,
        touches_by_type: by_type.into_iter().collect(),
        touched_leads: get(&row, "touched_leads")?,
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

/// A campaign to create (checked by the caller: channel, dates, caps, currency).
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub name: String,
    pub channel: String,
    pub audience: Option<String>,
    pub starts_on: String,
    pub ends_on: Option<String>,
    pub budget_lifetime_minor: i64,
    pub budget_daily_minor: Option<i64>,
    pub currency: String,
}

/// Creates a draft campaign once per `request_key`: a retry with the same key returns the
/// first campaign and `false`.
pub async fn create(
    tx: &mut crate::WriteTx,
    campaign: &NewCampaign,
    request_key: Option<&str>,
) -> Result<(Campaign, bool)> {
    if let Some(key) = request_key {
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM campaigns WHERE request_key = $1")
                .bind(key)
                .fetch_optional(&mut **tx)
                .await
                .map_err(|error| Error::from_sqlx("look up a campaign request", error))?;
        if let Some(id) = existing {
            return Ok((get_in(tx, &id).await?, false));
        }
    }
    let id = crate::ids::new_id("cmp");
    let now = crate::clock::now();
    sqlx::query(
        "INSERT INTO campaigns (id, name, channel, status, audience, starts_on, ends_on, budget_lifetime_minor, \
         budget_daily_minor, currency, impressions, clicks, created_at, updated_at, request_key) \
         VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, 0, 0, $10, $10, $11)",
    )
    .bind(&id)
    .bind(&campaign.name)
    .bind(&campaign.channel)
    .bind(campaign.audience.as_deref())
    .bind(&campaign.starts_on)
    .bind(campaign.ends_on.as_deref())
    .bind(campaign.budget_lifetime_minor)
    .bind(campaign.budget_daily_minor)
    .bind(&campaign.currency)
    .bind(&now)
    .bind(request_key)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("create a campaign", error))?;
    Ok((get_in(tx, &id).await?, true))
}

/// The campaign with this id, read inside a write transaction.
pub async fn get_in(tx: &mut crate::WriteTx, id: &str) -> Result<Campaign> {
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a campaign", error))?
        .ok_or_else(|| Error::NotFound {
            entity: "campaign",
            id: id.to_string(),
        })?;
    rows::campaign(&row)
}

/// Sets a campaign's status (the caller has checked the transition).
pub async fn set_status(tx: &mut crate::WriteTx, id: &str, status: &str) -> Result<()> {
    sqlx::query("UPDATE campaigns SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(crate::clock::now())
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("change a campaign's status", error))?;
    Ok(())
}

/// Sets a campaign's lifetime and daily caps (the caller has checked them against the ledger).
pub async fn set_caps(
    tx: &mut crate::WriteTx,
    id: &str,
    lifetime_minor: i64,
    daily_minor: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE campaigns SET budget_lifetime_minor = $1, budget_daily_minor = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(lifetime_minor)
    .bind(daily_minor)
    .bind(crate::clock::now())
    .bind(id)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("change a campaign's caps", error))?;
    Ok(())
}

/// One campaign's budget: caps, what is committed and reserved, and what is held today.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct CampaignBudget {
    pub campaign_id: String,
    pub name: String,
    pub status: String,
    pub currency: String,
    pub lifetime_cap_minor: i64,
    /// None: no daily cap.
    pub daily_cap_minor: Option<i64>,
    /// Committed spend to date, minor units.
    pub committed_minor: i64,
    /// Open reservations (not yet committed or released), minor units.
    pub reserved_minor: i64,
    /// Lifetime cap minus committed and reserved, minor units (0 when a cap was lowered below).
    pub headroom_minor: i64,
    /// Committed and reserved with today's date, minor units.
    pub held_today_minor: i64,
    /// Daily cap minus what is held today; none without a daily cap.
    pub daily_headroom_today_minor: Option<i64>,
}

/// The budget of up to `limit` campaigns in id order, from one grouped query.
pub async fn budgets(store: &Store, today: &str, limit: i64) -> Result<Vec<CampaignBudget>> {
    let rows = sqlx::query(
        "SELECT c.id, c.name, c.status, c.currency, c.budget_lifetime_minor, c.budget_daily_minor, \
         CAST(COALESCE(SUM(CASE WHEN b.entry_kind = 'commit' THEN b.amount_minor ELSE 0 END), 0) AS BIGINT) AS committed, \
         CAST(COALESCE(SUM(CASE WHEN b.entry_kind = 'reservation' AND x.id IS NULL THEN b.amount_minor ELSE 0 END), 0) AS BIGINT) AS reserved, \
         CAST(COALESCE(SUM(CASE WHEN b.spend_date = $1 AND (b.entry_kind = 'commit' OR (b.entry_kind = 'reservation' AND x.id IS NULL)) \
           THEN b.amount_minor ELSE 0 END), 0) AS BIGINT) AS held_today \
         FROM campaigns c LEFT JOIN budget_ledger b ON b.campaign_id = c.id \
         LEFT JOIN budget_ledger x ON x.reservation_id = b.id \
         GROUP BY c.id, c.name, c.status, c.currency, c.budget_lifetime_minor, c.budget_daily_minor \
         ORDER BY c.id LIMIT $2",
    )
    .bind(today)
    .bind(limit)
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("total campaign budgets", error))?;
    rows.iter()
        .map(|row| {
            let lifetime: i64 = get(row, "budget_lifetime_minor")?;
            let daily: Option<i64> = get(row, "budget_daily_minor")?;
            let committed: i64 = get(row, "committed")?;
            let reserved: i64 = get(row, "reserved")?;
            let held_today: i64 = get(row, "held_today")?;
            Ok(CampaignBudget {
                campaign_id: get(row, "id")?,
                name: get(row, "name")?,
                status: get(row, "status")?,
                currency: get(row, "currency")?,
                lifetime_cap_minor: lifetime,
                daily_cap_minor: daily,
                committed_minor: committed,
                reserved_minor: reserved,
                headroom_minor: (lifetime - committed - reserved).max(0),
                held_today_minor: held_today,
                daily_headroom_today_minor: daily.map(|cap| (cap - held_today).max(0)),
            })
        })
        .collect()
}

/// What every campaign holds (committed plus open reservations) with spend dates from
/// `first` to `last` inclusive (`YYYY-MM-DD`), minor units: the organisation cap's view.
pub async fn held_between(store: &Store, first: &str, last: &str) -> Result<i64> {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(CASE WHEN b.entry_kind = 'commit' THEN b.amount_minor \
         WHEN b.entry_kind = 'reservation' AND x.id IS NULL THEN b.amount_minor ELSE 0 END), 0) AS BIGINT) \
         FROM budget_ledger b LEFT JOIN budget_ledger x ON x.reservation_id = b.id \
         WHERE b.spend_date >= $1 AND b.spend_date <= $2",
    )
    .bind(first)
    .bind(last)
    .fetch_one(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("total the month's spend", error))
}
