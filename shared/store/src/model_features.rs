//! Model features from the store: one row per subject (a lead, a customer account, a trial
//! account) with its features as text cells and its outcome (empty while still open). The
//! same code builds the rows a model learns from (`revops model train`) and the row a server
//! scores with the active learnt version, so training and serving can never compute a feature
//! differently.
//!
//! - lead: leads that converted (1) or were disqualified (0); firmographics and engagement.
//! - churn: paying customers that churned (1) or stayed (0); usage, tickets and NPS. For
//!   training, usage is taken as of four weeks before the account's last recorded week (so a
//!   churned account's fading last weeks are not what the model learns from: it has to see
//!   churn coming); for scoring, as of the latest week.
//! - conversion: trial accounts that became customers (1) or whose trial ended without it
//!   (0); usage during the trial and firmographics.

use std::collections::HashMap;

use futures::TryStreamExt;
use sqlx::Row;

use crate::{Error, Result, Store};

/// The outcome column of every table.
pub const LABEL: &str = "outcome";

/// Which subjects to build rows for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subjects<'a> {
    /// Every subject of the kind (training, evaluation).
    All,
    /// One lead or account (scoring).
    One(&'a str),
}

/// When usage features are taken: as the model learnt them, or now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Churn: four weeks before the last recorded week.
    Training,
    /// The latest week.
    Now,
}

/// Feature rows, column by column; the last column is [`LABEL`].
#[derive(Debug, Clone, Default)]
pub struct FeatureRows {
    pub names: Vec<String>,
    /// The subject of each row.
    pub ids: Vec<String>,
    /// One vector of cells per name.
    pub columns: Vec<Vec<Option<String>>>,
}

impl FeatureRows {
    fn new(names: &[&str]) -> FeatureRows {
        FeatureRows {
            names: names.iter().map(|n| n.to_string()).collect(),
            ids: Vec::new(),
            columns: vec![Vec::new(); names.len()],
        }
    }

    fn push(&mut self, id: String, cells: Vec<Option<String>>) {
        for (column, cell) in self.columns.iter_mut().zip(cells) {
            column.push(cell);
        }
        self.ids.push(id);
    }

    /// The cells of row `index` by feature name.
    pub fn row(&self, index: usize) -> HashMap<&str, Option<&str>> {
        self.names
            .iter()
            .zip(&self.columns)
            .map(|(name, cells)| (name.as_str(), cells.get(index).and_then(|c| c.as_deref())))
            .collect()
    }

    /// The feature names (without the outcome).
    pub fn features(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .map(String::as_str)
            .filter(|n| *n != LABEL)
    }
}

/// The rows of `kind` (lead, churn or conversion) for `subjects`.
pub async fn rows(
    store: &Store,
    kind: &str,
    subjects: Subjects<'_>,
    as_of: AsOf,
) -> Result<FeatureRows> {
    match kind {
        "lead" => leads(store, subjects).await,
        "churn" => customers(store, subjects, as_of).await,
        "conversion" => trials(store, subjects).await,
        other => Err(Error::Conflict(format!(
            "no features for the model kind {other:?}; use lead, churn or conversion"
        ))),
    }
}

/// A lead's features: firmographics and engagement, columns of `leads`.
const LEAD_FEATURES: [&str; 10] = [
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

/// Tickets and NPS, after the usage features of a customer.
const SUPPORT_FEATURES: [&str; 3] = ["tickets", "urgent_tickets", "nps_average"];

/// The features the store can give for `kind` (none for an unknown kind).
pub fn feature_names(kind: &str) -> Vec<&'static str> {
    match kind {
        "lead" => LEAD_FEATURES.to_vec(),
        "churn" => [
            &FIRMOGRAPHICS[..],
            &USAGE_FEATURES[..],
            &SUPPORT_FEATURES[..],
        ]
        .concat(),
        "conversion" => [&FIRMOGRAPHICS[..], &USAGE_FEATURES[..]].concat(),
        _ => Vec::new(),
    }
}

fn sql_error(action: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |error| Error::from_sqlx(action, error)
}

