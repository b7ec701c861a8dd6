//! Scoring with the active learnt version of a model kind.
//!
//! The rule-based models in `scoring` are version 1 of each kind. When an operator activates
//! a version learnt from the store's outcomes (`revops model activate` or the
//! `activate_model` tool), the servers score with it too: the tools that score one subject
//! add its learnt prediction, explained feature by feature, beside the rule-based answer.
//!
//! The features come from `store::model_features`, the same code that built the rows the
//! version learnt from, so training and serving cannot compute a feature differently. A
//! version learnt from a CSV export whose columns the store does not have cannot score the
//! store's records: it is reported as unusable, with the reason, and v1 stays in charge.
//!
//! A ranking scores many subjects: [`LearntModel::features_of_all`] reads the features of
//! every subject of the kind in one pass, and the version predicts each from memory
//! (`rank_leads` ranks by the learnt probability this way).
//!
//! Each runtime caches the parsed active version per kind and checks the registry's active
//! version number on every use (one indexed read), so an activation elsewhere (the CLI,
//! another instance) takes effect on the next call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use schemars::JsonSchema;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::errors::ToolResult;
use crate::server::Runtime;

/// A learnt version ready to score.
#[derive(Debug)]
pub struct LearntModel {
    pub name: String,
    pub kind: String,
    pub version: i64,
    pub learnt_from: Option<String>,
    pub model: learn::Model,
}

/// What the active version of a kind is, for scoring.
#[derive(Debug, Clone)]
pub enum Active {
    /// The rule-based default (or another version without learnt parameters).
    RuleBased { version: i64 },
    /// A learnt version the store's records can be scored with.
    Learnt(Arc<LearntModel>),
    /// A learnt version that cannot score the store's records, and why.
    Unusable { version: i64, reason: String },
}

/// The per-runtime cache of active versions, by kind.
#[derive(Debug, Default)]
pub struct ActiveModels {
    by_kind: Mutex<HashMap<String, Active>>,
}

fn version_of(active: &Active) -> i64 {
    match active {
        Active::RuleBased { version } | Active::Unusable { version, .. } => *version,
        Active::Learnt(model) => model.version,
    }
}

/// Why version `version` of `kind` could not score the store's records, if it could not
/// (`None`: it can, or it is rule-based).
pub async fn unusable_reason(
    store: &store::Store,
    kind: &str,
    version: i64,
) -> ToolResult<Option<String>> {
    Ok(match load(store, kind, version).await? {
        Active::Unusable { reason, .. } => Some(reason),
        _ => None,
    })
}

impl ActiveModels {
    /// The active version of `kind`, parsed once per activation.
    pub async fn get(&self, store: &store::Store, kind: &str) -> ToolResult<Active> {
        let current = store::models::active_version(store, kind).await?;
        let mut cache = self.by_kind.lock().await;
        if let Some(cached) = cache.get(kind)
            && Some(version_of(cached)) == current
        {
            return Ok(cached.clone());
        }
        let Some(version) = current else {
            return Ok(Active::RuleBased { version: 1 });
        };
        let active = load(store, kind, version).await?;
        cache.insert(kind.to_string(), active.clone());
        Ok(active)
    }
}

impl LearntModel {
    /// The prediction log's entry for one of this version's probabilities (`inputs`: the
    /// subject's value of each feature; never personal data, the features hold none).
    pub fn log_entry(
        &self,
        subject_type: &str,
        subject_id: &str,
        probability: f64,
        inputs: serde_json::Map<String, serde_json::Value>,
        actor: &str,
        latency_micros: Option<i64>,
    ) -> store::predictions::NewPrediction {
        store::predictions::NewPrediction {
            kind: self.kind.clone(),
            subject_type: subject_type.to_string(),
            subject_id: Some(subject_id.to_string()),
            model_name: self.name.clone(),
            model_version: self.version,
            score: probability,
            tier: None,
            payload_json: serde_json::json!({ "inputs": inputs }).to_string(),
            actor: actor.to_string(),
            created_at: store::clock::now(),
            latency_micros,
        }
    }

