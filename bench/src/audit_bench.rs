//! `revops-bench audit`: the audit log's append rate (one writer and several, SQLite and,
//! with `--postgres URL`, Postgres) and its verification rate on a million-entry chain,
//! next to the raw SHA-256 rate over the same bytes on this machine.

use std::time::{Duration, Instant};

use mcp_runtime::recorder::ReadAudit;
use sha2::Digest;

fn arguments(n: usize) -> serde_json::Value {
    serde_json::json!({"lead_id": format!("lead_{n:06}"), "limit": 25})
}

/// The entry of one bench call by the bench's actor.
fn call<'a>(tool: &'a str, kind: &'a str, arguments: &'a serde_json::Value) -> audit::NewEntry<'a> {
    audit::NewEntry {
        server: "sales",
        actor_name: "bench@example.com",
        tool,
        kind,
        arguments,
        outcome: "ok",
        detail: "",
    }
}

/// How each bench append reaches the store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AppendPath {
    /// `Auditor::append_committed`: the entry in a transaction of its own, as a server
    /// records a refusal, an error or a group of reads (one trip to SQLite when the head is
    /// cached).
    Committed,
    /// `begin_write`, `Auditor::append`, `commit`: the way a write call's entry goes, with
    /// no change beside it.
    InWriteTransaction,
}

