//! The model tools every server shares: `check_model_health` (versions, uptime, prediction
//! volume, score distribution, drift by population stability index, accuracy on past
//! predictions whose outcome is now known) and `log_prediction` (record a prediction made
//! elsewhere, for monitoring). Each server watches the model kinds of its team.
//!
//! Drift compares the latest predictions (default 1,000) with a baseline: for a learnt
//! version, the training distributions kept in the registry; for a rule-based version, the
//! first predictions it ever made (the population it was first used on). Inputs are read
//! from each logged prediction's `payload.inputs` (numbers and yes/no per field; nested
//! objects by dotted path); text fields are compared by their share of each value.

use std::collections::BTreeMap;

use learn::drift::{Baseline, DriftBand};
use rmcp::Json;
use rmcp::handler::server::router::tool::ToolRoute;
use rmcp::handler::server::tool::{IntoCallToolResult, ToolCallContext};
use rmcp::model::{Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::errors::{ToolError, required_text, text_arg, timestamp_arg};
use crate::scope::CallScope;
use crate::server::{Runtime, TeamServer};

/// The model kinds a team's server watches, with the name of each kind's model.
pub fn models_of(server: &str) -> &'static [(&'static str, &'static str)] {
    match server {
        "sales" => &[("lead", "lead_scorer")],
        "marketing" => &[("conversion", "trial_conversion")],
        "cs" => &[("churn", "churn_risk"), ("health", "account_health")],
        _ => &[],
    }
}

/// Which model to check.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct CheckModelHealthParams {
    /// The model's name, e.g. `lead_scorer`; leave out for every model this server uses.
    #[serde(default)]
    pub model_name: Option<String>,
    /// How many of the latest predictions to compare with the baseline, 100-100,000
    /// (default 1,000).
    #[serde(default)]
    pub window: Option<u32>,
}

/// One registered version of a model.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VersionSummary {
    pub version: i64,
    /// candidate, active or retired.
    pub status: String,
    pub learnt_from: Option<String>,
    pub trained_at: Option<String>,
    /// Cross-validated ROC AUC at training; none for a rule-based version.
    pub auc: Option<f64>,
}

/// How far one input (or the score) has drifted.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Drift {
    /// `score`, or the input's name.
    pub feature: String,
    /// Population stability index: < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant.
    pub psi: f64,
    pub band: DriftBand,
}

/// The spread of the latest scores.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScoreDistribution {
    pub predictions: usize,
    pub mean: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
}

/// How long one version's scores took to compute, over its latest `window` predictions.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LatencySummary {
    pub version: i64,
    /// Predictions of this version in the window.
    pub predictions: i64,
    /// Of those, how many carry a latency (not those logged before latencies were kept, nor
    /// those a caller of log_prediction logged without one or as 0 ms).
    pub with_latency: i64,
    /// Median time per score, in microseconds (nearest rank: a latency that was logged).
    pub p50_micros: Option<i64>,
    /// 95th percentile, in microseconds.
    pub p95_micros: Option<i64>,
    /// 99th percentile, in microseconds.
    pub p99_micros: Option<i64>,
    /// The slowest score in the window, in microseconds.
    pub max_micros: Option<i64>,
}

/// How the model's past predictions did, where the outcome is now known.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PastAccuracy {
    pub predictions_with_outcome: usize,
    pub happened: usize,
    /// ROC AUC of the logged scores against what happened; none when only one outcome is known yet.
    pub auc: Option<f64>,
}

