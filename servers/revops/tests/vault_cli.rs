//! `revops vault` through the built binary, on SQLite and (with `REVOPS_TEST_POSTGRES_URL`)
//! Postgres: init prints a key once, set reads the secret from stdin, list never shows a
//! value, delete wants the name typed back, rotate prints the new key before re-encrypting;
//! with logs at TRACE, no secret reaches stderr, and none is ever on the command line.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "tests: a panic is how a test fails"
)]

use std::io::Write;
use std::process::{Command, Stdio};

use vault::{ExposeSecret, MasterKey, Vault};

/// What one run of `revops` did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `revops <args>` on `database` with `env` (master-key variables are cleared first, so
/// the developer's own environment cannot leak in) and `stdin` piped in.
fn revops(database: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_revops"));
    command.env("REVOPS_CONFIG", "none");
    command
        .args(args)
        .env("REVOPS_DATABASE_URL", database)
        .env("REVOPS_LOG", "trace")
        .env_remove("REVOPS_MASTER_KEY")
        .env_remove("REVOPS_MASTER_PASSPHRASE")
        .env_remove("REVOPS_NEW_MASTER_PASSPHRASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn open(database: &str) -> store::Store {
    store::Store::open(&store::DatabaseLocation::parse(database).unwrap())
        .await
        .unwrap()
}

async fn the_whole_life_of_a_vault(database: &str) {
    let secret = "pat-na1-cli-0123456789-SECRET";
    let other = "sf-client-secret-cli-SECRET";
    let mut runs = Vec::new();

    // Before init: listing works and says how to set one up; setting says the same.
    let before = revops(database, &["vault", "list"], &[], "");
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert!(
        before.stderr.contains("revops vault init"),
        "{}",
        before.stderr
    );
    let early = revops(
        database,
        &["vault", "set", "hubspot", "private_app_token"],
        &[],
        secret,
    );
    assert_eq!(early.code, 2);
    assert!(
        early.stderr.contains("revops vault init") && early.stderr.contains("REVOPS_MASTER_KEY"),
        "{}",
        early.stderr
    );
    runs.extend([before, early]);

    // Init: the key, alone on stdout; the warning on stderr.
    let init = revops(database, &["vault", "init"], &[], "");
    assert_eq!(init.code, 0, "{}", init.stderr);
    let key = init.stdout.trim().to_string();
    assert_eq!(init.stdout.lines().count(), 1, "only the key on stdout");
    assert!(MasterKey::from_base64(&key).is_ok(), "a 32-byte base64 key");
    assert!(init.stderr.contains("Store it safely"), "{}", init.stderr);
    assert!(!init.stderr.contains(&key), "the key is not in the log");
    let again = revops(database, &["vault", "init"], &[], "");
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already has a credential vault"),
        "{}",
        again.stderr
    );
    assert!(again.stdout.is_empty(), "no second key is shown");
    runs.push(again);

    // Set from stdin (the trailing newline is the shell's, not the secret's).
    let with_key = [("REVOPS_MASTER_KEY", key.as_str())];
    let set = revops(
        database,
        &["vault", "set", "hubspot", "private_app_token"],
        &with_key,
        &format!("{secret}\n"),
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(
        set.stderr
            .contains("stored hubspot/private_app_token (key version 1)"),
        "{}",
        set.stderr
    );
    let set_other = revops(
        database,
        &[
            "vault",
            "set",
            "salesforce",
            "client_secret",
            "--expires-at",
            "2030-01-01T00:00:00Z",
        ],
        &with_key,
        other,
    );
    assert_eq!(set_other.code, 0, "{}", set_other.stderr);
    let wrong_key = MasterKey::generate().unwrap().to_base64().unwrap();
    let wrong = revops(
        database,
        &["vault", "set", "hubspot", "private_app_token"],
        &[("REVOPS_MASTER_KEY", wrong_key.expose_secret())],
        "overwritten-SECRET",
    );
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("does not open this vault"),
        "{}",
        wrong.stderr
    );
    runs.extend([set, set_other, wrong]);

    let store = open(database).await;
    let opened = Vault::open(&store, MasterKey::from_base64(&key).unwrap())
        .await
        .unwrap();
    assert_eq!(
        opened
            .get("hubspot", "private_app_token")
            .await
            .unwrap()
            .expose_secret(),
        secret
    );

    // List: names, providers, ages, versions; no value.
    let list = revops(database, &["vault", "list"], &[], "");
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("hubspot") && list.stdout.contains("private_app_token"));
    assert!(
        list.stdout.contains("2030-01-01T00:00:00.000000Z"),
        "{}",
        list.stdout
    );
    let json = revops(database, &["vault", "list", "--json"], &[], "");
    let listed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["key_version"], 1);
    assert_eq!(listed[0]["age_days"], 0);
    runs.extend([list, json]);

    // Delete: refused unless the name is typed back.
    for typed in ["", "private_app_tokn\n"] {
        let refused = revops(
            database,
            &["vault", "delete", "hubspot", "private_app_token"],
            &[],
            typed,
        );
        assert_eq!(refused.code, 1, "{}", refused.stderr);
        assert!(refused.stderr.contains("not deleted"), "{}", refused.stderr);
        runs.push(refused);
    }
    assert_eq!(vault::list(&store).await.unwrap().len(), 2);
    let missing = revops(
        database,
        &["vault", "delete", "hubspot", "nothing_here", "--yes"],
        &[],
        "",
    );
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("revops vault list"),
        "{}",
        missing.stderr
    );
    runs.push(missing);

    // Rotate: the new key printed, everything re-encrypted, the old key retired.
    let rotate = revops(database, &["vault", "rotate"], &with_key, "");
    assert_eq!(rotate.code, 0, "{}", rotate.stderr);
    let new_key = rotate.stdout.trim().to_string();
    assert_ne!(new_key, key);
    assert!(
        rotate
            .stderr
            .contains("2 credential(s) re-encrypted from key version 1 to 2"),
        "{}",
        rotate.stderr
    );
    let stale = revops(
        database,
        &["vault", "set", "hubspot", "x"],
        &with_key,
        "x-SECRET",
    );
    assert_eq!(stale.code, 2);
    assert!(
        stale.stderr.contains("a rotation retired"),
        "{}",
        stale.stderr
    );
    runs.extend([rotate, stale]);
    let rotated = Vault::open(&store, MasterKey::from_base64(&new_key).unwrap())
        .await
        .unwrap();
    assert_eq!(
        rotated
            .get("salesforce", "client_secret")
            .await
            .unwrap()
            .expose_secret(),
        other
    );

    let confirmed = revops(
        database,
        &["vault", "delete", "hubspot", "private_app_token"],
        &[],
        "private_app_token\n",
    );
    assert_eq!(confirmed.code, 0, "{}", confirmed.stderr);
    let scripted = revops(
        database,
        &["vault", "delete", "salesforce", "client_secret", "--yes"],
        &[],
        "",
    );
    assert_eq!(scripted.code, 0, "{}", scripted.stderr);
    assert!(vault::list(&store).await.unwrap().is_empty());
    runs.extend([confirmed, scripted]);

    // At TRACE, nothing secret reached a log; no value reached stdout.
    for run in &runs {
        for needle in [secret, other, key.as_str(), new_key.as_str(), "SECRET"] {
            assert!(
                !run.stderr.contains(needle),
                "a secret in the log:\n{}",
                run.stderr
            );
        }
        assert!(
            !run.stdout.contains("SECRET"),
            "a value on stdout:\n{}",
            run.stdout
        );
    }
    assert!(
        runs.iter()
            .any(|r| r.stderr.contains("TRACE") || r.stderr.contains("DEBUG"))
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_commands_never_show_a_secret_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", folder.path().join("revops.db").display());
    the_whole_life_of_a_vault(&database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vault_commands_never_show_a_secret_on_postgres() {
    let Some(base) = store::test_support::postgres_url_or_skip(
        "the_vault_commands_never_show_a_secret_on_postgres",
    ) else {
        return;
    };
    let location = store::test_support::fresh_postgres_location(&base)
        .await
        .unwrap();
    let store::DatabaseLocation::Postgres(database) = location else {
        unreachable!()
    };
    the_whole_life_of_a_vault(&database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passphrase_vault_is_set_up_and_opened_from_the_environment() {
    let folder = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", folder.path().join("revops.db").display());
    let passphrase = "meadow copper violin seventeen SECRET";
    let with_phrase = [("REVOPS_MASTER_PASSPHRASE", passphrase)];

    let init = revops(
        &database,
        &["vault", "init", "--passphrase"],
        &with_phrase,
        "",
    );
    assert_eq!(init.code, 0, "{}", init.stderr);
    assert!(init.stdout.is_empty(), "a passphrase is never printed");
    assert!(
        init.stderr.contains("REVOPS_MASTER_PASSPHRASE"),
        "{}",
        init.stderr
    );

    let set = revops(
        &database,
        &["vault", "set", "hubspot", "refresh_token"],
        &with_phrase,
        "rt-SECRET",
    );
    assert_eq!(set.code, 0, "{}", set.stderr);
    let wrong = revops(
        &database,
        &["vault", "set", "hubspot", "refresh_token"],
        &[("REVOPS_MASTER_PASSPHRASE", "meadow copper violin eighteen")],
        "rt2-SECRET",
    );
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("does not open this vault"),
        "{}",
        wrong.stderr
    );
    let random = MasterKey::generate().unwrap().to_base64().unwrap();
    let both = revops(
        &database,
        &["vault", "set", "hubspot", "refresh_token"],
        &[
            ("REVOPS_MASTER_PASSPHRASE", passphrase),
            ("REVOPS_MASTER_KEY", random.expose_secret()),
        ],
        "rt3-SECRET",
    );
    assert_eq!(both.code, 2);
    assert!(both.stderr.contains("set only one"), "{}", both.stderr);
    let kind = revops(
        &database,
        &["vault", "set", "hubspot", "refresh_token"],
        &[("REVOPS_MASTER_KEY", random.expose_secret())],
        "rt4-SECRET",
    );
    assert_eq!(kind.code, 2);
    assert!(
        kind.stderr.contains("REVOPS_MASTER_PASSPHRASE"),
        "{}",
        kind.stderr
    );

    // Rotate to a new passphrase from the environment (for scripts).
    let new_phrase = "harbor lemon quartz ninety-two SECRET";
    let rotate = revops(
        &database,
        &["vault", "rotate", "--passphrase"],
        &[
            ("REVOPS_MASTER_PASSPHRASE", passphrase),
            ("REVOPS_NEW_MASTER_PASSPHRASE", new_phrase),
        ],
        "",
    );
    assert_eq!(rotate.code, 0, "{}", rotate.stderr);
    assert!(rotate.stdout.is_empty());
    let store = open(&database).await;
    let vault = Vault::open(
        &store,
        MasterKey::passphrase(vault::SecretString::from(new_phrase)),
    )
    .await
    .unwrap();
    assert_eq!(
        vault
            .get("hubspot", "refresh_token")
            .await
            .unwrap()
            .expose_secret(),
        "rt-SECRET"
    );
    for run in [&init, &set, &wrong, &both, &kind, &rotate] {
        assert!(
            !run.stderr.contains("SECRET"),
            "a secret in the log:\n{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("meadow copper"),
            "a passphrase in the log"
        );
    }
    store.close().await;
}
