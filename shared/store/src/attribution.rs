//! The touches before each won deal, streamed for multi-touch attribution (issue 6).
//!
//! One query joins the won opportunities to their lead's marketing touches up to the close,
//! ordered by deal (a covering index on touches by lead, time and campaign makes it an
//! index-only read); [`for_each_won_deal`] folds the rows of one deal together as they stream,
//! sorts that deal's few touches by time, and hands the deal (amount, close time, touches in
//! time order) to the caller, so
//! the models (in `scoring`, which the store does not know) run in the same single pass and
//! nothing is held but one deal at a time. A deal links to touches through
//! `opportunities.lead_id`; deals with no touches before the close are handed over too, with
//! an empty list, so reports can show the revenue no campaign touched.

use std::collections::HashMap;

use futures::TryStreamExt;
use sqlx::Row;

use crate::{Error, Result, Store};

/// Which won deals to read: closed within `[closed_from, closed_before)` (UTC timestamps;
/// either end may be open).
#[derive(Debug, Clone, Default)]
pub struct WonDealFilter {
    pub closed_from: Option<String>,
    pub closed_before: Option<String>,
}

/// One won deal and the touches before its close, oldest first.
#[derive(Debug, Clone, Default)]
pub struct WonDeal {
    pub opportunity_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// Close time, seconds since the epoch.
    pub closed_at: i64,
    /// Each touch's time, seconds since the epoch, oldest first.
    pub touch_times: Vec<i64>,
    /// Each touch's campaign, as an index into [`DealScan::campaigns`].
    pub touch_campaigns: Vec<u32>,
}

/// What a scan saw.
#[derive(Debug, Clone, Default)]
pub struct DealScan {
    /// Won deals read.
    pub deals: u64,
    /// Touches read.
    pub touches: u64,
    /// The campaign ids touches named, indexed by [`WonDeal::touch_campaigns`].
    pub campaigns: Vec<String>,
}

/// Seconds since the epoch of a stored timestamp. The store's own fixed-width format
/// (`2026-01-02T03:04:05.000000Z`) is read directly, as this runs once per touch; anything
/// else goes through the full RFC 3339 parser.
fn seconds(stamp: &str) -> Result<i64> {
    let b = stamp.as_bytes();
    if b.len() == 27
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z'
    {
        let number = |range: std::ops::Range<usize>| -> Option<u32> {
            b[range].iter().try_fold(0u32, |n, d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        let fast = (|| {
            let date = chrono::NaiveDate::from_ymd_opt(
                i32::try_from(number(0..4)?).ok()?,
                number(5..7)?,
                number(8..10)?,
            )?;
            let time = date.and_hms_opt(number(11..13)?, number(14..16)?, number(17..19)?)?;
            Some(time.and_utc().timestamp())
        })();
        if let Some(seconds) = fast {
            return Ok(seconds);
        }
    }
    crate::clock::parse(stamp)
        .map(|t| t.timestamp())
        .ok_or(Error::Internal("read a stored timestamp"))
}

/// Streams every won deal matching `filter`, with its touches before the close, into
/// `visit`, in one query.
pub async fn for_each_won_deal(
    store: &Store,
    filter: &WonDealFilter,
    mut visit: impl FnMut(&WonDeal, &[String]),
) -> Result<DealScan> {
    let mut sql = String::from(
        "SELECT o.id AS opportunity_id, o.amount_minor, o.currency, COALESCE(o.closed_at, o.updated_at) AS closed_at, \
         t.campaign_id, t.occurred_at \
         FROM opportunities o \
         LEFT JOIN marketing_touches t ON t.lead_id = o.lead_id AND t.occurred_at <= COALESCE(o.closed_at, o.updated_at) \
         WHERE o.stage = 'closed_won'",
    );
    let mut binds: Vec<&str> = Vec::new();
    if let Some(from) = &filter.closed_from {
        binds.push(from);
        sql.push_str(&format!(
            " AND COALESCE(o.closed_at, o.updated_at) >= ${}",
            binds.len()
        ));
    }
    if let Some(before) = &filter.closed_before {
        binds.push(before);
        sql.push_str(&format!(
            " AND COALESCE(o.closed_at, o.updated_at) < ${}",
            binds.len()
        ));
    }
    // Only the deal order is asked of the database: a sort of every touch by time would cost
    // more than the whole scan (SQLite sorts each deal's rows in a temporary B-tree), while
    // one deal's touches are few and sorted here.
    sql.push_str(" ORDER BY o.id");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(value);
    }
    let mut rows = query.fetch(store.pool());
    let mut scan = DealScan::default();
    let mut index: HashMap<String, u32> = HashMap::new();
    let mut deal = WonDeal::default();
    let mut pairs: Vec<(i64, u32)> = Vec::new();
    let mut open = false;
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("read won deals and their touches", error))?
    {
        let id: &str = row
            .try_get("opportunity_id")
            .map_err(|error| Error::from_sqlx("decode a won deal", error))?;
        if !open || deal.opportunity_id != id {
            if open {
                finish(&mut deal, &mut pairs, &scan.campaigns);
                visit(&deal, &scan.campaigns);
            }
            open = true;
            scan.deals += 1;
            deal.opportunity_id.clear();
            deal.opportunity_id.push_str(id);
            deal.amount_minor = crate::rows::get(&row, "amount_minor")?;
            deal.currency = crate::rows::get(&row, "currency")?;
            deal.closed_at = seconds(crate::rows::get(&row, "closed_at")?)?;
            pairs.clear();
        }
        let campaign: Option<&str> = row
            .try_get("campaign_id")
            .map_err(|error| Error::from_sqlx("decode a touch", error))?;
        let occurred: Option<&str> = row
            .try_get("occurred_at")
            .map_err(|error| Error::from_sqlx("decode a touch", error))?;
        if let (Some(campaign), Some(occurred)) = (campaign, occurred) {
            scan.touches += 1;
            let slot = match index.get(campaign) {
                Some(slot) => *slot,
                None => {
                    let slot = u32::try_from(scan.campaigns.len())
                        .map_err(|_| Error::Internal("index campaigns"))?;
                    index.insert(campaign.to_string(), slot);
                    scan.campaigns.push(campaign.to_string());
                    slot
                }
            };
            pairs.push((seconds(occurred)?, slot));
        }
    }
    if open {
        finish(&mut deal, &mut pairs, &scan.campaigns);
        visit(&deal, &scan.campaigns);
    }
    Ok(scan)
}