    /// The features of every subject of this version's kind, read in one pass, ready to score
    /// many subjects (a ranking) without a read per subject.
    pub async fn features_of_all(
        self: &Arc<Self>,
        store: &store::Store,
    ) -> ToolResult<SubjectFeatures> {
        let rows = store::model_features::rows(
            store,
            &self.kind,
            store::model_features::Subjects::All,
            store::model_features::AsOf::Now,
        )
        .await?;
        let columns = self
            .model
            .encoding
            .features
            .iter()
            .map(|f| rows.names.iter().position(|name| *name == f.name))
            .collect();
        Ok(SubjectFeatures {
            model: Arc::clone(self),
            rows,
            columns,
        })
    }
}

/// The features of every subject of a learnt version's kind, as of now, in the order the
/// version reads them.
#[derive(Debug)]
pub struct SubjectFeatures {
    model: Arc<LearntModel>,
    rows: store::model_features::FeatureRows,
    /// For each of the version's features, its column in `rows` (a usable version has all).
    columns: Vec<Option<usize>>,
}

impl SubjectFeatures {
    /// How many subjects there are.
    pub fn len(&self) -> usize {
        self.rows.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.ids.is_empty()
    }

    /// The id of subject `row`.
    pub fn id(&self, row: usize) -> &str {
        &self.rows.ids[row]
    }

    fn cell(&self, column: Option<usize>, row: usize) -> Option<&str> {
        column.and_then(|c| self.rows.columns[c].get(row)?.as_deref())
    }

    /// The version's probability for subject `row` (0-1).
    pub fn probability(&self, row: usize) -> f64 {
        let cells: Vec<Option<&str>> = self
            .columns
            .iter()
            .map(|&column| self.cell(column, row))
            .collect();
        self.model.model.predict_cells(&cells)
    }

    /// Subject `row`'s value of each feature, as the prediction log keeps inputs.
    pub fn inputs(&self, row: usize) -> serde_json::Map<String, serde_json::Value> {
        self.model
            .model
            .encoding
            .features
            .iter()
            .zip(&self.columns)
            .map(|(f, &column)| (f.name.clone(), serde_json::json!(self.cell(column, row))))
            .collect()
    }
}

/// Reads and parses one version from the registry.
async fn load(store: &store::Store, kind: &str, version: i64) -> ToolResult<Active> {
    let (meta, params) = store::models::get_version(store, kind, version).await?;
    // The rule-based defaults are registered with `{"rule_based": true}` as parameters.
    let rule_based = serde_json::from_str::<serde_json::Value>(&params)
        .is_ok_and(|value| value.get("rule_based") == Some(&serde_json::Value::Bool(true)));
    Ok(if rule_based {
        Active::RuleBased { version }
    } else {
        match serde_json::from_str::<learn::Model>(&params) {
            Ok(model) => usable(
                LearntModel {
                    name: meta.name,
                    kind: kind.to_string(),
                    version,
                    learnt_from: meta.learnt_from,
                    model,
                },
                kind,
            ),
            Err(error) => {
                tracing::warn!(%error, kind, version, "the active model's parameters do not parse");
                Active::Unusable {
                    version,
                    reason: format!(
                        "the parameters of v{version} do not parse with this build; retrain it"
                    ),
                }
            }
        }
    })
}

/// A learnt version is usable when the store has every feature it learnt from.
fn usable(model: LearntModel, kind: &str) -> Active {
    let known = store::model_features::feature_names(kind);
    let missing: Vec<&str> = model
        .model
        .encoding
        .features
        .iter()
        .map(|f| f.name.as_str())
        .filter(|name| !known.contains(name))
        .take(5)
        .collect();
    if missing.is_empty() {
        Active::Learnt(Arc::new(model))
    } else {
        Active::Unusable {
            version: model.version,
            reason: format!(
                "v{} was learnt from {} with features the store does not have ({}); the rule-based v1 scores instead",
                model.version,
                model.learnt_from.as_deref().unwrap_or("a file"),
                missing.join(", ")
            ),
        }
    }
}

/// One feature's part in a learnt prediction.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FeatureEffect {
    pub feature: String,
    /// The subject's value of the feature (empty when unknown).
    pub value: Option<String>,
    /// Its contribution in log-odds: positive raises the probability.
    pub log_odds: f64,
}

