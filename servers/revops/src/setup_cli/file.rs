//! Writing the config file: a backup of the previous one first, then the new text written
//! to a temporary file in the same folder (private from its first byte) and renamed over
//! the old, so a reader sees the old file or the new one, never half of either.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use store::config::ConfigFile;

/// The file as `revops setup` writes it: pretty JSON and a final newline.
pub fn render(file: &ConfigFile) -> anyhow::Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(file)?))
}

/// Copies `path` to `config.json.bak-<time>` beside it (private, like the original: it
/// may hold the master key) and returns the copy's path.
pub fn back_up(path: &Path) -> anyhow::Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let name = path.file_name().map_or_else(
        || "config.json".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let backup = path.with_file_name(format!("{name}.bak-{stamp}"));
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    write_private(&backup, &text, false)
        .with_context(|| format!("cannot back up to {}", backup.display()))?;
    Ok(backup)
}

/// Writes `text` to `path` atomically, readable by its owner only.
pub fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !folder.exists() {
        create_private_folder(folder)?;
    }
    let temporary = folder.join(format!(
        ".{}.{}.tmp",
        path.file_name().map_or_else(
            || "config.json".into(),
            |n| n.to_string_lossy().into_owned()
        ),
        std::process::id()
    ));
    let written = write_private(&temporary, text.as_bytes(), true)
        .with_context(|| format!("cannot write {}", temporary.display()))
        .and_then(|()| {
            std::fs::rename(&temporary, path)
                .with_context(|| format!("cannot replace {}", path.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// Creates (or truncates) a file with permissions 0600 from the start, so the key is never
/// readable by others, not even for a moment; `sync` flushes it to disk before a rename.
fn write_private(path: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        // The mode above applies only to a file that did not exist yet.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    if sync {
        file.sync_all()?;
    }
    Ok(())
}

/// The configuration folder, private to its owner when this creates it.
fn create_private_folder(folder: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(folder)
        .with_context(|| format!("cannot create the folder {}", folder.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_file_is_replaced_whole_private_and_backed_up_first() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("nested").join("config.json");
        write_atomically(&path, "{\"first\": 1}\n").unwrap();
        let backup = back_up(&path).unwrap();
        write_atomically(&path, "{\"second\": 2}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"second\": 2}\n");
        assert_eq!(
            std::fs::read_to_string(&backup).unwrap(),
            "{\"first\": 1}\n"
        );
        assert!(
            backup
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("config.json.bak-")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for file in [&path, &backup] {
                let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", file.display());
            }
        }
        let leftovers = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
