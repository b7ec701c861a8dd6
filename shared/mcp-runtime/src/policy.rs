//! What a tool is (read, write, destructive), read from its MCP annotations, and which roles
//! may call it. Annotations are data: the pipeline, read-only mode and the audit record all
//! read the kind from them, so a tool cannot claim one thing and be treated as another.
//!
//! Without a policy file, a role may call tools of the kinds it allows (viewer: read; rep:
//! also write; manager: also destructive); a tool may raise that in its `_meta`
//! ([`least_role_meta`]), as the credential tools do (admin only). A policy file (`REVOPS_POLICY_FILE`, JSON) can
//! name the least role of each tool, and then every tool it does not name is denied; it also
//! holds the HTTP bearer tokens, as SHA-256 digests, with the actor and role of each.

use std::collections::BTreeMap;

use rmcp::model::Tool;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::{Actor, Role};

/// How much a tool can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// Changes nothing (`readOnlyHint: true`).
    Read,
    /// Changes records, reversibly (`readOnlyHint: false`, `destructiveHint: false`).
    Write,
    /// May delete or irreversibly change records or spend (`destructiveHint: true`).
    Destructive,
}

impl ToolKind {
    /// The kind a tool declares. A tool without annotations counts as destructive: the
    /// safe reading of a tool that says nothing about itself.
    pub fn of(tool: &Tool) -> ToolKind {
        match &tool.annotations {
            Some(a) if a.read_only_hint == Some(true) => ToolKind::Read,
            Some(a) if a.destructive_hint == Some(false) => ToolKind::Write,
            _ => ToolKind::Destructive,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ToolKind::Read => "read",
            ToolKind::Write => "write",
            ToolKind::Destructive => "destructive",
        }
    }

    /// The least role allowed to call a tool of this kind.
    pub fn least_role(self) -> Role {
        match self {
            ToolKind::Read => Role::Viewer,
            ToolKind::Write => Role::Rep,
            ToolKind::Destructive => Role::Manager,
        }
    }
}

/// The `_meta` key by which a tool raises its least role above its kind's (e.g. the
/// credential tools: admin, whatever their kind).
pub const LEAST_ROLE_META: &str = "revops/least_role";

/// The `_meta` a tool declares to need at least `role` under the default policy:
/// `#[tool(meta = mcp_runtime::policy::least_role_meta(Role::Admin), …)]`.
pub fn least_role_meta(role: Role) -> rmcp::model::MetaObject {
    let mut meta = rmcp::model::MetaObject::new();
    meta.0.insert(
        LEAST_ROLE_META.into(),
        serde_json::Value::from(role.as_str()),
    );
    meta
}

/// The least role of a tool under the default policy: the one its `_meta` declares, else
/// its kind's.
pub fn default_least_role(tool: &Tool) -> Role {
    tool.meta
        .as_ref()
        .and_then(|meta| meta.0.get(LEAST_ROLE_META))
        .and_then(|value| value.as_str())
        .and_then(|name| name.parse().ok())
        .unwrap_or_else(|| ToolKind::of(tool).least_role())
}

/// True when `role` may call a tool of `kind` under the default (kind-based) policy.
pub fn role_may_call(role: Role, kind: ToolKind) -> bool {
    role >= kind.least_role()
}

/// The variable naming the policy file.
pub const POLICY_FILE_VAR: &str = "REVOPS_POLICY_FILE";

/// Who may call what, who the HTTP bearer tokens belong to, and what the roles are called.
///
/// ```json
/// {
///   "role_names": { "viewer": "analyst", "rep": "seller", "manager": "sales-lead", "admin": "revops" },
///   "tools": { "get_lead": "analyst", "log_activity": "seller", "delete_campaign": "sales-lead" },
///   "http_tokens": [ { "actor": "dana@example.com", "role": "seller", "token_sha256": "9f86d0…" } ]
/// }
/// ```
///
/// `role_names` renames the four built-in roles (their order and powers stay): the new names
/// are accepted wherever a role is named (`REVOPS_ROLE`, `tools`, `http_tokens`) beside the
/// built-in ones, and messages use them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "PolicyFile")]
pub struct Policy {
    /// The least role of each tool. When present, a tool it does not name is denied.
    pub tools: Option<BTreeMap<String, Role>>,
    /// HTTP bearer tokens, stored as SHA-256 digests (hex), never in the clear.
    pub http_tokens: Vec<HttpToken>,
    /// The organisation's names for the built-in roles.
    pub role_names: BTreeMap<Role, String>,
}

