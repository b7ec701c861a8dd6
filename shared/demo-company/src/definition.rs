//! The demo company's definition: `fixtures/demo-company.json`, embedded at build time and
//! parsed once. It holds everything that makes the company look like itself (seed,
//! reference date, counts per scale unit, industries, name pools, owners, texts); the
//! rules that turn signals into outcomes live in the generator modules.

use std::sync::OnceLock;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::SeedError;

/// The definition file, as shipped in `fixtures/demo-company.json`.
pub const DEFINITION_JSON: &str = include_str!("../../../fixtures/demo-company.json");

/// The demo company, as described by `fixtures/demo-company.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyDefinition {
    pub company: CompanyProfile,
    /// The seed every generated value derives from.
    pub seed: u64,
    /// "Today" for the demo company (`YYYY-MM-DD`): every generated date is relative to it,
    /// never to the wall clock.
    pub reference_date: String,
    /// How far back lead creation dates reach.
    pub lead_history_days: u32,
    /// How many weekly usage snapshots a long-standing customer has.
    pub usage_weeks: u32,
    pub per_scale_unit: PerScaleUnit,
    pub contacts_per_account: CountRange,
    pub plans: Vec<Plan>,
    pub industries: Vec<Industry>,
    pub countries: Vec<Country>,
    pub lead_sources: Vec<LeadSource>,
    pub campaign_channels: Vec<CampaignChannel>,
    pub campaign_themes: Vec<String>,
    pub campaign_audiences: Vec<String>,
    pub first_names: Vec<String>,
    pub last_names: Vec<String>,
    pub company_roots: Vec<String>,
    pub company_kinds: Vec<String>,
    pub titles: Titles,
    pub owners: Owners,
    pub nps_comments: NpsComments,
    pub ticket_subjects: TicketSubjects,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyProfile {
    pub name: String,
    pub product: String,
    /// ISO 4217 code stored with every amount.
    pub currency: String,
}

/// Record counts at scale 1; scale N multiplies each by N. The other tables follow from
/// these (contacts per account, weeks of usage, tickets per customer-year, ...).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerScaleUnit {
    pub campaigns: u32,
    /// Paying customers that predate the lead history (the installed base).
    pub customer_accounts: u32,
    /// Accounts that signed up for a trial on their own, without a tracked lead.
    pub self_serve_trials: u32,
    pub leads: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRange {
    pub min: u32,
    pub max: u32,
}

