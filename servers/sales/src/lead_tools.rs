//! Lead lifecycle and account tools: `create_lead`, `upsert_lead`, `update_lead_status`,
//! `convert_lead`, `match_account`, `create_contact`, `search_crm`, `delete_leads`,
//! `route_leads`. Every write is safe to retry: a `request_id`, a natural key (email,
//! external id) or the record's state makes the second identical call change nothing.

use std::collections::BTreeMap;

use mcp_runtime::errors::{
    amount_arg, choice_arg, date_arg, email_arg, id_arg, optional_choice, optional_id,
    optional_text, range_arg, required_text, text_arg, timestamp_arg,
};
use mcp_runtime::gates::Gated;
use mcp_runtime::{CallScope, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use store::accounts::{AccountMatch, NewAccount, NewContact};
use store::leads::{LeadDeletion, MatchBy, NewLead, UpsertOutcome};
use store::records::{Account, Contact, Lead, Opportunity, Page};
use store::search::SearchHit;

use crate::routing::{self, Assignment, RoutingRule, Unrouted};
use crate::scoring_tools::SignalsInput;
use crate::{LEAD_STATUSES, SalesServer};

/// A lead's details, as given to create or upsert it.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct LeadInput {
    /// Work email, e.g. dana@acme.example. Unique: one lead per email.
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company_name: String,
    /// The company's web domain, e.g. acme.example.
    #[serde(default)]
    pub domain: Option<String>,
    /// e.g. technology, saas, finance, healthcare, manufacturing, retail, education.
    pub industry: String,
    /// Number of employees at the company, 0-10,000,000.
    pub employee_count: i64,
    /// ISO 3166 country code, e.g. US, DE, GB.
    pub country: String,
    /// Job title, e.g. "VP Sales".
    #[serde(default)]
    pub title: Option<String>,
    /// Where the lead came from, e.g. web, paid_search, referral, event (default manual).
    #[serde(default)]
    pub source: Option<String>,
    /// The rep who owns the lead.
    #[serde(default)]
    pub owner: Option<String>,
    /// The campaign that brought the lead, e.g. cmp_000003.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// The lead's id in the CRM (HubSpot or Salesforce), if it has one.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Engagement signals; on an upsert, leaving them out keeps the stored ones.
    #[serde(default)]
    pub signals: Option<SignalsInput>,
}

impl LeadInput {
    fn checked(&self) -> ToolResult<NewLead> {
        let country = required_text("country", &self.country, 2)?.to_uppercase();
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ToolError::invalid(
                "country",
                "must be a two-letter ISO country code, e.g. US",
            ));
        }
        Ok(NewLead {
            email: email_arg("email", &self.email)?,
            first_name: required_text("first_name", &self.first_name, 100)?,
            last_name: required_text("last_name", &self.last_name, 100)?,
            company_name: required_text("company_name", &self.company_name, 200)?,
            domain: optional_text("domain", self.domain.as_deref(), 253)?
                .map(|d| store::accounts::normalise_domain(&d)),
            industry: required_text("industry", &self.industry, 80)?.to_lowercase(),
            employee_count: range_arg("employee_count", self.employee_count, 0, 10_000_000)?,
            country,
            title: optional_text("title", self.title.as_deref(), 120)?,
            source: optional_text("source", self.source.as_deref(), 60)?
                .unwrap_or_else(|| "manual".into()),
            owner: optional_text("owner", self.owner.as_deref(), 120)?,
            campaign_id: optional_id("campaign_id", "cmp", self.campaign_id.as_deref())?,
            external_id: optional_text("external_id", self.external_id.as_deref(), 100)?,
            signals: self
                .signals
                .as_ref()
                .map(SignalsInput::stored)
                .transpose()?,
        })
    }
}

/// A lead to create.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateLeadParams {
    #[serde(flatten)]
    pub lead: LeadInput,
    /// A key unique to this request (e.g. a UUID); retrying with it creates nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The lead created (or found, on a retry).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedLead {
    pub lead: Lead,
    /// False when request_id had been used before and nothing new was created.
    pub created: bool,
}

