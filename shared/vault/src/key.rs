//! Master keys: where they come from (a random 32-byte key, or a passphrase stretched with
//! Argon2id), how a key version is recorded (never the key: its kind, its Argon2id
//! parameters and salt, and a key-check value) and how a key is checked against a version
//! before anything is opened.
//!
//! Key bytes live only in [`SecretBox`]es and [`Zeroizing`] buffers, so they are wiped
//! when dropped; `Debug` shows the kind of key, never its bytes.

use aes_gcm::aead::Generate;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use store::credentials::{KeyKind, KeyVersion, StoredKdf};
use zeroize::Zeroizing;

use crate::VaultError;
use crate::seal;

/// The variable holding the base64 master key.
pub const MASTER_KEY_VAR: &str = "REVOPS_MASTER_KEY";
/// The variable holding the master passphrase (for a vault set up with a passphrase).
pub const MASTER_PASSPHRASE_VAR: &str = "REVOPS_MASTER_PASSPHRASE";

/// The length of a master key and of a derived key: AES-256.
pub const KEY_LEN: usize = 32;
/// The shortest passphrase a new key version accepts. Argon2id slows guessing down; it
/// cannot make a short passphrase strong.
pub const MIN_PASSPHRASE_CHARS: usize = 12;
const SALT_LEN: usize = 16;
const KDF_NAME: &str = "argon2id-v19";

/// The Argon2id cost of deriving a key from a passphrase. Stored with each passphrase key
/// version, so raising the defaults later does not lock anyone out of an older version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane: RFC 9106's second recommended option with one lane (the
    /// derivation runs once per process start, so a quarter-second is affordable).
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// The limits a stored parameter set must respect: an edited row must not make a
    /// process allocate gigabytes or spin for minutes before the key check can fail.
    const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
    const MAX_ITERATIONS: u32 = 64;
    const MAX_PARALLELISM: u32 = 16;

    fn argon2(self) -> Result<argon2::Argon2<'static>, VaultError> {
        if self.memory_kib > Self::MAX_MEMORY_KIB
            || self.iterations > Self::MAX_ITERATIONS
            || self.parallelism > Self::MAX_PARALLELISM
        {
            return Err(VaultError::InvalidInput(format!(
                "Argon2id parameters out of range: at most {} KiB of memory, {} iterations and {} lanes",
                Self::MAX_MEMORY_KIB,
                Self::MAX_ITERATIONS,
                Self::MAX_PARALLELISM
            )));
        }
        let params = argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(KEY_LEN),
        )
        .map_err(|error| {
            VaultError::InvalidInput(format!("Argon2id parameters are not valid: {error}"))
        })?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }

    fn from_stored(stored: &StoredKdf) -> Result<KdfParams, VaultError> {
        let field = |value: i64| u32::try_from(value).ok().filter(|v| *v > 0);
        if stored.kdf != KDF_NAME {
            return Err(VaultError::Corrupt(
                "a passphrase key version names a key derivation this build does not know",
            ));
        }
        match (
            field(stored.memory_kib),
            field(stored.iterations),
            field(stored.parallelism),
        ) {
            (Some(memory_kib), Some(iterations), Some(parallelism))
                if memory_kib <= Self::MAX_MEMORY_KIB
                    && iterations <= Self::MAX_ITERATIONS
                    && parallelism <= Self::MAX_PARALLELISM =>
            {
                Ok(KdfParams {
                    memory_kib,
                    iterations,
                    parallelism,
                })
            }
            _ => Err(VaultError::Corrupt(
                "a passphrase key version has Argon2id parameters out of range",
            )),
        }
    }
}

/// Where a master key comes from.
enum Source {
    /// 32 random bytes, used as the AES-256 key directly.
    Key(SecretBox<[u8; KEY_LEN]>),
    /// A passphrase; the AES-256 key is derived with Argon2id under a version's salt.
    /// `params` is used only when this key starts a new version (init, rotate).
    Passphrase {
        passphrase: SecretString,
        params: KdfParams,
    },
}

