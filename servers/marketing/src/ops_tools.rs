//! Operations: checksummed backups of the marketing data, and the marketing settings.
//!
//! # Backups
//! A backup is one JSON-lines file under `<data dir>/backups` (the data dir is
//! `REVOPS_DATA_DIR`, else the SQLite file's folder, else the user's data folder), named
//! from a generated id (never from input), written to a temporary name with mode 0600 and
//! renamed into place, and registered in the `backups` table with its SHA-256.
//!
//! Deleting is the subtle part: the confirmation gate runs a destructive tool once in a
//! transaction that is rolled back (the preview), and a removed file cannot be rolled back.
//! So `delete_backup` only marks the row deleted (a tombstone) inside the call's
//! transaction; the file is removed once that mark has *committed*: a background task waits
//! for the call's transaction to end (`store::backups::settled_tombstone` blocks on the
//! write lock or the row lock) and removes the file only if the tombstone is there; and
//! every later `create_backup` or `delete_backup` sweeps files of committed tombstones, in
//! case the process stopped first. A preview therefore never removes anything. The file of
//! a backup whose registering transaction rolled back stays (a file the register does not
//! know is never removed: the folder may be shared with another database).
//!
//! # Settings
//! Keys of the `marketing` server in `store::settings`, each with a default and a range; an
//! update is checked in full before anything is written.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use mcp_runtime::errors::{id_arg, optional_text};
use mcp_runtime::gates::Gated;
use mcp_runtime::policy::least_role_meta;
use mcp_runtime::{CallScope, Role, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::backups::BackupRecord;

use crate::{MarketingServer, refusal};

/// The variable naming the folder for backups and other data files.
pub const DATA_DIR_VAR: &str = "REVOPS_DATA_DIR";

/// The settings namespace of this server.
const SERVER: &str = "marketing";

/// ISO 4217 codes in use (2024).
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN \
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF \
    GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL \
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG \
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS \
    UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWG";

/// Checks an ISO 4217 currency code; returns it upper-cased.
pub(crate) fn currency_arg(field: &'static str, value: &str) -> ToolResult<String> {
    let code = value.trim().to_ascii_uppercase();
    if code.len() == 3 && CURRENCIES.split_whitespace().any(|c| c == code) {
        Ok(code)
    } else {
        let shown: String = value.chars().take(20).filter(|c| !c.is_control()).collect();
        Err(ToolError::invalid(
            field,
            format!(
                "{shown:?} is not an ISO 4217 currency code; use three letters such as USD, EUR or GBP"
            ),
        ))
    }
}

/// What values a setting takes.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    Integer { min: i64, max: i64 },
    Currency,
}

/// One marketing setting: its key, default, range and meaning.
struct Spec {
    key: &'static str,
    allowed: Allowed,
    default: fn() -> serde_json::Value,
    description: &'static str,
}

const SPECS: [Spec; 5] = [
    Spec {
        key: "default_currency",
        allowed: Allowed::Currency,
        default: || serde_json::Value::from("USD"),
        description: "The currency of a new campaign when create_campaign names none (ISO 4217).",
    },
    Spec {
        key: "email_confirm_above_recipients",
        allowed: Allowed::Integer {
            min: 1,
            max: 1_000_000,
        },
        default: || serde_json::Value::from(1_000),
        description: "An email send to more recipients than this needs a confirmation.",
    },
    Spec {
        key: "attribution_half_life_days",
        allowed: Allowed::Integer { min: 1, max: 365 },
        default: || serde_json::Value::from(7),
        description: "Time-decay attribution: a touch this many days older counts half as much.",
    },
    Spec {
        key: "backup_retention",
        allowed: Allowed::Integer { min: 1, max: 1_000 },
        default: || serde_json::Value::from(30),
        description: "How many backups to keep; create_backup deletes the oldest beyond this.",
    },
    Spec {
        key: "budget_warning_percent",
        allowed: Allowed::Integer { min: 1, max: 100 },
        default: || serde_json::Value::from(80),
        description: "marketing://budgets flags a campaign as near its cap once this share of its lifetime cap is committed or reserved.",
    },
];

fn spec(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}

fn allowed_text(allowed: Allowed) -> String {
    match allowed {
        Allowed::Integer { min, max } => format!("a whole number from {min} to {max}"),
        Allowed::Currency => "an ISO 4217 currency code such as \"USD\"".to_string(),
    }
}

