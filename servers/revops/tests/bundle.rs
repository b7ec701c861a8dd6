//! `revops bundle` as an ops person runs it: the `.mcpb` it writes is checked against the
//! published MCP Bundle manifest schema (vendored in tests/fixtures/mcpb), against what the
//! real server binary offers, and by unpacking it and starting the bundled server the way
//! Claude Desktop would.
#![allow(clippy::unwrap_used, reason = "tests")]

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use revops::client::{self, Handshake};
use serde_json::{Value, json};
use util::binary;

const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/mcpb/mcpb-manifest-v0.4.schema.json"
);

/// Runs `revops bundle --server SERVER --out OUT [--binary BINARY]`.
fn bundle(server: &str, out: &Path, server_binary: Option<&Path>) -> std::process::Output {
    let mut command = std::process::Command::new(binary("revops"));
    command
        .args(["bundle", "--server", server, "--out"])
        .arg(out);
    if let Some(path) = server_binary {
        command.arg("--binary").arg(path);
    }
    command
        .env("REVOPS_CONFIG", "none")
        .env("REVOPS_LOG", "error")
        .output()
        .unwrap()
}

/// Bundles `team` from its built binary into a fresh folder; returns the folder and the
/// bundle's path.
fn bundled(team: &str) -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let server = binary(&format!("revops-{team}"));
    let output = bundle(team, out.path(), Some(&server));
    assert!(
        output.status.success(),
        "revops bundle --server {team} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = out
        .path()
        .join(format!("revops-{team}-{}.mcpb", env!("CARGO_PKG_VERSION")));
    assert!(path.is_file(), "{} was written", path.display());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&path.display().to_string()) && stdout.contains("tools"),
        "it says what it wrote: {stdout}"
    );
    (out, path)
}

fn archive(bundle: &Path) -> zip::ZipArchive<std::fs::File> {
    zip::ZipArchive::new(std::fs::File::open(bundle).unwrap()).unwrap()
}

fn manifest_of(bundle: &Path) -> Value {
    let mut archive = archive(bundle);
    let entry = archive.by_name("manifest.json").unwrap();
    serde_json::from_reader(entry).unwrap()
}

/// The MCPB platform name of this system.
fn this_platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        _ => "linux",
    }
}

/// Every variable the test runs a server with starts from none of the developer's
/// `REVOPS_…` settings.
fn clean_command(program: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("REVOPS_") {
            command.env_remove(name);
        }
    }
    command
        .env("REVOPS_CONFIG", "none")
        .env("REVOPS_LOG", "warn");
    command
}

/// `tools/list` of a server binary on a fresh SQLite database, as (name, description).
async fn tools_offered_by(server: &Path) -> Vec<(String, Option<String>)> {
    let folder = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", folder.path().join("list.db").display());
    let mut command = clean_command(server);
    command.env("REVOPS_DATABASE_URL", &url);
    let session = client::spawn_command(command, &Handshake::claude_desktop())
        .await
        .unwrap();
    let mut tools: Vec<(String, Option<String>)> = session
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|tool| {
            (
                tool.name.into_owned(),
                tool.description.map(|d| d.into_owned()),
            )
        })
        .collect();
    session.cancel().await.unwrap();
    tools.sort();
    tools
}

/// What a host does with `mcp_config` when the bundle is installed: `${__dirname}` becomes
/// the unpacked folder and `${user_config.KEY}` the user's value, else the default.
fn substitute(text: &str, folder: &Path, user_config: &BTreeMap<String, String>) -> String {
    let mut result = text.replace("${__dirname}", &folder.display().to_string());
    for (key, value) in user_config {
        result = result.replace(&format!("${{user_config.{key}}}"), value);
    }
    result
}

