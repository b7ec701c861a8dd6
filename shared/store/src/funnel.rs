//! The marketing funnel: lead, MQL, SQL, opportunity, won, by source, channel, campaign or
//! period (issue 6), and the per-campaign and per-source performance built on the same counts.
//!
//! The store keeps no MQL or SQL timestamps, only a lead's current status, so a stage counts a
//! lead that is in it or past it: `mql`, `sql` and `converted` leads passed MQL; `sql` and
//! `converted` passed SQL; a lead with an opportunity passed both (its status may since have
//! gone back to working or disqualified after a loss); a lead with a won opportunity is won.
//! Each stage is therefore a subset of the one before. Times between stages exist only where
//! timestamps do: lead created to its first opportunity, that opportunity to its win, lead
//! to win.
//!
//! Counts are one `GROUP BY` in the database; the medians come from one streaming pass over
//! the leads that reached an opportunity.

use std::collections::BTreeMap;

use futures::TryStreamExt;

use crate::rows::get;
use crate::{Error, Result, Store};

/// How to group the funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunnelGroup {
    /// The lead's source.
    Source,
    /// The channel of the lead's campaign.
    Channel,
    /// The lead's campaign.
    Campaign,
    /// The month the lead was created (`YYYY-MM`).
    Month,
    /// Everything in one row.
    Total,
}

impl FunnelGroup {
    fn expression(self) -> &'static str {
        match self {
            FunnelGroup::Source => "l.source",
            FunnelGroup::Channel => "c.channel",
            FunnelGroup::Campaign => "l.campaign_id",
            FunnelGroup::Month => "substr(l.created_at, 1, 7)",
            FunnelGroup::Total => "CAST('all' AS TEXT)",
        }
    }
}

/// Which leads the funnel counts; every field narrows it when set.
#[derive(Debug, Clone, Default)]
pub struct FunnelFilter {
    /// Leads created at or after this UTC timestamp.
    pub created_from: Option<String>,
    /// Leads created before this UTC timestamp.
    pub created_before: Option<String>,
    pub source: Option<String>,
    /// The channel of the lead's campaign.
    pub channel: Option<String>,
    pub campaign_id: Option<String>,
}

impl FunnelFilter {
    fn conditions(&self) -> crate::filter::Conditions {
        let mut conditions = crate::filter::Conditions::default();
        conditions.add("l.created_at", ">=", self.created_from.as_deref());
        conditions.add("l.created_at", "<", self.created_before.as_deref());
        conditions.add("l.source", "=", self.source.as_deref());
        conditions.add("c.channel", "=", self.channel.as_deref());
        conditions.add("l.campaign_id", "=", self.campaign_id.as_deref());
        conditions
    }
}

/// The stage counts of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageCounts {
    pub leads: i64,
    pub mql: i64,
    pub sql: i64,
    pub opportunities: i64,
    pub won: i64,
    /// Won revenue of these leads' won deals, minor units.
    pub won_revenue_minor: i64,
}

/// Median days between the stages that have timestamps.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageDurations {
    pub lead_to_opportunity: Option<f64>,
    pub opportunity_to_won: Option<f64>,
    pub lead_to_won: Option<f64>,
}

/// One group of the funnel. `group` is `None` for leads without a value (no campaign).
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelGroupRow {
    pub group: Option<String>,
    pub counts: StageCounts,
    pub median_days: StageDurations,
}

/// Per lead: its opportunities' facts (one row per lead that has any).
const OPPORTUNITY_FACTS: &str = "SELECT lead_id, MIN(created_at) AS first_opened, \
    MAX(CASE WHEN stage = 'closed_won' THEN 1 ELSE 0 END) AS won, \
    MIN(CASE WHEN stage = 'closed_won' THEN COALESCE(closed_at, updated_at) END) AS won_at, \
    MIN(CASE WHEN stage = 'closed_won' THEN created_at END) AS won_opened, \
    CAST(SUM(CASE WHEN stage = 'closed_won' THEN amount_minor ELSE 0 END) AS BIGINT) AS won_amount \
    FROM opportunities WHERE lead_id IS NOT NULL GROUP BY lead_id";

