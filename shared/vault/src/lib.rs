//! The encrypted credential vault: API keys, OAuth client secrets and access and refresh
//! tokens, stored in the store's `credentials` table sealed with AES-256-GCM under a master
//! key that never touches the store.
//!
//! # Layout
//! - this file: [`Vault`] (open, init, put, get, rotate), [`list`] and [`delete`] (no key
//!   needed), [`CredentialInfo`] and [`VaultStatus`].
//! - [`key`]: [`MasterKey`]: `REVOPS_MASTER_KEY` (32 random bytes, base64) or a passphrase
//!   (`REVOPS_MASTER_PASSPHRASE`) stretched with Argon2id under parameters and a salt stored
//!   with the key version; key-check values.
//! - `seal`: AES-256-GCM with a fresh 96-bit nonce per write; associated data binding each
//!   ciphertext to its provider, name and key version; a header naming the key version.
//! - [`error`]: the one error type, [`VaultError`], whose messages never hold a secret.
//!
//! # Invariants
//! - A secret is a [`SecretString`] from the caller to the cipher and back; plaintext
//!   buffers are wiped after use; `Debug` of every type here redacts; no secret is ever
//!   logged or put into an error message.
//! - A master key is checked against its version's key-check value before any credential
//!   is opened: a wrong key, a tampered ciphertext and an unknown key version are three
//!   distinct errors, and none of them changes anything.
//! - One key version is active at a time. [`Vault::rotate`] re-seals every credential under
//!   a new version in one store transaction: interrupted, it leaves everything under the old
//!   key, which still opens it.
//! - The store sees sealed bytes only (`store::credentials`).

pub mod error;
pub mod key;
mod seal;

use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use store::credentials::{self as repo, KeyVersion, NewSealed};
use store::{Store, WriteTx};

pub use error::VaultError;
pub use key::{KdfParams, MasterKey};
/// The secret types of this API, re-exported so callers use the same version.
pub use secrecy::{self, ExposeSecret, SecretString};
pub use store::credentials::KeyKind;
/// Wiping buffers, re-exported for callers that read a secret before handing it over.
pub use zeroize;

/// The longest secret the vault stores (OAuth tokens are a few KiB at most).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
const MAX_LABEL_CHARS: usize = 128;

/// What is known about a stored credential without opening it; never its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct CredentialInfo {
    /// Who issued it, e.g. `hubspot`, `salesforce`.
    pub provider: String,
    /// Which credential of that provider, e.g. `private_app_token`, `refresh_token`.
    pub name: String,
    /// The master-key version it is sealed under.
    pub key_version: u32,
    /// When it was first stored (UTC, RFC 3339).
    pub created_at: String,
    /// When its value was last set (UTC, RFC 3339); a rotation of the master key does not
    /// change it, because the secret itself did not change.
    pub updated_at: String,
    /// Whole days since its value was last set.
    pub age_days: i64,
    /// When it stops being valid, if known (an OAuth access token).
    pub expires_at: Option<String>,
}

impl CredentialInfo {
    fn from_meta(meta: repo::CredentialMeta, now: DateTime<Utc>) -> Result<Self, VaultError> {
        let age_days = store::clock::parse(&meta.updated_at)
            .map(|at| (now - at).num_days().max(0))
            .unwrap_or(0);
        Ok(CredentialInfo {
            key_version: key::version_number(meta.key_version)?,
            provider: meta.provider,
            name: meta.name,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
            age_days,
            expires_at: meta.expires_at,
        })
    }
}

/// Every stored credential, by provider then name. Needs no master key and opens nothing.
pub async fn list(store: &Store) -> Result<Vec<CredentialInfo>, VaultError> {
    let now = Utc::now();
    repo::list(store)
        .await?
        .into_iter()
        .map(|meta| CredentialInfo::from_meta(meta, now))
        .collect()
}

/// Deletes a credential inside the caller's transaction (so a gated tool can preview it and
/// record it with its audit entry). Needs no master key. [`VaultError::NotFound`] when there
/// is none.
pub async fn delete(
    tx: &mut WriteTx,
    provider: &str,
    name: &str,
) -> Result<CredentialInfo, VaultError> {
    let Some(meta) = repo::delete(tx, provider, name).await? else {
        return Err(VaultError::NotFound {
            provider: provider.to_string(),
            name: name.to_string(),
        });
    };
    tracing::info!(provider, name, "credential deleted");
    CredentialInfo::from_meta(meta, Utc::now())
}