#[test]
fn a_sales_bundle_is_a_zip_whose_manifest_validates_against_the_published_schema() {
    let (_out, path) = bundled("sales");
    let entries: Vec<String> = archive(&path)
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    let mut entries_sorted = entries.clone();
    entries_sorted.sort();
    assert_eq!(
        entries_sorted,
        [
            "manifest.json".to_string(),
            format!("server/revops-sales{}", std::env::consts::EXE_SUFFIX)
        ],
        "the manifest at the root and the server binary under server/"
    );

    let manifest = manifest_of(&path);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(SCHEMA).unwrap()).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let problems: Vec<String> = validator
        .iter_errors(&manifest)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "the manifest breaks the MCPB schema: {problems:#?}\n{manifest:#}"
    );
    let mut broken = manifest.clone();
    broken["server"]["type"] = json!("docker");
    assert!(
        !validator.is_valid(&broken),
        "the schema is enforced, not just parsed"
    );

    assert_eq!(manifest["manifest_version"], "0.4");
    assert_eq!(manifest["name"], "revops-sales");
    assert_eq!(manifest["display_name"], "RevOps Sales");
    assert_eq!(manifest["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["license"], "Apache-2.0");
    assert!(
        manifest["author"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert!(
        manifest["long_description"]
            .as_str()
            .is_some_and(|text| text.contains("RevOps Sales")),
        "the server's own instructions describe it"
    );
    let server = &manifest["server"];
    assert_eq!(server["type"], "binary");
    let entry_point = format!("server/revops-sales{}", std::env::consts::EXE_SUFFIX);
    assert_eq!(server["entry_point"], entry_point.as_str());
    assert_eq!(
        server["mcp_config"]["command"],
        format!("${{__dirname}}/{entry_point}").as_str()
    );
    assert_eq!(server["mcp_config"]["args"], json!([]));
    assert_eq!(
        manifest["compatibility"]["platforms"],
        json!([this_platform()]),
        "the binary runs where it was built"
    );
    assert!(
        manifest["keywords"]
            .as_array()
            .is_some_and(|k| !k.is_empty())
    );
}

#[tokio::test]
async fn each_manifest_lists_exactly_the_tools_its_server_offers_and_maps_every_setting_to_the_servers_environment()
 {
    for team in ["sales", "marketing", "cs"] {
        let (_out, path) = bundled(team);
        let manifest = manifest_of(&path);

        let listed: Vec<(String, Option<String>)> = manifest["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tool| {
                (
                    tool["name"].as_str().unwrap().to_string(),
                    tool["description"].as_str().map(str::to_string),
                )
            })
            .collect();
        let offered = tools_offered_by(&binary(&format!("revops-{team}"))).await;
        assert!(
            offered.iter().any(|(name, _)| name == "server_info"),
            "{team} offers its tools"
        );
        assert_eq!(
            listed, offered,
            "{team}: the manifest lists exactly what tools/list answers, in name order"
        );

        let user_config = manifest["user_config"].as_object().unwrap();
        assert_eq!(user_config["master_key"]["sensitive"], true);
        for key in ["database_url", "actor", "role"] {
            assert_ne!(
                user_config[key]["sensitive"], true,
                "{key} is shown, not masked"
            );
        }
        for (key, option) in user_config {
            assert_eq!(option["type"], "string", "{key}");
            assert_ne!(
                option["required"], true,
                "{team}: {key} is optional, so the bundle installs with nothing filled in"
            );
            assert!(
                option["default"].is_string(),
                "{team}: {key} has a default, so no ${{user_config.{key}}} reaches the server unreplaced"
            );
        }
        assert_eq!(
            user_config["database_url"]["default"], "",
            "a blank database URL is the SQLite file in the user's data folder"
        );
        assert_eq!(
            manifest["server"]["mcp_config"]["env"],
            json!({
                "REVOPS_DATABASE_URL": "${user_config.database_url}",
                "REVOPS_MASTER_KEY": "${user_config.master_key}",
                "REVOPS_ACTOR": "${user_config.actor}",
                "REVOPS_ROLE": "${user_config.role}",
            }),
            "{team}: each setting reaches the variable the server reads"
        );
    }
}

#[tokio::test]
async fn the_bundled_binary_is_executable_and_starts_with_the_environment_the_manifest_gives() {
    let (_out, path) = bundled("cs");
    let manifest = manifest_of(&path);
    let unpacked = tempfile::tempdir().unwrap();
    // Unpacking applies the modes the archive records, as Claude Desktop's unpacker does.
    archive(&path).extract(unpacked.path()).unwrap();
    let entry_point = unpacked
        .path()
        .join(manifest["server"]["entry_point"].as_str().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&entry_point)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "the server binary is executable");
    }

    // The user fills in who they are and their role, and leaves the database and the master
    // key blank: the defaults apply.
    let mut user_config: BTreeMap<String, String> = manifest["user_config"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, option)| (key.clone(), option["default"].as_str().unwrap().to_string()))
        .collect();
    user_config.insert("actor".into(), "dana@example.com".into());
    user_config.insert("role".into(), "manager".into());
    let mcp_config = &manifest["server"]["mcp_config"];
    let command_path = PathBuf::from(substitute(
        mcp_config["command"].as_str().unwrap(),
        unpacked.path(),
        &user_config,
    ));
    assert_eq!(command_path, entry_point);

    // A blank database URL is revops/revops.db in the user's data folder: here a temporary
    // home, so the test never touches the developer's own.
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let mut command = clean_command(&command_path);
    command
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", &data)
        .env("APPDATA", &data)
        .env("LOCALAPPDATA", &data);
    for (variable, value) in mcp_config["env"].as_object().unwrap() {
        let value = substitute(value.as_str().unwrap(), unpacked.path(), &user_config);
        assert!(
            !value.contains("${"),
            "{variable} reaches the server substituted: {value:?}"
        );
        command.env(variable, value);
    }
    for argument in mcp_config["args"].as_array().unwrap() {
        command.arg(substitute(
            argument.as_str().unwrap(),
            unpacked.path(),
            &user_config,
        ));
    }

    let session = client::spawn_command(command, &Handshake::claude_desktop())
        .await
        .unwrap();
    let peer = session.peer_info().unwrap();
    assert_eq!(peer.protocol_version.to_string(), "2025-06-18");
    assert_eq!(peer.server_info.as_ref().unwrap().name, "revops-cs");
    let mut names: Vec<String> = session
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|tool| tool.name.into_owned())
        .collect();
    names.sort();
    let declared: Vec<String> = manifest["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, declared);

    let info = client::call_ok(&session, "server_info", json!({}))
        .await
        .unwrap();
    assert_eq!(info["actor"]["name"], "dana@example.com");
    assert_eq!(info["actor"]["role"], "manager");
    assert_eq!(info["store_backend"], "sqlite");
    session.cancel().await.unwrap();
    let database = if cfg!(target_os = "macos") {
        home.path()
            .join("Library/Application Support/revops/revops.db")
    } else {
        data.join("revops").join("revops.db")
    };
    assert!(
        database.is_file(),
        "the default SQLite file was created in the (temporary) data folder: {}",
        database.display()
    );
}

