//! `revops setup` as people and scripts run it: the wizard answered through a real
//! pseudo-terminal, a second run over the first, `--non-interactive` with flags, refusals
//! of bad answers, Postgres (with `REVOPS_TEST_POSTGRES_URL`), and the live CRM token test
//! against a local stand-in for HubSpot. Every run gets its own HOME and XDG folders and
//! an empty environment, so nothing of the developer's own set-up leaks in or out.

#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "tests: a panic is how a test fails"
)]

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use expectrl::{Eof, Expect, Session};
use revops::client::{self, Handshake};
use store::config::ConfigFile;
use vault::{ExposeSecret, MasterKey, Vault};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SALES_TEAM_TOOLSETS: &str = "leads,scoring,accounts,pipeline,activities";

/// A private HOME with XDG folders, and the paths a set-up in it uses.
struct Home {
    folder: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let folder = tempfile::tempdir().unwrap();
        for sub in ["config", "data", "cache"] {
            std::fs::create_dir_all(folder.path().join(sub)).unwrap();
        }
        Home { folder }
    }

    fn path(&self) -> &Path {
        self.folder.path()
    }

    fn config(&self) -> PathBuf {
        self.path().join("setup").join("config.json")
    }

    fn sqlite(&self) -> PathBuf {
        self.path().join("db").join("revops.db")
    }

    fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.sqlite().display())
    }

    /// `binary args…` with only this HOME's environment (plus `extra`).
    fn command(&self, binary: &str, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut command = Command::new(util::binary(binary));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.path().join("data"))
            .env("XDG_CACHE_HOME", self.path().join("cache"))
            .env("TERM", "xterm")
            .env("REVOPS_CONFIG", "none")
            .env("REVOPS_LOG", "error");
        for (name, value) in extra {
            command.env(name, value);
        }
        command
    }

    /// `revops setup --non-interactive --config <config> args…`.
    fn setup(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let config = self.config();
        let mut all = vec![
            "setup",
            "--non-interactive",
            "--config",
            config.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let output = self.command("revops", &all, extra).output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The wizard on a pseudo-terminal: `revops setup --config <config>`.
    fn wizard(&self, extra: &[(&str, &str)]) -> Wizard {
        let config = self.config();
        let command = self.command(
            "revops",
            &["setup", "--config", config.to_str().unwrap()],
            extra,
        );
        let mut session = Session::spawn(command).unwrap();
        session.get_process_mut().set_window_size(200, 60).unwrap();
        session.set_expect_timeout(Some(Duration::from_secs(120)));
        Wizard {
            session,
            transcript: String::new(),
        }
    }

    fn read_config(&self) -> ConfigFile {
        ConfigFile::read(&self.config()).unwrap()
    }

    fn backups(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.config().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("config.json.bak-"))
            .collect()
    }
}

/// What one non-interactive run did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_ok(&self) {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
    }
}

/// The wizard's terminal, and everything it showed.
struct Wizard {
    session: expectrl::session::OsSession,
    transcript: String,
}

impl Wizard {
    /// Waits for `text` on the screen.
    fn wait_for(&mut self, text: &str) {
        match self.session.expect(text) {
            Ok(found) => self
                .transcript
                .push_str(&String::from_utf8_lossy(found.as_bytes())),
            Err(error) => panic!(
                "the wizard never showed {text:?} ({error}); it showed:\n{}",
                self.transcript
            ),
        }
    }

    /// Presses keys (`\r` is Enter, `j` moves down a list).
    fn press(&mut self, keys: &str) {
        self.session.send(keys).unwrap();
    }

    /// Types a line and Enter.
    fn type_line(&mut self, line: &str) {
        self.session.send(line).unwrap();
        self.session.send("\r").unwrap();
    }

    /// Waits for the wizard to end; returns its exit code.
    fn finish(&mut self) -> i32 {
        if let Ok(rest) = self.session.expect(Eof) {
            self.transcript
                .push_str(&String::from_utf8_lossy(rest.as_bytes()));
        }
        match self.session.get_process().wait().unwrap() {
            expectrl::process::unix::WaitStatus::Exited(_, code) => code,
            other => panic!("the wizard did not exit normally: {other:?}"),
        }
    }
}

fn mode_of(file: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).unwrap().permissions().mode() & 0o777
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn open(url: &str) -> store::Store {
    store::Store::open(&store::DatabaseLocation::parse(url).unwrap())
        .await
        .unwrap()
}