/// The funnel of the leads matching `filter`, grouped by `group`, in group order.
pub async fn funnel(
    store: &Store,
    filter: &FunnelFilter,
    group: FunnelGroup,
) -> Result<Vec<FunnelGroupRow>> {
    let mut groups: BTreeMap<Option<String>, FunnelGroupRow> = funnel_counts(store, filter, group)
        .await?
        .into_iter()
        .map(|(key, counts)| {
            (
                key.clone(),
                FunnelGroupRow {
                    group: key,
                    counts,
                    median_days: StageDurations::default(),
                },
            )
        })
        .collect();
    let conditions = filter.conditions();
    let grp = group.expression();

    // Durations: one streaming pass over the leads that reached an opportunity.
    let sql = format!(
        "SELECT {grp} AS grp, l.created_at, o.first_opened, o.won_at, o.won_opened \
         FROM leads l JOIN ({OPPORTUNITY_FACTS}) o ON o.lead_id = l.id \
         LEFT JOIN campaigns c ON c.id = l.campaign_id{}",
        conditions.where_clause()
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    let mut durations: BTreeMap<Option<String>, [Vec<f64>; 3]> = BTreeMap::new();
    let mut stream = query.fetch(store.pool());
    while let Some(row) = stream
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("time the funnel", error))?
    {
        let key: Option<String> = get(&row, "grp")?;
        let created: String = get(&row, "created_at")?;
        let opened: Option<String> = get(&row, "first_opened")?;
        let won_at: Option<String> = get(&row, "won_at")?;
        let won_opened: Option<String> = get(&row, "won_opened")?;
        let slot = durations.entry(key).or_default();
        if let Some(days) = opened.as_deref().and_then(|o| days_between(&created, o)) {
            slot[0].push(days);
        }
        if let (Some(from), Some(to)) = (won_opened.as_deref(), won_at.as_deref())
            && let Some(days) = days_between(from, to)
        {
            slot[1].push(days);
        }
        if let Some(days) = won_at.as_deref().and_then(|w| days_between(&created, w)) {
            slot[2].push(days);
        }
    }
    for (key, [a, b, c]) in durations {
        if let Some(row) = groups.get_mut(&key) {
            row.median_days = StageDurations {
                lead_to_opportunity: median(a),
                opportunity_to_won: median(b),
                lead_to_won: median(c),
            };
        }
    }
    Ok(groups.into_values().collect())
}

fn days_between(from: &str, to: &str) -> Option<f64> {
    let (from, to) = (crate::clock::parse(from)?, crate::clock::parse(to)?);
    Some(((to - from).num_seconds() as f64 / 86_400.0).max(0.0))
}

/// The median of `values`, to one decimal; `None` when there are none.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let middle = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Some((middle * 10.0).round() / 10.0)
}

/// The currencies of won deals; reports that add revenue across deals need exactly one.
pub async fn won_currencies(store: &Store) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT DISTINCT currency FROM opportunities WHERE stage = 'closed_won' ORDER BY currency",
    )
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read deal currencies", error))
}

/// Which campaigns' performance to read, over which period.
#[derive(Debug, Clone, Default)]
pub struct PerformanceFilter {
    pub campaign_id: Option<String>,
    pub channel: Option<String>,
    /// First day of the period (`YYYY-MM-DD`): spend dated and leads created on or after it.
    pub from_date: Option<String>,
    /// Last day of the period, inclusive.
    pub to_date: Option<String>,
}

/// One campaign's spend, reach and funnel.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignFigures {
    pub campaign_id: String,
    pub name: String,
    pub channel: String,
    pub currency: String,
    /// Lifetime totals as the ad platforms reported them (not split by period).
    pub impressions: i64,
    pub clicks: i64,
    /// Committed spend in the period, minor units.
    pub spend_minor: i64,
    /// The funnel of the leads the campaign brought in during the period.
    pub counts: StageCounts,
}

/// The next day of a `YYYY-MM-DD` date, as the exclusive end of a period.
fn day_after(date: &str) -> Option<String> {
    crate::clock::parse_date(date)
        .and_then(|d| d.succ_opt())
        .map(crate::clock::format_date)
}