/// A price plan; seat prices are per seat per month in minor units.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// starter, growth or enterprise.
    pub tier: String,
    pub seat_price_minor: i64,
    pub min_seats: i64,
    pub trial_seats: i64,
    /// The share of feature events that use premium features on this plan.
    pub premium_feature_share: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Industry {
    pub name: String,
    /// Relative frequency among leads and accounts.
    pub share: f64,
    /// How well the product fits the industry, about -1 to 1: raises conversion and
    /// customer health.
    pub fit: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Country {
    /// ISO 3166-1 alpha-2.
    pub code: String,
    /// International dialling prefix, e.g. "+44", for the (fictional) phone numbers.
    pub calling_code: String,
    pub share: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadSource {
    pub name: String,
    pub share: f64,
    /// How much buying intent leads from this source bring, in standard deviations.
    pub intent: f64,
    /// The campaign channel a lead from this source is attributed to, if any.
    pub campaign_channel: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignChannel {
    /// One of the channels the `campaigns` table allows.
    pub name: String,
    pub share: f64,
    /// Daily budget range, minor units.
    pub daily_budget_minor: [i64; 2],
    /// Cost per thousand impressions, minor units.
    pub cpm_minor: i64,
    /// Clicks per impression.
    pub click_rate: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Titles {
    pub decision_maker: Vec<String>,
    pub champion: Vec<String>,
    pub user: Vec<String>,
    pub billing: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owners {
    /// Account executives: own leads, opportunities and accounts.
    pub sales_reps: Vec<String>,
    /// Customer success managers: `csm_owner` of paying accounts.
    pub csms: Vec<String>,
    /// Marketing managers: the actor on budget ledger entries.
    pub marketers: Vec<String>,
}

/// NPS comment templates by the sentiment of the score (9-10, 7-8, 0-6).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpsComments {
    pub promoter: Vec<String>,
    pub passive: Vec<String>,
    pub detractor: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSubjects {
    /// Questions and requests: low and normal priority.
    pub routine: Vec<String>,
    /// Outages and breakage: high and urgent priority.
    pub urgent: Vec<String>,
}

const CAMPAIGN_CHANNELS: [&str; 7] = [
    "paid_search",
    "paid_social",
    "email",
    "events",
    "content",
    "webinar",
    "partner",
];
const PLAN_TIERS: [&str; 3] = ["starter", "growth", "enterprise"];

impl CompanyDefinition {
    /// Parses and checks a definition (the embedded one, or another for experiments).
    pub fn from_json(json: &str) -> Result<CompanyDefinition, SeedError> {
        let definition: CompanyDefinition = serde_json::from_str(json).map_err(|error| {
            SeedError::Definition(format!("it is not valid JSON for a definition: {error}"))
        })?;
        definition.check()?;
        Ok(definition)
    }

    /// The demo company's "today".
    pub fn reference_date(&self) -> Result<NaiveDate, SeedError> {
        NaiveDate::parse_from_str(&self.reference_date, "%Y-%m-%d").map_err(|_| {
            SeedError::Definition(format!(
                "reference_date {:?} is not a YYYY-MM-DD date",
                self.reference_date
            ))
        })
    }

    /// The plan for a tier named in [`PLAN_TIERS`]; `check` guarantees all three exist.
    pub(crate) fn plan(&self, tier: &str) -> &Plan {
        self.plans
            .iter()
            .find(|plan| plan.tier == tier)
            .unwrap_or(&self.plans[0])
    }

    /// Rejects a definition the generators could not use, naming the field to fix.
    fn check(&self) -> Result<(), SeedError> {
        let fail = |message: String| Err(SeedError::Definition(message));
        self.reference_date()?;
        let pools: [(&str, usize); 16] = [
            ("industries", self.industries.len()),
            ("countries", self.countries.len()),
            ("lead_sources", self.lead_sources.len()),
            ("campaign_channels", self.campaign_channels.len()),
            ("campaign_themes", self.campaign_themes.len()),
            ("campaign_audiences", self.campaign_audiences.len()),
            ("first_names", self.first_names.len()),
            ("last_names", self.last_names.len()),
            ("company_roots", self.company_roots.len()),
            ("company_kinds", self.company_kinds.len()),
            ("owners.sales_reps", self.owners.sales_reps.len()),
            ("owners.csms", self.owners.csms.len()),
            ("owners.marketers", self.owners.marketers.len()),
            ("nps_comments.detractor", self.nps_comments.detractor.len()),
            (
                "ticket_subjects.routine",
                self.ticket_subjects.routine.len(),
            ),
            ("ticket_subjects.urgent", self.ticket_subjects.urgent.len()),
        ];
        for (name, len) in pools {
            if len == 0 {
                return fail(format!("{name} must not be empty"));
            }
        }
        for titles in [
            &self.titles.decision_maker,
            &self.titles.champion,
            &self.titles.user,
            &self.titles.billing,
        ] {
            if titles.is_empty() {
                return fail("every role in titles needs at least one title".into());
            }
        }
        if self.nps_comments.promoter.is_empty() || self.nps_comments.passive.is_empty() {
            return fail("nps_comments needs promoter and passive templates".into());
        }
        for tier in PLAN_TIERS {
            if !self.plans.iter().any(|plan| plan.tier == tier) {
                return fail(format!("plans must include the {tier} tier"));
            }
        }
        for channel in &self.campaign_channels {
            if !CAMPAIGN_CHANNELS.contains(&channel.name.as_str()) {
                return fail(format!(
                    "campaign channel {:?} is not one of {CAMPAIGN_CHANNELS:?}",
                    channel.name
                ));
            }
            let [low, high] = channel.daily_budget_minor;
            if low <= 0 || high < low {
                return fail(format!(
                    "campaign channel {} needs 0 < low <= high budgets",
                    channel.name
                ));
            }
        }
        for source in &self.lead_sources {
            if let Some(channel) = &source.campaign_channel
                && !self.campaign_channels.iter().any(|c| &c.name == channel)
            {
                return fail(format!(
                    "lead source {} names campaign channel {channel:?}, which campaign_channels lacks",
                    source.name
                ));
            }
        }
        let shares = [
            self.industries.iter().map(|i| i.share).sum::<f64>(),
            self.countries.iter().map(|c| c.share).sum::<f64>(),
            self.lead_sources.iter().map(|s| s.share).sum::<f64>(),
            self.campaign_channels.iter().map(|c| c.share).sum::<f64>(),
        ];
        if shares.iter().any(|total| *total <= 0.0) {
            return fail("every list of shares needs a positive total".into());
        }
        let contacts = self.contacts_per_account;
        if contacts.min < 2 || contacts.max < contacts.min {
            return fail("contacts_per_account needs 2 <= min <= max".into());
        }
        if self.usage_weeks == 0 || self.usage_weeks > 260 {
            return fail("usage_weeks must be between 1 and 260".into());
        }
        if self.lead_history_days < 60 {
            return fail("lead_history_days must be at least 60".into());
        }
        Ok(())
    }
}

/// The embedded definition, parsed on first use.
pub fn definition() -> Result<&'static CompanyDefinition, SeedError> {
    static PARSED: OnceLock<Result<CompanyDefinition, String>> = OnceLock::new();
    let parsed = PARSED.get_or_init(|| {
        CompanyDefinition::from_json(DEFINITION_JSON).map_err(|error| match error {
            SeedError::Definition(message) => message,
            other => other.to_string(),
        })
    });
    match parsed {
        Ok(definition) => Ok(definition),
        Err(message) => Err(SeedError::Definition(message.clone())),
    }
}
