//! Email sends, engagement and the suppression list (issue 6).
//!
//! The suite does not deliver mail: a scheduled send is a record (audience, subject, time,
//! how many recipients after suppression) for the sending platform to pick up. The
//! suppression list (unsubscribes, bounces, complaints, manual blocks) is checked when a
//! send is scheduled, so a suppressed address is never counted as a recipient.
//! Engagement joins the sends with the email opens and clicks recorded as marketing touches
//! and the unsubscribes on the suppression list, one `GROUP BY` each.

use std::collections::BTreeMap;

use crate::rows::get as col;
use crate::{Error, Result, Store, WriteTx};

/// An address on the suppression list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Suppression {
    pub email: String,
    /// unsubscribe, bounce, complaint or manual.
    pub reason: String,
    /// The campaign it came from (an unsubscribe link), if any.
    pub campaign_id: Option<String>,
    pub added_by: String,
    pub added_at: String,
}

async fn suppression(tx: &mut WriteTx, email: &str) -> Result<Option<Suppression>> {
    let row: Option<(String, String, Option<String>, String, String)> = sqlx::query_as(
        "SELECT email, reason, campaign_id, added_by, added_at FROM email_suppressions WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("read the suppression list", error))?;
    Ok(row.map(
        |(email, reason, campaign_id, added_by, added_at)| Suppression {
            email,
            reason,
            campaign_id,
            added_by,
            added_at,
        },
    ))
}

/// Adds an address (lower-cased) to the suppression list; an address already on it keeps
/// its first entry. Returns the entry and whether it was added now.
pub async fn suppress(
    tx: &mut WriteTx,
    email: &str,
    reason: &str,
    campaign_id: Option<&str>,
    actor: &str,
) -> Result<(Suppression, bool)> {
    let email = email.to_lowercase();
    if let Some(existing) = suppression(tx, &email).await? {
        return Ok((existing, false));
    }
    if let Some(campaign) = campaign_id {
        crate::require_exists(tx, "campaigns", "campaign", campaign).await?;
    }
    sqlx::query(
        "INSERT INTO email_suppressions (email, reason, campaign_id, added_by, added_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&email)
    .bind(reason)
    .bind(campaign_id)
    .bind(actor)
    .bind(crate::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("add to the suppression list", error))?;
    let added = suppression(tx, &email)
        .await?
        .ok_or(Error::Internal("read the suppression list"))?;
    Ok((added, true))
}

/// A send to schedule.
#[derive(Debug, Clone)]
pub struct NewSend {
    pub audience_id: String,
    pub campaign_id: Option<String>,
    pub subject: String,
    /// UTC timestamp.
    pub scheduled_for: String,
}

/// A scheduled send.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct EmailSend {
    pub send_id: String,
    pub audience_id: String,
    pub campaign_id: Option<String>,
    pub subject: String,
    pub scheduled_for: String,
    /// Addresses it goes to: the audience's members less the suppressed ones.
    pub recipients: i64,
    /// Members left out because their address is suppressed.
    pub suppressed: i64,
    /// scheduled, cancelled or sent.
    pub status: String,
    pub created_by: String,
    pub created_at: String,
}

async fn send_where(
    tx: &mut WriteTx,
    column: &'static str,
    value: &str,
) -> Result<Option<EmailSend>> {
    let sql = format!(
        "SELECT id, audience_id, campaign_id, subject, scheduled_for, recipients, suppressed, status, created_by, created_at \
         FROM email_sends WHERE {column} = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read an email send", error))?;
    row.map(|row| {
        Ok(EmailSend {
            send_id: col(&row, "id")?,
            audience_id: col(&row, "audience_id")?,
            campaign_id: col(&row, "campaign_id")?,
            subject: col(&row, "subject")?,
            scheduled_for: col(&row, "scheduled_for")?,
            recipients: col(&row, "recipients")?,
            suppressed: col(&row, "suppressed")?,
            status: col(&row, "status")?,
            created_by: col(&row, "created_by")?,
            created_at: col(&row, "created_at")?,
        })
    })
    .transpose()
}

/// The send a request key scheduled, if any (a retry returns it).
pub async fn send_by_request_key(tx: &mut WriteTx, key: &str) -> Result<Option<EmailSend>> {
    send_where(tx, "request_key", key).await
}

/// How many of an audience's members can be reached (not suppressed), and how many are
/// suppressed. The audience must exist.
pub async fn reach(tx: &mut WriteTx, audience_id: &str) -> Result<(i64, i64)> {
    crate::require_exists(tx, "audiences", "audience", audience_id).await?;
    let (total, suppressed): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN s.email IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) \
         FROM audience_members m LEFT JOIN email_suppressions s ON s.email = m.email WHERE m.audience_id = $1",
    )
    .bind(audience_id)
    .fetch_one(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("count an audience's recipients", error))?;
    Ok((total - suppressed, suppressed))
}

