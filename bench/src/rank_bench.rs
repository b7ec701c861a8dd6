//! `revops-bench rank [--leads N] [--runs R]`: `rank_leads` over N stored leads (default
//! 100,000) through the sales server over stdio, against one plain scan of the leads table
//! through the same store (every column of every row decoded). Target: within 2x.
//!
//! The leads are the demo company's 500, copied with fresh ids and emails until there are N.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;

const LEAD_COLUMNS: &str = "first_name, last_name, company_name, domain, industry, employee_count, country, \
    title, source, status, owner, campaign_id, website_visits_30d, demo_requested, whitepaper_downloads, \
    email_engagement_score, linkedin_engagement, free_trial_started, converted_account_id, converted_at, created_at, updated_at";

async fn grow_leads(store: &store::Store, target: usize) -> anyhow::Result<usize> {
    let mut copy = 0;
    loop {
        let count = store::leads::count(store, &store::leads::LeadFilter::default()).await?;
        let count = usize::try_from(count)?;
        if count >= target {
            return Ok(count);
        }
        copy += 1;
        let room = target - count;
        let sql = format!(
            "INSERT INTO leads (id, email, {LEAD_COLUMNS}) SELECT 'lead_c{copy}' || substr(id, 6), 'c{copy}.' || email, \
             {LEAD_COLUMNS} FROM leads WHERE id NOT LIKE 'lead_c%' ORDER BY id LIMIT {room}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(store.pool())
            .await?;
    }
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

pub(crate) async fn run(args: &[String]) -> anyhow::Result<()> {
    let target = crate::flag(args, "--leads", 100_000);
    let runs = crate::flag(args, "--runs", 5).max(1);
    let folder = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", folder.path().join("rank.db").display());
    let store = store::Store::open(&store::DatabaseLocation::parse(&database_url)?).await?;
    demo_company::seed(&store, 1).await?;
    let leads = grow_leads(&store, target).await?;

    let mut scans = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let rows = store::leads::scan_all(&store).await?;
        scans.push(started.elapsed());
        if rows != leads as u64 {
            return Err(anyhow!("the scan saw {rows} of {leads} leads"));
        }
    }
    store.close().await;

    let transport = TokioChildProcess::new(crate::command(
        &crate::sibling("revops-sales")?,
        &database_url,
    ))?;
    let session = crate::client_config().serve(transport).await?;
    let request = CallToolRequestParams::new("rank_leads").with_arguments(
        serde_json::json!({"limit": 25})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    let mut ranks = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let result = session.call_tool(request.clone()).await?;
        ranks.push(started.elapsed());
        let matched = result
            .structured_content
            .as_ref()
            .and_then(|c| c["matched"].as_u64())
            .ok_or_else(|| anyhow!("rank_leads failed: {:?}", result.content))?;
        if matched != leads as u64 {
            return Err(anyhow!("rank_leads matched {matched} of {leads} leads"));
        }
    }
    session.cancel().await?;
    let (scan, rank) = (median(scans), median(ranks));
    println!("{leads} leads, SQLite, median of {runs} runs");
    println!(
        "plain scan of the leads table (all columns decoded): {:>8.1} ms",
        scan.as_secs_f64() * 1e3
    );
    println!(
        "rank_leads over stdio (score all, top 25, log 25):   {:>8.1} ms ({:.2}x the scan)",
        rank.as_secs_f64() * 1e3,
        rank.as_secs_f64() / scan.as_secs_f64()
    );
    Ok(())
}
