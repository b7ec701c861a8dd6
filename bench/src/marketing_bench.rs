//! `revops-bench marketing [--touches N] [--runs R]`: `attribution_report` (all five models)
//! and `funnel_analysis` through the marketing server over stdio, on N marketing touches
//! (default 1,000,000), against one plain scan of the touches table through the same store
//! (every column of every row decoded). Target: each within 2x the scan.
//!
//! The touches are the demo company's touches of leads that won a deal, copied with fresh
//! ids until there are N, so nearly every touch precedes a won deal's close and attribution
//! has to credit all of them (the worst case, not the demo's mix).

use std::time::{Duration, Instant};

use anyhow::anyhow;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;

async fn count_touches(store: &store::Store) -> anyhow::Result<usize> {
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM marketing_touches")
        .fetch_one(store.pool())
        .await?;
    Ok(usize::try_from(count)?)
}

/// Copies touches of won leads (set-based `INSERT … SELECT`) until there are `target`.
async fn grow_touches(store: &store::Store, target: usize) -> anyhow::Result<usize> {
    let mut copy = 0;
    loop {
        let count = count_touches(store).await?;
        if count >= target {
            return Ok(count);
        }
        copy += 1;
        let room = target - count;
        let sql = format!(
            "INSERT INTO marketing_touches (id, campaign_id, lead_id, touch_type, occurred_at) \
             SELECT 'tch_c{copy}' || substr(t.id, 5), t.campaign_id, t.lead_id, t.touch_type, t.occurred_at \
             FROM marketing_touches t WHERE t.id NOT LIKE 'tch_c%' AND EXISTS (SELECT 1 FROM opportunities o \
             WHERE o.lead_id = t.lead_id AND o.stage = 'closed_won') ORDER BY t.id LIMIT {room}"
        );
        let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(store.pool())
            .await?
            .rows_affected();
        if inserted == 0 {
            return Err(anyhow!(
                "the demo company has no touches of won leads to copy"
            ));
        }
    }
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

pub(crate) async fn run(args: &[String]) -> anyhow::Result<()> {
    let target = crate::flag(args, "--touches", 1_000_000);
    let runs = crate::flag(args, "--runs", 5).max(1);
    let folder = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", folder.path().join("marketing.db").display());
    let store = store::Store::open(&store::DatabaseLocation::parse(&database_url)?).await?;
    demo_company::seed(&store, 1).await?;
    let touches = grow_touches(&store, target).await?;
    sqlx::query("ANALYZE").execute(store.pool()).await?;

    let mut scans = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let rows = store::attribution::scan_touches(&store).await?;
        scans.push(started.elapsed());
        if rows != touches as u64 {
            return Err(anyhow!("the scan saw {rows} of {touches} touches"));
        }
    }
    store.close().await;

    let transport = TokioChildProcess::new(crate::command(
        &crate::sibling("revops-marketing")?,
        &database_url,
    ))?;
    let session = crate::client_config().serve(transport).await?;
    let call = |tool: &str, arguments: serde_json::Value| {
        CallToolRequestParams::new(tool.to_string())
            .with_arguments(arguments.as_object().cloned().unwrap_or_default())
    };

    let attribution = call("attribution_report", serde_json::json!({}));
    let mut attributions = Vec::with_capacity(runs);
    let mut credited = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let result = session.call_tool(attribution.clone()).await?;
        attributions.push(started.elapsed());
        credited = result
            .structured_content
            .as_ref()
            .and_then(|c| c["touches"].as_u64())
            .ok_or_else(|| anyhow!("attribution_report failed: {:?}", result.content))?;
    }

    let funnel = call(
        "funnel_analysis",
        serde_json::json!({"group_by": "channel"}),
    );
    let mut funnels = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let result = session.call_tool(funnel.clone()).await?;
        funnels.push(started.elapsed());
        result
            .structured_content
            .as_ref()
            .and_then(|c| c["groups"].as_array().map(Vec::len))
            .filter(|groups| *groups > 0)
            .ok_or_else(|| anyhow!("funnel_analysis failed: {:?}", result.content))?;
    }
    session.cancel().await?;

    let (scan, attribution, funnel) = (median(scans), median(attributions), median(funnels));
    println!("{touches} marketing touches, SQLite, median of {runs} runs");
    println!(
        "plain scan of the touches table (all columns decoded):      {:>8.1} ms",
        scan.as_secs_f64() * 1e3
    );
    println!(
        "attribution_report over stdio (5 models, {credited} touches): {:>8.1} ms ({:.2}x the scan)",
        attribution.as_secs_f64() * 1e3,
        attribution.as_secs_f64() / scan.as_secs_f64()
    );
    println!(
        "funnel_analysis over stdio (by channel):                    {:>8.1} ms ({:.2}x the scan)",
        funnel.as_secs_f64() * 1e3,
        funnel.as_secs_f64() / scan.as_secs_f64()
    );
    Ok(())
}
