//! One struct per table the generator fills, field for field the table's columns (in the
//! order of the migrations), and how to bind a row to a multi-row `INSERT`.
//! Flags are `bool` (a BOOLEAN on Postgres, 0/1 on SQLite); every integer is `i64`
//! (BIGINT on Postgres).

use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

/// A query being assembled for the Any driver.
pub(crate) type AnyQuery = Query<'static, Any, AnyArguments>;

/// A row of one table, ready to bind in column order.
pub(crate) trait TableRow {
    const TABLE: &'static str;
    const COLUMNS: &'static [&'static str];
    fn bind(self, query: AnyQuery) -> AnyQuery;
}

macro_rules! table_rows {
    ($( $(#[$meta:meta])* $name:ident => $table:literal { $($field:ident : $ty:ty),* $(,)? } )*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Clone)]
            pub(crate) struct $name { $(pub(crate) $field: $ty),* }

            impl TableRow for $name {
                const TABLE: &'static str = $table;
                const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];
                fn bind(self, query: AnyQuery) -> AnyQuery {
                    query $(.bind(self.$field))*
                }
            }
        )*
    };
}

table_rows! {
    AccountRow => "accounts" {
        id: String,
        external_id: Option<String>,
        name: String,
        domain: Option<String>,
        industry: String,
        employee_count: i64,
        country: String,
        plan_tier: &'static str,
        lifecycle_stage: &'static str,
        segment: &'static str,
        mrr_minor: i64,
        currency: String,
        seats_purchased: i64,
        owner: Option<String>,
        csm_owner: Option<String>,
        trial_started_at: Option<String>,
        trial_ends_at: Option<String>,
        customer_since: Option<String>,
        churned_at: Option<String>,
        created_at: String,
        updated_at: String,
    }

    ContactRow => "contacts" {
        id: String,
        account_id: String,
        first_name: String,
        last_name: String,
        email: String,
        phone: Option<String>,
        title: Option<String>,
        role: &'static str,
        created_at: String,
        updated_at: String,
    }

    CampaignRow => "campaigns" {
        id: String,
        name: String,
        channel: String,
        status: &'static str,
        audience: Option<String>,
        starts_on: String,
        ends_on: Option<String>,
        budget_lifetime_minor: i64,
        budget_daily_minor: Option<i64>,
        currency: String,
        impressions: i64,
        clicks: i64,
        created_at: String,
        updated_at: String,
    }

    LeadRow => "leads" {
        id: String,
        external_id: Option<String>,
        email: String,
        first_name: String,
        last_name: String,
        company_name: String,
        domain: Option<String>,
        industry: String,
        employee_count: i64,
        country: String,
        title: Option<String>,
        source: String,
        status: &'static str,
        owner: Option<String>,
        campaign_id: Option<String>,
        website_visits_30d: i64,
        demo_requested: bool,
        whitepaper_downloads: i64,
        email_engagement_score: i64,
        linkedin_engagement: i64,
        free_trial_started: bool,
        converted_account_id: Option<String>,
        converted_at: Option<String>,
        created_at: String,
        updated_at: String,
    }

    OpportunityRow => "opportunities" {
        id: String,
        external_id: Option<String>,
        account_id: String,
        lead_id: Option<String>,
        name: String,
        stage: &'static str,
        amount_minor: i64,
        currency: String,
        probability: i64,
        close_date: String,
        owner: Option<String>,
        created_at: String,
        updated_at: String,
        closed_at: Option<String>,
    }

    BudgetEntryRow => "budget_ledger" {
        id: String,
        campaign_id: String,
        entry_kind: &'static str,
        amount_minor: i64,
        spend_date: String,
        request_key: Option<String>,
        actor: String,
        created_at: String,
    }

    TouchRow => "marketing_touches" {
        id: String,
        request_key: Option<String>,
        campaign_id: String,
        lead_id: String,
        touch_type: &'static str,
        occurred_at: String,
    }

    UsageRow => "usage_snapshots" {
        account_id: String,
        week_start: String,
        active_users: i64,
        seats_used: i64,
        logins: i64,
        feature_events: i64,
        premium_feature_events: i64,
    }

    TicketRow => "support_tickets" {
        id: String,
        account_id: String,
        contact_id: Option<String>,
        subject: String,
        priority: &'static str,
        status: &'static str,
        opened_at: String,
        resolved_at: Option<String>,
        csat: Option<i64>,
    }

    NpsRow => "nps_responses" {
        id: String,
        account_id: String,
        contact_id: Option<String>,
        score: i64,
        comment: Option<String>,
        responded_at: String,
    }
}
