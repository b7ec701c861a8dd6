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

/// Logs one prediction of `partner_fit` at `minute` (minutes into October 2026).
async fn log_timed(
    session: &revops::client::Session,
    version: i64,
    minute: u32,
    latency_ms: Option<f64>,
) {
    let mut arguments = json!({
        "model_name": "partner_fit", "model_version": version, "subject_type": "lead",
        "score": 0.5, "inputs": {"employees": 100},
        "predicted_at": format!("2026-10-{:02}T{:02}:{:02}:00Z", 1 + minute / 1440, (minute / 60) % 24, minute % 60),
    });
    if let Some(ms) = latency_ms {
        arguments["latency_ms"] = json!(ms);
    }
    client::call_ok(session, "log_prediction", arguments)
        .await
        .unwrap();
}

on_both_backends!(health_gives_each_versions_latency_percentiles_over_its_latest_predictions_only);
async fn health_gives_each_versions_latency_percentiles_over_its_latest_predictions_only(
    db: &SeededDatabase,
) {
    let marketing = session_as(db, "revops-marketing", "rep").await;
    // Version 1: 20 old predictions that each took a whole second, then 100 recent ones: 90
    // that took 1 to 90 µs (in shuffled order) and 10 without a latency (5 not given, 5 given
    // as 0 ms). A window of 100 sees only the recent ones.
    for i in 0..20 {
        log_timed(&marketing, 1, i, Some(1000.0)).await;
    }
    for i in 0..100u32 {
        let latency = if i < 90 {
            Some(f64::from((i * 37) % 90 + 1) / 1000.0)
        } else if i < 95 {
            None
        } else {
            Some(0.0)
        };
        log_timed(&marketing, 1, 100 + i, latency).await;
    }
    // Version 2: 20 predictions of 1 to 20 ms.
    for i in 0..20u32 {
        log_timed(&marketing, 2, 300 + i, Some(f64::from(20 - i))).await;
    }
    let report = client::call_ok(
        &marketing,
        "check_model_health",
        json!({"model_name": "partner_fit", "window": 100}),
    )
    .await
    .unwrap();
    let latency = report["models"][0]["latency"].as_array().unwrap();
    assert_eq!(latency.len(), 2, "{report}");
    // Nearest rank over 20: p50 is the 10th smallest, p95 the 19th, p99 the 20th.
    assert_eq!(
        latency[0],
        json!({"version": 2, "predictions": 20, "with_latency": 20, "p50_micros": 10_000,
            "p95_micros": 19_000, "p99_micros": 20_000, "max_micros": 20_000}),
        "{report}"
    );
    // Over 90: the 45th, 86th and 90th smallest; the old one-second predictions are outside
    // the window.
    assert_eq!(
        latency[1],
        json!({"version": 1, "predictions": 100, "with_latency": 90, "p50_micros": 45,
            "p95_micros": 86, "p99_micros": 90, "max_micros": 90}),
        "{report}"
    );

    // A wider window takes the old ones in: they are now the slowest.
    let wide = client::call_ok(
        &marketing,
        "check_model_health",
        json!({"model_name": "partner_fit", "window": 1000}),
    )
    .await
    .unwrap();
    let v1 = &wide["models"][0]["latency"][1];
    assert_eq!(v1["predictions"], 120, "{wide}");
    assert_eq!(v1["with_latency"], 110);
    assert_eq!(v1["p50_micros"], 55, "the 55th smallest of 110");
    assert_eq!(v1["p95_micros"], 1_000_000);
    assert_eq!(v1["max_micros"], 1_000_000);

    // A registered model with no predictions yet lists its version with nothing measured.
    let fresh = client::call_ok(&marketing, "check_model_health", json!({}))
        .await
        .unwrap();
    assert_eq!(
        fresh["models"][0]["latency"],
        json!([{"version": 1, "predictions": 0, "with_latency": 0, "p50_micros": null,
            "p95_micros": null, "p99_micros": null, "max_micros": null}]),
        "{fresh}"
    );
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
    // The servers' own scores carry the time they took.
    let v1 = &model["latency"][0];
    assert_eq!(v1["version"], 1, "{after}");
    assert_eq!(v1["with_latency"], v1["predictions"], "{after}");
    assert!(v1["p50_micros"].as_i64().unwrap() >= 1, "{after}");
    assert!(v1["max_micros"].as_i64().unwrap() >= v1["p99_micros"].as_i64().unwrap());

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