/// The sales server started with the config file and nothing else in its environment.
async fn server_info_from_config_alone(config: &Path) -> (serde_json::Value, Vec<String>) {
    let mut command = tokio::process::Command::new(util::binary("revops-sales"));
    command.env_clear().env("REVOPS_CONFIG", config);
    let session = client::spawn_command(command, &Handshake::claude_desktop())
        .await
        .unwrap();
    let info = client::call_ok(&session, "server_info", serde_json::json!({}))
        .await
        .unwrap();
    let tools = session
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    session.cancel().await.unwrap();
    (info, tools)
}

#[test]
fn a_person_sets_up_the_sales_team_in_the_wizard_and_the_server_then_needs_only_the_file() {
    let home = Home::new();
    let mut wizard = home.wizard(&[]);
    wizard.wait_for("Template (a starting point");
    wizard.press("j\r"); // solo-founder is first; sales-team second
    wizard.wait_for("Teams whose servers run here");
    wizard.press("\r");
    wizard.wait_for("Toolsets offered to the model");
    wizard.press("\r");
    wizard.wait_for("Where the data lives");
    wizard.press("\r");
    wizard.wait_for("SQLite file (created if missing)");
    wizard.type_line(home.sqlite().to_str().unwrap());
    wizard.wait_for("Connected (sqlite): migration level 0 ->");
    wizard.wait_for("Create a master key for the credential vault");
    wizard.press("y");
    wizard.wait_for("Who do the servers act for?");
    wizard.type_line("dana@example.com");
    wizard.wait_for("Role (what the servers let you do)");
    wizard.press("j\r"); // rep (the template's) is preselected; manager is next
    wizard.wait_for("Connect a CRM");
    wizard.press("\r");
    wizard.wait_for("Load the demo company");
    wizard.press("y");
    wizard.wait_for("and apply?");
    wizard.press("y");
    wizard.wait_for("Next: add the servers to Claude Desktop");
    let code = wizard.finish();
    assert_eq!(code, 0, "{}", wizard.transcript);
    assert!(
        wizard
            .transcript
            .contains("revops install claude-desktop --servers sales"),
        "{}",
        wizard.transcript
    );
    assert!(
        wizard
            .transcript
            .contains(&format!("REVOPS_CONFIG={}", home.config().display())),
        "the next step names the file, which is not at the default path:\n{}",
        wizard.transcript
    );

    assert_eq!(mode_of(&home.config()), 0o600);
    let config = home.read_config();
    assert_eq!(config.template.as_deref(), Some("sales-team"));
    assert_eq!(config.teams, ["sales"]);
    assert_eq!(config.get("REVOPS_ACTOR"), Some("dana@example.com"));
    assert_eq!(config.get("REVOPS_ROLE"), Some("manager"));
    assert_eq!(config.get("REVOPS_TOOLSETS"), Some(SALES_TEAM_TOOLSETS));
    assert_eq!(
        config.get("REVOPS_DATABASE_URL"),
        Some(home.sqlite_url().as_str())
    );
    assert_eq!(config.get("REVOPS_CONFIRM_TTL_SECONDS"), Some("300"));
    assert_eq!(
        config.get("REVOPS_MONTHLY_SPEND_CAP_MINOR"),
        None,
        "no marketing, no cap"
    );
    let key = config.get("REVOPS_MASTER_KEY").unwrap().to_string();
    MasterKey::from_base64(&key).unwrap();
    assert!(
        !wizard.transcript.contains(&key),
        "the master key is never shown"
    );

    let runtime = runtime();
    runtime.block_on(async {
        let store = open(&home.sqlite_url()).await;
        assert_eq!(
            store.migration_level().await.unwrap(),
            store.known_migration_level()
        );
        let counts = store::overview::record_counts(&store).await.unwrap();
        assert_eq!(counts.leads, 500, "the demo company is loaded");
        Vault::open(&store, MasterKey::from_base64(&key).unwrap())
            .await
            .expect("the vault is set up with the key in the file");
        store.close().await;

        let (info, tools) = server_info_from_config_alone(&home.config()).await;
        assert_eq!(info["actor"]["name"], "dana@example.com", "{info}");
        assert_eq!(info["actor"]["role"], "manager", "{info}");
        assert_eq!(info["record_counts"]["leads"], 500, "{info}");
        assert!(tools.iter().any(|t| t == "score_lead"), "{tools:?}");
        assert!(
            !tools.iter().any(|t| t == "sync_from_crm"),
            "the crm toolset is not part of the sales-team template: {tools:?}"
        );
    });

    // The same answers as flags give the same file.
    let scripted = Home::new();
    let scripted_database = scripted.sqlite_url();
    let run = scripted.setup(
        &[
            "--template",
            "sales-team",
            "--database-url",
            &scripted_database,
            "--actor",
            "dana@example.com",
            "--role",
            "manager",
            "--demo",
        ],
        &[],
    );
    run.assert_ok();
    let mut same = scripted.read_config();
    let mut first = config;
    for file in [&mut same, &mut first] {
        file.settings.remove("REVOPS_MASTER_KEY");
        file.settings.remove("REVOPS_DATABASE_URL");
    }
    assert_eq!(same, first);
}

