//! Stored credentials and the vault's key versions: sealed (encrypted) rows only.
//!
//! The `vault` crate seals and opens credentials; this module only moves the sealed bytes
//! and the metadata in and out of the `credentials` and `vault_keys` tables. No key, no
//! plaintext and no cryptography ever reaches this module, so nothing here can leak one.
//!
//! Nonces and ciphertexts are binary columns (`BLOB` on SQLite, `BYTEA` on Postgres), read
//! and written as `Vec<u8>` through the `Any` driver on both backends.

use sqlx::AssertSqlSafe;

use crate::rows::get;
use crate::{Error, Result, Store, WriteTx};

/// What is known about a stored credential without opening it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialMeta {
    pub id: String,
    pub provider: String,
    pub name: String,
    pub key_version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
}

/// A stored credential: its metadata and the sealed bytes the vault opens.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedCredential {
    pub meta: CredentialMeta,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

// Sealed bytes are not secret, but they are noise in a log line: show their sizes only.
impl std::fmt::Debug for SealedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedCredential")
            .field("meta", &self.meta)
            .field("nonce_len", &self.nonce.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// A sealed credential to store under `(provider, name)`, replacing any earlier one.
#[derive(Clone)]
pub struct NewSealed<'a> {
    pub provider: &'a str,
    pub name: &'a str,
    pub key_version: i64,
    pub nonce: &'a [u8],
    pub ciphertext: &'a [u8],
    pub expires_at: Option<&'a str>,
}

const META_COLUMNS: &str = "id, provider, name, key_version, created_at, updated_at, expires_at";
const SEALED_COLUMNS: &str =
    "id, provider, name, key_version, created_at, updated_at, expires_at, nonce, ciphertext";

fn meta(row: &sqlx::any::AnyRow) -> Result<CredentialMeta> {
    Ok(CredentialMeta {
        id: get(row, "id")?,
        provider: get(row, "provider")?,
        name: get(row, "name")?,
        key_version: get(row, "key_version")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        expires_at: get(row, "expires_at")?,
    })
}

fn sealed(row: &sqlx::any::AnyRow) -> Result<SealedCredential> {
    Ok(SealedCredential {
        meta: meta(row)?,
        nonce: get(row, "nonce")?,
        ciphertext: get(row, "ciphertext")?,
    })
}

/// Every stored credential's metadata, by provider then name.
pub async fn list(store: &Store) -> Result<Vec<CredentialMeta>> {
    let sql = format!("SELECT {META_COLUMNS} FROM credentials ORDER BY provider, name");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("list credentials", error))?;
    rows.iter().map(meta).collect()
}

/// The sealed credential stored under `(provider, name)`, if any.
pub async fn find(store: &Store, provider: &str, name: &str) -> Result<Option<SealedCredential>> {
    let sql = format!("SELECT {SEALED_COLUMNS} FROM credentials WHERE provider = $1 AND name = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(provider)
        .bind(name)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read a credential", error))?;
    row.as_ref().map(sealed).transpose()
}

/// Every sealed credential, read inside `tx` (for re-sealing them all under a new key).
pub async fn all_sealed(tx: &mut WriteTx) -> Result<Vec<SealedCredential>> {
    let sql = format!("SELECT {SEALED_COLUMNS} FROM credentials ORDER BY provider, name");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read credentials", error))?;
    rows.iter().map(sealed).collect()
}

/// Stores a sealed credential, replacing the one under the same `(provider, name)` (which
/// keeps its id and `created_at`). Returns the stored metadata.
pub async fn upsert(tx: &mut WriteTx, credential: &NewSealed<'_>) -> Result<CredentialMeta> {
    let now = crate::clock::now();
    let id = crate::ids::new_id("cred");
    sqlx::query(
        "INSERT INTO credentials (id, provider, name, key_version, nonce, ciphertext, created_at, updated_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) \
         ON CONFLICT (provider, name) DO UPDATE SET key_version = excluded.key_version, \
         nonce = excluded.nonce, ciphertext = excluded.ciphertext, \
         updated_at = excluded.updated_at, expires_at = excluded.expires_at",
    )
    .bind(&id)
    .bind(credential.provider)
    .bind(credential.name)
    .bind(credential.key_version)
    .bind(credential.nonce.to_vec())
    .bind(credential.ciphertext.to_vec())
    .bind(&now)
    .bind(credential.expires_at)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("store a credential", error))?;
    let sql = format!("SELECT {META_COLUMNS} FROM credentials WHERE provider = $1 AND name = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(credential.provider)
        .bind(credential.name)
        .fetch_one(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a stored credential", error))?;
    meta(&row)
}

/// Replaces the sealed bytes of credential `id` if it is still sealed under
/// `expected_version` (keeps its `updated_at`: the secret itself has not changed).
/// Returns false when the row is gone or was re-sealed meanwhile.
pub async fn reseal(
    tx: &mut WriteTx,
    id: &str,
    expected_version: i64,
    key_version: i64,
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE credentials SET key_version = $1, nonce = $2, ciphertext = $3 \
         WHERE id = $4 AND key_version = $5",
    )
    .bind(key_version)
    .bind(nonce.to_vec())
    .bind(ciphertext.to_vec())
    .bind(id)
    .bind(expected_version)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("re-seal a credential", error))?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the credential under `(provider, name)`; returns what it was, or `None` when
/// there was none.
pub async fn delete(
    tx: &mut WriteTx,
    provider: &str,
    name: &str,
) -> Result<Option<CredentialMeta>> {
    let sql = format!("SELECT {META_COLUMNS} FROM credentials WHERE provider = $1 AND name = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(provider)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a credential", error))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let found = meta(&row)?;
    sqlx::query("DELETE FROM credentials WHERE id = $1")
        .bind(&found.id)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("delete a credential", error))?;
    Ok(Some(found))
}

