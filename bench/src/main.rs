//! `revops-bench`: measures each server binary side by side with a bare rmcp stdio server:
//! cold start (spawn to `initialize` response, median of 20), stdio round trip of a read tool
//! (p50 and p99 of 10,000 calls), and idle resident memory after the handshake.
//!
//! Run: `cargo build --release --workspace && target/release/revops-bench`
//! (`--calls N` and `--starts N` change the counts). `revops-bench audit [--postgres URL]`
//! measures the audit log instead (see `audit_bench`); `revops-bench rank [--leads N]`
//! measures `rank_leads` against a plain scan of the leads table, and with `--learnt` ranking
//! by a lead model learnt and activated through the CLI (see `rank_bench`);
//! `revops-bench model [--rows N]` measures the learnt models (see `model_bench`);
//! `revops-bench marketing [--touches N]` measures attribution and the funnel over N touches
//! (see `marketing_bench`); `revops-bench at-risk [--accounts N]` measures
//! `list_at_risk_accounts` over N accounts with a year of usage (see `health_bench`).
#![allow(clippy::print_stdout, reason = "a benchmark command prints its report")]

mod audit_bench;
mod health_bench;
mod marketing_bench;
mod model_bench;
mod rank_bench;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::transport::TokioChildProcess;

struct Subject {
    name: &'static str,
    binary: PathBuf,
    tool: &'static str,
    arguments: serde_json::Value,
}

struct Figures {
    cold_start_median: Duration,
    round_trip_p50: Duration,
    round_trip_p99: Duration,
    idle_rss_kib: u64,
}

pub(crate) fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .ok_or_else(|| anyhow!("no parent folder"))?
        .join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(anyhow!(
            "{} is missing: run `cargo build --release --workspace` first",
            path.display()
        ))
    }
}

fn client_config() -> ClientConfig {
    let mut config = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("revops-bench", "1"),
    );
    config.protocol_version = ProtocolVersion::V_2025_06_18;
    config
}

fn command(binary: &Path, database_url: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    command
        .env("REVOPS_DATABASE_URL", database_url)
        .env("REVOPS_CONFIG", "none")
        .env("REVOPS_LOG", "warn");
    command
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading /proc (Linux only)")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for {pid}"))
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn measure(
    subject: &Subject,
    database_url: &str,
    starts: usize,
    calls: usize,
) -> anyhow::Result<Figures> {
    let mut cold_starts = Vec::with_capacity(starts);
    for _ in 0..starts {
        let started = Instant::now();
        let transport = TokioChildProcess::new(command(&subject.binary, database_url))?;
        let session = client_config().serve(transport).await?;
        cold_starts.push(started.elapsed());
        session.cancel().await?;
    }
    cold_starts.sort();

    let transport = TokioChildProcess::new(command(&subject.binary, database_url))?;
    let pid = transport.id().ok_or_else(|| anyhow!("no pid"))?;
    let session = client_config().serve(transport).await?;
    let serde_json::Value::Object(arguments) = subject.arguments.clone() else {
        return Err(anyhow!("arguments"));
    };
    let request = CallToolRequestParams::new(subject.tool).with_arguments(arguments);
    for _ in 0..200 {
        session.call_tool(request.clone()).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss_kib = rss_kib(pid)?;
    let mut round_trips = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let result = session.call_tool(request.clone()).await?;
        round_trips.push(started.elapsed());
        if result.is_error == Some(true) {
            return Err(anyhow!(
                "{} {} failed: {:?}",
                subject.name,
                subject.tool,
                result.content
            ));
        }
    }
    session.cancel().await?;
    round_trips.sort();
    Ok(Figures {
        cold_start_median: percentile(&cold_starts, 0.5),
        round_trip_p50: percentile(&round_trips, 0.5),
        round_trip_p99: percentile(&round_trips, 0.99),
        idle_rss_kib,
    })
}

pub(crate) fn flag(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("audit") => return audit_bench::run(&args).await,
        Some("rank") => return rank_bench::run(&args).await,
        Some("model") => return model_bench::run(&args).await,
        Some("marketing") => return marketing_bench::run(&args).await,
        Some("at-risk") => return health_bench::run(&args).await,
        _ => {}
    }
    let starts = flag(&args, "--starts", 20);
    let calls = flag(&args, "--calls", 10_000);

    let folder = tempfile::tempdir()?;
    let database_url = format!("sqlite://{}", folder.path().join("bench.db").display());
    let store = store::Store::open(&store::DatabaseLocation::parse(&database_url)?).await?;
    demo_company::seed(&store, 1).await?;
    store.close().await;

    let subjects = [
        Subject {
            name: "bare rmcp (baseline)",
            binary: sibling("bare-rmcp-server")?,
            tool: "echo",
            arguments: serde_json::json!({"text": "hello"}),
        },
        Subject {
            name: "revops-sales",
            binary: sibling("revops-sales")?,
            tool: "get_lead",
            arguments: serde_json::json!({"lead_id": "lead_000042"}),
        },
        Subject {
            name: "revops-sales",
            binary: sibling("revops-sales")?,
            tool: "score_lead",
            arguments: serde_json::json!({"lead_id": "lead_000042"}),
        },
        Subject {
            name: "revops-sales",
            binary: sibling("revops-sales")?,
            tool: "score_lead",
            arguments: serde_json::json!({"company_name": "Acme", "industry": "technology", "employee_count": 500,
                "signals": {"website_visits_30d": 50, "demo_requested": true, "email_engagement_score": 90}}),
        },
        Subject {
            name: "revops-marketing",
            binary: sibling("revops-marketing")?,
            tool: "get_campaign",
            arguments: serde_json::json!({"campaign_id": "cmp_000007"}),
        },
        Subject {
            name: "revops-cs",
            binary: sibling("revops-cs")?,
            tool: "list_tickets",
            arguments: serde_json::json!({"account_id": "acc_000042", "limit": 5}),
        },
    ];
    println!(
        "{starts} cold starts and {calls} stdio round trips per server, SQLite demo company (scale 1)\n"
    );
    println!(
        "{:<22} {:>14} {:>12} {:>12} {:>12}   tool",
        "server", "cold start p50", "call p50", "call p99", "idle RSS"
    );
    let mut baseline: Option<Figures> = None;
    for subject in &subjects {
        let figures = measure(subject, &database_url, starts, calls).await?;
        let ratio = |ours: Duration, base: fn(&Figures) -> Duration| {
            baseline.as_ref().map_or(String::new(), |b| {
                format!(" ({:.1}x)", ours.as_secs_f64() / base(b).as_secs_f64())
            })
        };
        println!(
            "{:<22} {:>8.2} ms{:<7} {:>6.1} µs{:<7} {:>6.1} µs{:<7} {:>6.1} MiB   {}",
            subject.name,
            figures.cold_start_median.as_secs_f64() * 1e3,
            ratio(figures.cold_start_median, |b| b.cold_start_median),
            figures.round_trip_p50.as_secs_f64() * 1e6,
            ratio(figures.round_trip_p50, |b| b.round_trip_p50),
            figures.round_trip_p99.as_secs_f64() * 1e6,
            ratio(figures.round_trip_p99, |b| b.round_trip_p99),
            figures.idle_rss_kib as f64 / 1024.0,
            subject.tool,
        );
        if baseline.is_none() {
            baseline = Some(figures);
        }
    }
    Ok(())
}