/// The vault's key versions and how many credentials it holds; needs no master key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct VaultStatus {
    /// False until `revops vault init` has run on this store.
    pub configured: bool,
    /// The version new credentials are sealed under.
    pub active_version: Option<u32>,
    /// `random` (a base64 key in `REVOPS_MASTER_KEY`) or `passphrase`.
    pub active_kind: Option<String>,
    /// When the active version was created (UTC, RFC 3339).
    pub active_since: Option<String>,
    /// Versions retired by rotations.
    pub retired_versions: Vec<u32>,
    /// How many credentials are stored.
    pub credentials: usize,
}

/// What the vault looks like, without a key.
pub async fn status(store: &Store) -> Result<VaultStatus, VaultError> {
    let versions = repo::key_versions(store).await?;
    let credentials = repo::list(store).await?.len();
    let active = versions.iter().find(|v| v.active);
    Ok(VaultStatus {
        configured: !versions.is_empty(),
        active_version: active.map(|v| key::version_number(v.version)).transpose()?,
        active_kind: active.map(|v| v.kind.as_str().to_string()),
        active_since: active.map(|v| v.created_at.clone()),
        retired_versions: versions
            .iter()
            .filter(|v| !v.active)
            .map(|v| key::version_number(v.version))
            .collect::<Result<_, _>>()?,
        credentials,
    })
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct RotationReport {
    /// The version retired.
    pub from_version: u32,
    /// The new active version.
    pub to_version: u32,
    /// `random` or `passphrase`: the kind of the new key.
    pub new_kind: String,
    /// How many credentials were re-sealed.
    pub resealed: usize,
}

/// How far a rotation has got: passed to the progress callback of [`Vault::rotate_with`]
/// after each credential is re-sealed (before anything is committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationProgress {
    pub resealed: usize,
    pub total: usize,
}