/// A lead to create or update.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpsertLeadParams {
    #[serde(flatten)]
    pub lead: LeadInput,
    /// Match an existing lead by email (default) or external_id.
    #[serde(default)]
    pub match_by: Option<String>,
}

/// What an upsert did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UpsertedLead {
    pub lead: Lead,
    /// created, updated, or unchanged (the stored lead already had these values).
    pub outcome: UpsertOutcome,
}

/// A lead's new status.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateLeadStatusParams {
    /// The lead's id, e.g. `lead_000042`.
    pub lead_id: String,
    /// new, working, mql, sql or disqualified (use convert_lead to convert).
    pub status: String,
    /// Why, in a few words; logged as a note on the lead.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A lead's status change.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LeadStatusChange {
    pub lead: Lead,
    pub previous_status: String,
    /// False when the lead already had this status.
    pub changed: bool,
}

/// Convert a lead.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConvertLeadParams {
    /// The lead's id, e.g. `lead_000042`.
    pub lead_id: String,
    /// Attach the lead to this existing account instead of matching or creating one.
    #[serde(default)]
    pub account_id: Option<String>,
    /// Open a deal too (default true).
    #[serde(default)]
    pub create_opportunity: Option<bool>,
    /// The deal's name (default "<company> - new business").
    #[serde(default)]
    pub opportunity_name: Option<String>,
    /// The deal's value in minor units (cents), default 0.
    #[serde(default)]
    pub amount_minor: Option<i64>,
    /// Expected close date, YYYY-MM-DD (default 90 days from today).
    #[serde(default)]
    pub close_date: Option<String>,
    /// The contact's role: decision_maker, champion, user or billing (default from the title).
    #[serde(default)]
    pub contact_role: Option<String>,
}

/// What converting a lead made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Conversion {
    pub lead_id: String,
    pub account: Account,
    /// True when a new account was created; false when an existing one was used.
    pub account_created: bool,
    pub contact: Contact,
    pub opportunity: Option<Opportunity>,
    /// True when the lead had been converted before; nothing new was made.
    pub already_converted: bool,
}

/// What to match.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct MatchAccountParams {
    /// The company's web domain (or a URL or email on it), e.g. acme.example.
    #[serde(default)]
    pub domain: Option<String>,
    /// The company's name; matched ignoring case, punctuation and suffixes like Inc or GmbH,
    /// then by similarity.
    #[serde(default)]
    pub company_name: Option<String>,
}

/// Accounts that may be the company.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AccountMatches {
    /// Best first: domain matches, exact names, then similar names.
    pub matches: Vec<AccountMatch>,
    /// What to do: use the best match, check the candidates, or create a new account.
    pub recommendation: String,
}

/// A contact to create.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateContactParams {
    /// The account, e.g. acc_000042.
    pub account_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// decision_maker, champion, user (default) or billing.
    #[serde(default)]
    pub role: Option<String>,
    /// A key unique to this request; retrying with it creates nothing new.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The contact created (or found, on a retry).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedContact {
    pub contact: Contact,
    pub created: bool,
}

/// What to search for.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SearchCrmParams {
    /// Text to find in names, emails, domains and company names (1-100 characters).
    pub text: String,
    /// Only these kinds: account, contact, lead, opportunity (default all).
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// Only records owned by this rep.
    #[serde(default)]
    pub owner: Option<String>,
    /// Only records in this status or stage (lead status, account lifecycle stage, deal stage).
    #[serde(default)]
    pub status: Option<String>,
    /// Page size, 1-100 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Which leads to delete: ids, or a filter (at least one of its fields).
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct DeleteLeadsParams {
    /// These leads (at most 5,000).
    #[serde(default)]
    pub lead_ids: Option<Vec<String>>,
    /// Or every lead in this status.
    #[serde(default)]
    pub status: Option<String>,
    /// Or every lead of this owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// Or every lead from this source.
    #[serde(default)]
    pub source: Option<String>,
    /// Or every lead from this campaign.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// Or every lead created at or after this time (RFC 3339).
    #[serde(default)]
    pub created_since: Option<String>,
}

