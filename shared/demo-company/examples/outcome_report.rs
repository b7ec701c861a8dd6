//! Seeds the demo company into a fresh SQLite file and prints its base rates (lead
//! statuses, conversion by engagement quartile, lifecycle stages, opportunity stages,
//! churn versus usage), to check that outcomes follow signals:
//! `cargo run -p demo-company --example outcome_report -- 1`.

#![allow(clippy::print_stdout)] // reason: a command-line tool printing for a person.

use sqlx::Row;
use store::{DatabaseLocation, Store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scale: u32 = std::env::args().nth(1).as_deref().unwrap_or("1").parse()?;
    let folder = std::env::temp_dir().join(format!("demo-company-report-{}", std::process::id()));
    std::fs::create_dir_all(&folder)?;
    let store = Store::open(&DatabaseLocation::SqliteFile(folder.join("revops.db"))).await?;
    let summary = demo_company::seed(&store, scale).await?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    let pool = store.pool();
    let queries = [
        (
            "lead status",
            "SELECT status AS k, COUNT(*) AS n FROM leads GROUP BY status ORDER BY status",
        ),
        (
            "account lifecycle",
            "SELECT lifecycle_stage AS k, COUNT(*) AS n FROM accounts GROUP BY lifecycle_stage ORDER BY 1",
        ),
        (
            "opportunity stage",
            "SELECT stage AS k, COUNT(*) AS n FROM opportunities GROUP BY stage ORDER BY 1",
        ),
        (
            "lead opportunity stage",
            "SELECT stage AS k, COUNT(*) AS n FROM opportunities WHERE lead_id IS NOT NULL GROUP BY stage ORDER BY 1",
        ),
        (
            "segment",
            "SELECT segment AS k, COUNT(*) AS n FROM accounts GROUP BY segment ORDER BY 1",
        ),
        (
            "plan tier",
            "SELECT plan_tier AS k, COUNT(*) AS n FROM accounts GROUP BY plan_tier ORDER BY 1",
        ),
        (
            "ticket priority",
            "SELECT priority AS k, COUNT(*) AS n FROM support_tickets GROUP BY priority ORDER BY 1",
        ),
        (
            "ticket status",
            "SELECT status AS k, COUNT(*) AS n FROM support_tickets GROUP BY status ORDER BY 1",
        ),
        (
            "lead source conversion % (x10)",
            "SELECT source AS k, CAST(1000.0 * SUM(CASE WHEN status = 'converted' THEN 1 ELSE 0 END) / COUNT(*) AS INTEGER) AS n FROM leads GROUP BY source ORDER BY 1",
        ),
        (
            "conversion % (x10) by engagement quartile",
            "SELECT q AS k, CAST(1000.0 * SUM(c) / COUNT(*) AS INTEGER) AS n FROM (SELECT NTILE(4) OVER (ORDER BY website_visits_30d + 10 * demo_requested + 3 * whitepaper_downloads + email_engagement_score / 5 + linkedin_engagement + 8 * free_trial_started, id) AS q, CASE WHEN status = 'converted' THEN 1 ELSE 0 END AS c FROM leads) GROUP BY q ORDER BY q",
        ),
        (
            "lead opp win % (x10) by email engagement quartile",
            "SELECT q AS k, CAST(1000.0 * SUM(w) / COUNT(*) AS INTEGER) AS n FROM (SELECT NTILE(4) OVER (ORDER BY l.email_engagement_score + 10 * l.demo_requested + l.website_visits_30d, o.id) AS q, CASE WHEN o.stage = 'closed_won' THEN 1 ELSE 0 END AS w FROM opportunities o JOIN leads l ON l.id = o.lead_id WHERE o.stage IN ('closed_won', 'closed_lost')) GROUP BY q ORDER BY q",
        ),
        (
            "lead opp win % (x10) by deal size quartile",
            "SELECT q AS k, CAST(1000.0 * SUM(w) / COUNT(*) AS INTEGER) AS n FROM (SELECT NTILE(4) OVER (ORDER BY o.amount_minor, o.id) AS q, CASE WHEN o.stage = 'closed_won' THEN 1 ELSE 0 END AS w FROM opportunities o WHERE o.lead_id IS NOT NULL AND o.stage IN ('closed_won', 'closed_lost')) GROUP BY q ORDER BY q",
        ),
        (
            "avg active users / seats (x1000) in last 4 snapshot weeks by lifecycle",
            "SELECT a.lifecycle_stage AS k, CAST(1000.0 * AVG(CAST(u.active_users AS REAL) / MAX(a.seats_purchased, 1)) AS INTEGER) AS n FROM usage_snapshots u JOIN accounts a ON a.id = u.account_id WHERE u.week_start >= (SELECT date(MAX(week_start), '-21 days') FROM usage_snapshots u2 WHERE u2.account_id = u.account_id) GROUP BY 1 ORDER BY 1",
        ),
        (
            "avg NPS (x10) by lifecycle",
            "SELECT a.lifecycle_stage AS k, CAST(10 * AVG(n.score) AS INTEGER) AS n FROM nps_responses n JOIN accounts a ON a.id = n.account_id GROUP BY 1 ORDER BY 1",
        ),
        (
            "tickets per customer (x10) by lifecycle",
            "SELECT a.lifecycle_stage AS k, CAST(10.0 * COUNT(t.id) / COUNT(DISTINCT a.id) AS INTEGER) AS n FROM accounts a LEFT JOIN support_tickets t ON t.account_id = a.id GROUP BY 1 ORDER BY 1",
        ),
        (
            "churn % (x10) by seat utilisation quartile (customers)",
            "SELECT q AS k, CAST(1000.0 * SUM(c) / COUNT(*) AS INTEGER) AS n FROM (SELECT NTILE(4) OVER (ORDER BY (SELECT AVG(CAST(u.seats_used AS REAL)) FROM usage_snapshots u WHERE u.account_id = a.id AND u.week_start < '2026-04-01') / MAX(a.seats_purchased, 1), a.id) AS q, CASE WHEN a.lifecycle_stage = 'churned' THEN 1 ELSE 0 END AS c FROM accounts a WHERE a.customer_since IS NOT NULL AND a.customer_since < '2025-11-01') GROUP BY q ORDER BY q",
        ),
    ];
    for (title, sql) in queries {
        let rows = sqlx::query(sql).fetch_all(pool).await?;
        let cells: Vec<String> = rows
            .iter()
            .map(|row| {
                let key = row
                    .try_get::<String, _>("k")
                    .or_else(|_| row.try_get::<i64, _>("k").map(|k| k.to_string()))
                    .unwrap_or_default();
                format!("{key}={}", row.try_get::<i64, _>("n").unwrap_or(-1))
            })
            .collect();
        println!("{title}: {}", cells.join("  "));
    }
    store.close().await;
    std::fs::remove_dir_all(&folder)?;
    Ok(())
}
