//! The sales server through a real MCP client against the built binary, on SQLite and (when
//! `REVOPS_TEST_POSTGRES_URL` is set) Postgres: every tool on the demo company, the
//! behaviour issue 5 asks for, idempotency under retries, the delete_leads confirmation.
#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod util;

use revops::client::{self, Handshake, Session};
use serde_json::{Value, json};
use util::*;

async fn sales_as(db: &SeededDatabase, role: &str) -> Session {
    session_as(db, "revops-sales", role).await
}

fn attribution_sum(score: &Value) -> u64 {
    score["attributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["points"].as_u64().unwrap())
        .sum()
}

async fn predictions_logged(db: &SeededDatabase) -> i64 {
    let store = store::Store::connect(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap();
    let count = store::predictions::count_for(&store, "lead", "lead_000007")
        .await
        .unwrap();
    store.close().await;
    count
}

on_both_backends!(scores_are_explained_add_up_and_are_logged);
async fn scores_are_explained_add_up_and_are_logged(db: &SeededDatabase) {
    let sales = sales_as(db, "rep").await;
    let hot = client::call_ok(
        &sales,
        "score_lead",
        json!({"company_name": "Acme", "industry": "technology", "employee_count": 500,
               "signals": {"website_visits_30d": 50, "demo_requested": true, "whitepaper_downloads": 3,
                           "email_engagement_score": 90, "linkedin_engagement": 5, "free_trial_started": true}}),
    )
    .await
    .unwrap();
    assert_eq!(hot["tier"], "hot", "{hot}");
    assert_eq!(attribution_sum(&hot), hot["score"].as_u64().unwrap());
    assert_eq!(hot["model"]["name"], "lead_scorer");
    assert!(hot["explanation"].as_str().unwrap().len() > 20);

    let cold = client::call_ok(
        &sales,
        "score_lead",
        json!({"company_name": "Corner Shop", "industry": "retail", "employee_count": 5,
               "signals": {"website_visits_30d": 2}}),
    )
    .await
    .unwrap();
    assert_eq!(cold["tier"], "cold", "{cold}");
    assert_eq!(attribution_sum(&cold), cold["score"].as_u64().unwrap());

    let stored = client::call_ok(&sales, "score_lead", json!({"lead_id": "lead_000007"}))
        .await
        .unwrap();
    assert_eq!(stored["lead_id"], "lead_000007");
    assert_eq!(attribution_sum(&stored), stored["score"].as_u64().unwrap());

    let explained = client::call_ok(
        &sales,
        "explain_lead_score",
        json!({"lead_id": "lead_000007"}),
    )
    .await
    .unwrap();
    assert_eq!(
        explained["score"], stored["score"],
        "the same lead scores the same"
    );
    let improvements = explained["improvements"].as_array().unwrap();
    assert!(improvements.len() <= 3);
    for better in improvements {
        assert!(better["gain"].as_u64().unwrap() > 0);
        assert!(better["score_after"].as_u64().unwrap() > stored["score"].as_u64().unwrap());
    }

    let qualified = client::call_ok(
        &sales,
        "qualify_lead",
        json!({"lead_id": "lead_000007", "budget_confirmed": true, "timeline_days": 30}),
    )
    .await
    .unwrap();
    let criteria: Vec<&str> = qualified["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["criterion"].as_str().unwrap())
        .collect();
    for needed in ["fit", "intent", "budget", "authority", "timing"] {
        assert!(criteria.contains(&needed), "{needed} in {criteria:?}");
    }
    assert!(qualified["suggested_action"].is_string());

    sales.cancel().await.unwrap();
    // Predictions are logged in the background and flushed when the server stops.
    let mut logged = 0;
    for _ in 0..50 {
        logged = predictions_logged(db).await;
        if logged >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        logged >= 3,
        "every score of lead_000007 is logged, found {logged}"
    );
}

on_both_backends!(ranking_pages_best_first_and_visits_every_lead_once);
async fn ranking_pages_best_first_and_visits_every_lead_once(db: &SeededDatabase) {
    let sales = sales_as(db, "viewer").await;
    let mut seen = std::collections::BTreeSet::new();
    let mut previous_score = u64::MAX;
    let mut cursor: Option<String> = None;
    let mut rank = 0;
    loop {
        let mut args = json!({"limit": 200});
        if let Some(cursor) = &cursor {
            args["cursor"] = json!(cursor);
        }
        let page = client::call_ok(&sales, "rank_leads", args).await.unwrap();
        assert_eq!(page["matched"], 500);
        let tiers = &page["tiers"];
        assert_eq!(
            tiers["hot"].as_u64().unwrap()
                + tiers["warm"].as_u64().unwrap()
                + tiers["cold"].as_u64().unwrap(),
            500
        );
        for lead in page["items"].as_array().unwrap() {
            rank += 1;
            assert_eq!(lead["rank"], rank);
            let score = lead["score"].as_u64().unwrap();
            assert!(score <= previous_score, "best first");
            previous_score = score;
            assert!(
                seen.insert(lead["lead_id"].as_str().unwrap().to_string()),
                "no lead twice"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 500);

    let nobody = client::call_ok(&sales, "rank_leads", json!({"owner": "Nobody Atall"}))
        .await
        .unwrap();
    assert_eq!(nobody["matched"], 0);
    assert!(nobody["items"].as_array().unwrap().is_empty());
    assert!(
        error_text(&sales, "rank_leads", json!({"cursor": "99:lead_1' OR 1=1"}))
            .await
            .contains("cursor")
    );
    sales.cancel().await.unwrap();
}

on_both_backends!(impossible_values_get_clear_errors_and_change_nothing);
async fn impossible_values_get_clear_errors_and_change_nothing(db: &SeededDatabase) {
    let sales = sales_as(db, "rep").await;
    let before = record_counts(&sales).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "score_lead",
            json!({"industry": "retail", "employee_count": -5}),
            "employee_count",
        ),
        (
            "score_lead",
            json!({"industry": "retail", "employee_count": 5, "signals": {"email_engagement_score": 150}}),
            "email_engagement_score",
        ),
        (
            "score_lead",
            json!({"lead_id": "lead_000001", "industry": "retail"}),
            "not both",
        ),
        ("score_lead", json!({}), "lead_id"),
        (
            "score_lead",
            json!({"lead_id": "lead_999999"}),
            "no lead has id",
        ),
        (
            "create_opportunity",
            json!({"account_id": "acc_000001", "name": "Old", "amount_minor": 100, "close_date": "1900-01-01"}),
            "close_date",
        ),
        (
            "create_opportunity",
            json!({"account_id": "acc_000001", "name": "Neg", "amount_minor": -1, "close_date": "2027-01-01"}),
            "negative",
        ),
        (
            "create_opportunity",
            json!({"account_id": "acc_999999", "name": "Ghost", "amount_minor": 1, "close_date": "2027-01-01"}),
            "no account has id",
        ),
        (
            "create_lead",
            json!({"email": "not-an-email", "first_name": "A", "last_name": "B", "company_name": "C", "industry": "retail", "employee_count": 5, "country": "US"}),
            "email",
        ),
        (
            "create_lead",
            json!({"email": "x@y.example", "first_name": "A\u{0007}", "last_name": "B", "company_name": "C", "industry": "retail", "employee_count": 5, "country": "US"}),
            "control character",
        ),
        (
            "create_lead",
            json!({"email": "x@y.example", "first_name": "A", "last_name": "B", "company_name": "C", "industry": "retail", "employee_count": "five", "country": "US"}),
            "employee_count",
        ),
        (
            "update_lead_status",
            json!({"lead_id": "lead_000001", "status": "converted"}),
            "convert_lead",
        ),
        (
            "update_opportunity_stage",
            json!({"opportunity_id": "opp_000001"}),
            "nothing to change",
        ),
        (
            "search_crm",
            json!({"text": "x".repeat(101)}),
            "limit is 100",
        ),
        ("forecast_revenue", json!({"period": "2026-Q7"}), "period"),
        (
            "search_crm",
            json!({"text": "acme", "cursor": "garbage"}),
            "cursor",
        ),
        (
            "convert_lead",
            json!({"lead_id": "lead_999999"}),
            "no lead has id",
        ),
    ];
    for (tool, args, expected) in cases {
        let text = error_text(&sales, tool, args.clone()).await;
        assert!(text.contains(expected), "{tool} {args}: {text}");
    }
    let hostile = client::call_ok(
        &sales,
        "search_crm",
        json!({"text": "'; DROP TABLE leads; --"}),
    )
    .await
    .unwrap();
    assert!(hostile["items"].as_array().unwrap().is_empty());
    let wildcard = client::call_ok(&sales, "search_crm", json!({"text": "%"}))
        .await
        .unwrap();
    assert!(
        wildcard["items"].as_array().unwrap().is_empty(),
        "% is matched literally"
    );
    let after = record_counts(&sales).await;
    assert_eq!(before, after, "no failed call changed anything");
    sales.cancel().await.unwrap();
}

on_both_backends!(lead_writes_are_idempotent_and_conversion_is_all_or_nothing);
async fn lead_writes_are_idempotent_and_conversion_is_all_or_nothing(db: &SeededDatabase) {
    let sales = sales_as(db, "rep").await;
    let new_lead = json!({"email": "Dana@Acme-Robotics.example", "first_name": "Dana", "last_name": "Reyes",
        "company_name": "Acme Robotics", "domain": "acme-robotics.example", "industry": "technology",
        "employee_count": 250, "country": "us", "title": "VP Operations", "source": "event", "request_id": "req-lead-1"});
    let first = client::call_ok(&sales, "create_lead", new_lead.clone())
        .await
        .unwrap();
    let retry = client::call_ok(&sales, "create_lead", new_lead.clone())
        .await
        .unwrap();
    assert_eq!(first["created"], true);
    assert_eq!(retry["created"], false);
    assert_eq!(first["lead"]["id"], retry["lead"]["id"]);
    assert_eq!(first["lead"]["email"], "dana@acme-robotics.example");
    let lead_id = first["lead"]["id"].as_str().unwrap().to_string();
    let mut duplicate = new_lead.clone();
    duplicate["request_id"] = json!("req-lead-2");
    assert!(
        error_text(&sales, "create_lead", duplicate)
            .await
            .contains(&lead_id)
    );

    let mut upsert = new_lead.clone();
    upsert.as_object_mut().unwrap().remove("request_id");
    upsert["employee_count"] = json!(300);
    let updated = client::call_ok(&sales, "upsert_lead", upsert.clone())
        .await
        .unwrap();
    assert_eq!(updated["outcome"], "updated");
    assert_eq!(updated["lead"]["employee_count"], 300);
    let unchanged = client::call_ok(&sales, "upsert_lead", upsert)
        .await
        .unwrap();
    assert_eq!(unchanged["outcome"], "unchanged");

    let status = json!({"lead_id": lead_id, "status": "sql", "reason": "Budget confirmed"});
    let moved = client::call_ok(&sales, "update_lead_status", status.clone())
        .await
        .unwrap();
    assert_eq!(
        (moved["changed"].clone(), moved["previous_status"].clone()),
        (json!(true), json!("new"))
    );
    let again = client::call_ok(&sales, "update_lead_status", status)
        .await
        .unwrap();
    assert_eq!(again["changed"], false);

    let matches = client::call_ok(
        &sales,
        "match_account",
        json!({"company_name": "ACME Robotics, Inc."}),
    )
    .await
    .unwrap();
    assert!(
        matches["recommendation"]
            .as_str()
            .unwrap()
            .contains("no existing account")
    );

    let counts_before = record_counts(&sales).await;
    let converted = client::call_ok(
        &sales,
        "convert_lead",
        json!({"lead_id": lead_id, "amount_minor": 2_400_000, "close_date": "2027-01-31"}),
    )
    .await
    .unwrap();
    assert_eq!(converted["account_created"], true);
    assert_eq!(
        converted["contact"]["role"], "decision_maker",
        "a VP decides"
    );
    assert_eq!(converted["opportunity"]["amount_minor"], 2_400_000);
    let account_id = converted["account"]["id"].as_str().unwrap().to_string();
    let reconverted = client::call_ok(&sales, "convert_lead", json!({"lead_id": lead_id}))
        .await
        .unwrap();
    assert_eq!(reconverted["already_converted"], true);
    assert_eq!(reconverted["account"]["id"], account_id.as_str());
    assert_eq!(
        reconverted["opportunity"]["id"],
        converted["opportunity"]["id"]
    );
    let counts_after = record_counts(&sales).await;
    assert_eq!(
        counts_after["accounts"].as_i64().unwrap(),
        counts_before["accounts"].as_i64().unwrap() + 1
    );

    let by_domain = client::call_ok(
        &sales,
        "match_account",
        json!({"domain": "https://www.acme-robotics.example/pricing"}),
    )
    .await
    .unwrap();
    assert_eq!(by_domain["matches"][0]["account_id"], account_id.as_str());
    assert_eq!(by_domain["matches"][0]["match_kind"], "domain");

    // A conversion that cannot finish leaves nothing behind: this lead's email is already a
    // contact at the account just made, so converting it into a new account fails whole.
    let clash = client::call_ok(&sales, "create_lead", json!({"email": "dana@acme-robotics.example.clash",
        "first_name": "Dee", "last_name": "R", "company_name": "Clash Co", "domain": "clash.example",
        "industry": "retail", "employee_count": 20, "country": "US"})).await.unwrap();
    let clash_id = clash["lead"]["id"].as_str().unwrap().to_string();
    client::call_ok(&sales, "create_contact", json!({"account_id": account_id, "first_name": "Dee",
        "last_name": "R", "email": "dana@acme-robotics.example.clash", "request_id": "req-contact-1"})).await.unwrap();
    let again = client::call_ok(&sales, "create_contact", json!({"account_id": account_id, "first_name": "Dee",
        "last_name": "R", "email": "dana@acme-robotics.example.clash", "request_id": "req-contact-1"})).await.unwrap();
    assert_eq!(again["created"], false);
    let before_failed = record_counts(&sales).await;
    let failed = error_text(&sales, "convert_lead", json!({"lead_id": clash_id})).await;
    assert!(failed.contains("already belongs to contact"), "{failed}");
    let after_failed = record_counts(&sales).await;
    assert_eq!(before_failed, after_failed, "no account or deal half-made");
    let still = client::call_ok(&sales, "get_lead", json!({"lead_id": clash_id}))
        .await
        .unwrap();
    assert_eq!(still["status"], "new");

    let found = client::call_ok(
        &sales,
        "search_crm",
        json!({"text": "acme robotics", "kinds": ["account", "lead"]}),
    )
    .await
    .unwrap();
    let kinds: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["account", "lead"]);
    sales.cancel().await.unwrap();
}

on_both_backends!(deals_keep_their_history_and_the_forecast_explains_itself);
async fn deals_keep_their_history_and_the_forecast_explains_itself(db: &SeededDatabase) {
    let sales = sales_as(db, "rep").await;
    let deal = json!({"account_id": "acc_000001", "name": "Expansion - 50 seats", "amount_minor": 1_200_000,
        "close_date": "2026-12-15", "request_id": "req-opp-1"});
    let opened = client::call_ok(&sales, "create_opportunity", deal.clone())
        .await
        .unwrap();
    let retried = client::call_ok(&sales, "create_opportunity", deal)
        .await
        .unwrap();
    assert_eq!(opened["opportunity"]["id"], retried["opportunity"]["id"]);
    assert_eq!(retried["created"], false);
    assert_eq!(opened["opportunity"]["stage"], "prospecting");
    let id = opened["opportunity"]["id"].as_str().unwrap().to_string();

    let change = json!({"opportunity_id": id, "stage": "proposal", "close_date": "2027-01-20", "note": "Pricing sent"});
    let moved = client::call_ok(&sales, "update_opportunity_stage", change.clone())
        .await
        .unwrap();
    assert_eq!(moved["changed"], true);
    assert_eq!(moved["opportunity"]["probability"], 40);
    let history = moved["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["from_stage"], "prospecting");
    assert_eq!(history[1]["previous_close_date"], "2026-12-15");
    let same = client::call_ok(&sales, "update_opportunity_stage", change)
        .await
        .unwrap();
    assert_eq!(
        same["changed"], false,
        "the same change twice changes nothing"
    );
    client::call_ok(
        &sales,
        "update_opportunity_stage",
        json!({"opportunity_id": id, "stage": "closed_won"}),
    )
    .await
    .unwrap();
    let reopen = error_text(
        &sales,
        "update_opportunity_stage",
        json!({"opportunity_id": id, "stage": "proposal"}),
    )
    .await;
    assert!(reopen.contains("final"), "{reopen}");

    for group_by in ["stage", "owner", "close_month"] {
        let summary = client::call_ok(&sales, "pipeline_summary", json!({"group_by": group_by}))
            .await
            .unwrap();
        let deals: i64 = summary["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["deals"].as_i64().unwrap())
            .sum();
        assert!(deals > 300, "{group_by}");
        let conversion = summary["stage_conversion"].as_array().unwrap();
        assert_eq!(conversion.len(), 4);
        for step in conversion {
            assert!(step["reached_to"].as_i64().unwrap() <= step["reached_from"].as_i64().unwrap());
        }
    }

    let forecast = client::call_ok(&sales, "forecast_revenue", json!({"period": "2026-Q4"}))
        .await
        .unwrap();
    assert_eq!(
        (
            forecast["from"].as_str().unwrap(),
            forecast["to"].as_str().unwrap()
        ),
        ("2026-10-01", "2026-12-31")
    );
    let owners_expected: i64 = forecast["by_owner"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["expected_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(
        owners_expected,
        forecast["expected_minor"].as_i64().unwrap(),
        "owners add up to the total"
    );
    assert!(
        forecast["expected_minor"].as_i64().unwrap()
            >= forecast["closed_won_minor"].as_i64().unwrap()
    );
    assert!(forecast["movers"].as_array().unwrap().len() <= 5);

    let risk = client::call_ok(&sales, "deal_risk", json!({"limit": 5}))
        .await
        .unwrap();
    assert!(risk["checked"].as_i64().unwrap() > 0);
    for deal in risk["deals"].as_array().unwrap() {
        assert!(!deal["risks"].as_array().unwrap().is_empty());
    }
    if let Some(cursor) = risk["next_cursor"].as_str() {
        let next = client::call_ok(&sales, "deal_risk", json!({"limit": 5, "cursor": cursor}))
            .await
            .unwrap();
        assert_ne!(
            next["deals"][0]["opportunity_id"],
            risk["deals"][0]["opportunity_id"]
        );
    }

    // A call logged on a deal's account today counts as recent activity for the deal.
    let fresh = client::call_ok(
        &sales,
        "create_opportunity",
        json!({"account_id": "acc_000002", "name": "Add-on", "amount_minor": 50_000, "close_date": "2027-03-01"}),
    )
    .await
    .unwrap();
    let fresh_id = fresh["opportunity"]["id"].as_str().unwrap();
    client::call_ok(
        &sales,
        "log_activity",
        json!({"kind": "call", "subject": "Scoped the add-on", "account_id": "acc_000002"}),
    )
    .await
    .unwrap();
    let estimate = client::call_ok(
        &sales,
        "win_probability",
        json!({"opportunity_id": fresh_id}),
    )
    .await
    .unwrap();
    let factors: Vec<&str> = estimate["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["factor"].as_str().unwrap())
        .collect();
    assert!(factors.contains(&"recent_activity"), "{estimate}");

    let open = client::call_ok(
        &sales,
        "win_probability",
        json!({"opportunity_id": "opp_000002"}),
    )
    .await
    .unwrap();
    let effects: i64 = open["factors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["effect"].as_i64().unwrap())
        .sum();
    assert_eq!(
        open["base_percent"].as_i64().unwrap() + effects,
        open["percent"].as_i64().unwrap(),
        "{open}"
    );
    sales.cancel().await.unwrap();
}

on_both_backends!(deleting_leads_previews_first_and_acts_only_with_the_token);
async fn deleting_leads_previews_first_and_acts_only_with_the_token(db: &SeededDatabase) {
    let rep = sales_as(db, "rep").await;
    let denied = error_text(&rep, "delete_leads", json!({"lead_ids": ["lead_000010"]})).await;
    assert!(denied.contains("manager"), "{denied}");
    rep.cancel().await.unwrap();

    let manager = sales_as(db, "manager").await;
    let args = json!({"lead_ids": ["lead_000010", "lead_000011", "lead_000011"]});
    let preview = client::call_ok(&manager, "delete_leads", args.clone())
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview");
    assert_eq!(preview["result"]["deleted"], 2, "duplicates count once");
    assert_eq!(preview["result"]["sample"].as_array().unwrap().len(), 2);
    let token = preview["confirmation"]["confirm_token"]
        .as_str()
        .unwrap()
        .to_string();
    client::call_ok(&manager, "get_lead", json!({"lead_id": "lead_000010"}))
        .await
        .unwrap();

    let other = error_text(
        &manager,
        "delete_leads",
        json!({"lead_ids": ["lead_000012"], "confirm_token": token}),
    )
    .await;
    assert!(other.contains("arguments differ"), "{other}");
    let mut confirmed = args.clone();
    confirmed["confirm_token"] = json!(token);
    let done = client::call_ok(&manager, "delete_leads", confirmed.clone())
        .await
        .unwrap();
    assert_eq!(done["status"], "done");
    assert_eq!(done["result"]["deleted"], 2);
    assert!(
        error_text(&manager, "get_lead", json!({"lead_id": "lead_000010"}))
            .await
            .contains("no lead has id")
    );
    let replay = error_text(&manager, "delete_leads", confirmed).await;
    assert!(
        replay.contains("already been used") || replay.contains("used"),
        "{replay}"
    );

    let nothing_named = error_text(&manager, "delete_leads", json!({})).await;
    assert!(nothing_named.contains("filter"), "{nothing_named}");
    let by_filter = client::call_ok(&manager, "delete_leads", json!({"status": "disqualified"}))
        .await
        .unwrap();
    assert_eq!(by_filter["status"], "preview");
    assert!(by_filter["result"]["deleted"].as_i64().unwrap() > 0);
    manager.cancel().await.unwrap();
}

on_both_backends!(tasks_routing_prompts_and_resources_work_from_the_store);
async fn tasks_routing_prompts_and_resources_work_from_the_store(db: &SeededDatabase) {
    let sales = sales_as(db, "rep").await;
    let task = json!({"title": "Send pricing", "due_on": "2026-11-28", "opportunity_id": "opp_000002", "request_id": "req-task-1"});
    let created = client::call_ok(&sales, "create_task", task.clone())
        .await
        .unwrap();
    let retried = client::call_ok(&sales, "create_task", task).await.unwrap();
    assert_eq!(created["task"]["id"], retried["task"]["id"]);
    assert_eq!(created["task"]["owner"], "test-user");
    client::call_ok(
        &sales,
        "create_task",
        json!({"title": "Call back", "due_on": "2026-11-22"}),
    )
    .await
    .unwrap();
    let listed = client::call_ok(
        &sales,
        "list_tasks",
        json!({"owner": "test-user", "limit": 1}),
    )
    .await
    .unwrap();
    assert_eq!(listed["items"][0]["title"], "Call back", "soonest first");
    let next = client::call_ok(
        &sales,
        "list_tasks",
        json!({"owner": "test-user", "limit": 1, "cursor": listed["next_cursor"]}),
    )
    .await
    .unwrap();
    assert_eq!(next["items"][0]["title"], "Send pricing");

    // Routing: a new lead without an owner gets one by the rules, preview first.
    let lead = client::call_ok(&sales, "create_lead", json!({"email": "kai@berlin-tools.example", "first_name": "Kai",
        "last_name": "B", "company_name": "Berlin Tools", "industry": "manufacturing", "employee_count": 80, "country": "DE"}))
        .await
        .unwrap();
    let lead_id = lead["lead"]["id"].as_str().unwrap().to_string();
    let rules =
        json!([{"name": "DACH", "countries": ["DE", "AT", "CH"], "owners": ["Jonas Weber"]}]);
    let plan = client::call_ok(
        &sales,
        "route_leads",
        json!({"lead_ids": [lead_id], "rules": rules}),
    )
    .await
    .unwrap();
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["assignments"][0]["to_owner"], "Jonas Weber");
    assert_eq!(plan["assignments"][0]["rule"], "DACH");
    let unchanged = client::call_ok(&sales, "get_lead", json!({"lead_id": lead_id}))
        .await
        .unwrap();
    assert!(unchanged["owner"].is_null(), "a preview assigns nobody");
    client::call_ok(
        &sales,
        "route_leads",
        json!({"lead_ids": [lead_id], "rules": rules, "apply": true}),
    )
    .await
    .unwrap();
    let owned = client::call_ok(&sales, "get_lead", json!({"lead_id": lead_id}))
        .await
        .unwrap();
    assert_eq!(owned["owner"], "Jonas Weber");
    let twice = client::call_ok(
        &sales,
        "route_leads",
        json!({"lead_ids": [lead_id], "rules": rules, "apply": true}),
    )
    .await
    .unwrap();
    assert!(
        twice["assignments"].as_array().unwrap().is_empty(),
        "an owned lead keeps its owner"
    );

    let prompts = sales.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["weekly-lead-report", "explain-low-score", "deal-review"]
    );
    let report = sales
        .get_prompt(
            rmcp::model::GetPromptRequestParams::new("weekly-lead-report")
                .with_arguments(json!({"week_number": "47"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert!(format!("{:?}", report.messages[0].content).contains("rank_leads"));
    let unknown = sales
        .get_prompt(
            rmcp::model::GetPromptRequestParams::new("explain-low-score").with_arguments(
                json!({"lead_id": "lead_999999"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await;
    assert!(unknown.unwrap_err().to_string().contains("no lead has id"));

    let metadata = client::read_json(&sales, "models://lead_scorer/metadata")
        .await
        .unwrap();
    assert_eq!(metadata["model"]["version"], 1);
    sales.cancel().await.unwrap();
}

#[tokio::test]
async fn every_tool_schema_of_every_server_is_as_snapshotted() {
    let db = seeded_sqlite().await;
    for (team, path) in server_binaries() {
        let session = client::spawn_stdio(
            &path,
            &server_env(&db, "admin"),
            &Handshake::claude_desktop(),
        )
        .await
        .unwrap();
        let mut tools = session.list_all_tools().await.unwrap();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let schemas: Vec<Value> = tools
            .iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "annotations": tool.annotations,
                    "input": tool.input_schema,
                    "output": tool.output_schema,
                })
            })
            .collect();
        insta::assert_json_snapshot!(format!("{team}_tools"), schemas);
        session.cancel().await.unwrap();
    }
}

/// Progress notifications received: (progress, total).
type SeenProgress = std::sync::Arc<std::sync::Mutex<Vec<(f64, Option<f64>)>>>;

/// A client that keeps the progress notifications it receives.
#[derive(Clone)]
struct ProgressWatcher {
    seen: SeenProgress,
}

impl rmcp::ClientHandler for ProgressWatcher {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<rmcp::RoleClient>,
    ) {
        self.seen
            .lock()
            .unwrap()
            .push((params.progress, params.total));
    }
}

#[tokio::test]
async fn ranking_reports_progress_to_a_client_that_asks_for_it() {
    use rmcp::ServiceExt;
    let db = seeded_sqlite().await;
    let mut command = tokio::process::Command::new(binary("revops-sales"));
    command.env("REVOPS_CONFIG", "none");
    command.envs(server_env(&db, "viewer"));
    let watcher = ProgressWatcher {
        seen: Default::default(),
    };
    let session = watcher
        .clone()
        .serve(rmcp::transport::TokioChildProcess::new(command).unwrap())
        .await
        .unwrap();
    let mut request = rmcp::model::CallToolRequestParams::new("rank_leads")
        .with_arguments(json!({"limit": 5}).as_object().unwrap().clone());
    request.meta = Some(rmcp::model::RequestMetaObject::with_progress_token(
        rmcp::model::ProgressToken(rmcp::model::NumberOrString::Number(7)),
    ));
    let result = session.call_tool(request).await.unwrap();
    assert_ne!(result.is_error, Some(true));
    // Notifications travel ahead of the response on the same pipe.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let seen = watcher.seen.lock().unwrap().clone();
    assert_eq!(seen.last(), Some(&(500.0, Some(500.0))), "{seen:?}");
    session.cancel().await.unwrap();
}

#[tokio::test]
async fn only_an_admin_sees_credentials_and_never_their_values() {
    let db = seeded_sqlite().await;
    {
        let store = store::Store::open(&store::DatabaseLocation::parse(&db.url).unwrap())
            .await
            .unwrap();
        let vault = vault::Vault::init(&store, vault::MasterKey::generate().unwrap())
            .await
            .unwrap();
        vault
            .put(
                "hubspot",
                "private_app_token",
                "pat-na1-s3cret-value".to_string().into(),
            )
            .await
            .unwrap();
        store.close().await;
    }
    let manager = sales_as(&db, "manager").await;
    let denied = error_text(&manager, "list_credentials", json!({})).await;
    assert!(denied.contains("admin"), "{denied}");
    manager.cancel().await.unwrap();

    let admin = sales_as(&db, "admin").await;
    let listed = client::call(&admin, "list_credentials", json!({}))
        .await
        .unwrap();
    let shown = serde_json::to_string(&listed).unwrap();
    assert!(shown.contains("private_app_token"));
    assert!(!shown.contains("s3cret"), "a value is never shown");
    let args = json!({"provider": "hubspot", "name": "private_app_token"});
    let preview = client::call_ok(&admin, "delete_credential", args.clone())
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview");
    let mut confirmed = args;
    confirmed["confirm_token"] = preview["confirmation"]["confirm_token"].clone();
    let done = client::call_ok(&admin, "delete_credential", confirmed)
        .await
        .unwrap();
    assert_eq!(done["status"], "done");
    let empty = client::call_ok(&admin, "list_credentials", json!({}))
        .await
        .unwrap();
    assert!(empty["credentials"].as_array().unwrap().is_empty());
    assert!(empty["hint"].as_str().unwrap().contains("revops vault set"));
    let missing = error_text(
        &admin,
        "delete_credential",
        json!({"provider": "hubspot", "name": "nope"}),
    )
    .await;
    assert!(missing.contains("list_credentials"), "{missing}");
    admin.cancel().await.unwrap();
}

/// A client whose user answers every confirmation question the same way.
#[derive(Clone)]
struct AnsweringUser {
    action: rmcp::model::ElicitationAction,
    questions: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl rmcp::ClientHandler for AnsweringUser {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        let mut capabilities = rmcp::model::ClientCapabilities::default();
        capabilities.elicitation = Some(rmcp::model::ElicitationCapability::default());
        let mut config = rmcp::model::ClientConfig::new(
            capabilities,
            rmcp::model::Implementation::new("asking-client", "1"),
        );
        config.protocol_version = rmcp::model::ProtocolVersion::V_2025_06_18;
        config
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        if let rmcp::model::ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.questions.lock().unwrap().push(message);
        }
        let mut answer = rmcp::model::ElicitResult::new(self.action.clone());
        if self.action == rmcp::model::ElicitationAction::Accept {
            answer.content = Some(json!({"confirm": true}));
        }
        Ok(answer)
    }
}

async fn session_answering(
    db: &SeededDatabase,
    action: rmcp::model::ElicitationAction,
) -> (
    rmcp::service::RunningService<rmcp::RoleClient, AnsweringUser>,
    AnsweringUser,
) {
    use rmcp::ServiceExt;
    let mut command = tokio::process::Command::new(binary("revops-sales"));
    command.env("REVOPS_CONFIG", "none");
    command.envs(server_env(db, "manager"));
    let user = AnsweringUser {
        action,
        questions: Default::default(),
    };
    let session = user
        .clone()
        .serve(rmcp::transport::TokioChildProcess::new(command).unwrap())
        .await
        .unwrap();
    (session, user)
}

#[tokio::test]
async fn a_client_that_can_ask_its_user_confirms_a_delete_through_the_protocol() {
    let db = seeded_sqlite().await;
    let (declining, user) = session_answering(&db, rmcp::model::ElicitationAction::Decline).await;
    let args = json!({"lead_ids": ["lead_000020"]});
    let refused = declining
        .call_tool(
            rmcp::model::CallToolRequestParams::new("delete_leads")
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(refused.is_error, Some(true));
    assert!(
        client::text_of(&refused).contains("declined"),
        "{}",
        client::text_of(&refused)
    );
    let question = user.questions.lock().unwrap()[0].clone();
    assert!(
        question.contains("delete_leads") && question.contains("lead_000020"),
        "{question}"
    );
    declining.cancel().await.unwrap();

    let (accepting, _) = session_answering(&db, rmcp::model::ElicitationAction::Accept).await;
    let done = accepting
        .call_tool(
            rmcp::model::CallToolRequestParams::new("delete_leads")
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let done = done.structured_content.unwrap();
    assert_eq!(
        done["status"], "done",
        "one call, confirmed by the user: {done}"
    );
    assert_eq!(done["result"]["deleted"], 1);
    accepting.cancel().await.unwrap();

    // Both paths are in the audit trail: the decline as denied, the confirmation as ok.
    let auditor = sales_as(&db, "manager").await;
    let trail = client::call_ok(&auditor, "audit_query", json!({"tool": "delete_leads"}))
        .await
        .unwrap();
    let outcomes: Vec<String> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["outcome"].as_str().unwrap(),
                e["detail"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        outcomes
            .iter()
            .any(|o| o.starts_with("denied") && o.contains("declined")),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o.starts_with("ok") && o.contains("elicitation")),
        "{outcomes:?}"
    );
    auditor.cancel().await.unwrap();
}

#[tokio::test]
async fn leads_sync_from_hubspot_once_and_without_credentials_the_tool_says_how_to_set_them_up() {
    use wiremock::matchers::{method, path};
    let db = seeded_sqlite().await;
    let sales = sales_as(&db, "rep").await;
    let unset = error_text(&sales, "sync_from_crm", json!({"provider": "hubspot"})).await;
    assert!(unset.contains("revops vault init"), "{unset}");
    sales.cancel().await.unwrap();

    let key_text = {
        let store = store::Store::open(&store::DatabaseLocation::parse(&db.url).unwrap())
            .await
            .unwrap();
        let key_text = vault_holding_a_hubspot_token(&store, "pat-test-token").await;
        store.close().await;
        key_text
    };
    let hubspot = wiremock::MockServer::start().await;
    let contacts: Vec<serde_json::Value> = (1..=3)
        .map(|n| {
            json!({"id": format!("9010{n}"), "archived": false, "updatedAt": "2026-11-20T10:00:00Z",
                   "properties": {"email": format!("buyer{n}@northwind.example"), "firstname": format!("Buyer{n}"),
                                  "lastname": "Lee", "company": "Northwind", "country": "Germany"}})
        })
        .collect();
    wiremock::Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(json!({"total": 3, "results": contacts})),
        )
        .mount(&hubspot)
        .await;
    let mut env = server_env(&db, "rep");
    let uri = hubspot.uri();
    env.push(("REVOPS_MASTER_KEY", key_text.as_str()));
    env.push(("REVOPS_HUBSPOT_URL", uri.as_str()));
    let sales = client::spawn_stdio(&binary("revops-sales"), &env, &Handshake::claude_desktop())
        .await
        .unwrap();
    let first = client::call_ok(
        &sales,
        "sync_from_crm",
        json!({"provider": "hubspot", "kind": "leads"}),
    )
    .await
    .unwrap();
    assert_eq!(first["created"], 3, "{first}");
    let again = client::call_ok(
        &sales,
        "sync_from_crm",
        json!({"provider": "hubspot", "kind": "leads"}),
    )
    .await
    .unwrap();
    assert_eq!(
        again["created"], 0,
        "a second sync creates nothing: {again}"
    );
    let found = client::call_ok(
        &sales,
        "search_crm",
        json!({"text": "northwind.example", "kinds": ["lead"]}),
    )
    .await
    .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 3);
    let shown = serde_json::to_string(&first).unwrap();
    assert!(!shown.contains("pat-test-token"));
    sales.cancel().await.unwrap();
}

#[tokio::test]
async fn push_to_crm_pushes_a_deal_once_through_a_503_then_updates_it_and_still_pushes_leads() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};
    let db = seeded_sqlite().await;
    let (key_text, deal, lead) = {
        let store = store::Store::open(&store::DatabaseLocation::parse(&db.url).unwrap())
            .await
            .unwrap();
        let key_text = vault_holding_a_hubspot_token(&store, "pat-deal-push-token").await;
        // A deal and a lead made here (the demo company's are all linked to its CRM
        // already), on an account as an accounts sync from HubSpot leaves it: linked to
        // company 501.
        let account: String = sqlx::query_scalar("SELECT id FROM accounts ORDER BY id LIMIT 1")
            .fetch_one(store.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE accounts SET external_id = '501' WHERE id = $1")
            .bind(&account)
            .execute(store.pool())
            .await
            .unwrap();
        let mut tx = store.begin_write().await.unwrap();
        let new_deal = store::opportunities::NewOpportunity {
            account_id: account,
            lead_id: None,
            name: "Expansion to the Berlin office".to_owned(),
            stage: "proposal".to_owned(),
            amount_minor: 4_800_000,
            currency: "EUR".to_owned(),
            probability: None,
            close_date: "2027-03-31".to_owned(),
            owner: None,
        };
        let (deal, _) = store::opportunities::create(&mut tx, &new_deal, "test", None)
            .await
            .unwrap();
        let new_lead = store::leads::NewLead {
            email: "buyer@berlin.example".to_owned(),
            first_name: "Ada".to_owned(),
            last_name: "Lee".to_owned(),
            company_name: "Berlin Works".to_owned(),
            domain: Some("berlin.example".to_owned()),
            industry: "software".to_owned(),
            employee_count: 30,
            country: "Germany".to_owned(),
            title: None,
            source: "webinar".to_owned(),
            owner: None,
            campaign_id: None,
            external_id: None,
            signals: None,
        };
        let (lead, _) = store::leads::create(&mut tx, &new_lead, None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let (deal, lead) = (deal.id, lead.id);
        store.close().await;
        (key_text, deal, lead)
    };
    let hubspot = wiremock::MockServer::start().await;
    // The deal's create lands, but its answer is lost (503); the retry, with the same key,
    // gets it.
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&hubspot)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/deals"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "9001", "properties": {}})),
        )
        .with_priority(2)
        .mount(&hubspot)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/crm/v3/objects/deals/9001"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "9001", "properties": {}})),
        )
        .expect(1)
        .mount(&hubspot)
        .await;
    Mock::given(method("PUT"))
        .and(path(
            "/crm/v4/objects/deals/9001/associations/companies/501",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&hubspot)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"total": 0, "results": []})))
        .mount(&hubspot)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "77", "properties": {}})),
        )
        .expect(1)
        .mount(&hubspot)
        .await;
    let mut env = server_env(&db, "rep");
    let uri = hubspot.uri();
    env.push(("REVOPS_MASTER_KEY", key_text.as_str()));
    env.push(("REVOPS_HUBSPOT_URL", uri.as_str()));
    let sales = client::spawn_stdio(&binary("revops-sales"), &env, &Handshake::claude_desktop())
        .await
        .unwrap();

    let both = error_text(
        &sales,
        "push_to_crm",
        json!({"provider": "hubspot", "lead_id": lead, "opportunity_id": deal}),
    )
    .await;
    assert!(both.contains("not both"), "{both}");
    let neither = error_text(&sales, "push_to_crm", json!({"provider": "hubspot"})).await;
    assert!(
        neither.contains("lead_id") && neither.contains("opportunity_id"),
        "{neither}"
    );
    let typo = error_text(
        &sales,
        "push_to_crm",
        json!({"provider": "hubspot", "opportunity_id": "opp_999999"}),
    )
    .await;
    assert!(typo.contains("opp_999999"), "{typo}");
    assert!(hubspot.received_requests().await.unwrap().is_empty());

    let created = client::call_ok(
        &sales,
        "push_to_crm",
        json!({"provider": "hubspot", "opportunity_id": deal}),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            &created["opportunity_id"],
            &created["remote_id"],
            &created["action"]
        ),
        (&json!(deal), &json!("9001"), &json!("created")),
        "{created}"
    );
    assert_eq!(created["account_remote_id"], "501");
    assert!(created.get("lead_id").is_none(), "{created}");
    let creates: Vec<_> = hubspot
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/crm/v3/objects/deals")
        .collect();
    assert_eq!(creates.len(), 2, "the lost answer was retried once");
    let keys: Vec<_> = creates
        .iter()
        .map(|r| {
            r.headers
                .get("idempotency-key")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys, [created["idempotency_key"].as_str().unwrap(); 2]);
    let body: Value = serde_json::from_slice(&creates[0].body).unwrap();
    assert_eq!(body["associations"][0]["to"]["id"], "501");

    let updated = client::call_ok(
        &sales,
        "push_to_crm",
        json!({"provider": "hubspot", "opportunity_id": deal}),
    )
    .await
    .unwrap();
    assert_eq!(
        (&updated["remote_id"], &updated["action"]),
        (&json!("9001"), &json!("updated")),
        "{updated}"
    );

    // Leads push as before.
    let pushed_lead = client::call_ok(
        &sales,
        "push_to_crm",
        json!({"provider": "hubspot", "lead_id": lead}),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            &pushed_lead["lead_id"],
            &pushed_lead["remote_id"],
            &pushed_lead["action"]
        ),
        (&json!(lead), &json!("77"), &json!("created")),
        "{pushed_lead}"
    );
    assert!(pushed_lead.get("opportunity_id").is_none(), "{pushed_lead}");
    sales.cancel().await.unwrap();

    let store = store::Store::open(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap();
    let stored = store::opportunities::get_one(&store, &deal).await.unwrap();
    assert_eq!(stored.external_id.as_deref(), Some("9001"));
    let stored_lead = store::leads::get(&store, &lead).await.unwrap();
    assert_eq!(stored_lead.external_id.as_deref(), Some("77"));
    store.close().await;
    let shown = serde_json::to_string(&[&created, &updated, &pushed_lead]).unwrap();
    assert!(!shown.contains("pat-deal-push-token"));
}

/// Creates the store's vault under a new master key, puts a HubSpot private-app token in it,
/// and returns the key as the servers read it (`REVOPS_MASTER_KEY`).
async fn vault_holding_a_hubspot_token(store: &store::Store, token: &str) -> String {
    use vault::ExposeSecret;
    let key = vault::MasterKey::generate().unwrap();
    let key_text = key.to_base64().unwrap().expose_secret().to_string();
    let vault = vault::Vault::init(store, key).await.unwrap();
    vault
        .put("hubspot", "private_app_token", token.to_string().into())
        .await
        .unwrap();
    key_text
}