/// The active learnt version's prediction for one subject, explained.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LearntPrediction {
    pub model_name: String,
    pub model_version: i64,
    /// Where the version was learnt from, e.g. "store outcomes".
    pub learnt_from: Option<String>,
    /// The predicted probability, 0-1.
    pub probability: f64,
    /// The model's starting point in log-odds; `bias_log_odds` plus every effect's
    /// `log_odds` is exactly the prediction's log-odds.
    pub bias_log_odds: f64,
    /// Every feature's effect, largest first.
    pub effects: Vec<FeatureEffect>,
    /// The strongest effects in plain words.
    pub reasons: Vec<String>,
}

/// Whether a learnt version scored, for a tool's answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct LearntScore {
    /// The learnt prediction, when the active version is a usable learnt one.
    pub prediction: Option<LearntPrediction>,
    /// Why there is none (the rule-based version is active, the version cannot score the
    /// store's records, or the subject is not one the model scores).
    pub note: Option<String>,
}

/// The learnt prediction of the active `kind` version for one subject (a lead id or an
/// account id), logged to the prediction log with its latency.
pub async fn predict(
    runtime: &Runtime,
    actor: &str,
    kind: &str,
    subject_type: &str,
    subject_id: &str,
) -> ToolResult<LearntScore> {
    let started = Instant::now();
    let model = match runtime.active_models().get(runtime.store(), kind).await? {
        Active::Learnt(model) => model,
        Active::RuleBased { version } => {
            return Ok(LearntScore {
                prediction: None,
                note: Some(format!(
                    "the active {kind} model is the rule-based v{version}; train and activate a learnt version with `revops model train --kind {kind}`"
                )),
            });
        }
        Active::Unusable { reason, .. } => {
            return Ok(LearntScore {
                prediction: None,
                note: Some(reason),
            });
        }
    };
    let rows = store::model_features::rows(
        runtime.store(),
        kind,
        store::model_features::Subjects::One(subject_id),
        store::model_features::AsOf::Now,
    )
    .await?;
    if rows.ids.is_empty() {
        return Ok(LearntScore {
            prediction: None,
            note: Some(format!(
                "{subject_id} is not a subject the {kind} model scores (e.g. not a paying customer, or never on trial)"
            )),
        });
    }
    let cells_by_name = rows.row(0);
    let cells: Vec<Option<&str>> = model
        .model
        .encoding
        .features
        .iter()
        .map(|f| cells_by_name.get(f.name.as_str()).copied().flatten())
        .collect();
    let explained = model.model.explain_cells(&cells);
    let effects: Vec<FeatureEffect> = explained
        .contributions
        .iter()
        .map(|c| FeatureEffect {
            feature: c.feature.clone(),
            value: cells_by_name
                .get(c.feature.as_str())
                .copied()
                .flatten()
                .map(str::to_string),
            log_odds: c.log_odds,
        })
        .collect();
    let reasons = effects
        .iter()
        .filter(|e| e.log_odds.abs() >= 0.05)
        .take(3)
        .map(|e| {
            format!(
                "{} {} {} the {kind} probability ({:+.2} log-odds)",
                e.feature.replace('_', " "),
                e.value
                    .as_deref()
                    .map_or("unknown".to_string(), |v| format!("= {v}")),
                if e.log_odds > 0.0 { "raises" } else { "lowers" },
                e.log_odds
            )
        })
        .collect();
    let prediction = LearntPrediction {
        model_name: model.name.clone(),
        model_version: model.version,
        learnt_from: model.learnt_from.clone(),
        probability: explained.probability,
        bias_log_odds: explained.bias,
        effects,
        reasons,
    };
    let inputs: serde_json::Map<String, serde_json::Value> = prediction
        .effects
        .iter()
        .map(|e| (e.feature.clone(), serde_json::json!(e.value)))
        .collect();
    let latency_micros = store::predictions::latency_micros(started.elapsed(), 1);
    runtime
        .predictions()
        .log(vec![model.log_entry(
            subject_type,
            subject_id,
            explained.probability,
            inputs,
            actor,
            latency_micros,
        )])
        .await;
    Ok(LearntScore {
        prediction: Some(prediction),
        note: None,
    })
}