/// Which leads to route, and how.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct RouteLeadsParams {
    /// These leads; default: leads without an owner in status new or working.
    #[serde(default)]
    pub lead_ids: Option<Vec<String>>,
    /// Rules tried in order; the first that matches picks the owner from its reps.
    #[serde(default)]
    pub rules: Option<Vec<RoutingRule>>,
    /// Reps for leads no rule matches; default: every rep who owns leads now.
    #[serde(default)]
    pub default_owners: Option<Vec<String>>,
    /// Most open leads a rep may hold (default 150).
    #[serde(default)]
    pub capacity: Option<i64>,
    /// Also reassign leads that already have an owner (default false).
    #[serde(default)]
    pub reassign: Option<bool>,
    /// Most leads to route in one call, 1-500 (default 100).
    #[serde(default)]
    pub limit: Option<i64>,
    /// false (default): show the plan and change nothing. true: assign the owners.
    #[serde(default)]
    pub apply: Option<bool>,
}

/// A routing plan, applied or not.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RoutingPlan {
    /// True when the owners were assigned; false for a preview.
    pub applied: bool,
    pub assignments: Vec<Assignment>,
    pub unrouted: Vec<Unrouted>,
    /// Open leads per rep after the plan.
    pub load_after: BTreeMap<String, i64>,
}

fn lead_status_choice(value: &str) -> ToolResult<String> {
    choice_arg("status", value, &LEAD_STATUSES)
}

fn role_from_title(title: Option<&str>) -> &'static str {
    let title = title.unwrap_or("").to_lowercase();
    let senior = [
        "chief",
        "ceo",
        "cfo",
        "cto",
        "coo",
        "cro",
        "vp",
        "vice president",
        "head",
        "director",
        "founder",
        "owner",
        "president",
    ];
    if senior.iter().any(|word| title.contains(word)) {
        "decision_maker"
    } else {
        "champion"
    }
}

