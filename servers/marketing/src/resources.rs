//! The marketing server's resources, as JSON: `marketing://campaigns/{campaign_id}`,
//! `marketing://campaigns/active` and `marketing://budgets` (every campaign's caps,
//! committed spend, open reservations and headroom, with the organisation's monthly cap).

use chrono::Datelike;
use mcp_runtime::errors::id_arg;
use mcp_runtime::{Runtime, ToolError, ToolResult};
use rmcp::model::{Resource, ResourceTemplate};
use serde::Serialize;

/// The most campaigns `marketing://budgets` lists.
const BUDGET_LIMIT: i64 = 500;

pub(crate) fn fixed() -> Vec<Resource> {
    vec![
        Resource::new("marketing://campaigns/active", "active-campaigns")
            .with_title("Active campaigns")
            .with_description("The first 100 active campaigns with caps, spend and results.")
            .with_mime_type("application/json"),
        Resource::new("marketing://budgets", "budgets")
            .with_title("Budgets")
            .with_description(
                "Every campaign's lifetime and daily caps, committed spend, open reservations and headroom (minor \
                 units), campaigns near their cap, and the organisation's monthly cap with its month-to-date spend.",
            )
            .with_mime_type("application/json"),
    ]
}

pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new("marketing://campaigns/{campaign_id}", "campaign")
            .with_title("Campaign")
            .with_description("One campaign with caps, spend, touches and leads.")
            .with_mime_type("application/json"),
    ]
}

/// One campaign's line in `marketing://budgets`.
#[derive(Debug, Serialize)]
struct BudgetLine {
    #[serde(flatten)]
    budget: store::campaigns::CampaignBudget,
    /// Committed and reserved as a share of the lifetime cap, in whole percent.
    used_percent: i64,
    /// True once `used_percent` reaches the `budget_warning_percent` setting.
    near_cap: bool,
}

/// The organisation's monthly cap this month.
#[derive(Debug, Serialize)]
struct MonthlyCap {
    month: String,
    /// None: no monthly cap is configured (`REVOPS_MONTHLY_SPEND_CAP_MINOR`).
    cap_minor: Option<i64>,
    /// Committed and reserved with spend dates this month, every campaign, minor units.
    month_to_date_minor: i64,
    headroom_minor: Option<i64>,
}

/// `marketing://budgets`.
#[derive(Debug, Serialize)]
struct Budgets {
    as_of: String,
    organisation: MonthlyCap,
    budget_warning_percent: i64,
    campaigns: Vec<BudgetLine>,
    /// True when there are more than the 500 campaigns listed.
    truncated: bool,
}

async fn budgets(runtime: &Runtime) -> ToolResult<Budgets> {
    let store = runtime.store();
    let today = chrono::Utc::now().date_naive();
    let today_text = store::clock::format_date(today);
    let month = format!("{:04}-{:02}", today.year(), today.month());
    let warning = crate::ops_tools::integer_setting(store, "budget_warning_percent").await?;
    let mut lines = store::campaigns::budgets(store, &today_text, BUDGET_LIMIT + 1).await?;
    let truncated = lines.len() > usize::try_from(BUDGET_LIMIT).unwrap_or(usize::MAX);
    lines.truncate(usize::try_from(BUDGET_LIMIT).unwrap_or(usize::MAX));
    let month_to_date =
        store::campaigns::held_between(store, &format!("{month}-01"), &format!("{month}-31"))
            .await?;
    let cap = runtime.gates().organisation_caps.monthly_cap_minor;
    Ok(Budgets {
        as_of: store::clock::now(),
        organisation: MonthlyCap {
            month,
            cap_minor: cap,
            month_to_date_minor: month_to_date,
            headroom_minor: cap.map(|c| (c - month_to_date).max(0)),
        },
        budget_warning_percent: warning,
        campaigns: lines
            .into_iter()
            .map(|budget| {
                let held = budget.committed_minor + budget.reserved_minor;
                // Integer arithmetic: a share in whole percent, rounded down (i128: no overflow).
                let used_percent = if budget.lifetime_cap_minor > 0 {
                    i64::try_from(i128::from(held) * 100 / i128::from(budget.lifetime_cap_minor))
                        .unwrap_or(i64::MAX)
                } else if held > 0 {
                    100
                } else {
                    0
                };
                BudgetLine {
                    near_cap: used_percent >= warning,
                    used_percent,
                    budget,
                }
            })
            .collect(),
        truncated,
    })
}

pub(crate) async fn read(runtime: &Runtime, uri: &str) -> ToolResult<Option<serde_json::Value>> {
    let store = runtime.store();
    let to_json = |value: serde_json::Result<serde_json::Value>| {
        value.map_err(|error| ToolError::Unavailable(format!("cannot encode the record: {error}")))
    };
    if uri == "marketing://budgets" {
        return Ok(Some(to_json(serde_json::to_value(
            budgets(runtime).await?,
        ))?));
    }
    if uri == "marketing://campaigns/active" {
        let filter = store::campaigns::CampaignFilter {
            status: Some("active".into()),
            ..Default::default()
        };
        let page = store::campaigns::list(store, &filter, None, Some(100)).await?;
        return Ok(Some(to_json(serde_json::to_value(page.items))?));
    }
    if let Some(id) = uri.strip_prefix("marketing://campaigns/") {
        let id = id_arg("campaign_id", "cmp", id)?;
        return Ok(Some(to_json(serde_json::to_value(
            store::campaigns::get_summary(store, &id).await?,
        ))?));
    }
    Ok(None)
}
