//! The set-up templates and the teams they run: the starting points `revops setup` offers,
//! kept as data so each one can be read, compared and tested at a glance.
//!
//! A template decides the teams, the role, the toolsets, the organisation's monthly
//! marketing cap, how long a confirmation token lives, read-only mode, and whether Postgres
//! is the suggested database. The wizard offers every one of these as a default the person
//! can change.

use mcp_runtime::toolsets::Toolset;
use mcp_runtime::{Role, TeamServer};

/// A team whose server the set-up runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Team {
    Sales,
    Marketing,
    Cs,
}

impl Team {
    /// Every team, in the order the wizard shows them.
    pub const ALL: [Team; 3] = [Team::Sales, Team::Marketing, Team::Cs];

    /// The server's name (`sales`, `marketing`, `cs`), as the config file and
    /// `revops install claude-desktop --servers` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Team::Sales => sales::SalesServer::NAME,
            Team::Marketing => marketing::MarketingServer::NAME,
            Team::Cs => cs::CsServer::NAME,
        }
    }

    /// The team's groups of tools.
    pub fn toolsets(self) -> &'static [Toolset] {
        match self {
            Team::Sales => sales::SalesServer::TOOLSETS,
            Team::Marketing => marketing::MarketingServer::TOOLSETS,
            Team::Cs => cs::CsServer::TOOLSETS,
        }
    }

    /// "Sales", "Marketing", "Customer Success".
    pub fn title(self) -> &'static str {
        mcp_runtime::info::team_title(self.name())
    }

    /// The team a name stands for (`customer-success` is accepted for `cs`).
    pub fn parse(text: &str) -> Result<Team, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "sales" => Ok(Team::Sales),
            "marketing" => Ok(Team::Marketing),
            "cs" | "customer-success" => Ok(Team::Cs),
            other => Err(format!(
                "unknown team {other:?}; the teams are sales, marketing and cs"
            )),
        }
    }

    /// The team that has the toolset `name`, if any (names are unique across the servers).
    pub fn owning(name: &str) -> Option<Team> {
        Team::ALL
            .into_iter()
            .find(|team| team.toolsets().iter().any(|set| set.name == name))
    }
}

/// Every server's toolsets, as `Selection::check` takes them.
pub fn all_toolsets() -> [(&'static str, &'static [Toolset]); 3] {
    Team::ALL.map(|team| (team.name(), team.toolsets()))
}

/// A starting point for a set-up.
#[derive(Debug)]
pub struct Template {
    /// As `--template` and the config file's `template` name it.
    pub name: &'static str,
    /// One line shown in the list.
    pub summary: &'static str,
    pub teams: &'static [Team],
    pub role: Role,
    /// The toolsets offered; a team with none named here gets all of its own.
    pub toolsets: &'static [&'static str],
    /// The organisation's monthly marketing spend cap in minor units; `None`: no cap.
    pub monthly_cap_minor: Option<i64>,
    pub confirm_ttl_seconds: u32,
    pub read_only: bool,
    /// Several people on several machines: a Postgres server rather than a SQLite file.
    pub suggests_postgres: bool,
}

impl Template {
    /// The template of this name.
    pub fn named(name: &str) -> Result<&'static Template, String> {
        let wanted = name.trim().to_ascii_lowercase();
        TEMPLATES.iter().find(|t| t.name == wanted).ok_or_else(|| {
            let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
            format!(
                "unknown template {wanted:?}; the templates are {}",
                names.join(", ")
            )
        })
    }

    /// The toolsets this template gives `team`: the ones it names of that team, or all of
    /// the team's when it names none.
    pub fn toolsets_for(&self, team: Team) -> Vec<&'static str> {
        let named: Vec<&'static str> = team
            .toolsets()
            .iter()
            .map(|set| set.name)
            .filter(|name| self.toolsets.contains(name))
            .collect();
        if named.is_empty() {
            team.toolsets().iter().map(|set| set.name).collect()
        } else {
            named
        }
    }
}

