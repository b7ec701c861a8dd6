//! `revops-bench rank [--leads N] [--runs R]`: `rank_leads` over N stored leads (default
//! 100,000) through the sales server over stdio, against one plain scan of the leads table
//! through the same store (every column of every row decoded). Target: within 2x.
//!
//! `revops-bench rank --learnt [--leads N] [--runs R]`: `rank_leads` ranking by a learnt lead
//! model. The tool is timed on the rule-based v1 first, then a lead model is learnt from the
//! store's outcomes and activated with the real CLI (`revops model train --kind lead --json`,
//! `revops model activate --kind lead --version V`), and the tool is timed again on the same
//! running server: the first page and a later one (ranks 1001-1025, its cursor found by
//! walking pages of 200). The tool's ranking is private to the sales server, so it is timed
//! through the tool itself (the whole call over stdio: the scan, the learnt pass, the page,
//! the answer). Its learnt pass is then timed alone through the public code it uses, in this
//! process: `LearntModel::features_of_all` (every lead's features in one read) and
//! `SubjectFeatures::probability` for each lead into a best-26 heap.
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
    if args.iter().any(|a| a == "--learnt") {
        return run_learnt(args).await;
    }
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

/// Calls `rank_leads` with `arguments` and returns its structured answer, checking it ranked
/// every lead by `ranked_by`.
async fn rank_page(
    session: &rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig>,
    arguments: serde_json::Value,
    leads: usize,
    ranked_by: &str,
) -> anyhow::Result<serde_json::Value> {
    let serde_json::Value::Object(arguments) = arguments else {
        return Err(anyhow!("rank_leads arguments are an object"));
    };
    let result = session
        .call_tool(CallToolRequestParams::new("rank_leads").with_arguments(arguments))
        .await?;
    let page = result
        .structured_content
        .ok_or_else(|| anyhow!("rank_leads failed: {:?}", result.content))?;
    if page["matched"].as_u64() != Some(leads as u64) || page["ranked_by"] != ranked_by {
        return Err(anyhow!(
            "rank_leads answered matched {} ranked by {}, not {leads} by {ranked_by}",
            page["matched"],
            page["ranked_by"]
        ));
    }
    Ok(page)
}

/// The cursor after rank `rank` (a multiple of 200), found by walking pages of 200.
async fn cursor_after_rank(
    session: &rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig>,
    rank: usize,
    leads: usize,
    ranked_by: &str,
) -> anyhow::Result<String> {
    let mut cursor: Option<String> = None;
    for _ in 0..rank / 200 {
        let mut arguments = serde_json::json!({"limit": 200});
        if let Some(cursor) = &cursor {
            arguments["cursor"] = serde_json::json!(cursor);
        }
        let page = rank_page(session, arguments, leads, ranked_by).await?;
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    cursor.ok_or_else(|| anyhow!("fewer than {rank} leads to page through"))
}

/// Times `runs` calls of `rank_leads` with `arguments` after one untimed call, checking the
/// first item's rank; every run's time.
async fn time_pages(
    session: &rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig>,
    arguments: &serde_json::Value,
    first_rank: u64,
    leads: usize,
    ranked_by: &str,
    runs: usize,
) -> anyhow::Result<Vec<Duration>> {
    rank_page(session, arguments.clone(), leads, ranked_by).await?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let page = rank_page(session, arguments.clone(), leads, ranked_by).await?;
        times.push(started.elapsed());
        if page["items"][0]["rank"].as_u64() != Some(first_rank) {
            return Err(anyhow!(
                "the page starts at rank {}, not {first_rank}",
                page["items"][0]["rank"]
            ));
        }
        if ranked_by.starts_with("learnt") && page["items"][0]["learnt_probability"].is_null() {
            return Err(anyhow!("a learnt ranking gave no learnt_probability"));
        }
    }
    Ok(times)
}