/// The credential vault, opened with its master key. Cheap to share behind an `Arc`; the
/// key is held only in wiping memory and never shown by `Debug`.
pub struct Vault {
    store: Store,
    // Swapped by a successful rotation so this handle keeps working under the new key.
    current: RwLock<Arc<key::CipherKey>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("backend", &self.store.backend())
            .field("key_version", &self.key_version())
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl Vault {
    /// Opens the vault of `store` with `master`, refusing a key that fails the active key
    /// version's key check ([`VaultError::WrongMasterKey`]) before anything is opened.
    /// Reads only.
    pub async fn open(store: &Store, master: MasterKey) -> Result<Vault, VaultError> {
        let versions = repo::key_versions(store).await?;
        if versions.is_empty() {
            return Err(VaultError::NotConfigured);
        }
        let active = versions
            .iter()
            .find(|v| v.active)
            .ok_or(VaultError::Corrupt(
                "the vault has key versions but none is active",
            ))?;
        let key = master.key_for(active).await?;
        if seal::matches_key_check(&key, &active.key_check)? {
            tracing::debug!(key_version = key.version, "vault opened");
            return Ok(Vault {
                store: store.clone(),
                current: RwLock::new(Arc::new(key)),
            });
        }
        let retired_match = retired_match(&master, &versions).await;
        tracing::warn!(
            key_version = key.version,
            ?retired_match,
            "the master key given does not open the vault"
        );
        Err(VaultError::WrongMasterKey {
            active: key.version,
            retired_match,
        })
    }

    /// Opens the vault with the key in `REVOPS_MASTER_KEY` or `REVOPS_MASTER_PASSPHRASE`.
    /// Without either: [`VaultError::NotConfigured`] if the store has no vault yet, else
    /// [`VaultError::MasterKeyMissing`].
    pub async fn from_env(store: &Store) -> Result<Vault, VaultError> {
        match MasterKey::from_env()? {
            Some(master) => Vault::open(store, master).await,
            None if repo::key_versions(store).await?.is_empty() => Err(VaultError::NotConfigured),
            None => Err(VaultError::MasterKeyMissing),
        }
    }

    /// Sets up the vault of a store that has none: records key version 1 of `master` (its
    /// kind, Argon2id parameters and salt for a passphrase, and its key-check value).
    /// [`VaultError::AlreadyInitialised`] if the store has a vault.
    pub async fn init(store: &Store, master: MasterKey) -> Result<Vault, VaultError> {
        // Derive (Argon2id for a passphrase) before taking the write lock.
        let (key, record) = master.prepare_version().await?.into_version(1)?;
        let mut tx = store.begin_write().await?;
        if let Some(active) = repo::active_key_in(&mut tx).await? {
            return Err(VaultError::AlreadyInitialised {
                active: key::version_number(active.version)?,
            });
        }
        if repo::latest_version_in(&mut tx).await? > 0 {
            return Err(VaultError::Corrupt(
                "the vault has key versions but none is active",
            ));
        }
        match repo::insert_key(&mut tx, &record).await {
            Ok(()) => {}
            // Another process initialised it between our check and our insert (Postgres).
            Err(store::Error::Conflict(_)) => {
                return Err(VaultError::AlreadyInitialised { active: 1 });
            }
            Err(error) => return Err(error.into()),
        }
        commit(tx, "commit the vault's first key version").await?;
        tracing::info!(
            key_version = 1,
            kind = master.kind().as_str(),
            "credential vault initialised"
        );
        Ok(Vault {
            store: store.clone(),
            current: RwLock::new(Arc::new(key)),
        })
    }

    /// The key version new credentials are sealed under.
    pub fn key_version(&self) -> u32 {
        self.current_key().version
    }

    fn current_key(&self) -> Arc<key::CipherKey> {
        // A poisoned lock only means a thread panicked while holding it; the `Arc` inside
        // is always whole, because it is replaced in one assignment.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether a [`Vault::put`] begun now would wait for another write of this process to
    /// end (see [`Store::writes_must_wait`]).
    pub fn writes_must_wait(&self) -> bool {
        self.store.writes_must_wait()
    }

    /// Stores `secret` under `(provider, name)`, sealed under the active key version,
    /// replacing any earlier value, in its own transaction.
    pub async fn put(
        &self,
        provider: &str,
        name: &str,
        secret: SecretString,
    ) -> Result<CredentialInfo, VaultError> {
        self.put_with_expiry(provider, name, secret, None).await
    }

    /// [`Vault::put`] with the time the credential stops being valid (an OAuth access
    /// token's expiry), shown by [`list`].
    pub async fn put_with_expiry(
        &self,
        provider: &str,
        name: &str,
        secret: SecretString,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<CredentialInfo, VaultError> {
        let mut tx = self.store.begin_write().await?;
        let info = self
            .put_in(&mut tx, provider, name, &secret, expires_at)
            .await?;
        commit(tx, "commit a credential").await?;
        Ok(info)
    }

    /// Stores a credential inside the caller's transaction, so it commits together with
    /// other writes (a connector saving a rotated refresh token with its sync cursor, a
    /// tool with its audit entry).
    pub async fn put_in(
        &self,
        tx: &mut WriteTx,
        provider: &str,
        name: &str,
        secret: &SecretString,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<CredentialInfo, VaultError> {
        check_label("provider", provider)?;
        check_label("name", name)?;
        let length = secret.expose_secret().len();
        if length == 0 {
            return Err(VaultError::InvalidInput("the secret is empty".into()));
        }
        if length > MAX_SECRET_BYTES {
            return Err(VaultError::InvalidInput(format!(
                "the secret is {length} bytes; the vault stores at most {MAX_SECRET_BYTES}"
            )));
        }
        let key = self.current_key();
        // Lock the active key row: a rotation committing meanwhile makes this fail instead
        // of sealing a credential under a key it just retired.
        if !repo::hold_active(tx, i64::from(key.version)).await? {
            return Err(self.rotated_error(key.version).await);
        }
        let sealed = seal::seal(&key, provider, name, secret)?;
        let expires_at = expires_at.map(store::clock::format);
        let meta = repo::upsert(
            tx,
            &NewSealed {
                provider,
                name,
                key_version: i64::from(key.version),
                nonce: &sealed.nonce,
                ciphertext: &sealed.blob,
                expires_at: expires_at.as_deref(),
            },
        )
        .await?;
        tracing::info!(
            provider,
            name,
            key_version = key.version,
            "credential sealed and stored"
        );
        CredentialInfo::from_meta(meta, Utc::now())
    }

    /// Opens the credential stored under `(provider, name)`.
    pub async fn get(&self, provider: &str, name: &str) -> Result<SecretString, VaultError> {
        let Some(sealed) = repo::find(&self.store, provider, name).await? else {
            return Err(VaultError::NotFound {
                provider: provider.to_string(),
                name: name.to_string(),
            });
        };
        let key = self.current_key();
        if sealed.meta.key_version != i64::from(key.version) {
            return Err(self.version_error(&sealed.meta, key.version).await);
        }
        match seal::open(&key, provider, name, &sealed.nonce, &sealed.ciphertext)? {
            Ok(secret) => {
                tracing::debug!(
                    provider,
                    name,
                    key_version = key.version,
                    "credential opened"
                );
                Ok(secret)
            }
            Err(failure) => {
                tracing::warn!(
                    provider,
                    name,
                    ?failure,
                    "a stored credential failed its integrity check"
                );
                Err(VaultError::Tampered {
                    provider: provider.to_string(),
                    name: name.to_string(),
                })
            }
        }
    }

    /// Re-seals every credential under a new key version of `new_key`, in one store
    /// transaction; the old version is retired. See [`Vault::rotate_with`].
    pub async fn rotate(&self, new_key: MasterKey) -> Result<RotationReport, VaultError> {
        self.rotate_with(new_key, |_| Ok(())).await
    }

    /// [`Vault::rotate`] with a callback after each credential is re-sealed (before the
    /// commit). An error from the callback abandons the rotation: the transaction is
    /// rolled back, every credential stays under the old key, and the rotation can be run
    /// again. Cancelling the future (a crash) has the same effect.
    pub async fn rotate_with(
        &self,
        new_key: MasterKey,
        mut on_progress: impl FnMut(RotationProgress) -> Result<(), VaultError>,
    ) -> Result<RotationReport, VaultError> {
        let old = self.current_key();
        if new_key.same_random_key(&old) {
            return Err(VaultError::InvalidInput(
                "the new master key is the current one; generate a new key to rotate".into(),
            ));
        }
        // Derive (Argon2id for a passphrase) before taking the write lock.
        let prepared = new_key.prepare_version().await?;
        let mut tx = self.store.begin_write().await?;
        // Retiring first takes the active key row's lock (Postgres): a concurrent `put`
        // waits for this transaction and a concurrent rotation finds nothing to retire.
        if !repo::retire(&mut tx, i64::from(old.version), &store::clock::now()).await? {
            return Err(self.rotated_error(old.version).await);
        }
        let next = repo::latest_version_in(&mut tx).await? + 1;
        let next = u32::try_from(next)
            .map_err(|_| VaultError::Corrupt("a key version number is out of range"))?;
        let (new, record) = prepared.into_version(next)?;
        let sealed = repo::all_sealed(&mut tx).await?;
        let total = sealed.len();
        for (done, credential) in sealed.iter().enumerate() {
            let meta = &credential.meta;
            if meta.key_version != i64::from(old.version) {
                return Err(VaultError::UnknownKeyVersion {
                    provider: meta.provider.clone(),
                    name: meta.name.clone(),
                    version: meta.key_version,
                    active: old.version,
                });
            }
            let secret = match seal::open(
                &old,
                &meta.provider,
                &meta.name,
                &credential.nonce,
                &credential.ciphertext,
            )? {
                Ok(secret) => secret,
                Err(failure) => {
                    tracing::warn!(provider = %meta.provider, name = %meta.name, ?failure, "rotation stopped at a credential that failed its integrity check");
                    return Err(VaultError::Tampered {
                        provider: meta.provider.clone(),
                        name: meta.name.clone(),
                    });
                }
            };
            let resealed = seal::seal(&new, &meta.provider, &meta.name, &secret)?;
            drop(secret);
            if !repo::reseal(
                &mut tx,
                &meta.id,
                i64::from(old.version),
                i64::from(new.version),
                &resealed.nonce,
                &resealed.blob,
            )
            .await?
            {
                return Err(VaultError::Internal(
                    "re-seal a credential that changed during the rotation",
                ));
            }
            on_progress(RotationProgress {
                resealed: done + 1,
                total,
            })?;
            // A yield point per credential: a long rotation shares the runtime's workers,
            // and a caller cancelling the rotation (a shutdown) cuts it between two rows,
            // never only after the commit was sent.
            tokio::task::yield_now().await;
        }
        repo::insert_key(&mut tx, &record).await?;
        commit(tx, "commit the rotation").await?;
        let report = RotationReport {
            from_version: old.version,
            to_version: new.version,
            new_kind: new_key.kind().as_str().to_string(),
            resealed: total,
        };
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(new);
        tracing::info!(
            from_version = report.from_version,
            to_version = report.to_version,
            resealed = report.resealed,
            "master key rotated"
        );
        Ok(report)
    }

    /// The error for a write that found `opened` no longer active.
    async fn rotated_error(&self, opened: u32) -> VaultError {
        match repo::key_versions(&self.store).await {
            Ok(versions) => match versions.iter().find(|v| v.active) {
                Some(active) => match key::version_number(active.version) {
                    Ok(active) => VaultError::KeyRotated { opened, active },
                    Err(error) => error,
                },
                None => VaultError::Corrupt("the vault has key versions but none is active"),
            },
            Err(error) => error.into(),
        }
    }

    /// The error for a credential sealed under a version other than this handle's.
    async fn version_error(&self, meta: &repo::CredentialMeta, mine: u32) -> VaultError {
        let versions = match repo::key_versions(&self.store).await {
            Ok(versions) => versions,
            Err(error) => return error.into(),
        };
        let active = versions.iter().find(|v| v.active).map(|v| v.version);
        // This process is behind a rotation another one committed: say so, not "unknown".
        if let Some(active) = active
            && active != i64::from(mine)
            && active == meta.key_version
            && let Ok(active) = key::version_number(active)
        {
            return VaultError::KeyRotated {
                opened: mine,
                active,
            };
        }
        tracing::warn!(provider = %meta.provider, name = %meta.name, key_version = meta.key_version, "a stored credential is sealed under a key version this vault does not hold");
        VaultError::UnknownKeyVersion {
            provider: meta.provider.clone(),
            name: meta.name.clone(),
            version: meta.key_version,
            active: mine,
        }
    }
}

/// Which retired version `master` is the key of, if any: turns "wrong key" into "you are
/// using the key a rotation retired". Checks the three newest (a passphrase costs one
/// derivation each).
async fn retired_match(master: &MasterKey, versions: &[KeyVersion]) -> Option<u32> {
    for version in versions
        .iter()
        .rev()
        .filter(|v| !v.active && v.kind == master.kind())
        .take(3)
    {
        if let Ok(key) = master.key_for(version).await
            && seal::matches_key_check(&key, &version.key_check).unwrap_or(false)
        {
            return Some(key.version);
        }
    }
    None
}

/// Providers and names: 1 to 128 characters of ASCII letters, digits and `_ . - : @ /`.
/// The value is never echoed: a secret pasted into the wrong argument must not end up in
/// an error message.
fn check_label(what: &str, value: &str) -> Result<(), VaultError> {
    let ok = !value.is_empty()
        && value.chars().count() <= MAX_LABEL_CHARS
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-:@/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(VaultError::InvalidInput(format!(
            "the {what} must be 1 to {MAX_LABEL_CHARS} characters of ASCII letters, digits and _ . - : @ / \
             (the value given was not shown, in case it is a secret)"
        )))
    }
}

/// Commits `tx`, logging the driver's words and returning a store error without them.
async fn commit(tx: WriteTx, action: &'static str) -> Result<(), VaultError> {
    tx.commit().await.map_err(|error| {
        tracing::error!(%error, action, "commit failed");
        VaultError::Store(store::Error::Internal(action))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>(_: T) {}

    /// The sales server calls the vault from tool handlers that run on spawned tasks.
    #[allow(
        dead_code,
        reason = "compiled, not run: the check is the type system's"
    )]
    fn the_vault_and_its_futures_can_cross_threads(vault: &Vault, store: &Store, tx: &mut WriteTx) {
        fn shared<T: Send + Sync>() {}
        shared::<Vault>();
        send(vault.get("p", "n"));
        send(vault.put("p", "n", SecretString::from("x")));
        send(vault.rotate(MasterKey::passphrase(SecretString::from("x"))));
        send(Vault::from_env(store));
        send(list(store));
        send(delete(tx, "p", "n"));
    }
}
