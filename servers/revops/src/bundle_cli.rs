//! `revops bundle --server sales|marketing|cs --out DIR [--binary PATH]`: an MCP Bundle
//! (`.mcpb`) of one team server, which Claude Desktop installs in one click.
//!
//! A bundle is a zip archive with `manifest.json` at its root (MCPB manifest version
//! [`MANIFEST_VERSION`], spec: <https://github.com/modelcontextprotocol/mcpb>, MANIFEST.md)
//! and the server binary at `server/revops-<team>` (mode 0755). The manifest is not written
//! by hand: the binary is started for real over stdio on a throwaway SQLite database, and its
//! handshake (name, version, title, instructions) and `tools/list` fill the manifest, so the
//! bundle can only list the tools the bundled binary offers, and a binary that does not start
//! is never bundled.
//!
//! The settings Claude Desktop asks for (`user_config`) become the environment the server
//! reads: the database URL, the vault's master key (sensitive, kept in the OS keychain), the
//! actor and the role. Every one has a default, because a host leaves a `${user_config.KEY}`
//! with no value in place, literally; blank means unset to the server, so a blank database
//! URL is the SQLite file in the user's data folder and a blank master key is no vault key.
//!
//! The archive is reproducible (fixed timestamps, tools sorted by name): the same binary
//! gives the same bytes. It is written to a temporary file in the output folder and renamed
//! into place, so a failed run leaves nothing behind. Exit codes: 0 written, 2 failed.
#![allow(
    clippy::print_stdout,
    reason = "the operator CLI prints its results for a person"
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::client::{self, Handshake};
use crate::install_cli::ServerChoice;

/// The MCPB manifest version this command writes: the newest the format defines.
pub const MANIFEST_VERSION: &str = "0.4";

/// How long the server may take to start and list its tools (it migrates a fresh database
/// first).
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// Options of `revops bundle`.
#[derive(Debug, clap::Args)]
pub struct BundleArgs {
    /// The team server to bundle: sales, marketing or cs.
    #[arg(long, value_enum)]
    pub server: ServerChoice,
    /// The folder to write `revops-<team>-<version>.mcpb` into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The server binary to bundle (default: `revops-<team>` beside this program).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

pub fn run(args: BundleArgs) -> ExitCode {
    match write_bundle(&args) {
        Ok(written) => {
            println!(
                "wrote {} ({}, {} tools, {} {} for {} {})",
                written.path.display(),
                human_size(written.size),
                written.tool_count,
                written.name,
                written.version,
                written.platform,
                std::env::consts::ARCH,
            );
            println!(
                "install: open it with Claude Desktop (double-click it, or Settings > Extensions > Install Extension)"
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// What a successful run wrote.
struct WrittenBundle {
    path: PathBuf,
    size: u64,
    tool_count: usize,
    name: String,
    version: String,
    platform: &'static str,
}

/// The team's name as the servers use it (`sales`, `marketing`, `cs`).
fn team_name(server: ServerChoice) -> &'static str {
    match server {
        ServerChoice::Sales => "sales",
        ServerChoice::Marketing => "marketing",
        ServerChoice::Cs => "cs",
    }
}

/// The server's binary and MCP name.
fn server_name(server: ServerChoice) -> &'static str {
    match server {
        ServerChoice::Sales => "revops-sales",
        ServerChoice::Marketing => "revops-marketing",
        ServerChoice::Cs => "revops-cs",
    }
}

/// The one-line description a host shows beside the bundle's name.
fn short_description(server: ServerChoice) -> &'static str {
    match server {
        ServerChoice::Sales => {
            "Sales on your own CRM data: lead scores that explain themselves, qualification, routing, pipeline, forecast and deal risk, with every call audited."
        }
        ServerChoice::Marketing => {
            "Marketing on your own data: campaigns under budget caps, spend, touches, funnel and attribution, with every call audited."
        }
        ServerChoice::Cs => {
            "Customer success on your own data: account health, churn risk, usage, tickets, NPS and expansion, with every call audited."
        }
    }
}

fn keywords(server: ServerChoice) -> Vec<&'static str> {
    let mut words = vec!["revops", "crm", "audit"];
    words.extend_from_slice(match server {
        ServerChoice::Sales => &["sales", "leads", "lead scoring", "pipeline", "forecast"][..],
        ServerChoice::Marketing => &["marketing", "campaigns", "budget", "attribution"][..],
        ServerChoice::Cs => &["customer success", "churn", "health score", "nps"][..],
    });
    words
}

/// The MCPB platform name of the system this runs on: the bundled binary runs here (it was
/// just started), so this is the platform it is for.
fn this_platform() -> anyhow::Result<&'static str> {
    match std::env::consts::OS {
        "macos" => Ok("darwin"),
        "windows" => Ok("win32"),
        "linux" => Ok("linux"),
        other => bail!("MCP Bundles run on macOS, Windows and Linux; this system is {other}"),
    }
}

