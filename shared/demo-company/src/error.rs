//! Why seeding failed, in words that say what to do about it.

/// What went wrong while seeding the demo company.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The store already holds data; seeding adds a whole company and would collide with it.
    #[error(
        "the store already holds {accounts} accounts, {leads} leads and {campaigns} campaigns; \
         the demo company can only be seeded into an empty store: use a fresh database \
         (a new SQLite file, or a new Postgres database or schema)"
    )]
    AlreadySeeded {
        accounts: i64,
        leads: i64,
        campaigns: i64,
    },
    /// The scale is outside what the generator supports.
    #[error(
        "scale must be between 1 and {max} (got {scale}); scale 1 is about 500 leads, each unit adds as many again"
    )]
    InvalidScale { scale: u32, max: u32 },
    /// The company definition (`fixtures/demo-company.json`) cannot be used.
    #[error("the demo company definition (fixtures/demo-company.json) is unusable: {0}")]
    Definition(String),
    /// The store refused an operation (unavailable, no write lock, ...).
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Reading from the database failed.
    #[error("could not {action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// The generator thread failed (a bug: it does not fail on valid definitions).
    #[error("generating the demo company failed: {0}")]
    Generator(String),
    /// Writing a chunk of rows failed; the chunks written before it stay committed.
    #[error(
        "could not insert rows into {table}: {source}; the chunks committed before this one remain, so reseed into a fresh database"
    )]
    Insert {
        table: &'static str,
        #[source]
        source: sqlx::Error,
    },
}
