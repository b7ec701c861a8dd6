//! The sales server's prompts: `weekly-lead-report`, `explain-low-score`, `deal-review`.
//! A prompt is a brief for the model: which tools to call, in what order, and what the
//! answer should look like. It names records but does not copy their data, so every fact
//! the answer uses is read through an audited tool call.

use chrono::{Datelike, NaiveDate, Utc, Weekday};
use mcp_runtime::errors::{id_arg, range_arg};
use mcp_runtime::{ToolError, ToolResult};
use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};

pub(crate) fn list() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "weekly-lead-report",
            Some(
                "The sales manager's weekly lead report: new leads, the hot ones, who owns them, what moved.",
            ),
            Some(vec![
                PromptArgument::new("week_number")
                    .with_description(
                        "ISO week number 1-53 of this year (default: the current week)",
                    )
                    .with_required(false),
            ]),
        ),
        Prompt::new(
            "explain-low-score",
            Some("Why a lead scores low, and what would raise it."),
            Some(vec![
                PromptArgument::new("lead_id")
                    .with_description("The lead, e.g. lead_000042")
                    .with_required(true),
            ]),
        ),
        Prompt::new(
            "deal-review",
            Some(
                "A deal review: where it stands, its chance of closing, its risks, the next steps.",
            ),
            Some(vec![
                PromptArgument::new("opportunity_id")
                    .with_description("The deal, e.g. opp_000042")
                    .with_required(true),
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
        Some(serde_json::Value::Number(number)) => Ok(Some(number.to_string())),
        Some(_) => Err(ToolError::invalid(name, "must be a string")),
    }
}

fn brief(description: &str, text: String) -> GetPromptResult {
    GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
        .with_description(description)
}

pub(crate) async fn get(
    store: &store::Store,
    name: &str,
    arguments: &serde_json::Map<String, serde_json::Value>,
) -> ToolResult<Option<GetPromptResult>> {
    match name {
        "weekly-lead-report" => {
            let today = Utc::now().date_naive();
            let week = match argument(arguments, "week_number")? {
                Some(text) => {
                    let number: i64 = text.trim().parse().map_err(|_| {
                        ToolError::invalid("week_number", "must be a number from 1 to 53")
                    })?;
                    u32::try_from(range_arg("week_number", number, 1, 53)?).unwrap_or(1)
                }
                None => today.iso_week().week(),
            };
            let year = today.iso_week().year();
            let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(|| {
                ToolError::invalid("week_number", format!("{year} has no week {week}"))
            })?;
            let sunday = monday + chrono::Duration::days(6);
            Ok(Some(brief(
                "Weekly lead report",
                format!(
                    "Prepare the weekly lead report for week {week} of {year} ({monday} to {sunday}).\n\n\
                     1. Call rank_leads with created_since = {monday}T00:00:00Z for the week's new leads, best first; \
                     note how many matched and the hot/warm/cold counts.\n\
                     2. Call rank_leads with status = \"working\" and then \"mql\" for the leads in play, and list the \
                     ten hottest with their owners and strongest factor.\n\
                     3. Call list_leads with created_since = {monday}T00:00:00Z and no owner to find new leads that \
                     nobody owns; if there are any, suggest route_leads (as a preview).\n\
                     4. Call pipeline_summary grouped by stage for the pipeline they feed.\n\n\
                     Write it for a sales manager: a three-line summary first, then a table of the top leads (company, \
                     score, tier, owner, why), then unowned leads and the recommended next actions. Use only numbers \
                     the tools returned."
                ),
            )))
        }
        "explain-low-score" => {
            let raw = argument(arguments, "lead_id")?
                .ok_or_else(|| ToolError::invalid("lead_id", "is missing; give the lead's id"))?;
            let lead_id = id_arg("lead_id", "lead", &raw)?;
            let lead = store::leads::get(store, &lead_id).await?;
            Ok(Some(brief(
                "Explain a low lead score",
                format!(
                    "Explain why lead {lead_id} ({}) scores as it does.\n\n\
                     1. Call explain_lead_score with lead_id = {lead_id}.\n\
                     2. Say in two sentences which factors hold the score down, quoting the points each factor adds.\n\
                     3. List the improvements it returns (what to change, the score after), and turn the best one into \
                     a concrete next step for the rep (e.g. offer a demo, invite to a webinar).\n\
                     4. If the lead is a poor fit (industry or size), say so plainly and suggest qualify_lead.",
                    lead.company_name
                ),
            )))
        }
        "deal-review" => {
            let raw = argument(arguments, "opportunity_id")?.ok_or_else(|| {
                ToolError::invalid("opportunity_id", "is missing; give the deal's id")
            })?;
            let opportunity_id = id_arg("opportunity_id", "opp", &raw)?;
            let deal = store::opportunities::get_one(store, &opportunity_id).await?;
            Ok(Some(brief(
                "Deal review",
                format!(
                    "Review deal {opportunity_id} (\"{}\", account {}).\n\n\
                     1. Call get_account with account_id = {} for the people and other deals.\n\
                     2. Call win_probability with opportunity_id = {opportunity_id} for the estimate, its factors and risks.\n\
                     3. Call list_tasks with opportunity_id = {opportunity_id} for open follow-ups.\n\n\
                     Then write the review: stage, value and close date; the estimated chance of winning against the \
                     probability the rep recorded, and why they differ; the risks; who the decision maker is (or that \
                     none is known); and three next steps with owners and dates. Offer to create them with create_task.",
                    deal.name, deal.account_id, deal.account_id
                ),
            )))
        }
        _ => Ok(None),
    }
}
