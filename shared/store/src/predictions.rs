//! The prediction log: every score a model gave, with its inputs and model version, so a
//! score can be explained later and drift measured against what the model saw.

use crate::{Error, Result, Store};
use sqlx::AssertSqlSafe;

/// One prediction to log.
#[derive(Debug, Clone)]
pub struct NewPrediction {
    /// lead, churn, conversion, health or win.
    pub kind: String,
    /// What was scored: lead, account, opportunity, or adhoc_lead for inputs given inline.
    pub subject_type: String,
    pub subject_id: Option<String>,
    pub model_name: String,
    pub model_version: i64,
    pub score: f64,
    pub tier: Option<String>,
    /// Inputs and result, as JSON; never personal data (no names, emails or phones).
    pub payload_json: String,
    pub actor: String,
    pub created_at: String,
    /// How long the score took to compute, in microseconds (from reading its inputs to the
    /// result; for scores computed together in one pass, the pass's time divided by their
    /// number). None when it was not measured.
    pub latency_micros: Option<i64>,
}

/// The latency of each of `count` scores computed together in `elapsed`, in whole
/// microseconds, at least 1 (a pure model can score faster than the clock's resolution);
/// none when nothing was scored.
pub fn latency_micros(elapsed: std::time::Duration, count: u64) -> Option<i64> {
    if count == 0 {
        return None;
    }
    let each = (elapsed.as_nanos() / u128::from(count) + 500) / 1000;
    Some(i64::try_from(each).unwrap_or(i64::MAX).max(1))
}

/// Logs predictions in one transaction (a multi-row insert per 100).
pub async fn insert_many(store: &Store, predictions: &[NewPrediction]) -> Result<()> {
    if predictions.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin_write().await?;
    for chunk in predictions.chunks(100) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let b = i * 12;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11,
                    b + 12
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO predictions (id, kind, subject_type, subject_id, model_name, model_version, score, tier, \
             payload_json, actor, created_at, latency_micros) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for p in chunk {
            query = query
                .bind(crate::ids::new_id("pred"))
                .bind(&p.kind)
                .bind(&p.subject_type)
                .bind(p.subject_id.as_deref())
                .bind(&p.model_name)
                .bind(p.model_version)
                .bind(p.score)
                .bind(p.tier.as_deref())
                .bind(&p.payload_json)
                .bind(&p.actor)
                .bind(&p.created_at)
                .bind(p.latency_micros);
        }
        query
            .execute(&mut *tx)
            .await
            .map_err(|error| Error::from_sqlx("log predictions", error))?;
    }
    tx.commit()
        .await
        .map_err(|error| Error::from_sqlx("log predictions", error))
}

/// How many predictions are logged for this subject.
pub async fn count_for(store: &Store, subject_type: &str, subject_id: &str) -> Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM predictions WHERE subject_type = $1 AND subject_id = $2",
    )
    .bind(subject_type)
    .bind(subject_id)
    .fetch_one(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("count predictions", error))
}

/// A logged prediction, as model health reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedPrediction {
    pub model_version: i64,
    pub score: f64,
    pub payload_json: String,
    pub created_at: String,
}

fn logged(row: &sqlx::any::AnyRow) -> Result<LoggedPrediction> {
    Ok(LoggedPrediction {
        model_version: crate::rows::get(row, "model_version")?,
        score: crate::rows::get(row, "score")?,
        payload_json: crate::rows::get(row, "payload_json")?,
        created_at: crate::rows::get(row, "created_at")?,
    })
}

/// Which end of a model's log to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEnd {
    /// The first predictions logged (the population the model was first used on).
    Earliest,
    /// The most recent ones.
    Latest,
}

