//! The marketing server's prompts: `campaign-retro` and `budget-reallocation`. A prompt is a
//! brief for the model: which tools to call, in what order, and what the answer should look
//! like. It names records but does not copy their data, so every fact the answer uses is
//! read through an audited tool call.

use chrono::{Datelike, NaiveDate, Utc};
use mcp_runtime::errors::id_arg;
use mcp_runtime::{ToolError, ToolResult};
use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};

pub(crate) fn list() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "campaign-retro",
            Some(
                "A campaign retrospective: what it spent against its caps, what it reached and produced, what to repeat.",
            ),
            Some(vec![
                PromptArgument::new("campaign_id")
                    .with_description("The campaign, e.g. cmp_000012")
                    .with_required(true),
            ]),
        ),
        Prompt::new(
            "budget-reallocation",
            Some(
                "Where to move budget: campaigns under- and over-spending against their caps and results, with the cap \
                 changes to propose.",
            ),
            Some(vec![
                PromptArgument::new("period")
                    .with_description("The month to plan for, YYYY-MM (default: the current month)")
                    .with_required(false),
            ]),
        ),
    ]
}

fn argument(
    arguments: &serde_json::Map<String, serde_json::Value>,
    name: &'static str,
) -> ToolResult<Option<String>> {
    match arguments.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ToolError::invalid(name, "must be a string")),
    }
}

fn brief(description: &str, text: String) -> GetPromptResult {
    GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
        .with_description(description)
}

/// A month `YYYY-MM` (years 2000-2100) as its first and last day.
fn period_arg(text: &str) -> ToolResult<(NaiveDate, NaiveDate)> {
    let wrong = || ToolError::invalid("period", "is not a month; use YYYY-MM, e.g. 2026-12");
    let (year, month) = text.trim().split_once('-').ok_or_else(wrong)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(wrong());
    }
    let year: i32 = year.parse().map_err(|_| wrong())?;
    let month: u32 = month.parse().map_err(|_| wrong())?;
    if !(2000..=2100).contains(&year) {
        return Err(ToolError::invalid(
            "period",
            "must be a month from 2000-01 to 2100-12",
        ));
    }
    let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(wrong)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    }
    .ok_or_else(wrong)?;
    Ok((first, next.pred_opt().unwrap_or(first)))
}

pub(crate) async fn get(
    store: &store::Store,
    name: &str,
    arguments: &serde_json::Map<String, serde_json::Value>,
) -> ToolResult<Option<GetPromptResult>> {
    match name {
        "campaign-retro" => {
            let raw = argument(arguments, "campaign_id")?.ok_or_else(|| {
                ToolError::invalid("campaign_id", "is missing; give the campaign's id")
            })?;
            let campaign_id = id_arg("campaign_id", "cmp", &raw)?;
            let campaign = store::campaigns::get_summary(store, &campaign_id).await?;
            let window = match &campaign.campaign.ends_on {
                Some(end) => format!("{} to {end}", campaign.campaign.starts_on),
                None => format!("from {}", campaign.campaign.starts_on),
            };
            Ok(Some(brief(
                "Campaign retrospective",
                format!(
                    "Write a retrospective of campaign {campaign_id} (\"{}\", {}, {window}, status {}).\n\n\
                     1. Call get_campaign with campaign_id = {campaign_id} for its caps, committed spend, touches and \
                     leads; read marketing://budgets for its open reservations and headroom.\n\
                     2. Call campaign_performance with campaign_id = {campaign_id} for cost per lead, conversion and \
                     pipeline it influenced.\n\
                     3. Call campaign_leads with campaign_id = {campaign_id} (limit 50) and note how many leads \
                     converted or are still open.\n\
                     4. Call attribution for the campaign's period to see its share of first-touch, last-touch and \
                     time-decay credit against the other campaigns of its channel.\n\n\
                     Then write the retro for a marketing lead: a three-line verdict first (spend against cap, what it \
                     produced, worth repeating or not), then a table of spend, leads, cost per lead and influenced \
                     pipeline, what worked and what did not, and three concrete recommendations. Amounts are in minor \
                     units of {}: show them as money. Use only numbers the tools returned.",
                    campaign.campaign.name,
                    campaign.campaign.channel,
                    campaign.campaign.status,
                    campaign.campaign.currency
                ),
            )))
        }
        "budget-reallocation" => {
            let (first, last) = match argument(arguments, "period")? {
                Some(text) => period_arg(&text)?,
                None => {
                    let today = Utc::now().date_naive();
                    period_arg(&format!("{:04}-{:02}", today.year(), today.month()))?
                }
            };
            Ok(Some(brief(
                "Budget reallocation",
                format!(
                    "Propose how to reallocate marketing budget for {first} to {last}.\n\n\
                     1. Read marketing://budgets for every campaign's caps, committed spend, open reservations and \
                     headroom, the campaigns near their cap, and the organisation's monthly cap and month-to-date spend.\n\
                     2. Call list_campaigns with active_on = {first} and then with status = \"active\" for the campaigns \
                     running in the period.\n\
                     3. Call campaign_performance for those campaigns and lead_source_performance for the period \
                     to compare cost per lead and pipeline by channel.\n\n\
                     Then recommend: which campaigns should give budget (lower caps: set_campaign_budget, an ordinary \
                     change, never below what is committed and reserved) and which should get it (raising a cap needs \
                     the admin role and a confirmation the user gives; propose it, do not push it through). Show a \
                     table of campaign, current caps, committed, headroom, cost per lead and the proposed cap, and keep \
                     the total within the organisation's monthly cap. Use only numbers the tools returned."
                ),
            )))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_a_month_with_its_first_and_last_day() {
        let (first, last) = period_arg("2028-02").unwrap();
        assert_eq!(
            (first.to_string(), last.to_string()),
            ("2028-02-01".into(), "2028-02-29".into())
        );
        let (_, december) = period_arg("2026-12").unwrap();
        assert_eq!(december.to_string(), "2026-12-31");
        assert!(period_arg("2026-13").is_err());
        assert!(period_arg("1999-01").is_err());
        assert!(period_arg("26-1").is_err());
    }
}
