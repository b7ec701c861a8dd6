//! The learner on a real export: 10,000 bank customers (fixtures/bank_churn.csv, a public
//! data set; see fixtures/README.md). Five-fold cross-validated ROC AUC must reach 0.85,
//! where a plain logistic regression gets about 0.77: the age and product-count effects
//! are not linear, and the identifier columns and the surname must be left out.
#![allow(clippy::unwrap_used, reason = "tests")]

use learn::table::Table;
use learn::{TrainOptions, train};

#[test]
fn churn_learnt_from_the_bank_export_reaches_an_auc_of_0_85_and_stays_calibrated() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/bank_churn.csv");
    let table = Table::read(&path).unwrap();
    let (model, report) = train(&table, &TrainOptions::new("Exited")).unwrap();
    eprintln!(
        "bank churn: AUC {:.4} (logistic {:.4}), Brier {:.4} (logistic {:.4}), {} trees, {:.1} s",
        report.auc.unwrap(),
        report.baseline_logistic_auc.unwrap(),
        report.brier,
        report.baseline_logistic_brier,
        report.trees,
        report.seconds
    );
    assert_eq!(report.n_rows, 10_000);
    let excluded: Vec<&str> = report.excluded.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(excluded, ["RowNumber", "CustomerId", "Surname"]);
    assert!(report.auc.unwrap() >= 0.855, "AUC {:?}", report.auc);
    assert!(report.baseline_logistic_auc.unwrap() < 0.80);
    // Calibrated: better than the logistic baseline and far better than the base rate's
    // 0.163, and every well-filled band's observed rate within 0.1 of its prediction.
    assert!(
        report.brier < report.baseline_logistic_brier && report.brier < 0.11,
        "{}",
        report.brier
    );
    for band in report.calibration.iter().filter(|b| b.rows >= 100) {
        assert!((band.observed - band.predicted).abs() < 0.1, "{band:?}");
    }
    // Age and the number of products are what drives churn here.
    let top: Vec<&str> = report
        .importance
        .iter()
        .take(3)
        .map(|i| i.feature.as_str())
        .collect();
    assert!(
        top.contains(&"Age") && top.contains(&"NumOfProducts"),
        "{top:?}"
    );
    let explained = model.explain_cells(&[
        Some("600"),
        Some("Senegal"),
        Some("Female"),
        Some("52"),
        Some("3"),
        Some("90000"),
        Some("3"),
        Some("1"),
        Some("0"),
        Some("50000"),
    ]);
    let sum = explained.bias
        + explained
            .contributions
            .iter()
            .map(|c| c.log_odds)
            .sum::<f64>();
    assert!((sum - explained.log_odds).abs() < 1e-9);
    assert!(explained.probability > 0.5, "{explained:?}");
}