fn text(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<String>> {
    // Columns arrive as TEXT or integers depending on the backend; read either. The value's
    // own type picks the decoder: trying each in turn built an error for every integer cell,
    // and a learnt `rank_leads` reads every lead's features.
    use sqlx::ValueRef as _;
    use sqlx::any::AnyTypeInfoKind;
    let kind = row
        .try_get_raw(column)
        .ok()
        .map(|value| value.type_info().kind());
    match kind {
        Some(AnyTypeInfoKind::Null) => return Ok(None),
        Some(AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt) => {
            if let Ok(value) = row.try_get::<Option<i64>, _>(column) {
                return Ok(value.map(|v| v.to_string()));
            }
        }
        _ => {}
    }
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
        .try_get::<Option<f64>, _>(column)
        .map_err(sql_error("read a feature"))?
        .map(|v| v.to_string()))
}

async fn leads(store: &Store, subjects: Subjects<'_>) -> Result<FeatureRows> {
    let sql = format!(
        "SELECT id, {}, CASE WHEN status = 'converted' OR converted_account_id IS NOT NULL THEN '1' \
         WHEN status = 'disqualified' THEN '0' ELSE NULL END AS outcome FROM leads \
         WHERE ($1 IS NULL OR id = $1) ORDER BY id",
        LEAD_FEATURES.join(", ")
    );
    let mut names = LEAD_FEATURES.to_vec();
    names.push(LABEL);
    let mut table = FeatureRows::new(&names);
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(subject_of(subjects))
        .fetch(store.pool());
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(sql_error("read lead features"))?
    {
        let cells = names
            .iter()
            .map(|n| text(&row, n))
            .collect::<Result<Vec<_>>>()?;
        table.push(
            row.try_get("id").map_err(sql_error("read lead features"))?,
            cells,
        );
    }
    Ok(table)
}

