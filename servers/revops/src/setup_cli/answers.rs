//! The answers of a set-up: where each default comes from, how each answer is checked, and
//! how the answers become the config file's settings.
//!
//! Every value has one order of precedence, the same with and without prompts: a flag,
//! else the `REVOPS_…` environment variable, else the config file being set up, else the
//! template. Values a template decides (teams, role, toolsets, cap, confirmation TTL,
//! read-only) skip the file when the person switches to another template, so the new
//! template's shape is what they get; everything else in the file is kept.
//!
//! The environment is read directly here, not through `store::config::var`: that falls back
//! to the config file this process loaded when it started, which need not be the file being
//! set up (`--config`); this module reads that file itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mcp_runtime::Role;
use mcp_runtime::policy::Policy;
use mcp_runtime::toolsets::Selection;
use store::config::ConfigFile;

use super::templates::{Team, Template, all_toolsets};

pub const DATABASE_URL: &str = "REVOPS_DATABASE_URL";
pub const ACTOR: &str = "REVOPS_ACTOR";
pub const ROLE: &str = "REVOPS_ROLE";
pub const TOOLSETS: &str = "REVOPS_TOOLSETS";
pub const MONTHLY_CAP: &str = "REVOPS_MONTHLY_SPEND_CAP_MINOR";
pub const CONFIRM_TTL: &str = "REVOPS_CONFIRM_TTL_SECONDS";
pub const READ_ONLY: &str = "REVOPS_READ_ONLY";
pub const MASTER_KEY: &str = "REVOPS_MASTER_KEY";
pub const MASTER_PASSPHRASE: &str = "REVOPS_MASTER_PASSPHRASE";
pub const POLICY_FILE: &str = "REVOPS_POLICY_FILE";
pub const HUBSPOT_URL: &str = "REVOPS_HUBSPOT_URL";
pub const SALESFORCE_LOGIN_URL: &str = "REVOPS_SALESFORCE_LOGIN_URL";

/// A value and where it came from, for error messages (`--role`, `REVOPS_ROLE`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub value: String,
    pub origin: String,
}

/// A variable of the process environment, when set and not blank.
pub fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Where the defaults come from: the flags, the environment and the file being set up.
#[derive(Debug)]
pub struct Sources<'a> {
    pub file: Option<&'a ConfigFile>,
    /// The template chosen differs from the one the file was written from.
    pub template_changed: bool,
}

impl Sources<'_> {
    /// `flag`, else the variable in the environment, else the file's value.
    pub fn given(&self, flag: Option<(&str, &str)>, variable: &str) -> Option<Given> {
        self.pick(flag, variable, true)
    }

    /// Like [`Sources::given`], for a value the template decides: the file counts only
    /// while the template stays the same.
    pub fn given_for_template(&self, flag: Option<(&str, &str)>, variable: &str) -> Option<Given> {
        self.pick(flag, variable, !self.template_changed)
    }

    fn pick(&self, flag: Option<(&str, &str)>, variable: &str, with_file: bool) -> Option<Given> {
        if let Some((name, value)) = flag {
            return Some(Given {
                value: value.to_string(),
                origin: name.to_string(),
            });
        }
        if let Some(value) = environment(variable) {
            return Some(Given {
                value,
                origin: variable.to_string(),
            });
        }
        if with_file && let Some(value) = self.file.and_then(|file| file.get(variable)) {
            return Some(Given {
                value: value.to_string(),
                origin: format!("{variable} in the config file"),
            });
        }
        None
    }

    /// The file's value of a setting, ignoring the environment.
    pub fn in_file(&self, variable: &str) -> Option<&str> {
        self.file.and_then(|file| file.get(variable))
    }
}

/// `"{origin}: {error}"`, the shape of every refusal of a given value.
pub fn from_origin(given: &Given, error: impl std::fmt::Display) -> String {
    format!("{}: {error}", given.origin)
}