/// Checks one value against its spec; returns the value to store.
fn check(spec: &Spec, value: &serde_json::Value) -> Result<serde_json::Value, String> {
    let wrong = || {
        format!(
            "{} must be {}, got {value}",
            spec.key,
            allowed_text(spec.allowed)
        )
    };
    match spec.allowed {
        Allowed::Integer { min, max } => match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(serde_json::Value::from(n)),
            _ => Err(wrong()),
        },
        Allowed::Currency => match value.as_str() {
            Some(code) => currency_arg("changes", code)
                .map(serde_json::Value::from)
                .map_err(|_| wrong()),
            None => Err(wrong()),
        },
    }
}

/// A whole-number setting's value: stored, else its default.
pub(crate) async fn integer_setting(store: &store::Store, key: &str) -> ToolResult<i64> {
    let stored = store::settings::get(store, SERVER, key).await?;
    Ok(stored
        .and_then(|v| v.as_i64())
        .or_else(|| spec(key).and_then(|s| (s.default)().as_i64()))
        .unwrap_or(0))
}

/// The `default_currency` setting, read inside the call's transaction.
pub(crate) async fn default_currency_in(tx: &mut store::WriteTx) -> ToolResult<String> {
    let stored = store::settings::get_in(tx, SERVER, "default_currency").await?;
    Ok(stored
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "USD".to_string()))
}

/// One setting as it stands.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SettingView {
    pub key: String,
    pub value: serde_json::Value,
    pub default: serde_json::Value,
    /// True when never set (or set back to the default).
    pub is_default: bool,
    /// What values it takes.
    pub allowed: String,
    pub description: String,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

/// Every marketing setting.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Settings {
    pub settings: Vec<SettingView>,
}

async fn settings_view(store: &store::Store) -> ToolResult<Vec<SettingView>> {
    let stored = store::settings::all(store, SERVER).await?;
    Ok(SPECS
        .iter()
        .map(|spec| {
            let default = (spec.default)();
            let current = stored.get(spec.key);
            let value = current.map_or_else(|| default.clone(), |s| s.value.clone());
            SettingView {
                key: spec.key.to_string(),
                is_default: value == default,
                value,
                default,
                allowed: allowed_text(spec.allowed),
                description: spec.description.to_string(),
                updated_by: current.map(|s| s.updated_by.clone()),
                updated_at: current.map(|s| s.updated_at.clone()),
            }
        })
        .collect())
}

/// Settings to change.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateSettingsParams {
    /// The settings to change, by key, e.g. {"backup_retention": 14, "default_currency": "EUR"}; null sets a
    /// key back to its default. Keys: default_currency, email_confirm_above_recipients,
    /// attribution_half_life_days, backup_retention, budget_warning_percent.
    pub changes: BTreeMap<String, serde_json::Value>,
}

/// One changed setting.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SettingChange {
    pub key: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// The result of an update.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SettingsUpdate {
    /// The keys whose value changed (a key given its current value is not listed).
    pub changed: Vec<SettingChange>,
    pub settings: Vec<SettingView>,
}

/// Which backup to act on.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BackupRef {
    /// The backup's id, e.g. `bak_20261121093000123456abcd`.
    pub backup_id: String,
}

/// A backup to make.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateBackupParams {
    /// Why it is made, e.g. "before the Q1 budget reset"; at most 200 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// Which backups to list.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListBackupsParams {
    /// Also list deleted backups (their register entries).
    #[serde(default)]
    pub include_deleted: Option<bool>,
    /// Page size, 1-100 (default 20).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A backup written.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupCreated {
    pub backup: BackupRecord,
    /// The folder the file is in.
    pub folder: String,
    /// Rows written per table.
    pub rows_by_table: BTreeMap<String, i64>,
    /// Older backups deleted to keep `backup_retention` backups.
    pub removed_by_retention: Vec<String>,
}

/// A backup in the register with the state of its file.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupStatus {
    #[serde(flatten)]
    pub backup: BackupRecord,
    /// True when the file is in the backups folder.
    pub file_present: bool,
    /// True when the file's SHA-256 and size match the register; none when the file is gone.
    pub checksum_matches: Option<bool>,
}

/// A page of backups.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupListing {
    pub folder: String,
    pub items: Vec<BackupStatus>,
    pub next_cursor: Option<String>,
}

/// What deleting a backup removes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupDeletion {
    pub backup: BackupRecord,
    /// The file that goes (removed once the deletion has committed).
    pub file: String,
    pub file_present: bool,
    pub size_bytes: i64,
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, b| {
            let _ = write!(text, "{b:02x}");
            text
        })
}

