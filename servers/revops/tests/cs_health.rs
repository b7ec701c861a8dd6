//! The customer-success server's health, churn, expansion, NPS, adoption and onboarding tools
//! (issue 7) through a real MCP client against the built binary, on SQLite and (when
//! `REVOPS_TEST_POSTGRES_URL` is set) Postgres: every tool on the demo company, the AUC of
//! detect_churn_risk against the fixture outcomes, no-usage accounts, bad input changing
//! nothing, prompts and resources.
#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::print_stdout,
    reason = "the AUC test reports the figure it measured"
)]

#[macro_use]
mod util;

use std::collections::HashSet;

use revops::client::{self, Session};
use serde_json::{Value, json};
use util::*;

async fn cs_as(db: &SeededDatabase, role: &str) -> Session {
    session_as(db, "revops-cs", role).await
}

/// Every account of the demo company.
async fn all_accounts(cs: &Session) -> Vec<Value> {
    let mut accounts = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut args = json!({"limit": 200});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = client::call_ok(cs, "list_accounts", args).await.unwrap();
        accounts.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return accounts,
        }
    }
}

fn auc(positives: &[f64], negatives: &[f64]) -> f64 {
    let mut wins = 0.0;
    for p in positives {
        for n in negatives {
            if p > n {
                wins += 1.0;
            } else if p == n {
                wins += 0.5;
            }
        }
    }
    wins / (positives.len() * negatives.len()) as f64
}