/// `sales, cs` → the teams, in the wizard's order, each once.
pub fn parse_teams(text: &str) -> Result<Vec<Team>, String> {
    let mut teams = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let team = Team::parse(name)?;
        if !teams.contains(&team) {
            teams.push(team);
        }
    }
    if teams.is_empty() {
        return Err("name at least one team: sales, marketing, cs".to_string());
    }
    teams.sort();
    Ok(teams)
}

/// The toolsets offered, per team.
pub type ToolsetChoice = BTreeMap<Team, Vec<&'static str>>;

/// Reads a toolset list (`leads,pipeline`, or `all`) for `teams`. When `strict` (a flag or
/// the environment), every name must be a toolset of a team the set-up runs and each team
/// must keep at least one of its toolsets. Otherwise (the file, written for other teams or
/// by an older build) names that do not fit are dropped, and a team the list says nothing
/// about gets `fallback`'s toolsets.
pub fn parse_toolsets(
    text: &str,
    teams: &[Team],
    strict: bool,
    fallback: impl Fn(Team) -> Vec<&'static str>,
) -> Result<ToolsetChoice, String> {
    let selection = Selection::parse(text);
    if strict {
        selection.check(&all_toolsets())?;
    }
    let Some(names) = selection.names() else {
        return Ok(all_of(teams));
    };
    if strict
        && let Some(stray) = names
            .iter()
            .find(|name| Team::owning(name).is_some_and(|team| !teams.contains(&team)))
    {
        let owner = Team::owning(stray).map_or("", Team::name);
        return Err(format!(
            "the toolset {stray:?} belongs to {owner}, which this set-up does not run (add the team, or drop the toolset)"
        ));
    }
    let mut choice = ToolsetChoice::new();
    for team in teams {
        let mine: Vec<&'static str> = team
            .toolsets()
            .iter()
            .map(|set| set.name)
            .filter(|name| names.iter().any(|n| n == name))
            .collect();
        if mine.is_empty() {
            if strict {
                return Err(format!(
                    "no toolset of {} is named, so its server would offer only the shared tools; add some of {} (or use all)",
                    team.name(),
                    toolset_names(*team).join(", ")
                ));
            }
            choice.insert(*team, fallback(*team));
        } else {
            choice.insert(*team, mine);
        }
    }
    Ok(choice)
}

/// Every toolset of every team in `teams`.
pub fn all_of(teams: &[Team]) -> ToolsetChoice {
    teams
        .iter()
        .map(|team| (*team, toolset_names(*team)))
        .collect()
}

pub fn toolset_names(team: Team) -> Vec<&'static str> {
    team.toolsets().iter().map(|set| set.name).collect()
}

/// The `REVOPS_TOOLSETS` value of a choice: `all` when every team has all of its toolsets.
pub fn toolsets_setting(choice: &ToolsetChoice) -> String {
    let everything = choice
        .iter()
        .all(|(team, names)| names.len() == team.toolsets().len());
    if everything {
        return "all".to_string();
    }
    choice
        .values()
        .flatten()
        .copied()
        .collect::<Vec<_>>()
        .join(",")
}

/// The role a name stands for, as the policy file (if any) names roles.
pub fn parse_role(text: &str, policy: &Policy) -> Result<Role, String> {
    policy.parse_role(text)
}

/// The policy file the set-up's settings name (environment first, then the file), or the
/// default policy.
pub fn policy(sources: &Sources<'_>) -> Result<Policy, String> {
    match sources.given(None, POLICY_FILE) {
        Some(given) => {
            Policy::load(Path::new(given.value.trim())).map_err(|e| from_origin(&given, e))
        }
        None => Ok(Policy::default()),
    }
}