/// SHA-256 (hex) and size of a file, or `None` when it is not there.
fn file_digest(path: &Path) -> std::io::Result<Option<(String, u64)>> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut hashing = Hashing {
        inner: std::io::sink(),
        hasher: Sha256::new(),
        bytes: 0,
    };
    std::io::copy(&mut file, &mut hashing)?;
    Ok(Some((hex(&hashing.hasher.finalize()), hashing.bytes)))
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> ToolError {
    ToolError::Unavailable(format!("{what}: {error}"))
}

/// `<data dir>/backups`: `REVOPS_DATA_DIR`, else the SQLite file's folder, else the user's
/// data folder (`…/revops`).
async fn backups_dir(store: &store::Store) -> ToolResult<PathBuf> {
    if let Some(dir) = store::config::var(DATA_DIR_VAR) {
        return Ok(PathBuf::from(dir.trim()).join("backups"));
    }
    if store.backend() == store::Backend::Sqlite {
        let file: Option<String> = sqlx_file_of_main(store).await?.filter(|f| !f.is_empty());
        if let Some(parent) = file.as_deref().map(Path::new).and_then(Path::parent) {
            return Ok(parent.join("backups"));
        }
    }
    let default = store::location::default_sqlite_path();
    Ok(default
        .parent()
        .map_or_else(std::env::temp_dir, Path::to_path_buf)
        .join("backups"))
}

/// The file of SQLite's main database.
async fn sqlx_file_of_main(store: &store::Store) -> ToolResult<Option<String>> {
    store::backups::sqlite_main_file(store)
        .await
        .map_err(ToolError::from)
}

/// Creates the backups folder (0700 on Unix).
fn ensure_dir(dir: &Path) -> ToolResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| unavailable("cannot create the backups folder", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| unavailable("cannot restrict the backups folder", e))?;
    }
    Ok(())
}

/// Removes the files of committed tombstones, and temporary files older than an hour (a
/// write that never finished). A complete file whose registering transaction rolled back is
/// left alone: the folder may be shared by another database's register, so a file this
/// register does not know is not ours to remove.
async fn sweep(store: &store::Store, dir: &Path) -> ToolResult<()> {
    for file in store::backups::deleted_files(store).await? {
        remove_quietly(&dir.join(file));
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let temporary = name.starts_with(".bak_") && name.ends_with(".jsonl.tmp");
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < hour_ago);
        if temporary && old {
            remove_quietly(&entry.path());
        }
    }
    Ok(())
}

fn remove_quietly(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::info!(file = %path.display(), "removed a deleted backup's file"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(%error, file = %path.display(), "could not remove a backup file")
        }
    }
}

/// Removes backup `id`'s file once the transaction that marked it deleted has committed
/// (and does nothing if it rolled back, as a preview does).
fn remove_when_committed(store: store::Store, dir: PathBuf, id: String) {
    tokio::spawn(async move {
        match store::backups::settled_tombstone(&store, &id).await {
            Ok(Some(file)) => remove_quietly(&dir.join(file)),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, backup = %id, "could not check a backup deletion; the next backup call removes the file")
            }
        }
    });
}

