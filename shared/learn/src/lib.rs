//! Learning the suite's models from a company's own outcomes.
//!
//! A table (a CSV export, or rows the store gives as text) and the name of its outcome
//! column go in; a trained [`Model`] and a [`TrainReport`] come out. The model is
//! gradient-boosted trees ([`gbm`]) over an [`features::Encoding`] that it keeps, so a
//! prediction encodes its input exactly as training did, and every prediction splits into
//! per-feature contributions that add up to its log-odds. The report gives what a team
//! needs to decide whether to activate it: cross-validated ROC AUC, Brier score and a
//! calibration table, the most important features, and the plain logistic regression it
//! has to beat. [`drift`] keeps the training distributions so later populations can be
//! compared with them.
//!
//! No I/O beyond reading a CSV file, no store, no async: the CLI and the servers wrap it.
//!
//! # Layout
//! - [`table`]: CSV as exports write it.
//! - [`features`]: numeric, categorical and excluded columns; encoding.
//! - [`gbm`]: the learner. [`logistic`]: the baseline. [`metrics`]: AUC, Brier, calibration.
//! - [`drift`]: population stability index.

pub mod drift;
pub mod features;
pub mod gbm;
pub mod logistic;
pub mod metrics;
pub mod table;

use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::drift::Baseline;
use crate::features::{Encoding, Excluded, Feature, FeatureKind};
use crate::gbm::{Gbm, GbmParams, Shuffler};
use crate::metrics::CalibrationBand;
use crate::table::Table;

/// What went wrong, in words for the person who ran the training.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LearnError {
    /// The input cannot be used as given.
    #[error("{0}")]
    Input(String),
}

/// How the trained model is judged before it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "method", content = "value", rename_all = "snake_case")]
pub enum Validation {
    /// K-fold cross-validation (stratified).
    CrossValidation(usize),
    /// One held-out share of the rows (stratified).
    Holdout(f64),
}

/// What to learn, from which column.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The outcome column.
    pub label: String,
    /// The outcome value that counts as "yes"; without it 0/1, true/false, yes/no.
    pub positive: Option<String>,
    /// Columns never to use.
    pub exclude: Vec<String>,
    pub validation: Validation,
    pub params: GbmParams,
}

impl TrainOptions {
    pub fn new(label: &str) -> TrainOptions {
        TrainOptions {
            label: label.to_string(),
            positive: None,
            exclude: Vec::new(),
            validation: Validation::CrossValidation(5),
            params: GbmParams::default(),
        }
    }
}

/// A trained model: the encoding of its inputs, the trees, and the training distributions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Model {
    pub encoding: Encoding,
    pub gbm: Gbm,
    /// Per feature (in encoding order), the training distribution of its values
    /// (categorical: the level index, NaN when missing).
    pub feature_baselines: Vec<Baseline>,
    /// The training distribution of the predicted probability.
    pub score_baseline: Baseline,
}

/// One feature's part in a prediction, in log-odds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contribution {
    pub feature: String,
    pub log_odds: f64,
}

/// A prediction with its explanation: `bias + Σ contributions = log_odds` exactly (up to
/// floating-point rounding), and `probability = sigmoid(log_odds)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Explained {
    pub probability: f64,
    pub log_odds: f64,
    pub bias: f64,
    /// Largest effect first.
    pub contributions: Vec<Contribution>,
}

/// One fold of a cross-validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FoldResult {
    pub auc: Option<f64>,
    pub brier: f64,
    pub baseline_auc: Option<f64>,
}

/// A feature and its share of the model's total split gain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Importance {
    pub feature: String,
    pub share: f64,
}

/// How a training went and how good the model is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrainReport {
    pub n_rows: usize,
    pub n_positive: usize,
    /// Rows left out because their outcome cell was empty.
    pub n_unlabelled: usize,
    pub n_features: usize,
    pub features: Vec<Feature>,
    pub excluded: Vec<Excluded>,
    pub validation: Validation,
    /// ROC AUC of the held-out predictions (cross-validation: the mean over folds).
    pub auc: Option<f64>,
    pub brier: f64,
    pub log_loss: f64,
    pub calibration: Vec<CalibrationBand>,
    pub folds: Vec<FoldResult>,
    /// The plain logistic regression on the same rows and validation.
    pub baseline_logistic_auc: Option<f64>,
    pub baseline_logistic_brier: f64,
    pub importance: Vec<Importance>,
    /// Trees in the final model (trained on every row).
    pub trees: usize,
    pub seconds: f64,
}