/// Puts a deal's touches in time order (ties by campaign id, so every backend and plan
/// gives the same order) into `deal`.
fn finish(deal: &mut WonDeal, pairs: &mut [(i64, u32)], campaigns: &[String]) {
    pairs.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| campaigns[a.1 as usize].cmp(&campaigns[b.1 as usize]))
    });
    deal.touch_times.clear();
    deal.touch_campaigns.clear();
    for (time, slot) in pairs.iter() {
        deal.touch_times.push(*time);
        deal.touch_campaigns.push(*slot);
    }
}

/// Every campaign's id, name and channel (a small table, read whole).
pub async fn campaign_channels(store: &Store) -> Result<HashMap<String, (String, String)>> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, name, channel FROM campaigns")
            .fetch_all(store.pool())
            .await
            .map_err(|error| Error::from_sqlx("read campaigns", error))?;
    Ok(rows
        .into_iter()
        .map(|(id, name, channel)| (id, (name, channel)))
        .collect())
}

/// Reads every marketing touch, every column decoded, and counts them: one plain scan of
/// the table, the baseline `revops-bench marketing` measures attribution and the funnel
/// against.
pub async fn scan_touches(store: &Store) -> Result<u64> {
    let mut rows = sqlx::query(
        "SELECT id, request_key, campaign_id, lead_id, touch_type, occurred_at FROM marketing_touches",
    )
    .fetch(store.pool());
    let mut seen = 0u64;
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("scan touches", error))?
    {
        let _: String = crate::rows::get(&row, "id")?;
        let _: Option<String> = crate::rows::get(&row, "request_key")?;
        let _: String = crate::rows::get(&row, "campaign_id")?;
        let _: String = crate::rows::get(&row, "lead_id")?;
        let _: String = crate::rows::get(&row, "touch_type")?;
        let _: String = crate::rows::get(&row, "occurred_at")?;
        seen += 1;
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_timestamps_are_read_fast_and_right() {
        for stamp in [
            "2026-01-02T03:04:05.000000Z",
            "1999-12-31T23:59:59.999999Z",
            "2026-11-21T21:49:29.224734Z",
            "2026-01-02T03:04:05+02:00",
        ] {
            let expected = crate::clock::parse(stamp).map(|t| t.timestamp());
            assert_eq!(super::seconds(stamp).ok(), expected, "{stamp}");
        }
        assert!(super::seconds("2026-13-02T03:04:05.000000Z").is_err());
    }
}