#[tool_router(router = ops_router, vis = "pub(crate)")]
impl MarketingServer {
    #[tool(
        description = "The marketing settings with their current values, defaults, allowed values and who last \
            changed them: default_currency, email_confirm_above_recipients, attribution_half_life_days, \
            backup_retention, budget_warning_percent. Example: {}.",
        annotations(
            title = "Get settings",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_settings(&self) -> Result<Json<Settings>, ToolError> {
        Ok(Json(Settings {
            settings: settings_view(self.runtime.store()).await?,
        }))
    }

    #[tool(
        description = "Change marketing settings (manager or admin only). Every change is checked before anything is \
            written: one unknown key or bad value changes nothing and the error names the key and what is allowed. \
            null sets a key back to its default. Keys: default_currency (ISO 4217), email_confirm_above_recipients \
            (1-1000000), attribution_half_life_days (1-365), backup_retention (1-1000), budget_warning_percent (1-100). \
            Example: {\"changes\": {\"backup_retention\": 14, \"default_currency\": \"EUR\"}}.",
        annotations(
            title = "Update settings",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        meta = least_role_meta(Role::Manager)
    )]
    async fn update_settings(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<UpdateSettingsParams>,
    ) -> Result<Json<SettingsUpdate>, ToolError> {
        if scope.actor.role < Role::Manager {
            return Err(ToolError::Forbidden(format!(
                "changing marketing settings needs the manager or admin role; you act as {}",
                scope.actor.role
            )));
        }
        if params.changes.is_empty() {
            return Err(ToolError::invalid(
                "changes",
                "is empty; give at least one setting, e.g. {\"backup_retention\": 14}",
            ));
        }
        let mut problems = Vec::new();
        let mut checked = BTreeMap::new();
        for (key, value) in &params.changes {
            match spec(key) {
                None => {
                    let shown: String = key.chars().take(40).filter(|c| !c.is_control()).collect();
                    problems.push(format!(
                        "{shown:?} is not a marketing setting; the settings are {}",
                        SPECS.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
                    ));
                }
                Some(spec) if value.is_null() => {
                    checked.insert(key.clone(), (spec.default)());
                }
                Some(spec) => match check(spec, value) {
                    Ok(value) => {
                        checked.insert(key.clone(), value);
                    }
                    Err(problem) => problems.push(problem),
                },
            }
        }
        if !problems.is_empty() {
            return Err(ToolError::invalid(
                "changes",
                format!("nothing was changed: {}", problems.join("; ")),
            ));
        }
        let mut tx = scope.transaction().await?;
        let mut writes = BTreeMap::new();
        let mut changed = Vec::new();
        for (key, new) in checked {
            let old = match store::settings::get_in(&mut tx, SERVER, &key).await? {
                Some(value) => value,
                None => spec(&key).map_or(serde_json::Value::Null, |s| (s.default)()),
            };
            if old != new {
                changed.push(SettingChange {
                    key: key.clone(),
                    old,
                    new: new.clone(),
                });
                writes.insert(key, new);
            }
        }
        store::settings::set_many(&mut tx, SERVER, &writes, &scope.actor.name).await?;
        drop(tx);
        // What the settings will be once this commits: the stored view with the writes applied.
        let mut settings = settings_view(self.runtime.store()).await?;
        for view in &mut settings {
            if let Some(new) = writes.get(&view.key) {
                view.value = new.clone();
                view.is_default = view.value == view.default;
                view.updated_by = Some(scope.actor.name.clone());
                view.updated_at = Some(store::clock::now());
            }
        }
        Ok(Json(SettingsUpdate { changed, settings }))
    }