/// Up to `limit` predictions of `model_name` (one version, or all), from one end of the log.
pub async fn window(
    store: &Store,
    model_name: &str,
    version: Option<i64>,
    end: LogEnd,
    limit: i64,
) -> Result<Vec<LoggedPrediction>> {
    let order = match end {
        LogEnd::Earliest => "ASC",
        LogEnd::Latest => "DESC",
    };
    let sql = format!(
        "SELECT model_version, score, payload_json, created_at FROM predictions \
         WHERE model_name = $1 AND ($2 IS NULL OR model_version = $2) \
         ORDER BY created_at {order}, id {order} LIMIT $3"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(model_name)
        .bind(version)
        .bind(limit)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read predictions", error))?;
    rows.iter().map(logged).collect()
}

/// How many predictions `model_name` has logged: in all, and since each of `since`.
pub async fn volume(store: &Store, model_name: &str, since: &[&str]) -> Result<(i64, Vec<i64>)> {
    let total = sqlx::query_scalar("SELECT COUNT(*) FROM predictions WHERE model_name = $1")
        .bind(model_name)
        .fetch_one(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("count predictions", error))?;
    let mut counts = Vec::with_capacity(since.len());
    for from in since {
        counts.push(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM predictions WHERE model_name = $1 AND created_at >= $2",
            )
            .bind(model_name)
            .bind(*from)
            .fetch_one(store.pool())
            .await
            .map_err(|error| Error::from_sqlx("count predictions", error))?,
        );
    }
    Ok((total, counts))
}

/// The versions of `model_name` that have logged predictions, newest first, at most `limit`.
///
/// A loose index scan (each step one seek of `predictions_model_idx` for the next lower
/// version), so it costs one seek per version however many predictions each has.
pub async fn logged_versions(store: &Store, model_name: &str, limit: i64) -> Result<Vec<i64>> {
    let rows: Vec<i64> = sqlx::query_scalar(
        "WITH RECURSIVE v(version, depth) AS ( \
           SELECT (SELECT MAX(model_version) FROM predictions WHERE model_name = $1), 1 \
           UNION ALL \
           SELECT (SELECT MAX(model_version) FROM predictions WHERE model_name = $1 AND model_version < v.version), \
                  v.depth + 1 \
           FROM v WHERE v.version IS NOT NULL AND v.depth < $2 \
         ) SELECT version FROM v WHERE version IS NOT NULL",
    )
    .bind(model_name)
    .bind(limit)
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("list logged model versions", error))?;
    Ok(rows)
}

/// How long one version's predictions took to compute, over its latest predictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencySummary {
    pub model_version: i64,
    /// Predictions of the version in the window.
    pub predictions: i64,
    /// Of those, how many carry a latency.
    pub with_latency: i64,
    /// Nearest-rank percentiles (each one a latency that was logged) and the maximum, in
    /// microseconds; none when no prediction in the window carries a latency.
    pub p50_micros: Option<i64>,
    pub p95_micros: Option<i64>,
    pub p99_micros: Option<i64>,
    pub max_micros: Option<i64>,
}

/// The latency of version `version` of `model_name` over its latest `window` predictions.
///
/// Rows without a latency (NULL: logged before latencies were kept, or by a caller of
/// `log_prediction` that gave none) and rows with 0 (a caller's "0 ms": the servers' own
/// scores never log less than 1 µs) count in `predictions` but not in the percentiles.
/// The percentiles are computed by the database (window functions, which both SQLite and
/// Postgres have): it sorts at most `window` latencies and returns one row, so the memory
/// here does not grow with the window.
pub async fn latency(
    store: &Store,
    model_name: &str,
    version: i64,
    window: i64,
) -> Result<LatencySummary> {
    // Nearest rank: the p-th percentile of n values is the ceil(p * n / 100)-th smallest,
    // written in integer arithmetic (both databases divide integers exactly that way).
    let row = sqlx::query(
        "WITH w AS ( \
           SELECT latency_micros FROM predictions WHERE model_name = $1 AND model_version = $2 \
           ORDER BY created_at DESC, id DESC LIMIT $3 \
         ), m AS ( \
           SELECT latency_micros, ROW_NUMBER() OVER (ORDER BY latency_micros) AS rn, COUNT(*) OVER () AS n \
           FROM w WHERE latency_micros > 0 \
         ) \
         SELECT (SELECT COUNT(*) FROM w) AS predictions, COUNT(*) AS with_latency, \
           MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN latency_micros END) AS p50, \
           MAX(CASE WHEN rn = (n * 95 + 99) / 100 THEN latency_micros END) AS p95, \
           MAX(CASE WHEN rn = (n * 99 + 99) / 100 THEN latency_micros END) AS p99, \
           MAX(latency_micros) AS max_micros \
         FROM m",
    )
    .bind(model_name)
    .bind(version)
    .bind(window)
    .fetch_one(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("summarise prediction latency", error))?;
    Ok(LatencySummary {
        model_version: version,
        predictions: crate::rows::get(&row, "predictions")?,
        with_latency: crate::rows::get(&row, "with_latency")?,
        p50_micros: crate::rows::get(&row, "p50")?,
        p95_micros: crate::rows::get(&row, "p95")?,
        p99_micros: crate::rows::get(&row, "p99")?,
        max_micros: crate::rows::get(&row, "max_micros")?,
    })
}

