//! The marketing server's resources: campaigns by URI, as JSON.

use mcp_runtime::ToolResult;
use mcp_runtime::errors::id_arg;
use rmcp::model::{Resource, ResourceTemplate};

pub(crate) fn fixed() -> Vec<Resource> {
    vec![
        Resource::new("mkt://campaigns/active", "active-campaigns")
            .with_title("Active campaigns")
            .with_description("The first 100 active campaigns with caps, spend and results.")
            .with_mime_type("application/json"),
    ]
}

pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("mkt://campaigns/{campaign_id}", "campaign")
            .with_title("Campaign")
            .with_description("One campaign with caps, spend, touches and leads.")
            .with_mime_type("application/json"),
    ]
}

pub(crate) async fn read(store: &store::Store, uri: &str) -> ToolResult<Option<serde_json::Value>> {
    let to_json = |value: serde_json::Result<serde_json::Value>| {
        value.map_err(|error| {
            mcp_runtime::ToolError::Unavailable(format!("cannot encode the record: {error}"))
        })
    };
    if uri == "mkt://campaigns/active" {
        let filter = store::campaigns::CampaignFilter {
            status: Some("active".into()),
            channel: None,
        };
        let page = store::campaigns::list(store, &filter, None, Some(100)).await?;
        return Ok(Some(to_json(serde_json::to_value(page.items))?));
    }
    if let Some(id) = uri.strip_prefix("mkt://campaigns/") {
        let id = id_arg("campaign_id", "cmp", id)?;
        return Ok(Some(to_json(serde_json::to_value(
            store::campaigns::get_summary(store, &id).await?,
        ))?));
    }
    Ok(None)
}
