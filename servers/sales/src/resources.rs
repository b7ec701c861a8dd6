//! The sales server's resources: CRM records by URI, as JSON.

use mcp_runtime::ToolResult;
use mcp_runtime::errors::id_arg;
use rmcp::model::{Resource, ResourceTemplate};

pub(crate) fn fixed() -> Vec<Resource> {
    vec![
        Resource::new("crm://pipeline", "pipeline")
            .with_title("Pipeline by stage")
            .with_description(
                "Deal count, value and weighted value per pipeline stage, company-wide.",
            )
            .with_mime_type("application/json"),
        Resource::new("models://lead_scorer/metadata", "lead_scorer")
            .with_title("Lead scoring model")
            .with_description(
                "The lead scoring model in use: name, version, when trained, weights, tier thresholds, industry fit table and feature importance.",
            )
            .with_mime_type("application/json"),
    ]
}

pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("crm://accounts/{account_id}", "account")
            .with_title("Account")
            .with_description("One account with its contacts and opportunities.")
            .with_mime_type("application/json"),
        ResourceTemplate::new("crm://leads/{lead_id}", "lead")
            .with_title("Lead")
            .with_description("One lead with its engagement signals.")
            .with_mime_type("application/json"),
        ResourceTemplate::new("crm://opportunities/{opportunity_id}", "opportunity")
            .with_title("Opportunity")
            .with_description("One deal.")
            .with_mime_type("application/json"),
    ]
}

pub(crate) async fn read(
    store: &store::Store,
    lead_model: &scoring::lead::LeadModel,
    uri: &str,
) -> ToolResult<Option<serde_json::Value>> {
    let to_json = |value: serde_json::Result<serde_json::Value>| {
        value.map_err(|error| {
            mcp_runtime::ToolError::Unavailable(format!("cannot encode the record: {error}"))
        })
    };
    if uri == "models://lead_scorer/metadata" {
        return Ok(Some(to_json(serde_json::to_value(lead_model.metadata()))?));
    }
    if uri == "crm://pipeline" {
        let stages = store::opportunities::totals_by_stage(store, None).await?;
        return Ok(Some(to_json(serde_json::to_value(stages))?));
    }
    if let Some(id) = uri.strip_prefix("crm://accounts/") {
        let id = id_arg("account_id", "acc", id)?;
        let account = store::accounts::get(store, &id).await?;
        let contacts = store::accounts::contacts_of(store, &id).await?;
        let opportunities = store::opportunities::for_account(store, &id).await?;
        let view = crate::AccountView {
            account,
            contacts,
            opportunities,
        };
        return Ok(Some(to_json(serde_json::to_value(view))?));
    }
    if let Some(id) = uri.strip_prefix("crm://leads/") {
        let id = id_arg("lead_id", "lead", id)?;
        return Ok(Some(to_json(serde_json::to_value(
            store::leads::get(store, &id).await?,
        ))?));
    }
    if let Some(id) = uri.strip_prefix("crm://opportunities/") {
        let id = id_arg("opportunity_id", "opp", id)?;
        return Ok(Some(to_json(serde_json::to_value(
            store::opportunities::get_one(store, &id).await?,
        ))?));
    }
    Ok(None)
}