/// The health of one model.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelHealth {
    pub model_name: String,
    pub kind: Option<String>,
    pub active_version: Option<i64>,
    pub versions: Vec<VersionSummary>,
    pub server_uptime_seconds: u64,
    pub predictions_total: i64,
    pub predictions_last_24h: i64,
    pub predictions_last_7d: i64,
    pub score_distribution: Option<ScoreDistribution>,
    /// Time per score for each version, newest first: every registered version and every
    /// version with logged predictions (the newest 20), each over its own latest `window`
    /// predictions (for the active version, the ones `score_distribution` describes).
    pub latency: Vec<LatencySummary>,
    /// What the latest window is compared with.
    pub drift_baseline: String,
    /// The score first, then each input, most drifted first; empty until there are enough
    /// predictions (at least 50 in the baseline and in the window).
    pub drift: Vec<Drift>,
    /// The worst band among `drift`.
    pub overall_drift: Option<DriftBand>,
    pub past_accuracy: Option<PastAccuracy>,
    /// Plain-language findings.
    pub findings: Vec<String>,
}

/// The answer of `check_model_health`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelHealthReport {
    pub models: Vec<ModelHealth>,
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, value, out);
            }
        }
        serde_json::Value::Number(_)
        | serde_json::Value::Bool(_)
        | serde_json::Value::String(_) => {
            out.insert(prefix.to_string(), value.clone());
        }
        _ => {}
    }
}

fn inputs_of(
    prediction: &store::predictions::LoggedPrediction,
) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    if let Ok(payload) = serde_json::from_str::<serde_json::Value>(&prediction.payload_json)
        && let Some(inputs) = payload.get("inputs")
    {
        flatten("", inputs, &mut out);
    }
    out
}

