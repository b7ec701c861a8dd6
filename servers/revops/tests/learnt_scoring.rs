//! Servers score with the learnt version an admin activates: train from the store's own
//! outcomes, activate through the tool, and every score of a stored lead, customer or trial
//! carries the learnt probability with each feature's effect, adding up exactly.
#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod util;

use revops::client;
use serde_json::{Value, json};
use util::*;

fn train(db: &SeededDatabase, args: &[&str]) -> Value {
    let output = std::process::Command::new(binary("revops"))
        .args(["model", "train"])
        .args(args)
        .args(["--json"])
        .env("REVOPS_DATABASE_URL", &db.url)
        .env("REVOPS_CONFIG", "none")
        .env("REVOPS_ACTOR", "ops-admin")
        .env("REVOPS_LOG", "error")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// The learnt prediction's effects add up to its log-odds, and its reasons are in words.
fn assert_explained(prediction: &Value) {
    let probability = prediction["probability"].as_f64().unwrap();
    assert!(probability > 0.0 && probability < 1.0, "{prediction}");
    let sum: f64 = prediction["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["log_odds"].as_f64().unwrap())
        .sum::<f64>()
        + prediction["bias_log_odds"].as_f64().unwrap();
    assert!(
        (sum - logit(probability)).abs() < 1e-6,
        "bias + effects = {sum}, log-odds of the probability = {}",
        logit(probability)
    );
    assert!(!prediction["reasons"].as_array().unwrap().is_empty());
}

on_both_backends!(an_activated_learnt_lead_model_scores_stored_leads_with_its_reasons);
async fn an_activated_learnt_lead_model_scores_stored_leads_with_its_reasons(db: &SeededDatabase) {
    let report = train(db, &["--kind", "lead", "--cv", "3"]);
    assert_eq!(report["version"], 2, "{report}");

    let admin = session_as(db, "revops-sales", "admin").await;
    // Before activation: v1 rules, and the answer says how to get a learnt score.
    let before = client::call_ok(&admin, "score_lead", json!({"lead_id": "lead_000001"}))
        .await
        .unwrap();
    assert!(before["learnt"]["prediction"].is_null());
    assert!(
        before["learnt"]["note"]
            .as_str()
            .unwrap()
            .contains("rule-based v1")
    );

    let rep = session_as(db, "revops-sales", "rep").await;
    let refused = error_text(
        &rep,
        "activate_model",
        json!({"model_name": "lead_scorer", "version": 2}),
    )
    .await;
    assert!(refused.contains("may not call activate_model"), "{refused}");

    let activated = client::call_ok(
        &admin,
        "activate_model",
        json!({"model_name": "lead_scorer", "version": 2}),
    )
    .await
    .unwrap();
    assert_eq!(activated["changed"], true);
    assert_eq!(activated["previously_active"], 1);
    assert!(activated["note"].is_null(), "{activated}");

    let scored = client::call_ok(&rep, "score_lead", json!({"lead_id": "lead_000001"}))
        .await
        .unwrap();
    let prediction = &scored["learnt"]["prediction"];
    assert_eq!(prediction["model_version"], 2, "{scored}");
    assert_eq!(prediction["learnt_from"], "store outcomes");
    assert_explained(prediction);
    let explained = client::call_ok(
        &rep,
        "explain_lead_score",
        json!({"lead_id": "lead_000001"}),
    )
    .await
    .unwrap();
    assert_eq!(
        explained["learnt"]["prediction"]["probability"],
        prediction["probability"]
    );

    // The active version cannot be retired; going back to v1 is one call.
    let refused = error_text(
        &admin,
        "retire_model",
        json!({"model_name": "lead_scorer", "version": 2}),
    )
    .await;
    assert!(
        refused.contains("activate another version first"),
        "{refused}"
    );
    client::call_ok(
        &admin,
        "activate_model",
        json!({"model_name": "lead_scorer", "version": 1}),
    )
    .await
    .unwrap();
    let retired = client::call_ok(
        &admin,
        "retire_model",
        json!({"model_name": "lead_scorer", "version": 2}),
    )
    .await
    .unwrap();
    assert_eq!(retired["status"], "retired");
    let after = client::call_ok(&rep, "score_lead", json!({"lead_id": "lead_000001"}))
        .await
        .unwrap();
    assert!(after["learnt"]["prediction"].is_null());

    // Both activations are in the audit log, and so is the rep's refused attempt.
    let audit = client::call_ok(
        &admin,
        "audit_query",
        json!({"tool": "activate_model", "limit": 10}),
    )
    .await
    .unwrap();
    let outcomes: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["denied", "ok", "ok"], "{audit}");
    let unknown = error_text(
        &admin,
        "activate_model",
        json!({"model_name": "churn_risk", "version": 2}),
    )
    .await;
    assert!(unknown.contains("its models are lead_scorer"), "{unknown}");
    let missing = error_text(
        &admin,
        "activate_model",
        json!({"model_name": "lead_scorer", "version": 9}),
    )
    .await;
    assert!(missing.contains("v9"), "{missing}");
    admin.cancel().await.unwrap();
    rep.cancel().await.unwrap();
}

on_both_backends!(a_learnt_churn_model_scores_customers_and_a_csv_model_is_reported_unusable);
async fn a_learnt_churn_model_scores_customers_and_a_csv_model_is_reported_unusable(
    db: &SeededDatabase,
) {
    let from_store = train(db, &["--kind", "churn", "--holdout", "0.3"]);
    let csv = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/bank_churn.csv")
        .display()
        .to_string();
    let from_csv = train(
        db,
        &[
            "--kind",
            "churn",
            "--from",
            &csv,
            "--label",
            "Exited",
            "--holdout",
            "0.2",
        ],
    );
    let admin = session_as(db, "revops-cs", "admin").await;

    // A version learnt from a bank's CSV has columns the store does not have.
    let activated = client::call_ok(
        &admin,
        "activate_model",
        json!({"model_name": "churn_risk", "version": from_csv["version"]}),
    )
    .await
    .unwrap();
    assert!(
        activated["note"]
            .as_str()
            .unwrap()
            .contains("features the store does not have"),
        "{activated}"
    );
    let customer = client::call_ok(&admin, "list_at_risk_accounts", json!({"limit": 1}))
        .await
        .unwrap()["items"][0]["account_id"]
        .clone();
    let risk = client::call_ok(&admin, "detect_churn_risk", json!({"account_id": customer}))
        .await
        .unwrap();
    assert!(risk["learnt"]["prediction"].is_null());
    assert!(
        risk["learnt"]["note"]
            .as_str()
            .unwrap()
            .contains("rule-based v1 scores instead")
    );

    client::call_ok(
        &admin,
        "activate_model",
        json!({"model_name": "churn_risk", "version": from_store["version"]}),
    )
    .await
    .unwrap();
    let risk = client::call_ok(&admin, "detect_churn_risk", json!({"account_id": customer}))
        .await
        .unwrap();
    assert_explained(&risk["learnt"]["prediction"]);
    let health = client::call_ok(
        &admin,
        "check_model_health",
        json!({"model_name": "churn_risk"}),
    )
    .await
    .unwrap();
    assert!(
        health.to_string().contains("\"status\":\"active\""),
        "{health}"
    );
    admin.cancel().await.unwrap();
}
