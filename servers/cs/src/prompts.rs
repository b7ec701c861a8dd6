//! The customer-success server's prompts: `analyze-account-expansion`, `qbr-prep`,
//! `churn-save-plan`. A prompt is a brief for the model: which tools to call, in what order,
//! and what the answer should look like. It names the account but copies none of its data,
//! so every fact the answer uses is read through an audited tool call.

use mcp_runtime::errors::id_arg;
use mcp_runtime::{ToolError, ToolResult};
use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};

fn account_argument() -> Vec<PromptArgument> {
    vec![
        PromptArgument::new("account_id")
            .with_description("The account, e.g. acc_000042")
            .with_required(true),
    ]
}

pub(crate) fn list() -> Vec<Prompt> {
    vec![
        Prompt::new(
            "analyze-account-expansion",
            Some(
                "Is this account ready to grow: seats, plan upgrade, expected MRR uplift, and how to pitch it.",
            ),
            Some(account_argument()),
        ),
        Prompt::new(
            "qbr-prep",
            Some(
                "Prepare a quarterly business review: health, adoption, support, NPS, risks and the asks.",
            ),
            Some(account_argument()),
        ),
        Prompt::new(
            "churn-save-plan",
            Some(
                "A plan to save an account at risk: the signals, the interventions ranked by effect, owners and dates.",
            ),
            Some(account_argument()),
        ),
    ]
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
    if !matches!(
        name,
        "analyze-account-expansion" | "qbr-prep" | "churn-save-plan"
    ) {
        return Ok(None);
    }
    let raw = match arguments.get("account_id") {
        None | Some(serde_json::Value::Null) => {
            return Err(ToolError::invalid(
                "account_id",
                "is missing; give the account's id, e.g. acc_000042",
            ));
        }
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(_) => return Err(ToolError::invalid("account_id", "must be a string")),
    };
    let id = id_arg("account_id", "acc", &raw)?;
    let account = store::accounts::get(store, &id).await?;
    let who = format!("{id} ({}, {} plan)", account.name, account.plan_tier);
    let result = match name {
        "analyze-account-expansion" => brief(
            "Analyse an account's expansion potential",
            format!(
                "Analyse whether {who} is ready to expand.\n\n\
                 1. Call account_health with account_id = {id}; note the score, the weakest factor and the trend.\n\
                 2. Call feature_adoption with account_id = {id} for breadth, depth and use of gated features.\n\
                 3. Call expansion_opportunities with plan_tier = \"{plan}\" and include_not_ready = true, and find \
                 {id} in the list: the motion (seats, upgrade), suggested seats and plan, and the expected MRR uplift.\n\
                 4. Call detect_churn_risk with account_id = {id}: do not pitch an upgrade to an account at high risk; \
                 say what must be fixed first.\n\n\
                 Answer with: a one-line verdict (ready / not yet / not a fit), the evidence with the numbers the tools \
                 returned, the expected MRR uplift in the account's currency (amounts are minor units: divide by 100), \
                 and a short pitch the CSM can use. Use only numbers the tools returned.",
                plan = account.plan_tier
            ),
        ),
        "qbr-prep" => brief(
            "Prepare a QBR",
            format!(
                "Prepare the quarterly business review for {who}.\n\n\
                 1. Call get_account_overview with account_id = {id} and weeks = 13 for usage, open tickets and \
                 recent touchpoints.\n\
                 2. Call account_health with account_id = {id} for the score, factors and trend.\n\
                 3. Call feature_adoption with account_id = {id} and weeks = 13, and onboarding_progress for any stalled step.\n\
                 4. Call nps_summary with account_id = {id} for NPS, its trend and comment themes.\n\
                 5. Call detect_churn_risk with account_id = {id} for risks and the interventions ranked by effect.\n\
                 6. Call expansion_opportunities with plan_tier = \"{plan}\" and include_not_ready = true to see \
                 whether {id} has a growth case.\n\n\
                 Write the QBR deck outline: the value delivered this quarter (with usage numbers), adoption and where \
                 it lags, support and NPS, risks with the agreed mitigations, and the asks for next quarter. Use only \
                 numbers the tools returned; say so where data is missing.",
                plan = account.plan_tier
            ),
        ),
        _ => brief(
            "A churn save plan",
            format!(
                "Build a save plan for {who}.\n\n\
                 1. Call detect_churn_risk with account_id = {id}: the risk, tier, each declining signal with its size, \
                 and the interventions ranked by expected effect.\n\
                 2. Call predict_churn with account_id = {id} and horizon_days = 90 for the probability.\n\
                 3. Call account_health with account_id = {id} and list_tickets with account_id = {id} and status = \
                 \"open\" for the support side; nps_summary with account_id = {id} for what they said.\n\
                 4. For the top two or three interventions, propose owners and dates; if the user agrees, record each \
                 with create_intervention using the playbook name exactly as detect_churn_risk returned it.\n\n\
                 Answer with: the risk and the 90-day probability, the signals in order of weight with their measured \
                 size, the plan (playbook, why, owner, due date, the risk points it is expected to remove), and what to \
                 watch next week. Use only numbers the tools returned."
            ),
        ),
    };
    Ok(Some(result))
}
