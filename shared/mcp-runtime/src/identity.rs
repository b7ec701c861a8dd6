//! Who is calling: the actor (a person or service account) and the role that decides what
//! they may do. On stdio the actor comes from configuration (`REVOPS_ACTOR`, `REVOPS_ROLE`);
//! on HTTP from the configured actor of the bearer token.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a role may do. Ordered: each role may do everything the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads only.
    Viewer,
    /// Reads and ordinary writes (log an activity, update a lead).
    Rep,
    /// Also destructive tools, each behind a confirmation.
    Manager,
    /// Also administration: raising budget caps, credentials.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Rep => "rep",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "rep" => Ok(Role::Rep),
            "manager" => Ok(Role::Manager),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}; use one of viewer, rep, manager, admin"
            )),
        }
    }
}

/// The person or service account on whose behalf tools run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

/// The variable naming the actor of a stdio session.
pub const ACTOR_VAR: &str = "REVOPS_ACTOR";
/// The variable naming the actor's role.
pub const ROLE_VAR: &str = "REVOPS_ROLE";

impl Actor {
    /// `REVOPS_ACTOR` (default: the operating-system user) with `REVOPS_ROLE` (default:
    /// rep). An unknown role is an error, not a silent downgrade or upgrade.
    pub fn from_env() -> Result<Actor, String> {
        Actor::from_env_with(&crate::policy::Policy::default())
    }

    /// [`Actor::from_env`], reading `REVOPS_ROLE` with the policy's role names.
    pub fn from_env_with(policy: &crate::policy::Policy) -> Result<Actor, String> {
        let name = store::config::var(ACTOR_VAR)
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("USERNAME").ok())
            .unwrap_or_else(|| "local-user".to_string());
        let role = match store::config::var(ROLE_VAR) {
            Some(text) => policy.parse_role(&text)?,
            None => Role::Rep,
        };
        Ok(Actor {
            name: name.trim().chars().take(120).collect(),
            role,
        })
    }
}
