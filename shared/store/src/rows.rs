//! Decoding rows into [`crate::records`]; the one place that knows column names.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::records::*;
use crate::{Error, Result, flag};

pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column)
        .map_err(|error| Error::from_sqlx("decode a stored record", error))
}

pub(crate) const ACCOUNT_COLUMNS: &str = "id, external_id, name, domain, industry, employee_count, country, plan_tier, lifecycle_stage, segment, mrr_minor, currency, seats_purchased, owner, csm_owner, trial_started_at, trial_ends_at, customer_since, churned_at, created_at, updated_at";

pub(crate) fn account(row: &AnyRow) -> Result<Account> {
    Ok(Account {
        id: get(row, "id")?,
        external_id: get(row, "external_id")?,
        name: get(row, "name")?,
        domain: get(row, "domain")?,
        industry: get(row, "industry")?,
        employee_count: get(row, "employee_count")?,
        country: get(row, "country")?,
        plan_tier: get(row, "plan_tier")?,
        lifecycle_stage: get(row, "lifecycle_stage")?,
        segment: get(row, "segment")?,
        mrr_minor: get(row, "mrr_minor")?,
        currency: get(row, "currency")?,
        seats_purchased: get(row, "seats_purchased")?,
        owner: get(row, "owner")?,
        csm_owner: get(row, "csm_owner")?,
        trial_started_at: get(row, "trial_started_at")?,
        trial_ends_at: get(row, "trial_ends_at")?,
        customer_since: get(row, "customer_since")?,
        churned_at: get(row, "churned_at")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

pub(crate) const CONTACT_COLUMNS: &str =
    "id, account_id, first_name, last_name, email, phone, title, role";

pub(crate) fn contact(row: &AnyRow) -> Result<Contact> {
    Ok(Contact {
        id: get(row, "id")?,
        account_id: get(row, "account_id")?,
        first_name: get(row, "first_name")?,
        last_name: get(row, "last_name")?,
        email: get(row, "email")?,
        phone: get(row, "phone")?,
        title: get(row, "title")?,
        role: get(row, "role")?,
    })
}

pub(crate) const LEAD_COLUMNS: &str = "id, external_id, email, first_name, last_name, company_name, domain, industry, employee_count, country, title, source, status, owner, campaign_id, website_visits_30d, demo_requested, whitepaper_downloads, email_engagement_score, linkedin_engagement, free_trial_started, converted_account_id, converted_at, created_at, updated_at";

pub(crate) fn lead(row: &AnyRow) -> Result<Lead> {
    Ok(Lead {
        id: get(row, "id")?,
        external_id: get(row, "external_id")?,
        email: get(row, "email")?,
        first_name: get(row, "first_name")?,
        last_name: get(row, "last_name")?,
        company_name: get(row, "company_name")?,
        domain: get(row, "domain")?,
        industry: get(row, "industry")?,
        employee_count: get(row, "employee_count")?,
        country: get(row, "country")?,
        title: get(row, "title")?,
        source: get(row, "source")?,
        status: get(row, "status")?,
        owner: get(row, "owner")?,
        campaign_id: get(row, "campaign_id")?,
        signals: signals(row)?,
        converted_account_id: get(row, "converted_account_id")?,
        converted_at: get(row, "converted_at")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

/// A lead's engagement signals from a row holding their columns.
pub(crate) fn signals(row: &AnyRow) -> Result<LeadSignals> {
    Ok(LeadSignals {
        website_visits_30d: get(row, "website_visits_30d")?,
        demo_requested: flag(row, "demo_requested")?,
        whitepaper_downloads: get(row, "whitepaper_downloads")?,
        email_engagement_score: get(row, "email_engagement_score")?,
        linkedin_engagement: get(row, "linkedin_engagement")?,
        free_trial_started: flag(row, "free_trial_started")?,
    })
}

pub(crate) const OPPORTUNITY_COLUMNS: &str = "id, external_id, account_id, lead_id, name, stage, amount_minor, currency, probability, close_date, owner, created_at, updated_at, closed_at";

pub(crate) fn opportunity(row: &AnyRow) -> Result<Opportunity> {
    Ok(Opportunity {
        id: get(row, "id")?,
        external_id: get(row, "external_id")?,
        account_id: get(row, "account_id")?,
        lead_id: get(row, "lead_id")?,
        name: get(row, "name")?,
        stage: get(row, "stage")?,
        amount_minor: get(row, "amount_minor")?,
        currency: get(row, "currency")?,
        probability: get(row, "probability")?,
        close_date: get(row, "close_date")?,
        owner: get(row, "owner")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        closed_at: get(row, "closed_at")?,
    })
}

pub(crate) fn campaign(row: &AnyRow) -> Result<Campaign> {
    Ok(Campaign {
        id: get(row, "id")?,
        name: get(row, "name")?,
        channel: get(row, "channel")?,
        status: get(row, "status")?,
        audience: get(row, "audience")?,
        starts_on: get(row, "starts_on")?,
        ends_on: get(row, "ends_on")?,
        budget_lifetime_minor: get(row, "budget_lifetime_minor")?,
        budget_daily_minor: get(row, "budget_daily_minor")?,
        currency: get(row, "currency")?,
        impressions: get(row, "impressions")?,
        clicks: get(row, "clicks")?,
    })
}

pub(crate) fn usage_week(row: &AnyRow) -> Result<UsageWeek> {
    Ok(UsageWeek {
        week_start: get(row, "week_start")?,
        active_users: get(row, "active_users")?,
        seats_used: get(row, "seats_used")?,
        logins: get(row, "logins")?,
        feature_events: get(row, "feature_events")?,
        premium_feature_events: get(row, "premium_feature_events")?,
    })
}

pub(crate) const TICKET_COLUMNS: &str =
    "id, account_id, contact_id, subject, priority, status, opened_at, resolved_at, csat";

pub(crate) fn ticket(row: &AnyRow) -> Result<Ticket> {
    Ok(Ticket {
        id: get(row, "id")?,
        account_id: get(row, "account_id")?,
        contact_id: get(row, "contact_id")?,
        subject: get(row, "subject")?,
        priority: get(row, "priority")?,
        status: get(row, "status")?,
        opened_at: get(row, "opened_at")?,
        resolved_at: get(row, "resolved_at")?,
        csat: get(row, "csat")?,
    })
}

pub(crate) fn nps_response(row: &AnyRow) -> Result<NpsResponse> {
    Ok(NpsResponse {
        id: get(row, "id")?,
        account_id: get(row, "account_id")?,
        contact_id: get(row, "contact_id")?,
        score: get(row, "score")?,
        comment: get(row, "comment")?,
        responded_at: get(row, "responded_at")?,
    })
}

pub(crate) const ACTIVITY_COLUMNS: &str = "id, kind, subject, detail, lead_id, account_id, contact_id, opportunity_id, actor, occurred_at, created_at";

pub(crate) fn activity(row: &AnyRow) -> Result<Activity> {
    Ok(Activity {
        id: get(row, "id")?,
        kind: get(row, "kind")?,
        subject: get(row, "subject")?,
        detail: get(row, "detail")?,
        lead_id: get(row, "lead_id")?,
        account_id: get(row, "account_id")?,
        contact_id: get(row, "contact_id")?,
        opportunity_id: get(row, "opportunity_id")?,
        actor: get(row, "actor")?,
        occurred_at: get(row, "occurred_at")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) const STAGE_CHANGE_COLUMNS: &str = "id, opportunity_id, from_stage, to_stage, previous_amount_minor, amount_minor, previous_close_date, close_date, changed_by, changed_at, note";

pub(crate) fn stage_change(row: &AnyRow) -> Result<StageChange> {
    Ok(StageChange {
        id: get(row, "id")?,
        opportunity_id: get(row, "opportunity_id")?,
        from_stage: get(row, "from_stage")?,
        to_stage: get(row, "to_stage")?,
        previous_amount_minor: get(row, "previous_amount_minor")?,
        amount_minor: get(row, "amount_minor")?,
        previous_close_date: get(row, "previous_close_date")?,
        close_date: get(row, "close_date")?,
        changed_by: get(row, "changed_by")?,
        changed_at: get(row, "changed_at")?,
        note: get(row, "note")?,
    })
}

pub(crate) const TASK_COLUMNS: &str = "id, title, status, owner, due_on, lead_id, account_id, opportunity_id, created_at, completed_at";

pub(crate) fn task(row: &AnyRow) -> Result<Task> {
    Ok(Task {
        id: get(row, "id")?,
        title: get(row, "title")?,
        status: get(row, "status")?,
        owner: get(row, "owner")?,
        due_on: get(row, "due_on")?,
        lead_id: get(row, "lead_id")?,
        account_id: get(row, "account_id")?,
        opportunity_id: get(row, "opportunity_id")?,
        created_at: get(row, "created_at")?,
        completed_at: get(row, "completed_at")?,
    })
}
