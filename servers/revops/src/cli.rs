//! `revops`, the operator CLI: migrate and seed the store, serve one team or all three, and
//! run the demo. This is a program for a person: it prints results to stdout.
#![allow(
    clippy::print_stdout,
    reason = "the operator CLI prints its results for a person"
)]

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use mcp_runtime::transport::HttpApp;
use mcp_runtime::{Actor, Runtime, TeamServer};

use crate::team::{DatabaseOptions, ServerOptions, open_store, run_to_exit_code, serve_team};

/// Operate the RevOps MCP suite: database, servers, demo, audit trail, HTTP tokens,
/// credential vault.
#[derive(Debug, Parser)]
#[command(name = "revops", version, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Database: migrate, load the demo company, show what it holds.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Serve one team's MCP server, or all three over HTTP in one process.
    Serve {
        /// sales, marketing, cs, or all (all: HTTP at /sales/mcp, /marketing/mcp, /cs/mcp).
        #[arg(value_enum)]
        team: TeamChoice,
        #[command(flatten)]
        options: ServerOptions,
    },
    /// Start the three servers on a temporary database and walk through what they do.
    Demo,
    /// HTTP bearer tokens for the policy file.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The audit log: verify, checkpoint, query, export.
    Audit {
        #[command(subcommand)]
        command: crate::audit_cli::AuditCommand,
    },
    /// The credential vault: init, set, list, delete, rotate.
    Vault {
        #[command(subcommand)]
        command: crate::vault_cli::VaultCommand,
    },
    /// Set up the suite: teams, database, master key, actor and role, CRM, caps, demo data;
    /// writes the config file (re-running changes it, never loses it).
    Setup(crate::setup_cli::SetupArgs),
    /// Package one team server as an MCP Bundle (.mcpb) that Claude Desktop installs in one
    /// click.
    Bundle(crate::bundle_cli::BundleArgs),
    /// Add the team servers to Claude Desktop (merging, with a backup; twice changes nothing).
    Install {
        #[command(subcommand)]
        command: crate::install_cli::InstallCommand,
    },
    /// Models: train from the store's outcomes or a CSV, list, show, activate, retire, evaluate.
    Model {
        #[command(subcommand)]
        command: crate::model_cli::ModelCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply pending migrations (servers also do this when they start).
    Migrate {
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Load the demo company into an empty database.
    Seed {
        /// Size multiplier: 1 = 200 accounts, 500 leads…; 2000 = a million leads.
        #[arg(long, default_value_t = 1)]
        scale: u32,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Show the backend, migration level and record counts.
    Status {
        #[command(flatten)]
        database: DatabaseOptions,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a bearer token for an actor: prints the token (give it to the actor, once) and the
    /// entry to add under "http_tokens" in the policy file, which stores only its digest.
    New {
        /// Who the token stands for, e.g. dana@example.com.
        #[arg(long)]
        actor: String,
        /// viewer, rep, manager or admin.
        #[arg(long)]
        role: mcp_runtime::Role,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TeamChoice {
    Sales,
    Marketing,
    Cs,
    All,
}

/// Runs an async CLI command on a runtime of its own and turns its outcome into the exit
/// code (an error: printed, exit 2).
pub(crate) fn block_on_command(
    command: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(command).unwrap_or_else(|error| {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The whole `main` of `revops`.
pub fn main() -> ExitCode {
    // A broken config file stops every command but `setup`, which is how it gets mended.
    let config_error = store::config::load().err();
    let matches =
        crate::team::with_config_defaults(<Cli as clap::CommandFactory>::command()).get_matches();
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    if let Some(error) = config_error
        && !matches!(cli.command, Command::Setup(_))
    {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    // A person reads this program's output: only warnings, unless REVOPS_LOG asks for more
    // (the servers it hosts with `serve` log at info).
    match cli.command {
        Command::Serve { .. } => mcp_runtime::logging::init(),
        _ => mcp_runtime::logging::init_with_default("warn"),
    }
    if let Command::Audit { command } = cli.command {
        return block_on_command(crate::audit_cli::run(command));
    }
    if let Command::Vault { command } = cli.command {
        return block_on_command(crate::vault_cli::run(command));
    }
    if let Command::Setup(args) = cli.command {
        return crate::setup_cli::run(args, None);
    }
    if let Command::Bundle(args) = cli.command {
        return crate::bundle_cli::run(args);
    }
    if let Command::Install { command } = cli.command {
        return crate::install_cli::run(command);
    }
    if let Command::Model { command } = cli.command {
        return block_on_command(crate::model_cli::run(command));
    }
    run_to_exit_code(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Audit { .. }
        | Command::Vault { .. }
        | Command::Model { .. }
        | Command::Setup(_)
        | Command::Bundle(_)
        | Command::Install { .. } => Ok(()),
        Command::Token {
            command: TokenCommand::New { actor, role },
        } => {
            let token = mcp_runtime::policy::new_token();
            let entry = serde_json::json!({
                "actor": actor,
                "role": role,
                "token_sha256": mcp_runtime::policy::token_digest(&token),
            });
            println!("token (give it to {actor}; it is not stored anywhere): {token}");
            println!("add to \"http_tokens\" in the policy file ($REVOPS_POLICY_FILE):");
            println!("{}", serde_json::to_string_pretty(&entry)?);
            Ok(())
        }
        Command::Db { command } => run_db(command).await,
        Command::Serve { team, options } => match team {
            TeamChoice::Sales => serve_team::<sales::SalesServer>(&options).await,
            TeamChoice::Marketing => serve_team::<marketing::MarketingServer>(&options).await,
            TeamChoice::Cs => serve_team::<cs::CsServer>(&options).await,
            TeamChoice::All => serve_all(&options).await,
        },
        Command::Demo => crate::demo::run().await,
    }
}

async fn run_db(command: DbCommand) -> anyhow::Result<()> {
    match command {
        DbCommand::Migrate { database } => {
            let location = database.location()?;
            let store = store::Store::connect(&location).await?;
            let before = store.migration_level().await.unwrap_or(0);
            store.migrate().await?;
            let after = store.migration_level().await?;
            println!(
                "{}: migration level {before} -> {after}",
                location.redacted()
            );
        }
        DbCommand::Seed { scale, database } => {
            let store = open_store(&database).await?;
            let summary = demo_company::seed(&store, scale).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        DbCommand::Status { database } => {
            let location = database.location()?;
            let store = open_store(&database).await?;
            let counts = store::overview::record_counts(&store).await?;
            println!("database: {}", location.redacted());
            println!("backend: {}", store.backend().as_str());
            println!(
                "migration level: {} (this build knows {})",
                store.migration_level().await?,
                store.known_migration_level()
            );
            println!("{}", serde_json::to_string_pretty(&counts)?);
        }
    }
    Ok(())
}

async fn runtime_of<T: TeamServer>(
    store: &store::Store,
    actor: &Actor,
    options: &ServerOptions,
) -> anyhow::Result<Runtime> {
    let options = crate::team::runtime_options(options, &crate::team::ALL_TOOLSETS)?;
    Ok(Runtime::open(T::NAME, store.clone(), actor.clone(), options).await?)
}

/// The three servers over HTTP in one process, on one store.
async fn serve_all(options: &ServerOptions) -> anyhow::Result<()> {
    if options.transport == crate::team::Transport::Stdio {
        tracing::info!("`serve all` always uses HTTP: one stdio stream cannot carry three servers");
    }
    let store = open_store(&options.database).await?;
    let actor = Actor::from_env().map_err(anyhow::Error::msg)?;
    let bind: SocketAddr = options.bind;
    HttpApp::new()
        .mount::<sales::SalesServer>(
            "/sales/mcp",
            runtime_of::<sales::SalesServer>(&store, &actor, options).await?,
        )
        .mount::<marketing::MarketingServer>(
            "/marketing/mcp",
            runtime_of::<marketing::MarketingServer>(&store, &actor, options).await?,
        )
        .mount::<cs::CsServer>(
            "/cs/mcp",
            runtime_of::<cs::CsServer>(&store, &actor, options).await?,
        )
        .serve(bind)
        .await?;
    Ok(())
}
