//! The RevOps binaries' shared code: how a team server starts, the operator CLI's commands,
//! and an MCP client for driving the servers (the demo, the integration tests, the bench).
//!
//! # Layout
//! - [`team`]: the command line every team server binary shares (`--transport`, `--bind`…)
//!   and starting one over stdio or HTTP.
//! - [`client`]: spawning a server binary and speaking MCP to it (stdio or HTTP).
//! - [`demo`]: `revops demo`, a narrated tour of the three servers on a temporary database.
//! - [`cli`]: the `revops` operator CLI (`db`, `serve`, `demo`, `audit`).
//! - [`audit_cli`]: `revops audit verify|checkpoint|query|export`.
//! - [`vault_cli`]: `revops vault init|set|list|delete|rotate`.
//! - [`setup_cli`]: `revops setup` (and `revops-<team> setup`), the wizard that writes the
//!   config file (`store::config`).
//! - [`install_cli`]: `revops install claude-desktop`.
//! - [`bundle_cli`]: `revops bundle`, an MCP Bundle (`.mcpb`) of one team server.
//! - [`model_cli`]: `revops model train|list|show|activate|retire|evaluate`, reading the
//!   store's outcomes through `model_data`.
//!
//! # Invariants
//! - A team server writes nothing to stdout but protocol messages; logs go to stderr.
//! - Every binary opens the store the same way ([`team::open_store`]): `--database-url` or
//!   `REVOPS_DATABASE_URL`, else the default SQLite file, migrated on start.

pub mod audit_cli;
pub mod bundle_cli;
pub mod cli;
pub mod client;
pub mod demo;
pub mod install_cli;
pub mod model_cli;
mod model_data;
pub mod setup_cli;
pub mod team;
pub mod vault_cli;