async fn store_of(db: &SeededDatabase) -> store::Store {
    store::Store::connect(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap()
}

on_both_backends!(churned_accounts_score_as_riskier_than_those_that_renewed);
async fn churned_accounts_score_as_riskier_than_those_that_renewed(db: &SeededDatabase) {
    let cs = cs_as(db, "manager").await;
    let accounts = all_accounts(&cs).await;
    let (mut churned, mut stayed) = (Vec::new(), Vec::new());
    let mut by_stage: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    let mut sample_critical = None;
    for account in &accounts {
        let stage = account["lifecycle_stage"].as_str().unwrap();
        if stage == "trial" {
            continue;
        }
        let id = account["id"].as_str().unwrap();
        let risk = client::call_ok(&cs, "detect_churn_risk", json!({"account_id": id}))
            .await
            .unwrap();
        assert_eq!(risk["model"]["name"], "churn_risk");
        assert_eq!(risk["model"]["version"], 1);
        let Some(score) = risk["risk"].as_u64() else {
            assert_eq!(risk["status"], "insufficient_data", "{risk}");
            continue;
        };
        // The signals' points add up to the risk, and the tier follows the boundaries.
        let points: u64 = risk["signals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["points"].as_u64().unwrap())
            .sum();
        assert_eq!(points, score, "{risk}");
        let tier = match score {
            70.. => "critical",
            50..=69 => "high",
            30..=49 => "medium",
            _ => "low",
        };
        assert_eq!(risk["tier"], tier);
        let effects: Vec<u64> = risk["interventions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["expected_effect"].as_u64().unwrap())
            .collect();
        assert!(effects.windows(2).all(|w| w[0] >= w[1]), "{risk}");
        if tier == "critical" && sample_critical.is_none() {
            sample_critical = Some(risk.clone());
        }
        by_stage.entry(stage.to_owned()).or_default().push(score);
        if stage == "churned" {
            churned.push(score as f64);
        } else {
            stayed.push(score as f64);
        }
    }
    assert!(churned.len() >= 10 && stayed.len() >= 50, "{by_stage:?}");
    let auc = auc(&churned, &stayed);
    for (stage, scores) in &by_stage {
        let mean = scores.iter().sum::<u64>() as f64 / scores.len() as f64;
        println!("{stage}: {} accounts, mean risk {mean:.1}", scores.len());
    }
    println!(
        "AUC of detect_churn_risk, churned ({}) vs active/at_risk ({}): {auc:.3}",
        churned.len(),
        stayed.len()
    );
    assert!(auc >= 0.75, "AUC {auc}");

    // A critical account shows its falling usage with its size, and a ranked playbook.
    let critical = sample_critical.unwrap();
    let top = &critical["signals"][0];
    assert!(top["detail"].as_str().unwrap().contains('%'), "{critical}");
    let playbooks = [
        "usage_recovery",
        "executive_outreach",
        "support_escalation",
        "onboarding_restart",
        "renewal_save",
        "adoption_training",
    ];
    assert!(
        playbooks.contains(&critical["interventions"][0]["playbook"].as_str().unwrap()),
        "{critical}"
    );

    // Predictions are logged with the model name and version.
    let store = store_of(db).await;
    let id = critical["account_id"].as_str().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logged = store::predictions::count_for(&store, "account", id)
        .await
        .unwrap();
    assert!(logged >= 1, "the churn prediction for {id} is logged");
    let (name, version): (String, i64) = sqlx::query_as(
        "SELECT model_name, model_version FROM predictions WHERE subject_id = $1 AND kind = 'churn' LIMIT 1",
    )
    .bind(id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((name.as_str(), version), ("churn_risk", 1));
    store.close().await;
    cs.cancel().await.unwrap();
}

on_both_backends!(health_factors_add_up_and_weights_are_checked);
async fn health_factors_add_up_and_weights_are_checked(db: &SeededDatabase) {
    let cs = cs_as(db, "rep").await;
    let health = client::call_ok(&cs, "account_health", json!({"account_id": "acc_000001"}))
        .await
        .unwrap();
    assert_eq!(health["status"], "scored", "{health}");
    let score = health["score"].as_u64().unwrap();
    let factors = health["factors"].as_array().unwrap();
    let names: Vec<&str> = factors
        .iter()
        .map(|f| f["factor"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["usage", "engagement", "support", "billing"]);
    let weights: Vec<u64> = factors
        .iter()
        .map(|f| f["weight"].as_u64().unwrap())
        .collect();
    assert_eq!(weights, [40, 25, 20, 15]);
    let sum: u64 = factors
        .iter()
        .map(|f| f["contribution"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, score);
    for f in factors {
        assert!(f["score"].as_u64().unwrap() <= 100);
        assert!(f["contribution"].as_u64().unwrap() <= f["weight"].as_u64().unwrap());
    }
    assert!(
        ["improving", "stable", "declining"]
            .contains(&health["trend"]["direction"].as_str().unwrap()),
        "{health}"
    );
    assert_eq!(health["weeks_of_history"], 52);
    let level = match score {
        70.. => "low",
        50..=69 => "medium",
        30..=49 => "high",
        _ => "critical",
    };
    assert_eq!(health["risk_level"], level);

    // Other weights change the contributions, which still add up.
    let weighted = client::call_ok(
        &cs,
        "account_health",
        json!({"account_id": "acc_000001", "weights": {"usage": 10, "engagement": 10, "support": 70, "billing": 10}}),
    )
    .await
    .unwrap();
    let w = weighted["factors"].as_array().unwrap();
    assert_eq!(w[2]["weight"], 70);
    assert_eq!(
        w.iter()
            .map(|f| f["contribution"].as_u64().unwrap())
            .sum::<u64>(),
        weighted["score"].as_u64().unwrap()
    );
    // Factor scores do not depend on the weights.
    for (a, b) in factors.iter().zip(w) {
        assert_eq!(a["score"], b["score"]);
    }

    // Weights that do not add up to 100, or are not whole numbers, are refused; nothing changes.
    let before = record_counts(&cs).await;
    let err = error_text(
        &cs,
        "account_health",
        json!({"account_id": "acc_000001", "weights": {"usage": 50, "engagement": 25, "support": 20, "billing": 15}}),
    )
    .await;
    assert!(
        err.contains("weights") && err.contains("110") && err.contains("100"),
        "{err}"
    );
    let err = error_text(
        &cs,
        "account_health",
        json!({"account_id": "acc_000001", "weights": {"usage": 40.5, "engagement": 25, "support": 20, "billing": 14.5}}),
    )
    .await;
    assert!(err.contains("usage") || err.contains("weights"), "{err}");
    let err = error_text(
        &cs,
        "account_health",
        json!({"account_id": "acc_000001", "weights": {"usage": 100}}),
    )
    .await;
    assert!(
        err.contains("engagement") || err.contains("weights"),
        "{err}"
    );
    let err = error_text(
        &cs,
        "account_health",
        json!({"account_id": "acc_000001", "weights": {"usage": -10, "engagement": 60, "support": 30, "billing": 20}}),
    )
    .await;
    assert!(err.contains("weights.usage"), "{err}");
    let err = error_text(&cs, "account_health", json!({"account_id": "acc_999999"})).await;
    assert!(err.contains("acc_999999"), "{err}");
    let err = error_text(
        &cs,
        "account_health",
        json!({"account_id": "acc_1'; DROP TABLE accounts;--"}),
    )
    .await;
    assert!(err.contains("account_id"), "{err}");
    let err = error_text(&cs, "account_health", json!({})).await;
    assert!(err.contains("account_id"), "{err}");
    assert_eq!(record_counts(&cs).await, before);
    cs.cancel().await.unwrap();
}

on_both_backends!(an_account_without_usage_gets_no_made_up_score);
async fn an_account_without_usage_gets_no_made_up_score(db: &SeededDatabase) {
    // A new account, created through the store: no usage yet.
    let store = store_of(db).await;
    let mut tx = store.begin_write().await.unwrap();
    let account = store::accounts::create(
        &mut tx,
        &store::accounts::NewAccount {
            name: "Brand New Ltd".into(),
            domain: Some("brand-new-health.example".into()),
            industry: "saas".into(),
            employee_count: 40,
            country: "GB".into(),
            owner: None,
            lifecycle_stage: "active".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    let id = account.id;

    let cs = cs_as(db, "rep").await;
    let health = client::call_ok(&cs, "account_health", json!({"account_id": id}))
        .await
        .unwrap();
    assert_eq!(health["status"], "insufficient_data", "{health}");
    assert!(health["score"].is_null());
    assert!(health["factors"].as_array().unwrap().is_empty());
    assert!(
        health["message"]
            .as_str()
            .unwrap()
            .contains("No usage history")
    );
    let risk = client::call_ok(&cs, "detect_churn_risk", json!({"account_id": id}))
        .await
        .unwrap();
    assert_eq!(risk["status"], "insufficient_data", "{risk}");
    assert!(risk["risk"].is_null() && risk["tier"].is_null());
    assert!(risk["note"].as_str().unwrap().contains("No usage history"));
    let p = client::call_ok(&cs, "predict_churn", json!({"account_id": id}))
        .await
        .unwrap();
    assert_eq!(p["status"], "insufficient_data");
    assert!(p["probability"].is_null());
    let adoption = client::call_ok(&cs, "feature_adoption", json!({"account_id": id}))
        .await
        .unwrap();
    assert_eq!(adoption["status"], "insufficient_data");
    let onboarding = client::call_ok(&cs, "onboarding_progress", json!({"account_id": id}))
        .await
        .unwrap();
    assert_eq!(onboarding["status"], "insufficient_data");
    // It is counted, not scored, in the listing.
    let page = client::call_ok(
        &cs,
        "list_at_risk_accounts",
        json!({"min_risk": 0, "limit": 1}),
    )
    .await
    .unwrap();
    assert!(page["without_usage"].as_u64().unwrap() >= 1, "{page}");
    cs.cancel().await.unwrap();
}

on_both_backends!(at_risk_accounts_are_sorted_by_mrr_and_paged_without_duplicates);
async fn at_risk_accounts_are_sorted_by_mrr_and_paged_without_duplicates(db: &SeededDatabase) {
    let cs = cs_as(db, "rep").await;
    let mut seen = HashSet::new();
    let mut items: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut matched;
    loop {
        let mut args = json!({"min_risk": 30, "limit": 7});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = client::call_ok(&cs, "list_at_risk_accounts", args)
            .await
            .unwrap();
        matched = page["matched"].as_u64().unwrap();
        assert!(page["items"].as_array().unwrap().len() <= 7);
        for item in page["items"].as_array().unwrap() {
            assert!(
                seen.insert(item["account_id"].as_str().unwrap().to_owned()),
                "duplicate {item}"
            );
            assert!(item["risk"].as_u64().unwrap() >= 30);
            assert!(["active", "at_risk"].contains(&item["lifecycle_stage"].as_str().unwrap()));
            items.push(item.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert!(matched >= 10, "{matched}");
    assert_eq!(items.len() as u64, matched);
    let mrr: Vec<i64> = items
        .iter()
        .map(|i| i["mrr_at_risk_minor"].as_i64().unwrap())
        .collect();
    assert!(mrr.windows(2).all(|w| w[0] >= w[1]), "{mrr:?}");
    // The listing agrees with detect_churn_risk, account by account.
    for item in items.iter().take(5) {
        let risk = client::call_ok(
            &cs,
            "detect_churn_risk",
            json!({"account_id": item["account_id"]}),
        )
        .await
        .unwrap();
        assert_eq!(risk["risk"], item["risk"], "{item}");
        assert_eq!(risk["tier"], item["tier"]);
    }
    // The default threshold is 50; filters narrow; most accounts at risk are in the at_risk stage.
    let high = client::call_ok(&cs, "list_at_risk_accounts", json!({"limit": 200}))
        .await
        .unwrap();
    assert_eq!(high["min_risk"], 50);
    assert!(high["matched"].as_u64().unwrap() <= matched);
    let enterprise = client::call_ok(
        &cs,
        "list_at_risk_accounts",
        json!({"min_risk": 0, "segment": "enterprise", "limit": 200}),
    )
    .await
    .unwrap();
    assert!(
        enterprise["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["segment"] == "enterprise")
    );
    // Including churned accounts adds them (MRR 0, so last).
    let with_churned = client::call_ok(
        &cs,
        "list_at_risk_accounts",
        json!({"min_risk": 50, "include_churned": true, "limit": 200}),
    )
    .await
    .unwrap();
    assert!(with_churned["matched"].as_u64().unwrap() > high["matched"].as_u64().unwrap());

    // Bad input changes nothing.
    let before = record_counts(&cs).await;
    for (args, field) in [
        (json!({"min_risk": 101}), "min_risk"),
        (json!({"min_risk": "high"}), "min_risk"),
        (json!({"segment": "galactic"}), "segment"),
        (json!({"cursor": "garbage"}), "cursor"),
        (
            json!({"cursor": "1:2:acc_x'; DELETE FROM accounts;--"}),
            "cursor",
        ),
        (json!({"limit": 0}), "limit"),
        (json!({"csm_owner": "\u{0000}\u{001b}[31m"}), "csm_owner"),
    ] {
        let err = error_text(&cs, "list_at_risk_accounts", args.clone()).await;
        assert!(err.contains(field), "{args}: {err}");
    }
    assert_eq!(record_counts(&cs).await, before);
    cs.cancel().await.unwrap();
}

on_both_backends!(churn_is_predicted_for_an_account_and_a_segment);
async fn churn_is_predicted_for_an_account_and_a_segment(db: &SeededDatabase) {
    let cs = cs_as(db, "rep").await;
    let page = client::call_ok(
        &cs,
        "list_at_risk_accounts",
        json!({"min_risk": 50, "limit": 1}),
    )
    .await
    .unwrap();
    let id = page["items"][0]["account_id"].as_str().unwrap().to_owned();
    let p90 = client::call_ok(&cs, "predict_churn", json!({"account_id": id}))
        .await
        .unwrap();
    assert_eq!(p90["horizon_days"], 90);
    let p = p90["probability"].as_f64().unwrap();
    let risk = p90["risk"].as_f64().unwrap();
    let expected = 1.0 / (1.0 + (-(risk - 55.0) / 9.0).exp());
    assert!((p - expected).abs() < 1e-3, "{p} vs {expected}");
    assert!(!p90["contributing_factors"].as_array().unwrap().is_empty());
    let p180 = client::call_ok(
        &cs,
        "predict_churn",
        json!({"account_id": id, "horizon_days": 180}),
    )
    .await
    .unwrap();
    let q = p180["probability"].as_f64().unwrap();
    assert!((q - (1.0 - (1.0 - expected).powi(2))).abs() < 1e-3, "{q}");

    let segment = client::call_ok(&cs, "predict_churn", json!({"segment": "smb"}))
        .await
        .unwrap();
    assert_eq!(segment["scope"], "segment");
    assert_eq!(segment["subject"], "segment=smb");
    let n = segment["accounts"].as_u64().unwrap();
    assert!(n > 10, "{segment}");
    let mean = segment["probability"].as_f64().unwrap();
    let expected_accounts = segment["expected_churned_accounts"].as_f64().unwrap();
    assert!(
        (mean * n as f64 - expected_accounts).abs() < 0.1,
        "{segment}"
    );
    let top = segment["top_accounts"].as_array().unwrap();
    assert!(top.len() <= 10 && !top.is_empty());
    assert!(
        top.windows(2)
            .all(|w| w[0]["probability"].as_f64() >= w[1]["probability"].as_f64())
    );
    let shares: f64 = segment["contributing_factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["share_percent"].as_f64().unwrap())
        .sum();
    assert!((shares - 100.0).abs() < 1.0, "{shares}");

    let before = record_counts(&cs).await;
    let err = error_text(
        &cs,
        "predict_churn",
        json!({"account_id": id, "horizon_days": 0}),
    )
    .await;
    assert!(
        err.contains("horizon_days") && err.contains("at least 1"),
        "{err}"
    );
    let err = error_text(
        &cs,
        "predict_churn",
        json!({"segment": "smb", "horizon_days": 5000}),
    )
    .await;
    assert!(err.contains("horizon_days"), "{err}");
    let err = error_text(
        &cs,
        "predict_churn",
        json!({"account_id": id, "segment": "smb"}),
    )
    .await;
    assert!(err.contains("either"), "{err}");
    let err = error_text(&cs, "predict_churn", json!({"account_id": "acc_999999"})).await;
    assert!(err.contains("acc_999999"), "{err}");
    let err = error_text(&cs, "predict_churn", json!({"csm_owner": "Nobody At All"})).await;
    assert!(err.contains("Nobody At All"), "{err}");
    assert_eq!(record_counts(&cs).await, before);
    cs.cancel().await.unwrap();
}

on_both_backends!(expansion_nps_adoption_and_onboarding_read_the_fixtures);
async fn expansion_nps_adoption_and_onboarding_read_the_fixtures(db: &SeededDatabase) {
    let cs = cs_as(db, "rep").await;
    // Expansion: every listed account is healthy, has a reason, and a positive uplift.
    let expansion = client::call_ok(&cs, "expansion_opportunities", json!({"limit": 200}))
        .await
        .unwrap();
    let items = expansion["items"].as_array().unwrap();
    assert!(!items.is_empty(), "{expansion}");
    let uplifts: Vec<i64> = items
        .iter()
        .map(|i| i["expected_mrr_uplift_minor"].as_i64().unwrap())
        .collect();
    assert!(uplifts.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(
        expansion["total_uplift_minor"]["USD"].as_i64().unwrap(),
        uplifts.iter().sum::<i64>()
    );
    for item in items {
        assert!(item["ready"].as_bool().unwrap());
        assert!(item["health"].as_u64().unwrap() >= 60);
        assert!(
            item["expected_mrr_uplift_minor"].as_i64().unwrap() > 0,
            "{item}"
        );
        let seats = item["seats_purchased"].as_i64().unwrap();
        let mrr = item["mrr_minor"].as_i64().unwrap();
        match item["motion"].as_str().unwrap() {
            "seats" => {
                assert!(item["seat_usage_percent"].as_u64().unwrap() >= 90, "{item}");
                assert_eq!(item["suggested_tier"], item["plan_tier"]);
                let new_seats = item["suggested_seats"].as_i64().unwrap();
                let expected = (mrr * new_seats + seats / 2) / seats - mrr;
                assert_eq!(
                    item["expected_mrr_uplift_minor"].as_i64().unwrap(),
                    expected,
                    "{item}"
                );
            }
            "upgrade" | "seats_and_upgrade" => {
                assert_ne!(item["plan_tier"], "enterprise");
                assert_ne!(item["suggested_tier"], item["plan_tier"]);
            }
            other => panic!("motion {other}"),
        }
        // The seat pressure is real: the overview shows it.
        if item["motion"] == "seats" {
            let overview = client::call_ok(
                &cs,
                "get_account_overview",
                json!({"account_id": item["account_id"], "weeks": 4}),
            )
            .await
            .unwrap();
            let peak = overview["usage"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["seats_used"].as_i64().unwrap())
                .max()
                .unwrap();
            assert!(peak * 100 >= seats * 90, "{item}");
        }
    }
    let growth = client::call_ok(
        &cs,
        "expansion_opportunities",
        json!({"plan_tier": "growth", "include_not_ready": true, "limit": 200}),
    )
    .await
    .unwrap();
    assert!(
        growth["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["plan_tier"] == "growth")
    );

    // NPS: counts add up and NPS is % promoters - % detractors; themes come from comments.
    let nps = client::call_ok(
        &cs,
        "nps_summary",
        json!({"since": "2025-11-01", "until": "2026-12-01"}),
    )
    .await
    .unwrap();
    let (r, p, pa, d) = (
        nps["responses"].as_u64().unwrap(),
        nps["promoters"].as_u64().unwrap(),
        nps["passives"].as_u64().unwrap(),
        nps["detractors"].as_u64().unwrap(),
    );
    assert!(r > 50, "{nps}");
    assert_eq!(p + pa + d, r);
    let expected = ((p as f64 - d as f64) * 100.0 / r as f64).round() as i64;
    assert_eq!(nps["nps"].as_i64().unwrap(), expected);
    let quarters = nps["trend"].as_array().unwrap();
    assert!(quarters.len() >= 3, "{nps}");
    assert_eq!(
        quarters
            .iter()
            .map(|q| q["responses"].as_u64().unwrap())
            .sum::<u64>(),
        r
    );
    let themes = nps["themes"].as_array().unwrap();
    let names: Vec<&str> = themes
        .iter()
        .map(|t| t["theme"].as_str().unwrap())
        .collect();
    for theme in ["pricing", "support", "integrations"] {
        assert!(names.contains(&theme), "{names:?}");
    }
    let pricing = themes.iter().find(|t| t["theme"] == "pricing").unwrap();
    assert!(
        pricing["sample"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("pric")
    );
    let enterprise = client::call_ok(
        &cs,
        "nps_summary",
        json!({"segment": "enterprise", "since": "2025-11-01", "until": "2026-12-01"}),
    )
    .await
    .unwrap();
    assert!(enterprise["responses"].as_u64().unwrap() < r);
    assert_eq!(enterprise["subject"], "segment=enterprise");

    // Adoption on a paying account: breadth is active users / seats.
    let adoption = client::call_ok(
        &cs,
        "feature_adoption",
        json!({"account_id": "acc_000001", "weeks": 4}),
    )
    .await
    .unwrap();
    assert_eq!(adoption["status"], "scored");
    let metrics = adoption["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 5);
    let overview = client::call_ok(
        &cs,
        "get_account_overview",
        json!({"account_id": "acc_000001", "weeks": 4}),
    )
    .await
    .unwrap();
    let seats = overview["account"]["seats_purchased"].as_f64().unwrap();
    let active: f64 = overview["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["active_users"].as_f64().unwrap())
        .sum();
    let breadth = metrics.iter().find(|m| m["metric"] == "breadth").unwrap();
    assert!(
        (breadth["value"].as_f64().unwrap() - active / 4.0 / seats * 100.0).abs() < 0.01,
        "{breadth}"
    );
    assert!(metrics[0]["previous"].is_number());

    // Onboarding of a trial account whose usage starts at its trial.
    let trials = client::call_ok(
        &cs,
        "list_accounts",
        json!({"lifecycle_stage": "trial", "limit": 200}),
    )
    .await
    .unwrap();
    let mut checked = 0;
    for trial in trials["items"].as_array().unwrap() {
        let progress = client::call_ok(
            &cs,
            "onboarding_progress",
            json!({"account_id": trial["id"]}),
        )
        .await
        .unwrap();
        if progress["status"] != "scored" {
            continue;
        }
        assert_eq!(progress["start_basis"], "trial_started_at");
        let milestones = progress["milestones"].as_array().unwrap();
        assert_eq!(milestones.len(), 5);
        let first_login = &milestones[0];
        assert_eq!(first_login["milestone"], "first_login");
        if first_login["status"] == "reached" {
            assert!(
                first_login["day_reached"].as_i64().unwrap() <= 7,
                "{progress}"
            );
        }
        for m in milestones {
            if m["status"] == "stalled" {
                assert!(
                    progress["days_since_start"].as_i64().unwrap()
                        > m["expected_by_day"].as_i64().unwrap()
                );
                assert!(
                    progress["stalled"]
                        .as_array()
                        .unwrap()
                        .contains(&m["milestone"])
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 3, "{checked} trials with usage");
    // A long-standing customer's history starts after its onboarding.
    let old = client::call_ok(
        &cs,
        "onboarding_progress",
        json!({"account_id": "acc_000001"}),
    )
    .await
    .unwrap();
    assert_eq!(old["start_basis"], "customer_since");
    assert_eq!(
        old["milestones"][0]["status"], "reached_before_history",
        "{old}"
    );

    let before = record_counts(&cs).await;
    for (tool, args, field) in [
        (
            "feature_adoption",
            json!({"account_id": "acc_000001", "weeks": 1}),
            "weeks",
        ),
        (
            "feature_adoption",
            json!({"account_id": "acc_999999"}),
            "acc_999999",
        ),
        (
            "onboarding_progress",
            json!({"account_id": "lead_000001"}),
            "account_id",
        ),
        ("nps_summary", json!({"since": "2026-13-01"}), "since"),
        (
            "nps_summary",
            json!({"since": "2026-06-01", "until": "2026-01-01"}),
            "since",
        ),
        (
            "nps_summary",
            json!({"account_id": "acc_999999"}),
            "acc_999999",
        ),
        (
            "nps_summary",
            json!({"segment": "{\"$ne\": null}"}),
            "segment",
        ),
        ("expansion_opportunities", json!({"limit": 201}), "limit"),
        (
            "expansion_opportunities",
            json!({"plan_tier": "platinum"}),
            "plan_tier",
        ),
    ] {
        let err = error_text(&cs, tool, args.clone()).await;
        assert!(err.contains(field), "{tool} {args}: {err}");
    }
    assert_eq!(record_counts(&cs).await, before);
    cs.cancel().await.unwrap();
}

on_both_backends!(prompts_and_resources_cover_health_and_risk);
async fn prompts_and_resources_cover_health_and_risk(db: &SeededDatabase) {
    let cs = cs_as(db, "rep").await;
    let prompts = cs.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["analyze-account-expansion", "qbr-prep", "churn-save-plan"]
    );
    for (name, tool) in [
        ("analyze-account-expansion", "expansion_opportunities"),
        ("qbr-prep", "account_health"),
        ("churn-save-plan", "detect_churn_risk"),
    ] {
        let prompt = cs
            .get_prompt(
                rmcp::model::GetPromptRequestParams::new(name).with_arguments(
                    json!({"account_id": "acc_000001"})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
            )
            .await
            .unwrap();
        let text = format!("{:?}", prompt.messages[0].content);
        assert!(
            text.contains(tool) && text.contains("acc_000001"),
            "{name}: {text}"
        );
    }
    let unknown = cs
        .get_prompt(
            rmcp::model::GetPromptRequestParams::new("qbr-prep").with_arguments(
                json!({"account_id": "acc_999999"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await;
    assert!(unknown.unwrap_err().to_string().contains("acc_999999"));
    let missing = cs
        .get_prompt(rmcp::model::GetPromptRequestParams::new("churn-save-plan"))
        .await;
    assert!(missing.unwrap_err().to_string().contains("account_id"));

    let health = client::read_json(&cs, "cs://accounts/acc_000001/health")
        .await
        .unwrap();
    let direct = client::call_ok(&cs, "account_health", json!({"account_id": "acc_000001"}))
        .await
        .unwrap();
    assert_eq!(health["health"]["score"], direct["score"]);
    assert!(health["churn_risk"]["risk"].is_number());
    let overview = client::read_json(&cs, "cs://accounts/acc_000001")
        .await
        .unwrap();
    assert_eq!(overview["account"]["id"], "acc_000001");
    let at_risk = client::read_json(&cs, "cs://at-risk").await.unwrap();
    let listed = client::call_ok(&cs, "list_at_risk_accounts", json!({"limit": 50}))
        .await
        .unwrap();
    assert_eq!(at_risk["matched"], listed["matched"]);
    assert_eq!(
        at_risk["items"][0]["account_id"],
        listed["items"][0]["account_id"]
    );
    let templates = cs.list_all_resource_templates().await.unwrap();
    assert!(
        templates
            .iter()
            .any(|t| t.uri_template == "cs://accounts/{account_id}/health")
    );
    let resources = cs.list_all_resources().await.unwrap();
    assert!(resources.iter().any(|r| r.uri == "cs://at-risk"));
    assert!(
        client::read_json(&cs, "cs://accounts/acc_999999/health")
            .await
            .is_err()
    );
    cs.cancel().await.unwrap();
}