/// The encoded rows of a table, ready to learn from.
pub struct Prepared {
    pub encoding: Encoding,
    pub excluded: Vec<Excluded>,
    /// Column-major encoded inputs.
    pub columns: Vec<Vec<f64>>,
    pub labels: Vec<bool>,
    pub unlabelled: usize,
}

/// Reads the outcome and encodes the features of `table`.
pub fn prepare(table: &Table, options: &TrainOptions) -> Result<Prepared, LearnError> {
    let label_column = table.column(&options.label).ok_or_else(|| {
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        LearnError::Input(format!(
            "there is no column {:?}; the columns are {}",
            options.label,
            names.join(", ")
        ))
    })?;
    let mut keep = Vec::with_capacity(table.rows);
    let mut labels = Vec::with_capacity(table.rows);
    let mut unlabelled = 0;
    for (row, cell) in label_column.cells.iter().enumerate() {
        let Some(text) = cell else {
            unlabelled += 1;
            continue;
        };
        let label = table::parse_label(text, options.positive.as_deref()).ok_or_else(|| {
            LearnError::Input(format!(
                "row {}: the outcome {:?} is not 0/1, true/false or yes/no; name the positive value with --positive",
                row + 2,
                text
            ))
        })?;
        keep.push(row);
        labels.push(label);
    }
    let positives = labels.iter().filter(|l| **l).count();
    if positives == 0 || positives == labels.len() {
        return Err(LearnError::Input(format!(
            "every labelled row has the same outcome ({} rows); a model needs both outcomes",
            labels.len()
        )));
    }
    // Rows without an outcome are left out; when there are none, the table is used as it is.
    let copy;
    let labelled = if keep.len() == table.rows {
        table
    } else {
        copy = Table {
            columns: table
                .columns
                .iter()
                .map(|c| table::Column {
                    name: c.name.clone(),
                    cells: keep.iter().map(|&r| c.cells[r].clone()).collect(),
                })
                .collect(),
            rows: keep.len(),
        };
        &copy
    };
    let (encoding, excluded) = features::detect(labelled, &options.label, &options.exclude);
    if encoding.features.is_empty() {
        return Err(LearnError::Input(
            "no column can be a feature (every column is the outcome, excluded, an identifier or empty)".into(),
        ));
    }
    let columns = encoding.encode_table(labelled)?;
    Ok(Prepared {
        encoding,
        excluded,
        columns,
        labels,
        unlabelled,
    })
}

/// Splits row indices into `k` folds with the same share of positives in each.
fn stratified_folds(labels: &[bool], k: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut shuffler = Shuffler::new(seed);
    let mut positives: Vec<u32> = (0..labels.len() as u32)
        .filter(|&i| labels[i as usize])
        .collect();
    let mut negatives: Vec<u32> = (0..labels.len() as u32)
        .filter(|&i| !labels[i as usize])
        .collect();
    shuffler.shuffle(&mut positives);
    shuffler.shuffle(&mut negatives);
    let mut folds = vec![Vec::new(); k];
    for (i, row) in positives.into_iter().chain(negatives).enumerate() {
        folds[i % k].push(row);
    }
    folds
}

struct Heldout {
    rows: Vec<u32>,
    /// Trees the fold's model kept (early stopping on its own held-out rows).
    trees: usize,
    model: Vec<f64>,
    baseline: Vec<f64>,
}

fn fit_and_score(
    columns: &[&[f64]],
    labels: &[bool],
    train: &[u32],
    test: &[u32],
    params: &GbmParams,
) -> Heldout {
    let model = Gbm::train(columns, labels, train, params);
    let baseline = logistic::Logistic::fit(columns, labels, train);
    let mut row = vec![0.0; columns.len()];
    let mut predictions = Vec::with_capacity(test.len());
    let mut baseline_predictions = Vec::with_capacity(test.len());
    for &r in test {
        for (value, column) in row.iter_mut().zip(columns) {
            *value = column[r as usize];
        }
        predictions.push(model.predict(&row));
        baseline_predictions.push(baseline.predict(columns, r as usize));
    }
    Heldout {
        rows: test.to_vec(),
        trees: model.trees.len(),
        model: predictions,
        baseline: baseline_predictions,
    }
}

/// The trees the final model grows: the median of the validation models' (the upper one
/// of an even count).
fn rounds_of(mut trees: Vec<usize>) -> usize {
    trees.sort_unstable();
    trees.get(trees.len() / 2).copied().unwrap_or(1).max(1)
}

