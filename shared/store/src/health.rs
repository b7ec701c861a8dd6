//! The facts behind account health and churn risk (issue 7): one account's whole history
//! for the single-account tools, and one streaming pass over every account in a scope for
//! the listings (at-risk accounts, segment churn forecasts, expansion).
//!
//! Everything is evaluated **as of** the account's latest usage week (the Monday of that
//! week plus 7 days): ticket and NPS windows end there, so for an account that churned the
//! facts are those a CSM had just before it left, and a backtest asks "would we have seen it
//! coming". The models (crate `scoring`) never see MRR or the lifecycle stage.
//!
//! The streaming pass runs a fixed number of queries whatever the number of accounts: the
//! accounts in scope (one query), their tickets and NPS answers in compact form (one query
//! each, grouped by account in memory), and the usage table read once as a stream ordered by
//! account and week, handing each account's history to the caller as soon as it is complete.

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use futures::TryStreamExt;
use sqlx::{AssertSqlSafe, Row};

use crate::records::{Account, UsageWeek};
use crate::rows::{self, ACCOUNT_COLUMNS};
use crate::{Error, Result, Store};

/// A ticket as the models read it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFact {
    /// low, normal, high or urgent.
    pub priority: String,
    pub opened_at: String,
    pub resolved_at: Option<String>,
    pub csat: Option<i64>,
    /// About billing (the subject mentions a bill, invoice or charge).
    pub billing: bool,
}

/// An NPS answer as the models read it.
#[derive(Debug, Clone, PartialEq)]
pub struct NpsFact {
    pub score: i64,
    pub responded_at: String,
}

/// Tickets seen from the "as of" moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SupportWindow {
    pub tickets_90d: u32,
    pub urgent_90d: u32,
    pub high_90d: u32,
    pub open_now: u32,
    pub csat_sum: u32,
    pub csat_count: u32,
    pub billing_90d: u32,
}

/// NPS answers in the year before the "as of" moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NpsWindow {
    pub responses: u32,
    pub score_sum: u32,
    pub latest: Option<u32>,
    pub promoters: u32,
    pub detractors: u32,
}

/// One account with everything the health, churn, expansion and onboarding views read.
#[derive(Debug, Clone)]
pub struct AccountHistory {
    pub account: Account,
    /// Weekly usage, oldest first (up to 260 weeks).
    pub usage: Vec<UsageWeek>,
    pub tickets: Vec<TicketFact>,
    pub nps: Vec<NpsFact>,
    /// Touchpoints, calls and meetings logged in the 90 days before the moment.
    pub touchpoints_90d: u32,
}

/// Which accounts a pass visits; every field narrows it when set.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only these lifecycle stages (empty: all).
    pub lifecycle_stages: Vec<String>,
    pub segment: Option<String>,
    pub plan_tier: Option<String>,
    pub csm_owner: Option<String>,
}

impl Scope {
    /// `WHERE` conditions on `accounts` (without the keyword) and their binds, numbered from 1.
    fn conditions(&self) -> (String, Vec<String>) {
        let mut parts = Vec::new();
        let mut binds = Vec::new();
        if !self.lifecycle_stages.is_empty() {
            let mut marks = Vec::new();
            for stage in &self.lifecycle_stages {
                binds.push(stage.clone());
                marks.push(format!("${}", binds.len()));
            }
            parts.push(format!("lifecycle_stage IN ({})", marks.join(", ")));
        }
        for (column, value) in [
            ("segment", &self.segment),
            ("plan_tier", &self.plan_tier),
            ("csm_owner", &self.csm_owner),
        ] {
            if let Some(value) = value {
                binds.push(value.clone());
                parts.push(format!("{column} = ${}", binds.len()));
            }
        }
        (parts.join(" AND "), binds)
    }
}

