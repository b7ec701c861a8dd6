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

/// Every lead `rank_leads` gives for `filter`, page after page, checking that the ranks run
/// on without a gap and that every page says the same about its ranking.
struct Ranking {
    items: Vec<Value>,
    matched: u64,
    ranked_by: String,
    note: String,
    first_cursor: Option<String>,
}

async fn rank_every_lead(session: &client::Session, filter: Value) -> Ranking {
    let mut items: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut said: Option<(String, String)> = None;
    let mut first_cursor = None;
    loop {
        let mut args = filter.clone();
        args["limit"] = json!(200);
        if let Some(cursor) = &cursor {
            args["cursor"] = json!(cursor);
        }
        let page = client::call_ok(session, "rank_leads", args).await.unwrap();
        let this = (
            page["ranked_by"].as_str().unwrap().to_string(),
            page["ranking_note"].as_str().unwrap().to_string(),
        );
        assert_eq!(*said.get_or_insert_with(|| this.clone()), this);
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["rank"], items.len() + 1, "{item}");
            items.push(item.clone());
        }
        match page["next_cursor"].as_str() {
            Some(next) => {
                first_cursor.get_or_insert_with(|| next.to_string());
                cursor = Some(next.to_string());
            }
            None => {
                let (ranked_by, note) = said.unwrap();
                return Ranking {
                    items,
                    matched: page["matched"].as_u64().unwrap(),
                    ranked_by,
                    note,
                    first_cursor,
                };
            }
        }
    }
}

fn lead_ids(ranking: &Ranking) -> Vec<&str> {
    ranking
        .items
        .iter()
        .map(|item| item["lead_id"].as_str().unwrap())
        .collect()
}

/// Each lead once, every matching lead there, best first by `value`, ties by id.
fn assert_ranked_by(ranking: &Ranking, value: impl Fn(&Value) -> f64) {
    let ids = lead_ids(ranking);
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no lead twice");
    assert_eq!(ids.len() as u64, ranking.matched, "no lead left out");
    for pair in ranking.items.windows(2) {
        let (a, b) = (value(&pair[0]), value(&pair[1]));
        assert!(
            a > b || (a == b && pair[0]["lead_id"].as_str() < pair[1]["lead_id"].as_str()),
            "{} before {}",
            pair[0],
            pair[1]
        );
    }
}

on_both_backends!(rank_leads_ranks_by_the_learnt_probability_while_a_learnt_lead_model_is_active);
async fn rank_leads_ranks_by_the_learnt_probability_while_a_learnt_lead_model_is_active(
    db: &SeededDatabase,
) {
    train(db, &["--kind", "lead", "--cv", "3"]);
    let admin = session_as(db, "revops-sales", "admin").await;

    // v1 active: the score ranks, as it always did, and the page says so.
    let by_rules = rank_every_lead(&admin, json!({})).await;
    assert_eq!(by_rules.ranked_by, "rule-based v1");
    assert!(by_rules.note.contains("rule-based v1"), "{}", by_rules.note);
    assert!(
        by_rules
            .items
            .iter()
            .all(|item| item.get("learnt_probability").is_none())
    );
    assert_ranked_by(&by_rules, |item| item["score"].as_f64().unwrap());
    let working_by_rules = rank_every_lead(&admin, json!({"status": "working"})).await;

    client::call_ok(
        &admin,
        "activate_model",
        json!({"model_name": "lead_scorer", "version": 2}),
    )
    .await
    .unwrap();

    // v2 active: the learnt probability ranks, the cursor pages through every lead once,
    // and each lead keeps its rule-based score and tier.
    let learnt = rank_every_lead(&admin, json!({})).await;
    assert_eq!(learnt.ranked_by, "learnt v2");
    assert!(learnt.note.contains("lead_scorer v2"), "{}", learnt.note);
    let probability = |item: &Value| item["learnt_probability"].as_f64().unwrap();
    assert_ranked_by(&learnt, probability);
    assert!(learnt.items.iter().all(|item| {
        let p = probability(item);
        p > 0.0 && p < 1.0 && item["score"].is_u64() && item["tier"].is_string()
    }));
    assert_ne!(lead_ids(&learnt), lead_ids(&by_rules));
    let best = &learnt.items[0];
    let scored = client::call_ok(&admin, "score_lead", json!({"lead_id": best["lead_id"]}))
        .await
        .unwrap();
    let single = scored["learnt"]["prediction"]["probability"]
        .as_f64()
        .unwrap();
    assert!(
        (single - probability(best)).abs() < 1e-9,
        "score_lead says {single}, rank_leads {best}"
    );

    // Filters still choose the leads; the learnt probability orders them.
    let working = rank_every_lead(&admin, json!({"status": "working"})).await;
    assert_eq!(working.matched, working_by_rules.matched);
    assert!(working.matched > 0);
    assert!(working.items.iter().all(|item| item["status"] == "working"));
    assert_ranked_by(&working, probability);

    // A cursor from the other ranking cannot resume this one.
    let stale = error_text(
        &admin,
        "rank_leads",
        json!({"cursor": by_rules.first_cursor.clone().unwrap()}),
    )
    .await;
    assert!(stale.contains("start again without a cursor"), "{stale}");

    // Back to v1: v1's ranking again, exactly.
    client::call_ok(
        &admin,
        "activate_model",
        json!({"model_name": "lead_scorer", "version": 1}),
    )
    .await
    .unwrap();
    let back = rank_every_lead(&admin, json!({})).await;
    assert_eq!(back.ranked_by, "rule-based v1");
    assert_eq!(lead_ids(&back), lead_ids(&by_rules));
    admin.cancel().await.unwrap();
}