#[test]
fn running_the_wizard_again_offers_the_current_answers_keeps_the_key_and_backs_up_the_file() {
    let home = Home::new();
    let database = home.sqlite_url();
    home.setup(
        &[
            "--template",
            "sales-team",
            "--database-url",
            &database,
            "--actor",
            "dana@example.com",
            "--role",
            "manager",
        ],
        &[],
    )
    .assert_ok();
    // A setting the wizard does not ask about, added by hand.
    let mut edited = home.read_config();
    edited
        .settings
        .insert("REVOPS_CHECKPOINT_EVERY".into(), "5000".into());
    std::fs::write(
        home.config(),
        serde_json::to_string_pretty(&edited).unwrap(),
    )
    .unwrap();
    let before_text = std::fs::read_to_string(home.config()).unwrap();
    let key = edited.get("REVOPS_MASTER_KEY").unwrap().to_string();

    // HubSpot stand-in refusing every token: the wizard explains, and the person skips.
    let runtime = runtime();
    let hubspot = runtime.block_on(MockServer::start());
    runtime.block_on(
        Mock::given(method("POST"))
            .and(path("/crm/v3/objects/contacts/search"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&hubspot),
    );
    let hubspot_url = hubspot.uri();

    let mut wizard = home.wizard(&[("REVOPS_HUBSPOT_URL", &hubspot_url)]);
    wizard.wait_for("The current settings are the defaults");
    wizard.wait_for("Template (a starting point");
    wizard.press("\r");
    wizard.wait_for("Teams whose servers run here");
    wizard.press("\r");
    wizard.wait_for("Toolsets offered to the model");
    wizard.press("\r");
    wizard.wait_for("Where the data lives");
    wizard.press("\r");
    wizard.wait_for("SQLite file (created if missing)");
    wizard.press("\r");
    wizard.wait_for("Connected (sqlite)");
    wizard.wait_for("Who do the servers act for?");
    wizard.press("\r");
    wizard.wait_for("Role (what the servers let you do)");
    wizard.press("j\r"); // manager (the file's) is preselected; admin is next
    wizard.wait_for("Connect a CRM");
    wizard.press("j\r");
    wizard.wait_for("HubSpot private-app token (hidden)");
    wizard.type_line("pat-na1-wrong-SECRET-token");
    wizard.wait_for("HubSpot refused the token (HTTP 401)");
    wizard.wait_for("What now");
    wizard.press("j\r");
    wizard.wait_for("Load the demo company");
    wizard.press("n");
    wizard.wait_for("and apply?");
    wizard.press("y");
    let code = wizard.finish();
    assert_eq!(code, 0, "{}", wizard.transcript);
    assert!(
        !wizard.transcript.contains("Create a master key"),
        "an existing key is not offered for replacement:\n{}",
        wizard.transcript
    );
    assert!(
        !wizard.transcript.contains("wrong-SECRET"),
        "a token is never echoed"
    );

    let after = home.read_config();
    assert_eq!(
        after.get("REVOPS_MASTER_KEY"),
        Some(key.as_str()),
        "the key is kept"
    );
    assert_eq!(
        after.get("REVOPS_CHECKPOINT_EVERY"),
        Some("5000"),
        "unasked settings stay"
    );
    assert_eq!(after.get("REVOPS_ACTOR"), Some("dana@example.com"));
    assert_eq!(after.get("REVOPS_ROLE"), Some("admin"));
    assert_eq!(
        after.get("REVOPS_DATABASE_URL"),
        Some(home.sqlite_url().as_str())
    );
    assert_eq!(
        after.get("REVOPS_HUBSPOT_URL"),
        None,
        "nothing of the failed CRM is kept"
    );
    let backups = home.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), before_text);
    assert_eq!(mode_of(&backups[0]), 0o600, "the backup holds the key too");

    // Once more with nothing changed: nothing is written, no new backup.
    let again = home.setup(&[], &[]);
    again.assert_ok();
    assert!(again.stdout.contains("was not changed"), "{}", again.stdout);
    assert_eq!(home.backups().len(), 1);
}

