//! The customer-success writes of issue 7: `create_intervention` (a playbook's tasks for the
//! CSM), `create_ticket` and `update_ticket`, `bulk_update_accounts` (confirmation-gated
//! above a configurable number of accounts, managers only) and `erase_customer_data` (GDPR
//! erasure of a person or an account; destructive, so always previewed first).
//!
//! Every write runs in the call's one transaction: a refused or failed call changes nothing.

use mcp_runtime::errors::{
    choice_arg, date_arg, email_arg, optional_id, optional_text, required_text,
};
use mcp_runtime::gates::Gated;
use mcp_runtime::{CallScope, Role, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::accounts::{AccountChangeSample, AccountChanges, AccountFilter, MAX_BULK_UPDATE};
use store::erasure::{ErasureReport, Subject};
use store::interventions::Intervention;
use store::records::{Task, Ticket};

use crate::{CsServer, LIFECYCLE_STAGES, PLAN_TIERS};

const SEGMENTS: [&str; 3] = ["smb", "mid_market", "enterprise"];

/// The setting (server `cs`) above which a bulk account update needs confirmation.
pub const BULK_CONFIRM_SETTING: &str = "bulk_confirm_above_accounts";
/// Its value when never set.
pub const BULK_CONFIRM_DEFAULT: i64 = 10;
/// Before/after pairs shown in a bulk update's answer.
const BULK_SAMPLE: usize = 10;

/// A playbook to start for an account.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateInterventionParams {
    /// The account, e.g. `acc_000042`.
    pub account_id: String,
    /// usage_recovery, executive_outreach, support_escalation, onboarding_restart,
    /// renewal_save or adoption_training (as recommended by `churn_risk`).
    pub playbook: String,
    /// Why, in a sentence (at most 500 characters), e.g. "weekly active users down 40%".
    #[serde(default)]
    pub reason: Option<String>,
    /// Who does the tasks (at most 120 characters); default the account's CSM, else its owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// The day the playbook starts, `YYYY-MM-DD`; due dates count from it. Default today (UTC).
    #[serde(default)]
    pub starts_on: Option<String>,
    /// A key unique to this request (e.g. a UUID); retrying with it creates nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The intervention and the tasks it created.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InterventionCreated {
    pub intervention: Intervention,
    /// One per playbook step, soonest due first.
    pub tasks: Vec<Task>,
    /// False when `request_id` had been used before and nothing new was created.
    pub created: bool,
}

/// A support ticket to open.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateTicketParams {
    /// The account, e.g. `acc_000042`.
    pub account_id: String,
    /// The contact who raised it, e.g. `con_000101`; must be a contact of that account.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// One line saying what is wrong (at most 200 characters).
    pub subject: String,
    /// low, normal, high or urgent (default normal).
    #[serde(default)]
    pub priority: Option<String>,
    /// A key unique to this request (e.g. a UUID); retrying with it opens nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The opened ticket.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TicketCreated {
    pub ticket: Ticket,
    /// False when `request_id` had been used before and nothing new was opened.
    pub created: bool,
}

/// What to change on a ticket; leave a field out to keep it.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateTicketParams {
    /// The ticket, e.g. `tkt_000123`.
    pub ticket_id: String,
    /// open, pending, solved or closed. Closed is final; solved can be reopened or closed.
    #[serde(default)]
    pub status: Option<String>,
    /// low, normal, high or urgent.
    #[serde(default)]
    pub priority: Option<String>,
    /// Customer satisfaction 1-5; only on a ticket that is (or becomes) solved or closed.
    #[serde(default)]
    pub csat: Option<i64>,
}

/// The ticket after the update.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TicketUpdated {
    pub ticket: Ticket,
    /// False when the ticket already was as asked and nothing changed.
    pub changed: bool,
    /// Its status before this call.
    pub previous_status: String,
}

/// Which accounts a bulk update selects by their fields (all given fields must match).
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct AccountSelection {
    /// trial, active, at_risk or churned.
    #[serde(default)]
    pub lifecycle_stage: Option<String>,
    /// starter, growth or enterprise.
    #[serde(default)]
    pub plan_tier: Option<String>,
    /// smb, mid_market or enterprise.
    #[serde(default)]
    pub segment: Option<String>,
    /// The account executive, exact name as stored.
    #[serde(default)]
    pub owner: Option<String>,
    /// The CSM, exact name as stored.
    #[serde(default)]
    pub csm_owner: Option<String>,
}

