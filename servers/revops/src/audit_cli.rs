//! `revops audit`: verify the chain (against signed checkpoints), sign a checkpoint, query
//! and export entries. Exit codes of `verify`: 0 intact, 1 broken, 2 cannot read the log.
#![allow(
    clippy::print_stdout,
    reason = "the operator CLI prints its results for a person"
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::team::{DatabaseOptions, open_store};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that the audit chain is intact; name the first bad entry if not.
    Verify {
        /// A checkpoint file to hold the chain to (repeatable).
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// Verify an export (JSON lines) instead of the store.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Sign the current head of the chain and write the checkpoint to a file (or stdout).
    Checkpoint {
        /// Where to write the checkpoint; default stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The signing key file (created with permissions 0600 if missing);
        /// default REVOPS_CHECKPOINT_KEY_FILE or checkpoint.key in the data folder.
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Show entries by actor, server, tool, outcome and time.
    Query {
        /// The actor's name (as in REVOPS_ACTOR); matched through its pseudonym.
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        tool: Option<String>,
        /// ok, error, denied or awaiting_confirmation.
        #[arg(long)]
        outcome: Option<String>,
        /// RFC 3339 time; entries at or after it.
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339 time; entries before it.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        database: DatabaseOptions,
    },
    /// Write every entry, with hashes, as JSON lines (verifiable with `verify --file`).
    Export {
        /// Where to write; default stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        database: DatabaseOptions,
    },
}

pub async fn run(command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify {
            checkpoints,
            file,
            json,
            database,
        } => verify(checkpoints, file, json, database).await,
        AuditCommand::Checkpoint { out, key, database } => {
            let store = open_store(&database).await?;
            let head = audit::query::head(&store).await?;
            let (seq, hash) =
                head.map_or((0, audit::GENESIS_HASH.to_string()), |h| (h.seq, h.hash));
            let key_path = key.unwrap_or_else(audit::checkpoint::default_key_path);
            let key = audit::checkpoint::CheckpointKey::load_or_create(&key_path)?;
            let checkpoint = key.sign(seq, &hash);
            let text = serde_json::to_string_pretty(&checkpoint)?;
            match out {
                Some(path) => {
                    std::fs::write(&path, format!("{text}\n"))?;
                    eprintln!(
                        "checkpoint of seq {seq} written to {} (key {})",
                        path.display(),
                        checkpoint.key_id
                    );
                }
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Query {
            actor,
            server,
            tool,
            outcome,
            since,
            until,
            limit,
            json,
            database,
        } => {
            let store = open_store(&database).await?;
            let auditor = audit::Auditor::open(&store).await?;
            let time = |value: Option<String>, flag: &str| -> anyhow::Result<Option<String>> {
                value
                    .map(|v| {
                        store::clock::parse(&v)
                            .map(store::clock::format)
                            .ok_or_else(|| {
                                anyhow::anyhow!(
                                    "--{flag} must be an RFC 3339 time, e.g. 2026-11-01T00:00:00Z"
                                )
                            })
                    })
                    .transpose()
            };
            let filter = audit::query::AuditFilter {
                actor: actor.as_deref().map(|name| auditor.pseudonym(name)),
                server,
                tool,
                outcome,
                since: time(since, "since")?,
                until: time(until, "until")?,
            };
            let entries = audit::query::find(&store, &filter, 0, limit).await?;
            let mut stdout = std::io::stdout().lock();
            if !json {
                writeln!(
                    stdout,
                    "{:>8}  {:<27}  {:<9}  {:<26}  {:<22}  {:<11}  outcome",
                    "seq", "time", "server", "actor", "tool", "kind"
                )?;
            }
            for entry in entries {
                let name = audit::query::actor_name(&store, &entry.actor)
                    .await?
                    .unwrap_or_else(|| entry.actor.clone());
                if json {
                    let mut value = serde_json::to_value(&entry)?;
                    value["actor_name"] = serde_json::Value::String(name);
                    writeln!(stdout, "{value}")?;
                } else {
                    writeln!(
                        stdout,
                        "{:>8}  {:<27}  {:<9}  {:<26}  {:<22}  {:<11}  {} {}",
                        entry.seq,
                        entry.occurred_at,
                        entry.server,
                        name,
                        entry.tool,
                        entry.kind,
                        entry.outcome,
                        entry.detail
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { out, database } => {
            let store = open_store(&database).await?;
            let mut writer: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let mut after = 0;
            let mut count = 0u64;
            loop {
                let batch = audit::query::entries_after(&store, after, 10_000).await?;
                let Some(last) = batch.last() else { break };
                after = last.seq;
                for entry in &batch {
                    serde_json::to_writer(&mut writer, entry)?;
                    writer.write_all(b"\n")?;
                    count += 1;
                }
            }
            writer.flush()?;
            if let Some(path) = out {
                eprintln!("{count} entries written to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn verify(
    checkpoint_files: Vec<PathBuf>,
    file: Option<PathBuf>,
    json: bool,
    database: DatabaseOptions,
) -> anyhow::Result<ExitCode> {
    let mut checkpoints = Vec::new();
    for path in &checkpoint_files {
        match audit::checkpoint::Checkpoint::read(path) {
            Ok(checkpoint) => checkpoints.push(checkpoint),
            Err(error) => return Ok(cannot_read(&error.to_string(), json)),
        }
    }
    let outcome = match &file {
        Some(path) => match std::fs::File::open(path) {
            Ok(reader) => {
                audit::verify::verify_export(std::io::BufReader::new(reader), checkpoints)
            }
            Err(error) => {
                return Ok(cannot_read(
                    &format!("cannot open {}: {error}", path.display()),
                    json,
                ));
            }
        },
        None => match open_existing_store(&database).await {
            Ok(store) => audit::verify::verify_store(&store, checkpoints, 8192).await,
            Err(error) => return Ok(cannot_read(&format!("{error:#}"), json)),
        },
    };
    match outcome {
        Ok(Ok(summary)) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"intact": true, "summary": summary})
                );
            } else {
                println!(
                    "intact: {} entries, head seq {} hash {}, {} .. {}, {} checkpoint(s) matched",
                    summary.entries,
                    summary.head_seq,
                    summary.head_hash,
                    summary.first_at.as_deref().unwrap_or("-"),
                    summary.last_at.as_deref().unwrap_or("-"),
                    summary.checkpoints_matched
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(broken)) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"intact": false, "first_bad_seq": broken.seq, "problem": broken.problem, "explanation": broken.explanation})
                );
            } else {
                println!("BROKEN at seq {}: {}", broken.seq, broken.explanation);
            }
            Ok(ExitCode::from(1))
        }
        Err(error) => Ok(cannot_read(&error.to_string(), json)),
    }
}

/// Opens the store without creating or migrating anything: verifying must not change what
/// it verifies, nor invent an empty log where there was none.
async fn open_existing_store(database: &DatabaseOptions) -> anyhow::Result<store::Store> {
    let location = database.location()?;
    if let Some(path) = location.sqlite_path()
        && !path.is_file()
    {
        anyhow::bail!("there is no SQLite database at {}", path.display());
    }
    Ok(store::Store::connect(&location).await?)
}

fn cannot_read(message: &str, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({"intact": null, "error": message}));
    } else {
        eprintln!("error: cannot read the audit log: {message}");
    }
    ExitCode::from(2)
}