/// Learns a model from `table` and reports how good it is.
pub fn train(table: &Table, options: &TrainOptions) -> Result<(Model, TrainReport), LearnError> {
    let started = Instant::now();
    let prepared = prepare(table, options)?;
    let columns: Vec<&[f64]> = prepared.columns.iter().map(Vec::as_slice).collect();
    let labels = &prepared.labels;
    let n = labels.len();
    let params = &options.params;

    let splits: Vec<(Vec<u32>, Vec<u32>)> = match options.validation {
        Validation::CrossValidation(k) => {
            if !(2..=20).contains(&k) || k > n {
                return Err(LearnError::Input(format!(
                    "--cv must be 2 to 20 folds (and at most the rows), got {k}"
                )));
            }
            let folds = stratified_folds(labels, k, params.seed);
            (0..k)
                .map(|test| {
                    let train: Vec<u32> = folds
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != test)
                        .flat_map(|(_, f)| f.iter().copied())
                        .collect();
                    (train, folds[test].clone())
                })
                .collect()
        }
        Validation::Holdout(share) => {
            if !(share > 0.0 && share < 0.9) {
                return Err(LearnError::Input(format!(
                    "--holdout must be between 0 and 0.9, got {share}"
                )));
            }
            let folds = stratified_folds(labels, 1000, params.seed);
            let cut = ((1000.0 * share).round() as usize).clamp(1, 999);
            let test: Vec<u32> = folds[..cut].iter().flatten().copied().collect();
            let train: Vec<u32> = folds[cut..].iter().flatten().copied().collect();
            vec![(train, test)]
        }
    };

    // The folds are independent: two at a time, one per core.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((train, test)) = splits.get(index) else {
                        break;
                    };
                    let heldout = fit_and_score(&columns, labels, train, test, params);
                    results
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push((index, heldout));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    results.sort_by_key(|(index, _)| *index);

    let mut folds = Vec::new();
    let (mut pooled_labels, mut pooled, mut pooled_baseline) = (Vec::new(), Vec::new(), Vec::new());
    for (_, heldout) in &results {
        let fold_labels: Vec<bool> = heldout.rows.iter().map(|&r| labels[r as usize]).collect();
        folds.push(FoldResult {
            auc: metrics::auc(&heldout.model, &fold_labels),
            brier: metrics::brier(&heldout.model, &fold_labels),
            baseline_auc: metrics::auc(&heldout.baseline, &fold_labels),
        });
        pooled_labels.extend(fold_labels);
        pooled.extend(&heldout.model);
        pooled_baseline.extend(&heldout.baseline);
    }
    let mean = |values: Vec<Option<f64>>| -> Option<f64> {
        let values: Option<Vec<f64>> = values.into_iter().collect();
        values.map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64)
    };

    // The model kept is trained on every row, with as many trees as the validation's
    // models kept (the median over folds): the figures above estimate how it does on rows
    // it has not seen. Early stopping it on a tenth of the rows again would hold those rows
    // back, and on a small table that tenth is a few dozen rows whose loss can keep falling
    // long after the folds stopped (a table of 260 trials grew 288 trees where the folds
    // kept 30 to 94).
    let all: Vec<u32> = (0..n as u32).collect();
    let final_params = GbmParams {
        max_trees: rounds_of(results.iter().map(|(_, heldout)| heldout.trees).collect()),
        early_stopping_rounds: 0,
        ..params.clone()
    };
    let gbm = Gbm::train(&columns, labels, &all, &final_params);
    let model = Model::from_parts(prepared.encoding.clone(), gbm, &prepared.columns);

    let owners = prepared.encoding.owners();
    let total_gain: f64 = model.gbm.gain.iter().sum::<f64>().max(1e-12);
    let mut importance: Vec<Importance> = prepared
        .encoding
        .features
        .iter()
        .enumerate()
        .map(|(index, feature)| Importance {
            feature: feature.name.clone(),
            share: owners
                .iter()
                .zip(&model.gbm.gain)
                .filter(|(owner, _)| **owner == index)
                .map(|(_, gain)| gain)
                .sum::<f64>()
                / total_gain,
        })
        .collect();
    importance.sort_by(|a, b| b.share.total_cmp(&a.share));

    let report = TrainReport {
        n_rows: n,
        n_positive: labels.iter().filter(|l| **l).count(),
        n_unlabelled: prepared.unlabelled,
        n_features: prepared.encoding.features.len(),
        features: prepared.encoding.features.clone(),
        excluded: prepared.excluded,
        validation: options.validation,
        auc: mean(folds.iter().map(|f| f.auc).collect()),
        brier: metrics::brier(&pooled, &pooled_labels),
        log_loss: metrics::log_loss(&pooled, &pooled_labels),
        calibration: metrics::calibration(&pooled, &pooled_labels),
        baseline_logistic_auc: mean(folds.iter().map(|f| f.baseline_auc).collect()),
        baseline_logistic_brier: metrics::brier(&pooled_baseline, &pooled_labels),
        folds,
        importance,
        trees: model.gbm.trees.len(),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((model, report))
}

