//! What a tool is (read, write, destructive), read from its MCP annotations, and which roles
//! may call it. Annotations are data: the pipeline, read-only mode and the audit record all
//! read the kind from them, so a tool cannot claim one thing and be treated as another.

use rmcp::model::Tool;
use serde::Serialize;

use crate::identity::Role;

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

/// True when `role` may call a tool of `kind`.
pub fn role_may_call(role: Role, kind: ToolKind) -> bool {
    role >= kind.least_role()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_may_only_read_and_a_rep_may_not_destroy() {
        assert!(role_may_call(Role::Viewer, ToolKind::Read));
        assert!(!role_may_call(Role::Viewer, ToolKind::Write));
        assert!(role_may_call(Role::Rep, ToolKind::Write));
        assert!(!role_may_call(Role::Rep, ToolKind::Destructive));
        assert!(role_may_call(Role::Manager, ToolKind::Destructive));
    }
}
