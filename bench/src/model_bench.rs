//! `revops-bench model [--rows N]`: the learnt models' speed.
//!
//! - Predictions per second on one core, for each kind: a model is learnt from the demo
//!   company's outcomes with `revops model train --kind K` (the real CLI, on a temporary
//!   SQLite store), read back from the registry, and run over 1,000,000 encoded rows on
//!   this thread (the store's rows of that kind, cycled, then random inputs): the
//!   probability alone, then with per-feature contributions.
//!   Targets: >= 500,000/s, and >= 100,000/s with contributions.
//! - Training time on 10,000 and N (default 1,000,000) rows of a synthetic table from a
//!   known model (10 columns, 3 of them categorical, one U-shaped effect): one fit of the
//!   final model, and a whole `learn::train` with a 10% hold-out (two fits and the
//!   logistic baseline). Target: 1,000,000 rows in under a minute.

use std::time::Instant;

use learn::gbm::{Shuffler, sigmoid};
use learn::{TrainOptions, Validation};

fn synthetic(rows: usize, seed: u64) -> learn::table::Table {
    let mut shuffler = Shuffler::new(seed);
    let mut uniform = move || (shuffler.next_u64() % 1_000_000) as f64 / 1_000_000.0;
    let names = [
        "age", "tenure", "usage", "logins", "tickets", "seats", "spend", "plan", "region",
        "channel", "outcome",
    ];
    let mut columns: Vec<learn::table::Column> = names
        .iter()
        .map(|n| learn::table::Column {
            name: n.to_string(),
            cells: Vec::with_capacity(rows),
        })
        .collect();
    for _ in 0..rows {
        let values = [
            18.0 + uniform() * 60.0,
            uniform() * 10.0,
            uniform() * 100.0,
            (uniform() * 50.0).floor(),
            (uniform() * 8.0).floor(),
            1.0 + (uniform() * 200.0).floor(),
            uniform() * 10_000.0,
        ];
        let plan = ["starter", "growth", "enterprise"][(uniform() * 3.0) as usize % 3];
        let region = ["emea", "amer", "apac", "latam"][(uniform() * 4.0) as usize % 4];
        let channel = ["web", "partner"][(uniform() * 2.0) as usize % 2];
        let logit = -1.5 + ((values[0] - 45.0) / 12.0).powi(2) * 0.7 - values[2] / 40.0
            + values[4] * 0.25
            + if plan == "starter" { 0.6 } else { 0.0 }
            + if region == "apac" { 0.3 } else { 0.0 };
        let outcome = uniform() < sigmoid(logit);
        for (column, value) in columns.iter_mut().zip(values) {
            column.cells.push(Some(format!("{value:.2}")));
        }
        columns[7].cells.push(Some(plan.into()));
        columns[8].cells.push(Some(region.into()));
        columns[9].cells.push(Some(channel.into()));
        columns[10].cells.push(Some(u8::from(outcome).to_string()));
    }
    learn::table::Table { columns, rows }
}

fn train_timings(rows: usize) -> anyhow::Result<()> {
    let table = synthetic(rows, 17);
    let options = TrainOptions {
        validation: Validation::Holdout(0.1),
        ..TrainOptions::new("outcome")
    };
    let prepared = learn::prepare(&table, &options)?;
    let columns: Vec<&[f64]> = prepared.columns.iter().map(Vec::as_slice).collect();
    let all: Vec<u32> = (0..rows as u32).collect();
    let started = Instant::now();
    let gbm = learn::gbm::Gbm::train(&columns, &prepared.labels, &all, &options.params);
    let one_fit = started.elapsed();
    let started = Instant::now();
    let (_, report) = learn::train(&table, &options)?;
    let whole = started.elapsed();
    println!(
        "training on {rows:>9} rows: one fit {:>7.2} s ({} trees); learn::train with a 10% hold-out {:>7.2} s; held-out AUC {:.4} (logistic {:.4})",
        one_fit.as_secs_f64(),
        gbm.trees.len(),
        whole.as_secs_f64(),
        report.auc.unwrap_or(f64::NAN),
        report.baseline_logistic_auc.unwrap_or(f64::NAN),
    );
    Ok(())
}