/// How a trained model does on a table it may not have seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evaluation {
    pub n_rows: usize,
    pub n_positive: usize,
    pub auc: Option<f64>,
    pub brier: f64,
    pub log_loss: f64,
    pub calibration: Vec<CalibrationBand>,
}

/// Scores `model` on the labelled rows of `table` (which must have the model's feature
/// columns and the outcome column of `options`).
pub fn evaluate(
    model: &Model,
    table: &Table,
    options: &TrainOptions,
) -> Result<Evaluation, LearnError> {
    let label_column = table
        .column(&options.label)
        .ok_or_else(|| LearnError::Input(format!("there is no column {:?}", options.label)))?;
    let columns = model.encoding.encode_table(table)?;
    let mut probabilities = Vec::new();
    let mut labels = Vec::new();
    let mut row = vec![0.0; columns.len()];
    for (index, cell) in label_column.cells.iter().enumerate() {
        let Some(text) = cell else { continue };
        let label = table::parse_label(text, options.positive.as_deref()).ok_or_else(|| {
            LearnError::Input(format!(
                "row {}: the outcome {text:?} is not 0/1, true/false or yes/no",
                index + 2
            ))
        })?;
        for (value, column) in row.iter_mut().zip(&columns) {
            *value = column[index];
        }
        probabilities.push(model.gbm.predict(&row));
        labels.push(label);
    }
    Ok(Evaluation {
        n_rows: labels.len(),
        n_positive: labels.iter().filter(|l| **l).count(),
        auc: metrics::auc(&probabilities, &labels),
        brier: metrics::brier(&probabilities, &labels),
        log_loss: metrics::log_loss(&probabilities, &labels),
        calibration: metrics::calibration(&probabilities, &labels),
    })
}

impl Model {
    fn from_parts(encoding: Encoding, gbm: Gbm, columns: &[Vec<f64>]) -> Model {
        let n = columns.first().map_or(0, Vec::len);
        let mut feature_baselines = Vec::with_capacity(encoding.features.len());
        let mut start = 0;
        for feature in &encoding.features {
            match &feature.kind {
                FeatureKind::Numeric => {
                    feature_baselines.push(Baseline::of(&columns[start]));
                    start += 1;
                }
                FeatureKind::Categorical { levels } => {
                    let indices: Vec<f64> = (0..n)
                        .map(|row| {
                            (0..levels.len())
                                .find(|&l| columns[start + l][row] == 1.0)
                                .map_or(f64::NAN, |l| l as f64)
                        })
                        .collect();
                    feature_baselines.push(Baseline::of(&indices));
                    start += levels.len();
                }
            }
        }
        let mut row = vec![0.0; columns.len()];
        let scores: Vec<f64> = (0..n)
            .map(|r| {
                for (value, column) in row.iter_mut().zip(columns) {
                    *value = column[r];
                }
                gbm.predict(&row)
            })
            .collect();
        Model {
            encoding,
            gbm,
            feature_baselines,
            score_baseline: Baseline::of(&scores),
        }
    }

    /// The probability for one row given as cell texts in feature order.
    pub fn predict_cells(&self, cells: &[Option<&str>]) -> f64 {
        let mut row = Vec::with_capacity(self.encoding.width());
        self.encoding.encode_into(cells, &mut row);
        self.gbm.predict(&row)
    }

