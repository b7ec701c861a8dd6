//! Plain domain records, as the repositories return them. Serializable, with JSON schemas,
//! so a tool can hand them to its caller unchanged. Money is in minor units (cents).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A customer or prospect company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Account {
    pub id: String,
    pub external_id: Option<String>,
    pub name: String,
    pub domain: Option<String>,
    pub industry: String,
    pub employee_count: i64,
    pub country: String,
    /// starter, growth or enterprise.
    pub plan_tier: String,
    /// trial, active, at_risk or churned.
    pub lifecycle_stage: String,
    /// smb, mid_market or enterprise.
    pub segment: String,
    /// Monthly recurring revenue in minor units (cents) of `currency`.
    pub mrr_minor: i64,
    pub currency: String,
    pub seats_purchased: i64,
    /// Account executive.
    pub owner: Option<String>,
    /// Customer success manager.
    pub csm_owner: Option<String>,
    pub trial_started_at: Option<String>,
    pub trial_ends_at: Option<String>,
    pub customer_since: Option<String>,
    pub churned_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A person at an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    pub id: String,
    pub account_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub title: Option<String>,
    /// decision_maker, champion, user or billing.
    pub role: String,
}

/// What a lead has done lately: the engagement signals lead scoring reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
pub struct LeadSignals {
    pub website_visits_30d: i64,
    pub demo_requested: bool,
    pub whitepaper_downloads: i64,
    /// 0-100.
    pub email_engagement_score: i64,
    pub linkedin_engagement: i64,
    pub free_trial_started: bool,
}

/// A person who may buy, before they are converted into an account and contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Lead {
    pub id: String,
    pub external_id: Option<String>,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company_name: String,
    pub domain: Option<String>,
    pub industry: String,
    pub employee_count: i64,
    pub country: String,
    pub title: Option<String>,
    pub source: String,
    /// new, working, mql, sql, converted or disqualified.
    pub status: String,
    pub owner: Option<String>,
    pub campaign_id: Option<String>,
    pub signals: LeadSignals,
    pub converted_account_id: Option<String>,
    pub converted_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A deal in the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Opportunity {
    pub id: String,
    pub external_id: Option<String>,
    pub account_id: String,
    pub lead_id: Option<String>,
    pub name: String,
    /// prospecting, qualification, proposal, negotiation, closed_won or closed_lost.
    pub stage: String,
    /// Deal value in minor units (cents) of `currency`.
    pub amount_minor: i64,
    pub currency: String,
    /// Win probability, 0-100.
    pub probability: i64,
    pub close_date: String,
    pub owner: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

/// Deals in one pipeline stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageTotal {
    pub stage: String,
    pub deals: i64,
    /// Sum of deal values, minor units.
    pub amount_minor: i64,
    /// Sum of value × probability / 100, minor units.
    pub weighted_amount_minor: i64,
}

/// A marketing campaign and its caps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    /// paid_search, paid_social, email, events, content, webinar or partner.
    pub channel: String,
    /// draft, active, paused or completed.
    pub status: String,
    pub audience: Option<String>,
    pub starts_on: String,
    pub ends_on: Option<String>,
    /// Lifetime budget cap, minor units.
    pub budget_lifetime_minor: i64,
    /// Daily budget cap, minor units; none means no daily cap.
    pub budget_daily_minor: Option<i64>,
    pub currency: String,
    pub impressions: i64,
    pub clicks: i64,
}

/// A campaign with what it has spent and produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CampaignSummary {
    #[serde(flatten)]
    pub campaign: Campaign,
    /// Committed spend to date, minor units.
    pub spent_minor: i64,
    /// Lifetime cap minus committed spend, minor units.
    pub remaining_budget_minor: i64,
    pub touches: i64,
    /// Leads whose source campaign this is.
    pub leads: i64,
}

/// One week of product usage for an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsageWeek {
    /// Monday of the week, `YYYY-MM-DD`.
    pub week_start: String,
    pub active_users: i64,
    pub seats_used: i64,
    pub logins: i64,
    pub feature_events: i64,
    /// Use of features gated to a higher plan tier.
    pub premium_feature_events: i64,
}

/// A support ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ticket {
    pub id: String,
    pub account_id: String,
    pub contact_id: Option<String>,
    pub subject: String,
    /// low, normal, high or urgent.
    pub priority: String,
    /// open, pending, solved or closed.
    pub status: String,
    pub opened_at: String,
    pub resolved_at: Option<String>,
    /// Satisfaction rating 1-5, when given.
    pub csat: Option<i64>,
}

/// One answer to "how likely are you to recommend us?" (0-10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NpsResponse {
    pub id: String,
    pub account_id: String,
    pub contact_id: Option<String>,
    pub score: i64,
    pub comment: Option<String>,
    pub responded_at: String,
}

/// A logged call, email, meeting, note or customer-success touchpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Activity {
    pub id: String,
    /// call, email, meeting, note or touchpoint.
    pub kind: String,
    pub subject: String,
    pub detail: Option<String>,
    pub lead_id: Option<String>,
    pub account_id: Option<String>,
    pub contact_id: Option<String>,
    pub opportunity_id: Option<String>,
    pub actor: String,
    pub occurred_at: String,
    pub created_at: String,
}

/// One page of a listing; pass `next_cursor` back to get the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items follow.
    pub next_cursor: Option<String>,
}

/// One change of a deal's stage, amount or close date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageChange {
    pub id: String,
    pub opportunity_id: String,
    /// None when the deal was created.
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub previous_amount_minor: Option<i64>,
    pub amount_minor: i64,
    pub previous_close_date: Option<String>,
    pub close_date: String,
    pub changed_by: String,
    pub changed_at: String,
    pub note: Option<String>,
}

/// A follow-up someone has to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Task {
    pub id: String,
    pub title: String,
    /// open, done or cancelled.
    pub status: String,
    pub owner: Option<String>,
    /// `YYYY-MM-DD`.
    pub due_on: Option<String>,
    pub lead_id: Option<String>,
    pub account_id: Option<String>,
    pub opportunity_id: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
}
