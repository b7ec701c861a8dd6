//! `revops install claude-desktop` as an ops person runs it: into a Claude Desktop
//! configuration that already has other servers, twice, and with `--print`.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use serde_json::Value;
use util::binary;

fn install(config: &std::path::Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(binary("revops"))
        .env("REVOPS_CONFIG", "none")
        .args([
            "install",
            "claude-desktop",
            "--config",
            config.to_str().unwrap(),
        ])
        .args(extra)
        .env("REVOPS_DATABASE_URL", "sqlite:///srv/revops/revops.db")
        .env_remove("REVOPS_POLICY_FILE")
        .env("REVOPS_LOG", "error")
        .output()
        .unwrap()
}

fn backups(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".bak-")
        })
        .count()
}

#[test]
fn installing_keeps_other_servers_backs_up_first_and_twice_changes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("claude_desktop_config.json");
    let theirs = r#"{"globalShortcut": "Ctrl+Space", "mcpServers": {"github": {"command": "/usr/bin/gh-mcp", "args": ["--ro"]}}}"#;
    std::fs::write(&config, theirs).unwrap();

    let first = install(&config, &["--servers", "sales,cs", "--role", "manager"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written["globalShortcut"], "Ctrl+Space");
    assert_eq!(
        written["mcpServers"]["github"]["args"][0], "--ro",
        "other servers are untouched"
    );
    let sales = &written["mcpServers"]["revops-sales"];
    let command = sales["command"].as_str().unwrap();
    assert!(
        std::path::Path::new(command).is_absolute() && command.ends_with("revops-sales"),
        "{command}"
    );
    assert!(std::path::Path::new(command).exists());
    assert_eq!(
        sales["env"]["REVOPS_DATABASE_URL"],
        "sqlite:///srv/revops/revops.db"
    );
    assert_eq!(sales["env"]["REVOPS_ROLE"], "manager");
    assert!(
        written["mcpServers"].get("revops-marketing").is_none(),
        "only the servers asked for"
    );
    assert_eq!(backups(folder.path()), 1);
    let backup = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".bak-"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(backup).unwrap(),
        theirs,
        "the backup is the file as it was"
    );

    let before = std::fs::read_to_string(&config).unwrap();
    let second = install(&config, &["--servers", "sales,cs", "--role", "manager"]);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("nothing changed"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    assert_eq!(backups(folder.path()), 1, "no change, no backup");

    let printed = install(&config, &["--print"]);
    let snippet: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(snippet["mcpServers"].as_object().unwrap().len(), 3);
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        before,
        "--print writes nothing"
    );
}

#[test]
fn a_broken_configuration_or_an_unknown_role_is_refused_and_left_as_it_was() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("claude_desktop_config.json");
    std::fs::write(&config, "{\"mcpServers\": {").unwrap();
    let broken = install(&config, &[]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("not valid JSON"));
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "{\"mcpServers\": {"
    );
    let role = install(&config, &["--role", "superuser"]);
    assert_eq!(role.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&role.stderr).contains("--role"));
    assert_eq!(backups(folder.path()), 0);
}