#[tool_router(router = lead_router, vis = "pub(crate)")]
impl SalesServer {
    #[tool(
        description = "Create a lead. One lead per email: if the email is taken the error names the existing lead \
            (use upsert_lead to update it). Give request_id so a retry after a timeout creates nothing twice. \
            Example: {\"email\": \"dana@acme.example\", \"first_name\": \"Dana\", \"last_name\": \"Reyes\", \
            \"company_name\": \"Acme\", \"industry\": \"technology\", \"employee_count\": 250, \"country\": \"US\", \
            \"source\": \"event\", \"request_id\": \"5f0c…\"}.",
        annotations(
            title = "Create lead",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn create_lead(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CreateLeadParams>,
    ) -> Result<Json<CreatedLead>, ToolError> {
        let lead = params.lead.checked()?;
        let request_id = optional_text("request_id", params.request_id.as_deref(), 100)?;
        let mut tx = scope.transaction().await?;
        let (lead, created) = store::leads::create(&mut tx, &lead, request_id.as_deref()).await?;
        Ok(Json(CreatedLead { lead, created }))
    }

    #[tool(
        description = "Create a lead, or update the one with the same email (or external_id with match_by = \
            \"external_id\"). Fields given replace the stored ones; optional fields left out are kept. The same \
            upsert twice changes nothing the second time (outcome \"unchanged\"). Use it to sync leads from a form \
            or list. Example: {\"email\": \"dana@acme.example\", \"first_name\": \"Dana\", \"last_name\": \"Reyes\", \
            \"company_name\": \"Acme\", \"industry\": \"technology\", \"employee_count\": 300, \"country\": \"US\"}.",
        annotations(
            title = "Upsert lead",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn upsert_lead(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<UpsertLeadParams>,
    ) -> Result<Json<UpsertedLead>, ToolError> {
        let lead = params.lead.checked()?;
        let by = match params.match_by.as_deref().map(str::trim) {
            None | Some("email") => MatchBy::Email,
            Some("external_id") => {
                if lead.external_id.is_none() {
                    return Err(ToolError::invalid(
                        "external_id",
                        "is missing; matching by external_id needs it",
                    ));
                }
                MatchBy::ExternalId
            }
            Some(_) => {
                return Err(ToolError::invalid(
                    "match_by",
                    "must be email or external_id",
                ));
            }
        };
        let mut tx = scope.transaction().await?;
        let (lead, outcome) = store::leads::upsert(&mut tx, &lead, by).await?;
        Ok(Json(UpsertedLead { lead, outcome }))
    }

    #[tool(
        description = "Move a lead to a status: new, working, mql, sql or disqualified (convert_lead converts). \
            Setting the status it already has changes nothing. A reason, if given, is logged as a note on the lead. \
            Example: {\"lead_id\": \"lead_000042\", \"status\": \"sql\", \"reason\": \"Budget confirmed on call\"}.",
        annotations(
            title = "Update lead status",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn update_lead_status(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<UpdateLeadStatusParams>,
    ) -> Result<Json<LeadStatusChange>, ToolError> {
        let id = id_arg("lead_id", "lead", &params.lead_id)?;
        let status = lead_status_choice(&params.status)?;
        let reason = optional_text("reason", params.reason.as_deref(), 500)?;
        let mut tx = scope.transaction().await?;
        let (lead, previous_status, changed) =
            store::leads::update_status(&mut tx, &id, &status).await?;
        if changed {
            let note = store::activities::NewActivity {
                kind: "note".into(),
                subject: format!("Status {previous_status} → {status}"),
                detail: reason,
                lead_id: Some(id.clone()),
                account_id: None,
                contact_id: None,
                opportunity_id: None,
                actor: scope.actor.name.clone(),
                occurred_at: store::clock::now(),
            };
            store::activities::log(&mut tx, &note, None).await?;
        }
        Ok(Json(LeadStatusChange {
            lead,
            previous_status,
            changed,
        }))
    }

    #[tool(
        description = "Convert a lead into an account, a contact and (by default) an opportunity, in one \
            transaction: all three or nothing. The account is the one given, else an existing account with the \
            lead's domain, else a new one (check match_account first to avoid a duplicate with another domain). \
            Converting a lead again changes nothing and returns what the first conversion made. \
            Example: {\"lead_id\": \"lead_000042\", \"amount_minor\": 2400000, \"close_date\": \"2027-01-31\"}.",
        annotations(
            title = "Convert lead",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn convert_lead(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<ConvertLeadParams>,
    ) -> Result<Json<Conversion>, ToolError> {
        let id = id_arg("lead_id", "lead", &params.lead_id)?;
        let account_id = optional_id("account_id", "acc", params.account_id.as_deref())?;
        let amount = amount_arg("amount_minor", params.amount_minor.unwrap_or(0))?;
        let close_date = match params.close_date.as_deref() {
            Some(date) => date_arg("close_date", date)?,
            None => store::clock::format_date(
                chrono::Utc::now().date_naive() + chrono::Duration::days(90),
            ),
        };
        let opportunity_name =
            optional_text("opportunity_name", params.opportunity_name.as_deref(), 200)?;
        let role = optional_choice(
            "contact_role",
            params.contact_role.as_deref(),
            &crate::CONTACT_ROLES,
        )?;
        let mut tx = scope.transaction().await?;
        let lead = store::leads::get_in(&mut tx, &id).await?;
        if lead.status == "converted" {
            let account_id = lead.converted_account_id.clone().ok_or_else(|| {
                ToolError::Conflict(format!(
                    "lead {id} is marked converted but names no account"
                ))
            })?;
            let account = store::accounts::get_in(&mut tx, &account_id).await?;
            let contact = store::accounts::contact_by_email_in(&mut tx, &lead.email)
                .await?
                .ok_or_else(|| {
                    ToolError::Conflict(format!(
                        "lead {id} was converted but its contact is gone; create it with create_contact"
                    ))
                })?;
            let opportunity = store::opportunities::first_for_lead_in(&mut tx, &id).await?;
            return Ok(Json(Conversion {
                lead_id: id,
                account,
                account_created: false,
                contact,
                opportunity,
                already_converted: true,
            }));
        }
        if lead.status == "disqualified" {
            return Err(ToolError::Conflict(format!(
                "lead {id} is disqualified; set it to working or sql with update_lead_status before converting"
            )));
        }
        let (account, account_created) = match account_id {
            Some(account_id) => (store::accounts::get_in(&mut tx, &account_id).await?, false),
            None => {
                let existing = match &lead.domain {
                    Some(domain) => store::accounts::by_domain_in(&mut tx, domain).await?,
                    None => None,
                };
                match existing {
                    Some(account) => (account, false),
                    None => {
                        let new_account = NewAccount {
                            name: lead.company_name.clone(),
                            domain: lead.domain.clone(),
                            industry: lead.industry.clone(),
                            employee_count: lead.employee_count,
                            country: lead.country.clone(),
                            owner: lead
                                .owner
                                .clone()
                                .or_else(|| Some(scope.actor.name.clone())),
                            lifecycle_stage: "trial".into(),
                        };
                        (store::accounts::create(&mut tx, &new_account).await?, true)
                    }
                }
            }
        };
        let contact = match store::accounts::contact_by_email_in(&mut tx, &lead.email).await? {
            Some(contact) if contact.account_id == account.id => contact,
            Some(contact) => {
                return Err(ToolError::Conflict(format!(
                    "the lead's email already belongs to contact {} at account {}; convert into that account with account_id",
                    contact.id, contact.account_id
                )));
            }
            None => {
                let new_contact = NewContact {
                    account_id: account.id.clone(),
                    first_name: lead.first_name.clone(),
                    last_name: lead.last_name.clone(),
                    email: lead.email.clone(),
                    phone: None,
                    title: lead.title.clone(),
                    role: role.unwrap_or_else(|| role_from_title(lead.title.as_deref()).into()),
                };
                store::accounts::create_contact(&mut tx, &new_contact, None)
                    .await?
                    .0
            }
        };
        let opportunity = if params.create_opportunity.unwrap_or(true) {
            let deal = store::opportunities::NewOpportunity {
                account_id: account.id.clone(),
                lead_id: Some(id.clone()),
                name: opportunity_name
                    .unwrap_or_else(|| format!("{} - new business", lead.company_name)),
                stage: "qualification".into(),
                amount_minor: amount,
                currency: account.currency.clone(),
                probability: None,
                close_date,
                owner: lead
                    .owner
                    .clone()
                    .or_else(|| Some(scope.actor.name.clone())),
            };
            Some(
                store::opportunities::create(&mut tx, &deal, &scope.actor.name, None)
                    .await?
                    .0,
            )
        } else {
            None
        };
        store::leads::mark_converted(&mut tx, &id, &account.id).await?;
        Ok(Json(Conversion {
            lead_id: id,
            account,
            account_created,
            contact,
            opportunity,
            already_converted: false,
        }))
    }

    #[tool(
        description = "Find existing accounts that may be this company before creating a duplicate: by web domain \
            (certain), by name ignoring case, punctuation and suffixes like Inc or GmbH, then by similar names. Gives \
            the candidates best first and a recommendation. Example: {\"domain\": \"acme.example\", \"company_name\": \
            \"Acme Inc\"}.",
        annotations(
            title = "Match account",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn match_account(
        &self,
        Parameters(params): Parameters<MatchAccountParams>,
    ) -> Result<Json<AccountMatches>, ToolError> {
        let domain = optional_text("domain", params.domain.as_deref(), 253)?.map(|d| {
            // An email address names its domain after the @.
            d.rsplit_once('@')
                .map_or(d.clone(), |(_, host)| host.to_string())
        });
        let name = optional_text("company_name", params.company_name.as_deref(), 200)?;
        if domain.is_none() && name.is_none() {
            return Err(ToolError::invalid(
                "company_name",
                "is missing; give a domain, a company_name, or both",
            ));
        }
        let matches = store::accounts::find_matches(
            self.runtime.store(),
            domain.as_deref(),
            name.as_deref(),
            0.45,
            10,
        )
        .await?;
        let recommendation = match matches.first() {
            Some(best) if best.similarity >= 0.999 => format!(
                "use {} ({}): it matches by {}",
                best.account_id,
                best.name,
                match best.match_kind {
                    store::accounts::MatchKind::Domain => "domain",
                    _ => "name",
                }
            ),
            Some(best) => format!(
                "no certain match; check whether {} ({}) is the same company before creating a new account",
                best.account_id, best.name
            ),
            None => "no existing account matches; creating a new one will not duplicate".into(),
        };
        Ok(Json(AccountMatches {
            matches,
            recommendation,
        }))
    }

    #[tool(
        description = "Add a contact (a person) to an account. One contact per email. Give request_id so a retry \
            creates nothing twice. Example: {\"account_id\": \"acc_000042\", \"first_name\": \"Sam\", \"last_name\": \
            \"Lee\", \"email\": \"sam@acme.example\", \"title\": \"CFO\", \"role\": \"decision_maker\"}.",
        annotations(
            title = "Create contact",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn create_contact(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<CreateContactParams>,
    ) -> Result<Json<CreatedContact>, ToolError> {
        let contact = NewContact {
            account_id: id_arg("account_id", "acc", &params.account_id)?,
            first_name: required_text("first_name", &params.first_name, 100)?,
            last_name: required_text("last_name", &params.last_name, 100)?,
            email: email_arg("email", &params.email)?,
            phone: optional_text("phone", params.phone.as_deref(), 40)?,
            title: optional_text("title", params.title.as_deref(), 120)?,
            role: choice_arg(
                "role",
                params.role.as_deref().unwrap_or("user"),
                &crate::CONTACT_ROLES,
            )?,
        };
        let request_id = optional_text("request_id", params.request_id.as_deref(), 100)?;
        let mut tx = scope.transaction().await?;
        let (contact, created) =
            store::accounts::create_contact(&mut tx, &contact, request_id.as_deref()).await?;
        Ok(Json(CreatedContact { contact, created }))
    }

    #[tool(
        description = "Search the CRM by text across accounts, contacts, leads and opportunities (names, emails, \
            domains, company names; case-insensitive, anywhere in the field), optionally only some kinds, one \
            owner's records, or one status or stage. Accounts first, then contacts, leads and deals; pages of up \
            to 100. Example: {\"text\": \"acme\", \"kinds\": [\"account\", \"lead\"]}.",
        annotations(
            title = "Search CRM",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn search_crm(
        &self,
        Parameters(params): Parameters<SearchCrmParams>,
    ) -> Result<Json<Page<SearchHit>>, ToolError> {
        let text = required_text("text", &params.text, 100)?;
        let kinds = params
            .kinds
            .unwrap_or_default()
            .iter()
            .map(|k| choice_arg("kinds", k, &store::search::KINDS))
            .collect::<ToolResult<Vec<_>>>()?;
        let query = store::search::SearchQuery {
            text,
            kinds,
            owner: optional_text("owner", params.owner.as_deref(), 120)?,
            status: optional_text("status", params.status.as_deref(), 40)?,
        };
        let cursor = optional_text("cursor", params.cursor.as_deref(), 80)?;
        if let Some(cursor) = &cursor {
            let well_formed = cursor.split_once(':').is_some_and(|(kind, id)| {
                store::search::KINDS.contains(&kind) && id.split_once('_').is_some()
            });
            if !well_formed {
                return Err(ToolError::invalid(
                    "cursor",
                    "is not a cursor from search_crm; pass next_cursor back unchanged",
                ));
            }
        }
        Ok(Json(
            store::search::search(
                self.runtime.store(),
                &query,
                cursor.as_deref(),
                params.limit,
            )
            .await?,
        ))
    }

    #[tool(
        description = "Delete leads, by ids or by a filter (status, owner, source, campaign, created since; at least \
            one), with their activities, tasks and marketing touches; deals they led to stay, unlinked. Destructive \
            and gated: the first call changes nothing and returns a preview (how many, a sample, what goes with \
            them) and a confirm_token; call again with the same arguments plus confirm_token to delete. At most \
            5,000 leads at once. Example: {\"status\": \"disqualified\", \"created_since\": \"2026-01-01T00:00:00Z\"}.",
        annotations(
            title = "Delete leads",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub(crate) async fn delete_leads(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<DeleteLeadsParams>,
    ) -> Result<Json<Gated<LeadDeletion>>, ToolError> {
        let filter = store::leads::LeadFilter {
            owner: optional_text("owner", params.owner.as_deref(), 120)?,
            status: params
                .status
                .as_deref()
                .map(lead_status_choice)
                .transpose()?,
            source: optional_text("source", params.source.as_deref(), 60)?,
            campaign_id: optional_id("campaign_id", "cmp", params.campaign_id.as_deref())?,
            created_since: params
                .created_since
                .as_deref()
                .map(|t| timestamp_arg("created_since", t))
                .transpose()?,
        };
        let has_filter = filter.owner.is_some()
            || filter.status.is_some()
            || filter.source.is_some()
            || filter.campaign_id.is_some()
            || filter.created_since.is_some();
        let mut tx = scope.transaction().await?;
        let ids = match (params.lead_ids, has_filter) {
            (Some(_), true) => {
                return Err(ToolError::invalid(
                    "lead_ids",
                    "give lead_ids or a filter, not both",
                ));
            }
            (Some(ids), false) => {
                if ids.is_empty() {
                    return Err(ToolError::invalid(
                        "lead_ids",
                        "is empty; name at least one lead",
                    ));
                }
                if ids.len() > store::leads::MAX_DELETE as usize {
                    return Err(ToolError::invalid(
                        "lead_ids",
                        format!(
                            "names {} leads; at most {} at once",
                            ids.len(),
                            store::leads::MAX_DELETE
                        ),
                    ));
                }
                let mut checked = ids
                    .iter()
                    .map(|id| id_arg("lead_ids", "lead", id))
                    .collect::<ToolResult<Vec<_>>>()?;
                checked.sort();
                checked.dedup();
                checked
            }
            (None, true) => {
                let ids = store::leads::ids_matching(&mut tx, &filter).await?;
                if ids.len() as i64 > store::leads::MAX_DELETE {
                    return Err(ToolError::Conflict(format!(
                        "the filter matches more than {} leads; narrow it",
                        store::leads::MAX_DELETE
                    )));
                }
                ids
            }
            (None, false) => {
                return Err(ToolError::invalid(
                    "lead_ids",
                    "is missing; give lead_ids or at least one filter (status, owner, source, campaign_id, created_since)",
                ));
            }
        };
        let deletion = store::leads::delete_many(&mut tx, &ids).await?;
        Ok(Json(Gated::done(deletion)))
    }

    #[tool(
        description = "Assign owners to leads by rules: the first rule whose countries, industries and company size \
            match picks the rep with the fewest open leads among its owners (round-robin, never past capacity); \
            leads no rule matches go to default_owners. By default routes leads with no owner in status new or \
            working. apply = false (default) shows the plan and changes nothing; apply = true assigns. Leads that \
            already have an owner keep it unless reassign = true, so applying twice changes nothing. \
            Example: {\"rules\": [{\"name\": \"DACH\", \"countries\": [\"DE\", \"AT\", \"CH\"], \"owners\": \
            [\"Jonas Weber\"]}], \"default_owners\": [\"Maya Patel\", \"Luis Ortega\"], \"apply\": false}.",
        annotations(
            title = "Route leads",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn route_leads(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<RouteLeadsParams>,
    ) -> Result<Json<RoutingPlan>, ToolError> {
        let capacity = range_arg("capacity", params.capacity.unwrap_or(150), 1, 100_000)?;
        let limit = range_arg("limit", params.limit.unwrap_or(100), 1, 500)?;
        let reassign = params.reassign.unwrap_or(false);
        let rules = params.rules.unwrap_or_default();
        if rules.len() > 100 {
            return Err(ToolError::invalid("rules", "has more than 100 rules"));
        }
        let owner_name = |field: &'static str, name: &String| text_arg(field, name, 120);
        for rule in &rules {
            if rule.owners.is_empty() {
                return Err(ToolError::invalid(
                    "rules",
                    "every rule needs at least one owner",
                ));
            }
            for owner in &rule.owners {
                owner_name("rules", owner)?;
            }
            if let (Some(min), Some(max)) = (rule.min_employees, rule.max_employees)
                && min > max
            {
                return Err(ToolError::invalid(
                    "rules",
                    "min_employees is above max_employees",
                ));
            }
        }
        let load_now = store::leads::open_load_by_owner(self.runtime.store()).await?;
        let default_pool = match params.default_owners {
            Some(owners) => owners
                .iter()
                .map(|o| owner_name("default_owners", o))
                .collect::<ToolResult<Vec<_>>>()?,
            None => load_now.iter().map(|(owner, _)| owner.clone()).collect(),
        };
        let candidates = match &params.lead_ids {
            Some(ids) => {
                if ids.len() > 500 {
                    return Err(ToolError::invalid("lead_ids", "names more than 500 leads"));
                }
                let ids = ids
                    .iter()
                    .map(|id| id_arg("lead_ids", "lead", id))
                    .collect::<ToolResult<Vec<_>>>()?;
                let found = store::leads::get_many(self.runtime.store(), &ids).await?;
                if let Some(missing) = ids.iter().find(|id| !found.iter().any(|l| &l.id == *id)) {
                    return Err(ToolError::NotFound(format!(
                        "no lead has id {missing:?}; check the id"
                    )));
                }
                found
            }
            None => store::leads::unowned_open(self.runtime.store(), limit).await?,
        };
        let to_route: Vec<routing::LeadToRoute> = candidates
            .iter()
            .filter(|lead| reassign || lead.owner.is_none())
            .filter(|lead| !matches!(lead.status.as_str(), "converted" | "disqualified"))
            .take(usize::try_from(limit).unwrap_or(100))
            .map(|lead| routing::LeadToRoute {
                id: lead.id.clone(),
                country: lead.country.clone(),
                industry: lead.industry.clone(),
                employee_count: lead.employee_count,
                current_owner: lead.owner.clone(),
            })
            .collect();
        let mut load: BTreeMap<String, i64> = load_now.into_iter().collect();
        for lead in &to_route {
            // A lead being reassigned stops counting against its current owner.
            if let Some(owner) = &lead.current_owner
                && let Some(open) = load.get_mut(owner)
            {
                *open -= 1;
            }
        }
        let (assignments, unrouted) =
            routing::plan(&to_route, &rules, &default_pool, &mut load, capacity);
        let apply = params.apply.unwrap_or(false);
        if apply {
            let mut tx = scope.transaction().await?;
            for assignment in &assignments {
                if assignment.from_owner.as_deref() != Some(assignment.to_owner.as_str()) {
                    store::leads::set_owner(&mut tx, &assignment.lead_id, &assignment.to_owner)
                        .await?;
                }
            }
        }
        Ok(Json(RoutingPlan {
            applied: apply,
            assignments,
            unrouted,
            load_after: load,
        }))
    }
}
