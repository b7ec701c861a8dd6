//! `revops demo`: starts the three servers as child processes on a temporary SQLite
//! database loaded with the demo company, and drives them through an MCP client the way a
//! revenue team would, narrating what happens. Later capabilities add their steps here.
#![allow(
    clippy::print_stdout,
    reason = "the demo narrates for a person on stdout"
)]

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::{self, Handshake, Session};

fn money(minor: &Value) -> String {
    let cents = minor.as_i64().unwrap_or(0);
    let whole = cents / 100;
    let mut digits = whole.abs().to_string();
    let mut grouped = String::new();
    while digits.len() > 3 {
        let tail = digits.split_off(digits.len() - 3);
        grouped = format!(",{tail}{grouped}");
    }
    format!("${}{digits}{grouped}", if whole < 0 { "-" } else { "" })
}

/// Starts one team's server as a child process over stdio: this same executable running
/// `revops serve TEAM`, the code path of `revops-TEAM`, so the demo needs no other binary.
async fn spawn_team(
    team: &str,
    env: &[(&str, &str)],
    handshake: &Handshake,
) -> anyhow::Result<Session> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command.args(["serve", team]).envs(env.iter().copied());
    client::spawn_command(command, handshake).await
}

fn step(title: &str) {
    println!("\n== {title}");
}

/// Runs the demo end to end; fails if any step does not behave as described.
pub async fn run() -> anyhow::Result<()> {
    let folder = tempfile::Builder::new().prefix("revops-demo").tempdir()?;
    let path = folder.path().join("demo.db");
    let url = format!("sqlite://{}", path.display());

    step("Loading the demo company into a fresh SQLite file");
    let store = store::Store::open(&store::DatabaseLocation::parse(&url)?).await?;
    let summary = demo_company::seed(&store, 1)
        .await
        .context("seeding the demo company")?;
    store.close().await;
    let rows = serde_json::to_value(summary.rows)?;
    println!(
        "{} accounts, {} contacts, {} leads, {} opportunities, {} campaigns, {} support tickets, {} NPS answers ({} ms)",
        rows["accounts"],
        rows["contacts"],
        rows["leads"],
        rows["opportunities"],
        rows["campaigns"],
        rows["support_tickets"],
        rows["nps_responses"],
        summary.elapsed_ms
    );

    step(
        "Starting the sales, marketing and customer-success servers as Claude Desktop would (stdio, protocol 2025-06-18)",
    );
    let env = [
        ("REVOPS_DATABASE_URL", url.as_str()),
        ("REVOPS_ACTOR", "dana@demo"),
        ("REVOPS_LOG", "warn"),
        // The demo is self-contained: the user's own config file stays out of it.
        ("REVOPS_CONFIG", "none"),
    ];
    // Marketing runs as a manager, so the demo can show the confirmation gate.
    let manager_env = [
        ("REVOPS_DATABASE_URL", url.as_str()),
        ("REVOPS_ACTOR", "mira@demo"),
        ("REVOPS_ROLE", "manager"),
        ("REVOPS_LOG", "warn"),
        ("REVOPS_CONFIG", "none"),
    ];
    let handshake = Handshake::claude_desktop();
    let sales = spawn_team("sales", &env, &handshake).await?;
    let marketing = spawn_team("marketing", &manager_env, &handshake).await?;
    let cs = spawn_team("cs", &env, &handshake).await?;
    for (name, session) in [("sales", &sales), ("marketing", &marketing), ("cs", &cs)] {
        let tools = session.list_all_tools().await?;
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        println!("{name}: {} tools: {}", names.len(), names.join(", "));
    }
    let info = client::call_ok(&sales, "server_info", json!({})).await?;
    println!(
        "server_info: {} {} on {} (migration level {}), acting as {} ({})",
        info["server"].as_str().unwrap_or("?"),
        info["version"].as_str().unwrap_or("?"),
        info["store_backend"].as_str().unwrap_or("?"),
        info["migration_level"],
        info["actor"]["name"].as_str().unwrap_or("?"),
        info["actor"]["role"].as_str().unwrap_or("?"),
    );

    sales_steps(&sales).await?;
    marketing_steps(&marketing).await?;
    cs_steps(&cs).await?;

    step("Bad input gets a clear error, and the server keeps serving");
    let bad = client::call(
        &sales,
        "get_lead",
        json!({"lead_id": "lead_1'; DROP TABLE leads;--"}),
    )
    .await?;
    println!(
        "get_lead with a hostile id -> error: {}",
        client::text_of(&bad)
    );
    let missing = client::call(&sales, "get_lead", json!({"lead_id": "lead_999999"})).await?;
    println!(
        "get_lead lead_999999 -> error: {}",
        client::text_of(&missing)
    );
    let typed = client::call(&sales, "list_leads", json!({"limit": "lots"})).await?;
    println!(
        "list_leads with limit \"lots\" -> error: {}",
        client::text_of(&typed)
    );
    let after = client::call_ok(&sales, "server_info", json!({})).await?;
    println!(
        "still serving: {} leads in the store",
        after["record_counts"]["leads"]
    );

    for session in [sales, marketing, cs] {
        session.cancel().await.ok();
    }

    step("Compliance: \"prove what the assistant did, and that nobody edited the record\"");
    let store = store::Store::open(&store::DatabaseLocation::parse(&url)?).await?;
    match audit::verify::verify_store(&store, vec![], 8192).await? {
        Ok(summary) => println!(
            "audit chain intact: {} entries from the three servers, head {}…, every call above is in it",
            summary.entries,
            &summary.head_hash[..16]
        ),
        Err(broken) => anyhow::bail!(
            "the audit chain is broken at seq {}: {}",
            broken.seq,
            broken.explanation
        ),
    }
    let denied = audit::query::find(
        &store,
        &audit::query::AuditFilter {
            outcome: Some("denied".into()),
            ..Default::default()
        },
        0,
        10,
    )
    .await?;
    println!(
        "denied calls on record: {} (e.g. a replayed confirmation token)",
        denied.len()
    );
    store.close().await;
    step("Done: three servers shared one SQLite file; the temporary database is removed");
    Ok(())
}