/// Per model the servers logged for the test's actor: (model, predictions, timed ones, the
/// fastest time in microseconds).
async fn logged_latency(db: &SeededDatabase) -> Vec<(String, i64, i64, Option<i64>)> {
    let store = store::Store::connect(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap();
    let rows = sqlx::query_as::<_, (String, i64, i64, Option<i64>)>(
        "SELECT model_name, COUNT(*), COUNT(latency_micros), MIN(latency_micros) FROM predictions \
         WHERE actor = 'test-user' GROUP BY model_name ORDER BY model_name",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    store.close().await;
    rows
}

on_both_backends!(every_prediction_the_servers_log_holds_the_time_it_took);
async fn every_prediction_the_servers_log_holds_the_time_it_took(db: &SeededDatabase) {
    train(db, &["--kind", "lead", "--cv", "3"]);
    let sales = session_as(db, "revops-sales", "admin").await;
    client::call_ok(
        &sales,
        "activate_model",
        json!({"model_name": "lead_scorer", "version": 2}),
    )
    .await
    .unwrap();
    for (tool, arguments) in [
        ("score_lead", json!({"lead_id": "lead_000001"})),
        (
            "score_lead",
            json!({"company_name": "Acme", "industry": "saas", "employee_count": 120}),
        ),
        ("explain_lead_score", json!({"lead_id": "lead_000002"})),
        ("qualify_lead", json!({"lead_id": "lead_000003"})),
        ("rank_leads", json!({"limit": 5})),
        ("win_probability", json!({"opportunity_id": "opp_000002"})),
    ] {
        client::call_ok(&sales, tool, arguments).await.unwrap();
    }
    sales.cancel().await.unwrap();

    let cs = session_as(db, "revops-cs", "admin").await;
    let customer = client::call_ok(
        &cs,
        "list_at_risk_accounts",
        json!({"limit": 3, "min_risk": 0}),
    )
    .await
    .unwrap()["items"][0]["account_id"]
        .clone();
    for (tool, arguments) in [
        ("account_health", json!({"account_id": customer})),
        ("detect_churn_risk", json!({"account_id": customer})),
        ("predict_churn", json!({"account_id": customer})),
        ("predict_churn", json!({"segment": "smb"})),
    ] {
        client::call_ok(&cs, tool, arguments).await.unwrap();
    }
    cs.cancel().await.unwrap();

    let marketing = session_as(db, "revops-marketing", "admin").await;
    let store = store::Store::connect(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap();
    let trial: String = sqlx::query_scalar(
        "SELECT a.id FROM accounts a WHERE a.lifecycle_stage = 'trial' AND a.trial_started_at IS NOT NULL \
         AND EXISTS (SELECT 1 FROM usage_snapshots u WHERE u.account_id = a.id) ORDER BY a.id LIMIT 1",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    store.close().await;
    client::call_ok(
        &marketing,
        "get_conversion_insights",
        json!({"account_id": trial}),
    )
    .await
    .unwrap();
    let audience = client::call_ok(
        &marketing,
        "build_audience",
        json!({"name": "Latency check", "leads": {"statuses": ["mql"]}, "request_id": "latency-1"}),
    )
    .await
    .unwrap()["audience_id"]
        .clone();
    client::call_ok(
        &marketing,
        "score_audience",
        json!({"audience_id": audience, "limit": 5}),
    )
    .await
    .unwrap();
    marketing.cancel().await.unwrap();

    // The log is written in the background; a server drains it as it stops.
    let expected = [
        "account_health",
        "churn_risk",
        "lead_scorer",
        "trial_conversion",
        "win_probability",
    ];
    let mut logged = Vec::new();
    for _ in 0..100 {
        logged = logged_latency(db).await;
        if logged.len() == expected.len() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let models: Vec<&str> = logged.iter().map(|(model, ..)| model.as_str()).collect();
    assert_eq!(models, expected, "{logged:?}");
    for (model, predictions, timed, fastest) in &logged {
        assert!(*predictions > 0);
        assert_eq!(timed, predictions, "{model}: every prediction timed");
        assert!(fastest.unwrap() >= 1, "{model}: {fastest:?}");
    }

    // The learnt version's predictions keep their time in the column, not in the payload.
    let store = store::Store::connect(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap();
    let learnt: (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(latency_micros) FROM predictions \
         WHERE model_name = 'lead_scorer' AND model_version = 2 AND payload_json NOT LIKE '%latency%'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    store.close().await;
    // score_lead and explain_lead_score, and the five leads of the ranked page.
    assert_eq!(learnt, (7, 7));
}
