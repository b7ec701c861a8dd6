//! The yardstick: a bare rmcp stdio server with one trivial tool and no store, built from
//! the same rmcp as the suite, so the bench can measure what the suite adds to it.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct EchoParams {
    /// Text to send back.
    text: String,
}

#[derive(Clone)]
struct Bare {
    tool_router: ToolRouter<Bare>,
}

#[tool_router]
impl Bare {
    #[tool(
        description = "Echo the text back.",
        annotations(read_only_hint = true)
    )]
    async fn echo(&self, Parameters(params): Parameters<EchoParams>) -> String {
        params.text
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Bare {}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = Bare {
        tool_router: Bare::tool_router(),
    }
    .serve(rmcp::transport::stdio_pipes())
    .await?;
    server.waiting().await?;
    Ok(())
}
