//! The audit chain under attack: a chain of 10,000 entries is tampered with in every way the
//! trust layer promises to catch, and `verify` must name the right `seq` each time, and
//! raise no false alarm on the intact chain. Appends from many connections must make one
//! unbroken chain, on SQLite and on Postgres.

#![allow(clippy::unwrap_used, reason = "tests: a panic is how a test fails")]

use audit::checkpoint::{Checkpoint, CheckpointKey};
use audit::verify::{Problem, Verifier};
use audit::{AuditEntry, Auditor, NewEntry};
use serde_json::json;

const CHAIN_LENGTH: i64 = 10_000;

/// Runs `case(location, tasks)` on one SQLite file (4 tasks a process) and, when
/// `REVOPS_TEST_POSTGRES_URL` is set, on one fresh Postgres schema (8 tasks a process).
macro_rules! on_one_database_from_two_processes {
    ($sqlite:ident, $postgres:ident, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            let dir = tempfile::tempdir().unwrap();
            $case(
                store::DatabaseLocation::SqliteFile(dir.path().join("revops.db")),
                4,
            )
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let Some(url) = store::test_support::postgres_url_or_skip(stringify!($postgres)) else {
                return;
            };
            let location = store::test_support::fresh_postgres_location(&url)
                .await
                .unwrap();
            $case(location, 8).await;
        }
    };
}

async fn append_many(store: &store::Store, auditor: &Auditor, count: i64, per_transaction: i64) {
    let mut written = 0;
    while written < count {
        let mut tx = store.begin_write().await.unwrap();
        for _ in 0..per_transaction.min(count - written) {
            let arguments = json!({"lead_id": format!("lead_{written:06}")});
            let entry = NewEntry {
                server: ["sales", "marketing", "cs"][(written % 3) as usize],
                actor_name: if written % 2 == 0 {
                    "dana@example.com"
                } else {
                    "li@example.com"
                },
                tool: "get_lead",
                kind: "read",
                arguments: &arguments,
                outcome: "ok",
                detail: "",
            };
            auditor.append(&mut tx, entry).await.unwrap();
            written += 1;
        }
        tx.commit().await.unwrap();
    }
}

/// A chain of 10,000 entries, read back in order, with a checkpoint of its head.
async fn intact_chain() -> (Vec<AuditEntry>, Checkpoint) {
    let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
    let auditor = Auditor::open(&store).await.unwrap();
    append_many(&store, &auditor, CHAIN_LENGTH, 2_000).await;
    let entries = audit::query::entries_after(&store, 0, CHAIN_LENGTH as u32 + 10)
        .await
        .unwrap();
    let key_dir = tempfile::tempdir().unwrap();
    let key = CheckpointKey::load_or_create(&key_dir.path().join("key")).unwrap();
    let head = entries.last().unwrap();
    let checkpoint = key.sign(head.seq, &head.hash);
    (entries, checkpoint)
}

fn verify(
    entries: &[AuditEntry],
    checkpoints: Vec<Checkpoint>,
) -> Result<audit::verify::Summary, audit::verify::Break> {
    let mut verifier = Verifier::new(checkpoints)?;
    for batch in entries.chunks(4096) {
        verifier.feed(batch)?;
    }
    verifier.finish()
}

fn expect_break(
    entries: &[AuditEntry],
    checkpoints: Vec<Checkpoint>,
    seq: i64,
    problem: Problem,
    case: &str,
) {
    match verify(entries, checkpoints) {
        Ok(summary) => panic!(
            "{case}: verify missed it ({} entries intact)",
            summary.entries
        ),
        Err(broken) => {
            assert_eq!(
                (broken.seq, broken.problem),
                (seq, problem),
                "{case}: {}",
                broken.explanation
            );
        }
    }
}