/// For predictions whose outcome is now known, (score, whether it happened): leads that
/// converted or were disqualified; accounts that churned after the prediction, or stayed
/// 90 days past it; trials that became customers or ended. The latest 100,000.
pub async fn with_outcomes(
    store: &Store,
    model_name: &str,
    kind: &str,
) -> Result<Vec<(f64, bool)>> {
    let ninety_days_ago = crate::clock::format(chrono::Utc::now() - chrono::Duration::days(90));
    let (sql, bound): (&str, Option<String>) = match kind {
        "lead" => (
            "SELECT p.score AS score, CASE WHEN l.status = 'converted' OR l.converted_account_id IS NOT NULL THEN 1 ELSE 0 END AS happened \
             FROM predictions p JOIN leads l ON l.id = p.subject_id \
             WHERE p.model_name = $1 AND p.subject_type = 'lead' \
             AND (l.status IN ('converted', 'disqualified') OR l.converted_account_id IS NOT NULL) \
             ORDER BY p.created_at DESC LIMIT 100000",
            None,
        ),
        "churn" => (
            "SELECT p.score AS score, CASE WHEN a.churned_at IS NOT NULL AND a.churned_at >= p.created_at THEN 1 ELSE 0 END AS happened \
             FROM predictions p JOIN accounts a ON a.id = p.subject_id \
             WHERE p.model_name = $1 AND p.subject_type = 'account' \
             AND ((a.churned_at IS NOT NULL AND a.churned_at >= p.created_at) OR (a.churned_at IS NULL AND p.created_at < $2)) \
             ORDER BY p.created_at DESC LIMIT 100000",
            Some(ninety_days_ago),
        ),
        "conversion" => (
            "SELECT p.score AS score, CASE WHEN a.customer_since IS NOT NULL THEN 1 ELSE 0 END AS happened \
             FROM predictions p JOIN accounts a ON a.id = p.subject_id \
             WHERE p.model_name = $1 AND p.subject_type = 'account' \
             AND (a.customer_since IS NOT NULL OR a.trial_ends_at < $2) \
             ORDER BY p.created_at DESC LIMIT 100000",
            Some(crate::clock::now()),
        ),
        _ => return Ok(Vec::new()),
    };
    let mut query = sqlx::query(sql).bind(model_name);
    if let Some(value) = bound {
        query = query.bind(value);
    }
    let rows = query
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read predictions with outcomes", error))?;
    rows.iter()
        .map(|row| {
            let happened: i64 = crate::rows::get(row, "happened")?;
            Ok((crate::rows::get(row, "score")?, happened == 1))
        })
        .collect()
}

/// Logs one prediction made elsewhere, in the caller's transaction (`log_prediction`).
pub async fn insert_one(tx: &mut crate::WriteTx, prediction: &NewPrediction) -> Result<String> {
    let id = crate::ids::new_id("pred");
    sqlx::query(
        "INSERT INTO predictions (id, kind, subject_type, subject_id, model_name, model_version, score, tier, \
         payload_json, actor, created_at, latency_micros) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(&prediction.kind)
    .bind(&prediction.subject_type)
    .bind(prediction.subject_id.as_deref())
    .bind(&prediction.model_name)
    .bind(prediction.model_version)
    .bind(prediction.score)
    .bind(prediction.tier.as_deref())
    .bind(&prediction.payload_json)
    .bind(&prediction.actor)
    .bind(&prediction.created_at)
    .bind(prediction.latency_micros)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("log a prediction", error))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::latency_micros;
    use std::time::Duration;

    #[test]
    fn a_pass_shares_its_time_among_its_scores_rounded_to_whole_microseconds() {
        assert_eq!(latency_micros(Duration::from_micros(1_000), 4), Some(250));
        assert_eq!(latency_micros(Duration::from_nanos(2_600), 1), Some(3));
    }

    #[test]
    fn a_score_faster_than_a_microsecond_counts_as_one_and_no_score_has_no_latency() {
        assert_eq!(latency_micros(Duration::from_nanos(300), 1), Some(1));
        assert_eq!(latency_micros(Duration::ZERO, 10_000), Some(1));
        assert_eq!(latency_micros(Duration::from_secs(1), 0), None);
    }
}
