//! `revops model train|list|show|activate|retire|evaluate`: learn model versions from the
//! store's outcomes or a CSV export, compare them, and choose which one the servers use.
//!
//! Training registers a *candidate*; nothing changes for the servers until a person
//! activates it. Activation and retirement are recorded in the audit chain (server `cli`).
//! Reports go to stdout (a table for a person, or one JSON object with `--json`); progress
//! and errors go to stderr. Exit codes: 0 done, 1 refused (e.g. retiring the active
//! version), 2 failed.
#![allow(
    clippy::print_stdout,
    reason = "the operator CLI prints its results for a person"
)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use learn::{TrainOptions, TrainReport, Validation};

use crate::team::{DatabaseOptions, open_store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Lead conversion (the sales server's lead score).
    Lead,
    /// Customer churn (the customer-success server's churn risk).
    Churn,
    /// Trial-to-paid conversion (the marketing server's conversion insights).
    Conversion,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Lead => "lead",
            Kind::Churn => "churn",
            Kind::Conversion => "conversion",
        }
    }

    fn model_name(self) -> &'static str {
        match self {
            Kind::Lead => "lead_scorer",
            Kind::Churn => "churn_risk",
            Kind::Conversion => "trial_conversion",
        }
    }
}

/// Where the rows come from: the store's outcomes, or a CSV export.
#[derive(Debug, Args)]
pub struct DataSource {
    /// A CSV export to learn from instead of the store (comma or semicolon delimited).
    #[arg(long = "from")]
    file: Option<PathBuf>,
    /// The outcome column of the CSV.
    #[arg(long, requires = "file")]
    label: Option<String>,
    /// The outcome value that counts as yes (default: 1/true/yes).
    #[arg(long, requires = "file")]
    positive: Option<String>,
    /// Columns never to use as features, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "file")]
    exclude: Vec<String>,
    /// The identifier column (never a feature).
    #[arg(long, requires = "file")]
    id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Learn a new candidate version and report how good it is.
    Train {
        #[arg(long, value_enum)]
        kind: Kind,
        #[command(flatten)]
        source: DataSource,
        /// K-fold cross-validation (default 5).
        #[arg(long, conflicts_with = "holdout")]
        cv: Option<usize>,
        /// Judge on one held-out share of the rows instead, e.g. 0.2.
        #[arg(long)]
        holdout: Option<f64>,
        /// One JSON object instead of a report.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Every version of every kind (or one kind), with status and metrics.
    List {
        #[arg(long, value_enum)]
        kind: Option<Kind>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// One version: origin, metrics, features.
    Show {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        version: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Make a version the one the servers use (the version active before is retired).
    Activate {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        version: i64,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Retire a candidate (the active version cannot be retired; activate another first).
    Retire {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        version: i64,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Score a learnt version on the store's current outcomes or a CSV.
    Evaluate {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        version: i64,
        #[command(flatten)]
        source: DataSource,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
}

/// The table to learn from or evaluate on, and what it is called in the registry.
async fn load(
    store: &store::Store,
    kind: Kind,
    source: &DataSource,
) -> anyhow::Result<(learn::table::Table, TrainOptions, String)> {
    match &source.file {
        Some(path) => {
            let label = source.label.clone().ok_or_else(|| {
                anyhow::anyhow!("--label COLUMN is needed with --from: name the outcome column")
            })?;
            let table = learn::table::Table::read(path)?;
            let mut options = TrainOptions::new(&label);
            options.positive = source.positive.clone();
            options.exclude = source.exclude.clone();
            options.exclude.extend(source.id.clone());
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            Ok((table, options, format!("csv:{name}")))
        }
        None => {
            let table = crate::model_data::table_for(store, kind.as_str()).await?;
            Ok((
                table,
                TrainOptions::new(crate::model_data::LABEL),
                "store outcomes".into(),
            ))
        }
    }
}

/// Records an operator's model action in the audit chain, in the transaction of the change.
/// The auditor is opened before that transaction starts: opening it writes (its salt) and
/// would wait on the transaction's own lock.
struct ModelAudit {
    auditor: audit::Auditor,
    operator: String,
}

impl ModelAudit {
    async fn open(store: &store::Store) -> anyhow::Result<ModelAudit> {
        Ok(ModelAudit {
            auditor: audit::Auditor::open(store).await?,
            operator: std::env::var("REVOPS_ACTOR").unwrap_or_else(|_| "operator".into()),
        })
    }

    async fn record(
        &self,
        tx: &mut store::WriteTx,
        action: &str,
        kind: Kind,
        version: i64,
    ) -> anyhow::Result<()> {
        let arguments = serde_json::json!({"kind": kind.as_str(), "version": version});
        let detail = format!("{} v{version}", kind.as_str());
        self.auditor
            .append(
                tx,
                audit::NewEntry {
                    server: "cli",
                    actor_name: &self.operator,
                    tool: action,
                    kind: "write",
                    arguments: &arguments,
                    outcome: "ok",
                    detail: &detail,
                },
            )
            .await?;
        Ok(())
    }
}

fn print_report(report: &TrainReport, kind: Kind, version: i64) {
    let figure = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    println!(
        "{} model v{version} (candidate), learnt from {} rows ({} positive, {} without an outcome left out)",
        kind.as_str(),
        report.n_rows,
        report.n_positive,
        report.n_unlabelled
    );
    println!(
        "  validation: {}",
        match report.validation {
            Validation::CrossValidation(k) => format!("{k}-fold cross-validation"),
            Validation::Holdout(share) => format!("{share} held out"),
        }
    );
    println!(
        "  ROC AUC {}   Brier {:.4}   log loss {:.4}",
        figure(report.auc),
        report.brier,
        report.log_loss
    );
    println!(
        "  baseline, plain logistic regression: ROC AUC {}   Brier {:.4}",
        figure(report.baseline_logistic_auc),
        report.baseline_logistic_brier
    );
    println!("  calibration (predicted -> observed, rows):");
    for band in &report.calibration {
        println!(
            "    {:.1}-{:.1}: {:.3} -> {:.3} ({})",
            band.from, band.to, band.predicted, band.observed, band.rows
        );
    }
    println!("  most important features:");
    for importance in report.importance.iter().take(8) {
        println!(
            "    {:<28} {:5.1}%",
            importance.feature,
            importance.share * 100.0
        );
    }
    for excluded in &report.excluded {
        println!("  left out {}: {}", excluded.name, excluded.reason);
    }
    println!(
        "  {} trees, trained in {:.1} s",
        report.trees, report.seconds
    );
    println!(
        "next: revops model activate --kind {} --version {version}",
        kind.as_str()
    );
}

pub async fn run(command: ModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelCommand::Train {
            kind,
            source,
            cv,
            holdout,
            json,
            database,
        } => {
            let store = open_store(&database).await?;
            let (table, mut options, learnt_from) = load(&store, kind, &source).await?;
            options.validation = match holdout {
                Some(share) => Validation::Holdout(share),
                None => Validation::CrossValidation(cv.unwrap_or(5)),
            };
            eprintln!("training a {} model on {} rows…", kind.as_str(), table.rows);
            let (model, report) =
                tokio::task::spawn_blocking(move || learn::train(&table, &options)).await??;
            let params_json = serde_json::to_string(&model)?;
            let metrics_json = serde_json::to_string(&report)?;
            let baseline_json = serde_json::to_string(&serde_json::json!({
                "features": model.feature_baselines,
                "score": model.score_baseline,
            }))?;
            let audit = ModelAudit::open(&store).await?;
            let mut tx = store.begin_write().await?;
            let version = store::models::insert_candidate(
                &mut tx,
                &store::models::NewVersion {
                    kind: kind.as_str(),
                    name: kind.model_name(),
                    params_json: &params_json,
                    metrics_json: &metrics_json,
                    baseline_json: Some(&baseline_json),
                    learnt_from: &learnt_from,
                },
            )
            .await?;
            audit.record(&mut tx, "model train", kind, version).await?;
            tx.commit().await?;
            if json {
                let mut value = serde_json::to_value(&report)?;
                if let Some(object) = value.as_object_mut() {
                    object.insert("version".into(), version.into());
                    object.insert("kind".into(), kind.as_str().into());
                    object.insert("status".into(), "candidate".into());
                }
                println!("{value}");
            } else {
                print_report(&report, kind, version);
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::List {
            kind,
            json,
            database,
        } => {
            let store = open_store(&database).await?;
            let versions = store::models::list(&store, kind.map(Kind::as_str)).await?;
            if json {
                for version in &versions {
                    println!("{}", serde_json::to_string(version)?);
                }
            } else {
                println!(
                    "{:<11} {:>7} {:<10} {:>7} {:>7}  learnt from",
                    "kind", "version", "status", "auc", "brier"
                );
                for v in &versions {
                    let metric = |name: &str| {
                        v.metrics
                            .as_ref()
                            .and_then(|m| m.get(name))
                            .and_then(serde_json::Value::as_f64)
                            .map_or("-".to_string(), |x| format!("{x:.4}"))
                    };
                    println!(
                        "{:<11} {:>7} {:<10} {:>7} {:>7}  {}",
                        v.kind,
                        v.version,
                        v.status,
                        metric("auc"),
                        metric("brier"),
                        v.learnt_from.as_deref().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Show {
            kind,
            version,
            json,
            database,
        } => {
            let store = open_store(&database).await?;
            let (record, _) = store::models::get_version(&store, kind.as_str(), version).await?;
            if json {
                println!("{}", serde_json::to_string(&record)?);
            } else {
                println!(
                    "{} v{} ({}), {}",
                    record.name,
                    record.version,
                    record.status,
                    record.learnt_from.as_deref().unwrap_or("")
                );
                println!(
                    "  created {}{}",
                    record.created_at,
                    record
                        .activated_at
                        .as_deref()
                        .map(|a| format!(", activated {a}"))
                        .unwrap_or_default()
                );
                match &record.metrics {
                    Some(metrics) => println!("{}", serde_json::to_string_pretty(metrics)?),
                    None => println!("  the rule-based default: no training metrics"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Activate {
            kind,
            version,
            database,
        } => {
            let store = open_store(&database).await?;
            let audit = ModelAudit::open(&store).await?;
            let mut tx = store.begin_write().await?;
            let previous = store::models::activate(&mut tx, kind.as_str(), version).await?;
            if previous.is_some() {
                audit
                    .record(&mut tx, "model activate", kind, version)
                    .await?;
            }
            tx.commit().await?;
            match previous {
                Some(previous) => eprintln!(
                    "{} v{version} is active; v{previous} is retired",
                    kind.as_str()
                ),
                None => eprintln!(
                    "{} v{version} was already active; nothing changed",
                    kind.as_str()
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Retire {
            kind,
            version,
            database,
        } => {
            let store = open_store(&database).await?;
            let audit = ModelAudit::open(&store).await?;
            let mut tx = store.begin_write().await?;
            match store::models::retire(&mut tx, kind.as_str(), version).await {
                Ok(changed) => {
                    if changed {
                        audit.record(&mut tx, "model retire", kind, version).await?;
                    }
                    tx.commit().await?;
                    eprintln!(
                        "{} v{version} {}",
                        kind.as_str(),
                        if changed {
                            "is retired"
                        } else {
                            "was already retired; nothing changed"
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(store::Error::Conflict(reason)) => {
                    eprintln!("refused: {reason}");
                    Ok(ExitCode::from(1))
                }
                Err(error) => Err(error.into()),
            }
        }
        ModelCommand::Evaluate {
            kind,
            version,
            source,
            json,
            database,
        } => {
            let store = open_store(&database).await?;
            let (record, params) =
                store::models::get_version(&store, kind.as_str(), version).await?;
            let model: learn::Model = serde_json::from_str(&params).map_err(|_| {
                anyhow::anyhow!(
                    "{} v{} is the rule-based default, not a learnt model; evaluate a trained version",
                    record.kind,
                    record.version
                )
            })?;
            let (table, options, from) = load(&store, kind, &source).await?;
            let evaluation = learn::evaluate(&model, &table, &options)?;
            if json {
                let mut value = serde_json::to_value(&evaluation)?;
                if let Some(object) = value.as_object_mut() {
                    object.insert("version".into(), version.into());
                    object.insert("kind".into(), kind.as_str().into());
                    object.insert("evaluated_on".into(), from.into());
                }
                println!("{value}");
            } else {
                let figure = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.4}"));
                println!(
                    "{} v{version} on {from}: {} rows, ROC AUC {}, Brier {:.4}",
                    kind.as_str(),
                    evaluation.n_rows,
                    figure(evaluation.auc),
                    evaluation.brier
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
