//! The `server_info` tool every server shares: version, protocol versions, store backend,
//! migration level, record counts, uptime. Built once here and added to each team's router.

use rmcp::Json;
use rmcp::handler::server::common::schema_for_empty_input;
use rmcp::handler::server::router::tool::ToolRoute;
use rmcp::handler::server::tool::{IntoCallToolResult, ToolCallContext};
use rmcp::model::{ProtocolVersion, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::Serialize;

use crate::errors::ToolError;
use crate::identity::Actor;
use crate::server::{Runtime, TeamServer};

/// What `server_info` answers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ServerInfo {
    /// The binary, e.g. `revops-sales`.
    pub server: String,
    pub version: String,
    /// MCP protocol versions this server speaks, newest first.
    pub protocol_versions: Vec<String>,
    /// `sqlite` or `postgres`.
    pub store_backend: store::Backend,
    /// The newest migration applied to the database.
    pub migration_level: i64,
    /// The newest migration this build knows; equal to `migration_level` when up to date.
    pub known_migration_level: i64,
    pub record_counts: store::overview::RecordCounts,
    pub uptime_seconds: u64,
    /// Who this session acts as.
    pub actor: Actor,
    /// True when only read-only tools are offered.
    pub read_only: bool,
    /// The toolsets offered (`--toolsets`); none when every toolset is.
    pub toolsets: Option<Vec<String>>,
}

/// "Sales", "Marketing", "Customer Success".
pub fn team_title(name: &str) -> &'static str {
    match name {
        "sales" => "Sales",
        "marketing" => "Marketing",
        "cs" => "Customer Success",
        _ => "Suite",
    }
}

/// Gathers the answer of `server_info`.
pub async fn server_info(runtime: &Runtime) -> Result<ServerInfo, ToolError> {
    let store = runtime.store();
    let mut versions: Vec<String> = ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .map(|v| v.to_string())
        .collect();
    versions.sort_by(|a, b| b.cmp(a));
    Ok(ServerInfo {
        server: format!("revops-{}", runtime.server()),
        version: env!("CARGO_PKG_VERSION").to_string(),
        protocol_versions: versions,
        store_backend: store.backend(),
        migration_level: store.migration_level().await?,
        known_migration_level: store.known_migration_level(),
        record_counts: store::overview::record_counts(store).await?,
        uptime_seconds: runtime.uptime().as_secs(),
        actor: runtime.actor().clone(),
        read_only: runtime.options().read_only,
        toolsets: runtime.options().toolsets.names().map(<[String]>::to_vec),
    })
}

/// The `server_info` route for a team's router.
pub fn server_info_route<S: TeamServer>() -> ToolRoute<S> {
    let tool = Tool::new(
        "server_info",
        "Health and identity of this RevOps server: version, MCP protocol versions, which store it uses \
         (sqlite or postgres) and its migration level, how many records each table holds, uptime, and who \
         this session acts as. Takes no arguments. Use it to check the server is connected to the right \
         database before relying on its data.",
        schema_for_empty_input(),
    )
    .with_title("Server info")
    .with_output_schema::<ServerInfo>()
    .with_annotations(
        ToolAnnotations::with_title("Server info")
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false),
    );
    ToolRoute::new_dyn(tool, |context: ToolCallContext<'_, S>| {
        Box::pin(async move {
            server_info(context.service.runtime())
                .await
                .map(Json)
                .into_call_tool_result()
        })
    })
}

/// The tools every server shares (`server_info`, `audit_query`, `check_model_health`,
/// `log_prediction`, `activate_model`, `retire_model`), to add to a team's router:
/// `Self::tool_router() + mcp_runtime::info::shared_tools()`.
pub fn shared_tools<S: TeamServer>() -> rmcp::handler::server::router::tool::ToolRouter<S> {
    rmcp::handler::server::router::tool::ToolRouter::new()
        .with_route(server_info_route())
        .with_route(crate::audit_tool::audit_query_route())
        .with_route(crate::model_tools::check_model_health_route())
        .with_route(crate::model_tools::log_prediction_route())
        .with_route(crate::model_tools::model_status_route(true))
        .with_route(crate::model_tools::model_status_route(false))
}