async fn append_one(
    store: &store::Store,
    auditor: &audit::Auditor,
    n: usize,
    path: AppendPath,
) -> anyhow::Result<()> {
    let arguments = arguments(n);
    let entry = call("get_lead", "read", &arguments);
    match path {
        AppendPath::Committed => {
            auditor.append_committed(store, &[entry]).await?;
        }
        AppendPath::InWriteTransaction => {
            let mut tx = store.begin_write().await?;
            auditor.append(&mut tx, entry).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Appends `total` entries, each in its own committed transaction, from `writers` tasks.
async fn append_rate(
    store: &store::Store,
    writers: usize,
    total: usize,
    path: AppendPath,
) -> anyhow::Result<(f64, Duration, Duration)> {
    let auditor = audit::Auditor::open(store).await?;
    auditor.register_actor(store, "bench@example.com").await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let store = store.clone();
        let auditor = auditor.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for n in 0..total / writers {
                let one = Instant::now();
                append_one(&store, &auditor, writer * total + n, path).await?;
                latencies.push(one.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok((
        total as f64 / elapsed.as_secs_f64(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
    ))
}

/// How a bench write call ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CallEnd {
    /// Commit, recording nothing: the floor the audit step is measured against.
    Unaudited,
    /// `Auditor::append_and_commit`: the entry rides with the commit, as a server commits.
    EntryWithCommit,
    /// `Auditor::append`, then commit: a trip for each.
    AppendThenCommit,
}

/// The audit step of a write call: the time a whole write call (begin, one change, commit)
/// takes with its entry, less the time it takes without. The three kinds of call take turns,
/// so drift on the machine touches each alike. With `pause`, calls come that far apart, as a
/// server's calls come with their own work between them: what a call leaves to do in the
/// background (its connection's return to the pool; after an entry that rode with the
/// commit, the rollback of the empty transaction its trailing `BEGIN` opened) is done before
/// the next begins. Without, they come back to back, and that work competes with the next
/// call. Medians over `calls` calls of each.
async fn audit_step(
    store: &store::Store,
    calls: usize,
    pause: Option<Duration>,
) -> anyhow::Result<StepTimes> {
    let auditor = audit::Auditor::open(store).await?;
    auditor.register_actor(store, "bench@example.com").await?;
    let ends = [
        CallEnd::Unaudited,
        CallEnd::EntryWithCommit,
        CallEnd::AppendThenCommit,
    ];
    let mut times: [Vec<Duration>; 3] = Default::default();
    for n in 0..calls {
        for (end, times) in ends.iter().zip(times.iter_mut()) {
            if let Some(pause) = pause {
                tokio::time::sleep(pause).await;
            }
            let arguments = arguments(n);
            let entry = call("update_lead", "write", &arguments);
            let started = Instant::now();
            let mut tx = store.begin_write().await?;
            // A real change, so every commit has something to write (and, under
            // synchronous=FULL, to flush) with or without its entry.
            sqlx::query(
                "INSERT INTO store_settings (key, value, created_at) VALUES ('bench_change', $1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(n.to_string())
            .bind(store::clock::now())
            .execute(&mut *tx)
            .await?;
            match end {
                CallEnd::Unaudited => tx.commit().await?,
                CallEnd::EntryWithCommit => {
                    auditor.append_and_commit(tx, entry).await?;
                }
                CallEnd::AppendThenCommit => {
                    auditor.append(&mut tx, entry).await?;
                    tx.commit().await?;
                }
            }
            times.push(started.elapsed());
        }
    }
    let [mut unaudited, mut with_commit, mut then_commit] = times;
    let percentile = |times: &mut Vec<Duration>, p: usize| {
        times.sort();
        times[times.len() * p / 100]
    };
    Ok(StepTimes {
        unaudited: percentile(&mut unaudited, 50),
        entry_with_commit: percentile(&mut with_commit, 50),
        entry_with_commit_p99: percentile(&mut with_commit, 99),
        append_then_commit: percentile(&mut then_commit, 50),
    })
}

/// Successful reads recorded the way a server records them: through the `AuditRecorder`,
/// whose background writer commits queued entries in groups. `producers` tasks record
/// `total` reads between them; the clock stops when the recorder has shut down, that is when
/// every entry is committed (and, under `synchronous=FULL`, on disk).
async fn recorded_read_rate(
    store: &store::Store,
    producers: usize,
    total: usize,
    read_audit: ReadAudit,
) -> anyhow::Result<f64> {
    let auditor = audit::Auditor::open(store).await?;
    auditor.register_actor(store, "bench@example.com").await?;
    let before = audit::query::head(store).await?.map_or(0, |head| head.seq);
    let recorder = std::sync::Arc::new(mcp_runtime::recorder::AuditRecorder::start(
        auditor,
        store.clone(),
        None,
        read_audit,
    ));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for producer in 0..producers {
        let recorder = recorder.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..total / producers {
                let record = mcp_runtime::recorder::CallRecord {
                    server: "sales",
                    actor: "bench@example.com".into(),
                    tool: "get_lead".into(),
                    kind: mcp_runtime::ToolKind::Read,
                    arguments: arguments(producer * total + n),
                    outcome: mcp_runtime::recorder::Outcome::Ok,
                    detail: String::new(),
                    duration_micros: 40,
                };
                mcp_runtime::recorder::CallRecorder::record(&*recorder, &record).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    mcp_runtime::recorder::CallRecorder::shutdown(&*recorder).await;
    let elapsed = started.elapsed();
    let committed = audit::query::head(store).await?.map_or(0, |head| head.seq) - before;
    anyhow::ensure!(
        committed as usize == total / producers * producers,
        "the recorder committed {committed} of {total} entries"
    );
    Ok(committed as f64 / elapsed.as_secs_f64())
}

struct StepTimes {
    /// Medians of a whole write call: without an entry, with it riding with the commit, with
    /// it appended before the commit; and the 99th percentile of the second.
    unaudited: Duration,
    entry_with_commit: Duration,
    entry_with_commit_p99: Duration,
    append_then_commit: Duration,
}

/// Builds a chain of `entries` quickly (many entries per transaction).
async fn build_chain(store: &store::Store, entries: usize) -> anyhow::Result<()> {
    let auditor = audit::Auditor::open(store).await?;
    // As a server does at start: the actor's name is registered once, not per entry.
    auditor.register_actor(store, "bench@example.com").await?;
    let mut written = 0;
    while written < entries {
        let count = 10_000.min(entries - written);
        let arguments: Vec<serde_json::Value> = (written..written + count).map(arguments).collect();
        let group: Vec<audit::NewEntry<'_>> = arguments
            .iter()
            .enumerate()
            .map(|(i, arguments)| audit::NewEntry {
                server: ["sales", "marketing", "cs"][(written + i) % 3],
                actor_name: "bench@example.com",
                tool: "get_lead",
                kind: "read",
                arguments,
                outcome: "ok",
                detail: "",
            })
            .collect();
        let mut tx = store.begin_write().await?;
        auditor.append_all(&mut tx, &group).await?;
        tx.commit().await?;
        written += count;
    }
    Ok(())
}

/// The shortest of three runs of `once`.
/// A fresh store for one measurement: a SQLite file in `folder`, or a new Postgres schema.
async fn bench_store(
    postgres_url: Option<&str>,
    folder: &tempfile::TempDir,
) -> anyhow::Result<store::Store> {
    Ok(match postgres_url {
        None => {
            store::Store::open(&store::DatabaseLocation::SqliteFile(
                folder.path().join("bench.db"),
            ))
            .await?
        }
        Some(url) => store::test_support::fresh_postgres(url).await?,
    })
}

fn best_of_three(once: impl Fn() -> anyhow::Result<Duration>) -> anyhow::Result<Duration> {
    let mut best = once()?;
    for _ in 1..3 {
        best = best.min(once()?);
    }
    Ok(best)
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let chain_length = crate::flag(args, "--entries", 1_000_000);
    let appends = crate::flag(args, "--appends", 20_000);
    let postgres = args
        .iter()
        .position(|a| a == "--postgres")
        .and_then(|i| args.get(i + 1))
        .cloned();

    let synchronous = store::config::var("REVOPS_SQLITE_SYNCHRONOUS")
        .unwrap_or_else(|| "normal".into())
        .to_ascii_uppercase();
    println!(
        "Audit log appends: each entry its own committed transaction (SQLite: WAL, synchronous={synchronous}; \
         REVOPS_SQLITE_SYNCHRONOUS=full for FULL)"
    );
    let mut targets = vec![("sqlite".to_string(), None)];
    if let Some(url) = &postgres {
        targets.push(("postgres".to_string(), Some(url.clone())));
    }
    for (name, url) in &targets {
        for writers in [1, 4, 16] {
            for (path, how) in [
                (AppendPath::Committed, "append_committed"),
                (AppendPath::InWriteTransaction, "begin+append+commit"),
            ] {
                let folder = tempfile::tempdir()?;
                let store = bench_store(url.as_deref(), &folder).await?;
                let (rate, p50, p99) = append_rate(&store, writers, appends, path).await?;
                println!(
                    "  {name:<8} {writers} writer(s), {how:<19}: {rate:>9.0} appends/s, median {:>6.1} µs, p99 {:>7.1} µs",
                    p50.as_secs_f64() * 1e6,
                    p99.as_secs_f64() * 1e6
                );
                store.close().await;
            }
            if writers == 1 {
                let folder = tempfile::tempdir()?;
                let store = bench_store(url.as_deref(), &folder).await?;
                for (pause, pace) in [
                    (Some(Duration::from_millis(1)), "a millisecond apart"),
                    (None, "back to back"),
                ] {
                    let times = audit_step(&store, 1_000, pause).await?;
                    let micros = |d: Duration| d.as_secs_f64() * 1e6;
                    println!(
                        "  {name:<8} audit step of a write call, calls {pace}: {:>6.1} µs (whole call median {:.1} µs with its entry riding with the commit, p99 {:.1} µs; \
                         {:.1} µs unaudited; {:.1} µs appending before the commit, a step of {:.1} µs)",
                        micros(times.entry_with_commit.saturating_sub(times.unaudited)),
                        micros(times.entry_with_commit),
                        micros(times.entry_with_commit_p99),
                        micros(times.unaudited),
                        micros(times.append_then_commit),
                        micros(times.append_then_commit.saturating_sub(times.unaudited)),
                    );
                }
                store.close().await;
            }
        }
        for (read_audit, mode) in [
            (ReadAudit::Background, "background"),
            (ReadAudit::BeforeAnswer, "before_answer"),
        ] {
            for producers in [1, 16] {
                let folder = tempfile::tempdir()?;
                let store = bench_store(url.as_deref(), &folder).await?;
                let rate = recorded_read_rate(&store, producers, appends * 5, read_audit).await?;
                println!(
                    "  {name:<8} {producers:>2} caller(s) recording reads (group commits, as a server does; REVOPS_AUDIT_READS={mode}): {rate:>9.0} committed entries/s{}",
                    if read_audit == ReadAudit::BeforeAnswer && producers == 1 {
                        format!(", each read waiting {:.0} µs for its commit", 1e6 / rate)
                    } else {
                        String::new()
                    }
                );
                store.close().await;
            }
        }
    }

    println!("\nVerification of a {chain_length}-entry chain");
    let folder = tempfile::tempdir()?;
    let store = store::Store::open(&store::DatabaseLocation::SqliteFile(
        folder.path().join("chain.db"),
    ))
    .await?;
    let started = Instant::now();
    build_chain(&store, chain_length).await?;
    println!("  built in {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let summary = audit::verify::verify_store(&store, vec![], 20_000)
        .await?
        .map_err(|b| anyhow::anyhow!("{}", b.explanation))?;
    let from_store = started.elapsed();

    // The export: the same entries as JSON lines, and the bytes the hashes cover.
    let export_path = folder.path().join("export.jsonl");
    let mut export = std::io::BufWriter::new(std::fs::File::create(&export_path)?);
    let mut hashed_bytes: u64 = 0;
    let mut after = 0;
    loop {
        let batch = audit::query::entries_after(&store, after, 50_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        for entry in &batch {
            serde_json::to_writer(&mut export, entry)?;
            std::io::Write::write_all(&mut export, b"\n")?;
            hashed_bytes += entry.hashed_len() as u64;
        }
    }
    // On disk before anything is timed, so the kernel's write-back does not share the cores.
    export.into_inner()?.sync_all()?;

    // Each rate over the export is the best of three runs: on a small VM one run can lose a
    // core to the host, and the rates are compared with each other.
    let verify_once = || -> anyhow::Result<Duration> {
        let reader = std::io::BufReader::new(std::fs::File::open(&export_path)?);
        let started = Instant::now();
        audit::verify::verify_export(reader, vec![])?
            .map_err(|b| anyhow::anyhow!("{}", b.explanation))?;
        Ok(started.elapsed())
    };
    let from_export = best_of_three(verify_once)?;

    // The yardstick: raw SHA-256 over the same number of bytes, one core, one hash per entry.
    let entry_bytes = vec![0x5au8; (hashed_bytes / summary.entries.max(1)) as usize];
    let started = Instant::now();
    for _ in 0..summary.entries {
        std::hint::black_box(sha2::Sha256::digest(&entry_bytes));
    }
    let raw_time = started.elapsed();
    // Raw SHA-256 over the same bytes verify reads: one stream over the export file, read
    // from the page cache in 64 KiB pieces as `sha256sum` reads it, with the same SHA-256
    // code the verifier uses (SHA-NI where the CPU has it).
    let stream_once = || -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut file = std::fs::File::open(&export_path)?;
        let mut piece = vec![0u8; 1 << 16];
        let mut stream = sha2::Sha256::new();
        loop {
            let read = std::io::Read::read(&mut file, &mut piece)?;
            if read == 0 {
                break;
            }
            stream.update(&piece[..read]);
        }
        std::hint::black_box(stream.finalize());
        Ok(started.elapsed())
    };
    let sha256sum_time = best_of_three(stream_once)?;
    let export_bytes = std::fs::metadata(&export_path)?.len();
    // And the `sha256sum` command itself, where there is one: the issue's own yardstick.
    let command_once = || -> anyhow::Result<Duration> {
        let started = Instant::now();
        let status = std::process::Command::new("sha256sum")
            .arg(&export_path)
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "sha256sum failed");
        Ok(started.elapsed())
    };
    let command_time = best_of_three(command_once).ok();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let rate = |d: Duration| summary.entries as f64 / d.as_secs_f64();
    println!(
        "  {} entries, {:.0} bytes hashed per entry",
        summary.entries,
        hashed_bytes as f64 / summary.entries as f64
    );
    println!(
        "  verify from the store:   {:>10.0} entries/s ({:.2} s)",
        rate(from_store),
        from_store.as_secs_f64()
    );
    println!(
        "  verify an export file:   {:>10.0} entries/s ({:.2} s)",
        rate(from_export),
        from_export.as_secs_f64()
    );
    println!(
        "  raw SHA-256, one core:   {:>10.0} hashes/s of the same size",
        rate(raw_time)
    );
    println!(
        "  raw SHA-256 streamed over the export file: {:>8.0} entries/s ({:.0} bytes per line)",
        rate(sha256sum_time),
        export_bytes as f64 / summary.entries as f64
    );
    if let Some(command_time) = command_time {
        println!(
            "  the sha256sum command over the export:   {:>8.0} entries/s",
            rate(command_time)
        );
    }
    println!(
        "  export verification per core = {:.0}% of one SHA-256 per entry, {:.0}% of raw SHA-256 streamed over the file{} ({} cores)",
        100.0 * rate(from_export) / cores as f64 / rate(raw_time),
        100.0 * rate(from_export) / cores as f64 / rate(sha256sum_time),
        command_time.map_or(String::new(), |command_time| format!(
            ", {:.0}% of the sha256sum command",
            100.0 * rate(from_export) / cores as f64 / rate(command_time)
        )),
        cores
    );
    println!(
        "  store verification per core = {:.0}% of one SHA-256 per entry",
        100.0 * rate(from_store) / cores as f64 / rate(raw_time),
    );
    store.close().await;

    if let Some(url) = &postgres {
        let store = store::test_support::fresh_postgres(url).await?;
        let started = Instant::now();
        build_chain(&store, chain_length).await?;
        println!(
            "  Postgres: built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        audit::verify::verify_store(&store, vec![], 20_000)
            .await?
            .map_err(|b| anyhow::anyhow!("{}", b.explanation))?;
        let from_postgres = started.elapsed();
        println!(
            "  verify from Postgres:    {:>10.0} entries/s ({:.2} s)",
            rate(from_postgres),
            from_postgres.as_secs_f64()
        );
        // The chain fills hundreds of megabytes: its schema goes when the figure is taken.
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(store.pool())
            .await?;
        store.close().await;
        let admin = store::Store::connect(&store::DatabaseLocation::parse(url)?).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(admin.pool())
            .await?;
        admin.close().await;
    }
    Ok(())
}
