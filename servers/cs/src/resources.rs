//! The customer-success server's resources, as JSON: account overviews, the portfolio, an
//! account's health and churn risk (`cs://accounts/{account_id}/health`) and the first page
//! of at-risk accounts (`cs://at-risk`).

use mcp_runtime::ToolResult;
use mcp_runtime::errors::id_arg;
use rmcp::model::{Resource, ResourceTemplate};

pub(crate) fn fixed() -> Vec<Resource> {
    vec![
        Resource::new("cs://portfolio", "portfolio")
        .with_title("Portfolio by lifecycle stage")
        .with_description("Account count and MRR (minor units) per lifecycle stage: trial, active, at_risk, churned.")
        .with_mime_type("application/json"),
        Resource::new("cs://at-risk", "at-risk")
            .with_title("Accounts at risk")
            .with_description("Active and at-risk accounts with churn risk 50 or more, most MRR at risk first (first 50).")
            .with_mime_type("application/json"),
    ]
}

pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("cs://accounts/{account_id}", "account-overview")
            .with_title("Account overview")
            .with_description(
                "One account with 12 weeks of usage, open tickets, NPS and recent touchpoints.",
            )
            .with_mime_type("application/json"),
        ResourceTemplate::new("cs://accounts/{account_id}/health", "account-health")
            .with_title("Account health and churn risk")
            .with_description(
                "One account's health score (factors, trend, risk level) and churn risk (signals, interventions), as of its latest usage week.",
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
    if uri == "cs://at-risk" {
        let model = scoring::churn::ChurnModel::default_v1();
        let page = crate::health_tools::at_risk_page(
            store,
            &model,
            store::health::Scope::default(),
            false,
            50,
            None,
            50,
        )
        .await?;
        return Ok(Some(to_json(serde_json::to_value(page))?));
    }
    if let Some(id) = uri
        .strip_prefix("cs://accounts/")
        .and_then(|rest| rest.strip_suffix("/health"))
    {
        let id = id_arg("account_id", "acc", id)?;
        let health = crate::health_tools::account_health_of(
            store,
            &scoring::health::HealthModel::default_v1(),
            &id,
        )
        .await?;
        let churn = crate::health_tools::churn_risk_of(
            store,
            &scoring::churn::ChurnModel::default_v1(),
            &id,
        )
        .await?;
        let mut both = serde_json::Map::new();
        both.insert("health".into(), to_json(serde_json::to_value(health))?);
        both.insert("churn_risk".into(), to_json(serde_json::to_value(churn))?);
        return Ok(Some(serde_json::Value::Object(both)));
    }
    if let Some(id) = uri.strip_prefix("cs://accounts/") {
        let id = id_arg("account_id", "acc", id)?;
        let overview = crate::account_overview(store, &id, 12).await?;
        return Ok(Some(to_json(serde_json::to_value(overview))?));
    }
    Ok(None)
}
