//! The store's one error type: variants a caller can act on, no SQL text inside.

/// What went wrong, in terms a tool can pass on to its caller.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The record asked for does not exist.
    #[error("no {entity} has id {id:?}; check the id (list or search first to find it)")]
    NotFound { entity: &'static str, id: String },
    /// The change would break a rule of the data (a duplicate, a missing parent, a range).
    #[error("{0}")]
    Conflict(String),
    /// The database cannot be reached or opened.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A migration failed; the database is left at the last good level.
    #[error("a database migration failed: {0}")]
    Migration(String),
    /// Anything else the database reported; the detail is logged, not returned.
    #[error("the store could not {0}; the server log has the detail")]
    Internal(&'static str),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Maps a driver error to a domain error, logging the driver's own words to stderr.
    pub(crate) fn from_sqlx(action: &'static str, error: sqlx::Error) -> Error {
        if let Some(broken_rule) = Error::broken_rule(action, &error) {
            return broken_rule;
        }
        if matches!(
            error,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
        ) {
            tracing::error!(%error, action, "store unavailable");
            return Error::Unavailable(format!("could not {action}; try again shortly"));
        }
        tracing::error!(%error, action, "store error");
        Error::Internal(action)
    }

    /// [`Error::Conflict`] when the database refused the change for breaking a rule of the
    /// data (unique, foreign key, check).
    pub(crate) fn broken_rule(action: &'static str, error: &sqlx::Error) -> Option<Error> {
        if let sqlx::Error::Database(db) = error {
            let message = db.message().to_ascii_lowercase();
            if db.is_unique_violation() || message.contains("unique constraint") {
                return Some(Error::Conflict(format!(
                    "could not {action}: a record with the same unique value already exists"
                )));
            }
            if db.is_foreign_key_violation() || message.contains("foreign key") {
                return Some(Error::Conflict(format!(
                    "could not {action}: it refers to a record that does not exist"
                )));
            }
            if db.is_check_violation() || message.contains("check constraint") {
                return Some(Error::Conflict(format!(
                    "could not {action}: a value is outside its allowed range"
                )));
            }
        }
        None
    }
}

/// True when SQLite reported that another connection holds the lock.
pub(crate) fn is_busy(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let message = db.message();
            message.contains("database is locked") || message.contains("busy")
        }
        _ => false,
    }
}

/// A short, credential-free reason a connection failed.
pub(crate) fn connect_hint(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Io(io) => format!("{io} (is the server running and the address right?)"),
        sqlx::Error::PoolTimedOut => "timed out (is the server running and reachable?)".into(),
        sqlx::Error::Database(db) => db.message().to_string(),
        sqlx::Error::Configuration(_) => "the URL's options are not valid".into(),
        other => other.to_string(),
    }
}