/// A policy file as written, before role names are resolved.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    role_names: BTreeMap<Role, String>,
    #[serde(default)]
    tools: Option<BTreeMap<String, String>>,
    #[serde(default)]
    http_tokens: Vec<HttpTokenFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpTokenFile {
    actor: String,
    role: String,
    token_sha256: String,
}

impl TryFrom<PolicyFile> for Policy {
    type Error = String;

    fn try_from(file: PolicyFile) -> Result<Policy, String> {
        let mut seen: Vec<String> = Vec::new();
        for (role, name) in &file.role_names {
            let name = name.trim().to_ascii_lowercase();
            let valid = !name.is_empty()
                && name.len() <= 40
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(format!(
                    "role_names: the name for {role} must be 1-40 letters, digits, - or _"
                ));
            }
            if let Ok(other) = name.parse::<Role>()
                && other != *role
            {
                return Err(format!(
                    "role_names: {name:?} is the built-in name of another role; choose another name for {role}"
                ));
            }
            if seen.contains(&name) {
                return Err(format!("role_names: {name:?} names two roles"));
            }
            seen.push(name);
        }
        let mut policy = Policy {
            tools: None,
            http_tokens: Vec::new(),
            role_names: file
                .role_names
                .into_iter()
                .map(|(role, name)| (role, name.trim().to_ascii_lowercase()))
                .collect(),
        };
        if let Some(tools) = file.tools {
            let mut resolved = BTreeMap::new();
            for (tool, role) in tools {
                let role = policy
                    .parse_role(&role)
                    .map_err(|e| format!("tools.{tool}: {e}"))?;
                resolved.insert(tool, role);
            }
            policy.tools = Some(resolved);
        }
        for token in file.http_tokens {
            let role = policy
                .parse_role(&token.role)
                .map_err(|e| format!("the token of {}: {e}", token.actor))?;
            policy.http_tokens.push(HttpToken {
                actor: token.actor,
                role,
                token_sha256: token.token_sha256,
            });
        }
        Ok(policy)
    }
}

/// One HTTP bearer token and whom it stands for.
#[derive(Debug, Clone)]
pub struct HttpToken {
    pub actor: String,
    pub role: Role,
    /// SHA-256 of the token, hex (`revops token new` prints both).
    pub token_sha256: String,
}

/// A fresh bearer token: `rvt_` and 64 hex digits from the operating system's CSPRNG-seeded
/// generator (256 bits).
pub fn new_token() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    let bytes: Vec<u8> = (0..32).map(|_| rng.random()).collect();
    format!("rvt_{}", hex::encode(bytes))
}

/// SHA-256 of a bearer token, hex: what a policy file stores.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Policy {
    /// The role a name stands for: a built-in name or one of `role_names`.
    pub fn parse_role(&self, text: &str) -> Result<Role, String> {
        let wanted = text.trim().to_ascii_lowercase();
        if let Some((role, _)) = self.role_names.iter().find(|(_, name)| **name == wanted) {
            return Ok(*role);
        }
        wanted.parse::<Role>().map_err(|_| {
            let names: Vec<&str> = [Role::Viewer, Role::Rep, Role::Manager, Role::Admin]
                .into_iter()
                .map(|role| self.role_name(role))
                .collect();
            format!("unknown role {wanted:?}; use one of {}", names.join(", "))
        })
    }

    /// What the organisation calls a role.
    pub fn role_name(&self, role: Role) -> &str {
        self.role_names
            .get(&role)
            .map_or(role.as_str(), String::as_str)
    }

    /// The policy file named by `REVOPS_POLICY_FILE`, or the default policy.
    pub fn from_env() -> Result<Policy, String> {
        match store::config::var(POLICY_FILE_VAR) {
            Some(path) => Policy::load(std::path::Path::new(path.trim())),
            None => Ok(Policy::default()),
        }
    }

    /// Reads a policy file; a file that does not parse is an error, never a silent default.
    pub fn load(path: &std::path::Path) -> Result<Policy, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the policy file {}: {error}", path.display()))?;
        let policy: Policy = serde_json::from_str(&text)
            .map_err(|error| format!("the policy file {} is not valid: {error}", path.display()))?;
        for token in &policy.http_tokens {
            if token.token_sha256.len() != 64
                || !token.token_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(format!(
                    "the policy file {}: the token of {} must be a SHA-256 digest (64 hex digits), not the token itself",
                    path.display(),
                    token.actor
                ));
            }
        }
        Ok(policy)
    }

    /// `None` when `role` may call `tool`; otherwise why not. `least_by_default` is the
    /// tool's least role when no policy file names the tools ([`default_least_role`]).
    pub fn refusal(&self, tool: &str, least_by_default: Role, role: Role) -> Option<String> {
        let least = match &self.tools {
            Some(map) => match map.get(tool) {
                Some(least) => *least,
                None => {
                    return Some(format!(
                        "{tool} is not named in the policy file, so it is denied to every role; an admin can add it under \"tools\" in {POLICY_FILE_VAR}"
                    ));
                }
            },
            None => least_by_default,
        };
        (role < least).then(|| {
            let (least, role) = (self.role_name(least), self.role_name(role));
            format!("{tool} needs the {least} role and the role {role} is not enough; ask an admin for the {least} role")
        })
    }

    /// The actor a bearer token stands for, if the policy knows it.
    pub fn actor_for_token(&self, token: &str) -> Option<Actor> {
        let digest = token_digest(token);
        self.http_tokens
            .iter()
            .find(|t| {
                constant_time_eq(
                    t.token_sha256.to_ascii_lowercase().as_bytes(),
                    digest.as_bytes(),
                )
            })
            .map(|t| Actor {
                name: t.actor.clone(),
                role: t.role,
            })
    }
}