/// Spend, reach and funnel per campaign matching `filter`, in campaign id order.
pub async fn campaign_figures(
    store: &Store,
    filter: &PerformanceFilter,
) -> Result<Vec<CampaignFigures>> {
    let to_exclusive = filter.to_date.as_deref().and_then(day_after);
    // Campaigns.
    let mut campaigns = crate::filter::Conditions::default();
    campaigns.add("c.id", "=", filter.campaign_id.as_deref());
    campaigns.add("c.channel", "=", filter.channel.as_deref());
    let sql = format!(
        "SELECT c.id, c.name, c.channel, c.currency, c.impressions, c.clicks FROM campaigns c{} ORDER BY c.id",
        campaigns.where_clause()
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in &campaigns.values {
        query = query.bind(value.as_str());
    }
    let rows = query
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read campaigns", error))?;
    let mut figures: BTreeMap<String, CampaignFigures> = BTreeMap::new();
    for row in &rows {
        let id: String = get(row, "id")?;
        figures.insert(
            id.clone(),
            CampaignFigures {
                campaign_id: id,
                name: get(row, "name")?,
                channel: get(row, "channel")?,
                currency: get(row, "currency")?,
                impressions: get(row, "impressions")?,
                clicks: get(row, "clicks")?,
                spend_minor: 0,
                counts: StageCounts::default(),
            },
        );
    }
    if figures.is_empty() {
        return Ok(Vec::new());
    }

    // Spend: committed ledger entries dated in the period.
    let mut spend = crate::filter::Conditions::default();
    spend.add("c.id", "=", filter.campaign_id.as_deref());
    spend.add("c.channel", "=", filter.channel.as_deref());
    spend.add("b.spend_date", ">=", filter.from_date.as_deref());
    spend.add("b.spend_date", "<=", filter.to_date.as_deref());
    let sql = format!(
        "SELECT b.campaign_id, CAST(SUM(b.amount_minor) AS BIGINT) AS spend FROM budget_ledger b \
         JOIN campaigns c ON c.id = b.campaign_id{}{} b.entry_kind = 'commit' GROUP BY b.campaign_id",
        spend.where_clause(),
        if spend.values.is_empty() {
            " WHERE"
        } else {
            " AND"
        }
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in &spend.values {
        query = query.bind(value.as_str());
    }
    let rows = query
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("sum campaign spend", error))?;
    for row in &rows {
        let id: String = get(row, "campaign_id")?;
        if let Some(f) = figures.get_mut(&id) {
            f.spend_minor = get(row, "spend")?;
        }
    }

    // The funnel of each campaign's leads created in the period.
    let from = filter
        .from_date
        .as_deref()
        .map(|d| format!("{d}T00:00:00.000000Z"));
    let before = to_exclusive.map(|d| format!("{d}T00:00:00.000000Z"));
    let leads = FunnelFilter {
        created_from: from,
        created_before: before,
        source: None,
        channel: filter.channel.clone(),
        campaign_id: filter.campaign_id.clone(),
    };
    for row in funnel_counts(store, &leads, FunnelGroup::Campaign).await? {
        if let Some(id) = row.0
            && let Some(f) = figures.get_mut(&id)
        {
            f.counts = row.1;
        }
    }
    Ok(figures.into_values().collect())
}

/// The stage counts only (no durations), by group.
pub async fn funnel_counts(
    store: &Store,
    filter: &FunnelFilter,
    group: FunnelGroup,
) -> Result<Vec<(Option<String>, StageCounts)>> {
    let conditions = filter.conditions();
    let grp = group.expression();
    let sql = format!(
        "SELECT {grp} AS grp, COUNT(*) AS leads, \
         CAST(SUM(CASE WHEN l.status IN ('mql', 'sql', 'converted') OR o.lead_id IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS mql, \
         CAST(SUM(CASE WHEN l.status IN ('sql', 'converted') OR o.lead_id IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS sqls, \
         CAST(SUM(CASE WHEN o.lead_id IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS opportunities, \
         CAST(SUM(CASE WHEN o.won = 1 THEN 1 ELSE 0 END) AS BIGINT) AS won, \
         CAST(COALESCE(SUM(o.won_amount), 0) AS BIGINT) AS won_revenue \
         FROM leads l LEFT JOIN ({OPPORTUNITY_FACTS}) o ON o.lead_id = l.id \
         LEFT JOIN campaigns c ON c.id = l.campaign_id{} \
         GROUP BY {grp} ORDER BY {grp}",
        conditions.where_clause()
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    let rows = query
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("count the funnel", error))?;
    rows.iter()
        .map(|row| {
            Ok((
                get(row, "grp")?,
                StageCounts {
                    leads: get(row, "leads")?,
                    mql: get(row, "mql")?,
                    sql: get(row, "sqls")?,
                    opportunities: get(row, "opportunities")?,
                    won: get(row, "won")?,
                    won_revenue_minor: get(row, "won_revenue")?,
                },
            ))
        })
        .collect()
}

/// What the conversion model reads of a trial account's usage and engagement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrialUsage {
    /// Weekly snapshots since the trial started, newest first: (week_start, active_users,
    /// logins, feature_events, premium_feature_events).
    pub weeks: Vec<(String, i64, i64, i64, i64)>,
    /// Contacts of the account with an activity logged since the trial started.
    pub contacts_engaged: i64,
}

/// A trial account's usage since `trial_started_at` (a UTC timestamp) and the contacts
/// engaged since then.
pub async fn trial_usage(
    store: &Store,
    account_id: &str,
    trial_started_at: &str,
) -> Result<TrialUsage> {
    // The snapshot of the week the trial started in counts: weeks start up to 6 days before.
    let first_week = crate::clock::parse(trial_started_at)
        .map(|t| crate::clock::format_date((t - chrono::Duration::days(6)).date_naive()))
        .ok_or(Error::Internal("read a trial's start"))?;
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT week_start, active_users, logins, feature_events, premium_feature_events FROM usage_snapshots \
         WHERE account_id = $1 AND week_start >= $2 ORDER BY week_start DESC",
    )
    .bind(account_id)
    .bind(&first_week)
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read trial usage", error))?;
    let contacts_engaged: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT contact_id) FROM activities WHERE account_id = $1 AND contact_id IS NOT NULL \
         AND occurred_at >= $2",
    )
    .bind(account_id)
    .bind(trial_started_at)
    .fetch_one(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("count engaged contacts", error))?;
    Ok(TrialUsage {
        weeks: rows,
        contacts_engaged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_even_and_empty_lists() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(day_after("2026-12-31").as_deref(), Some("2027-01-01"));
    }
}