/// The templates, in the order the wizard lists them.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "solo-founder",
        summary: "one person doing sales, marketing and success: every team and tool, admin, a small monthly ad budget",
        teams: &[Team::Sales, Team::Marketing, Team::Cs],
        role: Role::Admin,
        toolsets: &[],
        // 2,000.00 a month: enough for a founder's experiments, small enough to notice.
        monthly_cap_minor: Some(200_000),
        confirm_ttl_seconds: 300,
        read_only: false,
        suggests_postgres: false,
    },
    Template {
        name: "sales-team",
        summary: "sellers working leads and deals: the sales server for reps, without CRM administration",
        teams: &[Team::Sales],
        role: Role::Rep,
        toolsets: &["leads", "scoring", "accounts", "pipeline", "activities"],
        monthly_cap_minor: None,
        confirm_ttl_seconds: 300,
        read_only: false,
        suggests_postgres: false,
    },
    Template {
        name: "marketing-team",
        summary: "a marketing manager running campaigns and spend under a monthly cap",
        teams: &[Team::Marketing],
        role: Role::Manager,
        toolsets: &["campaigns", "spend", "analytics", "audiences"],
        monthly_cap_minor: Some(1_000_000),
        // A manager reviews a preview (a launch, a budget raise) before confirming: more time.
        confirm_ttl_seconds: 600,
        read_only: false,
        suggests_postgres: false,
    },
    Template {
        name: "customer-success-team",
        summary: "customer success managers watching health and churn, handling tickets",
        teams: &[Team::Cs],
        role: Role::Rep,
        toolsets: &["health", "insight", "portfolio", "tickets", "interventions"],
        monthly_cap_minor: None,
        confirm_ttl_seconds: 300,
        read_only: false,
        suggests_postgres: false,
    },
    Template {
        name: "full-revops",
        summary: "a revenue operations team running all three servers on a shared Postgres",
        teams: &[Team::Sales, Team::Marketing, Team::Cs],
        role: Role::Admin,
        toolsets: &[],
        monthly_cap_minor: Some(5_000_000),
        // Many hands on one store: a confirmation should not linger.
        confirm_ttl_seconds: 180,
        read_only: false,
        suggests_postgres: true,
    },
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use mcp_runtime::toolsets::Selection;

    #[test]
    fn every_template_names_only_toolsets_the_servers_have() {
        for template in TEMPLATES {
            let selection = Selection::parse(&template.toolsets.join(","));
            selection
                .check(&all_toolsets())
                .unwrap_or_else(|error| panic!("{}: {error}", template.name));
            for name in template.toolsets {
                let owner = Team::owning(name).unwrap();
                assert!(
                    template.teams.contains(&owner),
                    "{} names {name}, a toolset of {}, which it does not run",
                    template.name,
                    owner.name()
                );
            }
        }
    }

    #[test]
    fn the_five_templates_are_different_set_ups() {
        let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "solo-founder",
                "sales-team",
                "marketing-team",
                "customer-success-team",
                "full-revops"
            ]
        );
        for (i, a) in TEMPLATES.iter().enumerate() {
            for b in &TEMPLATES[i + 1..] {
                let same = a.teams == b.teams
                    && a.role == b.role
                    && a.toolsets == b.toolsets
                    && a.monthly_cap_minor == b.monthly_cap_minor
                    && a.confirm_ttl_seconds == b.confirm_ttl_seconds
                    && a.suggests_postgres == b.suggests_postgres;
                assert!(!same, "{} and {} are the same set-up", a.name, b.name);
            }
        }
        let full = Template::named("full-revops").unwrap();
        assert!(full.suggests_postgres && full.role == Role::Admin);
        assert_eq!(Template::named("Sales-Team").unwrap().role, Role::Rep);
        assert!(
            Template::named("enterprise")
                .unwrap_err()
                .contains("solo-founder")
        );
    }

    #[test]
    fn a_template_gives_a_team_it_does_not_name_toolsets_for_all_of_that_team() {
        let sales = Template::named("sales-team").unwrap();
        assert_eq!(
            sales.toolsets_for(Team::Sales),
            ["leads", "scoring", "accounts", "pipeline", "activities"]
        );
        let marketing_names: Vec<&str> = Team::Marketing
            .toolsets()
            .iter()
            .map(|set| set.name)
            .collect();
        assert_eq!(sales.toolsets_for(Team::Marketing), marketing_names);
        assert_eq!(Team::owning("campaigns"), Some(Team::Marketing));
        assert_eq!(Team::parse(" CS ").unwrap(), Team::Cs);
    }
}
