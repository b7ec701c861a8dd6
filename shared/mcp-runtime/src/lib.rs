//! The MCP runtime: the one tool-call pipeline every RevOps server runs on.
//!
//! A team server (sales, marketing, customer success) is a plain struct with an rmcp
//! `#[tool_router]`; it implements [`TeamServer`] and is wrapped in [`McpServer`], which is
//! the only `ServerHandler` in the suite. Every `tools/call` therefore passes the same steps:
//!
//! 1. **who**: the [`Actor`] of the session, or of the HTTP request's bearer token
//!    ([`identity`], [`transport`]);
//! 2. **may they**: the [`policy::Policy`] for the tool and its [`ToolKind`] ([`policy`]);
//! 3. **is it well-formed**: typed parameters (rmcp + serde + schemars), then domain checks
//!    in the tool, reported as [`ToolError`]s that say what to change;
//! 4. **gates**: a destructive tool's first call runs as a rolled-back preview and answers
//!    with a confirmation token; only a second call with that token acts ([`gates`]); spend
//!    goes through `guard::budget`;
//! 5. **do it**: the tool, inside one store write transaction for anything that writes
//!    ([`CallScope::transaction`]);
//! 6. **record it**: a [`recorder::CallRecord`] appended to the hash-chained audit log in the
//!    same transaction as the change it records (successful reads in group commits);
//! 7. **answer**: `structuredContent` matching the tool's output schema, plus text.
//!
//! # Layout
//! - [`server`]: [`TeamServer`], [`McpServer`] and the pipeline itself.
//! - [`identity`], [`policy`], [`gates`], [`elicit`], [`recorder`], [`scope`]: the pipeline's
//!   steps ([`elicit`]: confirming a destructive call by asking the user through the protocol).
//! - [`learnt`]: scoring with the active learnt model version, explained feature by feature.
//! - [`predictions`]: the background writer of the prediction log (every score a tool gives).
//! - [`errors`]: [`ToolError`], the one way a tool reports a failure; [`shape`]: arguments
//!   checked against the tool's input schema, naming the field that is wrong.
//! - [`info`]: the tools every server shares ([`info::shared_tools`]): `server_info`,
//!   `audit_query` from [`audit_tool`], and `check_model_health` and `log_prediction` from
//!   [`model_tools`].
//! - [`toolsets`]: named groups of a server's tools, so a deployment offers only some.
//! - [`metrics`]: counters and timings of every call, served as Prometheus text at `/metrics`.
//! - [`transport`]: stdio and streamable HTTP (`/mcp`, `/healthz`, `/metrics`), one or
//!   several servers.
//! - [`logging`]: `tracing` to stderr, never stdout.
//!
//! # Invariants
//! - Nothing in a stdio server writes to stdout except the protocol: logs go to stderr.
//! - A write tool's change and its call record commit together or not at all.
//! - A destructive tool never runs without passing the confirmation gate.
//! - Store and driver errors reach a caller only as [`ToolError`] text, never as SQL.

pub mod audit_tool;
pub mod elicit;
pub mod errors;
pub mod gates;
pub mod identity;
pub mod info;
pub mod learnt;
pub mod logging;
pub mod metrics;
pub mod model_tools;
pub mod policy;
pub mod predictions;
pub mod recorder;
pub mod scope;
pub mod server;
pub mod shape;
pub mod toolsets;
pub mod transport;

pub use errors::{ToolError, ToolResult};
pub use identity::{Actor, Role};
pub use policy::ToolKind;
pub use scope::CallScope;
pub use server::{McpServer, Runtime, RuntimeOptions, TeamServer};
