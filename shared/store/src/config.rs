//! Settings: the environment first, then the config file `revops setup` writes.
//!
//! Every setting of the suite has one environment variable (`REVOPS_…`, listed in
//! `.env.example`). The config file holds the same names, so the two can never disagree on
//! what a setting is called:
//!
//! ```json
//! {
//!   "format": 1,
//!   "template": "sales-team",
//!   "teams": ["sales"],
//!   "settings": { "REVOPS_DATABASE_URL": "sqlite:///home/dana/revops.db", "REVOPS_ROLE": "manager" }
//! }
//! ```
//!
//! A variable set (and not blank) in the environment wins over the file. The file is
//! `REVOPS_CONFIG` when set (`none` for no file at all), else `config.json` in the user's
//! configuration folder (`~/.config/revops/` on Linux). A missing default file is no file;
//! a file that is named but missing, or that does not parse, is an error that [`load`]
//! reports, so a server never starts on half its settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The variable naming the config file (`none`: no file).
pub const CONFIG_VAR: &str = "REVOPS_CONFIG";
/// The config file format this build reads and writes.
pub const FORMAT: u32 = 1;

/// The config file: what `revops setup` chose, and the settings by variable name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub format: u32,
    /// The template the set-up started from (`solo-founder`, `sales-team`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The teams whose servers this set-up runs (`sales`, `marketing`, `cs`).
    #[serde(default)]
    pub teams: Vec<String>,
    /// Settings by environment variable name; every value a string.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

impl ConfigFile {
    /// Reads and checks a config file.
    pub fn read(path: &Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the config file {}: {error}", path.display()))?;
        let file: ConfigFile = serde_json::from_str(&text).map_err(|error| {
            format!(
                "the config file {} is not valid: {error} (run `revops setup` to rewrite it)",
                path.display()
            )
        })?;
        if file.format != FORMAT {
            return Err(format!(
                "the config file {} has format {}, this build reads format {FORMAT}",
                path.display(),
                file.format
            ));
        }
        if let Some(name) = file.settings.keys().find(|k| !k.starts_with("REVOPS_")) {
            return Err(format!(
                "the config file {} names the setting {name:?}; settings are REVOPS_… variables (see .env.example)",
                path.display()
            ));
        }
        Ok(file)
    }

    /// A setting's value, if the file has one that is not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.settings
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// The config file this process reads: `REVOPS_CONFIG`, else the default path; `None` for
/// `REVOPS_CONFIG=none`.
pub fn config_path() -> Option<PathBuf> {
    match std::env::var(CONFIG_VAR) {
        Ok(value) if value.trim().eq_ignore_ascii_case("none") => None,
        Ok(value) if !value.trim().is_empty() => Some(PathBuf::from(value.trim())),
        _ => default_config_path(),
    }
}

/// `config.json` in the user's configuration folder.
pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("revops").join("config.json"))
}

static LOADED: OnceLock<Result<Option<ConfigFile>, String>> = OnceLock::new();

/// Loads the config file once per process. Call it first thing in `main`, so a broken file
/// stops the program with its reason instead of being ignored.
pub fn load() -> Result<Option<&'static ConfigFile>, String> {
    LOADED
        .get_or_init(|| {
            let Some(path) = config_path() else {
                return Ok(None);
            };
            let named = std::env::var(CONFIG_VAR).is_ok_and(|v| !v.trim().is_empty());
            if !path.exists() && !named {
                return Ok(None);
            }
            ConfigFile::read(&path).map(Some)
        })
        .as_ref()
        .map(Option::as_ref)
        .map_err(Clone::clone)
}

/// A setting: the environment variable when set and not blank, else the config file's value.
pub fn var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Some(value),
        _ => load()
            .ok()
            .flatten()
            .and_then(|file| file.get(name))
            .map(str::to_string),
    }
}

/// A yes/no setting (`true`, `1`, `yes`, `on` in any case); absent is `false`.
pub fn flag(name: &str) -> bool {
    var(name).is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn a_config_file_gives_settings_by_variable_name() {
        let file = write(
            r#"{"format":1,"teams":["sales"],"settings":{"REVOPS_ROLE":"manager","REVOPS_ACTOR":"  "}}"#,
        );
        let config = ConfigFile::read(file.path()).unwrap();
        assert_eq!(config.get("REVOPS_ROLE"), Some("manager"));
        assert_eq!(config.get("REVOPS_ACTOR"), None, "blank is unset");
        assert_eq!(config.teams, vec!["sales".to_string()]);
    }

    #[test]
    fn a_broken_config_file_is_an_error_naming_the_file() {
        let file = write(r#"{"format":1,"settings":{"REVOPS_ROLE":3}}"#);
        let error = ConfigFile::read(file.path()).unwrap_err();
        assert!(error.contains("is not valid"), "{error}");
        let file = write(r#"{"format":7}"#);
        assert!(
            ConfigFile::read(file.path())
                .unwrap_err()
                .contains("format 7")
        );
        let file = write(r#"{"format":1,"settings":{"PATH":"/evil"}}"#);
        assert!(
            ConfigFile::read(file.path())
                .unwrap_err()
                .contains("REVOPS_")
        );
        let file = write(r#"{"format":1,"extra":true}"#);
        assert!(ConfigFile::read(file.path()).is_err());
    }
}
