//! `revops install claude-desktop`: adds the chosen team servers to Claude Desktop's
//! `claude_desktop_config.json` (macOS, Windows and Linux paths, or `--config`), with
//! absolute binary paths and their environment.
//!
//! It only ever adds or updates its own entries (`revops-sales`, `revops-marketing`,
//! `revops-cs`) under `mcpServers`: other servers and every other key stay exactly as they
//! were. The previous file is copied to `claude_desktop_config.json.bak-<time>` before a
//! change; a run that would change nothing writes nothing (so running it twice is safe). A
//! file that is not valid JSON is never overwritten. `--print` shows the entries and writes
//! nothing. Exit codes: 0 done (or nothing to do), 2 failed.
#![allow(
    clippy::print_stdout,
    reason = "the operator CLI prints its results for a person"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServerChoice {
    Sales,
    Marketing,
    Cs,
}

impl ServerChoice {
    fn binary(self) -> &'static str {
        match self {
            ServerChoice::Sales => "revops-sales",
            ServerChoice::Marketing => "revops-marketing",
            ServerChoice::Cs => "revops-cs",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum InstallCommand {
    /// Add the team servers to Claude Desktop's configuration.
    ClaudeDesktop {
        /// Which servers, comma-separated (default: all three).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "sales,marketing,cs"
        )]
        servers: Vec<ServerChoice>,
        /// The configuration file (default: Claude Desktop's, for this platform).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The database the servers use (default: the SQLite file in the user's data folder).
        #[arg(
            long = "database-url",
            env = "REVOPS_DATABASE_URL",
            hide_env_values = true
        )]
        database_url: Option<String>,
        /// Who the servers act as.
        #[arg(long, env = "REVOPS_ACTOR", default_value = "claude-desktop-user")]
        actor: String,
        /// The role: viewer, rep, manager or admin.
        #[arg(long, env = "REVOPS_ROLE", default_value = "rep")]
        role: String,
        /// Show the entries and change nothing.
        #[arg(long)]
        print: bool,
    },
}

/// Claude Desktop's configuration file on this platform.
pub fn default_config_path() -> anyhow::Result<PathBuf> {
    // macOS: ~/Library/Application Support, Windows: %APPDATA%, Linux: ~/.config.
    let base =
        dirs::config_dir().context("this platform has no configuration folder; give --config")?;
    Ok(base.join("Claude").join("claude_desktop_config.json"))
}

/// The `mcpServers` entries for `servers`, with binaries beside this one.
fn entries(
    servers: &[ServerChoice],
    database_url: &str,
    actor: &str,
    role: &str,
) -> anyhow::Result<Map<String, Value>> {
    let here = std::env::current_exe().context("cannot tell where this program is")?;
    let folder = here
        .parent()
        .context("this program has no folder")?
        .canonicalize()
        .context("cannot resolve this program's folder")?;
    // A config file somewhere other than the default must be named, so the servers find the
    // settings `revops setup` wrote there (the master key among them, which is never copied
    // into Claude Desktop's file).
    let config_file = store::config::config_path()
        .filter(|path| path.exists())
        .filter(|path| Some(path) != store::config::default_config_path().as_ref());
    let mut entries = Map::new();
    for server in servers {
        let mut binary = folder.join(server.binary());
        if cfg!(windows) {
            binary.set_extension("exe");
        }
        if !binary.exists() {
            anyhow::bail!(
                "{} is not beside revops (looked for {}); build or install all four binaries together",
                server.binary(),
                binary.display()
            );
        }
        let mut env = json!({
            "REVOPS_DATABASE_URL": database_url,
            "REVOPS_ACTOR": actor,
            "REVOPS_ROLE": role,
        });
        if let Some(path) = &config_file {
            env["REVOPS_CONFIG"] = json!(path.display().to_string());
        }
        entries.insert(
            server.binary().to_string(),
            json!({
                "command": binary.display().to_string(),
                "args": [],
                "env": env,
            }),
        );
    }
    Ok(entries)
}