/// An actor name: what `REVOPS_ACTOR` holds (an email or a name), checked for length and
/// control characters.
pub fn parse_actor(text: &str) -> Result<String, String> {
    let actor = text.trim();
    if actor.is_empty() {
        return Err("the actor is empty; give a name or an email, e.g. dana@example.com".into());
    }
    if actor.chars().count() > 120 {
        return Err("the actor is longer than 120 characters".into());
    }
    if actor.chars().any(char::is_control) {
        return Err("the actor contains control characters".into());
    }
    Ok(actor.to_string())
}

/// The operating-system user, the default actor (as `Actor::from_env` defaults).
pub fn os_user() -> String {
    environment("USER")
        .or_else(|| environment("USERNAME"))
        .unwrap_or_else(|| "local-user".to_string())
}

/// An amount in major units (`2000`, `2,000`, `2000.5`, `2000.50`) as minor units; `none`
/// or blank is no cap.
pub fn parse_major_amount(text: &str) -> Result<Option<i64>, String> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_' && !c.is_whitespace())
        .collect();
    if cleaned.is_empty() || cleaned.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let refuse = || {
        format!(
            "{text:?} is not an amount: give major units with at most two decimals, e.g. 2000 or 2000.50 (or none)"
        )
    };
    let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 2
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(refuse());
    }
    let whole: i64 = whole.parse().map_err(|_| refuse())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| refuse())?;
    whole
        .checked_mul(100)
        .and_then(|minor| minor.checked_add(cents))
        .map(Some)
        .ok_or_else(refuse)
}

/// `REVOPS_MONTHLY_SPEND_CAP_MINOR` as the budget guard reads it: whole minor units, ≥ 0.
pub fn parse_minor(text: &str) -> Result<i64, String> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|cap| *cap >= 0)
        .ok_or_else(|| format!("must be a whole number of minor units (cents), got {text:?}"))
}

/// Minor units as major units for a person: `200000` → `2,000.00`.
pub fn major(minor: i64) -> String {
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}.{:02}", minor % 100)
}

/// `REVOPS_CONFIRM_TTL_SECONDS` as the gates read it: 1 to 86400.
pub fn parse_ttl(text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|s| (1..=86_400).contains(s))
        .ok_or_else(|| format!("must be 1 to 86400 seconds, got {text:?}"))
}

/// A yes/no setting as `store::config::flag` reads it.
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("must be true or false, got {text:?}")),
    }
}

/// A database URL, checked and made absolute: a SQLite path relative to the current
/// folder (or starting with `~`) would mean another file for a server started elsewhere.
pub fn parse_database_url(text: &str) -> Result<(String, store::DatabaseLocation), String> {
    let text = text.trim();
    let location = store::DatabaseLocation::parse(text).map_err(|error| error.to_string())?;
    match location {
        store::DatabaseLocation::SqliteFile(path) => {
            let absolute = absolute_path(&path)?;
            Ok((
                format!("sqlite://{}", absolute.display()),
                store::DatabaseLocation::SqliteFile(absolute),
            ))
        }
        postgres @ store::DatabaseLocation::Postgres(_) => Ok((text.to_string(), postgres)),
    }
}

/// A SQLite file path as typed (`~/revops.db`, `data/revops.db`) made absolute.
pub fn absolute_path(path: &Path) -> Result<PathBuf, String> {
    let text = path.to_string_lossy();
    let expanded = match text.strip_prefix("~/") {
        Some(rest) => dirs::home_dir()
            .ok_or("this system has no home folder to expand ~ in")?
            .join(rest),
        None => path.to_path_buf(),
    };
    if expanded.is_absolute() {
        return Ok(expanded);
    }
    std::env::current_dir()
        .map(|here| here.join(expanded))
        .map_err(|error| format!("cannot tell the current folder: {error}"))
}

/// The SQLite file a URL names, for the prompt's default.
pub fn sqlite_path_of(url: &str) -> Option<PathBuf> {
    store::DatabaseLocation::parse(url)
        .ok()
        .and_then(|location| location.sqlite_path().map(Path::to_path_buf))
}

