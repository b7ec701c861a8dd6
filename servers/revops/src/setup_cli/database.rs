//! The store and its vault during set-up: connect and migrate on the spot (so a wrong URL is
//! found while the person is still there to fix it), read what the vault looks like, set it
//! up or re-key it with the chosen master key, and load the demo company into an empty
//! store.

use std::time::Duration;

use vault::{ExposeSecret, MasterKey, SecretString, Vault};

/// How long the set-up waits for a database connection.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// How far the migrations got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub before: i64,
    pub after: i64,
    pub known: i64,
}

/// Connects to `location` and applies every pending migration.
pub async fn connect_and_migrate(
    location: &store::DatabaseLocation,
) -> Result<(store::Store, Migrated), String> {
    // A file about to be created has nothing to ask about (and asking an empty database
    // for its level logs an error about the missing migrations table).
    let brand_new = location.sqlite_path().is_some_and(|path| !path.exists());
    // The store's own pool waits 30 s for a connection; a person at a prompt should hear
    // sooner that the server is not answering.
    let store = match tokio::time::timeout(CONNECT_PATIENCE, store::Store::connect(location)).await
    {
        Ok(connected) => connected.map_err(|error| error.to_string())?,
        Err(_) => {
            return Err(format!(
                "cannot connect to the database at {}: no connection within {} s (is the server running and reachable from here?)",
                location.redacted(),
                CONNECT_PATIENCE.as_secs()
            ));
        }
    };
    // A database never migrated has no migration table yet: level 0.
    let before = match brand_new {
        true => 0,
        false => store.migration_level().await.unwrap_or(0),
    };
    if let Err(error) = store.migrate().await {
        store.close().await;
        return Err(format!(
            "connected, but the migrations failed: {error}. The database user needs the right to \
             create tables (and, on Postgres, to use the schema)"
        ));
    }
    let after = store.migration_level().await.map_err(|e| e.to_string())?;
    let known = store.known_migration_level();
    Ok((
        store,
        Migrated {
            before,
            after,
            known,
        },
    ))
}

/// What to check when a database cannot be used.
pub fn connect_hint(location: &store::DatabaseLocation) -> &'static str {
    match location {
        store::DatabaseLocation::Postgres(_) => {
            "Check the host and port, that the server is running and accepts connections from \
             this machine, the user name and password, and that the database exists (createdb)."
        }
        store::DatabaseLocation::SqliteFile(_) => {
            "Check that the folder can be created and written by you, and that the file is a \
             SQLite database (or does not exist yet)."
        }
    }
}

/// The kind of the vault's active master key, or `None` when the store has no vault yet.
pub async fn vault_kind(store: &store::Store) -> anyhow::Result<Option<vault::KeyKind>> {
    let status = vault::status(store).await?;
    Ok(match status.active_kind.as_deref() {
        None => None,
        Some("passphrase") => Some(vault::KeyKind::Passphrase),
        Some(_) => Some(vault::KeyKind::Random),
    })
}

/// Whether `key` (base64) opens the store's vault; the error says why not.
pub async fn key_opens(store: &store::Store, key: &SecretString) -> Result<(), String> {
    let master = MasterKey::from_base64(key.expose_secret()).map_err(|e| e.to_string())?;
    Vault::open(store, master)
        .await
        .map(drop)
        .map_err(|error| error.to_string())
}

/// Whether `passphrase` opens the store's vault.
pub async fn passphrase_opens(
    store: &store::Store,
    passphrase: &SecretString,
) -> Result<(), String> {
    Vault::open(store, MasterKey::passphrase(passphrase.clone()))
        .await
        .map(drop)
        .map_err(|error| error.to_string())
}

/// What the set-up does with the master key.
pub enum KeyPlan {
    /// A new random key (base64): written to the file; the vault is set up with it.
    Create { key: SecretString },
    /// The key the file or the environment already has: written to the file; the vault is
    /// set up with it when the store has none.
    Keep {
        key: SecretString,
        origin: String,
        vault_exists: bool,
    },
    /// A new key replacing the current one, asked for explicitly; the store's vault, if
    /// any, is re-encrypted under it.
    Replace {
        /// The current key; needed (and checked) when the store has a vault to re-encrypt.
        old: Option<SecretString>,
        new: SecretString,
        vault_exists: bool,
    },
    /// The vault uses a passphrase from the environment or the file; nothing is written.
    Passphrase {
        passphrase: SecretString,
        vault_exists: bool,
    },
    /// No key in the file, for the reason given.
    Without { why: String },
}