/// The master key a vault is opened (or initialised, or rotated) with.
pub struct MasterKey(Source);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::Key(_) => f.write_str("MasterKey::Random([REDACTED])"),
            Source::Passphrase { params, .. } => f
                .debug_struct("MasterKey::Passphrase")
                .field("passphrase", &"[REDACTED]")
                .field("params", params)
                .finish(),
        }
    }
}

impl MasterKey {
    /// A fresh random key from the operating system's random source.
    pub fn generate() -> Result<MasterKey, VaultError> {
        let mut failed = false;
        let key =
            SecretBox::<[u8; KEY_LEN]>::init_with_mut(
                |bytes| match <[u8; KEY_LEN]>::try_generate() {
                    Ok(random) => {
                        let random = Zeroizing::new(random);
                        bytes.copy_from_slice(random.as_slice());
                    }
                    Err(error) => {
                        tracing::error!(%error, "the system random source failed");
                        failed = true;
                    }
                },
            );
        if failed {
            return Err(VaultError::Internal("generate a random key"));
        }
        Ok(MasterKey(Source::Key(key)))
    }

    /// A key given as base64 text (standard alphabet, padding optional, surrounding
    /// whitespace ignored), as `revops vault init` prints it.
    pub fn from_base64(text: &str) -> Result<MasterKey, VaultError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(VaultError::InvalidMasterKey {
                reason: "it is empty",
            });
        }
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        // Room for the longest input up front, so decoding never reallocates and leaves a
        // copy of the key behind in freed memory.
        let mut decoded = Zeroizing::new(Vec::with_capacity(text.len()));
        engine
            .decode_vec(text, &mut decoded)
            .map_err(|_| VaultError::InvalidMasterKey {
                reason: "it is not base64 (use the key exactly as `revops vault init` printed it)",
            })?;
        if decoded.len() != KEY_LEN {
            return Err(VaultError::InvalidMasterKey {
                reason: "it must decode to exactly 32 bytes (use the key exactly as `revops vault init` printed it)",
            });
        }
        let key = SecretBox::<[u8; KEY_LEN]>::init_with_mut(|bytes| {
            bytes.copy_from_slice(&decoded);
        });
        Ok(MasterKey(Source::Key(key)))
    }

    /// A passphrase, stretched with Argon2id under the default parameters when it starts a
    /// new key version (and under the stored ones when it opens a vault).
    pub fn passphrase(passphrase: SecretString) -> MasterKey {
        MasterKey(Source::Passphrase {
            passphrase,
            params: KdfParams::default(),
        })
    }

    /// The same key with other Argon2id parameters for a new key version (tests use cheap
    /// ones; a large deployment may want more memory). No effect on a random key.
    pub fn with_kdf_params(self, new_params: KdfParams) -> MasterKey {
        match self.0 {
            Source::Passphrase { passphrase, .. } => MasterKey(Source::Passphrase {
                passphrase,
                params: new_params,
            }),
            other => MasterKey(other),
        }
    }

    /// The master key from the environment: `REVOPS_MASTER_KEY` (base64) or
    /// `REVOPS_MASTER_PASSPHRASE`; `None` when neither is set (an empty value counts as
    /// unset). Both set is an error rather than a guess.
    pub fn from_env() -> Result<Option<MasterKey>, VaultError> {
        let read = |name: &str| {
            store::config::var(name)
                .map(Zeroizing::new)
                .filter(|value| !value.trim().is_empty())
        };
        match (read(MASTER_KEY_VAR), read(MASTER_PASSPHRASE_VAR)) {
            (Some(_), Some(_)) => Err(VaultError::AmbiguousMasterKey),
            (Some(key), None) => MasterKey::from_base64(&key).map(Some),
            (None, Some(passphrase)) => Ok(Some(MasterKey::passphrase(SecretString::from(
                passphrase.as_str(),
            )))),
            (None, None) => Ok(None),
        }
    }

    /// The kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self.0 {
            Source::Key(_) => KeyKind::Random,
            Source::Passphrase { .. } => KeyKind::Passphrase,
        }
    }

    /// A random key as base64, to show to the operator once (`revops vault init`); `None`
    /// for a passphrase, which the operator already knows.
    pub fn to_base64(&self) -> Option<SecretString> {
        let Source::Key(key) = &self.0 else {
            return None;
        };
        // Exactly the encoded length, so turning the text into a `SecretString` does not
        // reallocate and leave a copy behind.
        let mut text = Zeroizing::new(String::with_capacity(
            base64::encoded_len(KEY_LEN, true).unwrap_or(44),
        ));
        BASE64.encode_string(key.expose_secret(), &mut text);
        Some(SecretString::from(text.as_str()))
    }

    /// The AES key of `version`: the key itself, or the passphrase derived under the
    /// version's stored parameters and salt. Fails when the kinds differ.
    pub(crate) async fn key_for(&self, version: &KeyVersion) -> Result<CipherKey, VaultError> {
        let number = version_number(version.version)?;
        match (&self.0, version.kind) {
            (Source::Key(key), KeyKind::Random) => Ok(CipherKey {
                version: number,
                key: SecretBox::init_with_mut(|bytes: &mut [u8; KEY_LEN]| {
                    bytes.copy_from_slice(key.expose_secret());
                }),
            }),
            (Source::Passphrase { passphrase, .. }, KeyKind::Passphrase) => {
                let stored = version.kdf.as_ref().ok_or(VaultError::Corrupt(
                    "a passphrase key version has no Argon2id parameters",
                ))?;
                let params = KdfParams::from_stored(stored)?;
                let salt = BASE64.decode(&stored.salt).map_err(|_| {
                    VaultError::Corrupt("a passphrase key version's salt is not base64")
                })?;
                let key = derive(passphrase.clone(), salt, params).await?;
                Ok(CipherKey {
                    version: number,
                    key,
                })
            }
            (Source::Key(_), KeyKind::Passphrase) => Err(VaultError::KeyKindMismatch {
                active: number,
                expected: "passphrase",
                given: "a base64 key",
                hint: "set REVOPS_MASTER_PASSPHRASE (and unset REVOPS_MASTER_KEY)",
            }),
            (Source::Passphrase { .. }, KeyKind::Random) => Err(VaultError::KeyKindMismatch {
                active: number,
                expected: "random key",
                given: "a passphrase",
                hint: "set REVOPS_MASTER_KEY to the base64 key `revops vault init` or `revops vault rotate` printed",
            }),
        }
    }

    /// Prepares a new key version of this key: the AES key (a passphrase is derived under
    /// a fresh salt) and what to record about it. The version number comes later, once the
    /// caller holds the write lock.
    pub(crate) async fn prepare_version(&self) -> Result<PreparedVersion, VaultError> {
        let (key, kdf) = match &self.0 {
            Source::Key(key) => (
                SecretBox::init_with_mut(|bytes: &mut [u8; KEY_LEN]| {
                    bytes.copy_from_slice(key.expose_secret());
                }),
                None,
            ),
            Source::Passphrase { passphrase, params } => {
                if passphrase.expose_secret().chars().count() < MIN_PASSPHRASE_CHARS {
                    return Err(VaultError::InvalidMasterKey {
                        reason: "a passphrase must have at least 12 characters; a longer phrase of several words is better",
                    });
                }
                // Fails early, with the limits, if the parameters are out of range.
                params.argon2()?;
                let salt = <[u8; SALT_LEN]>::try_generate().map_err(|error| {
                    tracing::error!(%error, "the system random source failed");
                    VaultError::Internal("generate a salt")
                })?;
                let key = derive(passphrase.clone(), salt.to_vec(), *params).await?;
                let stored = StoredKdf {
                    kdf: KDF_NAME.to_string(),
                    memory_kib: i64::from(params.memory_kib),
                    iterations: i64::from(params.iterations),
                    parallelism: i64::from(params.parallelism),
                    salt: BASE64.encode(salt),
                };
                (key, Some(stored))
            }
        };
        Ok(PreparedVersion {
            kind: self.kind(),
            key,
            kdf,
        })
    }

    /// True when both are the same random key (a rotation to the same key is refused).
    pub(crate) fn same_random_key(&self, key: &CipherKey) -> bool {
        match &self.0 {
            Source::Key(mine) => mine.expose_secret() == key.key.expose_secret(),
            Source::Passphrase { .. } => false,
        }
    }
}