/// What the set-up decided, as settings: the file's settings with the decided ones set.
/// Settings it was not asked about are kept as they were.
#[derive(Debug, Clone)]
pub struct Decided {
    pub template: &'static Template,
    pub teams: Vec<Team>,
    pub toolsets: ToolsetChoice,
    pub database_url: String,
    pub actor: String,
    pub role: Role,
    /// `None`: the question was not asked (no marketing): the file's value stays.
    pub monthly_cap_minor: Option<Option<i64>>,
    pub confirm_ttl_seconds: u32,
    pub read_only: bool,
    /// The base64 key to store; `None` keeps whatever the file has.
    pub master_key: Option<String>,
    /// Base URLs the CRM credentials were tested against (to be used by the servers too).
    pub crm_urls: Vec<(&'static str, String)>,
}

impl Decided {
    /// The config file to write, starting from `previous`.
    pub fn config_file(&self, previous: Option<&ConfigFile>) -> ConfigFile {
        let mut settings = previous.map(|f| f.settings.clone()).unwrap_or_default();
        let mut set = |name: &str, value: String| {
            settings.insert(name.to_string(), value);
        };
        set(DATABASE_URL, self.database_url.clone());
        set(ACTOR, self.actor.clone());
        set(ROLE, self.role.as_str().to_string());
        set(TOOLSETS, toolsets_setting(&self.toolsets));
        set(CONFIRM_TTL, self.confirm_ttl_seconds.to_string());
        set(READ_ONLY, self.read_only.to_string());
        if let Some(key) = &self.master_key {
            set(MASTER_KEY, key.clone());
        }
        for (name, url) in &self.crm_urls {
            set(name, url.clone());
        }
        match self.monthly_cap_minor {
            Some(Some(cap)) => {
                settings.insert(MONTHLY_CAP.to_string(), cap.to_string());
            }
            Some(None) => {
                settings.remove(MONTHLY_CAP);
            }
            None => {}
        }
        ConfigFile {
            format: store::config::FORMAT,
            template: Some(self.template.name.to_string()),
            teams: self.teams.iter().map(|t| t.name().to_string()).collect(),
            settings,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn all(team: Team) -> Vec<&'static str> {
        toolset_names(team)
    }

    #[test]
    fn amounts_in_major_units_become_minor_units() {
        assert_eq!(parse_major_amount("2000").unwrap(), Some(200_000));
        assert_eq!(parse_major_amount(" 2,000.5 ").unwrap(), Some(200_050));
        assert_eq!(parse_major_amount("0.07").unwrap(), Some(7));
        assert_eq!(parse_major_amount("0").unwrap(), Some(0));
        assert_eq!(parse_major_amount("none").unwrap(), None);
        assert_eq!(parse_major_amount("").unwrap(), None);
        for bad in ["-5", "12.345", "ten", "1e3", ".5", "99999999999999999999"] {
            assert!(parse_major_amount(bad).is_err(), "{bad}");
        }
        assert_eq!(major(200_050), "2,000.50");
        assert_eq!(major(5_000_000), "50,000.00");
        assert_eq!(major(7), "0.07");
    }

    #[test]
    fn toolsets_must_belong_to_the_teams_that_run_and_leave_each_team_some() {
        let sales = [Team::Sales];
        let choice = parse_toolsets("leads, pipeline", &sales, true, all).unwrap();
        assert_eq!(choice[&Team::Sales], ["leads", "pipeline"]);
        assert_eq!(toolsets_setting(&choice), "leads,pipeline");
        assert_eq!(
            toolsets_setting(&parse_toolsets("all", &[Team::Sales, Team::Cs], true, all).unwrap()),
            "all"
        );
        let unknown = parse_toolsets("leads,forecasts", &sales, true, all).unwrap_err();
        assert!(unknown.contains("\"forecasts\""), "{unknown}");
        let stray = parse_toolsets("leads,campaigns", &sales, true, all).unwrap_err();
        assert!(stray.contains("marketing"), "{stray}");
        let bare = parse_toolsets("leads", &[Team::Sales, Team::Cs], true, all).unwrap_err();
        assert!(bare.contains("no toolset of cs"), "{bare}");
        let lenient = parse_toolsets(
            "leads,campaigns,retired",
            &[Team::Sales, Team::Cs],
            false,
            all,
        )
        .unwrap();
        assert_eq!(lenient[&Team::Sales], ["leads"]);
        assert_eq!(lenient[&Team::Cs], all(Team::Cs));
    }

    #[test]
    fn values_are_checked_as_the_servers_check_them() {
        assert_eq!(
            parse_teams("cs, sales,sales").unwrap(),
            [Team::Sales, Team::Cs]
        );
        assert!(parse_teams(" , ").is_err());
        assert!(
            parse_teams("sales,finance")
                .unwrap_err()
                .contains("finance")
        );
        assert_eq!(parse_ttl("600").unwrap(), 600);
        assert!(parse_ttl("0").is_err() && parse_ttl("86401").is_err());
        assert!(parse_flag("yes").unwrap() && !parse_flag("off").unwrap());
        assert!(parse_minor("-1").is_err());
        assert!(parse_actor("  ").is_err());
        assert!(parse_actor("dana\u{7}").is_err());
        assert_eq!(
            parse_actor(" dana@example.com ").unwrap(),
            "dana@example.com"
        );
        let role = parse_role("Manager", &Policy::default()).unwrap();
        assert_eq!(role, Role::Manager);
        assert!(
            parse_role("boss", &Policy::default())
                .unwrap_err()
                .contains("viewer")
        );
    }

    #[test]
    fn a_relative_sqlite_path_is_made_absolute() {
        let (url, location) = parse_database_url("sqlite://data/revops.db").unwrap();
        let path = location.sqlite_path().unwrap();
        assert!(
            path.is_absolute() && path.ends_with("data/revops.db"),
            "{url}"
        );
        assert!(parse_database_url("mysql://x").is_err());
        let (url, _) = parse_database_url("postgres://app@db/revops").unwrap();
        assert_eq!(url, "postgres://app@db/revops");
    }

    #[test]
    fn the_config_keeps_settings_it_was_not_asked_about() {
        let mut previous = ConfigFile {
            format: 1,
            template: Some("sales-team".into()),
            teams: vec!["sales".into()],
            settings: BTreeMap::new(),
        };
        previous
            .settings
            .insert("REVOPS_LOG".into(), "debug".into());
        previous
            .settings
            .insert(MASTER_KEY.into(), "kept-key".into());
        previous.settings.insert(MONTHLY_CAP.into(), "100".into());
        let decided = Decided {
            template: Template::named("sales-team").unwrap(),
            teams: vec![Team::Sales],
            toolsets: all_of(&[Team::Sales]),
            database_url: "sqlite:///tmp/r.db".into(),
            actor: "dana".into(),
            role: Role::Manager,
            monthly_cap_minor: None,
            confirm_ttl_seconds: 300,
            read_only: false,
            master_key: None,
            crm_urls: Vec::new(),
        };
        let file = decided.config_file(Some(&previous));
        assert_eq!(file.get("REVOPS_LOG"), Some("debug"));
        assert_eq!(file.get(MASTER_KEY), Some("kept-key"));
        assert_eq!(file.get(MONTHLY_CAP), Some("100"), "not asked: kept");
        assert_eq!(file.get(ROLE), Some("manager"));
        assert_eq!(file.get(TOOLSETS), Some("all"));
        let no_cap = Decided {
            monthly_cap_minor: Some(None),
            ..decided
        }
        .config_file(Some(&previous));
        assert_eq!(no_cap.get(MONTHLY_CAP), None, "asked, and no cap chosen");
    }
}
