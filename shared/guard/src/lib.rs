//! Gates a call must pass: confirmation of destructive tools and budget caps on spend.
//!
//! # Layout
//! - [`confirmation`]: single-use, short-lived tokens bound to a tool, the digest of its exact
//!   arguments and the actor.
//! - [`budget`]: spend reserved atomically against a campaign's lifetime and daily caps and
//!   the organisation's monthly cap.
//!
//! # Invariants
//! - A token is consumed in the same transaction as the action it allows: the action and the
//!   token's use commit together, so a token can never allow two actions.
//! - Committed spend never exceeds any cap, whatever the concurrency: the check and the
//!   ledger insert happen under the store's write lock (SQLite) or row and advisory locks
//!   (Postgres), in one transaction.

pub mod budget;
pub mod confirmation;

/// Why a gate said no, in words the caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Confirmation(String),
    #[error("{0}")]
    Budget(String),
    #[error(transparent)]
    Store(#[from] StoreFailure),
}

/// A store failure, kept as text so a refusal stays `Clone` and comparable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreFailure(pub String);

impl From<store::Error> for Refusal {
    fn from(error: store::Error) -> Refusal {
        Refusal::Store(StoreFailure(error.to_string()))
    }
}

pub(crate) fn db_error(action: &'static str) -> impl FnOnce(sqlx::Error) -> Refusal {
    move |error| {
        tracing::error!(%error, action, "guard store error");
        Refusal::Store(StoreFailure(format!("the store could not {action}")))
    }
}
