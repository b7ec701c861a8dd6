//! The marketing server's campaigns, spend, budgets and operations through a real MCP client
//! against the built binary, on SQLite and (when `REVOPS_TEST_POSTGRES_URL` is set)
//! Postgres: the campaign lifecycle, 200 concurrent spends against one cap, idempotent spend
//! under retries, the cap-raising and deletion confirmations, backups with checksums, settings
//! validated in full, and bad input that changes nothing.
#![allow(clippy::unwrap_used, reason = "tests")]

#[macro_use]
mod util;

use revops::client::{self, Handshake, Session};
use serde_json::{Value, json};
use util::*;

async fn marketing_as(db: &SeededDatabase, role: &str) -> Session {
    session_as(db, "revops-marketing", role).await
}

/// A marketing session whose backups go to `data_dir`.
async fn marketing_with_data_dir(db: &SeededDatabase, role: &str, data_dir: &str) -> Session {
    let mut env = server_env(db, role);
    env.push(("REVOPS_DATA_DIR", data_dir));
    client::spawn_stdio(
        &binary("revops-marketing"),
        &env,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap()
}

/// Today (UTC), `YYYY-MM-DD`.
fn today() -> String {
    store::clock::now()[..10].to_string()
}

/// The day `days` days from today (before it when negative), `YYYY-MM-DD`.
fn days_from_today(days: i64) -> String {
    let mut day = store::clock::parse_date(&today()).unwrap();
    for _ in 0..days.unsigned_abs() {
        day = if days > 0 {
            day.succ_opt()
        } else {
            day.pred_opt()
        }
        .unwrap();
    }
    store::clock::format_date(day)
}

/// Creates and launches (reserving nothing) a campaign running from yesterday for 60 days.
async fn running_campaign(
    session: &Session,
    name: &str,
    lifetime: i64,
    daily: Option<i64>,
) -> String {
    let mut args = json!({"name": name, "channel": "paid_social", "starts_on": days_from_today(-1),
                          "ends_on": days_from_today(60), "lifetime_cap_minor": lifetime});
    if let Some(daily) = daily {
        args["daily_cap_minor"] = json!(daily);
    }
    let created = client::call_ok(session, "create_campaign", args)
        .await
        .unwrap();
    let id = created["campaign"]["id"].as_str().unwrap().to_string();
    let launched = client::call_ok(
        session,
        "launch_campaign",
        json!({"campaign_id": id, "reserve_minor": 0}),
    )
    .await
    .unwrap();
    assert_eq!(launched["campaign"]["status"], "active", "{launched}");
    assert!(launched["reservation"].is_null());
    id
}

async fn spent(session: &Session, id: &str) -> i64 {
    client::call_ok(session, "get_campaign", json!({"campaign_id": id}))
        .await
        .unwrap()["spent_minor"]
        .as_i64()
        .unwrap()
}

on_both_backends!(a_campaign_is_created_launched_spent_paused_and_resumed);
async fn a_campaign_is_created_launched_spent_paused_and_resumed(db: &SeededDatabase) {
    let rep = marketing_as(db, "rep").await;
    let args = json!({"name": "Winter 100%_off push", "channel": "paid_search", "audience": "IT leaders",
                      "starts_on": days_from_today(-2), "ends_on": days_from_today(30),
                      "lifetime_cap_minor": 500_000, "daily_cap_minor": 40_000, "currency": "eur",
                      "request_id": "create-winter-1"});
    let created = client::call_ok(&rep, "create_campaign", args.clone())
        .await
        .unwrap();
    assert_eq!(created["created"], true);
    let campaign = &created["campaign"];
    assert_eq!(campaign["status"], "draft");
    assert_eq!(campaign["currency"], "EUR");
    assert_eq!(campaign["budget_lifetime_minor"], 500_000);
    let id = campaign["id"].as_str().unwrap().to_string();
    let retry = client::call_ok(&rep, "create_campaign", args)
        .await
        .unwrap();
    assert_eq!(
        (retry["created"].as_bool(), &retry["campaign"]["id"]),
        (Some(false), &json!(id))
    );

    // Filters: a name piece with LIKE wildcards matches only itself; the day it runs.
    let found = client::call_ok(&rep, "list_campaigns", json!({"name_contains": "100%_OFF"}))
        .await
        .unwrap();
    let ids: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);
    let none = client::call_ok(&rep, "list_campaigns", json!({"name_contains": "100%x"}))
        .await
        .unwrap();
    assert!(none["items"].as_array().unwrap().is_empty());
    let running = client::call_ok(
        &rep,
        "list_campaigns",
        json!({"active_on": today(), "status": "draft", "limit": 100}),
    )
    .await
    .unwrap();
    assert!(
        running["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == json!(id))
    );
    for item in running["items"].as_array().unwrap() {
        assert!(item["starts_on"].as_str().unwrap() <= today().as_str());
        assert_eq!(item["status"], "draft");
    }

    // A draft does not spend; launching reserves the daily cap by default.
    let draft_spend = error_text(
        &rep,
        "record_spend",
        json!({"campaign_id": id, "amount_minor": 100}),
    )
    .await;
    assert!(
        draft_spend.contains("draft") && draft_spend.contains("launch"),
        "{draft_spend}"
    );
    let launch = json!({"campaign_id": id, "request_id": "launch-winter"});
    let launched = client::call_ok(&rep, "launch_campaign", launch.clone())
        .await
        .unwrap();
    assert_eq!(
        (
            launched["previous_status"].as_str(),
            launched["changed"].as_bool()
        ),
        (Some("draft"), Some(true))
    );
    let reservation = &launched["reservation"];
    assert_eq!(reservation["amount_minor"], 40_000);
    assert_eq!(reservation["spend_date"], json!(today()));
    assert_eq!(reservation["lifetime_headroom_minor"], 460_000);
    assert_eq!(reservation["daily_headroom_minor"], 0);
    let reservation_id = reservation["reservation_id"].as_str().unwrap().to_string();
    let relaunch = client::call_ok(&rep, "launch_campaign", launch)
        .await
        .unwrap();
    assert_eq!(relaunch["changed"], false);
    assert_eq!(
        relaunch["reservation"]["reservation_id"],
        json!(reservation_id)
    );
    assert_eq!(relaunch["reservation"]["created"], false);

    // The daily cap is held by the reservation: new spend today is refused with the headroom.
    let over = error_text(
        &rep,
        "record_spend",
        json!({"campaign_id": id, "amount_minor": 1}),
    )
    .await;
    assert!(
        over.contains("daily cap") && over.contains("headroom that day 0.00 EUR"),
        "{over}"
    );

    // Commit part of the reservation; the rest goes back to the caps. A retry changes nothing.
    let commit =
        json!({"campaign_id": id, "amount_minor": 25_000, "reservation_id": reservation_id});
    let committed = client::call_ok(&rep, "record_spend", commit.clone())
        .await
        .unwrap();
    assert_eq!(committed["amount_minor"], 25_000);
    assert_eq!(committed["released_minor"], 15_000);
    assert_eq!(committed["created"], true);
    assert_eq!(committed["campaign_committed_minor"], 25_000);
    assert_eq!(committed["lifetime_headroom_minor"], 475_000);
    assert_eq!(committed["daily_headroom_minor"], 15_000);
    let again = client::call_ok(&rep, "record_spend", commit).await.unwrap();
    assert_eq!(
        (again["created"].as_bool(), again["amount_minor"].as_i64()),
        (Some(false), Some(25_000))
    );
    let other_amount = error_text(
        &rep,
        "record_spend",
        json!({"campaign_id": id, "amount_minor": 30_000, "reservation_id": reservation_id}),
    )
    .await;
    assert!(other_amount.contains("already closed"), "{other_amount}");
    assert_eq!(spent(&rep, &id).await, 25_000);

    // New spend with a request id spends once; the same id for another amount is refused.
    let spend = json!({"campaign_id": id, "amount_minor": 10_000, "request_id": "inv-77-1"});
    let first = client::call_ok(&rep, "record_spend", spend.clone())
        .await
        .unwrap();
    let retried = client::call_ok(&rep, "record_spend", spend).await.unwrap();
    assert_eq!(
        (first["created"].as_bool(), retried["created"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(first["reservation_id"], retried["reservation_id"]);
    let reused = error_text(
        &rep,
        "record_spend",
        json!({"campaign_id": id, "amount_minor": 10_001, "request_id": "inv-77-1"}),
    )
    .await;
    assert!(reused.contains("already used"), "{reused}");
    assert_eq!(spent(&rep, &id).await, 35_000);

    // Resources: the campaign and the budgets (caps, committed, reserved, headroom).
    let resource = client::read_json(&rep, &format!("marketing://campaigns/{id}"))
        .await
        .unwrap();
    assert_eq!(resource["spent_minor"], 35_000);
    let budgets = client::read_json(&rep, "marketing://budgets")
        .await
        .unwrap();
    let line = budgets["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["campaign_id"] == json!(id))
        .unwrap()
        .clone();
    assert_eq!(line["committed_minor"], 35_000);
    assert_eq!(line["reserved_minor"], 0);
    assert_eq!(line["headroom_minor"], 465_000);
    assert_eq!(line["held_today_minor"], 35_000);
    assert_eq!(line["daily_headroom_today_minor"], 5_000);
    assert_eq!(line["used_percent"], 7);
    assert_eq!(line["near_cap"], false);
    assert!(
        budgets["organisation"]["month_to_date_minor"]
            .as_i64()
            .unwrap()
            >= 35_000
    );

    // Pause releases open reservations (committed spend stays); pausing again is a no-op.
    let second = client::call_ok(
        &rep,
        "launch_campaign",
        json!({"campaign_id": id, "reserve_minor": 2_000, "reserve_date": days_from_today(1)}),
    )
    .await
    .unwrap();
    assert_eq!(second["changed"], false);
    assert_eq!(second["reservation"]["amount_minor"], 2_000);
    let paused = client::call_ok(&rep, "pause_campaign", json!({"campaign_id": id}))
        .await
        .unwrap();
    assert_eq!(
        (
            paused["status"].as_str(),
            paused["changed"].as_bool(),
            paused["released_minor"].as_i64()
        ),
        (Some("paused"), Some(true), Some(2_000))
    );
    let paused_again = client::call_ok(&rep, "pause_campaign", json!({"campaign_id": id}))
        .await
        .unwrap();
    assert_eq!(
        (
            paused_again["changed"].as_bool(),
            paused_again["released_minor"].as_i64()
        ),
        (Some(false), Some(0))
    );
    assert_eq!(spent(&rep, &id).await, 35_000);
    let resumed = client::call_ok(&rep, "resume_campaign", json!({"campaign_id": id}))
        .await
        .unwrap();
    assert_eq!(
        (
            resumed["previous_status"].as_str(),
            resumed["status"].as_str()
        ),
        (Some("paused"), Some("active"))
    );
    let resumed_again = client::call_ok(&rep, "resume_campaign", json!({"campaign_id": id}))
        .await
        .unwrap();
    assert_eq!(resumed_again["changed"], false);

    // Impossible transitions on the demo company's campaigns.
    let all = client::call_ok(&rep, "list_campaigns", json!({"limit": 100}))
        .await
        .unwrap();
    let with_status = |status: &str| {
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["status"] == json!(status))
            .map(|c| c["id"].as_str().unwrap().to_string())
    };
    let completed = with_status("completed").unwrap();
    let resume_completed =
        error_text(&rep, "resume_campaign", json!({"campaign_id": completed})).await;
    assert!(resume_completed.contains("completed"), "{resume_completed}");
    let launch_completed =
        error_text(&rep, "launch_campaign", json!({"campaign_id": completed})).await;
    assert!(launch_completed.contains("completed"), "{launch_completed}");
    let spend_completed = error_text(
        &rep,
        "record_spend",
        json!({"campaign_id": completed, "amount_minor": 100}),
    )
    .await;
    assert!(
        spend_completed.contains("completed") || spend_completed.contains("ends"),
        "{spend_completed}"
    );
    if let Some(draft) = with_status("draft") {
        let pause_draft = error_text(&rep, "pause_campaign", json!({"campaign_id": draft})).await;
        assert!(pause_draft.contains("draft"), "{pause_draft}");
        let resume_draft = error_text(&rep, "resume_campaign", json!({"campaign_id": draft})).await;
        assert!(resume_draft.contains("launch_campaign"), "{resume_draft}");
    }

    // The fixture tools still answer: a campaign's leads, a touch (idempotent).
    let fixture = client::call_ok(
        &rep,
        "list_campaigns",
        json!({"status": "active", "limit": 100}),
    )
    .await
    .unwrap();
    let with_leads = fixture["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["leads"].as_i64().unwrap() > 0)
        .unwrap();
    let fixture_id = with_leads["id"].as_str().unwrap();
    let leads = client::call_ok(
        &rep,
        "campaign_leads",
        json!({"campaign_id": fixture_id, "limit": 5}),
    )
    .await
    .unwrap();
    let lead_id = leads["items"][0]["id"].as_str().unwrap().to_string();
    let touch = json!({"campaign_id": fixture_id, "lead_id": lead_id, "touch_type": "click", "request_id": "touch-1"});
    let touched = client::call_ok(&rep, "record_touch", touch.clone())
        .await
        .unwrap();
    let touched_again = client::call_ok(&rep, "record_touch", touch).await.unwrap();
    assert_eq!(
        (
            touched["created"].as_bool(),
            touched_again["created"].as_bool()
        ),
        (Some(true), Some(false))
    );
    assert_eq!(touched["touch_id"], touched_again["touch_id"]);

    // Prompts name the tools to call; an unknown campaign is refused.
    let prompts = rep.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["campaign-retro", "budget-reallocation"]);
    let retro = rep
        .get_prompt(
            rmcp::model::GetPromptRequestParams::new("campaign-retro")
                .with_arguments(json!({"campaign_id": id}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text = format!("{:?}", retro.messages[0].content);
    assert!(
        text.contains("get_campaign") && text.contains("Winter 100%_off push"),
        "{text}"
    );
    let unknown = rep
        .get_prompt(
            rmcp::model::GetPromptRequestParams::new("campaign-retro").with_arguments(
                json!({"campaign_id": "cmp_999999"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await;
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("no campaign has id")
    );
    let plan = rep
        .get_prompt(
            rmcp::model::GetPromptRequestParams::new("budget-reallocation")
                .with_arguments(json!({"period": "2026-12"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text = format!("{:?}", plan.messages[0].content);
    assert!(
        text.contains("marketing://budgets") && text.contains("2026-12-31"),
        "{text}"
    );
    let bad_period = rep
        .get_prompt(
            rmcp::model::GetPromptRequestParams::new("budget-reallocation")
                .with_arguments(json!({"period": "December"}).as_object().unwrap().clone()),
        )
        .await;
    assert!(bad_period.unwrap_err().to_string().contains("YYYY-MM"));
    rep.cancel().await.unwrap();
}

on_both_backends!(two_hundred_concurrent_spends_never_commit_more_than_the_cap);
async fn two_hundred_concurrent_spends_never_commit_more_than_the_cap(db: &SeededDatabase) {
    const CAP: i64 = 30_000;
    let first = marketing_as(db, "rep").await;
    let second = marketing_as(db, "rep").await;
    let id = running_campaign(&first, "Concurrency", CAP, None).await;
    let day = today();
    // 200 calls in flight at once, split over two server processes (one session each),
    // asking for about 50,000 against a cap of 30,000.
    let calls = (0..200).map(|i| {
        let session = if i % 2 == 0 { &first } else { &second };
        let amount = 100 + (i % 7) * 50;
        let args = json!({"campaign_id": id, "amount_minor": amount, "spend_date": day, "request_id": format!("c-{i}")});
        async move { (i, amount, client::call(session, "record_spend", args).await.unwrap()) }
    });
    let started = std::time::Instant::now();
    let results = futures::future::join_all(calls).await;
    let elapsed = started.elapsed();
    let mut accepted = Vec::new();
    let mut refused = 0;
    for (i, amount, result) in &results {
        if result.is_error == Some(true) {
            let reason = client::text_of(result);
            assert!(
                reason.contains("lifetime cap") && reason.contains("headroom"),
                "{reason}"
            );
            refused += 1;
        } else {
            let answer = result.structured_content.as_ref().unwrap();
            assert_eq!(answer["amount_minor"].as_i64(), Some(*amount));
            assert_eq!(answer["created"], true);
            assert!(answer["lifetime_headroom_minor"].as_i64().unwrap() >= 0);
            accepted.push((*i, *amount));
        }
    }
    let accepted_total: i64 = accepted.iter().map(|(_, amount)| amount).sum();
    let committed = spent(&first, &id).await;
    assert_eq!(
        accepted_total, committed,
        "every accepted spend and nothing else is committed"
    );
    assert!(committed <= CAP, "{committed} > {CAP}");
    assert!(refused > 0 && accepted.len() + refused == 200);
    // Once one request was refused, what was left was smaller than the largest request.
    assert!(CAP - committed < 400, "headroom left {}", CAP - committed);
    eprintln!(
        "200 concurrent record_spend over 2 processes: {} accepted, {refused} refused, {committed} of {CAP} committed, {} ms",
        accepted.len(),
        elapsed.as_millis()
    );

    // Retrying accepted requests (same request_id) spends nothing more.
    let retries = accepted.iter().take(30).map(|(i, amount)| {
        let args = json!({"campaign_id": id, "amount_minor": amount, "spend_date": day, "request_id": format!("c-{i}")});
        let session = if i % 2 == 0 { &second } else { &first };
        async move { client::call_ok(session, "record_spend", args).await.unwrap() }
    });
    for answer in futures::future::join_all(retries).await {
        assert_eq!(answer["created"], false);
    }
    assert_eq!(spent(&second, &id).await, committed);
    let budgets = client::read_json(&first, "marketing://budgets")
        .await
        .unwrap();
    let line = budgets["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["campaign_id"] == json!(id))
        .unwrap()
        .clone();
    assert_eq!(line["committed_minor"].as_i64(), Some(committed));
    assert_eq!(line["headroom_minor"].as_i64(), Some(CAP - committed));

    // The same new request sent 10 times at once (a client retrying in a hurry) spends once.
    let other = running_campaign(&first, "Retry storm", 10_000, None).await;
    let storm = (0..10).map(|i| {
        let session = if i % 2 == 0 { &first } else { &second };
        let args = json!({"campaign_id": other, "amount_minor": 700, "request_id": "inv-storm"});
        async move {
            client::call_ok(session, "record_spend", args)
                .await
                .unwrap()
        }
    });
    let answers = futures::future::join_all(storm).await;
    assert_eq!(answers.iter().filter(|a| a["created"] == true).count(), 1);
    assert!(
        answers
            .iter()
            .all(|a| a["reservation_id"] == answers[0]["reservation_id"])
    );
    assert_eq!(spent(&first, &other).await, 700);
    first.cancel().await.unwrap();
    second.cancel().await.unwrap();
}

on_both_backends!(
    raising_a_cap_needs_an_admin_and_a_confirmation_and_lowering_below_spend_is_refused
);
async fn raising_a_cap_needs_an_admin_and_a_confirmation_and_lowering_below_spend_is_refused(
    db: &SeededDatabase,
) {
    let rep = marketing_as(db, "rep").await;
    let id = running_campaign(&rep, "Caps", 100_000, Some(20_000)).await;
    client::call_ok(
        &rep,
        "record_spend",
        json!({"campaign_id": id, "amount_minor": 15_000}),
    )
    .await
    .unwrap();

    // Lowering is an ordinary write for a rep.
    let lowered = client::call_ok(
        &rep,
        "set_campaign_budget",
        json!({"campaign_id": id, "lifetime_cap_minor": 80_000}),
    )
    .await
    .unwrap();
    assert_eq!(lowered["status"], "done");
    assert_eq!(lowered["result"]["new_lifetime_cap_minor"], 80_000);
    assert_eq!(lowered["result"]["new_headroom_minor"], 65_000);
    assert_eq!(lowered["result"]["raised"], false);
    let same = client::call_ok(
        &rep,
        "set_campaign_budget",
        json!({"campaign_id": id, "lifetime_cap_minor": 80_000}),
    )
    .await
    .unwrap();
    assert_eq!(same["result"]["changed"], false);

    // Below what is committed: refused with the figures, nothing changed.
    let before = record_counts(&rep).await;
    let below = error_text(
        &rep,
        "set_campaign_budget",
        json!({"campaign_id": id, "lifetime_cap_minor": 10_000}),
    )
    .await;
    assert!(
        below.contains("150.00 USD committed")
            && below.contains("lowest lifetime cap possible is 150.00 USD"),
        "{below}"
    );
    let daily_below = error_text(
        &rep,
        "set_campaign_budget",
        json!({"campaign_id": id, "daily_cap_minor": 5_000}),
    )
    .await;
    assert!(daily_below.contains("150.00 USD"), "{daily_below}");
    let daily_above = error_text(
        &rep,
        "set_campaign_budget",
        json!({"campaign_id": id, "daily_cap_minor": 90_000}),
    )
    .await;
    assert!(
        daily_above.contains("above the lifetime cap"),
        "{daily_above}"
    );
    assert_eq!(record_counts(&rep).await, before);
    let campaign = client::call_ok(&rep, "get_campaign", json!({"campaign_id": id}))
        .await
        .unwrap();
    assert_eq!(
        (
            campaign["budget_lifetime_minor"].as_i64(),
            campaign["budget_daily_minor"].as_i64()
        ),
        (Some(80_000), Some(20_000))
    );

    // Raising: rep and manager are refused; an admin gets a preview, then acts with the token.
    let raise =
        json!({"campaign_id": id, "lifetime_cap_minor": 120_000, "daily_cap_minor": 30_000});
    let denied = error_text(&rep, "set_campaign_budget", raise.clone()).await;
    assert!(denied.contains("admin"), "{denied}");
    rep.cancel().await.unwrap();
    let manager = marketing_as(db, "manager").await;
    let denied = error_text(&manager, "set_campaign_budget", raise.clone()).await;
    assert!(denied.contains("admin"), "{denied}");
    manager.cancel().await.unwrap();

    let admin = marketing_as(db, "admin").await;
    let preview = client::call_ok(&admin, "set_campaign_budget", raise.clone())
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview", "{preview}");
    assert_eq!(preview["result"]["old_lifetime_cap_minor"], 80_000);
    assert_eq!(preview["result"]["new_lifetime_cap_minor"], 120_000);
    assert_eq!(preview["result"]["old_headroom_minor"], 65_000);
    assert_eq!(preview["result"]["new_headroom_minor"], 105_000);
    assert_eq!(preview["result"]["raised"], true);
    let token = preview["confirmation"]["confirm_token"]
        .as_str()
        .unwrap()
        .to_string();
    let unchanged = client::call_ok(&admin, "get_campaign", json!({"campaign_id": id}))
        .await
        .unwrap();
    assert_eq!(
        unchanged["budget_lifetime_minor"], 80_000,
        "a preview changes nothing"
    );

    let other = error_text(
        &admin,
        "set_campaign_budget",
        json!({"campaign_id": id, "lifetime_cap_minor": 999_000, "confirm_token": token}),
    )
    .await;
    assert!(other.contains("arguments differ"), "{other}");
    let mut confirmed = raise.clone();
    confirmed["confirm_token"] = json!(token);
    let done = client::call_ok(&admin, "set_campaign_budget", confirmed.clone())
        .await
        .unwrap();
    assert_eq!(done["status"], "done");
    let raised = client::call_ok(&admin, "get_campaign", json!({"campaign_id": id}))
        .await
        .unwrap();
    assert_eq!(
        (
            raised["budget_lifetime_minor"].as_i64(),
            raised["budget_daily_minor"].as_i64()
        ),
        (Some(120_000), Some(30_000))
    );
    let replay = error_text(&admin, "set_campaign_budget", confirmed).await;
    assert!(
        replay.contains("used") || replay.contains("already"),
        "{replay}"
    );

    // Removing the daily cap counts as raising it.
    let removal = client::call_ok(
        &admin,
        "set_campaign_budget",
        json!({"campaign_id": id, "remove_daily_cap": true}),
    )
    .await
    .unwrap();
    assert_eq!(removal["status"], "preview");
    admin.cancel().await.unwrap();
}

on_both_backends!(
    deleting_a_campaign_previews_its_spend_touches_and_leads_then_acts_with_the_token
);
async fn deleting_a_campaign_previews_its_spend_touches_and_leads_then_acts_with_the_token(
    db: &SeededDatabase,
) {
    let manager = marketing_as(db, "manager").await;
    let all = client::call_ok(&manager, "list_campaigns", json!({"limit": 100}))
        .await
        .unwrap();
    let target = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["leads"].as_i64().unwrap() > 0 && c["spent_minor"].as_i64().unwrap() > 0)
        .max_by_key(|c| c["touches"].as_i64().unwrap())
        .unwrap()
        .clone();
    let id = target["id"].as_str().unwrap();
    let before = record_counts(&manager).await;
    let preview = client::call_ok(&manager, "delete_campaign", json!({"campaign_id": id}))
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview");
    let result = &preview["result"];
    assert_eq!(result["spent_minor"], target["spent_minor"]);
    assert_eq!(result["touches"], target["touches"]);
    assert_eq!(result["leads_losing_attribution"], target["leads"]);
    let by_type: i64 = result["touches_by_type"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(by_type, target["touches"].as_i64().unwrap());
    let sample = result["sample_lead_ids"].as_array().unwrap();
    assert_eq!(
        sample.len() as i64,
        target["leads"].as_i64().unwrap().min(20)
    );
    assert!(result["last_spend_date"].as_str().is_some());
    assert_eq!(
        record_counts(&manager).await,
        before,
        "a preview changes nothing"
    );

    let token = preview["confirmation"]["confirm_token"].clone();
    let done = client::call_ok(
        &manager,
        "delete_campaign",
        json!({"campaign_id": id, "confirm_token": token}),
    )
    .await
    .unwrap();
    assert_eq!(done["status"], "done");
    let gone = error_text(&manager, "get_campaign", json!({"campaign_id": id})).await;
    assert!(gone.contains("no campaign has id"), "{gone}");
    let after = record_counts(&manager).await;
    assert_eq!(
        after["campaigns"].as_i64().unwrap(),
        before["campaigns"].as_i64().unwrap() - 1
    );
    assert_eq!(
        after["marketing_touches"].as_i64().unwrap(),
        before["marketing_touches"].as_i64().unwrap() - target["touches"].as_i64().unwrap()
    );
    assert_eq!(after["leads"], before["leads"], "leads stay");
    manager.cancel().await.unwrap();
}

on_both_backends!(backups_are_checksummed_listed_and_deleted_only_with_a_confirmation);
async fn backups_are_checksummed_listed_and_deleted_only_with_a_confirmation(db: &SeededDatabase) {
    let folder = tempfile::tempdir().unwrap();
    let data_dir = folder.path().display().to_string();
    let rep = marketing_with_data_dir(db, "rep", &data_dir).await;
    let denied = error_text(&rep, "create_backup", json!({})).await;
    assert!(denied.contains("manager"), "{denied}");
    let counts = record_counts(&rep).await;
    rep.cancel().await.unwrap();

    let manager = marketing_with_data_dir(db, "manager", &data_dir).await;
    let made = client::call_ok(
        &manager,
        "create_backup",
        json!({"note": "before the Q1 reset"}),
    )
    .await
    .unwrap();
    let backup = &made["backup"];
    let id = backup["id"].as_str().unwrap().to_string();
    let path = folder
        .path()
        .join("backups")
        .join(backup["file_name"].as_str().unwrap());
    assert!(backup["file_name"].as_str().unwrap().starts_with("bak_"));
    assert_eq!(made["rows_by_table"]["campaigns"], counts["campaigns"]);
    assert_eq!(
        made["rows_by_table"]["budget_ledger"],
        counts["budget_ledger"]
    );
    assert_eq!(
        made["rows_by_table"]["marketing_touches"],
        counts["marketing_touches"]
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["format"], "revops-marketing-backup");
    assert_eq!(lines[0]["backup_id"], json!(id));
    assert_eq!(
        lines.len() as i64,
        backup["row_count"].as_i64().unwrap() + 2,
        "header, rows, trailer"
    );
    assert_eq!(text.len() as i64, backup["size_bytes"].as_i64().unwrap());
    assert_eq!(backup["sha256"].as_str().unwrap().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let listed = client::call_ok(&manager, "list_backups", json!({}))
        .await
        .unwrap();
    let item = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == json!(id))
        .unwrap()
        .clone();
    assert_eq!(
        (
            item["file_present"].as_bool(),
            item["checksum_matches"].as_bool()
        ),
        (Some(true), Some(true))
    );
    assert_eq!(item["sha256"], backup["sha256"]);

    // A second backup, tampered with, no longer matches its checksum.
    let second = client::call_ok(&manager, "create_backup", json!({}))
        .await
        .unwrap();
    let second_path = folder
        .path()
        .join("backups")
        .join(second["backup"]["file_name"].as_str().unwrap());
    let mut tampered = std::fs::read_to_string(&second_path).unwrap();
    tampered = tampered.replacen("paid_search", "paid_social", 1);
    std::fs::write(&second_path, tampered).unwrap();
    let listed = client::call_ok(&manager, "list_backups", json!({}))
        .await
        .unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items[0]["id"], second["backup"]["id"], "newest first");
    assert_eq!(items[0]["checksum_matches"], false);
    assert_eq!(items[1]["checksum_matches"], true);

    // Deleting: the preview removes nothing; the token deletes the file and marks the entry.
    let preview = client::call_ok(&manager, "delete_backup", json!({"backup_id": id}))
        .await
        .unwrap();
    assert_eq!(preview["status"], "preview");
    assert_eq!(preview["result"]["file_present"], true);
    assert_eq!(preview["result"]["size_bytes"], backup["size_bytes"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(path.exists(), "a preview never removes the file");
    let token = preview["confirmation"]["confirm_token"].clone();
    let done = client::call_ok(
        &manager,
        "delete_backup",
        json!({"backup_id": id, "confirm_token": token}),
    )
    .await
    .unwrap();
    assert_eq!(done["status"], "done");
    let mut removed = false;
    for _ in 0..100 {
        if !path.exists() {
            removed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(removed, "the file goes once the deletion has committed");
    let listed = client::call_ok(&manager, "list_backups", json!({}))
        .await
        .unwrap();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["id"] != json!(id))
    );
    let with_deleted = client::call_ok(&manager, "list_backups", json!({"include_deleted": true}))
        .await
        .unwrap();
    let tombstone = with_deleted["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == json!(id))
        .unwrap()
        .clone();
    assert!(tombstone["deleted_at"].is_string());
    assert_eq!(tombstone["file_present"], false);
    let twice = error_text(&manager, "delete_backup", json!({"backup_id": id})).await;
    assert!(twice.contains("already deleted"), "{twice}");
    let unknown = error_text(
        &manager,
        "delete_backup",
        json!({"backup_id": "bak_20000101000000000000zzzz"}),
    )
    .await;
    assert!(unknown.contains("no backup has id"), "{unknown}");
    let traversal = error_text(
        &manager,
        "delete_backup",
        json!({"backup_id": "../../etc/passwd"}),
    )
    .await;
    assert!(traversal.contains("not a bak id"), "{traversal}");

    // Retention: keep two; a third backup deletes the oldest live one.
    client::call_ok(
        &manager,
        "update_settings",
        json!({"changes": {"backup_retention": 2}}),
    )
    .await
    .unwrap();
    client::call_ok(&manager, "create_backup", json!({}))
        .await
        .unwrap();
    let third = client::call_ok(&manager, "create_backup", json!({}))
        .await
        .unwrap();
    assert_eq!(
        third["removed_by_retention"],
        json!([second["backup"]["id"]])
    );
    let live = client::call_ok(&manager, "list_backups", json!({}))
        .await
        .unwrap();
    assert_eq!(live["items"].as_array().unwrap().len(), 2);
    manager.cancel().await.unwrap();
}

on_both_backends!(settings_are_checked_in_full_and_one_bad_key_changes_nothing);
async fn settings_are_checked_in_full_and_one_bad_key_changes_nothing(db: &SeededDatabase) {
    let manager = marketing_as(db, "manager").await;
    let defaults = client::call_ok(&manager, "get_settings", json!({}))
        .await
        .unwrap();
    let value_of = |settings: &Value, key: &str| {
        settings["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == json!(key))
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value_of(&defaults, "default_currency"), "USD");
    assert_eq!(value_of(&defaults, "email_confirm_above_recipients"), 1_000);
    assert_eq!(value_of(&defaults, "attribution_half_life_days"), 7);
    assert_eq!(value_of(&defaults, "backup_retention"), 30);

    for (changes, named) in [
        (
            json!({"backup_retention": 10, "default_currency": "EUR", "colour": "blue"}),
            "colour",
        ),
        (
            json!({"backup_retention": 10, "attribution_half_life_days": 0}),
            "attribution_half_life_days",
        ),
        (
            json!({"default_currency": "EURO", "backup_retention": 10}),
            "default_currency",
        ),
        (
            json!({"email_confirm_above_recipients": "lots"}),
            "email_confirm_above_recipients",
        ),
        (json!({"backup_retention": 2.5}), "backup_retention"),
    ] {
        let refused = error_text(&manager, "update_settings", json!({"changes": changes})).await;
        assert!(
            refused.contains(named) && refused.contains("nothing was changed"),
            "{refused}"
        );
    }
    assert_eq!(
        client::call_ok(&manager, "get_settings", json!({}))
            .await
            .unwrap()["settings"],
        defaults["settings"]
    );

    let updated = client::call_ok(
        &manager,
        "update_settings",
        json!({"changes": {"default_currency": "eur", "attribution_half_life_days": 14, "backup_retention": 30}}),
    )
    .await
    .unwrap();
    let changed: Vec<&str> = updated["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        ["attribution_half_life_days", "default_currency"],
        "an unchanged value is not a change"
    );
    let now = client::call_ok(&manager, "get_settings", json!({}))
        .await
        .unwrap();
    assert_eq!(value_of(&now, "default_currency"), "EUR");
    assert_eq!(value_of(&now, "attribution_half_life_days"), 14);

    // The default currency applies to new campaigns; null sets a key back to its default.
    let created = client::call_ok(
        &manager,
        "create_campaign",
        json!({"name": "Euro push", "channel": "events", "starts_on": "2027-02-01", "lifetime_cap_minor": 1000}),
    )
    .await
    .unwrap();
    assert_eq!(created["campaign"]["currency"], "EUR");
    client::call_ok(
        &manager,
        "update_settings",
        json!({"changes": {"default_currency": null}}),
    )
    .await
    .unwrap();
    let reset = client::call_ok(&manager, "get_settings", json!({}))
        .await
        .unwrap();
    assert_eq!(value_of(&reset, "default_currency"), "USD");
    manager.cancel().await.unwrap();

    let rep = marketing_as(db, "rep").await;
    let denied = error_text(
        &rep,
        "update_settings",
        json!({"changes": {"backup_retention": 5}}),
    )
    .await;
    assert!(denied.contains("manager"), "{denied}");
    rep.cancel().await.unwrap();
}

on_both_backends!(bad_input_gets_clear_errors_and_changes_nothing);
async fn bad_input_gets_clear_errors_and_changes_nothing(db: &SeededDatabase) {
    let rep = marketing_as(db, "rep").await;
    let id = running_campaign(&rep, "Bad input target", 50_000, Some(10_000)).await;
    let before = record_counts(&rep).await;
    let good = json!({"name": "Fine", "channel": "email", "starts_on": "2027-01-01", "ends_on": "2027-02-01",
                      "lifetime_cap_minor": 10_000});
    let with = |field: &str, value: Value| {
        let mut args = good.clone();
        args[field] = value;
        args
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "create_campaign",
            with("ends_on", json!("2026-12-31")),
            "before starts_on",
        ),
        (
            "create_campaign",
            with("lifetime_cap_minor", json!(-5)),
            "negative",
        ),
        (
            "create_campaign",
            with("daily_cap_minor", json!(20_000)),
            "above the lifetime cap",
        ),
        (
            "create_campaign",
            with("name", json!("Robert'); DROP TABLE campaigns;--\u{7}")),
            "U+0007",
        ),
        (
            "create_campaign",
            with("name", json!("two\nlines")),
            "one line",
        ),
        (
            "create_campaign",
            with("name", json!("x".repeat(121))),
            "limit is 120",
        ),
        ("create_campaign", with("name", json!("   ")), "empty"),
        (
            "create_campaign",
            with("channel", json!("tv")),
            "not one of",
        ),
        (
            "create_campaign",
            with("currency", json!("EURO")),
            "ISO 4217",
        ),
        (
            "create_campaign",
            with("starts_on", json!("1999-12-31")),
            "between 2000",
        ),
        (
            "create_campaign",
            with("starts_on", json!("2027-02-30")),
            "YYYY-MM-DD",
        ),
        (
            "create_campaign",
            with("lifetime_cap_minor", json!("lots")),
            "lifetime_cap_minor",
        ),
        (
            "create_campaign",
            json!({"name": "No caps", "channel": "email", "starts_on": "2027-01-01"}),
            "lifetime_cap_minor",
        ),
        (
            "record_spend",
            json!({"campaign_id": id, "amount_minor": -100}),
            "negative",
        ),
        (
            "record_spend",
            json!({"campaign_id": id, "amount_minor": 0}),
            "positive",
        ),
        (
            "record_spend",
            json!({"campaign_id": id, "amount_minor": 10_001}),
            "headroom",
        ),
        (
            "record_spend",
            json!({"campaign_id": id, "amount_minor": 100, "spend_date": "2020-01-01"}),
            "before campaign",
        ),
        (
            "record_spend",
            json!({"campaign_id": "cmp_999999", "amount_minor": 100}),
            "no campaign has id",
        ),
        (
            "record_spend",
            json!({"campaign_id": "cmp_1' OR '1'='1", "amount_minor": 100}),
            "not a cmp id",
        ),
        (
            "record_spend",
            json!({"campaign_id": id, "amount_minor": 100, "reservation_id": "bud_nothere"}),
            "no reservation",
        ),
        (
            "record_spend",
            json!({"campaign_id": id, "amount_minor": 100, "request_id": "launch:x"}),
            "launch_campaign",
        ),
        (
            "launch_campaign",
            json!({"campaign_id": "cmp_999999"}),
            "no campaign has id",
        ),
        (
            "pause_campaign",
            json!({"campaign_id": "cmp_999999"}),
            "no campaign has id",
        ),
        (
            "resume_campaign",
            json!({"campaign_id": "{\"$ne\": null}"}),
            "not a cmp id",
        ),
        (
            "set_campaign_budget",
            json!({"campaign_id": "cmp_999999", "lifetime_cap_minor": 5}),
            "no campaign has id",
        ),
        (
            "set_campaign_budget",
            json!({"campaign_id": id}),
            "lifetime_cap_minor",
        ),
        (
            "set_campaign_budget",
            json!({"campaign_id": id, "lifetime_cap_minor": -1}),
            "negative",
        ),
        (
            "list_campaigns",
            json!({"active_on": "yesterday"}),
            "YYYY-MM-DD",
        ),
        ("list_campaigns", json!({"status": "running"}), "not one of"),
        (
            "list_campaigns",
            json!({"name_contains": "x\u{0}y"}),
            "U+0000",
        ),
        (
            "record_spend",
            json!({"campaign_id": id, "amount_minor": "100"}),
            "amount_minor",
        ),
        (
            "record_spend",
            json!({"campaign_id": id, "amount_minor": 100, "request_id": "k".repeat(101)}),
            "limit is 100",
        ),
        (
            "create_campaign",
            with("audience", json!("a\u{1b}[31m")),
            "U+001B",
        ),
        (
            "create_campaign",
            with("request_id", json!("")),
            "request_id",
        ),
        (
            "launch_campaign",
            json!({"campaign_id": id, "reserve_minor": -1}),
            "negative",
        ),
        (
            "launch_campaign",
            json!({"campaign_id": id, "reserve_minor": 10, "reserve_date": "2099-01-01"}),
            "after campaign",
        ),
    ];
    for (tool, args, expected) in cases {
        let text = error_text(&rep, tool, args.clone()).await;
        assert!(text.contains(expected), "{tool} {args}: {text}");
    }
    assert_eq!(
        record_counts(&rep).await,
        before,
        "no bad call changed anything"
    );
    assert_eq!(spent(&rep, &id).await, 0);
    let injected = client::call_ok(
        &rep,
        "list_campaigns",
        json!({"name_contains": "' OR 1=1 --"}),
    )
    .await
    .unwrap();
    assert!(
        injected["items"].as_array().unwrap().is_empty(),
        "{injected}"
    );

    // Hostile but printable text is data: stored and returned verbatim, never run.
    let hostile = "Robert'); DROP TABLE campaigns;-- {\"$gt\": \"\"} <script>";
    let created = client::call_ok(&rep, "create_campaign", with("name", json!(hostile)))
        .await
        .unwrap();
    assert_eq!(created["campaign"]["name"], hostile);
    let after = record_counts(&rep).await;
    assert_eq!(
        after["campaigns"].as_i64().unwrap(),
        before["campaigns"].as_i64().unwrap() + 1
    );
    rep.cancel().await.unwrap();
}

on_both_backends!(the_organisation_monthly_cap_holds_across_campaigns);
async fn the_organisation_monthly_cap_holds_across_campaigns(db: &SeededDatabase) {
    let rep = marketing_as(db, "rep").await;
    let first = running_campaign(&rep, "Monthly A", 1_000_000, None).await;
    let second = running_campaign(&rep, "Monthly B", 1_000_000, None).await;
    let budgets = client::read_json(&rep, "marketing://budgets")
        .await
        .unwrap();
    assert!(budgets["organisation"]["cap_minor"].is_null());
    let month_to_date = budgets["organisation"]["month_to_date_minor"]
        .as_i64()
        .unwrap();
    rep.cancel().await.unwrap();

    // An organisation cap 5,000 above what this month already holds.
    let cap = (month_to_date + 5_000).to_string();
    let mut env = server_env(db, "rep");
    env.push(("REVOPS_MONTHLY_SPEND_CAP_MINOR", &cap));
    let capped = client::spawn_stdio(
        &binary("revops-marketing"),
        &env,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    let spent_a = client::call_ok(
        &capped,
        "record_spend",
        json!({"campaign_id": first, "amount_minor": 3_000}),
    )
    .await
    .unwrap();
    assert_eq!(spent_a["monthly_headroom_minor"], 2_000);
    let refused = error_text(
        &capped,
        "record_spend",
        json!({"campaign_id": second, "amount_minor": 2_500}),
    )
    .await;
    assert!(
        refused.contains("monthly cap") && refused.contains("headroom this month 20.00 USD"),
        "{refused}"
    );
    let launch = error_text(
        &capped,
        "launch_campaign",
        json!({"campaign_id": second, "reserve_minor": 2_001}),
    )
    .await;
    assert!(launch.contains("monthly cap"), "{launch}");
    client::call_ok(
        &capped,
        "record_spend",
        json!({"campaign_id": second, "amount_minor": 2_000}),
    )
    .await
    .unwrap();
    let budgets = client::read_json(&capped, "marketing://budgets")
        .await
        .unwrap();
    assert_eq!(
        budgets["organisation"]["month_to_date_minor"].as_i64(),
        Some(month_to_date + 5_000)
    );
    assert_eq!(budgets["organisation"]["headroom_minor"], 0);
    assert_eq!(spent(&capped, &second).await, 2_000);
    capped.cancel().await.unwrap();
}
