//! The vault's one error type. Every message says what to do next, and none ever contains a
//! secret: not a credential, not a master key, not a passphrase, not even a part of one.
//! Values that fail validation are described, never echoed, because the value a person
//! typed in the wrong place may be the secret itself.

use crate::key::{MASTER_KEY_VAR, MASTER_PASSPHRASE_VAR};

/// What went wrong in the vault. None of these leaves anything changed in the store.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No key version has ever been recorded in this store.
    #[error(
        "no credential vault is set up in this store: run `revops vault init` to create a master key, \
         then give it to every process that needs credentials as {MASTER_KEY_VAR} (or use \
         `revops vault init --passphrase` and {MASTER_PASSPHRASE_VAR})"
    )]
    NotConfigured,

    /// The vault exists but this process was given no master key.
    #[error(
        "the credential vault is locked: set {MASTER_KEY_VAR} to the base64 key `revops vault init` \
         printed, or {MASTER_PASSPHRASE_VAR} if the vault uses a passphrase"
    )]
    MasterKeyMissing,

    /// Both master-key variables are set; the vault will not guess which one is meant.
    #[error("both {MASTER_KEY_VAR} and {MASTER_PASSPHRASE_VAR} are set: set only one of them")]
    AmbiguousMasterKey,

    /// The master key given cannot be a key at all (not base64, wrong length, too short).
    #[error("the master key is not usable: {reason}")]
    InvalidMasterKey { reason: &'static str },

    /// The master key is well formed but is not the vault's key: the key check failed.
    #[error(
        "the master key does not open this vault (it is not the key of active key version {active}{}); \
         check {MASTER_KEY_VAR} or the passphrase. Nothing was read or changed",
        match retired_match {
            Some(version) => format!(
                "; it is the key of version {version}, which a rotation retired: use the key the rotation printed"
            ),
            None => String::new(),
        }
    )]
    WrongMasterKey {
        active: u32,
        retired_match: Option<u32>,
    },

    /// A base64 key was given for a passphrase vault, or a passphrase for a random-key vault.
    #[error(
        "the vault's active key version {active} is a {expected}, but {given} was given: {hint}"
    )]
    KeyKindMismatch {
        active: u32,
        expected: &'static str,
        given: &'static str,
        hint: &'static str,
    },

    /// The credential's sealed bytes fail authentication: altered, truncated, or moved here
    /// from another record.
    #[error(
        "the stored credential {provider}/{name} failed its integrity check: it was altered or \
         copied from another record, so it was not opened. Set it again with \
         `revops vault set {provider} {name}`"
    )]
    Tampered { provider: String, name: String },

    /// The credential is sealed under a key version this vault does not hold.
    #[error(
        "the stored credential {provider}/{name} is sealed under key version {version}, which is \
         not this vault's key (active version {active}); it may come from another vault or an old \
         backup. Set it again with `revops vault set {provider} {name}`, or delete it"
    )]
    UnknownKeyVersion {
        provider: String,
        name: String,
        version: i64,
        active: u32,
    },

    /// Another process rotated the master key after this one opened the vault.
    #[error(
        "the vault's master key was rotated to version {active} after this process opened it \
         (with version {opened}): restart it with the new key"
    )]
    KeyRotated { opened: u32, active: u32 },

    /// `revops vault init` on a store that already has a vault.
    #[error(
        "this store already has a credential vault (active key version {active}); use \
         `revops vault rotate` to change its master key"
    )]
    AlreadyInitialised { active: u32 },

    /// No credential is stored under this provider and name.
    #[error(
        "no credential named {name:?} is stored for provider {provider:?}; `revops vault list` \
         shows what is stored"
    )]
    NotFound { provider: String, name: String },

    /// A provider, name, secret or option that breaks a rule; says which rule.
    #[error("{0}")]
    InvalidInput(String),

    /// A rotation stopped before committing (the caller asked it to, or it failed); the
    /// store is exactly as before and the rotation can be run again.
    #[error("the rotation was interrupted before it committed; nothing was changed, run it again")]
    RotationInterrupted,

    /// The vault's own records are not what this build wrote (an edited row, a newer build).
    #[error("the vault's records are damaged: {0}; restore the store from a backup")]
    Corrupt(&'static str),

    /// The operating system's random source or the key derivation failed.
    #[error("the vault could not {0}; the log has the detail")]
    Internal(&'static str),

    /// The store failed (unavailable, conflict…); its message never contains SQL.
    #[error(transparent)]
    Store(#[from] store::Error),
}