/// The "as of" moment of a history: the Monday after its latest week, as a date.
pub fn as_of(usage: &[UsageWeek]) -> Option<NaiveDate> {
    let last = usage.last()?;
    crate::clock::parse_date(&last.week_start).and_then(|d| d.checked_add_days(Days::new(7)))
}

fn stamp(date: NaiveDate) -> String {
    crate::clock::format(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

fn days_before(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_sub_days(Days::new(days)).unwrap_or(date)
}

/// Counts tickets in the windows ending at `as_of`.
pub fn support_window(tickets: &[TicketFact], as_of: NaiveDate) -> SupportWindow {
    let end = stamp(as_of);
    let from_90 = stamp(days_before(as_of, 90));
    let from_180 = stamp(days_before(as_of, 180));
    let mut w = SupportWindow::default();
    for t in tickets {
        if t.opened_at >= end {
            continue;
        }
        if t.opened_at >= from_90 {
            w.tickets_90d += 1;
            match t.priority.as_str() {
                "urgent" => w.urgent_90d += 1,
                "high" => w.high_90d += 1,
                _ => {}
            }
            if t.billing {
                w.billing_90d += 1;
            }
        }
        match &t.resolved_at {
            Some(resolved) if *resolved < end => {
                if *resolved >= from_180
                    && let Some(csat) = t.csat
                {
                    w.csat_sum += u32::try_from(csat.clamp(1, 5)).unwrap_or(0);
                    w.csat_count += 1;
                }
            }
            _ => w.open_now += 1,
        }
    }
    w
}

/// Counts NPS answers in the year ending at `as_of`.
pub fn nps_window(answers: &[NpsFact], as_of: NaiveDate) -> NpsWindow {
    let end = stamp(as_of);
    let from = stamp(days_before(as_of, 365));
    let mut w = NpsWindow::default();
    let mut latest: Option<&NpsFact> = None;
    for a in answers {
        if a.responded_at >= end || a.responded_at < from {
            continue;
        }
        let score = u32::try_from(a.score.clamp(0, 10)).unwrap_or(0);
        w.responses += 1;
        w.score_sum += score;
        if score >= 9 {
            w.promoters += 1;
        } else if score <= 6 {
            w.detractors += 1;
        }
        if latest.is_none_or(|l| a.responded_at > l.responded_at) {
            latest = Some(a);
        }
    }
    w.latest = latest.map(|l| u32::try_from(l.score.clamp(0, 10)).unwrap_or(0));
    w
}

const TICKET_FACT_SQL: &str = "SELECT account_id, priority, opened_at, resolved_at, csat, \
     CASE WHEN LOWER(subject) LIKE '%bill%' OR LOWER(subject) LIKE '%invoice%' \
          OR LOWER(subject) LIKE '%charge%' THEN 1 ELSE 0 END AS billing \
     FROM support_tickets";

fn ticket_fact(row: &sqlx::any::AnyRow) -> Result<(String, TicketFact)> {
    let billing: i64 = rows::get(row, "billing")?;
    Ok((
        rows::get(row, "account_id")?,
        TicketFact {
            priority: rows::get(row, "priority")?,
            opened_at: rows::get(row, "opened_at")?,
            resolved_at: rows::get(row, "resolved_at")?,
            csat: rows::get(row, "csat")?,
            billing: billing != 0,
        },
    ))
}

fn nps_fact(row: &sqlx::any::AnyRow) -> Result<(String, NpsFact)> {
    Ok((
        rows::get(row, "account_id")?,
        NpsFact {
            score: rows::get(row, "score")?,
            responded_at: rows::get(row, "responded_at")?,
        },
    ))
}

/// Decodes a usage row by position: `account_id, week_start, active_users, seats_used,
/// logins, feature_events, premium_feature_events`.
fn usage_row(row: &sqlx::any::AnyRow) -> Result<(String, UsageWeek)> {
    let get_i = |i: usize| -> Result<i64> {
        row.try_get::<i64, _>(i)
            .map_err(|error| Error::from_sqlx("decode a usage week", error))
    };
    let account_id: String = row
        .try_get(0)
        .map_err(|error| Error::from_sqlx("decode a usage week", error))?;
    let week_start: String = row
        .try_get(1)
        .map_err(|error| Error::from_sqlx("decode a usage week", error))?;
    Ok((
        account_id,
        UsageWeek {
            week_start,
            active_users: get_i(2)?,
            seats_used: get_i(3)?,
            logins: get_i(4)?,
            feature_events: get_i(5)?,
            premium_feature_events: get_i(6)?,
        },
    ))
}

/// One account's history, for the single-account tools; `NotFound` for an unknown id.
pub async fn history(store: &Store, account_id: &str) -> Result<AccountHistory> {
    let account = crate::accounts::get(store, account_id).await?;
    let usage = crate::support::usage_history(store, account_id, 260).await?;
    let sql = format!("{TICKET_FACT_SQL} WHERE account_id = $1");
    let tickets = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read tickets", error))?
        .iter()
        .map(|r| ticket_fact(r).map(|(_, t)| t))
        .collect::<Result<Vec<_>>>()?;
    let nps = sqlx::query(
        "SELECT account_id, score, responded_at FROM nps_responses WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("read NPS answers", error))?
    .iter()
    .map(|r| nps_fact(r).map(|(_, n)| n))
    .collect::<Result<Vec<_>>>()?;
    let moment = as_of(&usage).map_or_else(crate::clock::now, stamp);
    let since = crate::clock::parse(&moment)
        .map(|m| crate::clock::format(m - chrono::TimeDelta::days(90)))
        .unwrap_or_default();
    let touchpoints: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM activities WHERE account_id = $1 \
         AND kind IN ('touchpoint', 'meeting', 'call') AND occurred_at >= $2 AND occurred_at < $3",
    )
    .bind(account_id)
    .bind(&since)
    .bind(&moment)
    .fetch_one(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("count touchpoints", error))?;
    Ok(AccountHistory {
        account,
        usage,
        tickets,
        nps,
        touchpoints_90d: u32::try_from(touchpoints).unwrap_or(u32::MAX),
    })
}

/// Visits every account in `scope` once with its full usage history (oldest first, empty
/// when it has none), its tickets and its NPS answers. Accounts with usage are visited in
/// the order the database sorts their ids; those without usage come last, in id order.
pub async fn for_each_account<F>(store: &Store, scope: &Scope, mut visit: F) -> Result<()>
where
    F: FnMut(&Account, &[UsageWeek], &[TicketFact], &[NpsFact]),
{
    let (conditions, binds) = scope.conditions();
    let account_where = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {conditions}")
    };
    let in_scope = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE account_id IN (SELECT id FROM accounts{account_where})")
    };

    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts{account_where} ORDER BY id");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b.clone());
    }
    let accounts = query
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read accounts", error))?
        .iter()
        .map(rows::account)
        .collect::<Result<Vec<_>>>()?;
    let index: HashMap<&str, usize> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();

    let mut tickets: HashMap<String, Vec<TicketFact>> = HashMap::new();
    let sql = format!("{TICKET_FACT_SQL}{in_scope}");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b.clone());
    }
    for row in query
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read tickets", error))?
    {
        let (id, t) = ticket_fact(&row)?;
        tickets.entry(id).or_default().push(t);
    }
    let mut answers: HashMap<String, Vec<NpsFact>> = HashMap::new();
    let sql = format!("SELECT account_id, score, responded_at FROM nps_responses{in_scope}");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b.clone());
    }
    for row in query
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read NPS answers", error))?
    {
        let (id, n) = nps_fact(&row)?;
        answers.entry(id).or_default().push(n);
    }

    let mut visited = vec![false; accounts.len()];
    let mut flush = |id: &str, weeks: &[UsageWeek], visited: &mut Vec<bool>| {
        if let Some(&i) = index.get(id) {
            visited[i] = true;
            visit(
                &accounts[i],
                weeks,
                tickets.get(id).map_or(&[][..], Vec::as_slice),
                answers.get(id).map_or(&[][..], Vec::as_slice),
            );
        }
    };
    // Rows of one account are contiguous (ORDER BY account_id), whatever the collation, so
    // an account is complete when the next one starts.
    let sql = format!(
        "SELECT account_id, week_start, active_users, seats_used, logins, feature_events, \
         premium_feature_events FROM usage_snapshots{in_scope} ORDER BY account_id, week_start"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b.clone());
    }
    let mut stream = query.fetch(store.pool());
    let mut current = String::new();
    let mut weeks: Vec<UsageWeek> = Vec::with_capacity(64);
    while let Some(row) = stream
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("read usage", error))?
    {
        let (id, week) = usage_row(&row)?;
        if id != current {
            if !current.is_empty() {
                flush(&current, &weeks, &mut visited);
            }
            current = id;
            weeks.clear();
        }
        weeks.push(week);
    }
    drop(stream);
    if !current.is_empty() {
        flush(&current, &weeks, &mut visited);
    }
    for i in 0..accounts.len() {
        if !visited[i] {
            let id = accounts[i].id.clone();
            flush(&id, &[], &mut visited);
        }
    }
    Ok(())
}