/// Compares without stopping at the first difference, so timing does not reveal a token.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (i, byte) in a.iter().enumerate() {
        difference |= usize::from(byte ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_with_a_tool_map_denies_every_tool_it_does_not_name() {
        let policy: Policy =
            serde_json::from_str(r#"{"tools": {"get_lead": "viewer", "log_activity": "manager"}}"#)
                .unwrap();
        assert_eq!(
            policy.refusal("get_lead", ToolKind::Read.least_role(), Role::Viewer),
            None
        );
        assert!(
            policy
                .refusal("log_activity", ToolKind::Write.least_role(), Role::Rep)
                .unwrap()
                .contains("needs the manager role")
        );
        assert!(
            policy
                .refusal("list_leads", ToolKind::Read.least_role(), Role::Admin)
                .unwrap()
                .contains("not named in the policy file")
        );
        let default = Policy::default();
        assert_eq!(
            default.refusal("list_leads", ToolKind::Read.least_role(), Role::Viewer),
            None
        );
        assert!(
            default
                .refusal(
                    "delete_campaign",
                    ToolKind::Destructive.least_role(),
                    Role::Rep
                )
                .is_some()
        );
    }

    #[test]
    fn renamed_roles_are_accepted_everywhere_a_role_is_named_and_used_in_messages() {
        let policy: Policy = serde_json::from_str(
            r#"{"role_names": {"viewer": "Analyst", "manager": "sales-lead"},
                "tools": {"get_lead": "analyst", "delete_leads": "sales-lead", "log_activity": "rep"}}"#,
        )
        .unwrap();
        assert_eq!(policy.parse_role("analyst").unwrap(), Role::Viewer);
        assert_eq!(policy.parse_role("viewer").unwrap(), Role::Viewer);
        assert_eq!(
            policy.tools.as_ref().unwrap()["delete_leads"],
            Role::Manager
        );
        let refusal = policy
            .refusal(
                "delete_leads",
                ToolKind::Destructive.least_role(),
                Role::Viewer,
            )
            .unwrap();
        assert!(
            refusal.contains("needs the sales-lead role and the role analyst"),
            "{refusal}"
        );
        assert!(
            policy
                .parse_role("boss")
                .unwrap_err()
                .contains("analyst, rep, sales-lead, admin")
        );
        let clash = serde_json::from_str::<Policy>(r#"{"role_names": {"viewer": "admin"}}"#);
        assert!(
            clash
                .unwrap_err()
                .to_string()
                .contains("built-in name of another role")
        );
    }

    #[test]
    fn a_token_maps_to_its_actor_only_by_its_digest() {
        let json = format!(
            r#"{{"http_tokens": [{{"actor": "dana", "role": "rep", "token_sha256": "{}"}}]}}"#,
            token_digest("s3cret")
        );
        let policy: Policy = serde_json::from_str(&json).unwrap();
        assert_eq!(policy.actor_for_token("s3cret").unwrap().name, "dana");
        assert!(policy.actor_for_token("s3cret ").is_none());
        assert!(policy.actor_for_token(&token_digest("s3cret")).is_none());
    }

    #[test]
    fn a_viewer_may_only_read_and_a_rep_may_not_destroy() {
        assert!(role_may_call(Role::Viewer, ToolKind::Read));
        assert!(!role_may_call(Role::Viewer, ToolKind::Write));
        assert!(role_may_call(Role::Rep, ToolKind::Write));
        assert!(!role_may_call(Role::Rep, ToolKind::Destructive));
        assert!(role_may_call(Role::Manager, ToolKind::Destructive));
    }
}
