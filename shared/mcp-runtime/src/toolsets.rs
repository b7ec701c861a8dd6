//! Toolsets: named groups of a server's tools, so a deployment can offer the model only the
//! groups a team uses (a long tool list crowds the model's context).
//!
//! Each [`TeamServer`](crate::TeamServer) declares its groups in `TOOLSETS`; the shared tools
//! ([`CORE_TOOLS`]) are always offered. `--toolsets leads,pipeline` (or `REVOPS_TOOLSETS`)
//! selects groups by name; names are unique across the three servers, so one list serves
//! `revops serve all` too. Read-only mode composes with it: a tool is offered when its group
//! is selected *and* read-only mode allows it.

/// A named group of a server's tools.
#[derive(Debug, Clone, Copy)]
pub struct Toolset {
    pub name: &'static str,
    /// One line on what the group is for (shown by `server_info` and `--help`).
    pub description: &'static str,
    pub tools: &'static [&'static str],
}

/// The tools every server offers whatever the selection.
pub const CORE_TOOLS: &[&str] = &[
    "server_info",
    "audit_query",
    "check_model_health",
    "log_prediction",
    "activate_model",
    "retire_model",
];

/// The variable holding the selected toolsets (comma-separated).
pub const TOOLSETS_VAR: &str = "REVOPS_TOOLSETS";

/// Which groups a server offers: all of them, or the named ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    #[default]
    All,
    Only(Vec<String>),
}

impl Selection {
    /// Parses `leads, pipeline` (blank or `all`: every group). Names are checked later,
    /// against the servers that will run ([`Selection::check`]).
    pub fn parse(text: &str) -> Selection {
        let names: Vec<String> = text
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() || names.iter().any(|n| n == "all") {
            Selection::All
        } else {
            Selection::Only(names)
        }
    }

    /// Every selected name must be a group of one of `servers` (each a server's name and its
    /// toolsets); otherwise the error lists the groups there are.
    pub fn check(&self, servers: &[(&str, &[Toolset])]) -> Result<(), String> {
        let Selection::Only(names) = self else {
            return Ok(());
        };
        for name in names {
            if !servers
                .iter()
                .any(|(_, sets)| sets.iter().any(|set| set.name == name))
            {
                let known: Vec<String> = servers
                    .iter()
                    .map(|(server, sets)| {
                        let names: Vec<&str> = sets.iter().map(|s| s.name).collect();
                        format!("{server}: {}", names.join(", "))
                    })
                    .collect();
                return Err(format!(
                    "unknown toolset {name:?}; the toolsets are {} (or all)",
                    known.join("; ")
                ));
            }
        }
        Ok(())
    }

    /// Whether `tool` of a server with groups `sets` is offered.
    pub fn offers(&self, sets: &[Toolset], tool: &str) -> bool {
        match self {
            Selection::All => true,
            Selection::Only(names) => {
                CORE_TOOLS.contains(&tool)
                    || sets
                        .iter()
                        .any(|set| set.tools.contains(&tool) && names.iter().any(|n| n == set.name))
            }
        }
    }

    /// The selected names, or `None` for all.
    pub fn names(&self) -> Option<&[String]> {
        match self {
            Selection::All => None,
            Selection::Only(names) => Some(names),
        }
    }
}

/// Problems with a server's declared groups against the tools it has: a tool in no group,
/// a group naming a tool the server does not have, a tool in two groups. Empty when sound;
/// each server's tests call this.
pub fn coverage_problems(sets: &[Toolset], tools: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for tool in tools {
        let homes = sets
            .iter()
            .filter(|s| s.tools.contains(&tool.as_str()))
            .count();
        let core = CORE_TOOLS.contains(&tool.as_str());
        match (core, homes) {
            (true, 0) | (false, 1) => {}
            (true, _) => problems.push(format!("{tool} is a core tool and also in a toolset")),
            (false, 0) => problems.push(format!("{tool} is in no toolset")),
            (false, _) => problems.push(format!("{tool} is in {homes} toolsets")),
        }
    }
    for set in sets {
        for tool in set.tools {
            if !tools.iter().any(|t| t == tool) {
                problems.push(format!(
                    "toolset {} names {tool}, which is not a tool",
                    set.name
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETS: &[Toolset] = &[
        Toolset {
            name: "leads",
            description: "leads",
            tools: &["get_lead", "score_lead"],
        },
        Toolset {
            name: "pipeline",
            description: "deals",
            tools: &["pipeline_summary"],
        },
    ];

    #[test]
    fn a_selection_offers_its_groups_and_the_core_tools_only() {
        let only_leads = Selection::parse(" Leads ");
        assert!(only_leads.offers(SETS, "score_lead"));
        assert!(only_leads.offers(SETS, "server_info"));
        assert!(!only_leads.offers(SETS, "pipeline_summary"));
        assert!(Selection::parse("").offers(SETS, "pipeline_summary"));
        assert_eq!(Selection::parse("leads,all"), Selection::All);
    }

    #[test]
    fn an_unknown_toolset_is_refused_with_the_names_there_are() {
        let error = Selection::parse("leads,forecasts")
            .check(&[("sales", SETS)])
            .unwrap_err();
        assert!(error.contains("\"forecasts\""), "{error}");
        assert!(error.contains("sales: leads, pipeline"), "{error}");
    }

    #[test]
    fn coverage_finds_strays_and_doubles() {
        let tools: Vec<String> = ["get_lead", "score_lead", "server_info", "forecast"]
            .map(String::from)
            .to_vec();
        let problems = coverage_problems(SETS, &tools);
        assert!(problems.iter().any(|p| p == "forecast is in no toolset"));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("pipeline_summary, which is not a tool"))
        );
    }
}
