//! `revops vault`: set up the credential vault's master key, store, list and delete
//! credentials, and rotate the master key.
//!
//! Secrets never come from the command line (`ps` and shell history would show them): a
//! credential is read from stdin when it is piped, else from a prompt that does not echo;
//! the master key comes from `REVOPS_MASTER_KEY` / `REVOPS_MASTER_PASSPHRASE` or a prompt.
//! A new master key is printed once, alone on stdout (so it can be captured by a script);
//! everything said to the person goes to stderr. Exit codes: 0 done, 1 refused (a delete
//! not confirmed), 2 failed.
#![allow(
    clippy::print_stdout,
    reason = "the operator CLI prints its results for a person"
)]

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use vault::secrecy::{ExposeSecret, SecretString};
use vault::zeroize::Zeroizing;
use vault::{KeyKind, MasterKey, Vault, VaultError};

use crate::team::{DatabaseOptions, open_store};

/// The variable `rotate --passphrase` reads the new passphrase from, for scripts.
const NEW_PASSPHRASE_VAR: &str = "REVOPS_NEW_MASTER_PASSPHRASE";

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create the vault's master key: a random key printed once (store it safely), the key in
    /// REVOPS_MASTER_KEY if set, or with --passphrase a passphrase (REVOPS_MASTER_PASSPHRASE
    /// or a prompt) stretched with Argon2id.
    Init {
        /// Derive the master key from a passphrase instead of a random key.
        #[arg(long)]
        passphrase: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Store a credential (replacing any earlier value). The secret is read from stdin when
    /// it is piped (`revops vault set hubspot private_app_token < token.txt`), else from a
    /// prompt that does not echo; never from the command line.
    Set {
        /// Who issued it, e.g. hubspot, salesforce.
        provider: String,
        /// Which credential, e.g. private_app_token, refresh_token.
        name: String,
        /// When it stops being valid (RFC 3339), if known.
        #[arg(long)]
        expires_at: Option<String>,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Show the stored credentials: providers, names, ages, key versions; never values.
    /// Needs no master key.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Delete a credential for good. Asks you to type its name back, unless --yes.
    Delete {
        provider: String,
        name: String,
        /// Do not ask (for scripts).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Re-encrypt every credential under a new master key (a new random key printed once,
    /// or with --passphrase a new passphrase from REVOPS_NEW_MASTER_PASSPHRASE or a prompt),
    /// in one transaction: interrupted, nothing changes and the old key still works.
    Rotate {
        /// Derive the new master key from a passphrase instead of a random key.
        #[arg(long)]
        passphrase: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
}

pub async fn run(command: VaultCommand) -> anyhow::Result<ExitCode> {
    match command {
        VaultCommand::Init {
            passphrase,
            database,
        } => init(passphrase, &database).await,
        VaultCommand::Set {
            provider,
            name,
            expires_at,
            database,
        } => {
            let expires_at = expires_at
                .map(|text| {
                    store::clock::parse(&text).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--expires-at must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"
                        )
                    })
                })
                .transpose()?;
            let store = open_store(&database).await?;
            // Open (and check the key) before asking for the secret: a wrong key should not
            // cost the person typing a token first.
            let vault = open_vault(&store).await?;
            let secret = read_secret(&provider, &name)?;
            let info = vault
                .put_with_expiry(&provider, &name, secret, expires_at)
                .await?;
            eprintln!(
                "stored {}/{} (key version {})",
                info.provider, info.name, info.key_version
            );
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::List { json, database } => {
            let store = open_store(&database).await?;
            list(&store, json).await
        }
        VaultCommand::Delete {
            provider,
            name,
            yes,
            database,
        } => {
            let store = open_store(&database).await?;
            delete(&store, &provider, &name, yes).await
        }
        VaultCommand::Rotate {
            passphrase,
            database,
        } => {
            let store = open_store(&database).await?;
            rotate(&store, passphrase).await
        }
    }
}

async fn init(passphrase: bool, database: &DatabaseOptions) -> anyhow::Result<ExitCode> {
    let store = open_store(database).await?;
    let status = vault::status(&store).await?;
    if let Some(active) = status.active_version {
        return Err(VaultError::AlreadyInitialised { active }.into());
    }
    let (master, printed) = if passphrase {
        let phrase = match MasterKey::from_env()? {
            Some(key) if key.kind() == KeyKind::Passphrase => key,
            Some(_) => anyhow::bail!(
                "--passphrase was given but REVOPS_MASTER_KEY is set: unset it, or drop --passphrase to use that key"
            ),
            None => MasterKey::passphrase(new_passphrase("master passphrase")?),
        };
        (phrase, false)
    } else {
        match MasterKey::from_env()? {
            Some(key) if key.kind() == KeyKind::Random => {
                eprintln!("using the key in REVOPS_MASTER_KEY");
                (key, false)
            }
            Some(_) => anyhow::bail!(
                "REVOPS_MASTER_PASSPHRASE is set: add --passphrase to set the vault up with it, or unset it for a random key"
            ),
            None => {
                let key = MasterKey::generate()?;
                // Shown before the vault is created: if it cannot be shown, nothing is set
                // up with a key nobody has.
                show_new_key(&key, 1)?;
                (key, true)
            }
        }
    };
    let vault = match Vault::init(&store, master).await {
        Ok(vault) => vault,
        Err(error) => {
            if printed {
                eprintln!("the key printed above was NOT used: the vault was not set up");
            }
            return Err(error.into());
        }
    };
    if passphrase {
        eprintln!(
            "credential vault set up (key version {}, derived from the passphrase with Argon2id). \
             Give it to every process that needs credentials as REVOPS_MASTER_PASSPHRASE.",
            vault.key_version()
        );
    } else {
        eprintln!(
            "credential vault set up (key version {}). Give the key to every process that needs \
             credentials as REVOPS_MASTER_KEY.",
            vault.key_version()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(store: &store::Store, json: bool) -> anyhow::Result<ExitCode> {
    let credentials = vault::list(store).await?;
    let status = vault::status(store).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&credentials)?);
        return Ok(ExitCode::SUCCESS);
    }
    match (status.active_version, status.active_kind.as_deref()) {
        (Some(version), Some(kind)) => eprintln!(
            "vault: key version {version} ({kind} key, since {}), {} credential(s)",
            status.active_since.as_deref().unwrap_or("-"),
            credentials.len()
        ),
        _ => eprintln!("{}", VaultError::NotConfigured),
    }
    if credentials.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{:<16}  {:<28}  {:>3}  {:>8}  {:<27}  expires",
        "provider", "name", "key", "age", "updated"
    )?;
    for c in credentials {
        writeln!(
            stdout,
            "{:<16}  {:<28}  {:>3}  {:>7}d  {:<27}  {}",
            c.provider,
            c.name,
            c.key_version,
            c.age_days,
            c.updated_at,
            c.expires_at.as_deref().unwrap_or("-")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn delete(
    store: &store::Store,
    provider: &str,
    name: &str,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    // Say "not found" before asking for a confirmation of nothing.
    if !vault::list(store)
        .await?
        .iter()
        .any(|c| c.provider == provider && c.name == name)
    {
        return Err(VaultError::NotFound {
            provider: provider.to_string(),
            name: name.to_string(),
        }
        .into());
    }
    if !yes {
        eprint!(
            "This deletes the credential {provider}/{name} for good. Type its name ({name}) to confirm: "
        );
        std::io::stderr().flush()?;
        let mut typed = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut typed)
            .context("reading the confirmation")?;
        if typed.trim_end_matches(['\r', '\n']) != name {
            eprintln!(
                "not deleted: {}",
                if typed.is_empty() {
                    "no confirmation was given (type the name, or pass --yes in scripts)"
                } else {
                    "the name typed does not match"
                }
            );
            return Ok(ExitCode::from(1));
        }
    }
    let mut tx = store.begin_write().await?;
    let info = vault::delete(&mut tx, provider, name).await?;
    tx.commit().await.context("committing the delete")?;
    eprintln!(
        "deleted {}/{} (it was {} day(s) old)",
        info.provider, info.name, info.age_days
    );
    Ok(ExitCode::SUCCESS)
}

async fn rotate(store: &store::Store, passphrase: bool) -> anyhow::Result<ExitCode> {
    let vault = open_vault(store).await?;
    let new_key = if passphrase {
        let phrase = match read_env_secret(NEW_PASSPHRASE_VAR) {
            Some(phrase) => phrase,
            None => new_passphrase("new master passphrase")?,
        };
        MasterKey::passphrase(phrase)
    } else {
        let key = MasterKey::generate()?;
        // Shown, and flushed, before anything is re-encrypted under it: a rotation must
        // never commit under a key nobody saw.
        show_new_key(&key, vault.key_version() + 1)?;
        key
    };
    let report = match vault.rotate(new_key).await {
        Ok(report) => report,
        Err(error) => {
            if !passphrase {
                eprintln!(
                    "the key printed above was NOT used: nothing was changed, the current key still works"
                );
            }
            return Err(error.into());
        }
    };
    eprintln!(
        "rotated: {} credential(s) re-encrypted from key version {} to {} ({} key). The old key \
         no longer opens the vault: update {} in every process and restart them.",
        report.resealed,
        report.from_version,
        report.to_version,
        report.new_kind,
        if passphrase {
            "REVOPS_MASTER_PASSPHRASE"
        } else {
            "REVOPS_MASTER_KEY"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints a new random key, alone on stdout, with the warning on stderr; fails if stdout
/// cannot take it.
fn show_new_key(key: &MasterKey, version: u32) -> anyhow::Result<()> {
    let Some(text) = key.to_base64() else {
        return Ok(());
    };
    eprintln!(
        "New master key (key version {version}), shown this once. Store it safely now (a password \
         manager or your secrets manager): the store does not keep it, and without it the \
         credentials cannot be opened."
    );
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", text.expose_secret())
        .and_then(|()| stdout.flush())
        .context("printing the new master key")?;
    Ok(())
}

/// Opens the vault with the key from the environment, or, when a terminal is at hand, a
/// prompt for it.
async fn open_vault(store: &store::Store) -> anyhow::Result<Vault> {
    if let Some(master) = MasterKey::from_env()? {
        return Ok(Vault::open(store, master).await?);
    }
    let status = vault::status(store).await?;
    let prompt = match status.active_kind.as_deref() {
        None => return Err(VaultError::NotConfigured.into()),
        Some("passphrase") => "master passphrase",
        Some(_) => "master key (base64)",
    };
    let Some(typed) = prompt_hidden(&format!("{prompt}: "))? else {
        return Err(VaultError::MasterKeyMissing.into());
    };
    let master = if status.active_kind.as_deref() == Some("passphrase") {
        MasterKey::passphrase(SecretString::from(typed.as_str()))
    } else {
        MasterKey::from_base64(&typed)?
    };
    Ok(Vault::open(store, master).await?)
}

/// The credential to store: piped stdin, else a prompt that does not echo.
fn read_secret(provider: &str, name: &str) -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    let text = if stdin.is_terminal() {
        prompt_hidden(&format!("secret for {provider}/{name}: "))?
            .context("no terminal to ask for the secret on: pipe it on stdin instead")?
    } else {
        // Room for the largest secret up front, so reading never reallocates and leaves a
        // copy behind in freed memory.
        let limit = vault::MAX_SECRET_BYTES + 2;
        let mut bytes = Zeroizing::new(Vec::with_capacity(limit + 1));
        stdin
            .lock()
            .take(u64::try_from(limit).unwrap_or(u64::MAX))
            .read_to_end(&mut bytes)
            .context("reading the secret from stdin")?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| anyhow::anyhow!("the secret on stdin is not UTF-8 text"))?;
        Zeroizing::new(text.to_string())
    };
    // One trailing newline is the shell's (`echo`, a file's last line), not the secret's.
    let secret = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(SecretString::from(secret))
}

/// A new passphrase, typed twice.
fn new_passphrase(what: &str) -> anyhow::Result<SecretString> {
    let first = prompt_hidden(&format!("{what}: "))?.with_context(|| {
        format!("no terminal to ask for the {what} on: set it in the environment instead")
    })?;
    let second = prompt_hidden(&format!("{what} again: "))?
        .with_context(|| format!("no terminal to ask for the {what} on"))?;
    if first.as_str() != second.as_str() {
        anyhow::bail!("the two {what}s differ; nothing was changed");
    }
    Ok(SecretString::from(first.as_str()))
}

fn read_env_secret(variable: &str) -> Option<SecretString> {
    store::config::var(variable)
        .map(Zeroizing::new)
        .filter(|value| !value.is_empty())
        .map(|value| SecretString::from(value.as_str()))
}

/// Asks on the terminal (`/dev/tty`, so it works while stdin is piped) with echo off;
/// `None` when there is no terminal. Refuses to ask if echo cannot be turned off.
fn prompt_hidden(prompt: &str) -> anyhow::Result<Option<Zeroizing<String>>> {
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return Ok(None);
    };
    let echo = EchoOff::new(&tty)?;
    let mut writer = &tty;
    writer.write_all(prompt.as_bytes())?;
    writer.flush()?;
    let mut line = Zeroizing::new(String::with_capacity(1024));
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    drop(echo);
    writer.write_all(b"\n")?;
    read.context("reading from the terminal")?;
    let trimmed = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(trimmed);
    Ok(Some(line))
}

/// Terminal echo switched off with `stty` for as long as it lives; restored on drop, also
/// when reading fails.
struct EchoOff(std::fs::File);

impl EchoOff {
    fn new(tty: &std::fs::File) -> anyhow::Result<EchoOff> {
        let handle = tty.try_clone()?;
        let status = std::process::Command::new("stty")
            .arg("-echo")
            .stdin(handle.try_clone()?)
            .status();
        match status {
            Ok(status) if status.success() => Ok(EchoOff(handle)),
            _ => anyhow::bail!(
                "cannot turn off echo on this terminal, so the secret would show: pipe it on stdin or set it in the environment instead"
            ),
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Ok(handle) = self.0.try_clone() {
            let _ = std::process::Command::new("stty")
                .arg("echo")
                .stdin(handle)
                .status();
        }
    }
}