/// Merges `entries` into the configuration text; returns the new document and which entries
/// were added or changed.
pub fn merge(
    existing: Option<&str>,
    entries: &Map<String, Value>,
) -> anyhow::Result<(Value, Vec<String>)> {
    let mut document = match existing {
        Some(text) if !text.trim().is_empty() => serde_json::from_str::<Value>(text)
            .context("the configuration file is not valid JSON; fix it (or move it away) first, it was not changed")?,
        _ => json!({}),
    };
    let object = document
        .as_object_mut()
        .context("the configuration file is not a JSON object; it was not changed")?;
    let servers = object
        .entry("mcpServers")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("mcpServers in the configuration file is not an object; it was not changed")?;
    let mut changed = Vec::new();
    for (name, entry) in entries {
        if servers.get(name) != Some(entry) {
            servers.insert(name.clone(), entry.clone());
            changed.push(name.clone());
        }
    }
    Ok((document, changed))
}

fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let folder = path
        .parent()
        .context("the configuration path has no folder")?;
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let temporary = folder.join(format!(".claude_desktop_config.{}.tmp", std::process::id()));
    std::fs::write(&temporary, text)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Keep the old file's permissions; a new file is private (it names the database).
        let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode());
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(mode))?;
    }
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

pub fn run(command: InstallCommand) -> ExitCode {
    match install(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn install(command: InstallCommand) -> anyhow::Result<()> {
    let InstallCommand::ClaudeDesktop {
        servers,
        config,
        database_url,
        actor,
        role,
        print,
    } = command;
    // The role as the policy names it (REVOPS_POLICY_FILE may rename the roles).
    mcp_runtime::policy::Policy::from_env()
        .and_then(|policy| policy.parse_role(&role))
        .map_err(|error| anyhow::anyhow!("--role: {error}"))?;
    let database_url = match database_url {
        Some(url) => store::DatabaseLocation::parse(&url)
            .map_err(|error| anyhow::anyhow!("--database-url: {error}"))
            .map(|_| url)?,
        None => format!(
            "sqlite://{}",
            store::location::default_sqlite_path().display()
        ),
    };
    let entries = entries(&servers, &database_url, &actor, &role)?;
    if print {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "mcpServers": entries }))?
        );
        return Ok(());
    }
    let path = match config {
        Some(path) => path,
        None => default_config_path()?,
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let (document, changed) = merge(existing.as_deref(), &entries)?;
    if changed.is_empty() {
        eprintln!(
            "{} already has these servers; nothing changed",
            path.display()
        );
        return Ok(());
    }
    if existing.is_some() {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let backup = path.with_file_name(format!("claude_desktop_config.json.bak-{stamp}"));
        std::fs::copy(&path, &backup)
            .with_context(|| format!("cannot back up to {}", backup.display()))?;
        eprintln!(
            "backed up the previous configuration to {}",
            backup.display()
        );
    }
    write_atomically(
        &path,
        &format!("{}\n", serde_json::to_string_pretty(&document)?),
    )?;
    eprintln!(
        "added or updated {} in {}",
        changed.join(", "),
        path.display()
    );
    eprintln!("next: restart Claude Desktop; the servers appear under its tools (hammer) menu");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn other_servers_and_keys_stay_and_a_second_merge_changes_nothing() {
        let existing = r#"{"theme": "dark", "mcpServers": {"github": {"command": "gh-mcp"}}}"#;
        let mut ours = Map::new();
        ours.insert(
            "revops-sales".into(),
            json!({"command": "/opt/revops-sales", "args": []}),
        );
        let (merged, changed) = merge(Some(existing), &ours).unwrap();
        assert_eq!(changed, ["revops-sales"]);
        assert_eq!(merged["theme"], "dark");
        assert_eq!(merged["mcpServers"]["github"]["command"], "gh-mcp");
        let (_, again) = merge(Some(&merged.to_string()), &ours).unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn a_file_that_is_not_json_is_refused() {
        let error = merge(Some("{not json"), &Map::new()).unwrap_err();
        assert!(error.to_string().contains("not valid JSON"), "{error}");
    }
}
