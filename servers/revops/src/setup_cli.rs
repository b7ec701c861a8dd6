//! `revops setup` (and `revops-<team> setup`): the set-up wizard. It walks a person from
//! nothing to a working suite: a template, the teams, the database (connected to and
//! migrated on the spot), the credential vault's master key, who they act as and in which
//! role, an optional CRM connection tested live, the marketing budget cap, and the demo
//! company; then it writes one config file (`store::config`'s format) that every binary
//! reads, and says what to run next.
//!
//! Re-running changes, it does not overwrite: the current values are the defaults,
//! settings it does not ask about are kept, the previous file is backed up first, and an
//! existing master key is never replaced unless `--new-master-key` asks for it (with a
//! confirmation typed out, because other databases sealed under the old key would no longer
//! open with this file). `--non-interactive` takes the same answers from flags, the
//! `REVOPS_…` environment and the file, checks them the same way, and on a bad one exits 2
//! with the reason, having written nothing.
//!
//! Secrets (the master key, CRM tokens, a Postgres password) are never printed: keys go
//! into the config file (permissions 0600), CRM credentials into the vault, and a database
//! URL is shown redacted. Questions are drawn on stderr; stdout gets the final summary only.
//! Exit codes: 0 done, 1 stopped by the person (nothing written), 2 failed or refused.
#![allow(
    clippy::print_stdout,
    reason = "the operator CLI prints its results for a person"
)]

mod answers;
mod crm;
mod database;
mod file;
mod prompts;
mod templates;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use mcp_runtime::Role;
use store::config::ConfigFile;
use vault::{ExposeSecret, SecretString};

use answers::{
    ACTOR, CONFIRM_TTL, DATABASE_URL, Decided, Given, HUBSPOT_URL, MASTER_KEY, MASTER_PASSPHRASE,
    MONTHLY_CAP, READ_ONLY, ROLE, SALESFORCE_LOGIN_URL, Sources, TOOLSETS, ToolsetChoice,
    environment, from_origin,
};
use database::{KeyPlan, Migrated};
use prompts::{Cancelled, Choice, say};
use templates::{TEMPLATES, Team, Template};

/// Options of `revops setup`. Secrets never come from the command line: a CRM token is
/// named by the environment variable holding it.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Ask nothing: take the answers from these flags, the REVOPS_ environment variables and
    /// the config file (the template fills the rest); on a bad or missing answer exit 2 and
    /// write nothing.
    #[arg(long)]
    pub non_interactive: bool,
    /// The config file to write (default: REVOPS_CONFIG, else config.json in your
    /// configuration folder, e.g. ~/.config/revops/).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// solo-founder, sales-team, marketing-team, customer-success-team or full-revops.
    #[arg(long, value_name = "NAME")]
    pub template: Option<String>,
    /// The teams whose servers run, comma-separated: sales, marketing, cs.
    #[arg(long, value_name = "TEAMS")]
    pub teams: Option<String>,
    /// sqlite:///PATH or postgres://USER@HOST/DB; connected to and migrated before anything
    /// is written.
    #[arg(long = "database-url", value_name = "URL")]
    pub database_url: Option<String>,
    /// Who the servers act as over stdio, e.g. dana@example.com.
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,
    /// viewer, rep, manager or admin.
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// The groups of tools offered, comma-separated (e.g. leads,pipeline), or all.
    #[arg(long, value_name = "NAMES")]
    pub toolsets: Option<String>,
    /// The organisation's monthly marketing spend cap in major units (2000 or 2000.50), or
    /// none.
    #[arg(long, value_name = "AMOUNT")]
    pub monthly_cap: Option<String>,
    /// How long a destructive tool's confirmation token stays valid (1 to 86400).
    #[arg(long, value_name = "SECONDS")]
    pub confirm_ttl_seconds: Option<String>,
    /// Offer only read-only tools: true or false.
    #[arg(long, value_name = "BOOL")]
    pub read_only: Option<String>,
    /// Connect HubSpot with the private-app token in this environment variable: tested live,
    /// then stored in the vault.
    #[arg(
        long,
        value_name = "VAR",
        conflicts_with = "salesforce_refresh_token_env"
    )]
    pub hubspot_token_env: Option<String>,
    /// Connect Salesforce: the variable holding the connected app's client id.
    #[arg(long, value_name = "VAR", requires_all = ["salesforce_client_secret_env", "salesforce_refresh_token_env"])]
    pub salesforce_client_id_env: Option<String>,
    /// The variable holding the connected app's client secret.
    #[arg(long, value_name = "VAR", requires = "salesforce_client_id_env")]
    pub salesforce_client_secret_env: Option<String>,
    /// The variable holding the refresh token.
    #[arg(long, value_name = "VAR", requires = "salesforce_client_id_env")]
    pub salesforce_refresh_token_env: Option<String>,
    /// Where Salesforce logins go (default https://login.salesforce.com; a sandbox:
    /// https://test.salesforce.com).
    #[arg(long, value_name = "URL")]
    pub salesforce_login_url: Option<String>,
    /// Load the demo company into the database (only when it holds no data yet).
    #[arg(long)]
    pub demo: bool,
    /// Replace the master key with a new one, re-encrypting this database's credentials.
    /// Other databases whose vaults use the old key no longer open with this file.
    #[arg(long)]
    pub new_master_key: bool,
    /// Do not create a master key (credentials then need REVOPS_MASTER_KEY from elsewhere).
    #[arg(long, conflicts_with = "new_master_key")]
    pub no_master_key: bool,
}