#[test]
fn building_twice_gives_the_same_bundle() {
    // A private copy of the server: the shared target folder may be rebuilt meanwhile.
    let folder = tempfile::tempdir().unwrap();
    let server = folder
        .path()
        .join(format!("revops-marketing{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(binary("revops-marketing"), &server).unwrap();
    let mut bundles = Vec::new();
    for run in ["first", "second"] {
        let out = folder.path().join(run);
        let output = bundle("marketing", &out, Some(&server));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        bundles.push(out.join(format!(
            "revops-marketing-{}.mcpb",
            env!("CARGO_PKG_VERSION")
        )));
    }
    assert_eq!(manifest_of(&bundles[0]), manifest_of(&bundles[1]));
    assert!(
        std::fs::read(&bundles[0]).unwrap() == std::fs::read(&bundles[1]).unwrap(),
        "the same binary gives the same bytes"
    );
}

#[test]
fn a_missing_binary_is_a_clear_error_and_writes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("bundles");

    let given = bundle(
        "sales",
        &out,
        Some(&folder.path().join("no-such-revops-sales")),
    );
    assert_eq!(given.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&given.stderr);
    assert!(
        stderr.contains("no-such-revops-sales")
            && stderr.contains("no such file")
            && stderr.contains("cargo build --release -p revops --bin revops-sales"),
        "it names the path and says how to build the server: {stderr}"
    );
    assert!(!out.exists(), "nothing was written");

    // Without --binary it looks beside itself: a lone copy of revops finds no server.
    let lonely = folder.path().join("lonely");
    std::fs::create_dir(&lonely).unwrap();
    let revops = lonely.join(format!("revops{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(binary("revops"), &revops).unwrap();
    let output = std::process::Command::new(&revops)
        .args(["bundle", "--server", "cs", "--out"])
        .arg(&out)
        .env("REVOPS_CONFIG", "none")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("revops-cs is not beside revops") && stderr.contains("--binary"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing was written");
}

#[test]
fn an_unknown_server_an_unwritable_folder_or_another_teams_binary_is_refused_and_writes_nothing() {
    let folder = tempfile::tempdir().unwrap();

    let unknown = bundle("finance", folder.path(), None);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("sales, marketing, cs"),
        "clap names the servers: {}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    let not_a_folder = folder.path().join("a-file");
    std::fs::write(&not_a_folder, "not a folder").unwrap();
    let unwritable = bundle("sales", &not_a_folder, Some(&binary("revops-sales")));
    assert_eq!(unwritable.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unwritable.stderr);
    assert!(
        stderr.contains("--out") && stderr.contains("a-file"),
        "{stderr}"
    );

    let out = folder.path().join("out");
    let wrong = bundle("sales", &out, Some(&binary("revops-marketing")));
    assert_eq!(wrong.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("\"revops-marketing\", not revops-sales"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "no bundle and no partial file: {left:?}");
}