async fn sales_steps(sales: &Session) -> anyhow::Result<()> {
    step("Sales: \"who do I talk to at this account, and what is open?\"");
    let view = client::read_json(sales, "crm://accounts/acc_000001").await?;
    let account = &view["account"];
    println!(
        "{} ({}, {} employees, {} plan, MRR {}), {} contacts, {} opportunities",
        account["name"].as_str().unwrap_or("?"),
        account["industry"].as_str().unwrap_or("?"),
        account["employee_count"],
        account["plan_tier"].as_str().unwrap_or("?"),
        money(&account["mrr_minor"]),
        view["contacts"].as_array().map_or(0, Vec::len),
        view["opportunities"].as_array().map_or(0, Vec::len),
    );
    let pipeline = client::call_ok(sales, "pipeline_summary", json!({})).await?;
    for stage in pipeline["groups"].as_array().into_iter().flatten() {
        println!(
            "  {:<14} {:>4} deals {:>14}  weighted {:>14}",
            stage["key"].as_str().unwrap_or("?"),
            stage["deals"],
            money(&stage["amount_minor"]),
            money(&stage["weighted_amount_minor"])
        );
    }
    step("Sales: \"which of my leads should I call today, and why?\"");
    let ranked = client::call_ok(
        sales,
        "rank_leads",
        json!({"status": "working", "limit": 3}),
    )
    .await?;
    println!(
        "{} working leads: {} hot, {} warm, {} cold (model {} v{})",
        ranked["matched"],
        ranked["tiers"]["hot"],
        ranked["tiers"]["warm"],
        ranked["tiers"]["cold"],
        ranked["model"]["name"].as_str().unwrap_or("?"),
        ranked["model"]["version"]
    );
    for lead in ranked["items"].as_array().into_iter().flatten() {
        println!(
            "  #{} {} at {}: score {} ({}), strongest factor {}",
            lead["rank"],
            lead["lead_id"].as_str().unwrap_or("?"),
            lead["company_name"].as_str().unwrap_or("?"),
            lead["score"],
            lead["tier"].as_str().unwrap_or("?"),
            lead["strongest_factor"].as_str().unwrap_or("?")
        );
    }
    if let Some(top) = ranked["items"][0]["lead_id"].as_str() {
        let explained =
            client::call_ok(sales, "explain_lead_score", json!({"lead_id": top})).await?;
        println!(
            "  why: {}",
            explained["explanation"].as_str().unwrap_or("?")
        );
        for better in explained["improvements"].as_array().into_iter().flatten() {
            println!(
                "  to raise it: {} (+{} to {})",
                better["change"].as_str().unwrap_or("?"),
                better["gain"],
                better["score_after"]
            );
        }
    }
    step("Sales: \"what will we close this quarter?\"");
    let forecast = client::call_ok(sales, "forecast_revenue", json!({})).await?;
    println!(
        "{}: closed won {}, commit {}, best case {}, pipeline {}, expected {}",
        forecast["period"].as_str().unwrap_or("?"),
        money(&forecast["closed_won_minor"]),
        money(&forecast["commit_minor"]),
        money(&forecast["best_case_minor"]),
        money(&forecast["pipeline_minor"]),
        money(&forecast["expected_minor"])
    );
    let risk = client::call_ok(sales, "deal_risk", json!({"limit": 2})).await?;
    println!(
        "deals at risk: {} of {} open",
        risk["at_risk"], risk["checked"]
    );
    for deal in risk["deals"].as_array().into_iter().flatten() {
        let reasons: Vec<&str> = deal["risks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["detail"].as_str())
            .collect();
        println!(
            "  {} ({}, {}): {}",
            deal["name"].as_str().unwrap_or("?"),
            deal["stage"].as_str().unwrap_or("?"),
            money(&deal["amount_minor"]),
            reasons.join("; ")
        );
    }
    let call = json!({"kind": "call", "subject": "Discovery call: wants SSO and a pilot", "account_id": "acc_000001", "request_id": "demo-call-1"});
    let first = client::call_ok(sales, "log_activity", call.clone()).await?;
    let retry = client::call_ok(sales, "log_activity", call).await?;
    println!(
        "log_activity: logged {} (created {}); the same request retried: created {}, same id {}",
        first["activity"]["id"].as_str().unwrap_or("?"),
        first["created"],
        retry["created"],
        first["activity"]["id"] == retry["activity"]["id"]
    );
    Ok(())
}

async fn marketing_steps(marketing: &Session) -> anyhow::Result<()> {
    step("Marketing: deleting a campaign needs a confirmation (acting as a manager)");
    let preview = client::call_ok(
        marketing,
        "delete_campaign",
        json!({"campaign_id": "cmp_000001"}),
    )
    .await?;
    let result = &preview["result"];
    println!(
        "first call: status {}, nothing changed; it would remove {} ledger entries ({} spent) and {} touches, and {} leads would lose attribution",
        preview["status"],
        result["ledger_entries"],
        money(&result["spent_minor"]),
        result["touches"],
        result["leads_losing_attribution"]
    );
    let token = preview["confirmation"]["confirm_token"].clone();
    let done = client::call_ok(
        marketing,
        "delete_campaign",
        json!({"campaign_id": "cmp_000001", "confirm_token": token}),
    )
    .await?;
    println!("second call with the token: status {}", done["status"]);
    let replay = client::call(
        marketing,
        "delete_campaign",
        json!({"campaign_id": "cmp_000001", "confirm_token": token}),
    )
    .await?;
    println!("the same token again -> {}", client::text_of(&replay));

    step("Marketing: \"what are our active campaigns spending?\"");
    let page = client::call_ok(
        marketing,
        "list_campaigns",
        json!({"status": "active", "limit": 5}),
    )
    .await?;
    for campaign in page["items"].as_array().into_iter().flatten() {
        println!(
            "  {:<40} {:<12} spent {:>10} of {:>10}, {} leads",
            campaign["name"].as_str().unwrap_or("?"),
            campaign["channel"].as_str().unwrap_or("?"),
            money(&campaign["spent_minor"]),
            money(&campaign["budget_lifetime_minor"]),
            campaign["leads"]
        );
    }
    if let Some(active) = page["items"].as_array().and_then(|items| items.first()) {
        let id = active["id"].as_str().unwrap_or("cmp_000001");
        step("Marketing: \"spend past the cap\" is refused, with the headroom left");
        let over = client::call(
            marketing,
            "record_spend",
            json!({"campaign_id": id, "amount_minor": 999_999_999, "spend_date": "2026-11-21", "request_id": "demo-spend-1"}),
        )
        .await?;
        println!(
            "record_spend of $9,999,999.99 on {id} -> {}",
            client::text_of(&over)
        );
    }
    Ok(())
}

async fn cs_steps(cs: &Session) -> anyhow::Result<()> {
    step("Customer success: \"which accounts are at risk, and what does one look like?\"");
    let portfolio = client::read_json(cs, "cs://portfolio").await?;
    for stage in portfolio.as_array().into_iter().flatten() {
        println!(
            "  {:<8} {:>4} accounts, MRR {}",
            stage["lifecycle_stage"].as_str().unwrap_or("?"),
            stage["accounts"],
            money(&stage["mrr_minor"])
        );
    }
    let at_risk = client::call_ok(
        cs,
        "list_accounts",
        json!({"lifecycle_stage": "at_risk", "limit": 1}),
    )
    .await?;
    if let Some(account) = at_risk["items"].as_array().and_then(|a| a.first()) {
        let id = account["id"].as_str().unwrap_or("acc_000001");
        let overview = client::call_ok(
            cs,
            "get_account_overview",
            json!({"account_id": id, "weeks": 8}),
        )
        .await?;
        let usage = overview["usage"].as_array().cloned().unwrap_or_default();
        let first = usage
            .first()
            .map(|w| w["active_users"].clone())
            .unwrap_or(Value::Null);
        let last = usage
            .last()
            .map(|w| w["active_users"].clone())
            .unwrap_or(Value::Null);
        println!(
            "  {} ({}): active users {} -> {} over {} weeks, {} open tickets",
            account["name"].as_str().unwrap_or("?"),
            id,
            first,
            last,
            usage.len(),
            overview["open_tickets"].as_array().map_or(0, Vec::len)
        );
        let logged = client::call_ok(
            cs,
            "log_touchpoint",
            json!({"account_id": id, "subject": "Check-in booked to review falling usage", "request_id": "demo-touch-1"}),
        )
        .await?;
        println!(
            "  log_touchpoint: logged {}",
            logged["activity"]["id"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
