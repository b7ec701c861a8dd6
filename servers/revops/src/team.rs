//! What every team server binary shares: its command line and how it starts.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use mcp_runtime::transport::{HttpApp, serve_stdio};
use mcp_runtime::{Actor, Runtime, RuntimeOptions, TeamServer};

/// How a server talks to its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// One client over standard input and output (what Claude Desktop spawns).
    Stdio,
    /// Streamable HTTP at /mcp, for several clients and remote use.
    Http,
}

/// Options every team server takes.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerOptions {
    /// stdio (default, for Claude Desktop) or http (streamable HTTP at /mcp).
    #[arg(long, value_enum, default_value = "stdio", env = "REVOPS_TRANSPORT")]
    pub transport: Transport,
    /// Address to listen on with --transport http.
    #[arg(long, default_value = "127.0.0.1:8080", env = "REVOPS_BIND")]
    pub bind: SocketAddr,
    /// Offer only read-only tools.
    #[arg(long, env = "REVOPS_READ_ONLY")]
    pub read_only: bool,
    /// Offer only these groups of tools, e.g. leads,pipeline (default: all). The shared
    /// tools (server_info, audit_query, model health) are always offered.
    #[arg(long, env = "REVOPS_TOOLSETS", value_name = "NAMES")]
    pub toolsets: Option<String>,
    #[command(flatten)]
    pub database: DatabaseOptions,
}

/// Which database to use.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseOptions {
    /// sqlite://PATH or postgres://USER@HOST/DB; default: revops.db in the user's data folder.
    #[arg(
        long = "database-url",
        env = "REVOPS_DATABASE_URL",
        hide_env_values = true
    )]
    pub url: Option<String>,
}

impl DatabaseOptions {
    pub fn location(&self) -> anyhow::Result<store::DatabaseLocation> {
        Ok(match &self.url {
            Some(url) if !url.trim().is_empty() => store::DatabaseLocation::parse(url)?,
            _ => store::DatabaseLocation::from_env()?,
        })
    }
}

/// The command line of `revops-sales`, `revops-marketing` and `revops-cs`.
#[derive(Debug, Parser)]
#[command(version, long_about = None)]
pub struct ServerCli {
    #[command(flatten)]
    pub options: ServerOptions,
    #[command(subcommand)]
    pub command: Option<ServerCommand>,
}

/// What a team server binary does besides serving.
#[derive(Debug, clap::Subcommand)]
pub enum ServerCommand {
    /// Set up this team's server: database, master key, actor and role, CRM, demo data.
    Setup(crate::setup_cli::SetupArgs),
}

/// Opens (creating and migrating if needed) the store the options name.
pub async fn open_store(database: &DatabaseOptions) -> anyhow::Result<store::Store> {
    let location = database.location()?;
    let store = store::Store::open(&location)
        .await
        .with_context(|| format!("opening the store at {}", location.redacted()))?;
    tracing::info!(database = %location.redacted(), backend = store.backend().as_str(), "store ready");
    Ok(store)
}

/// The pipeline's settings from the options and the environment: read-only mode, toolsets,
/// the gates (`REVOPS_CONFIRM_TTL_SECONDS`, `REVOPS_MONTHLY_SPEND_CAP_MINOR`) and the policy
/// file (`REVOPS_POLICY_FILE`). A setting that does not parse stops the server with its
/// reason; so does a toolset that none of `servers` has.
pub fn runtime_options(
    options: &ServerOptions,
    servers: &[(&str, &[mcp_runtime::toolsets::Toolset])],
) -> anyhow::Result<RuntimeOptions> {
    let toolsets =
        mcp_runtime::toolsets::Selection::parse(options.toolsets.as_deref().unwrap_or_default());
    toolsets.check(servers).map_err(anyhow::Error::msg)?;
    Ok(RuntimeOptions {
        read_only: options.read_only,
        toolsets,
        gates: mcp_runtime::gates::Gates::from_env().map_err(anyhow::Error::msg)?,
        policy: std::sync::Arc::new(
            mcp_runtime::policy::Policy::from_env().map_err(anyhow::Error::msg)?,
        ),
        checkpoints: mcp_runtime::recorder::CheckpointSchedule::from_env()
            .map_err(anyhow::Error::msg)?,
        read_audit: mcp_runtime::recorder::ReadAudit::from_env().map_err(anyhow::Error::msg)?,
    })
}

