//! Where the database lives: `REVOPS_DATABASE_URL`, or a SQLite file in the user's data
//! directory that is created on first start.

use std::path::{Path, PathBuf};

use crate::{Backend, Error, Result};

/// The environment variable naming the database.
pub const DATABASE_URL_VAR: &str = "REVOPS_DATABASE_URL";

/// A database to open: a SQLite file or a Postgres URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    SqliteFile(PathBuf),
    Postgres(String),
}

impl DatabaseLocation {
    /// Parses `sqlite://PATH`, `sqlite:PATH`, `postgres://…` or `postgresql://…`.
    pub fn parse(url: &str) -> Result<DatabaseLocation> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseLocation::Postgres(url.to_string()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                return Err(Error::Unavailable(
                    "give SQLite a file path, e.g. sqlite:///home/me/revops.db (an in-memory database cannot be shared by the three servers)".into(),
                ));
            }
            return Ok(DatabaseLocation::SqliteFile(PathBuf::from(path)));
        }
        Err(Error::Unavailable(format!(
            "{DATABASE_URL_VAR} must start with sqlite:// or postgres:// (got a value starting {:?})",
            url.chars().take(12).collect::<String>()
        )))
    }

    /// `REVOPS_DATABASE_URL` if set, else the default SQLite file.
    pub fn from_env() -> Result<DatabaseLocation> {
        match crate::config::var(DATABASE_URL_VAR) {
            Some(url) => DatabaseLocation::parse(&url),
            None => Ok(DatabaseLocation::SqliteFile(default_sqlite_path())),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseLocation::SqliteFile(_) => Backend::Sqlite,
            DatabaseLocation::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL sqlx connects with; creates a SQLite file's folder first.
    pub(crate) fn connect_url(&self) -> Result<String> {
        match self {
            DatabaseLocation::Postgres(url) => Ok(url.clone()),
            DatabaseLocation::SqliteFile(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| {
                        Error::Unavailable(format!(
                            "cannot create the folder {} for the SQLite database: {error}",
                            parent.display()
                        ))
                    })?;
                }
                Ok(format!("sqlite://{}?mode=rwc", path.display()))
            }
        }
    }

    /// A form safe to log or show: a Postgres password is replaced by `***`.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseLocation::SqliteFile(path) => format!("sqlite://{}", path.display()),
            DatabaseLocation::Postgres(url) => redact_url_password(url),
        }
    }

    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            DatabaseLocation::SqliteFile(path) => Some(path),
            DatabaseLocation::Postgres(_) => None,
        }
    }
}

/// `<data dir>/revops/revops.db` (e.g. `~/.local/share/revops/revops.db` on Linux).
pub fn default_sqlite_path() -> PathBuf {
    dirs::data_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("revops")
        .join("revops.db")
}

fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "postgres://***".into();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let path = path.split('?').next().unwrap_or(path);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                format!("{scheme}://{user}@{host}{path}")
            }
        }
        None => format!("{scheme}://{authority}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_password_never_appears_in_the_redacted_form() {
        let location =
            DatabaseLocation::parse("postgres://app:s3cret@db.example:5432/revops?sslmode=require")
                .unwrap();
        assert_eq!(
            location.redacted(),
            "postgres://app:***@db.example:5432/revops"
        );
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            DatabaseLocation::parse("sqlite:///tmp/x.db").unwrap(),
            DatabaseLocation::SqliteFile("/tmp/x.db".into())
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite://data/x.db").unwrap(),
            DatabaseLocation::SqliteFile("data/x.db".into())
        );
        assert!(DatabaseLocation::parse("sqlite::memory:").is_err());
        assert!(DatabaseLocation::parse("mysql://x").is_err());
    }
}
