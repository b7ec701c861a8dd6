//! `revops-bench at-risk [--accounts N] [--runs R]`: `list_at_risk_accounts` over N accounts
//! (default 100,000), each with 52 weeks of usage, through the customer-success server over
//! stdio, against one plain scan of the usage table through the same SQLite file (every
//! column of every row decoded). Target: under 2x.
//!
//! The accounts and their usage are made in the database with set-based `INSERT .. SELECT`
//! over recursive CTEs (no row-by-row inserts): every tenth account is `at_risk` with usage
//! falling over its last 8 weeks, the rest steady with deterministic noise.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;

async fn make_accounts(store: &store::Store, accounts: usize) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT INTO accounts (id, name, industry, employee_count, country, plan_tier, lifecycle_stage, segment, \
         mrr_minor, currency, seats_purchased, csm_owner, customer_since, created_at, updated_at) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {accounts}) \
         SELECT printf('acc_b%07d', i), 'Bench Account ' || i, 'saas', 20 + i % 900, 'US', \
           CASE i % 3 WHEN 0 THEN 'starter' WHEN 1 THEN 'growth' ELSE 'enterprise' END, \
           CASE WHEN i % 10 = 0 THEN 'at_risk' ELSE 'active' END, \
           CASE WHEN 20 + i % 900 < 200 THEN 'smb' ELSE 'mid_market' END, \
           (10 + i % 90) * 4500, 'USD', 10 + i % 90, 'Bench CSM', \
           '2024-01-01T00:00:00.000000Z', '2023-12-01T00:00:00.000000Z', '2023-12-01T00:00:00.000000Z' \
         FROM n"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(store.pool())
        .await?;
    // 52 Mondays from 2025-11-17; rows inserted in (account, week) order like the demo's.
    let usage = "INSERT INTO usage_snapshots (account_id, week_start, active_users, seats_used, logins, \
         feature_events, premium_feature_events) \
         WITH RECURSIVE w(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM w WHERE k < 51), \
         u AS (SELECT a.id AS id, k, a.seats_purchased AS seats, \
                 a.seats_purchased * (60 + (a.rowid * 7 + k * 13) % 30) \
                   * (CASE WHEN a.lifecycle_stage = 'at_risk' AND k > 43 THEN 100 - (k - 43) * 9 ELSE 100 END) \
                   / 10000 AS active \
               FROM accounts a, w) \
         SELECT id, date('2025-11-17', '+' || (k * 7) || ' days'), active, seats * 85 / 100 + 1, active * 3, \
           active * 22, active / 2 FROM u ORDER BY id, k";
    sqlx::query(usage).execute(store.pool()).await?;
    Ok(())
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

pub(crate) async fn run(args: &[String]) -> anyhow::Result<()> {
    let accounts = crate::flag(args, "--accounts", 100_000);
    let runs = crate::flag(args, "--runs", 5).max(1);
    let folder = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", folder.path().join("at-risk.db").display());
    let store = store::Store::open(&store::DatabaseLocation::parse(&database_url)?).await?;
    let made = Instant::now();
    make_accounts(&store, accounts).await?;
    let expected_rows = accounts as u64 * 52;
    eprintln!(
        "made {accounts} accounts and {expected_rows} usage weeks in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    let mut scans = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let rows = store::health::scan_usage(&store).await?;
        scans.push(started.elapsed());
        if rows != expected_rows {
            return Err(anyhow!(
                "the scan saw {rows} of {expected_rows} usage weeks"
            ));
        }
    }
    store.close().await;

    let transport =
        TokioChildProcess::new(crate::command(&crate::sibling("revops-cs")?, &database_url))?;
    let session = crate::client_config().serve(transport).await?;
    let request = CallToolRequestParams::new("list_at_risk_accounts").with_arguments(
        serde_json::json!({"limit": 25})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    let mut lists = Vec::with_capacity(runs);
    let mut matched = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let result = session.call_tool(request.clone()).await?;
        lists.push(started.elapsed());
        let content = result
            .structured_content
            .as_ref()
            .ok_or_else(|| anyhow!("list_at_risk_accounts failed: {:?}", result.content))?;
        let scored = content["scored"].as_u64().unwrap_or(0);
        if scored != accounts as u64 {
            return Err(anyhow!(
                "list_at_risk_accounts scored {scored} of {accounts} accounts"
            ));
        }
        matched = content["matched"].as_u64().unwrap_or(0);
    }
    session.cancel().await?;
    let (scan, list) = (median(scans), median(lists));
    println!(
        "{accounts} accounts x 52 weeks = {expected_rows} usage rows, SQLite, median of {runs} runs"
    );
    println!(
        "plain scan of usage_snapshots (all columns decoded):      {:>8.1} ms",
        scan.as_secs_f64() * 1e3
    );
    println!(
        "list_at_risk_accounts over stdio (score all, page of 25): {:>8.1} ms ({:.2}x the scan; {matched} at risk >= 50)",
        list.as_secs_f64() * 1e3,
        list.as_secs_f64() / scan.as_secs_f64()
    );
    Ok(())
}