/// Runs `revops` with `args` on the database; its standard output.
async fn revops_cli(database_url: &str, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let output = tokio::process::Command::new(crate::sibling("revops")?)
        .args(args)
        .env("REVOPS_DATABASE_URL", database_url)
        .env("REVOPS_CONFIG", "none")
        .env("REVOPS_LOG", "error")
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "revops {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}

/// One line of the report: the median run and the fastest (the machine is shared, so the
/// fastest is the closer estimate of the work itself).
fn report_line(what: &str, leads: usize, times: Vec<Duration>) {
    let best = times.iter().min().copied().unwrap_or_default();
    let time = median(times);
    println!(
        "{what:<58} {:>8.1} ms/call {:>9.0} leads/s   (fastest {:>8.1} ms, {:>9.0} leads/s)",
        time.as_secs_f64() * 1e3,
        leads as f64 / time.as_secs_f64(),
        best.as_secs_f64() * 1e3,
        leads as f64 / best.as_secs_f64()
    );
}

async fn run_learnt(args: &[String]) -> anyhow::Result<()> {
    let target = crate::flag(args, "--leads", 100_000);
    let runs = crate::flag(args, "--runs", 5).max(1);
    let folder = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", folder.path().join("rank.db").display());
    let store = store::Store::open(&store::DatabaseLocation::parse(&database_url)?).await?;
    demo_company::seed(&store, 1).await?;
    let leads = grow_leads(&store, target).await?;
    store.close().await;

    let transport = TokioChildProcess::new(crate::command(
        &crate::sibling("revops-sales")?,
        &database_url,
    ))?;
    let session = crate::client_config().serve(transport).await?;
    let first = serde_json::json!({"limit": 25});
    let v1 = "rule-based v1";
    let v1_first = time_pages(&session, &first, 1, leads, v1, runs).await?;
    let v1_cursor = cursor_after_rank(&session, 1000, leads, v1).await?;
    let v1_later = time_pages(
        &session,
        &serde_json::json!({"limit": 25, "cursor": v1_cursor}),
        1001,
        leads,
        v1,
        runs,
    )
    .await?;

    let started = Instant::now();
    let trained = revops_cli(
        &database_url,
        &["model", "train", "--kind", "lead", "--json"],
    )
    .await?;
    let training = started.elapsed();
    let report: serde_json::Value = serde_json::from_slice(&trained)?;
    let version = report["version"]
        .as_i64()
        .ok_or_else(|| anyhow!("revops model train gave no version: {report}"))?;
    revops_cli(
        &database_url,
        &[
            "model",
            "activate",
            "--kind",
            "lead",
            "--version",
            &version.to_string(),
        ],
    )
    .await?;
    let learnt = format!("learnt v{version}");
    let learnt_first = time_pages(&session, &first, 1, leads, &learnt, runs).await?;
    let learnt_cursor = cursor_after_rank(&session, 1000, leads, &learnt).await?;
    let learnt_later = time_pages(
        &session,
        &serde_json::json!({"limit": 25, "cursor": learnt_cursor}),
        1001,
        leads,
        &learnt,
        runs,
    )
    .await?;
    session.cancel().await?;

    // The learnt pass alone, through the public code rank_leads runs for it.
    let store = store::Store::connect(&store::DatabaseLocation::parse(&database_url)?).await?;
    let (meta, params) = store::models::get_version(&store, "lead", version).await?;
    let model = std::sync::Arc::new(mcp_runtime::learnt::LearntModel {
        name: meta.name,
        kind: "lead".into(),
        version,
        learnt_from: meta.learnt_from,
        model: serde_json::from_str(&params)?,
    });
    let trees = model.model.gbm.trees.len();
    let mut reads = Vec::with_capacity(runs);
    let mut predictions = Vec::with_capacity(runs);
    let mut checksum = 0.0;
    for _ in 0..runs {
        let started = Instant::now();
        let features = model.features_of_all(&store).await?;
        reads.push(started.elapsed());
        if features.len() != leads {
            return Err(anyhow!(
                "features_of_all read {} of {leads} leads",
                features.len()
            ));
        }
        let started = Instant::now();
        let mut best: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>> =
            std::collections::BinaryHeap::with_capacity(27);
        for row in 0..features.len() {
            // Probabilities are in 0-1, so their bits order as the numbers do.
            let key = std::cmp::Reverse((features.probability(row).to_bits(), row));
            if best.len() < 26 {
                best.push(key);
            } else if best.peek().is_some_and(|worst| key < *worst) {
                best.pop();
                best.push(key);
            }
        }
        predictions.push(started.elapsed());
        checksum += best
            .iter()
            .map(|std::cmp::Reverse((bits, _))| f64::from_bits(*bits))
            .sum::<f64>();
    }
    // For comparison (not the tool's code): the same cells read with every feature cast to
    // TEXT in SQL, so each cell is decoded once, as text.
    let names = store::model_features::feature_names("lead");
    let sql = format!(
        "SELECT id, {} FROM leads ORDER BY id",
        names
            .iter()
            .map(|n| format!("CAST({n} AS TEXT) AS {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut casts = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let mut columns: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(leads); names.len()];
        let mut ids: Vec<String> = Vec::with_capacity(leads);
        // Rows fetched whole (the bench has no stream trait to hand), then decoded.
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(store.pool())
            .await?;
        for row in &rows {
            ids.push(sqlx::Row::try_get(row, 0)?);
            for (i, column) in columns.iter_mut().enumerate() {
                column.push(sqlx::Row::try_get(row, i + 1)?);
            }
        }
        casts.push(started.elapsed());
        if ids.len() != leads {
            return Err(anyhow!("the cast read saw {} of {leads} leads", ids.len()));
        }
    }
    store.close().await;
    let (read, predict, cast) = (reads, predictions, casts);

    println!(
        "{leads} leads, SQLite, one revops-sales over stdio, median of {runs} calls after one untimed call"
    );
    println!(
        "lead model v{version} learnt by `revops model train --kind lead --json` in {:.1} s: {} rows, {} features, {} trees, CV AUC {:.3}",
        training.as_secs_f64(),
        report["n_rows"],
        report["n_features"],
        trees,
        report["auc"].as_f64().unwrap_or(f64::NAN)
    );
    report_line(
        "rank_leads, rule-based v1, first page (25)",
        leads,
        v1_first,
    );
    report_line(
        "rank_leads, rule-based v1, ranks 1001-1025",
        leads,
        v1_later,
    );
    report_line(
        &format!("rank_leads, learnt v{version}, first page (25)"),
        leads,
        learnt_first,
    );
    report_line(
        &format!("rank_leads, learnt v{version}, ranks 1001-1025"),
        leads,
        learnt_later,
    );
    println!("its learnt pass alone, in process (checksum {checksum:.3}):");
    report_line(
        "  LearntModel::features_of_all (read every lead)",
        leads,
        read,
    );
    report_line(
        "  SubjectFeatures::probability for each, best 26 kept",
        leads,
        predict,
    );
    report_line(
        "for comparison: the same cells read cast to TEXT in SQL",
        leads,
        cast,
    );
    Ok(())
}