/// What to set on every selected account; leave a field out to keep it.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct AccountChangesInput {
    /// The new account executive (at most 120 characters).
    #[serde(default)]
    pub owner: Option<String>,
    /// The new CSM (at most 120 characters).
    #[serde(default)]
    pub csm_owner: Option<String>,
    /// smb, mid_market or enterprise.
    #[serde(default)]
    pub segment: Option<String>,
    /// trial, active, at_risk or churned. Entering churned stamps churned_at; leaving it clears it.
    #[serde(default)]
    pub lifecycle_stage: Option<String>,
}

/// A change to many accounts at once.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BulkUpdateAccountsParams {
    /// The accounts to change, 1-5,000 distinct ids, e.g. ["acc_000001", "acc_000002"]. Give
    /// this or `filter`, not both.
    #[serde(default)]
    pub account_ids: Option<Vec<String>>,
    /// Select the accounts by their fields instead of listing them (at most 5,000 may match).
    #[serde(default)]
    pub filter: Option<AccountSelection>,
    /// What to set on each of them; at least one field.
    pub changes: AccountChangesInput,
}

/// What a bulk update changed (or, in a preview, would change).
#[derive(Debug, Serialize, JsonSchema)]
pub struct BulkUpdateResult {
    /// Accounts named or matched.
    pub matched: i64,
    /// Accounts whose values changed.
    pub changed: i64,
    /// Accounts that already had the values (left untouched).
    pub unchanged: i64,
    /// The first changed accounts in id order (at most 10), before and after.
    pub sample: Vec<AccountChangeSample>,
    /// Changing more accounts than this needs confirmation (setting `bulk_confirm_above_accounts`).
    pub confirm_above_accounts: i64,
}

/// Whose personal data to erase: exactly one of the three.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EraseCustomerDataParams {
    /// A contact, e.g. `con_000101`: the contact and every lead with its email.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// A person's email: the contact and the leads with it.
    #[serde(default)]
    pub email: Option<String>,
    /// An account, e.g. `acc_000042`: the account and everything under it (contacts, their
    /// leads, deals, usage, tickets, NPS, activities, tasks, interventions, predictions).
    #[serde(default)]
    pub account_id: Option<String>,
}

fn request_key(value: Option<&str>) -> ToolResult<Option<String>> {
    optional_text("request_id", value, 100)
}

fn optional_choice(
    field: &'static str,
    value: Option<&str>,
    allowed: &[&str],
) -> ToolResult<Option<String>> {
    value.map(|v| choice_arg(field, v, allowed)).transpose()
}

/// The `_meta` of `bulk_update_accounts`: managers and up, and gated for large changes.
fn bulk_update_meta() -> rmcp::model::MetaObject {
    let mut meta = mcp_runtime::policy::least_role_meta(Role::Manager);
    meta.0.extend(mcp_runtime::gates::conditional_gate_meta().0);
    meta
}

/// Shows at most 20 ids of a list, and how many more there are.
fn shown_ids(ids: &[String]) -> String {
    let mut shown = ids.iter().take(20).cloned().collect::<Vec<_>>().join(", ");
    if ids.len() > 20 {
        shown.push_str(&format!(" and {} more", ids.len() - 20));
    }
    shown
}

impl BulkUpdateAccountsParams {
    fn checked_changes(&self) -> ToolResult<AccountChanges> {
        let changes = AccountChanges {
            owner: optional_text("changes.owner", self.changes.owner.as_deref(), 120)?,
            csm_owner: optional_text("changes.csm_owner", self.changes.csm_owner.as_deref(), 120)?,
            segment: optional_choice(
                "changes.segment",
                self.changes.segment.as_deref(),
                &SEGMENTS,
            )?,
            lifecycle_stage: optional_choice(
                "changes.lifecycle_stage",
                self.changes.lifecycle_stage.as_deref(),
                &LIFECYCLE_STAGES,
            )?,
        };
        if changes.is_empty() {
            return Err(ToolError::invalid(
                "changes",
                "sets nothing; give owner, csm_owner, segment or lifecycle_stage",
            ));
        }
        Ok(changes)
    }