/// A field's values as numbers: numbers and yes/no as they are; text by the index of the
/// value in `levels` (shared by baseline and window), missing as NaN.
fn as_numbers(
    rows: &[BTreeMap<String, serde_json::Value>],
    field: &str,
    levels: &mut Vec<String>,
) -> Vec<f64> {
    rows.iter()
        .map(|row| match row.get(field) {
            Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            Some(serde_json::Value::Bool(b)) => f64::from(u8::from(*b)),
            Some(serde_json::Value::String(text)) => {
                let index = levels.iter().position(|l| l == text).unwrap_or_else(|| {
                    levels.push(text.clone());
                    levels.len() - 1
                });
                index as f64
            }
            _ => f64::NAN,
        })
        .collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

const MIN_FOR_DRIFT: usize = 50;

/// How many versions' latency a health report gives at most (beyond the registered ones):
/// log_prediction accepts any version number, and each version costs a query.
const MAX_LOGGED_VERSIONS: i64 = 20;

/// The latency of every registered version and of the newest logged ones, newest first.
async fn latency_of(
    store: &store::Store,
    model_name: &str,
    registered: &[store::models::ModelVersion],
    window: i64,
) -> Result<Vec<LatencySummary>, ToolError> {
    let mut versions: Vec<i64> =
        store::predictions::logged_versions(store, model_name, MAX_LOGGED_VERSIONS).await?;
    versions.extend(registered.iter().map(|v| v.version));
    versions.sort_unstable_by(|a, b| b.cmp(a));
    versions.dedup();
    let mut summaries = Vec::with_capacity(versions.len());
    for version in versions {
        let summary = store::predictions::latency(store, model_name, version, window).await?;
        summaries.push(LatencySummary {
            version,
            predictions: summary.predictions,
            with_latency: summary.with_latency,
            p50_micros: summary.p50_micros,
            p95_micros: summary.p95_micros,
            p99_micros: summary.p99_micros,
            max_micros: summary.max_micros,
        });
    }
    Ok(summaries)
}

async fn health_of(
    runtime: &Runtime,
    kind: Option<&str>,
    model_name: &str,
    window: i64,
) -> Result<ModelHealth, ToolError> {
    let store = runtime.store();
    let versions = match kind {
        Some(kind) => store::models::list(store, Some(kind)).await?,
        None => Vec::new(),
    };
    let active = versions.iter().find(|v| v.status == "active");
    let active_version = active.map(|v| v.version);
    let now = chrono::Utc::now();
    let day = store::clock::format(now - chrono::Duration::days(1));
    let week = store::clock::format(now - chrono::Duration::days(7));
    let (total, recent) = store::predictions::volume(store, model_name, &[&day, &week]).await?;

    let latest = store::predictions::window(
        store,
        model_name,
        active_version,
        store::predictions::LogEnd::Latest,
        window,
    )
    .await?;
    let mut findings = Vec::new();
    let score_distribution = (!latest.is_empty()).then(|| {
        let mut scores: Vec<f64> = latest.iter().map(|p| p.score).collect();
        scores.sort_by(f64::total_cmp);
        ScoreDistribution {
            predictions: scores.len(),
            mean: scores.iter().sum::<f64>() / scores.len() as f64,
            p10: percentile(&scores, 0.1),
            p50: percentile(&scores, 0.5),
            p90: percentile(&scores, 0.9),
        }
    });

    let latency = latency_of(store, model_name, &versions, window).await?;

    // The baseline: a learnt version's training distribution of the score, else the first
    // predictions of that version.
    let learnt_baseline = match (kind, active_version) {
        (Some(kind), Some(version)) if version > 1 => {
            let (_, params) = store::models::get_version(store, kind, version).await?;
            serde_json::from_str::<learn::Model>(&params).ok()
        }
        _ => None,
    };
    let mut drift = Vec::new();
    let drift_baseline;
    if let Some(model) = &learnt_baseline {
        drift_baseline = "the training distribution of the active learnt version".to_string();
        if latest.len() >= MIN_FOR_DRIFT {
            let scores: Vec<f64> = latest.iter().map(|p| p.score).collect();
            let psi = model.score_baseline.psi(&scores);
            drift.push(Drift {
                feature: "score".into(),
                psi,
                band: DriftBand::of(psi),
            });
            let rows: Vec<_> = latest.iter().map(inputs_of).collect();
            for (feature, baseline) in model.encoding.features.iter().zip(&model.feature_baselines)
            {
                let values: Vec<f64> = match &feature.kind {
                    learn::features::FeatureKind::Numeric => rows
                        .iter()
                        .map(|r| {
                            r.get(&feature.name)
                                .and_then(serde_json::Value::as_f64)
                                .unwrap_or(f64::NAN)
                        })
                        .collect(),
                    learn::features::FeatureKind::Categorical { levels } => rows
                        .iter()
                        .map(|r| {
                            r.get(&feature.name)
                                .and_then(serde_json::Value::as_str)
                                .and_then(|v| levels.iter().position(|l| l == v))
                                .map_or(f64::NAN, |i| i as f64)
                        })
                        .collect(),
                };
                let psi = baseline.psi(&values);
                drift.push(Drift {
                    feature: feature.name.clone(),
                    psi,
                    band: DriftBand::of(psi),
                });
            }
        }
    } else {
        drift_baseline = format!("the first {window} predictions of this version");
        let earliest = store::predictions::window(
            store,
            model_name,
            active_version,
            store::predictions::LogEnd::Earliest,
            window,
        )
        .await?;
        // Only when the two windows do not overlap is there anything to compare.
        let overlap = earliest.len() + latest.len() > total as usize;
        if !overlap && earliest.len() >= MIN_FOR_DRIFT && latest.len() >= MIN_FOR_DRIFT {
            let base_scores: Vec<f64> = earliest.iter().map(|p| p.score).collect();
            let scores: Vec<f64> = latest.iter().map(|p| p.score).collect();
            let psi = Baseline::of(&base_scores).psi(&scores);
            drift.push(Drift {
                feature: "score".into(),
                psi,
                band: DriftBand::of(psi),
            });
            let base_rows: Vec<_> = earliest.iter().map(inputs_of).collect();
            let rows: Vec<_> = latest.iter().map(inputs_of).collect();
            let fields: std::collections::BTreeSet<&String> =
                base_rows.iter().flat_map(|r| r.keys()).collect();
            for field in fields {
                let mut levels = Vec::new();
                let base = as_numbers(&base_rows, field, &mut levels);
                let now = as_numbers(&rows, field, &mut levels);
                let psi = Baseline::of(&base).psi(&now);
                drift.push(Drift {
                    feature: field.clone(),
                    psi,
                    band: DriftBand::of(psi),
                });
            }
        } else {
            findings.push(format!(
                "Drift needs at least {MIN_FOR_DRIFT} predictions in the baseline and {MIN_FOR_DRIFT} newer ones that \
                 are not part of it; there are {total} in all."
            ));
        }
    }
    if drift.len() > 1 {
        drift[1..].sort_by(|a, b| b.psi.total_cmp(&a.psi));
    }
    let overall_drift = drift.iter().map(|d| d.band).max_by_key(|band| match band {
        DriftBand::Stable => 0,
        DriftBand::Moderate => 1,
        DriftBand::Significant => 2,
    });
    for d in drift.iter().filter(|d| d.band != DriftBand::Stable) {
        findings.push(format!(
            "{} has drifted ({:?}, PSI {:.2}): the population scored now differs from the baseline; check the data \
             feeding it and consider retraining.",
            d.feature, d.band, d.psi
        ));
    }
    let past_accuracy = match kind {
        Some(kind) => {
            let known = store::predictions::with_outcomes(store, model_name, kind).await?;
            (!known.is_empty()).then(|| {
                let scores: Vec<f64> = known.iter().map(|(s, _)| *s).collect();
                let labels: Vec<bool> = known.iter().map(|(_, y)| *y).collect();
                PastAccuracy {
                    predictions_with_outcome: known.len(),
                    happened: labels.iter().filter(|y| **y).count(),
                    auc: learn::metrics::auc(&scores, &labels),
                }
            })
        }
        None => None,
    };
    if let Some(PastAccuracy { auc: Some(auc), .. }) = &past_accuracy
        && *auc < 0.6
    {
        findings.push(format!(
            "Past predictions rank outcomes poorly (AUC {auc:.2}); compare with a retrained version (`revops model train`)."
        ));
    }
    if total == 0 {
        findings.push("No predictions have been logged for this model yet.".into());
    }
    Ok(ModelHealth {
        model_name: model_name.to_string(),
        kind: kind.map(str::to_string),
        active_version,
        versions: versions
            .iter()
            .map(|v| VersionSummary {
                version: v.version,
                status: v.status.clone(),
                learnt_from: v.learnt_from.clone(),
                trained_at: v.trained_at.clone(),
                auc: v
                    .metrics
                    .as_ref()
                    .and_then(|m| m.get("auc"))
                    .and_then(serde_json::Value::as_f64),
            })
            .collect(),
        server_uptime_seconds: runtime.uptime().as_secs(),
        predictions_total: total,
        predictions_last_24h: recent.first().copied().unwrap_or(0),
        predictions_last_7d: recent.get(1).copied().unwrap_or(0),
        score_distribution,
        latency,
        drift_baseline,
        drift,
        overall_drift,
        past_accuracy,
        findings,
    })
}

async fn check_model_health(
    runtime: &Runtime,
    params: CheckModelHealthParams,
) -> Result<ModelHealthReport, ToolError> {
    let window = i64::from(params.window.unwrap_or(1000));
    if !(100..=100_000).contains(&window) {
        return Err(ToolError::invalid(
            "window",
            format!("is {window}; give 100 to 100000"),
        ));
    }
    let mine = models_of(runtime.server());
    let chosen: Vec<(Option<&str>, String)> = match params.model_name.as_deref() {
        None => mine
            .iter()
            .map(|(kind, name)| (Some(*kind), name.to_string()))
            .collect(),
        Some(name) => {
            let name = required_text("model_name", name, 100)?;
            let kind = mine.iter().find(|(_, n)| *n == name).map(|(k, _)| *k);
            let known = store::predictions::volume(runtime.store(), &name, &[])
                .await?
                .0
                > 0;
            if kind.is_none() && !known {
                let names: Vec<&str> = mine.iter().map(|(_, n)| *n).collect();
                return Err(ToolError::NotFound(format!(
                    "no model {name:?} has predictions here; this server's models are {}, and log_prediction records others",
                    names.join(", ")
                )));
            }
            vec![(kind, name)]
        }
    };
    let mut models = Vec::new();
    for (kind, name) in chosen {
        models.push(health_of(runtime, kind, &name, window).await?);
    }
    Ok(ModelHealthReport { models })
}

/// A prediction made elsewhere, to record for monitoring.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LogPredictionParams {
    /// The model's name, e.g. `lead_scorer` or an outside model such as `partner_fit`.
    pub model_name: String,
    /// The model's version (a positive whole number).
    pub model_version: i64,
    /// What was scored: lead, account, opportunity or another kind of record.
    pub subject_type: String,
    /// The record's id, e.g. `lead_000123`, if it is one of the store's.
    #[serde(default)]
    pub subject_id: Option<String>,
    /// The score or probability given.
    pub score: f64,
    /// The tier or class given, e.g. hot, high.
    #[serde(default)]
    pub tier: Option<String>,
    /// The inputs the model used, as an object of numbers, yes/no and short texts (no
    /// personal data: no names, emails or phone numbers); drift is measured on them.
    #[serde(default)]
    pub inputs: Option<serde_json::Map<String, serde_json::Value>>,
    /// How long the prediction took, in milliseconds.
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// When it was made (RFC 3339); default now.
    #[serde(default)]
    pub predicted_at: Option<String>,
}