    #[tool(
        description = "Back up the marketing data (campaigns, budget ledger, touches, marketing settings) to a new \
            file in the backups folder, as JSON lines with a SHA-256 checksum kept in the register; the oldest backups \
            beyond the backup_retention setting are deleted. Manager or admin. Example: {\"note\": \"before Q1 reset\"}.",
        annotations(
            title = "Create backup",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        meta = least_role_meta(Role::Manager)
    )]
    async fn create_backup(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CreateBackupParams>,
    ) -> Result<Json<BackupCreated>, ToolError> {
        let note = optional_text("note", params.note.as_deref(), 200)?;
        let store = self.runtime.store().clone();
        let dir = backups_dir(&store).await?;
        ensure_dir(&dir)?;
        sweep(&store, &dir).await?;
        let keep = integer_setting(&store, "backup_retention").await?;
        let id = store::backups::new_id();
        let file_name = format!("{id}.jsonl");
        let temp = dir.join(format!(".{id}.jsonl.tmp"));
        let path = dir.join(&file_name);
        let created_at = store::clock::now();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&temp)
            .map_err(|e| unavailable("cannot create the backup file", e))?;
        let mut out = Hashing {
            inner: std::io::BufWriter::new(file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let mut header = serde_json::Map::new();
        header.insert("backup_id".into(), id.clone().into());
        header.insert("created_at".into(), created_at.clone().into());
        let backend = store.backend();
        let mut tx = scope.transaction().await?;
        let exported = async {
            // On Postgres no spend lands while the ledger is read (SQLite holds the write lock).
            guard::budget::lock(&mut tx, backend)
                .await
                .map_err(refusal)?;
            let counts = store::backups::export(&mut tx, backend, header, &mut out).await?;
            out.flush()
                .map_err(|e| unavailable("cannot write the backup file", e))?;
            out.inner
                .get_ref()
                .sync_all()
                .map_err(|e| unavailable("cannot write the backup file", e))?;
            std::fs::rename(&temp, &path)
                .map_err(|e| unavailable("cannot finish the backup file", e))?;
            Ok::<_, ToolError>(counts)
        }
        .await;
        let counts = match exported {
            Ok(counts) => counts,
            Err(error) => {
                remove_quietly(&temp);
                return Err(error);
            }
        };
        let backup = BackupRecord {
            id: id.clone(),
            file_name,
            created_at,
            created_by: scope.actor.name.clone(),
            note,
            size_bytes: i64::try_from(out.bytes).unwrap_or(i64::MAX),
            row_count: counts.values().sum(),
            sha256: hex(&out.hasher.clone().finalize()),
            deleted_at: None,
            deleted_by: None,
        };
        store::backups::insert(&mut tx, &backup).await?;
        let mut removed_by_retention = Vec::new();
        for old in store::backups::beyond_retention(&mut tx, keep.max(1)).await? {
            store::backups::mark_deleted(&mut tx, &old.id, &scope.actor.name).await?;
            remove_when_committed(store.clone(), dir.clone(), old.id.clone());
            removed_by_retention.push(old.id);
        }
        Ok(Json(BackupCreated {
            backup,
            folder: dir.display().to_string(),
            rows_by_table: counts,
            removed_by_retention,
        }))
    }

    #[tool(
        description = "The backups in the register, newest first, with size, row count, SHA-256 and whether the file \
            is still there and still matches its checksum. Paged (default 20). Example: {\"limit\": 10}.",
        annotations(
            title = "List backups",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_backups(
        &self,
        Parameters(params): Parameters<ListBackupsParams>,
    ) -> Result<Json<BackupListing>, ToolError> {
        let cursor = params
            .cursor
            .as_deref()
            .map(|c| id_arg("cursor", "bak", c))
            .transpose()?;
        let store = self.runtime.store();
        let dir = backups_dir(store).await?;
        let page = store::backups::list(
            store,
            params.include_deleted.unwrap_or(false),
            cursor.as_deref(),
            params.limit,
        )
        .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for backup in page.items {
            let path = dir.join(&backup.file_name);
            let digest = tokio::task::spawn_blocking(move || file_digest(&path))
                .await
                .map_err(|e| unavailable("cannot read a backup file", e))?
                .map_err(|e| unavailable("cannot read a backup file", e))?;
            let (file_present, checksum_matches) = match digest {
                Some((sha, size)) => (
                    true,
                    Some(
                        sha == backup.sha256 && i64::try_from(size).ok() == Some(backup.size_bytes),
                    ),
                ),
                None => (false, None),
            };
            items.push(BackupStatus {
                backup,
                file_present,
                checksum_matches,
            });
        }
        Ok(Json(BackupListing {
            folder: dir.display().to_string(),
            items,
            next_cursor: page.next_cursor,
        }))
    }

    #[tool(
        description = "Delete a backup: its file is removed and its register entry marked deleted (kept, with who \
            deleted it). The first call changes nothing: it answers with a preview (the file, its size and rows) and \
            a confirm_token; call again with the same arguments and the token to delete. \
            Example: {\"backup_id\": \"bak_20261121093000123456abcd\"}.",
        annotations(
            title = "Delete backup",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn delete_backup(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<BackupRef>,
    ) -> Result<Json<Gated<BackupDeletion>>, ToolError> {
        let id = id_arg("backup_id", "bak", &params.backup_id)?;
        let store = self.runtime.store().clone();
        let dir = backups_dir(&store).await?;
        sweep(&store, &dir).await?;
        let mut tx = scope.transaction().await?;
        let backup = store::backups::get_in(&mut tx, &id).await?;
        if let Some(when) = &backup.deleted_at {
            return Err(ToolError::Conflict(format!(
                "backup {id} was already deleted at {when} by {}",
                backup.deleted_by.as_deref().unwrap_or("someone")
            )));
        }
        let path = dir.join(&backup.file_name);
        store::backups::mark_deleted(&mut tx, &id, &scope.actor.name).await?;
        drop(tx);
        remove_when_committed(store, dir, id);
        Ok(Json(Gated::done(BackupDeletion {
            file_present: path.exists(),
            file: path.display().to_string(),
            size_bytes: backup.size_bytes,
            backup,
        })))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn settings_values_are_checked_against_their_range() {
        let retention = spec("backup_retention").unwrap();
        assert_eq!(check(retention, &serde_json::json!(14)).unwrap(), 14);
        assert!(
            check(retention, &serde_json::json!(0))
                .unwrap_err()
                .contains("from 1 to 1000")
        );
        assert!(check(retention, &serde_json::json!(2.5)).is_err());
        assert!(check(retention, &serde_json::json!("14")).is_err());
        let currency = spec("default_currency").unwrap();
        assert_eq!(check(currency, &serde_json::json!("eur")).unwrap(), "EUR");
        assert!(check(currency, &serde_json::json!("XYZ")).is_err());
        assert!(spec("colour").is_none());
    }

    #[test]
    fn a_file_digest_is_the_sha256_of_its_bytes() {
        let folder = tempfile_dir();
        let path = folder.join("x.jsonl");
        std::fs::write(&path, b"abc").unwrap();
        let (sha, size) = file_digest(&path).unwrap().unwrap();
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(size, 3);
        assert!(file_digest(&folder.join("missing")).unwrap().is_none());
        std::fs::remove_dir_all(&folder).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(store::ids::new_id("mkttest"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