async fn prediction_speed(kind: &str, database_url: &str) -> anyhow::Result<()> {
    let output = tokio::process::Command::new(crate::sibling("revops")?)
        .args(["model", "train", "--kind", kind, "--json"])
        .env("REVOPS_DATABASE_URL", database_url)
        .env("REVOPS_CONFIG", "none")
        .env("REVOPS_LOG", "error")
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "revops model train --kind {kind} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let version = report["version"].as_i64().unwrap_or(0);
    let store = store::Store::connect(&store::DatabaseLocation::parse(database_url)?).await?;
    let (_, params) = store::models::get_version(&store, kind, version).await?;
    // The rows the servers score: every subject of the kind, as `store::model_features`
    // gives them (what the model learnt from, outcome or not).
    let features = store::model_features::rows(
        &store,
        kind,
        store::model_features::Subjects::All,
        store::model_features::AsOf::Training,
    )
    .await?;
    store.close().await;
    let model: learn::Model = serde_json::from_str(&params)?;

    let width = model.encoding.width();
    let table = learn::table::Table {
        rows: features.ids.len(),
        columns: features
            .names
            .into_iter()
            .zip(features.columns)
            .map(|(name, cells)| learn::table::Column { name, cells })
            .collect(),
    };
    let columns = model.encoding.encode_table(&table)?;
    let stored: Vec<Vec<f64>> = (0..table.rows)
        .map(|row| columns.iter().map(|column| column[row]).collect())
        .collect();
    // Also random inputs (every input a whole number below 100, as earlier runs of this
    // benchmark used): most splits then go the same way, which flatters branchy walks.
    let mut shuffler = Shuffler::new(5);
    let random: Vec<Vec<f64>> = (0..4096)
        .map(|_| {
            (0..width)
                .map(|_| (shuffler.next_u64() % 100) as f64)
                .collect()
        })
        .collect();
    let mut total = 0.0;
    let mut figures = Vec::new();
    for rows in [&stored, &random] {
        let n = 1_000_000;
        let started = Instant::now();
        for i in 0..n {
            total += model.gbm.predict(&rows[i % rows.len()]);
        }
        let plain = n as f64 / started.elapsed().as_secs_f64();
        let n_explained = 300_000;
        let started = Instant::now();
        for i in 0..n_explained {
            total += model.explain_encoded(&rows[i % rows.len()]).probability;
        }
        figures.push((plain, n_explained as f64 / started.elapsed().as_secs_f64()));
    }
    println!(
        "{kind:<10} v{version}: {} trees over {width} inputs, CV AUC {:.3}, Brier {:.4}; on one core, the store's {} rows: {:>9.0} predictions/s, {:>9.0}/s with contributions; random rows: {:>9.0}/s, {:>9.0}/s (checksum {:.1})",
        model.gbm.trees.len(),
        report["auc"].as_f64().unwrap_or(f64::NAN),
        report["brier"].as_f64().unwrap_or(f64::NAN),
        stored.len(),
        figures[0].0,
        figures[0].1,
        figures[1].0,
        figures[1].1,
        total
    );
    Ok(())
}

pub(crate) async fn run(args: &[String]) -> anyhow::Result<()> {
    let rows = crate::flag(args, "--rows", 1_000_000);
    let folder = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", folder.path().join("bench.db").display());
    let store = store::Store::open(&store::DatabaseLocation::parse(&database_url)?).await?;
    demo_company::seed(&store, 4).await?;
    store.close().await;
    for kind in ["lead", "churn", "conversion"] {
        prediction_speed(kind, &database_url).await?;
    }
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        train_timings(10_000)?;
        train_timings(rows)
    })
    .await??;
    Ok(())
}
