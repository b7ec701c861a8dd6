//! CRM sync tools: `sync_from_crm` (pull HubSpot or Salesforce leads, accounts, deals or
//! contacts into the store) and `push_to_crm` (create or update a lead or a deal in the CRM). Both run in
//! the call's transaction, so a page of pulled records commits with its cursor and its audit entry, and a
//! push records the remote id with its entry. The connections (circuit breaker, rate limits, OAuth
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

/// What to push: one lead or one deal.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PushParams {
    /// hubspot or salesforce.
    pub provider: String,
    /// The lead to push, e.g. lead_000042; give this or opportunity_id, not both.
    #[serde(default)]
    pub lead_id: Option<String>,
    /// The deal to push, e.g. opp_000042; give this or lead_id, not both.
    #[serde(default)]
    pub opportunity_id: Option<String>,
}

/// What a push did: to a lead (`lead_id`) or to a deal (`opportunity_id`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct PushOutcome {
    /// The lead pushed, for a lead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<String>,
    /// The deal pushed, for a deal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<String>,
    pub provider: String,
    /// The CRM record's id, now the lead's or deal's external id.
    pub remote_id: String,
    pub action: connectors::PushAction,
    /// For a deal: the CRM company/account it is linked to (its account's CRM id); absent
    /// when the account is not linked to the CRM (sync accounts first to link it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_remote_id: Option<String>,
    /// The key a create was sent with (the same for every retry of this version of the record).
    pub idempotency_key: String,
}

impl From<connectors::PushReport> for PushOutcome {
    fn from(report: connectors::PushReport) -> Self {
        PushOutcome {
            lead_id: Some(report.lead_id),
            opportunity_id: None,
            provider: report.provider,
            remote_id: report.remote_id,
            action: report.action,
            account_remote_id: None,
            idempotency_key: report.idempotency_key,
        }
    }
}

impl From<connectors::DealPushReport> for PushOutcome {
    fn from(report: connectors::DealPushReport) -> Self {
        PushOutcome {
            lead_id: None,
            opportunity_id: Some(report.opportunity_id),
            provider: report.provider,
            remote_id: report.remote_id,
            action: report.action,
            account_remote_id: report.account_remote_id,
            idempotency_key: report.idempotency_key,
        }
    }
}

/// The one record a push names.
enum PushTarget {
    Lead(String),
    Deal(String),
}

impl PushTarget {
    fn of(params: &PushParams) -> ToolResult<PushTarget> {
        match (params.lead_id.as_deref(), params.opportunity_id.as_deref()) {
            (Some(lead), None) => Ok(PushTarget::Lead(id_arg("lead_id", "lead", lead)?)),
            (None, Some(deal)) => Ok(PushTarget::Deal(id_arg("opportunity_id", "opp", deal)?)),
            (Some(_), Some(_)) => Err(ToolError::invalid(
                "opportunity_id",
                "give lead_id or opportunity_id, not both: one push sends one record",
            )),
            (None, None) => Err(ToolError::invalid(
                "lead_id",
                "give the record to push: lead_id (a lead, e.g. lead_000042) or opportunity_id \
                 (a deal, e.g. opp_000042)",
            )),
        }
    }
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
        description = "Push one lead or one deal to the CRM (HubSpot or Salesforce): create it there, or update the \
            record it is linked to, and keep the CRM id on the lead or deal. Give lead_id or opportunity_id, not \
            both. A lead not linked yet is matched by its email first. A deal goes to a HubSpot deal or a \
            Salesforce opportunity with its stage, amount and close date, linked to the CRM company/account its \
            account is synced from (sync accounts first; otherwise it is pushed without one). A retried push never \
            creates a second record. Needs the CRM's credentials in the vault. \
            Example: {\"provider\": \"hubspot\", \"lead_id\": \"lead_000042\"} or \
            {\"provider\": \"salesforce\", \"opportunity_id\": \"opp_000042\"}.",
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
    ) -> Result<Json<PushOutcome>, ToolError> {
        let provider = choice_arg("provider", &params.provider, &PROVIDERS)?;
        let target = PushTarget::of(&params)?;
        // The record must exist before any credential is looked at, so a typo gets its own
        // answer.
        match &target {
            PushTarget::Lead(id) => drop(store::leads::get(self.runtime.store(), id).await?),
            PushTarget::Deal(id) => {
                drop(store::opportunities::get_one(self.runtime.store(), id).await?);
            }
        }
        let outcome = if provider == "hubspot" {
            let crm = self.hubspot().await?;
            let mut tx = scope.transaction().await?;
            push_in(&mut tx, crm, &target).await
        } else {
            let crm = self.salesforce().await?;
            let mut tx = scope.transaction().await?;
            push_in(&mut tx, crm, &target).await
        }
        .map_err(crm_error)?;
        Ok(Json(outcome))
    }
}

/// Pushes the target inside the call's transaction.
async fn push_in<C: connectors::Crm>(
    tx: &mut store::WriteTx,
    crm: &C,
    target: &PushTarget,
) -> Result<PushOutcome, ConnectorError> {
    Ok(match target {
        PushTarget::Lead(id) => connectors::push_lead_in(tx, crm, id).await?.into(),
        PushTarget::Deal(id) => connectors::push_deal_in(tx, crm, id).await?.into(),
    })
}
