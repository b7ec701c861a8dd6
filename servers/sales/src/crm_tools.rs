//! CRM sync tools: `sync_from_crm` (pull HubSpot or Salesforce leads, accounts, deals or
//! contacts into the store) and `push_to_crm` (create or update a lead in the CRM). Both run in the call's
//! transaction, so a page of pulled records commits with its cursor and its audit entry, and a push
//! records the remote id with its entry. The connections (circuit breaker, rate limits, OAuth
//! token) live as long as the server; credentials come from the vault
//! (`REVOPS_MASTER_KEY`), and without them the tools say how to set them up. Base URLs can
//! point at a sandbox: `REVOPS_HUBSPOT_URL`, `REVOPS_SALESFORCE_LOGIN_URL`.

use std::sync::Arc;

use connectors::{ConnectorError, HubSpot, HubSpotConfig, Salesforce, SalesforceConfig};
use mcp_runtime::errors::{choice_arg, id_arg, range_arg};
use mcp_runtime::{CallScope, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::SalesServer;

/// The CRM connections of one server, opened on first use.
#[derive(Default)]
pub(crate) struct CrmConnections {
    hubspot: OnceCell<HubSpot>,
    salesforce: OnceCell<Salesforce>,
}

impl std::fmt::Debug for CrmConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrmConnections").finish_non_exhaustive()
    }
}

const PROVIDERS: [&str; 2] = ["hubspot", "salesforce"];

fn crm_error(error: ConnectorError) -> ToolError {
    // Limit refusals are counted for `/metrics` (`mcp_rate_limit_violations_total`).
    match &error {
        ConnectorError::Upstream(resilience::Error::RateLimited { scope, .. }) => {
            mcp_runtime::metrics::rate_limit_violation(&scope.to_string());
        }
        ConnectorError::Upstream(resilience::Error::Throttled { upstream, .. }) => {
            mcp_runtime::metrics::rate_limit_violation(&format!("{upstream} 429"));
        }
        _ => {}
    }
    match error {
        ConnectorError::NotFound { .. } => ToolError::NotFound(error.to_string()),
        ConnectorError::Store(store) => store.into(),
        other => ToolError::Unavailable(other.to_string()),
    }
}

/// The breaker of an upstream as `/metrics` and `/healthz` show it.
fn position(state: resilience::BreakerState) -> mcp_runtime::metrics::BreakerPosition {
    use mcp_runtime::metrics::BreakerPosition;
    match state {
        resilience::BreakerState::Closed => BreakerPosition::Closed,
        resilience::BreakerState::HalfOpen => BreakerPosition::HalfOpen,
        resilience::BreakerState::Open => BreakerPosition::Open,
    }
}

fn env_url(var: &str) -> Option<String> {
    store::config::var(var)
}

impl SalesServer {
    async fn hubspot(&self) -> ToolResult<&HubSpot> {
        self.crm
            .hubspot
            .get_or_try_init(|| async {
                let mut config = HubSpotConfig::default();
                if let Some(url) = env_url("REVOPS_HUBSPOT_URL") {
                    config = config.with_base_url(url);
                }
                let hubspot = HubSpot::from_env(self.runtime.store(), config).await?;
                // Watched through a weak reference: the gauge goes when the server does.
                let crm = Arc::downgrade(&self.crm);
                mcp_runtime::metrics::watch_breaker("HubSpot", move || {
                    let crm = crm.upgrade()?;
                    // Not set yet while this very initialisation finishes: closed.
                    Some(
                        crm.hubspot
                            .get()
                            .map_or(mcp_runtime::metrics::BreakerPosition::Closed, |api| {
                                position(api.health().breaker)
                            }),
                    )
                });
                Ok(hubspot)
            })
            .await
            .map_err(crm_error)
    }

    async fn salesforce(&self) -> ToolResult<&Salesforce> {
        self.crm
            .salesforce
            .get_or_try_init(|| async {
                let mut config = SalesforceConfig::default();
                if let Some(url) = env_url("REVOPS_SALESFORCE_LOGIN_URL") {
                    config = config.with_login_url(url);
                }
                let salesforce = Salesforce::from_env(self.runtime.store(), config).await?;
                let crm = Arc::downgrade(&self.crm);
                mcp_runtime::metrics::watch_breaker("Salesforce", move || {
                    let crm = crm.upgrade()?;
                    Some(
                        crm.salesforce
                            .get()
                            .map_or(mcp_runtime::metrics::BreakerPosition::Closed, |api| {
                                position(api.health().breaker)
                            }),
                    )
                });
                Ok(salesforce)
            })
            .await
            .map_err(crm_error)
    }
}