impl KeyPlan {
    /// The base64 key the config file gets, if any.
    pub fn key_for_file(&self) -> Option<String> {
        match self {
            KeyPlan::Create { key } | KeyPlan::Keep { key, .. } => {
                Some(key.expose_secret().to_string())
            }
            KeyPlan::Replace { new, .. } => Some(new.expose_secret().to_string()),
            KeyPlan::Passphrase { .. } | KeyPlan::Without { .. } => None,
        }
    }

    /// Whether credentials can be stored once the plan is carried out.
    pub fn has_vault(&self) -> bool {
        match self {
            KeyPlan::Create { .. } | KeyPlan::Keep { .. } | KeyPlan::Replace { .. } => true,
            KeyPlan::Passphrase { vault_exists, .. } => *vault_exists,
            KeyPlan::Without { .. } => false,
        }
    }

    /// One line for the summary (never the key).
    pub fn describe(&self) -> String {
        match self {
            KeyPlan::Create { .. } => "a new master key, stored in the config file only (keep a backup of the file: without the key, stored credentials cannot be opened)".to_string(),
            KeyPlan::Keep { origin, .. } if origin == "the config file" => {
                "kept (the one already in the config file)".to_string()
            }
            KeyPlan::Keep { origin, .. } => format!("kept (from {origin}), now stored in the config file"),
            KeyPlan::Replace { vault_exists: true, .. } => "replaced by a new key; the vault's credentials are re-encrypted under it, and the old key no longer opens them".to_string(),
            KeyPlan::Replace { .. } => "replaced by a new key (this database had no vault yet)".to_string(),
            KeyPlan::Passphrase { vault_exists: true, .. } => "the vault uses the passphrase in REVOPS_MASTER_PASSPHRASE; nothing stored".to_string(),
            KeyPlan::Passphrase { .. } => "REVOPS_MASTER_PASSPHRASE is set, but this database has no vault yet: run `revops vault init --passphrase`".to_string(),
            KeyPlan::Without { why } => format!("none in the config file: {why}"),
        }
    }
}

/// Carries out the key plan on `store`: sets the vault up, opens it, or re-keys it.
/// Returns the open vault when there is one, and what was done.
pub async fn carry_out(
    store: &store::Store,
    plan: &KeyPlan,
) -> anyhow::Result<(Option<Vault>, Option<String>)> {
    let from_base64 = |key: &SecretString| MasterKey::from_base64(key.expose_secret());
    Ok(match plan {
        KeyPlan::Create { key }
        | KeyPlan::Keep {
            key,
            vault_exists: false,
            ..
        }
        | KeyPlan::Replace {
            new: key,
            vault_exists: false,
            ..
        } => {
            let vault = Vault::init(store, from_base64(key)?).await?;
            let done = format!(
                "credential vault set up in the database (key version {})",
                vault.key_version()
            );
            (Some(vault), Some(done))
        }
        KeyPlan::Keep { key, .. } => (Some(Vault::open(store, from_base64(key)?).await?), None),
        KeyPlan::Replace { old, new, .. } => {
            let old = old.as_ref().ok_or_else(|| {
                anyhow::anyhow!(
                    "the vault can only be re-encrypted with its current key, which was not given"
                )
            })?;
            let vault = Vault::open(store, from_base64(old)?).await?;
            let report = vault.rotate(from_base64(new)?).await?;
            let done = format!(
                "credential vault re-encrypted: {} credential(s) moved from key version {} to {}",
                report.resealed, report.from_version, report.to_version
            );
            (Some(vault), Some(done))
        }
        KeyPlan::Passphrase {
            passphrase,
            vault_exists: true,
        } => (
            Some(Vault::open(store, MasterKey::passphrase(passphrase.clone())).await?),
            None,
        ),
        KeyPlan::Passphrase { .. } | KeyPlan::Without { .. } => (None, None),
    })
}

/// A new random master key as base64 (`revops vault init`'s kind of key).
pub fn new_key() -> anyhow::Result<SecretString> {
    let key = MasterKey::generate()?;
    key.to_base64()
        .ok_or_else(|| anyhow::anyhow!("a random key has no base64 form"))
}

/// Whether the store holds no company data yet (the demo company needs an empty store).
pub async fn is_empty(store: &store::Store) -> anyhow::Result<bool> {
    let counts = store::overview::record_counts(store).await?;
    Ok(counts.accounts == 0 && counts.leads == 0 && counts.campaigns == 0)
}

/// Loads the demo company at scale 1; returns a line saying what it loaded.
pub async fn load_demo(store: &store::Store) -> anyhow::Result<String> {
    let summary = demo_company::seed(store, 1).await?;
    Ok(format!(
        "loaded the demo company: {} accounts, {} leads, {} opportunities, {} campaigns (its \"today\" is {})",
        summary.rows.accounts,
        summary.rows.leads,
        summary.rows.opportunities,
        summary.rows.campaigns,
        summary.reference_date
    ))
}
