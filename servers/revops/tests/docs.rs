//! The documents stay true: every setting the code reads is in `.env.example`, and every tool
//! each server offers is named in README.md's tools at a glance.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `"REVOPS_…"` string literals in the Rust sources under `folder`.
fn variables_in(folder: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                variables_in(&path, found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split("\"REVOPS_").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if piece[name.len()..].starts_with('"') && !name.is_empty() {
                    found.insert(format!("REVOPS_{name}"));
                }
            }
        }
    }
}

#[test]
fn every_setting_the_code_reads_is_documented_in_env_example() {
    let mut variables = BTreeSet::new();
    variables_in(&repo().join("shared"), &mut variables);
    variables_in(&repo().join("servers"), &mut variables);
    variables_in(&repo().join("bench"), &mut variables);
    assert!(variables.contains("REVOPS_DATABASE_URL"), "{variables:?}");
    let example = std::fs::read_to_string(repo().join(".env.example")).unwrap();
    let missing: Vec<&String> = variables
        .iter()
        .filter(|v| !example.contains(&format!("{v}=")))
        .collect();
    assert!(
        missing.is_empty(),
        ".env.example does not document {missing:?}"
    );
}

#[tokio::test]
async fn the_readme_names_every_tool_of_every_server() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let db = util::seeded_sqlite().await;
    for (team, binary) in util::server_binaries() {
        let session = util::stdio_session(&binary, &db).await;
        let tools = session.list_all_tools().await.unwrap();
        let missing: Vec<String> = tools
            .iter()
            .map(|t| t.name.to_string())
            .filter(|name| !readme.contains(&format!("`{name}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "README.md does not name these {team} tools: {missing:?}"
        );
        session.cancel().await.unwrap();
    }
}