/// The logged prediction.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LoggedPrediction {
    pub prediction_id: String,
    pub model_name: String,
    pub model_version: i64,
}

fn check_inputs(inputs: &serde_json::Map<String, serde_json::Value>) -> Result<(), ToolError> {
    if inputs.len() > 100 {
        return Err(ToolError::invalid(
            "inputs",
            format!("has {} fields; give at most 100", inputs.len()),
        ));
    }
    let text = serde_json::to_string(inputs).unwrap_or_default();
    if text.len() > 20_000 {
        return Err(ToolError::invalid(
            "inputs",
            "is over 20,000 characters as JSON; give the model's inputs only",
        ));
    }
    for (key, value) in inputs {
        text_arg("inputs", key, 100)?;
        if let serde_json::Value::String(s) = value {
            text_arg("inputs", s, 200)?;
            if s.contains('@') {
                return Err(ToolError::invalid(
                    "inputs",
                    format!(
                        "field {key:?} looks like an email address; predictions never hold personal data"
                    ),
                ));
            }
        }
    }
    Ok(())
}

async fn log_prediction(
    scope: &CallScope,
    server: &str,
    params: LogPredictionParams,
) -> Result<LoggedPrediction, ToolError> {
    let model_name = required_text("model_name", &params.model_name, 100)?;
    if !model_name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(ToolError::invalid(
            "model_name",
            "may hold letters, digits, _, - and . only, e.g. lead_scorer",
        ));
    }
    if !(1..=1_000_000).contains(&params.model_version) {
        return Err(ToolError::invalid(
            "model_version",
            format!(
                "is {}; give a positive version number",
                params.model_version
            ),
        ));
    }
    let subject_type = required_text("subject_type", &params.subject_type, 40)?;
    if !subject_type
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '_')
    {
        return Err(ToolError::invalid(
            "subject_type",
            "is a lowercase word such as lead, account or opportunity",
        ));
    }
    if !params.score.is_finite() || params.score.abs() > 1e9 {
        return Err(ToolError::invalid("score", "must be a finite number"));
    }
    let subject_id = params
        .subject_id
        .as_deref()
        .map(|id| text_arg("subject_id", id, 64))
        .transpose()?;
    let tier = params
        .tier
        .as_deref()
        .map(|t| required_text("tier", t, 40))
        .transpose()?;
    let inputs = params.inputs.unwrap_or_default();
    check_inputs(&inputs)?;
    let latency_micros = match params.latency_ms {
        Some(ms) if ms.is_finite() && (0.0..=3_600_000.0).contains(&ms) => {
            Some((ms * 1000.0).round() as i64)
        }
        Some(ms) => {
            return Err(ToolError::invalid(
                "latency_ms",
                format!("is {ms}; give 0 to 3,600,000 milliseconds"),
            ));
        }
        None => None,
    };
    let created_at = match params.predicted_at.as_deref() {
        Some(t) => timestamp_arg("predicted_at", t)?,
        None => store::clock::now(),
    };
    let kind = models_of(server)
        .iter()
        .find(|(_, name)| *name == model_name)
        .map_or("external", |(kind, _)| kind);
    let prediction = store::predictions::NewPrediction {
        kind: kind.to_string(),
        subject_type,
        subject_id,
        model_name: model_name.clone(),
        model_version: params.model_version,
        score: params.score,
        tier,
        payload_json: serde_json::json!({ "inputs": inputs, "source": "log_prediction" })
            .to_string(),
        actor: scope.actor.name.clone(),
        created_at,
        latency_micros,
    };
    let mut tx = scope.transaction().await?;
    let prediction_id = store::predictions::insert_one(&mut tx, &prediction).await?;
    Ok(LoggedPrediction {
        prediction_id,
        model_name,
        model_version: params.model_version,
    })
}