/// What to pull.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SyncParams {
    /// hubspot or salesforce.
    pub provider: String,
    /// leads (HubSpot contacts, Salesforce leads), accounts (HubSpot companies, Salesforce
    /// accounts), deals (HubSpot deals, Salesforce opportunities) or contacts (people at
    /// accounts: Salesforce contacts, HubSpot contacts associated with a company); sync
    /// accounts first, a deal or contact whose company is not synced is reported as
    /// unlinked; default leads.
    #[serde(default)]
    pub kind: Option<String>,
    /// Most pages to pull in this call, 1-20 (default 5); run again to continue.
    #[serde(default)]
    pub max_pages: Option<i64>,
}

/// What a sync did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SyncOutcome {
    #[serde(flatten)]
    pub report: connectors::SyncReport,
    /// Why the run stopped early, if the CRM failed part-way; the pages before it are kept
    /// and the next run resumes after them.
    pub stopped_by: Option<String>,
}

/// What to push.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PushParams {
    /// hubspot or salesforce.
    pub provider: String,
    /// The lead, e.g. lead_000042.
    pub lead_id: String,
}

#[tool_router(router = crm_router, vis = "pub(crate)")]
impl SalesServer {
    #[tool(
        description = "Pull records from the CRM (HubSpot or Salesforce) into the local store: leads (HubSpot \
            contacts, Salesforce leads), accounts (companies), deals (HubSpot deals, Salesforce opportunities, \
            with stages mapped to the local ones and amounts in minor units; each deal is linked to the account \
            synced from its company, so sync accounts first: a deal without one is reported as unlinked, never \
            given an invented account) or contacts (people at accounts: Salesforce contacts, and HubSpot contacts \
            associated with a company, linked to the account synced from it the same way, so sync accounts first; \
            HubSpot contacts without a company stay leads, synced with kind leads; a local contact with the same \
            email is linked, not duplicated). Each record is upserted by its CRM id, so running it again creates \
            nothing twice; it resumes from where the last run stopped, a few pages per call (run \
            again while complete is false). Needs the CRM's credentials in the vault. \
            Example: {\"provider\": \"hubspot\", \"kind\": \"leads\", \"max_pages\": 5}.",
        annotations(
            title = "Sync from CRM",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    pub(crate) async fn sync_from_crm(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<SyncParams>,
    ) -> Result<Json<SyncOutcome>, ToolError> {
        let provider = choice_arg("provider", &params.provider, &PROVIDERS)?;
        let kind = match choice_arg(
            "kind",
            params.kind.as_deref().unwrap_or("leads"),
            &["leads", "accounts", "deals", "contacts"],
        )?
        .as_str()
        {
            "accounts" => connectors::SyncKind::Accounts,
            "deals" => connectors::SyncKind::Deals,
            "contacts" => connectors::SyncKind::Contacts,
            _ => connectors::SyncKind::Leads,
        };
        let max_pages = u32::try_from(range_arg(
            "max_pages",
            params.max_pages.unwrap_or(5),
            1,
            20,
        )?)
        .unwrap_or(5);
        let (report, stopped) = if provider == "hubspot" {
            let crm = self.hubspot().await?;
            let mut tx = scope.transaction().await?;
            connectors::sync::sync_from_crm_in(&mut tx, crm, kind, max_pages).await
        } else {
            let crm = self.salesforce().await?;
            let mut tx = scope.transaction().await?;
            connectors::sync::sync_from_crm_in(&mut tx, crm, kind, max_pages).await
        }
        .map_err(crm_error)?;
        Ok(Json(SyncOutcome {
            report,
            stopped_by: stopped.map(|error| error.to_string()),
        }))
    }

    #[tool(
        description = "Push one lead to the CRM (HubSpot or Salesforce): create it there, or update the record it is \
            linked to (or one found by its email), and keep the CRM id on the lead. A retried push never creates a \
            second record. Needs the CRM's credentials in the vault. \
            Example: {\"provider\": \"hubspot\", \"lead_id\": \"lead_000042\"}.",
        annotations(
            title = "Push to CRM",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    pub(crate) async fn push_to_crm(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<PushParams>,
    ) -> Result<Json<connectors::PushReport>, ToolError> {
        let provider = choice_arg("provider", &params.provider, &PROVIDERS)?;
        let lead_id = id_arg("lead_id", "lead", &params.lead_id)?;
        // The lead must exist before any credential is looked at, so a typo gets its own answer.
        store::leads::get(self.runtime.store(), &lead_id).await?;
        let report = if provider == "hubspot" {
            let crm = self.hubspot().await?;
            let mut tx = scope.transaction().await?;
            connectors::push_lead_in(&mut tx, crm, &lead_id).await
        } else {
            let crm = self.salesforce().await?;
            let mut tx = scope.transaction().await?;
            connectors::push_lead_in(&mut tx, crm, &lead_id).await
        }
        .map_err(crm_error)?;
        Ok(Json(report))
    }
}
