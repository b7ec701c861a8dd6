//! The vault's scenarios, shared by `vault.rs` (one test per scenario and backend) and
//! `logs.rs` (all of them under a TRACE subscriber, then a search of the logs for secrets).
//! Each scenario returns every secret it used, so the log test knows what must not appear.

#![allow(
    clippy::unwrap_used,
    dead_code,
    reason = "tests: a panic is how a test fails; each binary uses a subset of the helpers"
)]

use std::sync::Arc;

use base64::Engine;
use store::Store;
use vault::{ExposeSecret, KdfParams, MasterKey, SecretString, Vault, VaultError};

/// Cheap Argon2id parameters, so passphrase tests take milliseconds, not seconds.
pub const CHEAP_KDF: KdfParams = KdfParams {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// A random master key and its base64 text (which is a secret too).
pub fn random_key() -> (MasterKey, String) {
    let key = MasterKey::generate().unwrap();
    let text = key.to_base64().unwrap().expose_secret().to_string();
    (key, text)
}

/// The same random key again, from its text.
pub fn key_from(text: &str) -> MasterKey {
    MasterKey::from_base64(text).unwrap()
}

/// The ways a secret could show up in a log: as is, base64, hex.
pub fn spellings(secret: &str) -> Vec<String> {
    let mut all = vec![secret.to_string()];
    all.push(base64::engine::general_purpose::STANDARD.encode(secret));
    all.push(secret.bytes().map(|b| format!("{b:02x}")).collect());
    if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(secret) {
        all.push(bytes.iter().map(|b| format!("{b:02x}")).collect());
        all.push(format!("{bytes:?}"));
    }
    all
}

type CredentialRow = (
    String,
    String,
    String,
    i64,
    Vec<u8>,
    Vec<u8>,
    String,
    String,
);
type KeyRow = (i64, String, String, Option<String>, Option<String>);

/// Every row of the vault's two tables, byte for byte, to show nothing changed.
pub async fn snapshot(store: &Store) -> Vec<String> {
    let mut rows = Vec::new();
    let credentials: Vec<CredentialRow> = sqlx::query_as(
        "SELECT id, provider, name, key_version, nonce, ciphertext, created_at, updated_at \
             FROM credentials ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    for row in credentials {
        rows.push(format!("{row:?}"));
    }
    let keys: Vec<KeyRow> = sqlx::query_as(
        "SELECT version, state, key_check, kdf_salt, retired_at FROM vault_keys ORDER BY version",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    for row in keys {
        rows.push(format!("{row:?}"));
    }
    rows
}

/// The raw sealed bytes of one credential.
pub async fn raw(store: &Store, provider: &str, name: &str) -> (Vec<u8>, Vec<u8>, i64) {
    sqlx::query_as(
        "SELECT nonce, ciphertext, key_version FROM credentials WHERE provider = $1 AND name = $2",
    )
    .bind(provider)
    .bind(name)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

/// Overwrites one credential's raw sealed bytes (what an attacker with write access to the
/// database could do).
pub async fn overwrite(store: &Store, provider: &str, name: &str, nonce: &[u8], ciphertext: &[u8]) {
    sqlx::query(
        "UPDATE credentials SET nonce = $1, ciphertext = $2 WHERE provider = $3 AND name = $4",
    )
    .bind(nonce.to_vec())
    .bind(ciphertext.to_vec())
    .bind(provider)
    .bind(name)
    .execute(store.pool())
    .await
    .unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub async fn a_credential_round_trips_and_its_ciphertext_never_contains_the_plaintext(
    store: Store,
) -> Vec<String> {
    let (key, key_text) = random_key();
    let vault = Vault::init(&store, key).await.unwrap();
    let secret = "pat-na1-11111111-2222-roundtrip-SECRET";
    let info = vault
        .put("hubspot", "private_app_token", SecretString::from(secret))
        .await
        .unwrap();
    assert_eq!(
        (
            info.provider.as_str(),
            info.name.as_str(),
            info.key_version,
            info.age_days
        ),
        ("hubspot", "private_app_token", 1, 0)
    );
    let opened = vault.get("hubspot", "private_app_token").await.unwrap();
    assert_eq!(opened.expose_secret(), secret);

    // Binary columns round-trip through the `Any` driver: a 12-byte nonce, and a blob of
    // header (5) + ciphertext (as long as the secret) + tag (16).
    let (nonce, ciphertext, version) = raw(&store, "hubspot", "private_app_token").await;
    assert_eq!(nonce.len(), 12);
    assert_eq!(ciphertext.len(), 5 + secret.len() + 16);
    assert_eq!(
        ciphertext[..5],
        [1, 0, 0, 0, 1],
        "the header names format 1, key version 1"
    );
    assert_eq!(version, 1);
    for spelling in spellings(secret) {
        assert!(!contains(&ciphertext, spelling.as_bytes()));
    }
    for fragment in secret.as_bytes().windows(6) {
        assert!(
            !contains(&ciphertext, fragment),
            "no 6-byte run of the plaintext is stored"
        );
    }

    // Setting it again keeps its id and creation time, and uses a fresh nonce.
    let second = "pat-na1-33333333-4444-replaced-SECRET";
    let again = vault
        .put("hubspot", "private_app_token", SecretString::from(second))
        .await
        .unwrap();
    assert_eq!(again.created_at, info.created_at);
    let (nonce_after, ..) = raw(&store, "hubspot", "private_app_token").await;
    assert_ne!(nonce_after, nonce);
    assert_eq!(
        vault
            .get("hubspot", "private_app_token")
            .await
            .unwrap()
            .expose_secret(),
        second
    );

    // A second handle opened with the same key reads it; listing needs no key and shows
    // no value.
    let reopened = Vault::open(&store, key_from(&key_text)).await.unwrap();
    assert_eq!(
        reopened
            .get("hubspot", "private_app_token")
            .await
            .unwrap()
            .expose_secret(),
        second
    );
    let expiry = chrono::Utc::now() + chrono::Duration::hours(1);
    vault
        .put_with_expiry(
            "salesforce",
            "access_token",
            SecretString::from("00Dxx!AQ4-access-SECRET"),
            Some(expiry),
        )
        .await
        .unwrap();
    let listed = vault::list(&store).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|c| (c.provider.as_str(), c.name.as_str()))
            .collect::<Vec<_>>(),
        [
            ("hubspot", "private_app_token"),
            ("salesforce", "access_token")
        ]
    );
    assert_eq!(
        listed[1].expires_at.as_deref(),
        Some(store::clock::format(expiry).as_str())
    );
    let json = serde_json::to_string(&listed).unwrap();
    assert!(!json.contains("SECRET"), "{json}");
    let status = vault::status(&store).await.unwrap();
    assert_eq!(
        (status.configured, status.active_version, status.credentials),
        (true, Some(1), 2)
    );

    // Delete: gone, and a second delete says it is not there.
    let mut tx = store.begin_write().await.unwrap();
    let deleted = vault::delete(&mut tx, "salesforce", "access_token")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(deleted.name, "access_token");
    let mut tx = store.begin_write().await.unwrap();
    let missing = vault::delete(&mut tx, "salesforce", "access_token")
        .await
        .unwrap_err();
    assert!(matches!(missing, VaultError::NotFound { .. }), "{missing}");
    assert!(
        missing.to_string().contains("revops vault list"),
        "{missing}"
    );
    drop(tx);
    assert!(matches!(
        vault.get("salesforce", "access_token").await.unwrap_err(),
        VaultError::NotFound { .. }
    ));
    vec![
        secret.into(),
        second.into(),
        "00Dxx!AQ4-access-SECRET".into(),
        key_text,
    ]
}

pub async fn swapping_two_ciphertexts_between_records_fails_to_open(store: Store) -> Vec<String> {
    let (key, key_text) = random_key();
    let vault = Vault::init(&store, key).await.unwrap();
    let a = "refresh-token-of-record-A-SECRET";
    let b = "refresh-token-of-record-B-SECRET";
    vault
        .put("hubspot", "refresh_token", SecretString::from(a))
        .await
        .unwrap();
    vault
        .put("salesforce", "refresh_token", SecretString::from(b))
        .await
        .unwrap();
    let (nonce_a, blob_a, _) = raw(&store, "hubspot", "refresh_token").await;
    let (nonce_b, blob_b, _) = raw(&store, "salesforce", "refresh_token").await;
    overwrite(&store, "hubspot", "refresh_token", &nonce_b, &blob_b).await;
    overwrite(&store, "salesforce", "refresh_token", &nonce_a, &blob_a).await;
    let before = snapshot(&store).await;
    for provider in ["hubspot", "salesforce"] {
        let error = vault.get(provider, "refresh_token").await.unwrap_err();
        assert!(
            matches!(&error, VaultError::Tampered { provider: p, .. } if p == provider),
            "{error}"
        );
        assert!(error.to_string().contains("integrity check"), "{error}");
    }
    assert_eq!(
        snapshot(&store).await,
        before,
        "failed opens changed nothing"
    );

    // Same provider, another name; and swapped back, each opens again.
    vault
        .put(
            "hubspot",
            "client_secret",
            SecretString::from("client-secret-C-SECRET"),
        )
        .await
        .unwrap();
    let (nonce_c, blob_c, _) = raw(&store, "hubspot", "client_secret").await;
    overwrite(&store, "hubspot", "refresh_token", &nonce_c, &blob_c).await;
    assert!(matches!(
        vault.get("hubspot", "refresh_token").await.unwrap_err(),
        VaultError::Tampered { .. }
    ));
    overwrite(&store, "hubspot", "refresh_token", &nonce_a, &blob_a).await;
    overwrite(&store, "salesforce", "refresh_token", &nonce_b, &blob_b).await;
    assert_eq!(
        vault
            .get("hubspot", "refresh_token")
            .await
            .unwrap()
            .expose_secret(),
        a
    );
    assert_eq!(
        vault
            .get("salesforce", "refresh_token")
            .await
            .unwrap()
            .expose_secret(),
        b
    );
    vec![
        a.into(),
        b.into(),
        "client-secret-C-SECRET".into(),
        key_text,
    ]
}

pub async fn a_wrong_master_key_is_refused_and_changes_nothing(store: Store) -> Vec<String> {
    let (key, key_text) = random_key();
    let vault = Vault::init(&store, key).await.unwrap();
    let secret = "wrong-key-scenario-SECRET";
    vault
        .put("hubspot", "private_app_token", SecretString::from(secret))
        .await
        .unwrap();
    let before = snapshot(&store).await;

    let (other, other_text) = random_key();
    let error = Vault::open(&store, other).await.unwrap_err();
    assert!(
        matches!(
            error,
            VaultError::WrongMasterKey {
                active: 1,
                retired_match: None
            }
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("does not open this vault")
            && message.contains("Nothing was read or changed"),
        "{message}"
    );

    // A passphrase where a random key is expected: its own clear error.
    let passphrase = "correct horse battery staple SECRET";
    let error = Vault::open(
        &store,
        MasterKey::passphrase(SecretString::from(passphrase)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, VaultError::KeyKindMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("REVOPS_MASTER_KEY"), "{error}");

    // Malformed keys are refused without echoing them.
    for bad in ["not base64 at all SECRET!", "c2hvcnQ=", ""] {
        let error = MasterKey::from_base64(bad).unwrap_err();
        assert!(
            matches!(error, VaultError::InvalidMasterKey { .. }),
            "{error}"
        );
        if !bad.is_empty() {
            assert!(!error.to_string().contains(bad), "{error}");
        }
    }
    assert_eq!(snapshot(&store).await, before, "nothing changed");
    vec![secret.into(), key_text, other_text, passphrase.into()]
}

pub async fn a_tampered_ciphertext_has_its_own_error_and_changes_nothing(
    store: Store,
) -> Vec<String> {
    let (key, key_text) = random_key();
    let vault = Vault::init(&store, key).await.unwrap();
    let secret = "tamper-scenario-SECRET";
    vault
        .put("hubspot", "private_app_token", SecretString::from(secret))
        .await
        .unwrap();
    let (nonce, blob, _) = raw(&store, "hubspot", "private_app_token").await;

    let mut flipped = blob.clone();
    flipped[7] ^= 0x01;
    let mut other_nonce = nonce.clone();
    other_nonce[0] ^= 0x80;
    let truncated = blob[..blob.len() - 1].to_vec();
    let mut header_other_version = blob.clone();
    header_other_version[4] = 2;
    for (label, n, b) in [
        ("a flipped ciphertext bit", &nonce, &flipped),
        ("another nonce", &other_nonce, &blob),
        ("a truncated tag", &nonce, &truncated),
        (
            "a header naming another version",
            &nonce,
            &header_other_version,
        ),
        ("an empty blob", &nonce, &Vec::new()),
    ] {
        overwrite(&store, "hubspot", "private_app_token", n, b).await;
        let before = snapshot(&store).await;
        let error = vault.get("hubspot", "private_app_token").await.unwrap_err();
        assert!(
            matches!(error, VaultError::Tampered { .. }),
            "{label}: {error}"
        );
        assert!(
            error
                .to_string()
                .contains("revops vault set hubspot private_app_token"),
            "{error}"
        );
        assert_eq!(snapshot(&store).await, before, "{label}: nothing changed");
    }
    // Restored, it opens again: the failures did not touch it.
    overwrite(&store, "hubspot", "private_app_token", &nonce, &blob).await;
    assert_eq!(
        vault
            .get("hubspot", "private_app_token")
            .await
            .unwrap()
            .expose_secret(),
        secret
    );
    vec![secret.into(), key_text]
}

pub async fn an_unknown_key_version_has_its_own_error_and_changes_nothing(
    store: Store,
) -> Vec<String> {
    let (key, key_text) = random_key();
    let vault = Vault::init(&store, key).await.unwrap();
    let secret = "unknown-version-scenario-SECRET";
    vault
        .put("salesforce", "client_secret", SecretString::from(secret))
        .await
        .unwrap();
    sqlx::query("UPDATE credentials SET key_version = 7 WHERE provider = 'salesforce'")
        .execute(store.pool())
        .await
        .unwrap();
    let before = snapshot(&store).await;
    let error = vault.get("salesforce", "client_secret").await.unwrap_err();
    assert!(
        matches!(
            error,
            VaultError::UnknownKeyVersion {
                version: 7,
                active: 1,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("key version 7"), "{error}");
    // A rotation refuses to carry it over rather than guess, and changes nothing.
    let (new_key, new_text) = random_key();
    let error = vault.rotate(new_key).await.unwrap_err();
    assert!(
        matches!(error, VaultError::UnknownKeyVersion { .. }),
        "{error}"
    );
    assert_eq!(snapshot(&store).await, before, "nothing changed");
    assert_eq!(vault.key_version(), 1);
    vec![secret.into(), key_text, new_text]
}

/// Ten credentials; the rotation fails after five, then is cancelled (the future dropped,
/// as in a crash) after five, then runs to the end.
pub async fn a_rotation_interrupted_half_way_changes_nothing_and_can_be_run_again(
    store: Store,
) -> Vec<String> {
    let (key, key_text) = random_key();
    let vault = Vault::init(&store, key).await.unwrap();
    let secrets: Vec<String> = (0..10)
        .map(|i| format!("rotation-secret-{i:02}-SECRET"))
        .collect();
    for (i, secret) in secrets.iter().enumerate() {
        vault
            .put(
                "hubspot",
                &format!("token_{i:02}"),
                SecretString::from(secret.as_str()),
            )
            .await
            .unwrap();
    }
    let before = snapshot(&store).await;

    // 1. An error injected after half the rows.
    let (new_key, new_text) = random_key();
    let mut seen = 0;
    let error = vault
        .rotate_with(new_key, |progress| {
            seen = progress.resealed;
            if progress.resealed == progress.total / 2 {
                Err(VaultError::RotationInterrupted)
            } else {
                Ok(())
            }
        })
        .await
        .unwrap_err();
    assert!(matches!(error, VaultError::RotationInterrupted), "{error}");
    assert_eq!(seen, 5);
    assert_eq!(snapshot(&store).await, before, "nothing changed");
    assert_eq!(vault.key_version(), 1);
    // The old key still opens everything; the key of the failed rotation opens nothing.
    let old = Vault::open(&store, key_from(&key_text)).await.unwrap();
    for (i, secret) in secrets.iter().enumerate() {
        assert_eq!(
            old.get("hubspot", &format!("token_{i:02}"))
                .await
                .unwrap()
                .expose_secret(),
            secret
        );
    }
    assert!(matches!(
        Vault::open(&store, key_from(&new_text)).await.unwrap_err(),
        VaultError::WrongMasterKey { .. }
    ));

    // 2. The rotation's future dropped half-way, mid-transaction (a crash or a cancel).
    let (crash_key, crash_text) = random_key();
    let halfway = Arc::new(tokio::sync::Notify::new());
    let signal = halfway.clone();
    let rotation = vault.rotate_with(crash_key, move |progress| {
        if progress.resealed == progress.total / 2 {
            signal.notify_one();
        }
        Ok(())
    });
    tokio::select! {
        biased;
        () = halfway.notified() => {}
        finished = rotation => panic!("the rotation should have been cut off half-way: {finished:?}"),
    }
    assert_eq!(snapshot(&store).await, before, "nothing changed");
    assert_eq!(
        old.get("hubspot", "token_09")
            .await
            .unwrap()
            .expose_secret(),
        secrets[9]
    );

    // 3. Run again: everything moves to version 2.
    let (final_key, final_text) = random_key();
    let report = vault.rotate(final_key).await.unwrap();
    assert_eq!(
        (report.from_version, report.to_version, report.resealed),
        (1, 2, 10)
    );
    assert_eq!(vault.key_version(), 2);
    let rotated = Vault::open(&store, key_from(&final_text)).await.unwrap();
    for (i, secret) in secrets.iter().enumerate() {
        let name = format!("token_{i:02}");
        assert_eq!(
            rotated.get("hubspot", &name).await.unwrap().expose_secret(),
            secret
        );
        assert_eq!(
            vault.get("hubspot", &name).await.unwrap().expose_secret(),
            secret
        );
    }
    assert!(
        vault::list(&store)
            .await
            .unwrap()
            .iter()
            .all(|c| c.key_version == 2)
    );
    // The ages did not change: the secrets themselves did not.
    let after: Vec<_> = vault::list(&store)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.updated_at)
        .collect();
    let mut before_times: Vec<_> = Vec::new();
    for i in 0..10 {
        let (updated,): (String,) =
            sqlx::query_as("SELECT updated_at FROM credentials WHERE name = $1")
                .bind(format!("token_{i:02}"))
                .fetch_one(store.pool())
                .await
                .unwrap();
        before_times.push(updated);
    }
    assert_eq!(after, before_times);
    // The retired key is recognised as such, and a handle opened before the rotation
    // elsewhere is told to restart.
    let error = Vault::open(&store, key_from(&key_text)).await.unwrap_err();
    assert!(
        matches!(
            error,
            VaultError::WrongMasterKey {
                active: 2,
                retired_match: Some(1)
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("retired"), "{error}");
    let error = old.get("hubspot", "token_00").await.unwrap_err();
    assert!(
        matches!(
            error,
            VaultError::KeyRotated {
                opened: 1,
                active: 2
            }
        ),
        "{error}"
    );
    let error = old
        .put(
            "hubspot",
            "token_10",
            SecretString::from("late-write-SECRET"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, VaultError::KeyRotated { .. }), "{error}");
    let mut all = secrets;
    all.extend([
        key_text,
        new_text,
        crash_text,
        final_text,
        "late-write-SECRET".into(),
    ]);
    all
}

pub async fn a_passphrase_vault_derives_its_key_with_stored_argon2id_parameters(
    store: Store,
) -> Vec<String> {
    let passphrase = "plum orchard lantern ninety SECRET";
    let master = MasterKey::passphrase(SecretString::from(passphrase)).with_kdf_params(CHEAP_KDF);
    let vault = Vault::init(&store, master).await.unwrap();
    let secret = "passphrase-scenario-SECRET";
    vault
        .put("hubspot", "private_app_token", SecretString::from(secret))
        .await
        .unwrap();
    let (kdf, memory, iterations, salt): (String, i64, i64, String) = sqlx::query_as(
        "SELECT kdf, kdf_memory_kib, kdf_iterations, kdf_salt FROM vault_keys WHERE version = 1",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(
        (kdf.as_str(), memory, iterations),
        ("argon2id-v19", 1024, 1)
    );
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&salt)
            .unwrap()
            .len(),
        16
    );

    // Opening uses the stored parameters, whatever the key's own defaults.
    let reopened = Vault::open(
        &store,
        MasterKey::passphrase(SecretString::from(passphrase)),
    )
    .await
    .unwrap();
    assert_eq!(
        reopened
            .get("hubspot", "private_app_token")
            .await
            .unwrap()
            .expose_secret(),
        secret
    );
    let wrong = "plum orchard lantern ninety-one";
    let error = Vault::open(&store, MasterKey::passphrase(SecretString::from(wrong)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, VaultError::WrongMasterKey { .. }),
        "{error}"
    );
    let (random, random_text) = random_key();
    assert!(matches!(
        Vault::open(&store, random).await.unwrap_err(),
        VaultError::KeyKindMismatch { .. }
    ));
    // Too short a passphrase cannot start a key version.
    let error = vault
        .rotate(MasterKey::passphrase(SecretString::from("short")).with_kdf_params(CHEAP_KDF))
        .await
        .unwrap_err();
    assert!(
        matches!(error, VaultError::InvalidMasterKey { .. }),
        "{error}"
    );
    // From a passphrase to a random key.
    let (new_key, new_text) = random_key();
    let report = vault.rotate(new_key).await.unwrap();
    assert_eq!((report.to_version, report.new_kind.as_str()), (2, "random"));
    let rotated = Vault::open(&store, key_from(&new_text)).await.unwrap();
    assert_eq!(
        rotated
            .get("hubspot", "private_app_token")
            .await
            .unwrap()
            .expose_secret(),
        secret
    );
    vec![
        passphrase.into(),
        secret.into(),
        wrong.into(),
        random_text,
        new_text,
    ]
}

pub async fn without_a_vault_every_error_says_how_to_set_one_up(store: Store) -> Vec<String> {
    let (key, key_text) = random_key();
    let error = Vault::open(&store, key).await.unwrap_err();
    assert!(matches!(error, VaultError::NotConfigured), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("revops vault init") && message.contains("REVOPS_MASTER_KEY"),
        "{message}"
    );
    assert!(vault::list(&store).await.unwrap().is_empty());
    assert!(!vault::status(&store).await.unwrap().configured);
    assert!(snapshot(&store).await.is_empty(), "opening created nothing");

    let vault = Vault::init(&store, key_from(&key_text)).await.unwrap();
    let (other, other_text) = random_key();
    let error = Vault::init(&store, other).await.unwrap_err();
    assert!(
        matches!(error, VaultError::AlreadyInitialised { active: 1 }),
        "{error}"
    );
    assert!(error.to_string().contains("revops vault rotate"), "{error}");

    // Bad input is refused without being echoed (it may be a secret pasted in the wrong place).
    let pasted = "sk_live_51HqPASTED-SECRET value";
    for (provider, name) in [
        (pasted, "name"),
        ("hubspot", pasted),
        ("", "name"),
        ("hubspot", ""),
    ] {
        let error = vault
            .put(provider, name, SecretString::from("x"))
            .await
            .unwrap_err();
        assert!(matches!(error, VaultError::InvalidInput(_)), "{error}");
        assert!(!error.to_string().contains("PASTED"), "{error}");
    }
    let error = vault
        .put("hubspot", "token", SecretString::from(""))
        .await
        .unwrap_err();
    assert!(matches!(error, VaultError::InvalidInput(_)), "{error}");
    let huge = "x".repeat(vault::MAX_SECRET_BYTES + 1);
    assert!(matches!(
        vault
            .put("hubspot", "token", SecretString::from(huge.as_str()))
            .await
            .unwrap_err(),
        VaultError::InvalidInput(_)
    ));
    // Redacting Debug: the key, the vault, the secret.
    let secret = SecretString::from("debug-redaction-SECRET");
    let shown = format!("{:?} {:?} {:?}", key_from(&key_text), vault, secret);
    assert!(
        !shown.contains("SECRET") && !shown.contains(&key_text),
        "{shown}"
    );
    vec![
        key_text,
        other_text,
        pasted.into(),
        "debug-redaction-SECRET".into(),
    ]
}

/// Writers racing a rotation never leave a credential under the retired key: each put
/// either lands before the rotation (and is re-sealed) or is told the key was rotated.
pub async fn puts_racing_a_rotation_never_land_under_the_retired_key(store: Store) -> Vec<String> {
    let (key, key_text) = random_key();
    let vault = Arc::new(Vault::init(&store, key).await.unwrap());
    for i in 0..20 {
        vault
            .put(
                "hubspot",
                &format!("seed_{i:02}"),
                SecretString::from(format!("seed-{i:02}-SECRET")),
            )
            .await
            .unwrap();
    }
    // A separate handle, as another process would have, opened before the rotation starts
    // (opened after it, the old key is rightly refused as the retired one).
    let other = Vault::open(&store, key_from(&key_text)).await.unwrap();
    let writers = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for i in 0..30 {
            let name = format!("race_{i:02}");
            let outcome = other
                .put(
                    "salesforce",
                    &name,
                    SecretString::from(format!("race-{i:02}-SECRET")),
                )
                .await;
            outcomes.push((name, outcome.map(|_| ()).map_err(|e| e.to_string())));
        }
        outcomes
    });
    let (new_key, new_text) = random_key();
    vault.rotate(new_key).await.unwrap();
    let outcomes = writers.await.unwrap();
    let rotated = Vault::open(&store, key_from(&new_text)).await.unwrap();
    for (name, outcome) in outcomes {
        match outcome {
            Ok(()) => {
                rotated.get("salesforce", &name).await.unwrap();
            }
            Err(message) => assert!(message.contains("rotated"), "{message}"),
        }
    }
    for info in vault::list(&store).await.unwrap() {
        assert_eq!(info.key_version, 2, "{info:?}");
    }
    let mut all: Vec<String> = (0..30).map(|i| format!("race-{i:02}-SECRET")).collect();
    all.extend((0..20).map(|i| format!("seed-{i:02}-SECRET")));
    all.extend([key_text, new_text]);
    all
}