fn parse<P: serde::de::DeserializeOwned>(
    arguments: Option<&rmcp::model::JsonObject>,
) -> Result<P, ToolError> {
    serde_json::from_value(serde_json::Value::Object(
        arguments.cloned().unwrap_or_default(),
    ))
    .map_err(|error| ToolError::InvalidArgument {
        field: "arguments",
        problem: format!("failed to deserialize parameters: {error}"),
    })
}

/// A write tool's typed parameters and the pipeline's scope of the call.
fn params_and_scope<P: serde::de::DeserializeOwned, S: TeamServer>(
    context: &ToolCallContext<'_, S>,
) -> Result<(P, CallScope), ToolError> {
    let params = parse::<P>(context.arguments.as_ref())?;
    let scope = context
        .request_context
        .extensions
        .get::<CallScope>()
        .cloned()
        .ok_or_else(|| ToolError::Unavailable("the call has no pipeline scope".into()))?;
    Ok((params, scope))
}

/// The `check_model_health` route.
pub fn check_model_health_route<S: TeamServer>() -> ToolRoute<S> {
    let tool = Tool::new(
        "check_model_health",
        "Is this server's scoring model still trustworthy? For each model (or the one named): its registered \
         versions and which is active, server uptime, how many predictions it made (in all, last 24 hours, last 7 \
         days), the spread of its latest scores, how long each version takes per score (p50, p95, p99 and max in \
         microseconds over its latest predictions), drift of the score and of each input by population stability \
         index (< 0.1 stable, 0.1-0.25 moderate, > 0.25 significant) against the training distribution or its first \
         predictions, and how well past predictions ranked what then happened (AUC), with findings in plain words. \
         Example: {\"model_name\": \"lead_scorer\"}.",
        rmcp::handler::server::common::schema_for_type::<CheckModelHealthParams>(),
    )
    .with_title("Check model health")
    .with_output_schema::<ModelHealthReport>()
    .with_annotations(
        ToolAnnotations::with_title("Check model health")
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    );
    ToolRoute::new_dyn(tool, |context: ToolCallContext<'_, S>| {
        Box::pin(async move {
            let params = match parse::<CheckModelHealthParams>(context.arguments.as_ref()) {
                Ok(params) => params,
                Err(error) => {
                    return Err::<Json<ModelHealthReport>, _>(error).into_call_tool_result();
                }
            };
            check_model_health(context.service.runtime(), params)
                .await
                .map(Json)
                .into_call_tool_result()
        })
    })
}

