//! An MCP client for the suite's own servers: spawn a server binary and speak MCP to it over
//! stdio, or connect to one over streamable HTTP. The demo, the integration tests and the
//! bench all drive the real binaries through this one helper.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, anyhow};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    ProtocolVersion, ReadResourceRequestParams,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};

/// A connected MCP client session.
pub type Session = RunningService<RoleClient, ClientConfig>;

/// How the client opens the session.
#[derive(Debug, Clone)]
pub enum Handshake {
    /// The `initialize` handshake at this protocol version (Claude Desktop speaks 2025-06-18).
    Initialize(ProtocolVersion),
    /// The newest protocol: `server/discover` and per-request metadata, no `initialize`.
    Discover,
}

impl Handshake {
    /// What Claude Desktop speaks.
    pub fn claude_desktop() -> Handshake {
        Handshake::Initialize(ProtocolVersion::V_2025_06_18)
    }
}

fn client_config(handshake: &Handshake) -> ClientConfig {
    let mut config = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("revops-client", env!("CARGO_PKG_VERSION")),
    );
    if let Handshake::Initialize(version) = handshake {
        config.protocol_version = version.clone();
    }
    config
}

async fn open<T, E, A>(transport: T, handshake: &Handshake) -> anyhow::Result<Session>
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let config = client_config(handshake);
    let session = match handshake {
        Handshake::Initialize(_) => config.serve(transport).await,
        Handshake::Discover => {
            config
                .serve_with_lifecycle(
                    transport,
                    ClientLifecycleMode::Discover {
                        preferred_versions: vec![ProtocolVersion::LATEST],
                    },
                )
                .await
        }
    };
    session.map_err(|error| anyhow!("the MCP handshake failed: {error}"))
}

/// Spawns `binary` with `env` added to this process's environment and opens a session over
/// its stdin and stdout. The server's stderr (its logs) goes where this process's goes.
pub async fn spawn_stdio(
    binary: &Path,
    env: &[(&str, &str)],
    handshake: &Handshake,
) -> anyhow::Result<Session> {
    let mut command = tokio::process::Command::new(binary);
    command.envs(env.iter().copied());
    spawn_command(command, handshake).await
}

/// Spawns `command` (a server speaking MCP on its stdin and stdout) and opens a session.
pub async fn spawn_command(
    command: tokio::process::Command,
    handshake: &Handshake,
) -> anyhow::Result<Session> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    open(transport, handshake).await
}

/// Opens a session with the server at `url` (e.g. `http://127.0.0.1:8080/mcp`), presenting
/// `token` as a bearer token when given.
pub async fn connect_http(
    url: &str,
    token: Option<&str>,
    handshake: &Handshake,
) -> anyhow::Result<Session> {
    // rmcp's HTTP client is a reqwest client, which needs the process's TLS provider.
    resilience::install_tls_provider();
    let mut config =
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    open(
        StreamableHttpClientTransport::from_config(config),
        handshake,
    )
    .await
}

/// Calls `tool` with `arguments` (a JSON object).
pub async fn call(
    session: &Session,
    tool: &str,
    arguments: serde_json::Value,
) -> anyhow::Result<CallToolResult> {
    let serde_json::Value::Object(arguments) = arguments else {
        return Err(anyhow!("tool arguments must be a JSON object"));
    };
    session
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(arguments))
        .await
        .map_err(|error| anyhow!("calling {tool}: {error}"))
}

/// Calls `tool` and returns its structured content, failing on a tool error.
pub async fn call_ok(
    session: &Session,
    tool: &str,
    arguments: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let result = call(session, tool, arguments).await?;
    if result.is_error == Some(true) {
        return Err(anyhow!("{tool} failed: {}", text_of(&result)));
    }
    result
        .structured_content
        .ok_or_else(|| anyhow!("{tool} returned no structured content"))
}

/// The text blocks of a result, joined.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads a resource and parses its JSON text.
pub async fn read_json(session: &Session, uri: &str) -> anyhow::Result<serde_json::Value> {
    let result = session
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .map_err(|error| anyhow!("reading {uri}: {error}"))?;
    let Some(rmcp::model::ResourceContents::TextResourceContents { text, .. }) =
        result.contents.first()
    else {
        return Err(anyhow!("{uri} returned no text"));
    };
    serde_json::from_str(text).with_context(|| format!("{uri} is not JSON"))
}
