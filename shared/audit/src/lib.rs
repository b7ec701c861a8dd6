//! The audit log: every tool call of every server, as a SHA-256 hash chain a compliance
//! officer can verify, and prove unedited against signed checkpoints kept elsewhere.
//!
//! # Layout
//! - [`entry`]: [`AuditEntry`] and its hash: a versioned, length-prefixed encoding of every
//!   field, so no two different entries encode alike.
//! - [`canonical`]: canonical JSON and the digest of a call's arguments.
//! - [`append`]: [`Auditor::append`], inside the caller's write transaction; actors are
//!   pseudonymised first.
//! - [`verify`]: [`verify::Verifier`], streaming and parallel; names the first bad `seq`.
//! - [`checkpoint`]: Ed25519-signed `(seq, head hash, time)` checkpoints.
//! - [`query`]: reading entries back by actor, server, tool, outcome and time.
//!
//! # Invariants
//! - This crate never updates or deletes an audit row.
//! - Personal data never enters a hashed field in the clear: actors are pseudonyms
//!   (`audit_actors` maps them to names and may be erased), arguments are digested, details
//!   are short outcome descriptions chosen by code.
//! - `seq` starts at 1 and has no gaps; each entry stores its predecessor's hash; the store
//!   holds `UNIQUE(seq)` and `UNIQUE(prev_hash)`, so a fork cannot be stored.

pub mod append;
pub mod canonical;
pub mod checkpoint;
pub mod entry;
pub mod query;
pub mod verify;

pub use append::{Auditor, NewEntry};
pub use entry::{AuditEntry, GENESIS_HASH};

/// What can go wrong using the audit log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("reading {path}: {message}")]
    File { path: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn db_error(action: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |error| {
        tracing::error!(%error, action, "audit store error");
        Error::Store(store::Error::Internal(action))
    }
}
