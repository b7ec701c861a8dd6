//! `revops-marketing`: the marketing team's MCP server. stdio by default (for Claude Desktop);
//! `--transport http` serves streamable HTTP at `/mcp`. Logs go to stderr.

fn main() -> std::process::ExitCode {
    revops::team::main_for::<marketing::MarketingServer>()
}