/// The `log_prediction` route.
pub fn log_prediction_route<S: TeamServer>() -> ToolRoute<S> {
    let tool = Tool::new(
        "log_prediction",
        "Record a prediction made outside this server (a CRM's score, a notebook's model, a partner's fit score) so \
         check_model_health can watch its volume, drift and accuracy next to the suite's own. Give the model's name \
         and version, what was scored, the score, and the inputs it used (numbers, yes/no, short texts; never \
         personal data). Changes no record. Example: {\"model_name\": \"partner_fit\", \"model_version\": 3, \
         \"subject_type\": \"lead\", \"subject_id\": \"lead_000123\", \"score\": 0.72, \"inputs\": {\"employees\": 250}}.",
        rmcp::handler::server::common::schema_for_type::<LogPredictionParams>(),
    )
    .with_title("Log prediction")
    .with_output_schema::<LoggedPrediction>()
    .with_annotations(
        ToolAnnotations::with_title("Log prediction")
            .read_only(false)
            .destructive(false)
            .idempotent(false)
            .open_world(false),
    );
    ToolRoute::new_dyn(tool, |context: ToolCallContext<'_, S>| {
        Box::pin(async move {
            let answer = match params_and_scope::<LogPredictionParams, S>(&context) {
                Ok((params, scope)) => {
                    log_prediction(&scope, context.service.runtime().server(), params).await
                }
                Err(error) => Err(error),
            };
            answer.map(Json).into_call_tool_result()
        })
    })
}

