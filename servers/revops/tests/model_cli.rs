//! `revops model` as an operator uses it: learn from a CSV export and from the store's own
//! outcomes, read the report, activate and retire versions, and find every change in an
//! audit chain that still verifies.
#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod util;

use serde_json::Value;
use util::*;

fn revops(db: &SeededDatabase, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary("revops"))
        .env("REVOPS_CONFIG", "none")
        .args(args)
        .env("REVOPS_DATABASE_URL", &db.url)
        .env("REVOPS_ACTOR", "ops-admin")
        .env("REVOPS_LOG", "error")
        .output()
        .unwrap()
}

fn json_of(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn bank_churn() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/bank_churn.csv")
        .display()
        .to_string()
}

on_both_backends!(models_learn_from_a_csv_and_the_store_and_only_an_explicit_activation_changes_the_active_version);
async fn models_learn_from_a_csv_and_the_store_and_only_an_explicit_activation_changes_the_active_version(
    db: &SeededDatabase,
) {
    let csv = bank_churn();
    let report = json_of(&revops(
        db,
        &[
            "model",
            "train",
            "--kind",
            "churn",
            "--from",
            &csv,
            "--label",
            "Exited",
            "--holdout",
            "0.2",
            "--json",
        ],
    ));
    assert_eq!(report["version"], 2, "{report}");
    assert_eq!(report["status"], "candidate");
    assert_eq!(report["n_rows"], 10_000);
    assert_eq!(
        report["n_features"], 10,
        "RowNumber, CustomerId and Surname are left out"
    );
    assert!(report["auc"].as_f64().unwrap() > 0.84, "{}", report["auc"]);
    assert!(report["brier"].as_f64().unwrap() < 0.12);

    // Learning from the store's own outcomes, judged by cross-validation.
    let store_report = json_of(&revops(
        db,
        &["model", "train", "--kind", "lead", "--cv", "3", "--json"],
    ));
    assert_eq!(store_report["version"], 2);
    assert!(
        store_report["n_rows"].as_u64().unwrap() > 50,
        "{store_report}"
    );
    assert!(
        store_report["auc"].as_f64().unwrap() > 0.6,
        "{store_report}"
    );

    // Nothing is active until someone says so.
    let list = revops(db, &["model", "list", "--kind", "churn", "--json"]);
    let versions: Vec<Value> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let active: Vec<i64> = versions
        .iter()
        .filter(|v| v["status"] == "active")
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(active, [1], "{versions:?}");

    // The active version cannot be retired; after activating v2, v1 is retired.
    let refused = revops(
        db,
        &["model", "retire", "--kind", "churn", "--version", "1"],
    );
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("activate another version first"));
    assert!(
        revops(
            db,
            &["model", "activate", "--kind", "churn", "--version", "2"]
        )
        .status
        .success()
    );
    let shown = json_of(&revops(
        db,
        &[
            "model",
            "show",
            "--kind",
            "churn",
            "--version",
            "1",
            "--json",
        ],
    ));
    assert_eq!(shown["status"], "retired");
    let shown = json_of(&revops(
        db,
        &[
            "model",
            "show",
            "--kind",
            "churn",
            "--version",
            "2",
            "--json",
        ],
    ));
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["learnt_from"], "csv:bank_churn.csv");

    // The learnt version evaluates on the same export (it has seen these rows: a high AUC).
    let evaluation = json_of(&revops(
        db,
        &[
            "model",
            "evaluate",
            "--kind",
            "churn",
            "--version",
            "2",
            "--from",
            &csv,
            "--label",
            "Exited",
            "--json",
        ],
    ));
    assert!(evaluation["auc"].as_f64().unwrap() > 0.88, "{evaluation}");
    // A rule-based default cannot be evaluated as a learnt model: said plainly.
    let refused = revops(
        db,
        &["model", "evaluate", "--kind", "lead", "--version", "1"],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("rule-based default"));

    // Training, activation and the refused retirement's absence are in the chain, which verifies.
    let verify = revops(db, &["audit", "verify", "--json"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let entries = revops(db, &["audit", "query", "--server", "cli", "--json"]);
    let tools: Vec<String> = String::from_utf8_lossy(&entries.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["tool"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for action in ["model train", "model activate"] {
        assert!(
            tools.iter().any(|t| t == action),
            "{action} not in {tools:?}"
        );
    }
    assert!(
        !tools.iter().any(|t| t == "model retire"),
        "a refused retirement changes nothing"
    );
}

#[test]
fn a_csv_whose_outcome_column_is_missing_is_refused_with_the_columns_it_has() {
    let folder = tempfile::tempdir().unwrap();
    let csv = folder.path().join("export.csv");
    std::fs::write(
        &csv,
        "id;plan;usage;churned\r\n1;pro;3,5;yes\r\n2;basic;1,0;no\r\n",
    )
    .unwrap();
    let output = std::process::Command::new(binary("revops"))
        .env("REVOPS_CONFIG", "none")
        .args([
            "model",
            "train",
            "--kind",
            "churn",
            "--from",
            csv.to_str().unwrap(),
            "--label",
            "Exited",
        ])
        .env(
            "REVOPS_DATABASE_URL",
            format!("sqlite://{}", folder.path().join("r.db").display()),
        )
        .env("REVOPS_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("no column \"Exited\"") && said.contains("id, plan, usage, churned"),
        "{said}"
    );
}