/// A setting Claude Desktop asks for when the bundle is installed, and the variable the
/// server reads it from.
struct Setting {
    key: &'static str,
    variable: &'static str,
    title: &'static str,
    description: &'static str,
    sensitive: bool,
    default: &'static str,
}

/// The bundle's settings, in the order a host shows them.
const SETTINGS: [Setting; 4] = [
    Setting {
        key: "database_url",
        variable: "REVOPS_DATABASE_URL",
        title: "Database URL",
        description: "sqlite://PATH or postgres://USER@HOST/DB. Leave blank for revops/revops.db in your data folder, created on first start.",
        sensitive: false,
        default: "",
    },
    Setting {
        key: "master_key",
        variable: "REVOPS_MASTER_KEY",
        title: "Vault master key",
        description: "The base64 key `revops vault init` printed; unlocks stored HubSpot and Salesforce credentials. Leave blank if you use no CRM connection.",
        sensitive: true,
        default: "",
    },
    Setting {
        key: "actor",
        variable: "REVOPS_ACTOR",
        title: "Acting as",
        description: "Who the tool calls are recorded as in the audit log, e.g. dana@example.com.",
        sensitive: false,
        default: "claude-desktop-user",
    },
    Setting {
        key: "role",
        variable: "REVOPS_ROLE",
        title: "Role",
        description: "viewer (reads only), rep (reads and ordinary writes), manager (also destructive tools, each behind a confirmation) or admin.",
        sensitive: false,
        default: "rep",
    },
];

/// `user_config` in the manifest: the settings as MCPB options, in [`SETTINGS`] order.
struct UserConfig;