/// Which version to activate or retire.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ModelVersionParams {
    /// The model's name, e.g. `lead_scorer` (check_model_health lists this server's).
    pub model_name: String,
    /// The version number, e.g. 2 (1 is the rule-based default).
    pub version: i64,
}

/// A model version's status after a change.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModelStatusChange {
    pub model_name: String,
    pub version: i64,
    /// active or retired.
    pub status: String,
    /// False when the version already had that status (nothing was changed).
    pub changed: bool,
    /// The version that was active before, when an activation replaced it (now retired).
    pub previously_active: Option<i64>,
    /// Whether the servers can score with it, and if not why (a version learnt from a CSV
    /// whose columns the store does not have scores nothing; v1 stays in charge).
    pub note: Option<String>,
}

/// The kind of a model this server watches, by name.
fn kind_of(server: &str, model_name: &str) -> Result<&'static str, ToolError> {
    models_of(server)
        .iter()
        .find(|(_, name)| *name == model_name)
        .map(|(kind, _)| *kind)
        .ok_or_else(|| {
            let names: Vec<&str> = models_of(server).iter().map(|(_, n)| *n).collect();
            ToolError::invalid(
                "model_name",
                format!(
                    "is not a model of this server; its models are {}",
                    names.join(", ")
                ),
            )
        })
}

async fn change_model_status(
    scope: &CallScope,
    runtime: &Runtime,
    params: ModelVersionParams,
    activate: bool,
) -> Result<ModelStatusChange, ToolError> {
    let model_name = required_text("model_name", &params.model_name, 100)?;
    let kind = kind_of(runtime.server(), &model_name)?;
    if !(1..=1_000_000).contains(&params.version) {
        return Err(ToolError::invalid(
            "version",
            format!(
                "is {}; give a version number from check_model_health",
                params.version
            ),
        ));
    }
    // Read before the change: a clear "not found", and whether the version can score.
    let note = if activate {
        crate::learnt::unusable_reason(runtime.store(), kind, params.version).await?
    } else {
        store::models::get_version(runtime.store(), kind, params.version).await?;
        None
    };
    let mut tx = scope.transaction().await?;
    let (changed, previously_active) = if activate {
        let previous = store::models::activate(&mut tx, kind, params.version).await?;
        (previous.is_some(), previous)
    } else {
        (
            store::models::retire(&mut tx, kind, params.version).await?,
            None,
        )
    };
    drop(tx);
    Ok(ModelStatusChange {
        model_name,
        version: params.version,
        status: if activate { "active" } else { "retired" }.into(),
        changed,
        previously_active,
        note,
    })
}