#[tokio::test]
async fn verify_catches_every_kind_of_tampering_and_names_the_first_bad_seq() {
    let (chain, checkpoint) = intact_chain().await;
    assert_eq!(chain.len() as i64, CHAIN_LENGTH);

    let summary = verify(&chain, vec![checkpoint.clone()]).expect("the intact chain verifies");
    assert_eq!(summary.entries, CHAIN_LENGTH as u64);
    assert_eq!(summary.checkpoints_matched, 1);

    // Alter any one field of an entry.
    // (A changed seq is a move: the swap and insertion cases below cover it.)
    type Alteration = (&'static str, fn(&mut AuditEntry));
    let fields: [Alteration; 10] = [
        ("occurred_at", |e| e.occurred_at.replace_range(0..4, "2025")),
        ("server", |e| e.server = "admin".into()),
        ("actor", |e| e.actor = "u_000000000000000000000000".into()),
        ("tool", |e| e.tool = "delete_everything".into()),
        ("kind", |e| e.kind = "write".into()),
        ("args_digest", |e| e.args_digest = "0".repeat(64)),
        ("outcome", |e| e.outcome = "denied".into()),
        ("detail", |e| e.detail = "nothing to see".into()),
        ("prev_hash", |e| e.prev_hash = "f".repeat(64)),
        ("hash", |e| e.hash = "e".repeat(64)),
    ];
    for (i, (field, alter)) in fields.iter().enumerate() {
        let seq = 1 + ((i as i64 + 1) * 937) % CHAIN_LENGTH;
        let mut tampered = chain.clone();
        alter(&mut tampered[(seq - 1) as usize]);
        expect_break(
            &tampered,
            vec![],
            seq,
            Problem::ContentAltered,
            &format!("altered {field} of seq {seq}"),
        );
    }

    // Delete an entry.
    let mut deleted = chain.clone();
    deleted.remove(4_999);
    expect_break(
        &deleted,
        vec![],
        5_000,
        Problem::EntryMissing,
        "deleted seq 5000",
    );

    // Insert an entry with a valid hash of its own, renumbering the rest.
    let mut inserted = chain.clone();
    let mut forged = chain[6_999].clone();
    forged.tool = "forged".into();
    forged.seq = 7_001;
    forged.prev_hash = chain[6_999].hash.clone();
    forged.hash = forged.computed_hash();
    inserted.insert(7_000, forged);
    for (position, entry) in inserted.iter_mut().enumerate().skip(7_001) {
        entry.seq = position as i64 + 1;
    }
    expect_break(
        &inserted,
        vec![],
        7_001,
        Problem::ChainBroken,
        "inserted at seq 7001",
    );

    // Swap two entries.
    let mut swapped = chain.clone();
    swapped.swap(2_999, 3_000);
    swapped[2_999].seq = 3_000;
    swapped[3_000].seq = 3_001;
    expect_break(
        &swapped,
        vec![],
        3_000,
        Problem::EntriesReordered,
        "swapped seq 3000 and 3001",
    );

    // Truncate the tail: only a checkpoint taken before shows it.
    let truncated = &chain[..9_900];
    verify(truncated, vec![]).expect("a truncated chain is self-consistent");
    expect_break(
        truncated,
        vec![checkpoint.clone()],
        9_901,
        Problem::TailTruncated,
        "truncated after 9900",
    );

    // Rewrite the tail with recomputed hashes: only a checkpoint shows it.
    let mut rewritten = chain.clone();
    for position in 8_000..rewritten.len() {
        if position == 8_000 {
            rewritten[position].outcome = "ok".into();
            rewritten[position].tool = "innocent_tool".into();
        }
        if position > 0 {
            rewritten[position].prev_hash = rewritten[position - 1].hash.clone();
        }
        rewritten[position].hash = rewritten[position].computed_hash();
    }
    verify(&rewritten, vec![]).expect("a rewritten chain is self-consistent");
    expect_break(
        &rewritten,
        vec![checkpoint.clone()],
        CHAIN_LENGTH,
        Problem::HistoryRewritten,
        "rewritten from 8001",
    );

    // Time going backwards, with hashes recomputed so only the clock gives it away.
    let mut backwards = chain.clone();
    backwards[1_233].occurred_at = "2000-01-01T00:00:00.000000Z".into();
    for position in 1_233..backwards.len() {
        backwards[position].prev_hash = backwards[position - 1].hash.clone();
        backwards[position].hash = backwards[position].computed_hash();
    }
    expect_break(
        &backwards,
        vec![],
        1_234,
        Problem::TimeWentBackwards,
        "time went backwards at 1234",
    );

    // A fork: an entry continuing an earlier entry than its predecessor.
    let mut forked = chain.clone();
    forked[4_000].prev_hash = chain[3_998].hash.clone();
    forked[4_000].hash = forked[4_000].computed_hash();
    expect_break(
        &forked,
        vec![],
        4_001,
        Problem::ChainForked,
        "forked at 4001",
    );

    // A forged checkpoint.
    let mut forged_checkpoint = checkpoint;
    forged_checkpoint.head_hash = chain[100].hash.clone();
    expect_break(
        &chain,
        vec![forged_checkpoint],
        CHAIN_LENGTH,
        Problem::BadCheckpoint,
        "forged checkpoint",
    );
}

/// The stores a test runs on: SQLite always, Postgres when `REVOPS_TEST_POSTGRES_URL` is set
/// (under CI it must be).
async fn every_backend(test: &str) -> Vec<(store::Store, Option<tempfile::TempDir>)> {
    let (sqlite, dir) = store::test_support::fresh_sqlite().await.unwrap();
    let mut stores = vec![(sqlite, Some(dir))];
    if let Some(url) = store::test_support::postgres_url_or_skip(test) {
        stores.push((
            store::test_support::fresh_postgres(&url).await.unwrap(),
            None,
        ));
    }
    stores
}

/// One entry with a detail that is hard to read back: several bytes per character, colons and
/// digits that look like the lengths the store's packed batches use.
async fn append_awkward(store: &store::Store, auditor: &Auditor) {
    let mut tx = store.begin_write().await.unwrap();
    let arguments = json!({"note": "ünïcödé"});
    let entry = NewEntry {
        server: "cs",
        actor_name: "zoë@example.com",
        tool: "log_note",
        kind: "write",
        arguments: &arguments,
        outcome: "error",
        detail: "12:34 über 5:6 — 日本語",
    };
    auditor.append(&mut tx, entry).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn tampering_in_the_database_is_found_by_verify_store() {
    for (store, _dir) in every_backend("tampering_in_the_database_is_found_by_verify_store").await {
        let auditor = Auditor::open(&store).await.unwrap();
        append_many(&store, &auditor, 300, 100).await;
        append_awkward(&store, &auditor).await;
        append_many(&store, &auditor, 199, 100).await;
        for batch in [7, 64, 5_000] {
            let intact = audit::verify::verify_store(&store, vec![], batch)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(intact.entries, 500);
            let last = audit::query::head(&store).await.unwrap().unwrap();
            assert_eq!(intact.head_hash, last.hash);
        }
        sqlx::query("UPDATE audit_log SET outcome = 'denied' WHERE seq = 321")
            .execute(store.pool())
            .await
            .unwrap();
        let broken = audit::verify::verify_store(&store, vec![], 64)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!((broken.seq, broken.problem), (321, Problem::ContentAltered));
        sqlx::query("UPDATE audit_log SET detail = '12:34 über 5:6 — 日本' WHERE seq = 301")
            .execute(store.pool())
            .await
            .unwrap();
        let broken = audit::verify::verify_store(&store, vec![], 64)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!((broken.seq, broken.problem), (301, Problem::ContentAltered));
    }
}

/// SQLite stores text with a NUL inside as given; the packed batch cannot carry it (its
/// `format` stops at the NUL), so verify must fall back to the rows as stored and still name
/// the altered entry, not call the store unreadable or blame a neighbour. (Postgres refuses
/// a NUL in text, so it has no such case.)
#[tokio::test]
async fn a_nul_written_into_an_sqlite_field_is_named_as_altered_content() {
    let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
    let auditor = Auditor::open(&store).await.unwrap();
    append_many(&store, &auditor, 400, 100).await;
    for (column, seq) in [("detail", 123), ("hash", 250), ("actor", 399)] {
        let sql = format!("SELECT {column} FROM audit_log WHERE seq = $1");
        let original: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(seq)
            .fetch_one(store.pool())
            .await
            .unwrap();
        let sql = format!(
            "UPDATE audit_log SET {column} = substr({column}, 1, 3) || char(0) || substr({column}, 4) WHERE seq = $1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seq)
            .execute(store.pool())
            .await
            .unwrap();
        let broken = audit::verify::verify_store(&store, vec![], 64)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(broken.seq, seq, "{column}: {}", broken.explanation);
        assert_eq!(broken.problem, Problem::ContentAltered, "{column}");
        let sql = format!("UPDATE audit_log SET {column} = $1 WHERE seq = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(original)
            .bind(seq)
            .execute(store.pool())
            .await
            .unwrap();
    }
    let intact = audit::verify::verify_store(&store, vec![], 64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(intact.entries, 400);
}

/// Migration 15 drops the unique index on `hash` (SQLite by rebuilding the table): a chain
/// written before it must come through whole, still verify, and still refuse a fork.
#[tokio::test]
async fn a_chain_written_before_migration_15_survives_it_whole_and_still_refuses_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let mut locations = vec![store::DatabaseLocation::SqliteFile(
        dir.path().join("old.db"),
    )];
    if let Some(url) = store::test_support::postgres_url_or_skip(
        "a_chain_written_before_migration_15_survives_it_whole_and_still_refuses_a_fork",
    ) {
        locations.push(
            store::test_support::fresh_postgres_location(&url)
                .await
                .unwrap(),
        );
    }
    for location in locations {
        let store = store::Store::connect(&location).await.unwrap();
        store.migrate_to(14).await.unwrap();
        let auditor = Auditor::open(&store).await.unwrap();
        append_many(&store, &auditor, 250, 50).await;
        let before = audit::query::entries_after(&store, 0, 1_000).await.unwrap();

        store.migrate().await.unwrap();
        let after = audit::query::entries_after(&store, 0, 1_000).await.unwrap();
        assert_eq!(after, before, "every entry, every field, in order");
        let intact = audit::verify::verify_store(&store, vec![], 64)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(intact.entries, 250);

        // Appends continue the chain, and a second entry extending the same predecessor
        // (a fork) is still refused by the store itself.
        append_many(&store, &auditor, 10, 5).await;
        let head = audit::query::head(&store).await.unwrap().unwrap();
        let fork = sqlx::query(
            "INSERT INTO audit_log (seq, occurred_at, server, actor, tool, kind, args_digest, \
             outcome, detail, prev_hash, hash) SELECT seq + 1, occurred_at, server, actor, tool, \
             kind, args_digest, outcome, detail, prev_hash, 'forged' FROM audit_log WHERE seq = $1",
        )
        .bind(head.seq)
        .execute(store.pool())
        .await;
        assert!(fork.is_err(), "a second child of one entry was stored");
        store.close().await;
    }
}

#[tokio::test]
async fn an_append_continues_the_real_head_after_a_rollback_or_another_process_appending() {
    for (store, _dir) in every_backend(
        "an_append_continues_the_real_head_after_a_rollback_or_another_process_appending",
    )
    .await
    {
        let auditor = Auditor::open(&store).await.unwrap();
        append_many(&store, &auditor, 3, 3).await;
        // The auditor remembers seq 4 from a transaction that never commits.
        let mut abandoned = store.begin_write().await.unwrap();
        let arguments = json!({});
        let entry = update_call(&arguments);
        assert_eq!(auditor.append(&mut abandoned, entry).await.unwrap().seq, 4);
        abandoned.rollback().await.unwrap();
        append_many(&store, &auditor, 2, 1).await;
        // Another process (its own auditor) appends; this one's remembered head is then stale.
        let other = Auditor::open(&store).await.unwrap();
        append_many(&store, &other, 2, 1).await;
        append_many(&store, &auditor, 2, 2).await;
        let summary = audit::verify::verify_store(&store, vec![], 100)
            .await
            .unwrap()
            .expect("one unbroken chain");
        assert_eq!(summary.entries, 9);
    }
}

/// An auditor of `store` with dana@example.com registered, as a server registers its actor
/// when it starts (so appends by her can take the one-trip path).
async fn auditor_for_dana(store: &store::Store) -> Auditor {
    let auditor = Auditor::open(store).await.unwrap();
    auditor
        .register_actor(store, "dana@example.com")
        .await
        .unwrap();
    auditor
}

/// A value no other call shares, so a caller can tell its entries from everyone else's.
fn rand_nonce() -> String {
    store::ids::new_id("n")
}

/// dana's successful `update_lead` call with `arguments`.
fn update_call(arguments: &serde_json::Value) -> NewEntry<'_> {
    NewEntry {
        server: "sales",
        actor_name: "dana@example.com",
        tool: "update_lead",
        kind: "write",
        arguments,
        outcome: "ok",
        detail: "",
    }
}

fn read_call<'a>(actor_name: &'a str, arguments: &'a serde_json::Value) -> NewEntry<'a> {
    NewEntry {
        server: "sales",
        actor_name,
        tool: "get_lead",
        kind: "read",
        arguments,
        outcome: "ok",
        detail: "",
    }
}

/// Appends `size` reads by `actor_name` in one transaction of their own and checks that
/// they come back numbered one after another.
async fn append_group_committed(
    store: &store::Store,
    auditor: &Auditor,
    actor_name: &str,
    size: usize,
) -> Vec<AuditEntry> {
    let arguments: Vec<serde_json::Value> = (0..size)
        .map(|n| json!({"lead_id": format!("lead_{n:06}"), "nonce": rand_nonce()}))
        .collect();
    let entries: Vec<NewEntry<'_>> = arguments
        .iter()
        .map(|arguments| read_call(actor_name, arguments))
        .collect();
    let appended = auditor.append_committed(store, &entries).await.unwrap();
    assert_eq!(appended.len(), size);
    assert!(
        appended
            .iter()
            .zip(&arguments)
            .all(|(entry, arguments)| entry.args_digest
                == audit::canonical::arguments_digest(arguments)),
        "each caller gets back its own entries, in its order, when commits are shared"
    );
    assert!(
        appended
            .windows(2)
            .all(|pair| pair[1].seq == pair[0].seq + 1),
        "a group's entries are numbered one after another"
    );
    appended
}

#[tokio::test]
async fn groups_appended_in_transactions_of_their_own_continue_the_chain_whatever_their_size() {
    for (store, _dir) in every_backend(
        "groups_appended_in_transactions_of_their_own_continue_the_chain_whatever_their_size",
    )
    .await
    {
        let auditor = auditor_for_dana(&store).await;
        let mut expected = 0;
        // Around the 40-row statements a group is split into: each later statement inserts
        // only on top of the one before it.
        for size in [1, 2, 39, 40, 41, 80, 81, 200, 1] {
            let appended = append_group_committed(&store, &auditor, "dana@example.com", size).await;
            assert_eq!(appended[0].seq, expected + 1);
            expected += size as i64;
        }
        // An actor not yet registered is registered in the group's transaction.
        append_group_committed(&store, &auditor, "newcomer@example.com", 3).await;
        expected += 3;
        assert!(
            audit::query::actor_name(&store, &auditor.pseudonym("newcomer@example.com"))
                .await
                .unwrap()
                .is_some()
        );
        let summary = audit::verify::verify_store(&store, vec![], 100)
            .await
            .unwrap()
            .expect("one unbroken chain");
        assert_eq!(summary.entries, expected as u64);
        store.close().await;
    }
}

#[tokio::test]
async fn a_group_built_on_a_stale_head_writes_nothing_and_is_appended_on_the_real_head() {
    for (store, _dir) in every_backend(
        "a_group_built_on_a_stale_head_writes_nothing_and_is_appended_on_the_real_head",
    )
    .await
    {
        let auditor = auditor_for_dana(&store).await;
        append_group_committed(&store, &auditor, "dana@example.com", 5).await;

        // Another process appends: this auditor's remembered head (seq 5) is now behind.
        let other = Auditor::open(&store).await.unwrap();
        other
            .register_actor(&store, "li@example.com")
            .await
            .unwrap();
        append_group_committed(&store, &other, "li@example.com", 45).await;
        let appended = append_group_committed(&store, &auditor, "dana@example.com", 45).await;
        assert_eq!(appended[0].seq, 51);

        // A transaction that rolls back leaves this auditor remembering a head that was never
        // committed (seq 96): ahead of the store's.
        let mut abandoned = store.begin_write().await.unwrap();
        let arguments = json!({});
        auditor
            .append(&mut abandoned, read_call("dana@example.com", &arguments))
            .await
            .unwrap();
        abandoned.rollback().await.unwrap();
        let appended = append_group_committed(&store, &auditor, "dana@example.com", 41).await;
        assert_eq!(appended[0].seq, 96);

        let summary = audit::verify::verify_store(&store, vec![], 100)
            .await
            .unwrap()
            .expect("one unbroken chain");
        assert_eq!(summary.entries, 136);
        store.close().await;
    }
}

/// A write call's change: a probe row whose key is `nonce`.
async fn change_in(tx: &mut store::WriteTx, nonce: &str) {
    sqlx::query("INSERT INTO store_settings (key, value, created_at) VALUES ($1, 'change', $2)")
        .bind(format!("probe_{nonce}"))
        .bind(store::clock::now())
        .execute(&mut **tx)
        .await
        .unwrap();
}

async fn changes_kept(store: &store::Store) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM store_settings WHERE key LIKE 'probe_%'")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Commits a change and its entry as a server commits a write call, and checks the entry
/// handed back is this call's own.
async fn write_call(store: &store::Store, auditor: &Auditor) -> AuditEntry {
    let nonce = rand_nonce();
    let arguments = json!({ "nonce": nonce });
    let mut tx = store.begin_write().await.unwrap();
    change_in(&mut tx, &nonce).await;
    let entry = update_call(&arguments);
    let committed = auditor.append_and_commit(tx, entry).await.unwrap();
    assert_eq!(
        committed.args_digest,
        audit::canonical::arguments_digest(&arguments),
        "the caller gets its own entry back"
    );
    committed
}

#[tokio::test]
async fn a_write_calls_entry_commits_with_its_change_on_the_real_head_even_when_the_guess_is_stale()
{
    for (store, _dir) in every_backend(
        "a_write_calls_entry_commits_with_its_change_on_the_real_head_even_when_the_guess_is_stale",
    )
    .await
    {
        let auditor = auditor_for_dana(&store).await;
        // The first goes the long way (no head cached yet), the next ride with their commits.
        for seq in 1..=3 {
            assert_eq!(write_call(&store, &auditor).await.seq, seq);
        }
        // Another process appends: this auditor's guess (seq 3) is now stale.
        let other = auditor_for_dana(&store).await;
        assert_eq!(write_call(&store, &other).await.seq, 4);
        assert_eq!(write_call(&store, &other).await.seq, 5);
        assert_eq!(
            write_call(&store, &auditor).await.seq,
            6,
            "a stale guess commits nothing; the entry goes on the real head"
        );
        assert_eq!(write_call(&store, &auditor).await.seq, 7);
        // A transaction that appended and rolled back leaves the guess one ahead.
        let mut abandoned = store.begin_write().await.unwrap();
        let arguments = json!({});
        assert_eq!(
            auditor
                .append(&mut abandoned, read_call("dana@example.com", &arguments))
                .await
                .unwrap()
                .seq,
            8
        );
        abandoned.rollback().await.unwrap();
        assert_eq!(write_call(&store, &auditor).await.seq, 8);
        assert_eq!(changes_kept(&store).await, 8, "every change kept once");
        let summary = audit::verify::verify_store(&store, vec![], 100)
            .await
            .unwrap()
            .expect("one unbroken chain");
        assert_eq!(summary.entries, 8);
        store.close().await;
    }
}

/// Two processes, `tasks` tasks each, committing write calls at once: every change kept
/// once, each with its own entry, in one unbroken chain.
async fn two_processes_commit_write_calls(location: store::DatabaseLocation, tasks: usize) {
    let first = store::Store::open(&location).await.unwrap();
    let second = store::Store::open(&location).await.unwrap();
    let mut running = Vec::new();
    for store in [first.clone(), second.clone()] {
        let auditor = auditor_for_dana(&store).await;
        for _ in 0..tasks {
            let (store, auditor) = (store.clone(), auditor.clone());
            running.push(tokio::spawn(async move {
                for _ in 0..40 {
                    write_call(&store, &auditor).await;
                }
            }));
        }
    }
    let expected = 2 * tasks as i64 * 40;
    join_then_expect_one_chain(running, &first, expected as u64).await;
    assert_eq!(changes_kept(&first).await, expected);
    first.close().await;
    second.close().await;
}

/// Waits for `running`, then checks that `store` holds one unbroken chain of `expected`
/// entries.
async fn join_then_expect_one_chain(
    running: Vec<tokio::task::JoinHandle<()>>,
    store: &store::Store,
    expected: u64,
) {
    for task in running {
        task.await.unwrap();
    }
    let summary = audit::verify::verify_store(store, vec![], 1000)
        .await
        .unwrap()
        .expect("one unbroken chain");
    assert_eq!(summary.entries, expected);
}

on_one_database_from_two_processes!(
    two_processes_committing_write_calls_at_once_make_one_unbroken_chain_on_sqlite,
    two_processes_committing_write_calls_at_once_make_one_unbroken_chain_on_postgres,
    two_processes_commit_write_calls
);

/// Two processes (two stores on one database, each with its own auditor and so its own
/// remembered head), `tasks` tasks each, appending groups of 1 to 45 entries in transactions
/// of their own: one unbroken chain holding every entry.
async fn two_processes_append_groups(location: store::DatabaseLocation, tasks: usize) {
    let first = store::Store::open(&location).await.unwrap();
    let second = store::Store::open(&location).await.unwrap();
    let size_of = |process: usize, task: usize, n: usize| 1 + (process * 7 + task * 3 + n) % 45;
    let mut running = Vec::new();
    for (process, store) in [first.clone(), second.clone()].into_iter().enumerate() {
        let auditor = auditor_for_dana(&store).await;
        for task in 0..tasks {
            let (store, auditor) = (store.clone(), auditor.clone());
            running.push(tokio::spawn(async move {
                for n in 0..30 {
                    let size = size_of(process, task, n);
                    append_group_committed(&store, &auditor, "dana@example.com", size).await;
                }
            }));
        }
    }
    let expected: usize = (0..2)
        .flat_map(|process| {
            (0..tasks).flat_map(move |task| (0..30).map(move |n| (process, task, n)))
        })
        .map(|(process, task, n)| size_of(process, task, n))
        .sum();
    join_then_expect_one_chain(running, &first, expected as u64).await;
    first.close().await;
    second.close().await;
}

on_one_database_from_two_processes!(
    two_processes_appending_groups_at_once_make_one_unbroken_chain_on_sqlite,
    two_processes_appending_groups_at_once_make_one_unbroken_chain_on_postgres,
    two_processes_append_groups
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_group_whose_snapshot_predates_the_append_lock_is_written_whole_on_the_real_head()
 {
    let Some(url) = store::test_support::postgres_url_or_skip(
        "on_postgres_a_group_whose_snapshot_predates_the_append_lock_is_written_whole_on_the_real_head",
    ) else {
        return;
    };
    let store = store::test_support::fresh_postgres(&url).await.unwrap();
    let auditor = auditor_for_dana(&store).await;
    append_group_committed(&store, &auditor, "dana@example.com", 3).await;

    // Another process appends seq 4 and holds the append lock, not yet committed.
    let other = Auditor::open(&store).await.unwrap();
    let mut holding = store.begin_write().await.unwrap();
    let arguments = json!({});
    let entry = read_call("li@example.com", &arguments);
    assert_eq!(other.append(&mut holding, entry).await.unwrap().seq, 4);

    // This group's statement starts now: its snapshot has no seq 4, so its guard passes,
    // and it waits for the lock.
    let group = tokio::spawn({
        let (store, auditor) = (store.clone(), auditor.clone());
        async move { append_group_committed(&store, &auditor, "dana@example.com", 5).await }
    });
    let waiting = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
    while sqlx::query_scalar::<_, i64>(waiting)
        .fetch_one(store.pool())
        .await
        .unwrap()
        == 0
    {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    holding.commit().await.unwrap();

    let appended = group.await.unwrap();
    assert_eq!(appended[0].seq, 5, "the group continues the real head");
    let summary = audit::verify::verify_store(&store, vec![], 100)
        .await
        .unwrap()
        .expect("one unbroken chain: the group was not stored in part on the stale head");
    assert_eq!(summary.entries, 9);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_shared_commit_fails_every_waiting_caller_hears_so_and_later_appends_still_commit() {
    let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
    let auditor = auditor_for_dana(&store).await;
    append_group_committed(&store, &auditor, "dana@example.com", 2).await;
    sqlx::query(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'the disk is full'); END",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let mut callers = Vec::new();
    for n in 0..12 {
        let (store, auditor) = (store.clone(), auditor.clone());
        callers.push(tokio::spawn(async move {
            let arguments = json!({"n": n});
            auditor
                .append_committed(&store, &[read_call("dana@example.com", &arguments)])
                .await
        }));
    }
    for caller in callers {
        assert!(
            caller.await.unwrap().is_err(),
            "a caller whose entry was not committed is told so"
        );
    }
    sqlx::query("DROP TRIGGER refuse_audit")
        .execute(store.pool())
        .await
        .unwrap();
    let appended = append_group_committed(&store, &auditor, "dana@example.com", 3).await;
    assert_eq!(
        appended[0].seq, 3,
        "nothing of the failed commits was stored"
    );
    let summary = audit::verify::verify_store(&store, vec![], 100)
        .await
        .unwrap()
        .expect("one unbroken chain");
    assert_eq!(summary.entries, 5);
}

#[tokio::test]
async fn a_caller_that_stops_waiting_while_it_commits_hands_the_others_entries_on() {
    let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
    let auditor = auditor_for_dana(&store).await;
    append_group_committed(&store, &auditor, "dana@example.com", 1).await;
    // A write transaction holds the process's turn to write: commits wait behind it.
    let holding = store.begin_write().await.unwrap();
    let append = |n: usize| {
        let (store, auditor) = (store.clone(), auditor.clone());
        tokio::spawn(async move {
            let arguments = json!({ "n": n });
            auditor
                .append_committed(&store, &[read_call("dana@example.com", &arguments)])
                .await
        })
    };
    // On this one-threaded runtime each task runs until it waits: the first finds nobody
    // committing and commits its own entry, waiting for the turn; the others queue.
    let first = append(0);
    tokio::task::yield_now().await;
    let others: Vec<_> = (1..=2).map(append).collect();
    tokio::task::yield_now().await;
    // The first caller stops waiting (its call cancelled) before its commit could start.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    holding.commit().await.unwrap();
    let mut seqs = Vec::new();
    for other in others {
        let appended = other
            .await
            .unwrap()
            .expect("the queue went on to another committer");
        seqs.push(appended[0].seq);
    }
    assert_eq!(seqs, [2, 3], "the stopped caller's entry was never written");
    let summary = audit::verify::verify_store(&store, vec![], 100)
        .await
        .unwrap()
        .expect("one unbroken chain");
    assert_eq!(summary.entries, 3);
    // Appends go on as before.
    assert_eq!(
        append_group_committed(&store, &auditor, "dana@example.com", 2).await[0].seq,
        4
    );
}

#[tokio::test]
async fn actors_are_pseudonyms_in_the_chain_and_their_names_can_be_erased() {
    let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
    let auditor = Auditor::open(&store).await.unwrap();
    append_many(&store, &auditor, 10, 10).await;
    let entries = audit::query::entries_after(&store, 0, 100).await.unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e.actor.starts_with("u_") && !e.actor.contains('@'))
    );
    let dana = auditor.pseudonym("dana@example.com");
    assert_eq!(
        audit::query::actor_name(&store, &dana)
            .await
            .unwrap()
            .as_deref(),
        Some("dana@example.com")
    );
    sqlx::query("DELETE FROM audit_actors WHERE actor_ref = $1")
        .bind(&dana)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(audit::query::actor_name(&store, &dana).await.unwrap(), None);
    audit::verify::verify_store(&store, vec![], 4)
        .await
        .unwrap()
        .expect("erasing a name leaves the chain intact");
}

/// `writers` tasks each committing `each` entries in write transactions: the even ones the
/// way a server commits a write call (its entry riding with the commit), the odd ones
/// appending, then committing.
async fn concurrent_appends_make_one_chain(store: store::Store, writers: usize, each: usize) {
    let auditor = Auditor::open(&store).await.unwrap();
    auditor
        .register_actor(&store, "concurrency@test")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let store = store.clone();
        let auditor = auditor.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..each {
                let mut tx = store.begin_write().await.unwrap();
                let arguments = json!({"writer": writer, "n": n});
                let entry = NewEntry {
                    server: "sales",
                    actor_name: "concurrency@test",
                    tool: "log_activity",
                    kind: "write",
                    arguments: &arguments,
                    outcome: "ok",
                    detail: "",
                };
                if writer % 2 == 0 {
                    auditor.append_and_commit(tx, entry).await.unwrap();
                } else {
                    auditor.append(&mut tx, entry).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let summary = audit::verify::verify_store(&store, vec![], 1000)
        .await
        .unwrap()
        .expect("one unbroken chain");
    assert_eq!(summary.entries, (writers * each) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_connections_appending_at_once_make_one_unbroken_chain_on_postgres() {
    let Some(url) = store::test_support::postgres_url_or_skip(
        "sixteen_connections_appending_at_once_make_one_unbroken_chain_on_postgres",
    ) else {
        return;
    };
    concurrent_appends_make_one_chain(
        store::test_support::fresh_postgres(&url).await.unwrap(),
        16,
        25,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_connections_appending_at_once_make_one_unbroken_chain_on_sqlite() {
    let (store, _dir) = store::test_support::fresh_sqlite().await.unwrap();
    concurrent_appends_make_one_chain(store, 8, 50).await;
}

#[tokio::test]
async fn entries_deleted_from_the_database_are_missing_even_when_more_than_a_batch_is_gone() {
    for (store, _dir) in every_backend(
        "entries_deleted_from_the_database_are_missing_even_when_more_than_a_batch_is_gone",
    )
    .await
    {
        let auditor = Auditor::open(&store).await.unwrap();
        append_many(&store, &auditor, 100, 50).await;
        sqlx::query("DELETE FROM audit_log WHERE seq BETWEEN 40 AND 60")
            .execute(store.pool())
            .await
            .unwrap();
        let broken = audit::verify::verify_store(&store, vec![], 7)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!((broken.seq, broken.problem), (40, Problem::EntryMissing));
    }
}
