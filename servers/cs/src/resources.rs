//! The customer-success server's resources: account overviews and the portfolio, as JSON.

use mcp_runtime::ToolResult;
use mcp_runtime::errors::id_arg;
use rmcp::model::{Resource, ResourceTemplate};

pub(crate) fn fixed() -> Vec<Resource> {
    vec![Resource::new("cs://portfolio", "portfolio")
        .with_title("Portfolio by lifecycle stage")
        .with_description("Account count and MRR (minor units) per lifecycle stage: trial, active, at_risk, churned.")
        .with_mime_type("application/json")]
}

pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("cs://accounts/{account_id}", "account-overview")
            .with_title("Account overview")
            .with_description(
                "One account with 12 weeks of usage, open tickets, NPS and recent touchpoints.",
            )
            .with_mime_type("application/json"),
    ]
}

pub(crate) async fn read(store: &store::Store, uri: &str) -> ToolResult<Option<serde_json::Value>> {
    let to_json = |value: serde_json::Result<serde_json::Value>| {
        value.map_err(|error| {
            mcp_runtime::ToolError::Unavailable(format!("cannot encode the record: {error}"))
        })
    };
    if uri == "cs://portfolio" {
        let totals = store::accounts::totals_by_lifecycle(store, None).await?;
        return Ok(Some(to_json(serde_json::to_value(totals))?));
    }
    if let Some(id) = uri.strip_prefix("cs://accounts/") {
        let id = id_arg("account_id", "acc", id)?;
        let overview = crate::account_overview(store, &id, 12).await?;
        return Ok(Some(to_json(serde_json::to_value(overview))?));
    }
    Ok(None)
}