/// `activate_model` (`activate: true`) or `retire_model`.
pub fn model_status_route<S: TeamServer>(activate: bool) -> ToolRoute<S> {
    let (name, title, description) = if activate {
        (
            "activate_model",
            "Activate model version",
            "Make a registered version of one of this server's models the one every score uses (the version active \
             before is retired, and can be activated again). Admins only; recorded in the audit log. Train versions \
             with `revops model train`; check_model_health lists them with their AUC. The answer says if the version \
             cannot score the store's records (learnt from a CSV with other columns). \
             Example: {\"model_name\": \"lead_scorer\", \"version\": 2}.",
        )
    } else {
        (
            "retire_model",
            "Retire model version",
            "Retire a candidate version of one of this server's models so it cannot be activated by mistake. The \
             active version cannot be retired: activate another first (v1, the rule-based default, is always there). \
             Admins only; recorded in the audit log. Example: {\"model_name\": \"lead_scorer\", \"version\": 3}.",
        )
    };
    let meta = crate::policy::least_role_meta(crate::Role::Admin);
    let tool = Tool::new(
        name,
        description,
        rmcp::handler::server::common::schema_for_type::<ModelVersionParams>(),
    )
    .with_title(title)
    .with_output_schema::<ModelStatusChange>()
    .with_meta(meta)
    .with_annotations(
        ToolAnnotations::with_title(title)
            .read_only(false)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    );
    ToolRoute::new_dyn(tool, move |context: ToolCallContext<'_, S>| {
        Box::pin(async move {
            let answer = match params_and_scope::<ModelVersionParams, S>(&context) {
                Ok((params, scope)) => {
                    change_model_status(&scope, context.service.runtime(), params, activate).await
                }
                Err(error) => Err(error),
            };
            answer.map(Json).into_call_tool_result()
        })
    })
}

/// `models://{model_name}/metadata` for each model a server watches (a team may serve a
/// richer one of its own under the same address; the team's wins).
pub fn model_resources(server: &str) -> Vec<rmcp::model::Resource> {
    models_of(server)
        .iter()
        .map(|(kind, name)| {
            rmcp::model::Resource::new(format!("models://{name}/metadata"), format!("{name}-metadata"))
                .with_title(format!("Model {name}"))
                .with_description(format!(
                    "The {kind} model's registered versions, which is active, and for a learnt version its \
                     features, training metrics and origin."
                ))
                .with_mime_type("application/json")
        })
        .collect()
}

/// Reads `models://{model_name}/metadata` for one of this server's models; None for any
/// other address.
pub async fn read_model_resource(
    runtime: &Runtime,
    uri: &str,
) -> Result<Option<serde_json::Value>, ToolError> {
    let Some(name) = uri
        .strip_prefix("models://")
        .and_then(|rest| rest.strip_suffix("/metadata"))
    else {
        return Ok(None);
    };
    let Some((kind, name)) = models_of(runtime.server()).iter().find(|(_, n)| *n == name) else {
        return Ok(None);
    };
    let store = runtime.store();
    let versions = store::models::list(store, Some(kind)).await?;
    let (active, params) = store::models::active(store, kind).await?;
    let learnt = serde_json::from_str::<learn::Model>(&params).ok();
    Ok(Some(serde_json::json!({
        "model_name": name,
        "kind": kind,
        "active_version": active.version,
        "active_is_learnt": learnt.is_some(),
        "features": learnt.as_ref().map(|m| &m.encoding.features),
        "trees": learnt.as_ref().map(|m| m.gbm.trees.len()),
        "versions": versions,
    })))
}
