//! Toolsets as a deployment uses them: every tool is in exactly one group, `--toolsets`
//! offers only the chosen groups (plus the shared tools), read-only mode composes with it,
//! a misspelt group stops the server with the names there are, and the selection can come
//! from the config file `revops setup` writes.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use mcp_runtime::TeamServer;
use mcp_runtime::toolsets::{CORE_TOOLS, Toolset, coverage_problems};
use revops::client::{self, Handshake, Session};
use util::*;

async fn session_with(db: &SeededDatabase, binary_name: &str, extra: &[(&str, &str)]) -> Session {
    let mut env = server_env(db, "admin");
    env.extend(extra.iter().copied());
    client::spawn_stdio(&binary(binary_name), &env, &Handshake::claude_desktop())
        .await
        .unwrap()
}

async fn tool_names(session: &Session) -> Vec<String> {
    let mut names: Vec<String> = session
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

fn toolsets_of(binary_name: &str) -> &'static [Toolset] {
    match binary_name {
        "revops-sales" => sales::SalesServer::TOOLSETS,
        "revops-marketing" => marketing::MarketingServer::TOOLSETS,
        _ => cs::CsServer::TOOLSETS,
    }
}

#[tokio::test]
async fn every_tool_of_every_server_is_in_exactly_one_toolset() {
    let db = seeded_sqlite().await;
    for name in ["revops-sales", "revops-marketing", "revops-cs"] {
        let session = session_with(&db, name, &[]).await;
        let tools = tool_names(&session).await;
        let problems = coverage_problems(toolsets_of(name), &tools);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        session.cancel().await.unwrap();
    }
    // Names are unique across the servers, so one list serves `revops serve all`.
    let mut all: Vec<&str> = ["revops-sales", "revops-marketing", "revops-cs"]
        .iter()
        .flat_map(|b| toolsets_of(b).iter().map(|s| s.name))
        .collect();
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "a toolset name is used twice");
}

#[tokio::test]
async fn a_toolset_selection_offers_only_those_groups_and_the_shared_tools() {
    let db = seeded_sqlite().await;
    let session = session_with(
        &db,
        "revops-sales",
        &[("REVOPS_TOOLSETS", "scoring, pipeline")],
    )
    .await;
    let tools = tool_names(&session).await;
    let mut expected: Vec<String> = toolsets_of("revops-sales")
        .iter()
        .filter(|s| s.name == "scoring" || s.name == "pipeline")
        .flat_map(|s| s.tools.iter().map(|t| t.to_string()))
        .chain(CORE_TOOLS.iter().map(|t| t.to_string()))
        .collect();
    expected.sort();
    assert_eq!(tools, expected);

    // A tool outside the selection is not there to call, and the server keeps serving.
    let hidden = client::call(
        &session,
        "create_lead",
        serde_json::json!({"company_name": "Acme"}),
    )
    .await;
    assert!(hidden.unwrap_err().to_string().contains("unknown tool"));
    client::call_ok(
        &session,
        "score_lead",
        serde_json::json!({"lead_id": "lead_000001"}),
    )
    .await
    .unwrap();
    session.cancel().await.unwrap();

    // Read-only composes: of the chosen groups, only the reads.
    let read_only = session_with(
        &db,
        "revops-sales",
        &[
            ("REVOPS_TOOLSETS", "pipeline"),
            ("REVOPS_READ_ONLY", "true"),
        ],
    )
    .await;
    let tools = tool_names(&read_only).await;
    assert!(tools.contains(&"pipeline_summary".to_string()));
    assert!(
        !tools.contains(&"create_opportunity".to_string()),
        "{tools:?}"
    );
    assert!(!tools.contains(&"score_lead".to_string()));
    read_only.cancel().await.unwrap();
}

#[tokio::test]
async fn a_misspelt_toolset_stops_the_server_with_the_names_there_are() {
    let db = seeded_sqlite().await;
    let output = std::process::Command::new(binary("revops-cs"))
        .args(["--toolsets", "health,tickts"])
        .envs(server_env(&db, "rep"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown toolset \"tickts\""), "{stderr}");
    assert!(stderr.contains("cs: health, insight"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing but MCP on stdout");
}

#[tokio::test]
async fn settings_come_from_the_config_file_and_the_environment_wins() {
    let db = seeded_sqlite().await;
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "format": 1,
            "teams": ["marketing"],
            "settings": {
                "REVOPS_DATABASE_URL": db.url,
                "REVOPS_ACTOR": "from-the-file",
                "REVOPS_ROLE": "viewer",
                "REVOPS_TOOLSETS": "analytics"
            }
        })
        .to_string(),
    )
    .unwrap();
    let config = config.display().to_string();
    // Only the config file names the database, the actor and the toolsets.
    let env = [
        ("REVOPS_CONFIG", config.as_str()),
        ("REVOPS_LOG", "warn"),
        ("REVOPS_ROLE", "manager"),
    ];
    let session = client::spawn_stdio(
        &binary("revops-marketing"),
        &env,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    let info = client::call_ok(&session, "server_info", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(info["actor"]["name"], "from-the-file", "{info}");
    assert_eq!(info["actor"]["role"], "manager", "the environment wins");
    assert_eq!(info["toolsets"], serde_json::json!(["analytics"]));
    assert!(
        info["record_counts"]["campaigns"].as_i64().unwrap() > 0,
        "{info}"
    );
    let tools = tool_names(&session).await;
    assert!(tools.contains(&"funnel_analysis".to_string()));
    assert!(!tools.contains(&"create_campaign".to_string()), "{tools:?}");
    session.cancel().await.unwrap();

    // A broken file stops the server and says which file and why.
    std::fs::write(
        &config,
        "{\"format\": 1, \"settings\": {\"REVOPS_ROLE\": 7}}",
    )
    .unwrap();
    let output = std::process::Command::new(binary("revops-marketing"))
        .env("REVOPS_CONFIG", &config)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&config) && stderr.contains("not valid"),
        "{stderr}"
    );
}