    fn checked_filter(filter: &AccountSelection) -> ToolResult<AccountFilter> {
        let checked = AccountFilter {
            lifecycle_stage: optional_choice(
                "filter.lifecycle_stage",
                filter.lifecycle_stage.as_deref(),
                &LIFECYCLE_STAGES,
            )?,
            plan_tier: optional_choice(
                "filter.plan_tier",
                filter.plan_tier.as_deref(),
                &PLAN_TIERS,
            )?,
            segment: optional_choice("filter.segment", filter.segment.as_deref(), &SEGMENTS)?,
            owner: optional_text("filter.owner", filter.owner.as_deref(), 120)?,
            csm_owner: optional_text("filter.csm_owner", filter.csm_owner.as_deref(), 120)?,
        };
        if checked.lifecycle_stage.is_none()
            && checked.plan_tier.is_none()
            && checked.segment.is_none()
            && checked.owner.is_none()
            && checked.csm_owner.is_none()
        {
            return Err(ToolError::invalid(
                "filter",
                "is empty; give at least one of lifecycle_stage, plan_tier, segment, owner, csm_owner (or list account_ids)",
            ));
        }
        Ok(checked)
    }
}

#[tool_router(router = ops_router, vis = "pub(crate)")]
impl CsServer {
    #[tool(
        description = "Start a customer-success playbook for an account: records the intervention and creates its \
            tasks for the CSM with due dates counted from the start day. Playbooks: usage_recovery, \
            executive_outreach, support_escalation, onboarding_restart, renewal_save, adoption_training. An \
            account can have one open intervention per playbook (open while any of its tasks is open). Give \
            request_id so that retrying never creates twice. Sends nothing to the customer. Example: \
            {\"account_id\": \"acc_000042\", \"playbook\": \"usage_recovery\", \"reason\": \"active users down 40% in 4 weeks\", \
            \"request_id\": \"5b0c6a6e-1\"}.",
        annotations(
            title = "Create intervention",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn create_intervention(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CreateInterventionParams>,
    ) -> Result<Json<InterventionCreated>, ToolError> {
        let account_id = mcp_runtime::errors::id_arg("account_id", "acc", &params.account_id)?;
        let playbook = choice_arg(
            "playbook",
            &params.playbook,
            &store::interventions::playbook_names(),
        )?;
        let starts_on = match params.starts_on.as_deref() {
            Some(day) => date_arg("starts_on", day)?,
            // The stored timestamp's first ten characters are today's UTC date.
            None => store::clock::now().chars().take(10).collect(),
        };
        let new = store::interventions::NewIntervention {
            account_id,
            playbook,
            reason: optional_text("reason", params.reason.as_deref(), 500)?,
            owner: optional_text("owner", params.owner.as_deref(), 120)?,
            starts_on: store::clock::parse_date(&starts_on)
                .ok_or_else(|| ToolError::invalid("starts_on", "is not a date; use YYYY-MM-DD"))?,
            created_by: scope.actor.name.clone(),
        };
        let request_id = request_key(params.request_id.as_deref())?;
        let mut tx = scope.transaction().await?;
        let (intervention, tasks, created) =
            store::interventions::create(&mut tx, &new, request_id.as_deref()).await?;
        Ok(Json(InterventionCreated {
            intervention,
            tasks,
            created,
        }))
    }

    #[tool(
        description = "Open a support ticket on an account, optionally naming the contact who raised it (a contact of \
            that account). Priority low, normal (default), high or urgent. Give request_id so that retrying never \
            opens twice. Example: {\"account_id\": \"acc_000042\", \"contact_id\": \"con_000101\", \
            \"subject\": \"SSO login fails for new users\", \"priority\": \"high\", \"request_id\": \"tkt-req-1\"}.",
        annotations(
            title = "Create ticket",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn create_ticket(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CreateTicketParams>,
    ) -> Result<Json<TicketCreated>, ToolError> {
        let ticket = store::tickets::NewTicket {
            account_id: mcp_runtime::errors::id_arg("account_id", "acc", &params.account_id)?,
            contact_id: optional_id("contact_id", "con", params.contact_id.as_deref())?,
            subject: required_text("subject", &params.subject, 200)?,
            priority: optional_choice(
                "priority",
                params.priority.as_deref(),
                &store::tickets::PRIORITIES,
            )?
            .unwrap_or_else(|| "normal".into()),
        };
        let request_id = request_key(params.request_id.as_deref())?;
        let mut tx = scope.transaction().await?;
        let (ticket, created) =
            store::tickets::create(&mut tx, &ticket, request_id.as_deref()).await?;
        Ok(Json(TicketCreated { ticket, created }))
    }

    #[tool(
        description = "Change a ticket's status, priority or satisfaction rating. Status moves open <-> pending, \
            open/pending -> solved or closed, solved -> open (reopen) or closed; closed is final. Solving or \
            closing stamps resolved_at; reopening clears it. csat (1-5) only on a solved or closed ticket. Asking \
            for what the ticket already is changes nothing (changed: false). \
            Example: {\"ticket_id\": \"tkt_000123\", \"status\": \"solved\", \"csat\": 5}.",
        annotations(
            title = "Update ticket",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn update_ticket(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<UpdateTicketParams>,
    ) -> Result<Json<TicketUpdated>, ToolError> {
        let ticket_id = mcp_runtime::errors::id_arg("ticket_id", "tkt", &params.ticket_id)?;
        let change = store::tickets::TicketChange {
            status: optional_choice(
                "status",
                params.status.as_deref(),
                &store::tickets::STATUSES,
            )?,
            priority: optional_choice(
                "priority",
                params.priority.as_deref(),
                &store::tickets::PRIORITIES,
            )?,
            csat: params
                .csat
                .map(|c| mcp_runtime::errors::range_arg("csat", c, 1, 5))
                .transpose()?,
        };
        if change.status.is_none() && change.priority.is_none() && change.csat.is_none() {
            return Err(ToolError::invalid(
                "status",
                "nothing to change; give status, priority or csat",
            ));
        }
        let mut tx = scope.transaction().await?;
        let previous_status = store::tickets::get_in(&mut tx, &ticket_id).await?.status;
        let (ticket, changed) = store::tickets::update(&mut tx, &ticket_id, &change).await?;
        Ok(Json(TicketUpdated {
            ticket,
            changed,
            previous_status,
        }))
    }

    #[tool(
        description = "Change the account executive (owner), CSM (csm_owner), segment (smb, mid_market, enterprise) or \
            lifecycle stage (trial, active, at_risk, churned) of many accounts at once: list account_ids (1-5,000) \
            or give a filter. All or nothing: an unknown id changes nothing and is named. Accounts that already have \
            the values are left alone. Changing more accounts than the setting bulk_confirm_above_accounts \
            (default 10) answers with a preview and a confirm_token first; repeat the call with the same arguments \
            and the token to apply. Managers and admins only. Example: {\"filter\": {\"csm_owner\": \"Jonas Berg\"}, \
            \"changes\": {\"csm_owner\": \"Priya Natarajan\"}}.",
        meta = bulk_update_meta(),
        annotations(
            title = "Bulk update accounts",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn bulk_update_accounts(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<BulkUpdateAccountsParams>,
    ) -> Result<Json<Gated<BulkUpdateResult>>, ToolError> {
        // The policy already refuses lesser roles by the tool's _meta; a policy file may
        // grant it to reps on purpose, so no second check here.
        let changes = params.checked_changes()?;
        let mut tx = scope.transaction().await?;
        let ids = match (&params.account_ids, &params.filter) {
            (Some(_), Some(_)) => {
                return Err(ToolError::invalid(
                    "account_ids",
                    "give account_ids or a filter, not both",
                ));
            }
            (None, None) => {
                return Err(ToolError::invalid(
                    "account_ids",
                    "name the accounts: give account_ids or a filter",
                ));
            }
            (Some(ids), None) => {
                if ids.is_empty() {
                    return Err(ToolError::invalid(
                        "account_ids",
                        "is empty; name at least one account",
                    ));
                }
                if ids.len() > MAX_BULK_UPDATE {
                    return Err(ToolError::invalid(
                        "account_ids",
                        format!(
                            "names {} accounts; at most {MAX_BULK_UPDATE} at once",
                            ids.len()
                        ),
                    ));
                }
                let checked = ids
                    .iter()
                    .map(|id| mcp_runtime::errors::id_arg("account_ids", "acc", id))
                    .collect::<ToolResult<Vec<_>>>()?;
                let mut seen = std::collections::BTreeSet::new();
                if let Some(twice) = checked.iter().find(|id| !seen.insert(id.as_str())) {
                    return Err(ToolError::invalid(
                        "account_ids",
                        format!("names {twice} more than once; list each account once"),
                    ));
                }
                let missing = store::accounts::missing_ids_in(&mut tx, &checked).await?;
                if !missing.is_empty() {
                    return Err(ToolError::NotFound(format!(
                        "no account has the id(s) {}; nothing was changed. Check them (list_accounts) and try again",
                        shown_ids(&missing)
                    )));
                }
                checked
            }
            (None, Some(filter)) => {
                let filter = BulkUpdateAccountsParams::checked_filter(filter)?;
                let ids =
                    store::accounts::ids_matching_in(&mut tx, &filter, MAX_BULK_UPDATE).await?;
                if ids.len() > MAX_BULK_UPDATE {
                    return Err(ToolError::invalid(
                        "filter",
                        format!("matches more than {MAX_BULK_UPDATE} accounts; narrow it"),
                    ));
                }
                if ids.is_empty() {
                    return Err(ToolError::NotFound(
                        "no account matches the filter; nothing was changed".into(),
                    ));
                }
                ids
            }
        };
        let confirm_above = store::settings::get_in(&mut tx, "cs", BULK_CONFIRM_SETTING)
            .await?
            .and_then(|value| value.as_i64())
            .filter(|n| *n >= 0)
            .unwrap_or(BULK_CONFIRM_DEFAULT);
        let update = store::accounts::bulk_update(&mut tx, &ids, &changes, BULK_SAMPLE).await?;
        if update.changed > confirm_above {
            scope.require_confirmation(format!(
                "this changes {} accounts, more than the {confirm_above} that may change without confirmation",
                update.changed
            ));
        }
        Ok(Json(Gated::done(BulkUpdateResult {
            matched: update.matched,
            changed: update.changed,
            unchanged: update.unchanged,
            sample: update.sample,
            confirm_above_accounts: confirm_above,
        })))
    }

    #[tool(
        description = "GDPR erasure: remove a person's personal data (by contact_id or email: the contact is deleted, \
            leads with that email are anonymised but stay counted, their NPS comments, ticket subjects and \
            activity notes are cleared, scores about them deleted) or a whole account and everything under it \
            (by account_id). Free text naming the person is redacted everywhere. The audit trail is not touched: \
            it never held personal data in the clear. Always answers first with a preview (rows per table) and a \
            confirm_token; repeat with the same arguments and the token to erase. Cannot be undone. \
            Example: {\"contact_id\": \"con_000101\"}.",
        annotations(
            title = "Erase customer data",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub(crate) async fn erase_customer_data(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<EraseCustomerDataParams>,
    ) -> Result<Json<Gated<ErasureReport>>, ToolError> {
        let contact_id = optional_id("contact_id", "con", params.contact_id.as_deref())?;
        let email = params
            .email
            .as_deref()
            .map(|e| email_arg("email", e))
            .transpose()?;
        let account_id = optional_id("account_id", "acc", params.account_id.as_deref())?;
        let subject = match (contact_id, email, account_id) {
            (Some(id), None, None) => Subject::Contact(id),
            (None, Some(email), None) => Subject::Email(email),
            (None, None, Some(id)) => Subject::Account(id),
            (None, None, None) => {
                return Err(ToolError::invalid(
                    "contact_id",
                    "name whose data to erase: give contact_id, email or account_id",
                ));
            }
            _ => {
                return Err(ToolError::invalid(
                    "contact_id",
                    "give exactly one of contact_id, email and account_id",
                ));
            }
        };
        let backend = scope.store.backend();
        let mut tx = scope.transaction().await?;
        let report = store::erasure::erase(
            &mut tx,
            backend,
            &subject,
            &mcp_runtime::policy::token_digest,
            &scope.actor.name,
        )
        .await?;
        Ok(Json(Gated::done(report)))
    }
}

#[cfg(test)]
mod tests {
    /// The churn model recommends playbooks by name and `create_intervention` creates them:
    /// the two catalogues must name the same six.
    #[test]
    fn every_playbook_the_churn_model_recommends_can_be_created() {
        let mut recommended = scoring::churn::PLAYBOOKS.to_vec();
        let mut creatable = store::interventions::playbook_names();
        recommended.sort_unstable();
        creatable.sort_unstable();
        assert_eq!(recommended, creatable);
    }
}