#[test]
fn a_script_sets_up_with_flags_and_bad_answers_exit_2_writing_nothing() {
    let home = Home::new();
    let database = home.sqlite_url();
    let base = ["--database-url", database.as_str()];
    let refusals: [(&[&str], &str); 6] = [
        (
            &["--template", "enterprise"],
            "unknown template \"enterprise\"",
        ),
        (
            &["--template", "sales-team", "--role", "boss"],
            "--role: unknown role \"boss\"",
        ),
        (
            &["--template", "sales-team", "--toolsets", "leads,forecasts"],
            "unknown toolset \"forecasts\"",
        ),
        (
            &["--template", "sales-team", "--toolsets", "leads,campaigns"],
            "belongs to marketing",
        ),
        (
            &["--template", "marketing-team", "--monthly-cap", "lots"],
            "--monthly-cap",
        ),
        (&[], "--template: give one of"),
    ];
    for (args, reason) in refusals {
        let mut all = base.to_vec();
        all.extend_from_slice(args);
        let run = home.setup(&all, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(reason), "{args:?}: {}", run.stderr);
        assert!(!home.config().exists(), "{args:?} wrote the config file");
        assert!(!home.sqlite().exists(), "{args:?} touched the database");
    }
    let unreachable = home.setup(
        &[
            "--template",
            "full-revops",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/x",
        ],
        &[],
    );
    assert_eq!(unreachable.code, 2, "{}", unreachable.stderr);
    assert!(
        unreachable
            .stderr
            .contains("cannot connect to the database")
            && unreachable.stderr.contains("Check the host and port"),
        "{}",
        unreachable.stderr
    );
    assert!(!home.config().exists());

    // The environment counts like flags; the marketing cap is in major units.
    let run = home.setup(
        &[
            "--template",
            "marketing-team",
            "--monthly-cap",
            "12,500.50",
            "--teams",
            "marketing,cs",
        ],
        &[
            ("REVOPS_DATABASE_URL", &home.sqlite_url()),
            ("REVOPS_ACTOR", "mo@example.com"),
        ],
    );
    run.assert_ok();
    let config = home.read_config();
    assert_eq!(config.teams, ["marketing", "cs"]);
    assert_eq!(config.get("REVOPS_ACTOR"), Some("mo@example.com"));
    assert_eq!(config.get("REVOPS_ROLE"), Some("manager"));
    assert_eq!(
        config.get("REVOPS_MONTHLY_SPEND_CAP_MINOR"),
        Some("1250050")
    );
    assert_eq!(config.get("REVOPS_CONFIRM_TTL_SECONDS"), Some("600"));
    assert_eq!(
        config.get("REVOPS_TOOLSETS"),
        Some(
            "campaigns,spend,analytics,audiences,health,insight,portfolio,tickets,interventions,privacy"
        )
    );
    assert!(
        run.stdout.contains("--servers marketing,cs"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout
            .contains(config.get("REVOPS_MASTER_KEY").unwrap()),
        "the key is never printed"
    );
}

#[test]
fn a_team_binary_sets_up_its_own_team_and_leaves_the_others_as_they_were() {
    let home = Home::new();
    let database = home.sqlite_url();
    home.setup(
        &["--template", "marketing-team", "--database-url", &database],
        &[],
    )
    .assert_ok();
    let config = home.config();
    let output = home
        .command(
            "revops-cs",
            &[
                "setup",
                "--non-interactive",
                "--config",
                config.to_str().unwrap(),
                "--role",
                "rep",
            ],
            &[],
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let after = home.read_config();
    assert_eq!(after.teams, ["marketing", "cs"]);
    assert_eq!(after.get("REVOPS_MONTHLY_SPEND_CAP_MINOR"), Some("1000000"));
    let refused = home
        .command(
            "revops-cs",
            &[
                "setup",
                "--non-interactive",
                "--config",
                config.to_str().unwrap(),
                "--template",
                "sales-team",
            ],
            &[],
        )
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not run cs"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_database_is_connected_to_and_migrated_by_a_scripted_set_up() {
    let Some(base) = store::test_support::postgres_url_or_skip("setup_on_postgres") else {
        return;
    };
    let location = store::test_support::fresh_postgres_location(&base)
        .await
        .unwrap();
    let store::DatabaseLocation::Postgres(url) = location else {
        unreachable!()
    };
    let home = Home::new();
    let run = tokio::task::block_in_place(|| {
        home.setup(&["--template", "full-revops", "--database-url", &url], &[])
    });
    run.assert_ok();
    assert!(
        run.stdout.contains("postgres, migration level"),
        "{}",
        run.stdout
    );
    let config = home.read_config();
    assert_eq!(config.get("REVOPS_DATABASE_URL"), Some(url.as_str()));
    let store = open(&url).await;
    assert_eq!(
        store.migration_level().await.unwrap(),
        store.known_migration_level()
    );
    assert_eq!(vault::status(&store).await.unwrap().active_version, Some(1));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crm_token_is_tested_live_refused_with_the_reason_or_stored_in_the_vault_only() {
    let token = "pat-na1-0123456789-SECRET";
    let home = Home::new();
    let database = home.sqlite_url();
    // The wizard runs while the stand-in answers on this runtime's other threads.
    let set_up = |url: &str| {
        tokio::task::block_in_place(|| {
            home.setup(
                &[
                    "--template",
                    "sales-team",
                    "--database-url",
                    &database,
                    "--hubspot-token-env",
                    "HUBSPOT_TOKEN_FOR_TEST",
                ],
                &[
                    ("HUBSPOT_TOKEN_FOR_TEST", token),
                    ("REVOPS_HUBSPOT_URL", url),
                ],
            )
        })
    };

    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&refusing)
        .await;
    let refused = set_up(&refusing.uri());
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("HubSpot refused the token (HTTP 401)")
            && refused.stderr.contains("scope"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("SECRET"),
        "the token is never shown"
    );
    assert!(!home.config().exists(), "a refused token writes nothing");
    assert!(!home.sqlite().exists(), "not even the database");

    let offline = set_up("http://127.0.0.1:1");
    assert_eq!(offline.code, 2, "{}", offline.stderr);
    assert!(
        offline
            .stderr
            .contains("could not reach HubSpot at http://127.0.0.1:1")
            && offline.stderr.contains("network"),
        "{}",
        offline.stderr
    );

    let accepting = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/contacts/search"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "total": 0,
            "results": [],
        })))
        .expect(1..)
        .mount(&accepting)
        .await;
    let accepted = set_up(&accepting.uri());
    accepted.assert_ok();
    assert!(
        !accepted.stdout.contains("SECRET"),
        "the token is not printed"
    );
    let text = std::fs::read_to_string(home.config()).unwrap();
    assert!(
        !text.contains("SECRET"),
        "the token is not in the config file"
    );
    let config = home.read_config();
    assert_eq!(
        config.get("REVOPS_HUBSPOT_URL"),
        Some(accepting.uri().as_str()),
        "the servers use the HubSpot the token was tested against"
    );
    let key = MasterKey::from_base64(config.get("REVOPS_MASTER_KEY").unwrap()).unwrap();
    let store = open(&database).await;
    let vault = Vault::open(&store, key).await.unwrap();
    let stored = vault.get("hubspot", "private_app_token").await.unwrap();
    assert_eq!(stored.expose_secret(), token);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn salesforce_credentials_are_tested_with_a_refresh_and_stored_as_the_refresh_left_them() {
    let salesforce = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": "00D-access-SECRET",
            "refresh_token": "rotated-refresh-SECRET",
            "instance_url": salesforce.uri(),
            "token_type": "Bearer",
        })))
        .expect(1)
        .mount(&salesforce)
        .await;
    Mock::given(method("GET"))
        .and(path("/services/data/v62.0/query"))
        .and(header("authorization", "Bearer 00D-access-SECRET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "totalSize": 0,
            "done": true,
            "records": [],
        })))
        .expect(1)
        .mount(&salesforce)
        .await;
    let home = Home::new();
    let database = home.sqlite_url();
    let login_url = salesforce.uri();
    let run = tokio::task::block_in_place(|| {
        home.setup(
            &[
                "--template",
                "sales-team",
                "--database-url",
                &database,
                "--salesforce-login-url",
                &login_url,
                "--salesforce-client-id-env",
                "SF_ID",
                "--salesforce-client-secret-env",
                "SF_SECRET",
                "--salesforce-refresh-token-env",
                "SF_REFRESH",
            ],
            &[
                ("SF_ID", "3MVG9-client-id"),
                ("SF_SECRET", "client-SECRET"),
                ("SF_REFRESH", "first-refresh-SECRET"),
            ],
        )
    });
    run.assert_ok();
    assert!(!run.stdout.contains("SECRET") && !run.stderr.contains("SECRET"));
    let config = home.read_config();
    assert_eq!(
        config.get("REVOPS_SALESFORCE_LOGIN_URL"),
        Some(login_url.as_str())
    );
    assert!(
        !std::fs::read_to_string(home.config())
            .unwrap()
            .contains("SECRET")
    );
    let key = MasterKey::from_base64(config.get("REVOPS_MASTER_KEY").unwrap()).unwrap();
    let store = open(&database).await;
    let vault = Vault::open(&store, key).await.unwrap();
    let stored = |name: &'static str| {
        let vault = &vault;
        async move {
            vault
                .get("salesforce", name)
                .await
                .unwrap()
                .expose_secret()
                .to_string()
        }
    };
    assert_eq!(stored("client_id").await, "3MVG9-client-id");
    assert_eq!(stored("client_secret").await, "client-SECRET");
    assert_eq!(
        stored("refresh_token").await,
        "rotated-refresh-SECRET",
        "the refresh token the test's refresh returned, not the spent one"
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_vault_keeps_its_key_and_a_new_key_only_comes_when_asked_for() {
    let home = Home::new();
    let database = home.sqlite_url();
    // A vault set up earlier (`revops vault init`), holding a credential.
    let old_key = {
        let store = open(&database).await;
        let key = MasterKey::generate().unwrap();
        let text = key.to_base64().unwrap().expose_secret().to_string();
        let vault = Vault::init(&store, key).await.unwrap();
        vault
            .put("hubspot", "private_app_token", "pat-kept-SECRET".into())
            .await
            .unwrap();
        store.close().await;
        text
    };
    let set_up = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec![
            "--template",
            "sales-team",
            "--database-url",
            database.as_str(),
        ];
        all.extend_from_slice(args);
        tokio::task::block_in_place(|| home.setup(&all, env))
    };

    // Without the key the file gets none, and says how the servers get it.
    let without = set_up(&[], &[]);
    without.assert_ok();
    assert_eq!(home.read_config().get("REVOPS_MASTER_KEY"), None);
    assert!(
        without
            .stdout
            .contains("whose key this set-up was not given"),
        "{}",
        without.stdout
    );

    // With the key in the environment, that key is kept and written down.
    let wrong = MasterKey::generate().unwrap().to_base64().unwrap();
    let refused = set_up(&[], &[("REVOPS_MASTER_KEY", wrong.expose_secret())]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("does not open this database's credential vault"),
        "{}",
        refused.stderr
    );
    let kept = set_up(&[], &[("REVOPS_MASTER_KEY", &old_key)]);
    kept.assert_ok();
    assert_eq!(
        home.read_config().get("REVOPS_MASTER_KEY"),
        Some(old_key.as_str())
    );

    // A new key only with --new-master-key: the credential moves to it, the file follows.
    let replaced = set_up(&["--new-master-key"], &[]);
    replaced.assert_ok();
    assert!(
        replaced.stdout.contains("re-encrypted"),
        "{}",
        replaced.stdout
    );
    let new_key = home
        .read_config()
        .get("REVOPS_MASTER_KEY")
        .unwrap()
        .to_string();
    assert_ne!(new_key, old_key);
    assert!(
        !replaced.stdout.contains(&new_key),
        "the new key is never printed"
    );
    let store = open(&database).await;
    let vault = Vault::open(&store, MasterKey::from_base64(&new_key).unwrap())
        .await
        .unwrap();
    let token = vault.get("hubspot", "private_app_token").await.unwrap();
    assert_eq!(token.expose_secret(), "pat-kept-SECRET");
    assert!(
        Vault::open(&store, MasterKey::from_base64(&old_key).unwrap())
            .await
            .is_err(),
        "the old key no longer opens the vault"
    );
    store.close().await;
    let backups = home.backups();
    assert!(
        backups
            .iter()
            .any(|b| std::fs::read_to_string(b).unwrap().contains(&old_key)),
        "the file with the old key is backed up"
    );
}

#[test]
fn escape_stops_the_wizard_and_nothing_is_written() {
    let home = Home::new();
    let mut wizard = home.wizard(&[]);
    wizard.wait_for("Template (a starting point");
    wizard.press("\x1b");
    wizard.wait_for("nothing was written");
    assert_eq!(wizard.finish(), 1, "{}", wizard.transcript);
    assert!(!home.config().exists());
}
