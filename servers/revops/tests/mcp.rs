//! Integration tests: the built server binaries, driven by a real MCP client (rmcp) over
//! stdio and streamable HTTP, on SQLite and (when `REVOPS_TEST_POSTGRES_URL` is set) Postgres.
#![allow(clippy::unwrap_used, clippy::print_stdout, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "the tests probe the suite's own HTTP server directly, not an upstream"
)]

mod util;

use revops::client::{self, Handshake};
use serde_json::json;
use util::*;

#[tokio::test]
async fn each_server_answers_claude_desktops_handshake_with_tools_resources_and_templates() {
    let db = seeded_sqlite().await;
    for (team, path) in server_binaries() {
        let session = stdio_session(&path, &db).await;
        let info = session.peer_info().unwrap();
        assert_eq!(info.protocol_version.to_string(), "2025-06-18");
        assert_eq!(
            info.server_info.as_ref().unwrap().name,
            format!("revops-{team}")
        );

        let tools = session.list_all_tools().await.unwrap();
        assert!(
            tools.iter().any(|t| t.name == "server_info"),
            "{team} has server_info"
        );
        for tool in &tools {
            let annotations = tool
                .annotations
                .as_ref()
                .unwrap_or_else(|| panic!("{} has annotations", tool.name));
            assert!(
                annotations.read_only_hint.is_some(),
                "{} declares readOnlyHint",
                tool.name
            );
            assert!(
                annotations.destructive_hint.is_some(),
                "{} declares destructiveHint",
                tool.name
            );
            assert!(
                annotations.idempotent_hint.is_some(),
                "{} declares idempotentHint",
                tool.name
            );
            assert!(
                annotations.open_world_hint.is_some(),
                "{} declares openWorldHint",
                tool.name
            );
            assert!(
                tool.description.as_ref().is_some_and(|d| d.len() > 60),
                "{} is described",
                tool.name
            );
            assert!(
                tool.output_schema.is_some(),
                "{} declares its output schema",
                tool.name
            );
            if annotations.destructive_hint == Some(true) {
                // Destructive tools are gated: they take a confirm_token and answer a preview.
                let input = serde_json::to_value(&*tool.input_schema).unwrap();
                assert!(
                    input["properties"]["confirm_token"].is_object(),
                    "{} is gated",
                    tool.name
                );
                let output = serde_json::to_value(tool.output_schema.as_deref().unwrap()).unwrap();
                assert!(
                    output["properties"]["confirmation"].is_object(),
                    "{} previews",
                    tool.name
                );
            }
        }

        let resources = session.list_all_resources().await.unwrap();
        assert!(!resources.is_empty(), "{team} lists resources");
        let templates = session.list_all_resource_templates().await.unwrap();
        assert!(!templates.is_empty(), "{team} lists resource templates");
        let fixed = client::read_json(&session, &resources[0].uri)
            .await
            .unwrap();
        assert!(fixed.is_array() || fixed.is_object());

        let server_info = client::call_ok(&session, "server_info", json!({}))
            .await
            .unwrap();
        assert_eq!(server_info["store_backend"], "sqlite");
        assert_eq!(
            server_info["migration_level"],
            server_info["known_migration_level"]
        );
        assert_eq!(server_info["record_counts"]["leads"], 500);
        session.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn the_newest_protocol_version_works_without_an_initialize_handshake() {
    let db = seeded_sqlite().await;
    let session = client::spawn_stdio(
        &binary("revops-sales"),
        &server_env(&db, "rep"),
        &Handshake::Discover,
    )
    .await
    .unwrap();
    let lead = client::call_ok(&session, "get_lead", json!({"lead_id": "lead_000001"}))
        .await
        .unwrap();
    assert_eq!(lead["id"], "lead_000001");
    let account = client::read_json(&session, "crm://accounts/acc_000001")
        .await
        .unwrap();
    assert_eq!(account["account"]["id"], "acc_000001");
    session.cancel().await.unwrap();
}

#[tokio::test]
async fn read_tools_answer_with_structured_content_from_the_store() {
    let db = seeded_sqlite().await;
    let sales = stdio_session(&binary("revops-sales"), &db).await;
    let account = client::call_ok(&sales, "get_account", json!({"account_id": "acc_000001"}))
        .await
        .unwrap();
    assert_eq!(account["account"]["id"], "acc_000001");
    assert!(account["contacts"].as_array().unwrap().len() >= 2);

    let first = client::call_ok(&sales, "list_leads", json!({"limit": 200}))
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = client::call_ok(
        &sales,
        "list_leads",
        json!({"limit": 200, "cursor": cursor}),
    )
    .await
    .unwrap();
    let third = client::call_ok(
        &sales,
        "list_leads",
        json!({"limit": 200, "cursor": second["next_cursor"]}),
    )
    .await
    .unwrap();
    let total = [&first, &second, &third]
        .iter()
        .map(|p| p["items"].as_array().unwrap().len())
        .sum::<usize>();
    assert_eq!(total, 500, "paging visits every lead once");
    assert!(third["next_cursor"].is_null());

    let pipeline = client::call_ok(&sales, "pipeline_summary", json!({}))
        .await
        .unwrap();
    let deals: i64 = pipeline["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["deals"].as_i64().unwrap())
        .sum();
    assert!(deals >= 300);

    let marketing = stdio_session(&binary("revops-marketing"), &db).await;
    let campaigns = client::call_ok(&marketing, "list_campaigns", json!({"limit": 100}))
        .await
        .unwrap();
    let campaigns = campaigns["items"].as_array().unwrap();
    assert_eq!(campaigns.len(), 40);
    for campaign in campaigns {
        assert!(
            campaign["spent_minor"].as_i64().unwrap()
                <= campaign["budget_lifetime_minor"].as_i64().unwrap()
        );
    }

    let cs = stdio_session(&binary("revops-cs"), &db).await;
    let overview = client::call_ok(
        &cs,
        "get_account_overview",
        json!({"account_id": "acc_000001", "weeks": 12}),
    )
    .await
    .unwrap();
    assert!(!overview["usage"].as_array().unwrap().is_empty());
    for session in [sales, marketing, cs] {
        session.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn bad_arguments_get_errors_that_say_what_to_change_and_the_server_keeps_serving() {
    let db = seeded_sqlite().await;
    let sales = stdio_session(&binary("revops-sales"), &db).await;
    let cases = [
        ("get_lead", json!({}), "lead_id"),
        (
            "get_lead",
            json!({"lead_id": 42}),
            "invalid lead_id: expected a string",
        ),
        (
            "get_lead",
            json!({"lead_id": "lead_999999"}),
            "no lead has id",
        ),
        (
            "get_lead",
            json!({"lead_id": "x'); DROP TABLE leads; --"}),
            "not a lead id",
        ),
        ("list_leads", json!({"status": "hot"}), "not one of"),
        (
            "list_leads",
            json!({"created_since": "last tuesday"}),
            "RFC 3339",
        ),
        (
            "log_activity",
            json!({"kind": "call", "subject": "x"}),
            "lead_id or an account_id",
        ),
        (
            "log_activity",
            json!({"kind": "call", "subject": "bell\u{7}", "account_id": "acc_000001"}),
            "control character",
        ),
        (
            "log_activity",
            json!({"kind": "call", "subject": "{\"json\": true}", "account_id": "acc_999999"}),
            "no account has id",
        ),
        (
            "log_activity",
            json!({"kind": "call", "subject": "x".repeat(10 * 1024 * 1024), "account_id": "acc_000001"}),
            "limit is 200",
        ),
    ];
    for (tool, arguments, expected) in cases {
        let result = client::call(&sales, tool, arguments.clone()).await.unwrap();
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} {arguments:.80} is an error"
        );
        let text = client::text_of(&result);
        assert!(
            text.contains(expected),
            "{tool}: {text:.200} should mention {expected:?}"
        );
        assert!(
            !text.to_ascii_lowercase().contains("sqlite"),
            "no database internals: {text:.200}"
        );
    }
    let unknown = client::call(&sales, "drop_everything", json!({})).await;
    assert!(unknown.unwrap_err().to_string().contains("unknown tool"));
    let missing = sales
        .read_resource(rmcp::model::ReadResourceRequestParams::new(
            "crm://accounts/acc_999999",
        ))
        .await;
    assert!(missing.is_err());

    let counts = client::call_ok(&sales, "server_info", json!({}))
        .await
        .unwrap();
    assert_eq!(
        counts["record_counts"]["activities"], 0,
        "no failed call left a half-applied change"
    );
    sales.cancel().await.unwrap();
}

#[tokio::test]
async fn malformed_messages_unknown_methods_and_tools_get_errors_and_the_next_request_is_served() {
    let db = seeded_sqlite().await;
    let mut raw = RawStdio::start(&binary("revops-cs"), &db).await;

    // A line that is not JSON at all is dropped without a reply (rmcp's choice: answering
    // garbage can start an error storm between two confused peers); the server survives it.
    raw.send("{this is not json").await;
    // A JSON line that is not a valid JSON-RPC message gets "Invalid request".
    raw.send(r#"{"jsonrpc":"2.0","id":"x","method":7}"#).await;
    let invalid = raw.next_message().await;
    assert_eq!(invalid["error"]["code"], -32600, "{invalid}");
    let unknown_method = raw
        .request(r#"{"jsonrpc":"2.0","id":1,"method":"accounts/teleport","params":{}}"#)
        .await;
    assert_eq!(unknown_method["error"]["code"], -32601, "{unknown_method}");

    let unknown_tool = raw
        .request(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#)
        .await;
    assert!(
        unknown_tool["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown tool"),
        "{unknown_tool}"
    );

    let wrong_type = raw
        .request(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_accounts","arguments":{"limit":"many"}}}"#)
        .await;
    assert_eq!(wrong_type["result"]["isError"], true, "{wrong_type}");

    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"list_accounts","arguments":{{"csm_owner":"{}"}}}}}}"#,
        "a".repeat(10 * 1024 * 1024)
    );
    let huge = raw.request(&huge).await;
    assert_eq!(huge["result"]["isError"], true);

    let fine = raw
        .request(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"list_accounts","arguments":{"limit":2}}}"#)
        .await;
    assert_eq!(
        fine["result"]["structuredContent"]["items"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{fine}"
    );
    assert!(raw.is_running().await);
}

#[tokio::test]
async fn a_write_is_applied_once_per_request_id_and_a_viewer_may_not_write() {
    let db = seeded_sqlite().await;
    let cs = stdio_session(&binary("revops-cs"), &db).await;
    let touch =
        json!({"account_id": "acc_000002", "subject": "Kick-off call", "request_id": "req-1"});
    let first = client::call_ok(&cs, "log_touchpoint", touch.clone())
        .await
        .unwrap();
    let again = client::call_ok(&cs, "log_touchpoint", touch).await.unwrap();
    assert_eq!(first["created"], true);
    assert_eq!(again["created"], false);
    assert_eq!(first["activity"]["id"], again["activity"]["id"]);
    cs.cancel().await.unwrap();

    let viewer = client::spawn_stdio(
        &binary("revops-cs"),
        &server_env(&db, "viewer"),
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    let denied = client::call(
        &viewer,
        "log_touchpoint",
        json!({"account_id": "acc_000002", "subject": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(denied.is_error, Some(true));
    assert!(
        client::text_of(&denied).contains("role viewer"),
        "{}",
        client::text_of(&denied)
    );
    let audited = client::call_ok(&viewer, "audit_query", json!({"outcome": "denied"}))
        .await
        .unwrap();
    let entries = audited["entries"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        1,
        "the denial is in the audit log: {audited}"
    );
    assert_eq!(entries[0]["tool"], "log_touchpoint");
    assert_eq!(entries[0]["actor"], "test-user");
    viewer.cancel().await.unwrap();
}

#[tokio::test]
async fn read_only_mode_lists_and_allows_only_read_only_tools() {
    let db = seeded_sqlite().await;
    let mut env = server_env(&db, "admin");
    env.push(("REVOPS_READ_ONLY", "true"));
    let sales = client::spawn_stdio(&binary("revops-sales"), &env, &Handshake::claude_desktop())
        .await
        .unwrap();
    let tools = sales.list_all_tools().await.unwrap();
    assert!(
        tools
            .iter()
            .all(|t| t.annotations.as_ref().unwrap().read_only_hint == Some(true))
    );
    assert!(!tools.iter().any(|t| t.name == "log_activity"));
    let refused = client::call(
        &sales,
        "log_activity",
        json!({"kind": "note", "subject": "x", "account_id": "acc_000001"}),
    )
    .await;
    assert!(refused.is_err(), "a hidden tool cannot be called");
    sales.cancel().await.unwrap();
}

#[tokio::test]
async fn three_server_processes_writing_to_one_sqlite_file_never_see_database_is_locked() {
    let db = seeded_sqlite().await;
    let mut sessions = Vec::new();
    for (_, path) in server_binaries() {
        sessions.push(stdio_session(&path, &db).await);
    }
    const WRITES_PER_SERVER: usize = 60;
    let mut calls = Vec::new();
    for (server, session) in sessions.iter().enumerate() {
        for n in 0..WRITES_PER_SERVER {
            let (tool, arguments) = match server {
                0 => (
                    "log_activity",
                    json!({"kind": "note", "subject": format!("note {n}"), "account_id": "acc_000003"}),
                ),
                1 => (
                    "record_touch",
                    json!({"campaign_id": "cmp_000001", "lead_id": "lead_000010", "touch_type": "click"}),
                ),
                _ => (
                    "log_touchpoint",
                    json!({"account_id": "acc_000003", "subject": format!("touch {n}")}),
                ),
            };
            calls.push(client::call(session, tool, arguments));
        }
    }
    let results = futures::future::join_all(calls).await;
    for result in results {
        let result = result.unwrap();
        assert_ne!(result.is_error, Some(true), "{}", client::text_of(&result));
    }
    let info = client::call_ok(&sessions[0], "server_info", json!({}))
        .await
        .unwrap();
    assert_eq!(
        info["record_counts"]["activities"],
        2 * WRITES_PER_SERVER as i64
    );
    for session in sessions {
        session.cancel().await.unwrap();
    }

    // Every call, from all three processes, is in one unbroken audit chain. Successful reads
    // are written by each server's background writer, drained as the server exits, so wait
    // (a bounded time) for the processes to finish writing.
    let expected = 3 * WRITES_PER_SERVER as i64 + 1;
    let mut report = serde_json::Value::Null;
    for _ in 0..100 {
        let verify = std::process::Command::new(binary("revops"))
            .env("REVOPS_CONFIG", "none")
            .args(["audit", "verify", "--json", "--database-url", &db.url])
            .output()
            .unwrap();
        report = serde_json::from_slice(&verify.stdout).unwrap();
        assert!(verify.status.success(), "{report}");
        if report["summary"]["entries"].as_i64() >= Some(expected) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(report["summary"]["entries"], expected, "{report}");
}

#[tokio::test]
async fn a_server_over_streamable_http_serves_mcp_clients_and_health() {
    let db = seeded_sqlite().await;
    let server = start_http(
        &binary("revops-marketing"),
        &["--transport", "http"],
        &server_env(&db, "rep"),
    )
    .await;
    let bind = server.bind.clone();
    for handshake in [Handshake::claude_desktop(), Handshake::Discover] {
        let session = client::connect_http(&format!("http://{bind}/mcp"), None, &handshake)
            .await
            .unwrap();
        let campaign = client::call_ok(
            &session,
            "get_campaign",
            json!({"campaign_id": "cmp_000001"}),
        )
        .await
        .unwrap();
        assert_eq!(campaign["id"], "cmp_000001");
        let resources = session.list_all_resource_templates().await.unwrap();
        assert_eq!(
            resources[0].uri_template,
            "marketing://campaigns/{campaign_id}"
        );
        session.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn revops_serve_all_hosts_three_servers_behind_one_bearer_token() {
    let db = seeded_sqlite().await;
    let mut env = server_env(&db, "rep");
    env.push(("REVOPS_HTTP_TOKEN", "test-token-123"));
    let server = start_http(&binary("revops"), &["serve", "all"], &env).await;
    let bind = server.bind.clone();

    let health: serde_json::Value = reqwest::get(format!("http://{bind}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["servers"], json!(["sales", "marketing", "cs"]));
    let unauthorized = reqwest::Client::new()
        .post(format!("http://{bind}/sales/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    for (team, tool, arguments) in [
        ("sales", "get_lead", json!({"lead_id": "lead_000002"})),
        ("marketing", "list_campaigns", json!({"limit": 1})),
        ("cs", "list_tickets", json!({"account_id": "acc_000001"})),
    ] {
        let session = client::connect_http(
            &format!("http://{bind}/{team}/mcp"),
            Some("test-token-123"),
            &Handshake::claude_desktop(),
        )
        .await
        .unwrap();
        assert_eq!(
            session
                .peer_info()
                .unwrap()
                .server_info
                .as_ref()
                .unwrap()
                .name,
            format!("revops-{team}")
        );
        client::call_ok(&session, tool, arguments).await.unwrap();
        session.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn the_servers_work_the_same_on_postgres() {
    let Some(db) = seeded_postgres("the_servers_work_the_same_on_postgres").await else {
        return;
    };
    let sales = stdio_session(&binary("revops-sales"), &db).await;
    let info = client::call_ok(&sales, "server_info", json!({}))
        .await
        .unwrap();
    assert_eq!(info["store_backend"], "postgres");
    assert_eq!(info["record_counts"]["leads"], 500);
    let lead = client::call_ok(&sales, "get_lead", json!({"lead_id": "lead_000001"}))
        .await
        .unwrap();
    assert!(lead["signals"]["demo_requested"].is_boolean());
    let pipeline = client::call_ok(&sales, "pipeline_summary", json!({}))
        .await
        .unwrap();
    assert!(pipeline["open_amount_minor"].as_i64().unwrap() > 0);
    let logged = client::call_ok(&sales, "log_activity", json!({"kind": "email", "subject": "Sent pricing", "lead_id": "lead_000001", "request_id": "pg-1"}))
        .await
        .unwrap();
    let again = client::call_ok(&sales, "log_activity", json!({"kind": "email", "subject": "Sent pricing", "lead_id": "lead_000001", "request_id": "pg-1"}))
        .await
        .unwrap();
    assert_eq!(logged["activity"]["id"], again["activity"]["id"]);

    let cs = stdio_session(&binary("revops-cs"), &db).await;
    let portfolio = client::read_json(&cs, "cs://portfolio").await.unwrap();
    assert_eq!(portfolio.as_array().unwrap().len(), 4);
    let missing = client::call(
        &cs,
        "get_account_overview",
        json!({"account_id": "acc_999999"}),
    )
    .await
    .unwrap();
    assert!(client::text_of(&missing).contains("no account has id"));
    for session in [sales, cs] {
        session.cancel().await.unwrap();
    }
}

#[test]
fn the_demo_runs_end_to_end_and_tells_its_story() {
    let output = std::process::Command::new(binary("revops"))
        .env("REVOPS_CONFIG", "none")
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "Loading the demo company",
        "sales: ",
        "log_activity: logged",
        "still serving",
    ] {
        assert!(
            stdout.contains(expected),
            "the demo says {expected:?}:\n{stdout}"
        );
    }
}

#[tokio::test]
async fn a_destructive_tool_previews_first_and_acts_only_with_its_own_fresh_token() {
    let db = seeded_sqlite().await;
    let manager = {
        let mut env = server_env(&db, "manager");
        env.push(("REVOPS_ACTOR", "mira@demo"));
        client::spawn_stdio(
            &binary("revops-marketing"),
            &env,
            &Handshake::claude_desktop(),
        )
        .await
        .unwrap()
    };
    let tools = manager.list_all_tools().await.unwrap();
    for tool in tools
        .iter()
        .filter(|t| t.annotations.as_ref().unwrap().destructive_hint == Some(true))
    {
        let input = serde_json::to_value(&*tool.input_schema).unwrap();
        assert!(
            input["properties"]["confirm_token"].is_object(),
            "{} takes confirm_token",
            tool.name
        );
        let output = serde_json::to_value(tool.output_schema.as_deref().unwrap()).unwrap();
        assert!(
            output["properties"]["confirmation"].is_object(),
            "{} answers with a confirmation",
            tool.name
        );
    }

    let preview = client::call_ok(
        &manager,
        "delete_campaign",
        json!({"campaign_id": "cmp_000003"}),
    )
    .await
    .unwrap();
    assert_eq!(preview["status"], "preview");
    assert!(
        preview["result"]["leads_losing_attribution"]
            .as_i64()
            .unwrap()
            >= 0
    );
    let token = preview["confirmation"]["confirm_token"]
        .as_str()
        .unwrap()
        .to_string();
    let still_there = client::call(
        &manager,
        "get_campaign",
        json!({"campaign_id": "cmp_000003"}),
    )
    .await
    .unwrap();
    assert_ne!(
        still_there.is_error,
        Some(true),
        "a preview changes nothing"
    );

    let changed = client::call(
        &manager,
        "delete_campaign",
        json!({"campaign_id": "cmp_000004", "confirm_token": token}),
    )
    .await
    .unwrap();
    assert!(
        client::text_of(&changed).contains("arguments differ"),
        "{}",
        client::text_of(&changed)
    );
    let made_up = client::call(
        &manager,
        "delete_campaign",
        json!({"campaign_id": "cmp_000003", "confirm_token": "cfm_x"}),
    )
    .await
    .unwrap();
    assert_eq!(made_up.is_error, Some(true));

    // Another manager may not use Mira's token.
    let mut other_env = server_env(&db, "manager");
    other_env.push(("REVOPS_ACTOR", "eve@demo"));
    let other = client::spawn_stdio(
        &binary("revops-marketing"),
        &other_env,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    let stolen = client::call(
        &other,
        "delete_campaign",
        json!({"campaign_id": "cmp_000003", "confirm_token": token}),
    )
    .await
    .unwrap();
    assert!(
        client::text_of(&stolen).contains("another actor"),
        "{}",
        client::text_of(&stolen)
    );

    let done = client::call_ok(
        &manager,
        "delete_campaign",
        json!({"campaign_id": "cmp_000003", "confirm_token": token}),
    )
    .await
    .unwrap();
    assert_eq!(done["status"], "done");
    let gone = client::call(
        &manager,
        "get_campaign",
        json!({"campaign_id": "cmp_000003"}),
    )
    .await
    .unwrap();
    assert!(client::text_of(&gone).contains("no campaign has id"));
    let replay = client::call(
        &manager,
        "delete_campaign",
        json!({"campaign_id": "cmp_000003", "confirm_token": token}),
    )
    .await
    .unwrap();
    assert_eq!(replay.is_error, Some(true));

    let trail = client::call_ok(&manager, "audit_query", json!({"tool": "delete_campaign"}))
        .await
        .unwrap();
    let outcomes: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "awaiting_confirmation",
            "denied",
            "denied",
            "denied",
            "ok",
            "denied"
        ]
    );

    // A rep may not even preview a destructive tool.
    let rep = client::spawn_stdio(
        &binary("revops-marketing"),
        &server_env(&db, "rep"),
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    let refused = client::call(
        &rep,
        "delete_campaign",
        json!({"campaign_id": "cmp_000005"}),
    )
    .await
    .unwrap();
    assert!(
        client::text_of(&refused).contains("manager"),
        "{}",
        client::text_of(&refused)
    );
    for session in [manager, other, rep] {
        session.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_destructive_tool_cannot_act_on_a_first_call_over_http_either() {
    let db = seeded_sqlite().await;
    let mut env = server_env(&db, "admin");
    env.push(("REVOPS_CONFIRM_TTL_SECONDS", "1"));
    let server = start_http(&binary("revops-marketing"), &["--transport", "http"], &env).await;
    let bind = server.bind.clone();
    let session = client::connect_http(
        &format!("http://{bind}/mcp"),
        None,
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap();
    let preview = client::call_ok(
        &session,
        "delete_campaign",
        json!({"campaign_id": "cmp_000006"}),
    )
    .await
    .unwrap();
    assert_eq!(preview["status"], "preview");
    client::call_ok(
        &session,
        "get_campaign",
        json!({"campaign_id": "cmp_000006"}),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let token = preview["confirmation"]["confirm_token"].clone();
    let late = client::call(
        &session,
        "delete_campaign",
        json!({"campaign_id": "cmp_000006", "confirm_token": token}),
    )
    .await
    .unwrap();
    assert!(
        client::text_of(&late).contains("expired"),
        "{}",
        client::text_of(&late)
    );
    client::call_ok(
        &session,
        "get_campaign",
        json!({"campaign_id": "cmp_000006"}),
    )
    .await
    .unwrap();
    session.cancel().await.unwrap();
}

#[tokio::test]
async fn spend_over_a_cap_is_refused_with_the_headroom_and_a_retry_spends_once() {
    let db = seeded_sqlite().await;
    let marketing = stdio_session(&binary("revops-marketing"), &db).await;
    let active = client::call_ok(
        &marketing,
        "list_campaigns",
        json!({"status": "active", "limit": 100}),
    )
    .await
    .unwrap();
    let campaign = active["items"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|c| c["remaining_budget_minor"].as_i64().unwrap())
        .unwrap()
        .clone();
    let id = campaign["id"].as_str().unwrap();
    let headroom = campaign["remaining_budget_minor"].as_i64().unwrap();
    assert!(
        headroom > 100,
        "the demo company has an active campaign with budget left"
    );

    // A day after the demo company's last spend, so no daily cap is in the way.
    let day = "2026-11-21";
    let too_much = client::call(
        &marketing,
        "record_spend",
        json!({"campaign_id": id, "amount_minor": headroom + 1, "spend_date": day}),
    )
    .await
    .unwrap();
    assert_eq!(too_much.is_error, Some(true));
    let reason = client::text_of(&too_much);
    assert!(
        reason.contains("cap") && reason.contains("headroom"),
        "{reason}"
    );

    let spend =
        json!({"campaign_id": id, "amount_minor": 100, "spend_date": day, "request_id": "inv-1"});
    let first = client::call_ok(&marketing, "record_spend", spend.clone())
        .await
        .unwrap();
    let retry = client::call_ok(&marketing, "record_spend", spend)
        .await
        .unwrap();
    assert_eq!(
        (first["created"].as_bool(), retry["created"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(first["reservation_id"], retry["reservation_id"]);
    let after = client::call_ok(&marketing, "get_campaign", json!({"campaign_id": id}))
        .await
        .unwrap();
    assert_eq!(
        after["spent_minor"].as_i64().unwrap(),
        campaign["spent_minor"].as_i64().unwrap() + 100
    );
    marketing.cancel().await.unwrap();
}

#[tokio::test]
async fn a_policy_file_names_each_tools_role_and_denies_the_tools_it_does_not_name() {
    let db = seeded_sqlite().await;
    let folder = tempfile::tempdir().unwrap();
    let policy = folder.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"tools": {"server_info": "viewer", "get_lead": "viewer", "log_activity": "manager", "audit_query": "viewer"}}"#,
    )
    .unwrap();
    let policy_path = policy.display().to_string();
    let mut env = server_env(&db, "rep");
    env.push(("REVOPS_POLICY_FILE", &policy_path));
    let sales = client::spawn_stdio(&binary("revops-sales"), &env, &Handshake::claude_desktop())
        .await
        .unwrap();
    client::call_ok(&sales, "get_lead", json!({"lead_id": "lead_000001"}))
        .await
        .unwrap();
    let unnamed = client::call(&sales, "list_leads", json!({})).await.unwrap();
    assert!(
        client::text_of(&unnamed).contains("not named in the policy file"),
        "{}",
        client::text_of(&unnamed)
    );
    let above = client::call(
        &sales,
        "log_activity",
        json!({"kind": "note", "subject": "x", "account_id": "acc_000001"}),
    )
    .await
    .unwrap();
    assert!(
        client::text_of(&above).contains("needs the manager role"),
        "{}",
        client::text_of(&above)
    );
    sales.cancel().await.unwrap();

    std::fs::write(&policy, r#"{"tools": {"get_lead": "superuser"}}"#).unwrap();
    let broken =
        client::spawn_stdio(&binary("revops-sales"), &env, &Handshake::claude_desktop()).await;
    assert!(
        broken.is_err(),
        "a policy file that does not parse stops the server"
    );
}

#[tokio::test]
async fn over_http_each_bearer_token_acts_as_its_own_actor_and_role() {
    let db = seeded_sqlite().await;
    let folder = tempfile::tempdir().unwrap();
    let policy = folder.path().join("policy.json");
    let digest = |token: &str| mcp_runtime::policy::token_digest(token);
    std::fs::write(
        &policy,
        json!({"http_tokens": [
            {"actor": "dana@example.com", "role": "rep", "token_sha256": digest("rvt_dana")},
            {"actor": "vic@example.com", "role": "viewer", "token_sha256": digest("rvt_vic")},
        ]})
        .to_string(),
    )
    .unwrap();
    let policy_path = policy.display().to_string();
    let mut env = server_env(&db, "admin");
    env.push(("REVOPS_POLICY_FILE", &policy_path));
    let server = start_http(&binary("revops-cs"), &["--transport", "http"], &env).await;
    let bind = server.bind.clone();
    let url = format!("http://{bind}/mcp");

    assert!(
        client::connect_http(&url, Some("rvt_wrong"), &Handshake::claude_desktop())
            .await
            .is_err()
    );
    let dana = client::connect_http(&url, Some("rvt_dana"), &Handshake::claude_desktop())
        .await
        .unwrap();
    let vic = client::connect_http(&url, Some("rvt_vic"), &Handshake::claude_desktop())
        .await
        .unwrap();
    let touch = json!({"account_id": "acc_000001", "subject": "Renewal call"});
    client::call_ok(&dana, "log_touchpoint", touch.clone())
        .await
        .unwrap();
    let denied = client::call(&vic, "log_touchpoint", touch).await.unwrap();
    assert!(
        client::text_of(&denied).contains("vic@example.com may not call log_touchpoint"),
        "{}",
        client::text_of(&denied)
    );

    let trail = client::call_ok(&vic, "audit_query", json!({"tool": "log_touchpoint"}))
        .await
        .unwrap();
    let who: Vec<(&str, &str)> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        who,
        [("dana@example.com", "ok"), ("vic@example.com", "denied")]
    );
    for session in [dana, vic] {
        session.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn a_server_signs_a_checkpoint_every_n_entries_and_the_chain_verifies_against_them() {
    // One call at a time, so each read is its own group.
    server_signs_checkpoints_at_5_and_10(|n| {
        ("get_lead", json!({"lead_id": format!("lead_{n:06}")}))
    })
    .await;
}

#[tokio::test]
async fn a_server_that_only_writes_signs_its_checkpoints_too() {
    server_signs_checkpoints_at_5_and_10(|n| {
        (
            "log_activity",
            json!({"kind": "call", "subject": format!("Call {n}"), "lead_id": "lead_000001", "request_id": format!("w-{n}")}),
        )
    })
    .await;
}

/// Twelve calls, one at a time, to a sales server signing a checkpoint every five entries:
/// checkpoints at seq 5 and 10, and the chain verifies against both.
async fn server_signs_checkpoints_at_5_and_10(
    call: impl Fn(usize) -> (&'static str, serde_json::Value),
) {
    let db = seeded_sqlite().await;
    let folder = tempfile::tempdir().unwrap();
    let checkpoints = folder.path().join("checkpoints");
    let key = folder.path().join("checkpoint.key");
    let (checkpoints_text, key_text) =
        (checkpoints.display().to_string(), key.display().to_string());
    let mut env = server_env(&db, "rep");
    env.extend([
        ("REVOPS_CHECKPOINT_EVERY", "5"),
        ("REVOPS_CHECKPOINT_DIR", checkpoints_text.as_str()),
        ("REVOPS_CHECKPOINT_KEY_FILE", key_text.as_str()),
    ]);
    let sales = client::spawn_stdio(&binary("revops-sales"), &env, &Handshake::claude_desktop())
        .await
        .unwrap();
    for n in 1..=12 {
        let (tool, arguments) = call(n);
        client::call_ok(&sales, tool, arguments).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    sales.cancel().await.unwrap();

    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for _ in 0..50 {
        files = std::fs::read_dir(&checkpoints)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        if files.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    files.sort();
    assert_eq!(files.len(), 2, "checkpoints at seq 5 and 10: {files:?}");
    let mut args = vec![
        "audit".to_string(),
        "verify".into(),
        "--json".into(),
        "--database-url".into(),
        db.url.clone(),
    ];
    for file in &files {
        args.extend(["--checkpoint".to_string(), file.display().to_string()]);
    }
    let verify = std::process::Command::new(binary("revops"))
        .env("REVOPS_CONFIG", "none")
        .args(&args)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert!(verify.status.success(), "{report}");
    assert_eq!(report["summary"]["checkpoints_matched"], 2, "{report}");
}

#[tokio::test]
async fn sqlite_durability_can_be_set_to_full_and_a_bad_setting_is_refused_by_name() {
    let db = seeded_sqlite().await;
    let verify = |setting: &str| {
        std::process::Command::new(binary("revops"))
            .env("REVOPS_CONFIG", "none")
            .env("REVOPS_SQLITE_SYNCHRONOUS", setting)
            .args(["audit", "verify", "--json", "--database-url", &db.url])
            .output()
            .unwrap()
    };
    let full = verify("full");
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    let bad = verify("sometimes");
    assert_eq!(bad.status.code(), Some(2));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(
        said.contains("REVOPS_SQLITE_SYNCHRONOUS") && said.contains("normal or full"),
        "{said}"
    );
}

#[tokio::test]
async fn with_reads_audited_before_the_answer_every_answered_read_survives_a_kill() {
    let db = seeded_sqlite().await;
    let mut sales = RawStdio::start_with(
        &binary("revops-sales"),
        &db,
        &[("REVOPS_AUDIT_READS", "before_answer")],
    )
    .await;
    for id in 1..=20 {
        let answer = sales
            .request(&format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_account","arguments":{{"account_id":"acc_000001"}}}}}}"#
            ))
            .await;
        assert_eq!(answer["result"]["isError"], false, "{answer}");
    }
    // Straight after the last answer: a background writer would still hold some of them.
    sales.kill().await;

    let store = store::Store::open(&store::DatabaseLocation::parse(&db.url).unwrap())
        .await
        .unwrap();
    let entries = audit::query::entries_after(&store, 0, 100_000)
        .await
        .unwrap();
    let reads = entries
        .iter()
        .filter(|entry| entry.tool == "get_account" && entry.outcome == "ok")
        .count();
    assert_eq!(reads, 20, "every answered read is in the audit log");
    let summary = audit::verify::verify_store(&store, vec![], 1_000)
        .await
        .unwrap()
        .expect("the chain is intact");
    assert_eq!(summary.entries as usize, entries.len());
}

#[tokio::test]
async fn a_bad_read_audit_setting_is_refused_by_name() {
    let db = seeded_sqlite().await;
    let output = std::process::Command::new(binary("revops-sales"))
        .envs(server_env(&db, "rep"))
        .env("REVOPS_AUDIT_READS", "later")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("REVOPS_AUDIT_READS") && said.contains("background or before_answer"),
        "{said}"
    );
    assert!(output.stdout.is_empty(), "stdout is the protocol");
}