fn subject_of(subjects: Subjects<'_>) -> Option<String> {
    match subjects {
        Subjects::All => None,
        Subjects::One(id) => Some(id.to_string()),
    }
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

async fn usage_by_account(store: &Store, subjects: Subjects<'_>) -> Result<HashMap<String, Usage>> {
    let mut usage: HashMap<String, Usage> = HashMap::new();
    let mut rows = sqlx::query(
        "SELECT account_id, active_users, seats_used, logins, feature_events, premium_feature_events \
         FROM usage_snapshots WHERE ($1 IS NULL OR account_id = $1) ORDER BY account_id, week_start",
    )
    .bind(subject_of(subjects))
    .fetch(store.pool());
    let read = sql_error("read usage features");
    while let Some(row) = rows.try_next().await.map_err(&read)? {
        let account: String = row.try_get("account_id").map_err(&read)?;
        let mut week = [0.0; 5];
        for (slot, name) in week.iter_mut().zip([
            "active_users",
            "seats_used",
            "logins",
            "feature_events",
            "premium_feature_events",
        ]) {
            *slot = row.try_get::<i64, _>(name).map_err(&read)? as f64;
        }
        usage.entry(account).or_default().weeks.push(week);
    }
    Ok(usage)
}

async fn per_account_counts(
    store: &Store,
    subjects: Subjects<'_>,
) -> Result<HashMap<String, [Option<String>; 3]>> {
    let read = sql_error("read ticket and NPS features");
    let mut counts: HashMap<String, [Option<String>; 3]> = HashMap::new();
    let tickets = sqlx::query(
        "SELECT account_id, COUNT(*) AS tickets, \
         SUM(CASE WHEN priority IN ('high', 'urgent') THEN 1 ELSE 0 END) AS urgent FROM support_tickets \
         WHERE ($1 IS NULL OR account_id = $1) GROUP BY account_id",
    )
    .bind(subject_of(subjects))
    .fetch_all(store.pool())
    .await
    .map_err(&read)?;
    for row in tickets {
        let entry = counts
            .entry(row.try_get("account_id").map_err(&read)?)
            .or_default();
        entry[0] = text(&row, "tickets")?;
        entry[1] = text(&row, "urgent")?;
    }
    let nps = sqlx::query(
        "SELECT account_id, CAST(AVG(score) AS DOUBLE PRECISION) AS nps FROM nps_responses \
         WHERE ($1 IS NULL OR account_id = $1) GROUP BY account_id",
    )
    .bind(subject_of(subjects))
    .fetch_all(store.pool())
    .await
    .map_err(&read)?;
    for row in nps {
        counts
            .entry(row.try_get("account_id").map_err(&read)?)
            .or_default()[2] = text(&row, "nps")?;
    }
    Ok(counts)
}

fn firmographics(row: &sqlx::any::AnyRow) -> Result<Vec<Option<String>>> {
    FIRMOGRAPHICS
        .iter()
        .map(|column| text(row, column))
        .collect()
}

async fn customers(store: &Store, subjects: Subjects<'_>, as_of: AsOf) -> Result<FeatureRows> {
    let usage = usage_by_account(store, subjects).await?;
    let counts = per_account_counts(store, subjects).await?;
    let mut names = feature_names("churn");
    names.push(LABEL);
    let mut table = FeatureRows::new(&names);
    let read = sql_error("read account features");
    let accounts = sqlx::query(
        "SELECT id, plan_tier, segment, industry, employee_count, seats_purchased, lifecycle_stage FROM accounts \
         WHERE customer_since IS NOT NULL AND ($1 IS NULL OR id = $1) ORDER BY id",
    )
    .bind(subject_of(subjects))
    .fetch_all(store.pool())
    .await
    .map_err(&read)?;
    for row in accounts {
        let id: String = row.try_get("id").map_err(&read)?;
        let seats = row.try_get::<i64, _>("seats_purchased").map_err(&read)? as f64;
        let mut cells = firmographics(&row)?;
        let history = usage.get(&id);
        let weeks = history.map_or(0, |u| u.weeks.len());
        let end = match as_of {
            AsOf::Training if weeks > 4 => Some(weeks - 4),
            AsOf::Now if weeks > 0 => Some(weeks),
            _ => None,
        };
        cells.extend(match (history, end) {
            (Some(history), Some(end)) => history.features(end, seats),
            _ => vec![None; USAGE_FEATURES.len()],
        });
        let [tickets, urgent, nps] = counts.get(&id).cloned().unwrap_or_default();
        cells.extend([
            tickets.or(Some("0".into())),
            urgent.or(Some("0".into())),
            nps,
        ]);
        let stage: String = row.try_get("lifecycle_stage").map_err(&read)?;
        cells.push(Some(if stage == "churned" { "1" } else { "0" }.into()));
        table.push(id, cells);
    }
    Ok(table)
}

async fn trials(store: &Store, subjects: Subjects<'_>) -> Result<FeatureRows> {
    let usage = usage_by_account(store, subjects).await?;
    let mut names = feature_names("conversion");
    names.push(LABEL);
    let mut table = FeatureRows::new(&names);
    let now = crate::clock::now();
    let read = sql_error("read trial features");
    let accounts = sqlx::query(
        "SELECT id, plan_tier, segment, industry, employee_count, seats_purchased, customer_since, trial_ends_at \
         FROM accounts WHERE trial_started_at IS NOT NULL AND ($1 IS NULL OR id = $1) ORDER BY id",
    )
    .bind(subject_of(subjects))
    .fetch_all(store.pool())
    .await
    .map_err(&read)?;
    for row in accounts {
        let id: String = row.try_get("id").map_err(&read)?;
        let seats = row.try_get::<i64, _>("seats_purchased").map_err(&read)? as f64;
        let mut cells = firmographics(&row)?;
        let history = usage.get(&id);
        // The trial's weeks only: at most the first four of the history.
        let trial_weeks = history.map_or(0, |u| u.weeks.len().min(4));
        cells.extend(match history {
            Some(history) if trial_weeks > 0 => history.features(trial_weeks, seats),
            _ => vec![None; USAGE_FEATURES.len()],
        });
        let converted: Option<String> = row.try_get("customer_since").map_err(&read)?;
        let ends: Option<String> = row.try_get("trial_ends_at").map_err(&read)?;
        let outcome = match (converted, ends) {
            (Some(_), _) => Some("1".to_string()),
            (None, Some(ends)) if ends < now => Some("0".to_string()),
            _ => None, // still in trial: no outcome yet
        };
        cells.push(outcome);
        table.push(id, cells);
    }
    Ok(table)
}

/// The account columns every account table starts with.
const FIRMOGRAPHICS: [&str; 5] = [
    "plan_tier",
    "segment",
    "industry",
    "employee_count",
    "seats_purchased",
];