/// Runs the set-up; `scope` is the team when run as `revops-<team> setup`.
pub fn run(args: SetupArgs, scope: Option<&'static str>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = scope
        .map(Team::parse)
        .transpose()
        .map_err(anyhow::Error::msg)
        .and_then(|scope| Wizard::new(args, scope, &runtime))
        .and_then(Wizard::run);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is::<Cancelled>() => {
            eprintln!("{error}");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// One run of the set-up.
struct Wizard<'r> {
    args: SetupArgs,
    scope: Option<Team>,
    runtime: &'r tokio::runtime::Runtime,
    path: PathBuf,
    previous: Option<ConfigFile>,
    interactive: bool,
}

/// The database chosen, open and migrated.
struct Database {
    url: String,
    location: store::DatabaseLocation,
    store: store::Store,
    migrated: Migrated,
}

impl<'r> Wizard<'r> {
    fn new(
        args: SetupArgs,
        scope: Option<Team>,
        runtime: &'r tokio::runtime::Runtime,
    ) -> anyhow::Result<Wizard<'r>> {
        let interactive = !args.non_interactive;
        if interactive && !dialoguer::console::Term::stderr().is_term() {
            anyhow::bail!(
                "there is no terminal to ask questions on: run `revops setup --non-interactive` with flags (see --help)"
            );
        }
        let path = config_path(args.config.as_deref())?;
        let previous = match path.exists() {
            false => None,
            true => match ConfigFile::read(&path) {
                Ok(file) => Some(file),
                Err(error) if interactive => {
                    say(&error);
                    if !prompts::confirm(
                        "Start from a template instead? (the current file is backed up first)",
                        true,
                    )? {
                        return Err(Cancelled.into());
                    }
                    None
                }
                Err(error) => {
                    anyhow::bail!("{error}; fix it or move it away, it was not changed")
                }
            },
        };
        Ok(Wizard {
            args,
            scope,
            runtime,
            path,
            previous,
            interactive,
        })
    }

    fn run(self) -> anyhow::Result<()> {
        if self.interactive {
            say(&format!(
                "RevOps set-up: this writes {}. Nothing is written until the end; Esc on a choice stops.",
                self.path.display()
            ));
            if self.previous.is_some() {
                say("The current settings are the defaults; settings not asked about are kept.");
            }
        }
        let template = self.choose_template()?;
        let sources = Sources {
            file: self.previous.as_ref(),
            template_changed: self
                .previous
                .as_ref()
                .and_then(|f| f.template.as_deref())
                .is_some_and(|name| name != template.name),
        };
        let teams = self.choose_teams(&sources, template)?;
        let toolsets = self.choose_toolsets(&sources, template, &teams)?;
        let confirm_ttl_seconds = self.resolve(
            sources.given_for_template(
                flag("--confirm-ttl-seconds", &self.args.confirm_ttl_seconds),
                CONFIRM_TTL,
            ),
            answers::parse_ttl,
            template.confirm_ttl_seconds,
        )?;
        let read_only = self.resolve(
            sources.given_for_template(flag("--read-only", &self.args.read_only), READ_ONLY),
            answers::parse_flag,
            template.read_only,
        )?;
        let policy = answers::policy(&sources).map_err(anyhow::Error::msg)?;
        // Checked before the database is touched, so a bad flag changes nothing anywhere.
        let actor_default = self.resolve(
            sources.given(flag("--actor", &self.args.actor), ACTOR),
            answers::parse_actor,
            answers::os_user(),
        )?;
        let role_default = self.resolve(
            sources.given_for_template(flag("--role", &self.args.role), ROLE),
            |text| answers::parse_role(text, &policy),
            template.role,
        )?;
        let cap_default = self.cap_default(&sources, template)?;
        // Tested before the database is touched, so a refused token changes nothing.
        let crm_tested = self.test_given_crm(&sources, self.crm_from_flags()?)?;

        let database = self.choose_database(&sources, template)?;
        let key = self.choose_master_key(&sources, &database.store)?;
        let actor = match self.interactive {
            true => prompts::input(
                "Who do the servers act for? (your name or email; it appears in the audit log)",
                Some(actor_default),
                true,
                |text| answers::parse_actor(text).map(drop),
            )?,
            false => actor_default,
        };
        let role = self.choose_role(role_default, &policy)?;
        let crm = self.choose_crm(&sources, &key, &database.store, crm_tested)?;
        // The cap is marketing's: asked when marketing runs, and not decided by another
        // team's scoped set-up.
        let asks_cap = teams.contains(&Team::Marketing)
            && self.scope.is_none_or(|team| team == Team::Marketing);
        let monthly_cap_minor = match asks_cap {
            true => Some(self.choose_cap(cap_default)?),
            false => None,
        };
        let demo = self.choose_demo(&database.store)?;

        let decided = Decided {
            template,
            teams,
            toolsets,
            database_url: database.url.clone(),
            actor,
            role,
            monthly_cap_minor,
            confirm_ttl_seconds,
            read_only,
            master_key: key.key_for_file(),
            crm_urls: crm
                .iter()
                .filter_map(crm::Credentials::url_setting)
                .collect(),
        };
        let config = decided.config_file(self.previous.as_ref());
        if self.interactive {
            say(&self.review(&decided, &config, &database, &key, crm.as_ref(), demo));
            if !prompts::confirm(&format!("Write {} and apply?", self.path.display()), true)? {
                return Err(Cancelled.into());
            }
        }
        let outcome = self.apply(&config, &database, &key, crm.as_ref(), demo);
        self.runtime.block_on(database.store.close());
        let report = outcome?;
        println!(
            "{}",
            self.summary(&decided, &config, &database, &key, &report)
        );
        Ok(())
    }

    /// A value from its sources, checked; a broken value in the file is only a warning
    /// when there is a person to ask (the default is offered instead).
    fn resolve<T>(
        &self,
        given: Option<Given>,
        parse: impl Fn(&str) -> Result<T, String>,
        default: T,
    ) -> anyhow::Result<T> {
        let Some(given) = given else {
            return Ok(default);
        };
        match parse(&given.value) {
            Ok(value) => Ok(value),
            Err(error) if self.interactive && given.origin.ends_with("in the config file") => {
                say(&format!(
                    "note: {} (the template's value is offered instead)",
                    from_origin(&given, error)
                ));
                Ok(default)
            }
            Err(error) => Err(anyhow::anyhow!(from_origin(&given, error))),
        }
    }

    fn choose_template(&self) -> anyhow::Result<&'static Template> {
        let offered: Vec<&'static Template> = TEMPLATES
            .iter()
            .filter(|t| self.scope.is_none_or(|team| t.teams.contains(&team)))
            .collect();
        let check = |template: &'static Template, origin: &str| -> anyhow::Result<()> {
            if let Some(team) = self.scope
                && !template.teams.contains(&team)
            {
                anyhow::bail!(
                    "{origin}: the template {} does not run {}; revops-{} setup configures that team only",
                    template.name,
                    team.name(),
                    team.name()
                );
            }
            Ok(())
        };
        if let Some(name) = &self.args.template {
            let template = Template::named(name).map_err(|e| anyhow::anyhow!("--template: {e}"))?;
            check(template, "--template")?;
            if !self.interactive {
                return Ok(template);
            }
        }
        let current = self
            .args
            .template
            .as_deref()
            .or(self.previous.as_ref().and_then(|f| f.template.as_deref()))
            .and_then(|name| Template::named(name).ok())
            .filter(|t| offered.iter().any(|o| o.name == t.name));
        let fallback = self.scope.map(|team| match team {
            Team::Sales => "sales-team",
            Team::Marketing => "marketing-team",
            Team::Cs => "customer-success-team",
        });
        if !self.interactive {
            return match current {
                Some(template) => Ok(template),
                None => match fallback {
                    Some(name) => Template::named(name).map_err(anyhow::Error::msg),
                    None => anyhow::bail!(
                        "--template: give one of {} (there is no config file to take it from)",
                        TEMPLATES
                            .iter()
                            .map(|t| t.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            };
        }
        let default = current
            .map(|t| t.name)
            .or(fallback)
            .and_then(|name| offered.iter().position(|t| t.name == name))
            .unwrap_or(0);
        let items: Vec<Choice> = offered
            .iter()
            .map(|t| Choice::new(t.name, t.summary))
            .collect();
        let chosen = prompts::select(
            "Template (a starting point; every value can be changed)",
            &items,
            default,
        )?;
        Ok(offered[chosen])
    }

    fn choose_teams(
        &self,
        sources: &Sources<'_>,
        template: &Template,
    ) -> anyhow::Result<Vec<Team>> {
        let from_file = || -> Vec<Team> {
            let names = self
                .previous
                .as_ref()
                .map(|f| f.teams.join(","))
                .unwrap_or_default();
            answers::parse_teams(&names).unwrap_or_default()
        };
        if let Some(team) = self.scope {
            if let Some(given) = &self.args.teams {
                let teams =
                    answers::parse_teams(given).map_err(|e| anyhow::anyhow!("--teams: {e}"))?;
                if teams != [team] {
                    anyhow::bail!(
                        "--teams: revops-{0} setup configures {0} only; run `revops setup` for the others",
                        team.name()
                    );
                }
            }
            // The file is shared by every team's server: the other teams stay as they are.
            let mut teams = from_file();
            if !teams.contains(&team) {
                teams.push(team);
                teams.sort();
            }
            return Ok(teams);
        }
        let default = match &self.args.teams {
            Some(given) => {
                answers::parse_teams(given).map_err(|e| anyhow::anyhow!("--teams: {e}"))?
            }
            None if !sources.template_changed && !from_file().is_empty() => from_file(),
            None => template.teams.to_vec(),
        };
        if !self.interactive {
            return Ok(default);
        }
        let items: Vec<Choice> = Team::ALL
            .iter()
            .map(|t| Choice::new(t.name(), format!("the {} server", t.title())))
            .collect();
        let ticked: Vec<bool> = Team::ALL.iter().map(|t| default.contains(t)).collect();
        loop {
            let chosen = prompts::multi_select(
                "Teams whose servers run here (space ticks, Enter accepts)",
                &items,
                &ticked,
            )?;
            if !chosen.is_empty() {
                return Ok(chosen.into_iter().map(|i| Team::ALL[i]).collect());
            }
            say("Tick at least one team.");
        }
    }

    fn choose_toolsets(
        &self,
        sources: &Sources<'_>,
        template: &Template,
        teams: &[Team],
    ) -> anyhow::Result<ToolsetChoice> {
        let fallback = |team: Team| template.toolsets_for(team);
        // Under a scope only that team's toolsets are decided; the others stay as they are.
        let decided: Vec<Team> = match self.scope {
            Some(team) => vec![team],
            None => teams.to_vec(),
        };
        let given = sources.given_for_template(flag("--toolsets", &self.args.toolsets), TOOLSETS);
        let mut default = match &given {
            Some(given) => {
                let strict = !given.origin.ends_with("in the config file");
                answers::parse_toolsets(&given.value, &decided, strict, fallback)
                    .map_err(|e| anyhow::anyhow!(from_origin(given, e)))?
            }
            None => decided
                .iter()
                .map(|t| (*t, template.toolsets_for(*t)))
                .collect(),
        };
        let others: Vec<Team> = teams
            .iter()
            .copied()
            .filter(|t| !decided.contains(t))
            .collect();
        if !others.is_empty() {
            let kept = answers::parse_toolsets(
                sources.in_file(TOOLSETS).unwrap_or("all"),
                &others,
                false,
                answers::toolset_names,
            )
            .map_err(anyhow::Error::msg)?;
            default.extend(kept);
        }
        if !self.interactive {
            return Ok(default);
        }
        let asked = decided;
        let offered: Vec<(Team, &'static mcp_runtime::toolsets::Toolset)> = asked
            .iter()
            .flat_map(|team| team.toolsets().iter().map(move |set| (*team, set)))
            .collect();
        let items: Vec<Choice> = offered
            .iter()
            .map(|(team, set)| {
                Choice::new(set.name, format!("{}: {}", team.name(), set.description))
            })
            .collect();
        let ticked: Vec<bool> = offered
            .iter()
            .map(|(team, set)| {
                default
                    .get(team)
                    .is_some_and(|names| names.contains(&set.name))
            })
            .collect();
        loop {
            let chosen = prompts::multi_select(
                "Toolsets offered to the model (fewer tools, less for it to read)",
                &items,
                &ticked,
            )?;
            let mut choice = default.clone();
            for team in &asked {
                let names: Vec<&'static str> = chosen
                    .iter()
                    .map(|i| offered[*i])
                    .filter(|(t, _)| t == team)
                    .map(|(_, set)| set.name)
                    .collect();
                choice.insert(*team, names);
            }
            match choice.iter().find(|(_, names)| names.is_empty()) {
                Some((team, _)) => say(&format!(
                    "Tick at least one toolset of {}: without any, its server offers only the shared tools.",
                    team.name()
                )),
                None => return Ok(choice),
            }
        }
    }

    fn choose_database(
        &self,
        sources: &Sources<'_>,
        template: &Template,
    ) -> anyhow::Result<Database> {
        let given = sources.given(
            flag("--database-url", &self.args.database_url),
            DATABASE_URL,
        );
        if !self.interactive {
            let (url, location) = match &given {
                Some(given) => answers::parse_database_url(&given.value)
                    .map_err(|e| anyhow::anyhow!(from_origin(given, e)))?,
                None => {
                    if template.suggests_postgres {
                        say(&format!(
                            "note: the {} template suggests Postgres for a shared store; using a SQLite file (give --database-url postgres://… to change)",
                            template.name
                        ));
                    }
                    let path = store::location::default_sqlite_path();
                    answers::parse_database_url(&format!("sqlite://{}", path.display()))
                        .map_err(anyhow::Error::msg)?
                }
            };
            let (store, migrated) = self
                .runtime
                .block_on(database::connect_and_migrate(&location))
                .map_err(|error| {
                    anyhow::anyhow!("{error}. {}", database::connect_hint(&location))
                })?;
            return Ok(Database {
                url,
                location,
                store,
                migrated,
            });
        }
        let mut current = given.map(|g| g.value);
        loop {
            let postgres_now = match &current {
                Some(url) => url.starts_with("postgres"),
                None => template.suggests_postgres,
            };
            let kinds = [
                Choice::new(
                    "SQLite",
                    "a file on this computer (one person, or all servers on one machine)",
                ),
                Choice::new("Postgres", "a database server (a team sharing one store)"),
            ];
            let kind = prompts::select("Where the data lives", &kinds, usize::from(postgres_now))?;
            let url = if kind == 0 {
                let default_path = current
                    .as_deref()
                    .and_then(answers::sqlite_path_of)
                    .unwrap_or_else(store::location::default_sqlite_path);
                let path = prompts::input(
                    "SQLite file (created if missing)",
                    Some(default_path.display().to_string()),
                    true,
                    |text| answers::absolute_path(Path::new(text)).map(drop),
                )?;
                let path = answers::absolute_path(Path::new(&path)).map_err(anyhow::Error::msg)?;
                format!("sqlite://{}", path.display())
            } else {
                let existing = current.as_deref().filter(|u| u.starts_with("postgres"));
                let prompt = match existing {
                    Some(url) => format!(
                        "Postgres URL (Enter keeps {})",
                        store::DatabaseLocation::Postgres(url.to_string()).redacted()
                    ),
                    None => "Postgres URL, e.g. postgres://revops:PASSWORD@db.internal:5432/revops"
                        .to_string(),
                };
                prompts::input(&prompt, existing.map(str::to_string), false, |text| {
                    match store::DatabaseLocation::parse(text) {
                        Ok(store::DatabaseLocation::Postgres(_)) => Ok(()),
                        _ => {
                            Err("a Postgres URL starts with postgres:// or postgresql://"
                                .to_string())
                        }
                    }
                })?
            };
            current = Some(url.clone());
            let (url, location) = match answers::parse_database_url(&url) {
                Ok(parsed) => parsed,
                Err(error) => {
                    say(&format!("That database URL does not work: {error}"));
                    continue;
                }
            };
            say(&format!(
                "Connecting to {} and bringing its tables up to date…",
                location.redacted()
            ));
            match self
                .runtime
                .block_on(database::connect_and_migrate(&location))
            {
                Ok((store, migrated)) => {
                    say(&format!(
                        "Connected ({}): migration level {} -> {} (this build knows {}).",
                        store.backend().as_str(),
                        migrated.before,
                        migrated.after,
                        migrated.known
                    ));
                    return Ok(Database {
                        url,
                        location,
                        store,
                        migrated,
                    });
                }
                Err(error) => say(&format!(
                    "This database cannot be used: {error}\n{}\nChoose again (Esc stops).",
                    database::connect_hint(&location)
                )),
            }
        }
    }

    fn choose_master_key(
        &self,
        sources: &Sources<'_>,
        store: &store::Store,
    ) -> anyhow::Result<KeyPlan> {
        let in_file = sources.in_file(MASTER_KEY).map(str::to_string);
        let in_environment = environment(MASTER_KEY);
        if let (Some(file_key), Some(env_key)) = (&in_file, &in_environment)
            && file_key.trim() != env_key.trim()
        {
            say(
                "note: REVOPS_MASTER_KEY in your environment differs from the config file's key; the file's key is kept, and the environment wins wherever both are set, so unset it",
            );
        }
        let existing: Option<(SecretString, String)> = match (in_file, in_environment) {
            (Some(key), _) => Some((SecretString::from(key), "the config file".to_string())),
            (None, Some(key)) => Some((SecretString::from(key), "REVOPS_MASTER_KEY".to_string())),
            (None, None) => None,
        };
        let passphrase = sources
            .given(None, MASTER_PASSPHRASE)
            .map(|g| SecretString::from(g.value));
        if existing.is_some() && passphrase.is_some() {
            anyhow::bail!(vault::VaultError::AmbiguousMasterKey);
        }
        let kind = self.runtime.block_on(database::vault_kind(store))?;
        let vault_exists = kind.is_some();

        if self.args.new_master_key {
            if vault_exists {
                let opens = existing
                    .as_ref()
                    .map(|(key, _)| self.runtime.block_on(database::key_opens(store, key)));
                if !matches!(opens, Some(Ok(()))) {
                    anyhow::bail!(
                        "--new-master-key: this database's vault can only be re-encrypted with its current key, which this set-up does not have (put it in REVOPS_MASTER_KEY)"
                    );
                }
            }
            if self.interactive {
                say(
                    "Replacing the master key: this database's stored credentials are re-encrypted under the new key, but any OTHER database whose vault uses the current key (and every process given the current key) can no longer open its credentials with this file.",
                );
                let typed = prompts::input(
                    "Type REPLACE to replace the master key (anything else keeps it)",
                    None,
                    true,
                    |_| Ok(()),
                )?;
                if typed != "REPLACE" {
                    say("The master key is kept.");
                    return self.keep_or_create(existing, passphrase, kind, store);
                }
            }
            return Ok(KeyPlan::Replace {
                old: existing.map(|(key, _)| key),
                new: database::new_key()?,
                vault_exists,
            });
        }
        self.keep_or_create(existing, passphrase, kind, store)
    }

    fn keep_or_create(
        &self,
        existing: Option<(SecretString, String)>,
        passphrase: Option<SecretString>,
        kind: Option<vault::KeyKind>,
        store: &store::Store,
    ) -> anyhow::Result<KeyPlan> {
        if let Some((key, origin)) = existing {
            vault::MasterKey::from_base64(key.expose_secret())
                .map_err(|e| anyhow::anyhow!("REVOPS_MASTER_KEY (from {origin}): {e}"))?;
            if kind.is_none() {
                return Ok(KeyPlan::Keep {
                    key,
                    origin,
                    vault_exists: false,
                });
            }
            match self.runtime.block_on(database::key_opens(store, &key)) {
                Ok(()) => {
                    return Ok(KeyPlan::Keep {
                        key,
                        origin,
                        vault_exists: true,
                    });
                }
                Err(error) if !self.interactive => anyhow::bail!(
                    "the master key from {origin} does not open this database's credential vault: {error}"
                ),
                Err(error) => {
                    say(&format!(
                        "The master key from {origin} does not open this database's credential vault: {error}"
                    ));
                    return self.ask_for_vault_key(store);
                }
            }
        }
        if let Some(passphrase) = passphrase {
            if kind.is_some() {
                self.runtime
                    .block_on(database::passphrase_opens(store, &passphrase))
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "REVOPS_MASTER_PASSPHRASE does not open this database's vault: {e}"
                        )
                    })?;
            }
            return Ok(KeyPlan::Passphrase {
                passphrase,
                vault_exists: kind.is_some(),
            });
        }
        match kind {
            None if self.args.no_master_key => Ok(KeyPlan::Without {
                why: "--no-master-key; CRM credentials cannot be stored until a vault is set up (`revops vault init`)".into(),
            }),
            None => {
                let create = !self.interactive
                    || prompts::confirm(
                        "Create a master key for the credential vault (CRM tokens are stored encrypted under it; the key goes into the config file, readable by you only)?",
                        true,
                    )?;
                match create {
                    true => Ok(KeyPlan::Create { key: database::new_key()? }),
                    false => Ok(KeyPlan::Without {
                        why: "you chose not to create one; CRM credentials cannot be stored until a vault is set up (`revops vault init`)".into(),
                    }),
                }
            }
            Some(vault::KeyKind::Passphrase) => Ok(KeyPlan::Without {
                why: "this database's vault uses a passphrase: give it to the servers as REVOPS_MASTER_PASSPHRASE".into(),
            }),
            Some(_) if !self.interactive => Ok(KeyPlan::Without {
                why: "this database already has a credential vault whose key this set-up was not given (run it with REVOPS_MASTER_KEY set to store the key here)".into(),
            }),
            Some(_) => {
                say("This database already has a credential vault, set up with a key this file does not have.");
                self.ask_for_vault_key(store)
            }
        }
    }

    /// Asks for the key of an existing vault until one opens it, or the person leaves it out.
    fn ask_for_vault_key(&self, store: &store::Store) -> anyhow::Result<KeyPlan> {
        loop {
            let Some(key) = prompts::secret(
                "Its master key, as `revops vault init` printed it (hidden; Enter to leave it out)",
                true,
            )?
            else {
                return Ok(KeyPlan::Without {
                    why:
                        "the vault's key was not given; give it to the servers as REVOPS_MASTER_KEY"
                            .into(),
                });
            };
            match self.runtime.block_on(database::key_opens(store, &key)) {
                Ok(()) => {
                    return Ok(KeyPlan::Keep {
                        key,
                        origin: "what you typed".into(),
                        vault_exists: true,
                    });
                }
                Err(error) => say(&format!("That key does not open the vault: {error}")),
            }
        }
    }

    fn choose_role(
        &self,
        default: Role,
        policy: &mcp_runtime::policy::Policy,
    ) -> anyhow::Result<Role> {
        if !self.interactive {
            return Ok(default);
        }
        let roles = [Role::Viewer, Role::Rep, Role::Manager, Role::Admin];
        let items: Vec<Choice> = roles
            .iter()
            .map(|role| {
                let what = match role {
                    Role::Viewer => "reads only",
                    Role::Rep => "reads and everyday writes (log an activity, update a lead)",
                    Role::Manager => "also destructive tools, each confirmed first",
                    Role::Admin => "also administration: budget caps, credentials",
                };
                Choice::new(policy.role_name(*role), what)
            })
            .collect();
        let position = roles.iter().position(|r| *r == default).unwrap_or(1);
        let chosen = prompts::select("Role (what the servers let you do)", &items, position)?;
        Ok(roles[chosen])
    }

    fn cap_default(
        &self,
        sources: &Sources<'_>,
        template: &Template,
    ) -> anyhow::Result<Option<i64>> {
        if let Some(amount) = &self.args.monthly_cap {
            return answers::parse_major_amount(amount)
                .map_err(|e| anyhow::anyhow!("--monthly-cap: {e}"));
        }
        self.resolve(
            sources.given_for_template(None, MONTHLY_CAP),
            |text| answers::parse_minor(text).map(Some),
            template.monthly_cap_minor,
        )
    }

    fn choose_cap(&self, default: Option<i64>) -> anyhow::Result<Option<i64>> {
        if !self.interactive {
            return Ok(default);
        }
        let shown = default.map_or_else(|| "none".to_string(), answers::major);
        let typed = prompts::input(
            "Monthly marketing spend cap for the whole organisation, in major units (e.g. 2000 or 2000.50; none for no cap)",
            Some(shown),
            true,
            |text| answers::parse_major_amount(text).map(drop),
        )?;
        answers::parse_major_amount(&typed).map_err(anyhow::Error::msg)
    }

    /// The CRM credentials named by flags, read from their variables (never tested here).
    fn crm_from_flags(&self) -> anyhow::Result<Option<CrmGiven>> {
        let read = |flag_name: &str, variable: &str| -> anyhow::Result<SecretString> {
            environment(variable)
                .map(SecretString::from)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{flag_name}: the environment variable {variable} is not set (or is blank)"
                    )
                })
        };
        if let Some(variable) = &self.args.hubspot_token_env {
            return Ok(Some(CrmGiven::HubSpot(read(
                "--hubspot-token-env",
                variable,
            )?)));
        }
        if let (Some(id), Some(secret), Some(refresh)) = (
            &self.args.salesforce_client_id_env,
            &self.args.salesforce_client_secret_env,
            &self.args.salesforce_refresh_token_env,
        ) {
            return Ok(Some(CrmGiven::Salesforce {
                client_id: read("--salesforce-client-id-env", id)?,
                client_secret: read("--salesforce-client-secret-env", secret)?,
                refresh_token: read("--salesforce-refresh-token-env", refresh)?,
            }));
        }
        Ok(None)
    }

    fn hubspot_url(&self, sources: &Sources<'_>) -> String {
        sources.given(None, HUBSPOT_URL).map_or_else(
            || crm::HUBSPOT_DEFAULT_URL.to_string(),
            |g| g.value.trim().to_string(),
        )
    }

    fn salesforce_login_url(&self, sources: &Sources<'_>) -> String {
        sources
            .given(
                flag("--salesforce-login-url", &self.args.salesforce_login_url),
                SALESFORCE_LOGIN_URL,
            )
            .map_or_else(
                || crm::SALESFORCE_DEFAULT_LOGIN_URL.to_string(),
                |g| g.value.trim().to_string(),
            )
    }

    /// Tests the CRM credentials the flags name, if any.
    fn test_given_crm(
        &self,
        sources: &Sources<'_>,
        given: Option<CrmGiven>,
    ) -> anyhow::Result<Option<crm::Credentials>> {
        let Some(given) = given else {
            return Ok(None);
        };
        let tested = match given {
            CrmGiven::HubSpot(token) => {
                let base_url = self.hubspot_url(sources);
                self.runtime
                    .block_on(crm::test_hubspot(&token, &base_url))
                    .map(|()| crm::Credentials::HubSpot { token, base_url })
            }
            CrmGiven::Salesforce {
                client_id,
                client_secret,
                refresh_token,
            } => self.runtime.block_on(crm::test_salesforce(
                &self.salesforce_login_url(sources),
                client_id,
                client_secret,
                refresh_token,
            )),
        };
        tested.map(Some).map_err(anyhow::Error::msg)
    }

    fn choose_crm(
        &self,
        sources: &Sources<'_>,
        key: &KeyPlan,
        store: &store::Store,
        tested: Option<crm::Credentials>,
    ) -> anyhow::Result<Option<crm::Credentials>> {
        if !key.has_vault() {
            if tested.is_some() {
                anyhow::bail!(
                    "CRM credentials are stored in the credential vault, and this set-up has none: {}",
                    key.describe()
                );
            }
            if self.interactive {
                say(
                    "CRM: skipped, because credentials live in the credential vault and there is no master key for it.",
                );
            }
            return Ok(None);
        }
        if tested.is_some() || !self.interactive {
            return Ok(tested);
        }
        let stored: Vec<String> = self
            .runtime
            .block_on(vault::list(store))
            .map(|list| {
                list.into_iter()
                    .map(|c| format!("{}/{}", c.provider, c.name))
                    .collect()
            })
            .unwrap_or_default();
        if !stored.is_empty() {
            say(&format!("The vault already holds: {}.", stored.join(", ")));
        }
        let choices = [
            Choice::new(
                "Not now",
                "later: `revops vault set hubspot private_app_token`",
            ),
            Choice::new("HubSpot", "a private-app token"),
            Choice::new(
                "Salesforce",
                "a connected app: client id, client secret, refresh token",
            ),
        ];
        loop {
            let outcome = match prompts::select("Connect a CRM", &choices, 0)? {
                0 => return Ok(None),
                1 => {
                    let Some(token) = prompts::secret("HubSpot private-app token (hidden)", true)?
                    else {
                        continue;
                    };
                    let base_url = self.hubspot_url(sources);
                    say(&format!("Testing the token with one read at {base_url}…"));
                    self.runtime
                        .block_on(crm::test_hubspot(&token, &base_url))
                        .map(|()| crm::Credentials::HubSpot { token, base_url })
                }
                _ => {
                    let login_url = prompts::input(
                        "Salesforce login URL (a sandbox: https://test.salesforce.com)",
                        Some(self.salesforce_login_url(sources)),
                        true,
                        |text| match text.starts_with("https://") || text.starts_with("http://") {
                            true => Ok(()),
                            false => Err("give a URL starting with https://".to_string()),
                        },
                    )?;
                    let Some(client_id) =
                        prompts::secret("Connected app's client id (consumer key, hidden)", true)?
                    else {
                        continue;
                    };
                    let Some(client_secret) = prompts::secret("Client secret (hidden)", true)?
                    else {
                        continue;
                    };
                    let Some(refresh_token) = prompts::secret("Refresh token (hidden)", true)?
                    else {
                        continue;
                    };
                    say(&format!(
                        "Testing: a token refresh at {login_url}, then one read…"
                    ));
                    self.runtime.block_on(crm::test_salesforce(
                        &login_url,
                        client_id,
                        client_secret,
                        refresh_token,
                    ))
                }
            };
            match outcome {
                Ok(credentials) => {
                    say(&format!(
                        "{} answered: the credentials work. They will be stored in the vault.",
                        credentials.display_name()
                    ));
                    return Ok(Some(credentials));
                }
                Err(explanation) => {
                    say(&explanation);
                    let next = [
                        Choice::new("Try again", ""),
                        Choice::new("Skip the CRM for now", ""),
                    ];
                    if prompts::select("What now", &next, 0)? == 1 {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn choose_demo(&self, store: &store::Store) -> anyhow::Result<bool> {
        let empty = self.runtime.block_on(database::is_empty(store))?;
        if !empty {
            if self.args.demo || self.interactive {
                say("The database already holds data, so the demo company is not loaded.");
            }
            return Ok(false);
        }
        if !self.interactive {
            return Ok(self.args.demo);
        }
        prompts::confirm(
            "Load the demo company (a fictional business: 500 leads, customers, deals, campaigns) to try things out?",
            self.args.demo,
        )
    }

    /// What will happen, for the person to confirm (stderr).
    fn review(
        &self,
        decided: &Decided,
        config: &ConfigFile,
        database: &Database,
        key: &KeyPlan,
        crm: Option<&crm::Credentials>,
        demo: bool,
    ) -> String {
        let mut lines = vec![String::new(), "About to:".to_string()];
        match &self.previous {
            Some(_) => lines.push(format!("- back up and rewrite {}", self.path.display())),
            None if self.path.exists() => {
                lines.push(format!("- back up and replace {}", self.path.display()))
            }
            None => lines.push(format!("- write {}", self.path.display())),
        }
        lines.extend(
            settings_lines(decided, config, database, key)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        if let Some(crm) = crm {
            lines.push(format!(
                "- store the {} credentials in the vault",
                crm.display_name()
            ));
        }
        if demo {
            lines.push("- load the demo company".to_string());
        }
        lines.join("\n")
    }

    fn apply(
        &self,
        config: &ConfigFile,
        database: &Database,
        key: &KeyPlan,
        crm: Option<&crm::Credentials>,
        demo: bool,
    ) -> anyhow::Result<Applied> {
        let text = file::render(config)?;
        let before = match std::fs::read_to_string(&self.path) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", self.path.display()));
            }
        };
        let mut applied = Applied::default();
        if before.as_deref() == Some(text.as_str()) {
            applied.file_unchanged = true;
        } else {
            if before.is_some() {
                applied.backup = Some(file::back_up(&self.path)?);
            }
            file::write_atomically(&self.path, &text)?;
        }
        let (vault, done) = match self
            .runtime
            .block_on(database::carry_out(&database.store, key))
        {
            Ok(outcome) => outcome,
            Err(error) => {
                // A replaced key that did not take must not stay in the file: put the old
                // file back, so the key that still opens the vault is the one written down.
                if matches!(
                    key,
                    KeyPlan::Replace {
                        vault_exists: true,
                        ..
                    }
                ) && let Some(before) = &before
                {
                    file::write_atomically(&self.path, before)?;
                    return Err(error.context(
                        "the vault was not re-encrypted; the previous config file was put back",
                    ));
                }
                return Err(error.context(
                    "the config file was written, but the credential vault could not be set up",
                ));
            }
        };
        applied.done.extend(done);
        if let (Some(crm), Some(vault)) = (crm, &vault) {
            let stored = self
                .runtime
                .block_on(crm.store(vault))
                .context("the config file was written, but storing the CRM credentials failed")?;
            applied
                .done
                .push(format!("stored in the vault: {}", stored.join(", ")));
        }
        if demo {
            let loaded = self
                .runtime
                .block_on(database::load_demo(&database.store))
                .context("the config file was written, but loading the demo company failed")?;
            applied.done.push(loaded);
        }
        Ok(applied)
    }

    /// What was done and what to run next (stdout).
    fn summary(
        &self,
        decided: &Decided,
        config: &ConfigFile,
        database: &Database,
        key: &KeyPlan,
        applied: &Applied,
    ) -> String {
        let mut lines = Vec::new();
        if applied.file_unchanged {
            lines.push(format!(
                "{} already had these settings; it was not changed.",
                self.path.display()
            ));
        } else {
            lines.push(format!(
                "Wrote {} (readable by you only):",
                self.path.display()
            ));
        }
        lines.extend(
            settings_lines(decided, config, database, key)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        if let Some(backup) = &applied.backup {
            lines.push(format!(
                "The previous file is backed up at {}.",
                backup.display()
            ));
        }
        lines.extend(applied.done.iter().map(|d| format!("Done: {d}.")));
        let default_path = store::config::default_config_path();
        let prefix = match default_path.as_deref() == Some(self.path.as_path()) {
            true => String::new(),
            false => format!(
                "REVOPS_CONFIG={} ",
                shell_word(&self.path.display().to_string())
            ),
        };
        let servers: Vec<&str> = decided.teams.iter().map(|t| t.name()).collect();
        lines.push(String::new());
        lines.push("Next: add the servers to Claude Desktop:".to_string());
        lines.push(format!(
            "  {prefix}revops install claude-desktop --servers {}",
            servers.join(",")
        ));
        if !prefix.is_empty() {
            lines.push(format!(
                "The servers read this file when REVOPS_CONFIG names it ({prefix}revops-{} …); at the default path they find it themselves.",
                servers.first().copied().unwrap_or("sales")
            ));
        }
        lines.join("\n")
    }
}

/// The settings as a person reads them (no secret ever).
fn settings_lines(
    decided: &Decided,
    config: &ConfigFile,
    database: &Database,
    key: &KeyPlan,
) -> Vec<String> {
    let teams: Vec<&str> = decided.teams.iter().map(|t| t.name()).collect();
    let toolsets = answers::toolsets_setting(&decided.toolsets);
    let cap = match config.get(MONTHLY_CAP).map(answers::parse_minor) {
        Some(Ok(cap)) => format!("{} a month", answers::major(cap)),
        Some(Err(_)) => "as set in the file (not a valid amount)".to_string(),
        None => "none".to_string(),
    };
    vec![
        format!("template: {}", decided.template.name),
        format!("teams: {}", teams.join(", ")),
        format!(
            "database: {} ({}, migration level {} of {})",
            database.location.redacted(),
            database.store.backend().as_str(),
            database.migrated.after,
            database.migrated.known
        ),
        format!("actor: {}, role {}", decided.actor, decided.role),
        format!("toolsets: {}", toolsets.replace(',', ", ")),
        format!("monthly marketing spend cap: {cap}"),
        format!(
            "confirmation tokens last {} s; read-only: {}",
            decided.confirm_ttl_seconds,
            if decided.read_only { "yes" } else { "no" }
        ),
        format!("master key: {}", key.describe()),
    ]
}

/// What applying did.
#[derive(Debug, Default)]
struct Applied {
    file_unchanged: bool,
    backup: Option<PathBuf>,
    done: Vec<String>,
}

/// CRM credentials given through flags, not yet tested.
enum CrmGiven {
    HubSpot(SecretString),
    Salesforce {
        client_id: SecretString,
        client_secret: SecretString,
        refresh_token: SecretString,
    },
}

/// A flag's value with its name, for [`Sources::given`].
fn flag<'a>(name: &'a str, value: &'a Option<String>) -> Option<(&'a str, &'a str)> {
    value.as_deref().map(|v| (name, v))
}

/// The config file to set up: `--config`, else `REVOPS_CONFIG`, else the default path.
fn config_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return answers::absolute_path(path).map_err(anyhow::Error::msg);
    }
    match environment(store::config::CONFIG_VAR) {
        Some(value) if value.trim().eq_ignore_ascii_case("none") => anyhow::bail!(
            "REVOPS_CONFIG is none (no config file): give --config PATH to say where to write one"
        ),
        Some(value) => answers::absolute_path(Path::new(value.trim())).map_err(anyhow::Error::msg),
        None => store::config::default_config_path()
            .context("this system has no configuration folder: give --config PATH"),
    }
}

/// A path as one shell word (quoted when it needs to be).
fn shell_word(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
