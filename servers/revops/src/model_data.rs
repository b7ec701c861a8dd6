//! The store's own outcomes as tables to learn from, one per model kind. Each row is one
//! subject (a lead, a customer account, a trial account) with its features as text cells and
//! its outcome (empty while still open, so it is left out of training).
//!
//! - lead: leads that converted (1) or were disqualified (0); firmographics and engagement.
//! - churn: paying customers that churned (1) or stayed (0); usage as of four weeks before
//!   their last recorded week (so a churned account's fading last weeks are not what the
//!   model learns from: it has to see churn coming), tickets and NPS.
//! - conversion: trial accounts that became customers (1) or whose trial ended without it
//!   (0); usage during the trial and firmographics.

use futures::TryStreamExt;
use learn::table::{Column, Table};
use sqlx::Row;

/// Builds a table column by column from named text cells.
struct TableBuilder {
    columns: Vec<Column>,
    rows: usize,
}

impl TableBuilder {
    fn new(names: &[&str]) -> TableBuilder {
        TableBuilder {
            columns: names
                .iter()
                .map(|name| Column {
                    name: name.to_string(),
                    cells: Vec::new(),
                })
                .collect(),
            rows: 0,
        }
    }

    fn push(&mut self, cells: Vec<Option<String>>) {
        for (column, cell) in self.columns.iter_mut().zip(cells) {
            column.cells.push(cell);
        }
        self.rows += 1;
    }

    fn finish(self) -> Table {
        Table {
            columns: self.columns,
            rows: self.rows,
        }
    }
}

fn text(row: &sqlx::any::AnyRow, column: &str) -> anyhow::Result<Option<String>> {
    // Columns arrive as TEXT or integers depending on the backend; read either.
    if let Ok(value) = row.try_get::<Option<String>, _>(column) {
        return Ok(value);
    }
    if let Ok(value) = row.try_get::<Option<i64>, _>(column) {
        return Ok(value.map(|v| v.to_string()));
    }
    if let Ok(value) = row.try_get::<Option<bool>, _>(column) {
        return Ok(value.map(|v| u8::from(v).to_string()));
    }
    Ok(row
        .try_get::<Option<f64>, _>(column)?
        .map(|v| v.to_string()))
}

/// The outcome column of every table.
pub const LABEL: &str = "outcome";

/// The table for `kind` from the store's outcomes.
pub async fn table_for(store: &store::Store, kind: &str) -> anyhow::Result<Table> {
    match kind {
        "lead" => leads(store).await,
        "churn" => customers(store).await,
        "conversion" => trials(store).await,
        other => {
            anyhow::bail!("no training data for the kind {other:?}; use lead, churn or conversion")
        }
    }
}

async fn leads(store: &store::Store) -> anyhow::Result<Table> {
    const FEATURES: [&str; 10] = [
        "industry",
        "employee_count",
        "country",
        "source",
        "website_visits_30d",
        "demo_requested",
        "whitepaper_downloads",
        "email_engagement_score",
        "linkedin_engagement",
        "free_trial_started",
    ];
    let sql = format!(
        "SELECT {}, CASE WHEN status = 'converted' OR converted_account_id IS NOT NULL THEN '1' \
         WHEN status = 'disqualified' THEN '0' ELSE NULL END AS outcome FROM leads ORDER BY id",
        FEATURES.join(", ")
    );
    let mut names = FEATURES.to_vec();
    names.push(LABEL);
    let mut builder = TableBuilder::new(&names);
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(store.pool());
    while let Some(row) = rows.try_next().await? {
        builder.push(
            names
                .iter()
                .map(|n| text(&row, n))
                .collect::<anyhow::Result<_>>()?,
        );
    }
    Ok(builder.finish())
}

/// Usage of one account, oldest week first.
#[derive(Default)]
struct Usage {
    weeks: Vec<[f64; 5]>,
}

impl Usage {
    /// Features over the weeks before `end` (exclusive): the last 4 weeks' averages and the
    /// change against the 4 before.
    fn features(&self, end: usize, seats: f64) -> Vec<Option<String>> {
        let window = |from: usize, to: usize, field: usize| -> Option<f64> {
            let slice = self.weeks.get(from..to)?;
            (!slice.is_empty())
                .then(|| slice.iter().map(|w| w[field]).sum::<f64>() / slice.len() as f64)
        };
        let recent = |field| window(end.saturating_sub(4), end, field);
        let before = |field| window(end.saturating_sub(8), end.saturating_sub(4), field);
        let change = |field| match (recent(field), before(field)) {
            (Some(now), Some(then)) if then > 0.0 => Some(now / then - 1.0),
            _ => None,
        };
        let fmt = |v: Option<f64>| v.map(|v| format!("{v:.4}"));
        vec![
            fmt(recent(0)),
            fmt(recent(1).map(|used| if seats > 0.0 { used / seats } else { 0.0 })),
            fmt(recent(2)),
            fmt(recent(3)),
            fmt(recent(4)),
            fmt(change(0)),
            fmt(change(2)),
            fmt(change(3)),
        ]
    }
}

/// Usage features. How many weeks an account has is not one: a churned account's history
/// ends when it leaves, so its length would give the outcome away.
const USAGE_FEATURES: [&str; 8] = [
    "active_users",
    "seat_utilisation",
    "logins",
    "feature_events",
    "premium_feature_events",
    "active_users_change",
    "logins_change",
    "feature_events_change",
];