/// A new key version's key and parameters, waiting for its number.
pub(crate) struct PreparedVersion {
    kind: KeyKind,
    key: SecretBox<[u8; KEY_LEN]>,
    kdf: Option<StoredKdf>,
}

impl PreparedVersion {
    /// The key as version `version`, and the record to store: kind, Argon2id parameters and
    /// salt, and the key-check value (bound to the version number).
    pub(crate) fn into_version(self, version: u32) -> Result<(CipherKey, KeyVersion), VaultError> {
        let key = CipherKey {
            version,
            key: self.key,
        };
        let record = KeyVersion {
            version: i64::from(version),
            kind: self.kind,
            kdf: self.kdf,
            key_check: seal::key_check(&key)?,
            active: true,
            created_at: store::clock::now(),
            retired_at: None,
        };
        Ok((key, record))
    }
}

/// An AES-256 key ready to use, and the key version it belongs to.
pub(crate) struct CipherKey {
    pub(crate) version: u32,
    pub(crate) key: SecretBox<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for CipherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CipherKey")
            .field("version", &self.version)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// A stored version number as the `u32` the vault uses.
pub(crate) fn version_number(version: i64) -> Result<u32, VaultError> {
    u32::try_from(version)
        .ok()
        .filter(|v| *v > 0)
        .ok_or(VaultError::Corrupt("a key version number is out of range"))
}

/// Argon2id, on a blocking thread: it takes a quarter-second of CPU and 64 MiB by design,
/// which must not stall the async runtime's workers.
async fn derive(
    passphrase: SecretString,
    salt: Vec<u8>,
    params: KdfParams,
) -> Result<SecretBox<[u8; KEY_LEN]>, VaultError> {
    let task = tokio::task::spawn_blocking(move || {
        let argon2 = params.argon2()?;
        let mut failed = false;
        let key = SecretBox::<[u8; KEY_LEN]>::init_with_mut(|out| {
            if let Err(error) =
                argon2.hash_password_into(passphrase.expose_secret().as_bytes(), &salt, out)
            {
                tracing::error!(%error, "Argon2id key derivation failed");
                failed = true;
            }
        });
        if failed {
            return Err(VaultError::Internal("derive the key from the passphrase"));
        }
        Ok(key)
    });
    task.await.map_err(|error| {
        tracing::error!(%error, "the key derivation task failed");
        VaultError::Internal("derive the key from the passphrase")
    })?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests: a panic is how a test fails")]

    use super::*;

    fn stored(memory_kib: i64, iterations: i64, parallelism: i64) -> StoredKdf {
        StoredKdf {
            kdf: KDF_NAME.into(),
            memory_kib,
            iterations,
            parallelism,
            salt: BASE64.encode([0u8; SALT_LEN]),
        }
    }

    #[test]
    fn stored_argon2id_parameters_out_of_range_are_refused_before_any_work() {
        assert!(KdfParams::from_stored(&stored(65536, 3, 1)).is_ok());
        for bad in [
            stored(8 * 1024 * 1024, 3, 1),
            stored(65536, 1000, 1),
            stored(65536, 3, 64),
            stored(0, 3, 1),
            stored(-1, 3, 1),
        ] {
            assert!(matches!(
                KdfParams::from_stored(&bad),
                Err(VaultError::Corrupt(_))
            ));
        }
        let mut other = stored(65536, 3, 1);
        other.kdf = "scrypt".into();
        assert!(matches!(
            KdfParams::from_stored(&other),
            Err(VaultError::Corrupt(_))
        ));
    }

    #[test]
    fn a_random_key_survives_its_base64_form_and_never_shows_in_debug() {
        let key = MasterKey::generate().unwrap();
        let text = key.to_base64().unwrap();
        let again = MasterKey::from_base64(text.expose_secret()).unwrap();
        let (Source::Key(a), Source::Key(b)) = (&key.0, &again.0) else {
            panic!("random keys");
        };
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert!(!format!("{key:?}").contains(text.expose_secret()));
        // Without padding, or with surrounding whitespace, as a secrets manager may store it.
        let unpadded = text.expose_secret().trim_end_matches('=').to_string();
        assert!(MasterKey::from_base64(&format!("  {unpadded}\n")).is_ok());
    }
}