/// How a key version's master key is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// 32 random bytes the operator keeps (`REVOPS_MASTER_KEY`).
    Random,
    /// Derived from a passphrase with Argon2id under the stored parameters and salt.
    Passphrase,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Random => "random",
            KeyKind::Passphrase => "passphrase",
        }
    }

    fn parse(text: &str) -> Result<KeyKind> {
        match text {
            "random" => Ok(KeyKind::Random),
            "passphrase" => Ok(KeyKind::Passphrase),
            _ => {
                tracing::error!(kind = text, "unknown vault key kind in the store");
                Err(Error::Internal("read a vault key version"))
            }
        }
    }
}

/// The Argon2id parameters and salt a passphrase key version was derived with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKdf {
    /// Always `argon2id-v19` today; named so another function can be added later.
    pub kdf: String,
    pub memory_kib: i64,
    pub iterations: i64,
    pub parallelism: i64,
    /// Base64.
    pub salt: String,
}

/// One version of the vault's master key: how to obtain it and how to check it. Never the
/// key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    pub version: i64,
    pub kind: KeyKind,
    pub kdf: Option<StoredKdf>,
    /// A known constant sealed under the key (base64 of nonce and ciphertext).
    pub key_check: String,
    /// True for the one version new credentials are sealed under.
    pub active: bool,
    pub created_at: String,
    pub retired_at: Option<String>,
}

const KEY_COLUMNS: &str = "version, kind, kdf, kdf_memory_kib, kdf_iterations, kdf_parallelism, kdf_salt, key_check, state, created_at, retired_at";

fn key_version(row: &sqlx::any::AnyRow) -> Result<KeyVersion> {
    let kind: String = get(row, "kind")?;
    let state: String = get(row, "state")?;
    let kdf: Option<String> = get(row, "kdf")?;
    let kdf = match kdf {
        None => None,
        Some(kdf) => Some(StoredKdf {
            kdf,
            memory_kib: get::<Option<i64>>(row, "kdf_memory_kib")?.unwrap_or_default(),
            iterations: get::<Option<i64>>(row, "kdf_iterations")?.unwrap_or_default(),
            parallelism: get::<Option<i64>>(row, "kdf_parallelism")?.unwrap_or_default(),
            salt: get::<Option<String>>(row, "kdf_salt")?.unwrap_or_default(),
        }),
    };
    Ok(KeyVersion {
        version: get(row, "version")?,
        kind: KeyKind::parse(&kind)?,
        kdf,
        key_check: get(row, "key_check")?,
        active: state == "active",
        created_at: get(row, "created_at")?,
        retired_at: get(row, "retired_at")?,
    })
}

/// Every key version, oldest first (empty when no vault has been set up).
pub async fn key_versions(store: &Store) -> Result<Vec<KeyVersion>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM vault_keys ORDER BY version");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read the vault's key versions", error))?;
    rows.iter().map(key_version).collect()
}

/// The active key version, read inside `tx`.
pub async fn active_key_in(tx: &mut WriteTx) -> Result<Option<KeyVersion>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM vault_keys WHERE state = 'active'");
    let row = sqlx::query(AssertSqlSafe(sql))
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read the vault's active key", error))?;
    row.as_ref().map(key_version).transpose()
}

/// The highest key version ever recorded (0 when none), read inside `tx`.
pub async fn latest_version_in(tx: &mut WriteTx) -> Result<i64> {
    let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM vault_keys")
        .fetch_one(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read the vault's key versions", error))?;
    Ok(latest.unwrap_or(0))
}

/// Records a new active key version. The caller retires the previous one first in the same
/// transaction; a second active version, or a version number taken by a concurrent
/// writer, is a [`Error::Conflict`].
pub async fn insert_key(tx: &mut WriteTx, key: &KeyVersion) -> Result<()> {
    let kdf = key.kdf.as_ref();
    sqlx::query(
        "INSERT INTO vault_keys (version, kind, kdf, kdf_memory_kib, kdf_iterations, kdf_parallelism, kdf_salt, key_check, state, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(key.version)
    .bind(key.kind.as_str())
    .bind(kdf.map(|k| k.kdf.as_str()))
    .bind(kdf.map(|k| k.memory_kib))
    .bind(kdf.map(|k| k.iterations))
    .bind(kdf.map(|k| k.parallelism))
    .bind(kdf.map(|k| k.salt.as_str()))
    .bind(&key.key_check)
    .bind(if key.active { "active" } else { "retired" })
    .bind(&key.created_at)
    .bind(key.retired_at.as_deref())
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("record a vault key version", error))?;
    Ok(())
}

/// Takes the row lock of `version` if it is still the active version, and says whether it
/// is. Sealing under a version and retiring it both go through this row, so on Postgres a
/// credential sealed concurrently with a rotation waits for it (and then sees the version
/// is retired) instead of landing under a retired key. SQLite's write lock already orders
/// them.
pub async fn hold_active(tx: &mut WriteTx, version: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE vault_keys SET state = 'active' WHERE version = $1 AND state = 'active'",
    )
    .bind(version)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("check the vault's active key", error))?;
    Ok(done.rows_affected() == 1)
}

/// Retires `version` if it is the active one; returns whether it was.
pub async fn retire(tx: &mut WriteTx, version: i64, at: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE vault_keys SET state = 'retired', retired_at = $1 WHERE version = $2 AND state = 'active'",
    )
    .bind(at)
    .bind(version)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("retire a vault key version", error))?;
    Ok(done.rows_affected() == 1)
}