async fn usage_by_account(
    store: &store::Store,
) -> anyhow::Result<std::collections::HashMap<String, Usage>> {
    let mut usage: std::collections::HashMap<String, Usage> = std::collections::HashMap::new();
    let mut rows = sqlx::query(
        "SELECT account_id, active_users, seats_used, logins, feature_events, premium_feature_events \
         FROM usage_snapshots ORDER BY account_id, week_start",
    )
    .fetch(store.pool());
    while let Some(row) = rows.try_next().await? {
        let account: String = row.try_get("account_id")?;
        let mut week = [0.0; 5];
        for (slot, name) in week.iter_mut().zip([
            "active_users",
            "seats_used",
            "logins",
            "feature_events",
            "premium_feature_events",
        ]) {
            *slot = row.try_get::<i64, _>(name)? as f64;
        }
        usage.entry(account).or_default().weeks.push(week);
    }
    Ok(usage)
}

async fn per_account_counts(
    store: &store::Store,
) -> anyhow::Result<std::collections::HashMap<String, [Option<String>; 3]>> {
    let mut counts: std::collections::HashMap<String, [Option<String>; 3]> =
        std::collections::HashMap::new();
    let tickets = sqlx::query(
        "SELECT account_id, COUNT(*) AS tickets, \
         SUM(CASE WHEN priority IN ('high', 'urgent') THEN 1 ELSE 0 END) AS urgent FROM support_tickets GROUP BY account_id",
    )
    .fetch_all(store.pool())
    .await?;
    for row in tickets {
        let entry = counts.entry(row.try_get("account_id")?).or_default();
        entry[0] = text(&row, "tickets")?;
        entry[1] = text(&row, "urgent")?;
    }
    let nps = sqlx::query("SELECT account_id, CAST(AVG(score) AS DOUBLE PRECISION) AS nps FROM nps_responses GROUP BY account_id")
        .fetch_all(store.pool())
        .await;
    // SQLite has no DOUBLE PRECISION cast name issue (it accepts it); keep one query.
    for row in nps? {
        counts.entry(row.try_get("account_id")?).or_default()[2] = text(&row, "nps")?;
    }
    Ok(counts)
}

/// The account columns every account table starts with.
const FIRMOGRAPHICS: [&str; 5] = [
    "plan_tier",
    "segment",
    "industry",
    "employee_count",
    "seats_purchased",
];

fn firmographics(row: &sqlx::any::AnyRow) -> anyhow::Result<Vec<Option<String>>> {
    FIRMOGRAPHICS
        .iter()
        .map(|column| text(row, column))
        .collect()
}

async fn customers(store: &store::Store) -> anyhow::Result<Table> {
    let usage = usage_by_account(store).await?;
    let counts = per_account_counts(store).await?;
    let mut names = vec![
        "plan_tier",
        "segment",
        "industry",
        "employee_count",
        "seats_purchased",
    ];
    names.extend(USAGE_FEATURES);
    names.extend(["tickets", "urgent_tickets", "nps_average", LABEL]);
    let mut builder = TableBuilder::new(&names);
    let accounts = sqlx::query(
        "SELECT id, plan_tier, segment, industry, employee_count, seats_purchased, lifecycle_stage FROM accounts \
         WHERE customer_since IS NOT NULL ORDER BY id",
    )
    .fetch_all(store.pool())
    .await?;
    for row in accounts {
        let id: String = row.try_get("id")?;
        let seats = row.try_get::<i64, _>("seats_purchased")? as f64;
        let mut cells = firmographics(&row)?;
        let history = usage.get(&id);
        let weeks = history.map_or(0, |u| u.weeks.len());
        // As of four weeks before the last recorded week: the model must see churn coming.
        cells.extend(match history {
            Some(history) if weeks > 4 => history.features(weeks - 4, seats),
            _ => vec![None; USAGE_FEATURES.len()],
        });
        let [tickets, urgent, nps] = counts.get(&id).cloned().unwrap_or_default();
        cells.extend([
            tickets.or(Some("0".into())),
            urgent.or(Some("0".into())),
            nps,
        ]);
        let churned: String = row.try_get("lifecycle_stage")?;
        cells.push(Some(if churned == "churned" { "1" } else { "0" }.into()));
        builder.push(cells);
    }
    Ok(builder.finish())
}

async fn trials(store: &store::Store) -> anyhow::Result<Table> {
    let usage = usage_by_account(store).await?;
    let mut names = vec![
        "plan_tier",
        "segment",
        "industry",
        "employee_count",
        "seats_purchased",
    ];
    names.extend(USAGE_FEATURES);
    names.push(LABEL);
    let mut builder = TableBuilder::new(&names);
    let now = store::clock::now();
    let accounts = sqlx::query(
        "SELECT id, plan_tier, segment, industry, employee_count, seats_purchased, customer_since, trial_ends_at \
         FROM accounts WHERE trial_started_at IS NOT NULL ORDER BY id",
    )
    .fetch_all(store.pool())
    .await?;
    for row in accounts {
        let id: String = row.try_get("id")?;
        let seats = row.try_get::<i64, _>("seats_purchased")? as f64;
        let mut cells = firmographics(&row)?;
        let history = usage.get(&id);
        // The trial's weeks only: at most the first four of the history.
        let trial_weeks = history.map_or(0, |u| u.weeks.len().min(4));
        cells.extend(match history {
            Some(history) if trial_weeks > 0 => history.features(trial_weeks, seats),
            _ => vec![None; USAGE_FEATURES.len()],
        });
        let converted: Option<String> = row.try_get("customer_since")?;
        let ends: Option<String> = row.try_get("trial_ends_at")?;
        let outcome = match (converted, ends) {
            (Some(_), _) => Some("1".to_string()),
            (None, Some(ends)) if ends < now => Some("0".to_string()),
            _ => None, // still in trial: no outcome yet
        };
        cells.push(outcome);
        builder.push(cells);
    }
    Ok(builder.finish())
}
