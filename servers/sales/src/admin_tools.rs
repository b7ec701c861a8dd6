//! Admin tools: `list_credentials` and `delete_credential` (gated). Only the admin role may
//! call them under the default policy: each declares it in its `_meta`
//! (`mcp_runtime::policy::least_role_meta`). Neither needs the
//! master key, and neither ever shows a credential's value: the vault stores only sealed
//! values, and these tools read names, providers and ages.

use mcp_runtime::errors::required_text;
use mcp_runtime::gates::Gated;
use mcp_runtime::{CallScope, ToolError};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vault::{CredentialInfo, VaultError};

use crate::SalesServer;

/// The stored credentials.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CredentialList {
    /// Names, providers, key versions and ages; never a value.
    pub credentials: Vec<CredentialInfo>,
    /// How to add one when there are none.
    pub hint: Option<String>,
}

/// Which credential to delete.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CredentialRef {
    /// Who issued it, e.g. hubspot or salesforce.
    pub provider: String,
    /// Which credential of that provider, e.g. private_app_token or refresh_token.
    pub name: String,
}

fn vault_error(error: VaultError) -> ToolError {
    match error {
        VaultError::NotFound { .. } => {
            ToolError::NotFound(format!("{error}; list_credentials shows what is stored"))
        }
        VaultError::Store(store) => store.into(),
        other => ToolError::Unavailable(other.to_string()),
    }
}

#[tool_router(router = admin_router, vis = "pub(crate)")]
impl SalesServer {
    #[tool(
        meta = mcp_runtime::policy::least_role_meta(mcp_runtime::Role::Admin),
        description = "List the CRM credentials stored in the encrypted vault: provider, name, key version, when \
            set and how old, when they expire. Never shows a value. Admin only. Example: {}.",
        annotations(
            title = "List credentials",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn list_credentials(&self) -> Result<Json<CredentialList>, ToolError> {
        let credentials = vault::list(self.runtime.store())
            .await
            .map_err(vault_error)?;
        let hint = credentials.is_empty().then(|| {
            "no credentials are stored; an operator adds one with `revops vault set PROVIDER NAME` \
             (after `revops vault init`)"
                .to_string()
        });
        Ok(Json(CredentialList { credentials, hint }))
    }

    #[tool(
        meta = mcp_runtime::policy::least_role_meta(mcp_runtime::Role::Admin),
        description = "Delete one stored CRM credential (e.g. a revoked HubSpot token). Destructive and gated: the \
            first call changes nothing and returns what would be deleted with a confirm_token; call again with the \
            same arguments plus confirm_token to delete. Admin only. \
            Example: {\"provider\": \"hubspot\", \"name\": \"private_app_token\"}.",
        annotations(
            title = "Delete credential",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub(crate) async fn delete_credential(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CredentialRef>,
    ) -> Result<Json<Gated<CredentialInfo>>, ToolError> {
        let provider = required_text("provider", &params.provider, 128)?;
        let name = required_text("name", &params.name, 128)?;
        let mut tx = scope.transaction().await?;
        let deleted = vault::delete(&mut tx, &provider, &name)
            .await
            .map_err(vault_error)?;
        Ok(Json(Gated::done(deleted)))
    }
}