impl Serialize for UserConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(SETTINGS.len()))?;
        for setting in &SETTINGS {
            map.serialize_entry(
                setting.key,
                &UserConfigOption {
                    kind: "string",
                    title: setting.title,
                    description: setting.description,
                    required: false,
                    default: setting.default,
                    sensitive: setting.sensitive,
                },
            )?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct UserConfigOption {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    description: &'static str,
    required: bool,
    default: &'static str,
    sensitive: bool,
}

/// `manifest.json`, fields in the order MANIFEST.md lists them.
#[derive(Serialize)]
struct Manifest {
    manifest_version: &'static str,
    name: String,
    display_name: String,
    version: String,
    description: &'static str,
    long_description: String,
    author: Author,
    server: ServerEntry,
    tools: Vec<ManifestTool>,
    prompts_generated: bool,
    keywords: Vec<&'static str>,
    license: &'static str,
    compatibility: Compatibility,
    user_config: UserConfig,
}

#[derive(Serialize)]
struct Author {
    name: &'static str,
}

#[derive(Serialize)]
struct ServerEntry {
    #[serde(rename = "type")]
    kind: &'static str,
    entry_point: String,
    mcp_config: McpConfig,
}

#[derive(Serialize)]
struct McpConfig {
    command: String,
    args: Vec<String>,
    env: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct ManifestTool {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Serialize)]
struct Compatibility {
    platforms: Vec<&'static str>,
}

/// What the running server said about itself.
struct ServerFacts {
    name: String,
    title: Option<String>,
    version: String,
    instructions: Option<String>,
    tools: Vec<ManifestTool>,
    has_prompts: bool,
}

/// The binary to bundle: `--binary`, or the team's binary beside this program.
fn locate_binary(args: &BundleArgs) -> anyhow::Result<PathBuf> {
    let name = server_name(args.server);
    let (path, given) = match &args.binary {
        Some(path) => (path.clone(), true),
        None => {
            let here = std::env::current_exe().context("cannot tell where this program is")?;
            let folder = here.parent().context("this program has no folder")?;
            let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
            (folder.join(file), false)
        }
    };
    if path.is_file() {
        return Ok(path);
    }
    let how_to_build = format!(
        "build it with `cargo build --release -p revops --bin {name}` (the revops binaries go together in target/release)"
    );
    if given {
        bail!(
            "--binary {}: no such file; give the path of a built {name}, or {how_to_build}",
            path.display()
        )
    }
    bail!(
        "{name} is not beside revops (looked for {}); {how_to_build}, or give --binary PATH",
        path.display()
    )
}

/// Starts `binary` over stdio on a throwaway SQLite database, as Claude Desktop would, and
/// asks it who it is and which tools it offers.
fn probe_server(binary: &Path) -> anyhow::Result<ServerFacts> {
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let database_url = format!("sqlite://{}", scratch.path().join("probe.db").display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let probe = async {
        let mut command = tokio::process::Command::new(binary);
        // The server must offer all its tools here: settings of the person running this
        // command (read-only mode, a toolset selection, a policy file, a config file) would
        // hide some. This scrubs the child's environment; it reads no setting.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("REVOPS_") {
                command.env_remove(name);
            }
        }
        command
            .env("REVOPS_DATABASE_URL", &database_url)
            .env("REVOPS_CONFIG", "none")
            .env("REVOPS_LOG", "warn")
            .kill_on_drop(true);
        let session = client::spawn_command(command, &Handshake::claude_desktop()).await?;
        let info = session
            .peer_info()
            .context("the server finished the handshake without saying who it is")?;
        let implementation = info
            .server_info
            .clone()
            .context("the server did not name itself in the handshake")?;
        let listed = session
            .list_all_tools()
            .await
            .map_err(|error| anyhow!("tools/list failed: {error}"))?;
        let has_prompts = info.capabilities.prompts.is_some()
            && !session
                .list_all_prompts()
                .await
                .map_err(|error| anyhow!("prompts/list failed: {error}"))?
                .is_empty();
        let facts = ServerFacts {
            name: implementation.name,
            title: implementation.title,
            version: implementation.version,
            instructions: info.instructions.clone(),
            tools: manifest_tools(listed),
            has_prompts,
        };
        session.cancel().await.ok();
        anyhow::Ok(facts)
    };
    runtime
        .block_on(async { tokio::time::timeout(PROBE_TIMEOUT, probe).await })
        .map_err(|_| {
            anyhow!(
                "it did not answer the MCP handshake and tools/list within {} s",
                PROBE_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| format!("starting {} as Claude Desktop would", binary.display()))
}

/// The manifest's tool list: every tool by name, sorted so the same server gives the same
/// manifest.
fn manifest_tools(listed: Vec<rmcp::model::Tool>) -> Vec<ManifestTool> {
    let mut tools: Vec<ManifestTool> = listed
        .into_iter()
        .map(|tool| ManifestTool {
            name: tool.name.into_owned(),
            description: tool.description.map(std::borrow::Cow::into_owned),
        })
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

fn manifest_for(
    server: ServerChoice,
    facts: ServerFacts,
    platform: &'static str,
) -> anyhow::Result<Manifest> {
    let name = server_name(server);
    let entry_point = format!("server/{name}{}", std::env::consts::EXE_SUFFIX);
    let title = facts.title.unwrap_or_else(|| {
        format!(
            "RevOps {}",
            mcp_runtime::info::team_title(team_name(server))
        )
    });
    let mut long_description = facts.instructions.unwrap_or_default();
    if !long_description.is_empty() {
        long_description.push_str("\n\n");
    }
    long_description.push_str(
        "Every tool call is recorded in a hash-chained audit log; destructive tools answer a first call with a preview and ask for confirmation. \
         The data stays in your database: a SQLite file in your data folder unless you give a database URL.",
    );
    if facts.tools.is_empty() {
        bail!("the server offers no tools; a bundle of it would do nothing");
    }
    Ok(Manifest {
        manifest_version: MANIFEST_VERSION,
        name: facts.name,
        display_name: title,
        version: facts.version,
        description: short_description(server),
        long_description,
        author: Author {
            name: "The RevOps MCP suite",
        },
        server: ServerEntry {
            kind: "binary",
            mcp_config: McpConfig {
                command: format!("${{__dirname}}/{entry_point}"),
                args: Vec::new(),
                env: SETTINGS
                    .iter()
                    .map(|setting| {
                        (
                            setting.variable,
                            format!("${{user_config.{}}}", setting.key),
                        )
                    })
                    .collect(),
            },
            entry_point,
        },
        tools: facts.tools,
        prompts_generated: facts.has_prompts,
        keywords: keywords(server),
        license: env!("CARGO_PKG_LICENSE"),
        compatibility: Compatibility {
            platforms: vec![platform],
        },
        user_config: UserConfig,
    })
}

/// Writes the zip: `manifest.json` (0644) and the binary at the manifest's entry point
/// (0755), both with a fixed timestamp so the same inputs give the same bytes.
fn write_archive(
    file: &mut std::fs::File,
    manifest_json: &str,
    entry_point: &str,
    binary: &Path,
) -> anyhow::Result<()> {
    use zip::write::SimpleFileOptions;
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .system(zip::System::Unix);
    let mut archive = zip::ZipWriter::new(file);
    archive.start_file("manifest.json", options.unix_permissions(0o644))?;
    archive.write_all(manifest_json.as_bytes())?;
    archive.start_file(entry_point, options.unix_permissions(0o755))?;
    let mut source =
        std::fs::File::open(binary).with_context(|| format!("cannot read {}", binary.display()))?;
    std::io::copy(&mut source, &mut archive)
        .with_context(|| format!("cannot pack {}", binary.display()))?;
    archive.finish()?;
    Ok(())
}

fn write_bundle(args: &BundleArgs) -> anyhow::Result<WrittenBundle> {
    let platform = this_platform()?;
    let binary = locate_binary(args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("--out {}: cannot create this folder", args.out.display()))?;
    // The archive is written beside its final name and renamed into place: a reader never
    // sees half a bundle, and a failure leaves nothing behind (the file is removed on drop).
    let mut partial = tempfile::Builder::new()
        .prefix(".revops-bundle-")
        .suffix(".partial")
        .tempfile_in(&args.out)
        .with_context(|| format!("--out {}: cannot write in this folder", args.out.display()))?;

    let facts = probe_server(&binary)?;
    let expected = server_name(args.server);
    if facts.name != expected {
        bail!(
            "{} is the server {:?}, not {expected}; give the {expected} binary",
            binary.display(),
            facts.name
        );
    }
    let tool_count = facts.tools.len();
    let manifest = manifest_for(args.server, facts, platform)?;
    let manifest_json = format!("{}\n", serde_json::to_string_pretty(&manifest)?);

    write_archive(
        partial.as_file_mut(),
        &manifest_json,
        &manifest.server.entry_point,
        &binary,
    )
    .with_context(|| format!("writing the bundle in {}", args.out.display()))?;
    partial.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A bundle is for handing out; the temporary file was private.
        std::fs::set_permissions(partial.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    let path = args
        .out
        .join(format!("{}-{}.mcpb", manifest.name, manifest.version));
    partial
        .persist(&path)
        .map_err(|error| anyhow!("cannot write {}: {}", path.display(), error.error))?;
    let size = std::fs::metadata(&path)
        .with_context(|| format!("cannot read back {}", path.display()))?
        .len();
    Ok(WrittenBundle {
        path,
        size,
        tool_count,
        name: manifest.name,
        version: manifest.version,
        platform,
    })
}

fn human_size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn every_setting_reaches_the_server_through_its_own_variable() {
        let facts = ServerFacts {
            name: "revops-sales".into(),
            title: None,
            version: "1.2.3".into(),
            instructions: None,
            tools: vec![ManifestTool {
                name: "server_info".into(),
                description: None,
            }],
            has_prompts: false,
        };
        let manifest = manifest_for(ServerChoice::Sales, facts, "linux").unwrap();
        let json = serde_json::to_value(&manifest).unwrap();
        assert_eq!(json["display_name"], "RevOps Sales");
        let env = &json["server"]["mcp_config"]["env"];
        for setting in &SETTINGS {
            assert_eq!(
                env[setting.variable],
                format!("${{user_config.{}}}", setting.key)
            );
            assert!(json["user_config"][setting.key]["default"].is_string());
        }
    }
}