    /// The probability for one encoded row, with each feature's contribution.
    pub fn explain_encoded(&self, row: &[f64]) -> Explained {
        let mut per_input = Vec::with_capacity(row.len() + 1);
        let bias = self.gbm.contributions(row, &mut per_input);
        // Each feature's inputs are consecutive: one for a number, one per level.
        let mut inputs = per_input.iter();
        let per_feature: Vec<f64> = self
            .encoding
            .features
            .iter()
            .map(|feature| match &feature.kind {
                FeatureKind::Numeric => inputs.next().copied().unwrap_or(0.0),
                FeatureKind::Categorical { levels } => inputs.by_ref().take(levels.len()).sum(),
            })
            .collect();
        let log_odds = bias + per_feature.iter().sum::<f64>();
        let mut contributions: Vec<Contribution> = self
            .encoding
            .features
            .iter()
            .zip(per_feature)
            .map(|(feature, log_odds)| Contribution {
                feature: feature.name.clone(),
                log_odds,
            })
            .collect();
        contributions.sort_by(|a, b| b.log_odds.abs().total_cmp(&a.log_odds.abs()));
        Explained {
            probability: gbm::sigmoid(log_odds),
            log_odds,
            bias,
            contributions,
        }
    }

    /// [`Model::explain_encoded`] for a row of cell texts in feature order.
    pub fn explain_cells(&self, cells: &[Option<&str>]) -> Explained {
        let mut row = Vec::with_capacity(self.encoding.width());
        self.encoding.encode_into(cells, &mut row);
        self.explain_encoded(&row)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    /// A table drawn from a known logistic model with one non-linear (U-shaped) effect.
    fn known_truth(rows: usize, seed: u64) -> (String, Vec<f64>) {
        let mut shuffler = Shuffler::new(seed);
        let mut uniform = move || (shuffler.next_u64() % 1_000_000) as f64 / 1_000_000.0;
        let mut text = String::from("customer_id,age,plan,usage,outcome\n");
        let mut truth = Vec::new();
        for i in 0..rows {
            let age = 18.0 + uniform() * 60.0;
            let plan = ["basic", "pro", "team"][(uniform() * 3.0) as usize % 3];
            let usage = uniform() * 10.0;
            let logit = -1.0 + ((age - 45.0) / 10.0).powi(2) * 0.8 - 0.4 * usage
                + if plan == "pro" { 1.0 } else { 0.0 };
            let p = gbm::sigmoid(logit);
            let outcome = uniform() < p;
            truth.push(p);
            text.push_str(&format!(
                "{},{age:.1},{plan},{usage:.2},{}\n",
                1000 + i,
                u8::from(outcome)
            ));
        }
        (text, truth)
    }

    #[test]
    fn training_on_data_from_a_known_model_comes_close_to_the_truth() {
        let (text, truth) = known_truth(6000, 5);
        let table = Table::parse(text.as_bytes()).unwrap();
        let (model, report) = train(&table, &TrainOptions::new("outcome")).unwrap();
        let labels: Vec<bool> = table
            .column("outcome")
            .unwrap()
            .cells
            .iter()
            .map(|c| c.as_deref() == Some("1"))
            .collect();
        let truth_auc = metrics::auc(&truth, &labels).unwrap();
        let learnt = report.auc.unwrap();
        assert!(
            learnt > truth_auc - 0.03,
            "learnt {learnt:.3}, truth {truth_auc:.3}"
        );
        assert!(
            learnt > report.baseline_logistic_auc.unwrap() + 0.05,
            "{report:?}"
        );
        assert_eq!(
            report.n_features, 3,
            "customer_id is an identifier: {:?}",
            report.excluded
        );
        assert_eq!(report.importance[0].feature, "age");
        let explained = model.explain_cells(&[Some("70"), Some("pro"), Some("1.0")]);
        let sum = explained.bias
            + explained
                .contributions
                .iter()
                .map(|c| c.log_odds)
                .sum::<f64>();
        assert!((sum - explained.log_odds).abs() < 1e-9);
        assert!(
            (explained.probability - model.predict_cells(&[Some("70"), Some("pro"), Some("1.0")]))
                .abs()
                < 1e-12
        );
    }

    #[test]
    fn a_label_that_is_not_yes_or_no_names_the_row() {
        let table = Table::parse(b"x,y\n1,yes\n2,perhaps\n").unwrap();
        let error = train(&table, &TrainOptions::new("y")).err().unwrap();
        assert!(error.to_string().contains("row 3"), "{error}");
        let error = train(&table, &TrainOptions::new("z")).err().unwrap();
        assert!(error.to_string().contains("columns are x, y"), "{error}");
    }

    #[test]
    fn the_final_model_grows_the_median_of_the_validation_models_trees() {
        assert_eq!(rounds_of(vec![30, 79, 94, 79, 51]), 79);
        assert_eq!(rounds_of(vec![12]), 12);
        assert_eq!(rounds_of(vec![10, 20]), 20);
        assert_eq!(rounds_of(Vec::new()), 1);
    }
}