/// Records a scheduled send to an audience, counting its recipients after suppression.
pub async fn schedule(
    tx: &mut WriteTx,
    send: &NewSend,
    request_key: Option<&str>,
    actor: &str,
) -> Result<EmailSend> {
    if let Some(campaign) = &send.campaign_id {
        crate::require_exists(tx, "campaigns", "campaign", campaign).await?;
    }
    let (recipients, suppressed) = reach(tx, &send.audience_id).await?;
    let id = crate::ids::new_id("snd");
    sqlx::query(
        "INSERT INTO email_sends (id, request_key, audience_id, campaign_id, subject, scheduled_for, recipients, \
         suppressed, status, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled', $9, $10)",
    )
    .bind(&id)
    .bind(request_key)
    .bind(&send.audience_id)
    .bind(send.campaign_id.as_deref())
    .bind(&send.subject)
    .bind(&send.scheduled_for)
    .bind(recipients)
    .bind(suppressed)
    .bind(actor)
    .bind(crate::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("schedule an email send", error))?;
    send_where(tx, "id", &id)
        .await?
        .ok_or(Error::Internal("read a scheduled send"))
}

/// One campaign's email engagement over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignEngagement {
    pub campaign_id: String,
    pub name: String,
    pub channel: String,
    /// Sends scheduled for the period.
    pub sends: i64,
    /// Their recipients, after suppression.
    pub recipients: i64,
    /// Email opens recorded (touches of type email_open).
    pub opens: i64,
    /// Leads who opened at least once.
    pub unique_openers: i64,
    /// Email clicks recorded (touches of type email_click).
    pub clicks: i64,
    /// Unsubscribes attributed to the campaign.
    pub unsubscribes: i64,
}

/// Email engagement per campaign in `[from, before)` (UTC timestamps, either end open),
/// for one campaign or every campaign with any email activity in the period.
pub async fn engagement(
    store: &Store,
    campaign_id: Option<&str>,
    from: Option<&str>,
    before: Option<&str>,
) -> Result<Vec<CampaignEngagement>> {
    let mut by_campaign: BTreeMap<String, CampaignEngagement> = BTreeMap::new();
    let queries: [(&str, &str); 3] = [
        (
            "SELECT campaign_id, COUNT(*) AS a, CAST(COALESCE(SUM(recipients), 0) AS BIGINT) AS b, CAST(0 AS BIGINT) AS c, CAST(0 AS BIGINT) AS d \
             FROM email_sends WHERE status <> 'cancelled' AND campaign_id IS NOT NULL",
            "scheduled_for",
        ),
        (
            "SELECT campaign_id, CAST(SUM(CASE WHEN touch_type = 'email_open' THEN 1 ELSE 0 END) AS BIGINT) AS a, \
             CAST(SUM(CASE WHEN touch_type = 'email_click' THEN 1 ELSE 0 END) AS BIGINT) AS b, \
             COUNT(DISTINCT CASE WHEN touch_type = 'email_open' THEN lead_id END) AS c, CAST(0 AS BIGINT) AS d \
             FROM marketing_touches WHERE touch_type IN ('email_open', 'email_click')",
            "occurred_at",
        ),
        (
            "SELECT campaign_id, COUNT(*) AS a, CAST(0 AS BIGINT) AS b, CAST(0 AS BIGINT) AS c, CAST(0 AS BIGINT) AS d \
             FROM email_suppressions WHERE reason = 'unsubscribe' AND campaign_id IS NOT NULL",
            "added_at",
        ),
    ];
    for (slot, (select, time)) in queries.into_iter().enumerate() {
        let mut sql = select.to_string();
        let mut binds: Vec<&str> = Vec::new();
        if let Some(id) = campaign_id {
            binds.push(id);
            sql.push_str(&format!(" AND campaign_id = ${}", binds.len()));
        }
        if let Some(from) = from {
            binds.push(from);
            sql.push_str(&format!(" AND {time} >= ${}", binds.len()));
        }
        if let Some(before) = before {
            binds.push(before);
            sql.push_str(&format!(" AND {time} < ${}", binds.len()));
        }
        sql.push_str(" GROUP BY campaign_id");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in binds {
            query = query.bind(value);
        }
        let rows = query
            .fetch_all(store.pool())
            .await
            .map_err(|error| Error::from_sqlx("measure email engagement", error))?;
        for row in &rows {
            let id: String = col(row, "campaign_id")?;
            let a: i64 = col(row, "a")?;
            let b: i64 = col(row, "b")?;
            let c: i64 = col(row, "c")?;
            let entry = by_campaign
                .entry(id.clone())
                .or_insert_with(|| CampaignEngagement {
                    campaign_id: id,
                    ..Default::default()
                });
            match slot {
                0 => {
                    entry.sends = a;
                    entry.recipients = b;
                }
                1 => {
                    entry.opens = a;
                    entry.clicks = b;
                    entry.unique_openers = c;
                }
                _ => entry.unsubscribes = a,
            }
        }
    }
    let names = crate::attribution::campaign_channels(store).await?;
    for entry in by_campaign.values_mut() {
        if let Some((name, channel)) = names.get(&entry.campaign_id) {
            entry.name = name.clone();
            entry.channel = channel.clone();
        }
    }
    Ok(by_campaign.into_values().collect())
}