/// Every server's toolsets. A selection is checked against all three, not one server's:
/// one config file serves every team a set-up runs, and each server offers the selected
/// toolsets that are its own.
pub const ALL_TOOLSETS: [(&str, &[mcp_runtime::toolsets::Toolset]); 3] = [
    (sales::SalesServer::NAME, sales::SalesServer::TOOLSETS),
    (
        marketing::MarketingServer::NAME,
        marketing::MarketingServer::TOOLSETS,
    ),
    (cs::CsServer::NAME, cs::CsServer::TOOLSETS),
];

/// Builds the runtime of team `T` from the options and the environment.
pub async fn runtime_for<T: TeamServer>(options: &ServerOptions) -> anyhow::Result<Runtime> {
    let store = open_store(&options.database).await?;
    let runtime_options = runtime_options(options, &ALL_TOOLSETS)?;
    let actor = Actor::from_env_with(&runtime_options.policy).map_err(anyhow::Error::msg)?;
    Ok(Runtime::open(T::NAME, store, actor, runtime_options).await?)
}

/// Runs team `T` with the given options until its client goes away (stdio) or a signal
/// arrives (HTTP).
pub async fn serve_team<T: TeamServer>(options: &ServerOptions) -> anyhow::Result<()> {
    let runtime = runtime_for::<T>(options).await?;
    match options.transport {
        Transport::Stdio => serve_stdio::<T>(runtime).await?,
        Transport::Http => {
            HttpApp::new()
                .mount::<T>("/mcp", runtime)
                .serve(options.bind)
                .await?
        }
    }
    Ok(())
}

/// The whole `main` of a team server binary.
pub fn main_for<T: TeamServer>() -> ExitCode {
    let about = format!(
        "The RevOps {} MCP server: stdio for Claude Desktop by default, streamable HTTP with --transport http.",
        mcp_runtime::info::team_title(T::NAME)
    );
    // A broken config file stops a server; `setup` is how it gets mended, so it may run.
    let config_error = store::config::load().err();
    let matches = with_config_defaults(<ServerCli as clap::CommandFactory>::command().about(about))
        .get_matches();
    let cli = match <ServerCli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    match cli.command {
        // The wizard talks to a person: only warnings in its log.
        Some(ServerCommand::Setup(args)) => {
            mcp_runtime::logging::init_with_default("warn");
            crate::setup_cli::run(args, Some(T::NAME))
        }
        None => {
            if let Some(error) = config_error {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
            mcp_runtime::logging::init();
            run_to_exit_code(serve_team::<T>(&cli.options))
        }
    }
}

/// Runs a future on a multi-threaded runtime and maps its error to exit code 1, with the
/// error chain on stderr.
pub fn run_to_exit_code(work: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Gives every option that has an environment variable the config file's value as its
/// default, so a setting can live in the environment or in the file `revops setup` writes
/// (the environment and the command line win).
pub fn with_config_defaults(command: clap::Command) -> clap::Command {
    let from_file: Vec<(clap::Id, String)> = command
        .get_arguments()
        .filter_map(|arg| {
            let variable = arg.get_env()?.to_str()?;
            if std::env::var_os(variable).is_some() {
                return None;
            }
            Some((arg.get_id().clone(), store::config::var(variable)?))
        })
        .collect();
    let mut command = from_file.into_iter().fold(command, |command, (id, value)| {
        command.mut_arg(id, |arg| arg.default_value(value))
    });
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, with_config_defaults);
    }
    command
}
