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
                let b = i * 11;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
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
                    b + 11
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO predictions (id, kind, subject_type, subject_id, model_name, model_version, score, tier, \
             payload_json, actor, created_at) VALUES {}",
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
                .bind(&p.created_at);
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
