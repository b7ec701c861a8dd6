//! Watching models from any server: `check_model_health` reports versions, volume, the
//! spread of scores, drift (quiet on an unshifted population, alarmed on a shifted one)
//! and accuracy on past predictions; `log_prediction` records predictions made elsewhere.
#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod util;

use revops::client;
use serde_json::{Value, json};
use util::*;

/// Logs `count` predictions of `partner_fit` one minute apart from `start_minute`, with
/// employees around `employees` and a score that follows them.
async fn log_batch(
    session: &revops::client::Session,
    start_minute: u32,
    count: u32,
    employees: f64,
) {
    for i in 0..count {
        let minute = start_minute + i;
        let wobble = f64::from((i * 37) % 50);
        let value = employees + wobble;
        client::call_ok(
            session,
            "log_prediction",
            json!({
                "model_name": "partner_fit", "model_version": 1, "subject_type": "lead",
                "score": value / 1000.0, "tier": "warm",
                "inputs": {"employees": value, "region": if i % 2 == 0 { "emea" } else { "amer" }},
                "latency_ms": 1.5,
                "predicted_at": format!("2026-10-{:02}T{:02}:{:02}:00Z", 1 + minute / 1440, (minute / 60) % 24, minute % 60),
            }),
        )
        .await
        .unwrap();
    }
}

fn drift_of<'a>(report: &'a Value, feature: &str) -> &'a Value {
    report["models"][0]["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["feature"] == feature)
        .unwrap_or_else(|| panic!("no drift for {feature} in {report}"))
}

on_both_backends!(drift_stays_quiet_on_the_same_population_and_alarms_on_a_shifted_one);
async fn drift_stays_quiet_on_the_same_population_and_alarms_on_a_shifted_one(db: &SeededDatabase) {
    let marketing = session_as(db, "revops-marketing", "rep").await;
    log_batch(&marketing, 0, 200, 100.0).await;
    let same = client::call_ok(
        &marketing,
        "check_model_health",
        json!({"model_name": "partner_fit", "window": 100}),
    )
    .await
    .unwrap();
    assert_eq!(same["models"][0]["predictions_total"], 200, "{same}");
    assert_eq!(drift_of(&same, "score")["band"], "stable", "{same}");
    assert_eq!(drift_of(&same, "employees")["band"], "stable", "{same}");
    assert_eq!(same["models"][0]["overall_drift"], "stable");

    log_batch(&marketing, 300, 100, 600.0).await;
    let shifted = client::call_ok(
        &marketing,
        "check_model_health",
        json!({"model_name": "partner_fit", "window": 100}),
    )
    .await
    .unwrap();
    assert_eq!(
        drift_of(&shifted, "employees")["band"],
        "significant",
        "{shifted}"
    );
    assert_eq!(drift_of(&shifted, "score")["band"], "significant");
    assert_eq!(
        drift_of(&shifted, "region")["band"],
        "stable",
        "the region mix did not change"
    );
    assert_eq!(shifted["models"][0]["overall_drift"], "significant");
    let findings = shifted["models"][0]["findings"].to_string();
    assert!(findings.contains("employees has drifted"), "{findings}");
}

on_both_backends!(
    the_sales_model_reports_its_versions_volume_and_accuracy_on_leads_whose_outcome_is_known
);
async fn the_sales_model_reports_its_versions_volume_and_accuracy_on_leads_whose_outcome_is_known(
    db: &SeededDatabase,
) {
    let sales = session_as(db, "revops-sales", "rep").await;
    let before = client::call_ok(&sales, "check_model_health", json!({}))
        .await
        .unwrap();
    let model = &before["models"][0];
    assert_eq!(model["model_name"], "lead_scorer");
    assert_eq!(model["active_version"], 1);
    assert_eq!(model["versions"][0]["status"], "active");
    assert_eq!(model["predictions_total"], 0);
    assert!(model["findings"].to_string().contains("No predictions"));

    // Rank every lead: each score is logged, including leads that converted or were disqualified.
    client::call_ok(&sales, "rank_leads", json!({"limit": 100}))
        .await
        .unwrap();
    let mut after = Value::Null;
    for _ in 0..50 {
        // The prediction log writes in the background; give it a moment.
        after = client::call_ok(
            &sales,
            "check_model_health",
            json!({"model_name": "lead_scorer"}),
        )
        .await
        .unwrap();
        if after["models"][0]["predictions_total"].as_i64().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let model = &after["models"][0];
    assert!(
        model["predictions_last_24h"].as_i64().unwrap() > 0,
        "{after}"
    );
    assert!(
        model["score_distribution"]["p90"].as_f64().unwrap()
            >= model["score_distribution"]["p10"].as_f64().unwrap()
    );

    // A prediction with personal data, or an impossible one, is refused and changes nothing.
    let counts = record_counts(&sales).await;
    for (arguments, says) in [
        (
            json!({"model_name": "x", "model_version": 1, "subject_type": "lead", "score": 1.0,
                "inputs": {"contact": "jane@example.com"}}),
            "email",
        ),
        (
            json!({"model_name": "x", "model_version": 0, "subject_type": "lead", "score": 1.0}),
            "model_version",
        ),
        (
            json!({"model_name": "x'; DROP TABLE predictions;--", "model_version": 1, "subject_type": "lead", "score": 1.0}),
            "model_name",
        ),
        (
            json!({"model_name": "x", "model_version": 1, "subject_type": "lead", "score": "high"}),
            "score",
        ),
        (
            json!({"model_name": "x", "model_version": 1, "subject_type": "lead", "score": 1.0, "latency_ms": -3}),
            "latency_ms",
        ),
    ] {
        let said = error_text(&sales, "log_prediction", arguments).await;
        assert!(said.contains(says), "{said}");
    }
    assert_eq!(record_counts(&sales).await, counts);
    let unknown = error_text(
        &sales,
        "check_model_health",
        json!({"model_name": "nobody"}),
    )
    .await;
    assert!(unknown.contains("lead_scorer"), "{unknown}");

    // Each server describes its models as resources: the customer-success server its two.
    let cs = session_as(db, "revops-cs", "viewer").await;
    let churn = client::read_json(&cs, "models://churn_risk/metadata")
        .await
        .unwrap();
    assert_eq!(churn["kind"], "churn");
    assert_eq!(churn["active_version"], 1);
    assert_eq!(churn["active_is_learnt"], false);
    let health = client::read_json(&cs, "models://account_health/metadata")
        .await
        .unwrap();
    assert_eq!(health["versions"][0]["status"], "active");
    assert!(
        client::read_json(&cs, "models://lead_scorer/metadata")
            .await
            .is_err(),
        "the sales model is not the cs server's"
    );
}