/// One plain scan of the usage table with every column of every row decoded (the
/// yardstick the at-risk benchmark compares with); returns the row count.
pub async fn scan_usage(store: &Store) -> Result<u64> {
    let mut stream = sqlx::query(
        "SELECT account_id, week_start, active_users, seats_used, logins, feature_events, \
         premium_feature_events FROM usage_snapshots",
    )
    .fetch(store.pool());
    let mut count = 0u64;
    while let Some(row) = stream
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("scan usage", error))?
    {
        let (id, week) = usage_row(&row)?;
        std::hint::black_box((id, week));
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn ticket(
        priority: &str,
        opened: &str,
        resolved: Option<&str>,
        csat: Option<i64>,
    ) -> TicketFact {
        TicketFact {
            priority: priority.into(),
            opened_at: opened.into(),
            resolved_at: resolved.map(Into::into),
            csat,
            billing: false,
        }
    }

    #[test]
    fn windows_end_at_the_moment() {
        let as_of = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        let tickets = vec![
            ticket("urgent", "2026-05-20T10:00:00.000000Z", None, None),
            ticket(
                "high",
                "2026-04-01T10:00:00.000000Z",
                Some("2026-04-02T10:00:00.000000Z"),
                Some(4),
            ),
            // Opened after the moment: unseen.
            ticket("urgent", "2026-06-03T10:00:00.000000Z", None, None),
            // Resolved after the moment: still open then.
            ticket(
                "low",
                "2026-01-01T10:00:00.000000Z",
                Some("2026-07-01T10:00:00.000000Z"),
                Some(1),
            ),
        ];
        let w = support_window(&tickets, as_of);
        assert_eq!(
            (w.tickets_90d, w.urgent_90d, w.high_90d, w.open_now),
            (2, 1, 1, 2)
        );
        assert_eq!((w.csat_sum, w.csat_count), (4, 1));
        let answers = vec![
            NpsFact {
                score: 3,
                responded_at: "2026-05-01T00:00:00.000000Z".into(),
            },
            NpsFact {
                score: 9,
                responded_at: "2026-02-01T00:00:00.000000Z".into(),
            },
            NpsFact {
                score: 10,
                responded_at: "2024-02-01T00:00:00.000000Z".into(),
            },
        ];
        let n = nps_window(&answers, as_of);
        assert_eq!(
            (
                n.responses,
                n.score_sum,
                n.latest,
                n.promoters,
                n.detractors
            ),
            (2, 12, Some(3), 1, 1)
        );
    }
}
