//! Audiences and email: `build_audience`, `score_audience`, `email_engagement`,
//! `schedule_email_send`, `suppress_email`.
//!
//! An audience is saved with its members fixed at build time. Scoring uses the sales
//! server's lead model (`scoring::lead`, `lead_scorer` v1) exactly as `score_lead` does, so a
//! lead scores the same on both servers. Sending is only recorded (the sending platform
//! delivers); suppressed addresses are never counted as recipients, and a send to more than
//! the `email_confirm_above_recipients` setting (default 1,000) needs confirmation.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use mcp_runtime::errors::{
    choice_arg, email_arg, id_arg, optional_text, range_arg, required_text, text_arg, timestamp_arg,
};
use mcp_runtime::gates::Gated;
use mcp_runtime::{CallScope, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use scoring::ModelRef;
use scoring::lead::{LeadModel, LeadProfile, LeadSignals, Tier};
use serde::{Deserialize, Serialize};

use crate::MarketingServer;
use crate::analytics_tools::Period;

/// The settings key above which a send's recipients need confirmation.
pub(crate) const CONFIRM_ABOVE_SETTING: &str = "email_confirm_above_recipients";
/// The threshold when the setting is absent.
pub(crate) const DEFAULT_CONFIRM_ABOVE: i64 = 1_000;
/// The largest audience one build may save.
const MAX_AUDIENCE: i64 = 50_000;

const LEAD_STATUSES: [&str; 6] = ["new", "working", "mql", "sql", "converted", "disqualified"];
const LIFECYCLE_STAGES: [&str; 4] = ["trial", "active", "at_risk", "churned"];
const SEGMENTS: [&str; 3] = ["smb", "mid_market", "enterprise"];
const CONTACT_ROLES: [&str; 4] = ["decision_maker", "champion", "user", "billing"];
const SUPPRESSION_REASONS: [&str; 4] = ["unsubscribe", "bounce", "complaint", "manual"];

/// Which leads to include.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct LeadFilters {
    /// Any of these statuses: new, working, mql, sql, converted, disqualified (default any).
    #[serde(default)]
    pub statuses: Option<Vec<String>>,
    /// Only this source, e.g. web, paid_search, referral, event.
    #[serde(default)]
    pub source: Option<String>,
    /// Only this industry (exact, e.g. technology).
    #[serde(default)]
    pub industry: Option<String>,
    /// Only this country (exact, e.g. US).
    #[serde(default)]
    pub country: Option<String>,
    /// Only companies with at least this many employees (0-10,000,000).
    #[serde(default)]
    pub min_employees: Option<i64>,
    /// Only leads of this campaign, e.g. `cmp_000012`.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// Only leads created from this day, YYYY-MM-DD.
    #[serde(default)]
    pub created_from: Option<String>,
    /// Only leads created up to this day, YYYY-MM-DD, inclusive.
    #[serde(default)]
    pub created_to: Option<String>,
    /// Only leads of this lead-score tier: hot, warm or cold.
    #[serde(default)]
    pub score_tier: Option<String>,
}

/// Which contacts (of accounts) to include.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ContactFilters {
    /// The account's lifecycle stage: trial, active, at_risk or churned.
    #[serde(default)]
    pub lifecycle_stage: Option<String>,
    /// The account's segment: smb, mid_market or enterprise.
    #[serde(default)]
    pub segment: Option<String>,
    /// The contact's role: decision_maker, champion, user or billing.
    #[serde(default)]
    pub role: Option<String>,
}

/// An audience to build.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BuildAudienceParams {
    /// A name for the segment, e.g. "Hot SaaS leads, Q4".
    pub name: String,
    /// Include leads matching these filters (an empty object: every lead).
    #[serde(default)]
    pub leads: Option<LeadFilters>,
    /// Include contacts matching these filters (an empty object: every contact).
    #[serde(default)]
    pub contacts: Option<ContactFilters>,
    /// The most members it may have, 1-50,000 (default 5,000); a larger match is refused.
    #[serde(default)]
    pub max_size: Option<i64>,
    /// A key unique to this request (e.g. a UUID); retrying with it returns the first audience.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// A built audience.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BuiltAudience {
    #[serde(flatten)]
    pub audience: store::audiences::Audience,
    /// False when request_id had been used before and the first audience is returned.
    pub created: bool,
}

/// Which audience to rank.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScoreAudienceParams {
    /// The audience's id, e.g. `aud_…` from build_audience.
    pub audience_id: String,
    /// Page size, 1-200 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One ranked member.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RankedMember {
    /// 1 = best lead in the audience.
    pub rank: u64,
    pub lead_id: String,
    pub score: u32,
    pub tier: Tier,
}

/// How many scored members fall in each tier.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct TierCounts {
    pub hot: u64,
    pub warm: u64,
    pub cold: u64,
}

/// A page of an audience's leads, best first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScoredAudience {
    pub audience_id: String,
    pub items: Vec<RankedMember>,
    /// Lead members scored (all pages).
    pub scored: u64,
    /// Contact members (customers' people): the lead score does not apply to them.
    pub contacts_not_scored: i64,
    pub tiers: TierCounts,
    /// Present when more follow; pass it back as `cursor`.
    pub next_cursor: Option<String>,
    pub model: ModelRef,
}

/// Which engagement to report.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct EngagementParams {
    /// One campaign, e.g. `cmp_000012`; default every campaign with email activity.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// From this day, YYYY-MM-DD.
    #[serde(default)]
    pub from: Option<String>,
    /// Up to this day, YYYY-MM-DD, inclusive.
    #[serde(default)]
    pub to: Option<String>,
}

/// One campaign's email engagement.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CampaignEngagementOut {
    pub campaign_id: String,
    pub name: String,
    pub channel: String,
    /// Sends scheduled in the period (not cancelled).
    pub sends: i64,
    /// Their recipients after suppression.
    pub recipients: i64,
    /// Email opens recorded.
    pub opens: i64,
    /// Leads who opened at least once.
    pub unique_openers: i64,
    /// Email clicks recorded.
    pub clicks: i64,
    /// Unsubscribes attributed to the campaign.
    pub unsubscribes: i64,
    /// Unique openers / recipients; null without recorded sends.
    pub open_rate: Option<f64>,
    /// Clicks / opens; null without opens.
    pub click_to_open_rate: Option<f64>,
    /// Unsubscribes / recipients; null without recorded sends.
    pub unsubscribe_rate: Option<f64>,
}

/// Email engagement per campaign.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EmailEngagementReport {
    pub period: crate::analytics_tools::PeriodOut,
    pub campaigns: Vec<CampaignEngagementOut>,
    pub totals: BTreeMap<String, i64>,
}

/// A send to schedule.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScheduleSendParams {
    /// The audience to send to, e.g. `aud_…` from build_audience.
    pub audience_id: String,
    /// The email's subject line (at most 200 characters).
    pub subject: String,
    /// When to send (RFC 3339, in the future and before 2100), e.g. 2026-12-01T09:00:00Z.
    pub scheduled_for: String,
    /// The campaign the send belongs to (for engagement reports), e.g. `cmp_000012`.
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// A key unique to this request (e.g. a UUID); retrying with it never schedules twice.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// A scheduled send.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScheduledSend {
    #[serde(flatten)]
    pub send: store::email::EmailSend,
    /// False when request_id had been used before and the first send is returned.
    pub created: bool,
    /// Sends above this many recipients need confirmation.
    pub confirm_above_recipients: i64,
}

/// An address to suppress.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SuppressParams {
    /// The address, e.g. dana@acme.example.
    pub email: String,
    /// unsubscribe, bounce, complaint or manual.
    pub reason: String,
    /// The campaign it came from (an unsubscribe link), e.g. `cmp_000012`.
    #[serde(default)]
    pub campaign_id: Option<String>,
}

/// The suppression entry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Suppressed {
    #[serde(flatten)]
    pub entry: store::email::Suppression,
    /// False when the address was already suppressed (its first entry is kept).
    pub created: bool,
}

/// The lead model's view of a stored lead, exactly as the sales server builds it.
fn profile(row: &store::leads::ScoringRow) -> LeadProfile {
    let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    let s = &row.signals;
    LeadProfile {
        industry: row.industry.clone(),
        employee_count: clamp(row.employee_count),
        signals: LeadSignals {
            website_visits_30d: clamp(s.website_visits_30d),
            demo_requested: s.demo_requested,
            whitepaper_downloads: clamp(s.whitepaper_downloads),
            email_engagement_score: clamp(s.email_engagement_score),
            linkedin_engagement: clamp(s.linkedin_engagement),
            free_trial_started: s.free_trial_started,
        },
    }
}

fn score_row(model: &LeadModel, row: &store::leads::ScoringRow) -> (u32, Tier) {
    let p = profile(row);
    model.score_value(&p.industry, p.employee_count, &p.signals)
}

fn optional_choice(
    field: &'static str,
    value: Option<&str>,
    allowed: &[&str],
) -> ToolResult<Option<String>> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| choice_arg(field, v, allowed))
        .transpose()
}

/// Parses a rank cursor `score:lead_id`.
fn rank_cursor(cursor: &str) -> ToolResult<(Reverse<u32>, String)> {
    let bad = || {
        ToolError::invalid(
            "cursor",
            "is not a cursor from score_audience; pass next_cursor back unchanged",
        )
    };
    let (score, id) = cursor.split_once(':').ok_or_else(bad)?;
    let score: u32 = score.parse().map_err(|_| bad())?;
    let id = id_arg("cursor", "lead", id).map_err(|_| bad())?;
    Ok((Reverse(score), id))
}

impl MarketingServer {
    async fn confirm_above(&self, tx: &mut store::WriteTx) -> ToolResult<i64> {
        Ok(
            store::settings::get_in(tx, "marketing", CONFIRM_ABOVE_SETTING)
                .await?
                .and_then(|v| v.as_i64())
                .filter(|n| *n >= 0)
                .unwrap_or(DEFAULT_CONFIRM_ABOVE),
        )
    }
}

#[tool_router(router = audience_router, vis = "pub(crate)")]
impl MarketingServer {
    #[tool(
        description = "Save an audience (a segment) of leads and/or contacts chosen by filters, with its members \
            fixed now so later sends reach exactly these people. Lead filters: statuses, source, industry, \
            country, min_employees, campaign_id, created_from/created_to (YYYY-MM-DD), score_tier (hot, warm, \
            cold by the sales lead score). Contact filters: the account's lifecycle_stage and segment, the \
            contact's role. Give leads, contacts or both; a match larger than max_size (default 5,000) is \
            refused. Give request_id so that retrying never saves twice. Example: {\"name\": \"Hot tech leads\", \
            \"leads\": {\"industry\": \"technology\", \"score_tier\": \"hot\"}, \"request_id\": \"aud-7f3a\"}.",
        annotations(
            title = "Build audience",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn build_audience(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<BuildAudienceParams>,
    ) -> Result<Json<BuiltAudience>, ToolError> {
        let name = required_text("name", &params.name, 120)?;
        let request_id = params
            .request_id
            .as_deref()
            .map(|k| text_arg("request_id", k, 100))
            .transpose()?;
        let max_size = range_arg(
            "max_size",
            params.max_size.unwrap_or(5_000),
            1,
            MAX_AUDIENCE,
        )?;
        if params.leads.is_none() && params.contacts.is_none() {
            return Err(ToolError::invalid(
                "leads",
                "give leads, contacts or both (an empty object {} selects all of them)",
            ));
        }
        let mut filters_json = serde_json::Map::new();
        let mut lead_criteria = None;
        let mut tier_filter = None;
        if let Some(l) = &params.leads {
            let statuses = l
                .statuses
                .iter()
                .flatten()
                .map(|s| choice_arg("statuses", s, &LEAD_STATUSES))
                .collect::<ToolResult<Vec<_>>>()?;
            let period = Period::parse(l.created_from.as_deref(), l.created_to.as_deref())
                .map_err(|e| match e {
                    ToolError::InvalidArgument {
                        field: "from",
                        problem,
                    } => ToolError::invalid("created_from", problem),
                    ToolError::InvalidArgument {
                        field: "to",
                        problem,
                    } => ToolError::invalid("created_to", problem),
                    other => other,
                })?;
            let criteria = store::audiences::LeadCriteria {
                statuses,
                source: optional_text("source", l.source.as_deref(), 60)?,
                industry: optional_text("industry", l.industry.as_deref(), 80)?,
                country: optional_text("country", l.country.as_deref(), 60)?,
                min_employees: l
                    .min_employees
                    .map(|n| range_arg("min_employees", n, 0, 10_000_000))
                    .transpose()?,
                campaign_id: l
                    .campaign_id
                    .as_deref()
                    .filter(|c| !c.trim().is_empty())
                    .map(|c| id_arg("campaign_id", "cmp", c))
                    .transpose()?,
                created_from: period.start_stamp(),
                created_before: period.end_stamp(),
            };
            tier_filter = optional_choice(
                "score_tier",
                l.score_tier.as_deref(),
                &["hot", "warm", "cold"],
            )?;
            let mut shown = serde_json::to_value(&criteria).unwrap_or_default();
            if let (Some(tier), Some(map)) = (&tier_filter, shown.as_object_mut()) {
                map.insert("score_tier".into(), tier.clone().into());
            }
            filters_json.insert("leads".into(), shown);
            lead_criteria = Some(criteria);
        }
        let mut contact_criteria = None;
        if let Some(c) = &params.contacts {
            let criteria = store::audiences::ContactCriteria {
                lifecycle_stage: optional_choice(
                    "lifecycle_stage",
                    c.lifecycle_stage.as_deref(),
                    &LIFECYCLE_STAGES,
                )?,
                segment: optional_choice("segment", c.segment.as_deref(), &SEGMENTS)?,
                role: optional_choice("role", c.role.as_deref(), &CONTACT_ROLES)?,
            };
            filters_json.insert(
                "contacts".into(),
                serde_json::to_value(&criteria).unwrap_or_default(),
            );
            contact_criteria = Some(criteria);
        }

        let mut tx = scope.transaction().await?;
        if let Some(key) = &request_id
            && let Some(existing) = store::audiences::by_request_key(&mut tx, key).await?
        {
            return Ok(Json(BuiltAudience {
                audience: existing,
                created: false,
            }));
        }
        let mut members = Vec::new();
        let limit = usize::try_from(max_size).unwrap_or(usize::MAX);
        let mut too_many = false;
        if let Some(criteria) = &lead_criteria {
            if let Some(campaign) = &criteria.campaign_id {
                // An unknown campaign is an error, not an empty audience.
                store::campaigns::get_summary(&scope.store, campaign).await?;
            }
            let model = self.lead_model();
            store::audiences::for_each_lead_candidate(&mut tx, criteria, |candidate| {
                if let Some(tier) = &tier_filter
                    && score_row(&model, &candidate.scoring).1.as_str() != tier
                {
                    return true;
                }
                if members.len() >= limit {
                    too_many = true;
                    return false;
                }
                members.push(store::audiences::Member::Lead {
                    id: candidate.scoring.id,
                    email: candidate.email,
                });
                true
            })
            .await?;
        }
        if let Some(criteria) = &contact_criteria
            && !too_many
        {
            let room = limit.saturating_sub(members.len());
            let contacts = store::audiences::contact_candidates(
                &mut tx,
                criteria,
                i64::try_from(room + 1).unwrap_or(i64::MAX),
            )
            .await?;
            if contacts.len() > room {
                too_many = true;
            }
            members.extend(
                contacts
                    .into_iter()
                    .take(room)
                    .map(|(id, email)| store::audiences::Member::Contact { id, email }),
            );
        }
        if too_many {
            return Err(ToolError::invalid(
                "max_size",
                format!(
                    "the filters match more than {max_size} people; narrow the filters or raise max_size (at most {MAX_AUDIENCE})"
                ),
            ));
        }
        let audience = store::audiences::create(
            &mut tx,
            &name,
            &serde_json::Value::Object(filters_json),
            &members,
            request_id.as_deref(),
            &scope.actor.name,
        )
        .await?;
        Ok(Json(BuiltAudience {
            audience,
            created: true,
        }))
    }

    #[tool(
        description = "Rank a saved audience's leads by lead score, best first, with the same model the sales server's \
            score_lead uses (lead_scorer v1), so a lead scores the same on both. Gives each lead's rank, score and \
            tier, how many were scored and how many are hot, warm and cold; contacts (customers' people) are not \
            lead-scored and are counted apart. Paged (default 25, up to 200). Every score on the page is logged. \
            Example: {\"audience_id\": \"aud_0123456789abcd\", \"limit\": 10}.",
        annotations(
            title = "Score audience",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn score_audience(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<ScoreAudienceParams>,
    ) -> Result<Json<ScoredAudience>, ToolError> {
        let id = id_arg("audience_id", "aud", &params.audience_id)?;
        let limit = usize::try_from(params.limit.unwrap_or(25).clamp(1, 200)).unwrap_or(25);
        let after = params.cursor.as_deref().map(rank_cursor).transpose()?;
        let store = self.runtime.store();
        let audience = store::audiences::get(store, &id).await?;
        let model = self.lead_model();
        let mut keys: Vec<(Reverse<u32>, String, Tier)> = Vec::new();
        let mut tiers = TierCounts::default();
        let started = std::time::Instant::now();
        let scored = store::audiences::for_each_member_scoring_row(store, &id, |row| {
            let (score, tier) = score_row(&model, &row);
            match tier {
                Tier::Hot => tiers.hot += 1,
                Tier::Warm => tiers.warm += 1,
                Tier::Cold => tiers.cold += 1,
            }
            keys.push((Reverse(score), row.id, tier));
        })
        .await?;
        // Every member is scored in the one pass: each score's share of it.
        let latency = store::predictions::latency_micros(started.elapsed(), scored);
        keys.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let start = match &after {
            Some(cursor) => keys.partition_point(|k| (&k.0, &k.1) <= (&cursor.0, &cursor.1)),
            None => 0,
        };
        let page: Vec<&(Reverse<u32>, String, Tier)> =
            keys.iter().skip(start).take(limit).collect();
        let next_cursor = (start + page.len() < keys.len())
            .then(|| page.last().map(|(Reverse(s), id, _)| format!("{s}:{id}")))
            .flatten();
        let items: Vec<RankedMember> = page
            .iter()
            .enumerate()
            .map(|(i, (Reverse(score), lead_id, tier))| RankedMember {
                rank: (start + i + 1) as u64,
                lead_id: lead_id.clone(),
                score: *score,
                tier: *tier,
            })
            .collect();
        // Log the scores given, as score_lead does (inputs and attributions, no personal data).
        let ids: Vec<String> = items.iter().map(|m| m.lead_id.clone()).collect();
        let leads = store::leads::get_many(store, &ids).await?;
        let now = store::clock::now();
        let entries = leads
            .iter()
            .map(|lead| {
                let row = store::leads::ScoringRow {
                    id: lead.id.clone(),
                    industry: lead.industry.clone(),
                    employee_count: lead.employee_count,
                    signals: lead.signals,
                };
                let profile = profile(&row);
                let result = model.score(&profile);
                store::predictions::NewPrediction {
                    kind: "lead".into(),
                    subject_type: "lead".into(),
                    subject_id: Some(lead.id.clone()),
                    model_name: result.model.name.clone(),
                    model_version: i64::from(result.model.version),
                    score: f64::from(result.score),
                    tier: Some(result.tier.as_str().into()),
                    payload_json: serde_json::json!({
                        "inputs": profile,
                        "attributions": result.attributions,
                    })
                    .to_string(),
                    actor: scope.actor.name.clone(),
                    created_at: now.clone(),
                    latency_micros: latency,
                }
            })
            .collect();
        self.runtime.predictions().log(entries).await;
        Ok(Json(ScoredAudience {
            audience_id: id,
            items,
            scored,
            contacts_not_scored: audience.member_count - audience.lead_members,
            tiers,
            next_cursor,
            model: model.model_ref(),
        }))
    }

    #[tool(
        description = "Email engagement per campaign over a period: sends scheduled and their recipients, opens, \
            unique openers, clicks and unsubscribes, with open, click-to-open and unsubscribe rates (null where \
            there is nothing to divide by, e.g. opens recorded without a send through this suite). Default: every \
            campaign with email activity. Example: {\"campaign_id\": \"cmp_000012\", \"from\": \"2026-10-01\"}.",
        annotations(
            title = "Email engagement",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn email_engagement(
        &self,
        Parameters(params): Parameters<EngagementParams>,
    ) -> Result<Json<EmailEngagementReport>, ToolError> {
        let campaign_id = params
            .campaign_id
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| id_arg("campaign_id", "cmp", c))
            .transpose()?;
        let period = Period::parse(params.from.as_deref(), params.to.as_deref())?;
        let store = self.runtime.store();
        if let Some(id) = &campaign_id {
            store::campaigns::get_summary(store, id).await?;
        }
        let rows = store::email::engagement(
            store,
            campaign_id.as_deref(),
            period.start_stamp().as_deref(),
            period.end_stamp().as_deref(),
        )
        .await?;
        let rate =
            |n: i64, d: i64| (d != 0).then(|| (n as f64 / d as f64 * 10_000.0).round() / 10_000.0);
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        let campaigns = rows
            .into_iter()
            .map(|r| {
                for (key, value) in [
                    ("sends", r.sends),
                    ("recipients", r.recipients),
                    ("opens", r.opens),
                    ("clicks", r.clicks),
                    ("unsubscribes", r.unsubscribes),
                ] {
                    *totals.entry(key.into()).or_default() += value;
                }
                CampaignEngagementOut {
                    open_rate: rate(r.unique_openers, r.recipients),
                    click_to_open_rate: rate(r.clicks, r.opens),
                    unsubscribe_rate: rate(r.unsubscribes, r.recipients),
                    campaign_id: r.campaign_id,
                    name: r.name,
                    channel: r.channel,
                    sends: r.sends,
                    recipients: r.recipients,
                    opens: r.opens,
                    unique_openers: r.unique_openers,
                    clicks: r.clicks,
                    unsubscribes: r.unsubscribes,
                }
            })
            .collect();
        Ok(Json(EmailEngagementReport {
            period: crate::analytics_tools::PeriodOut {
                from: period.from,
                to: period.to,
            },
            campaigns,
            totals,
        }))
    }

    #[tool(
        description = "Schedule an email to a saved audience. Records the send for the sending platform to deliver; \
            this suite sends nothing itself. Addresses on the suppression list (unsubscribed, bounced, complained, \
            blocked) are left out and counted. A send to more recipients than the email_confirm_above_recipients \
            setting (default 1,000) is not scheduled on the first call: it answers with a preview and a \
            confirm_token; call again with the same arguments and that token. scheduled_for must be in the future. \
            Give request_id so that retrying never schedules twice. Example: {\"audience_id\": \"aud_0123456789abcd\", \
            \"subject\": \"Your invite to the Q4 webinar\", \"scheduled_for\": \"2026-12-01T09:00:00Z\", \
            \"campaign_id\": \"cmp_000012\", \"request_id\": \"send-19a\"}.",
        annotations(
            title = "Schedule email send",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        meta = mcp_runtime::gates::conditional_gate_meta()
    )]
    async fn schedule_email_send(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<ScheduleSendParams>,
    ) -> Result<Json<Gated<ScheduledSend>>, ToolError> {
        let audience_id = id_arg("audience_id", "aud", &params.audience_id)?;
        let subject = required_text("subject", &params.subject, 200)?;
        if subject.contains('\n') {
            return Err(ToolError::invalid(
                "subject",
                "contains a line break; a subject is one line",
            ));
        }
        let scheduled_for = timestamp_arg("scheduled_for", &params.scheduled_for)?;
        if scheduled_for <= store::clock::now() {
            return Err(ToolError::invalid(
                "scheduled_for",
                "is in the past; give a time in the future, e.g. tomorrow 09:00 UTC",
            ));
        }
        if scheduled_for.as_str() >= "2100-01-01" {
            return Err(ToolError::invalid(
                "scheduled_for",
                "is after 2099; give a real date",
            ));
        }
        let campaign_id = params
            .campaign_id
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| id_arg("campaign_id", "cmp", c))
            .transpose()?;
        let request_id = params
            .request_id
            .as_deref()
            .map(|k| text_arg("request_id", k, 100))
            .transpose()?;
        let mut tx = scope.transaction().await?;
        let threshold = self.confirm_above(&mut tx).await?;
        if let Some(key) = &request_id
            && let Some(existing) = store::email::send_by_request_key(&mut tx, key).await?
        {
            return Ok(Json(Gated::done(ScheduledSend {
                send: existing,
                created: false,
                confirm_above_recipients: threshold,
            })));
        }
        let send = store::email::schedule(
            &mut tx,
            &store::email::NewSend {
                audience_id,
                campaign_id,
                subject,
                scheduled_for,
            },
            request_id.as_deref(),
            &scope.actor.name,
        )
        .await?;
        if send.recipients > threshold {
            scope.require_confirmation(format!(
                "sending \"{}\" to {} recipients ({} suppressed addresses left out), above the {threshold}-recipient \
                 threshold, on {}",
                send.subject, send.recipients, send.suppressed, send.scheduled_for
            ));
        }
        Ok(Json(Gated::done(ScheduledSend {
            send,
            created: true,
            confirm_above_recipients: threshold,
        })))
    }

    #[tool(
        description = "Put an address on the email suppression list (an unsubscribe, bounce, complaint or manual \
            block), so no scheduled send counts it as a recipient again. An address already on the list keeps its \
            first entry. Example: {\"email\": \"dana@acme.example\", \"reason\": \"unsubscribe\", \"campaign_id\": \
            \"cmp_000012\"}.",
        annotations(
            title = "Suppress email",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn suppress_email(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<SuppressParams>,
    ) -> Result<Json<Suppressed>, ToolError> {
        let email = email_arg("email", &params.email)?;
        let reason = choice_arg("reason", &params.reason, &SUPPRESSION_REASONS)?;
        let campaign_id = params
            .campaign_id
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(|c| id_arg("campaign_id", "cmp", c))
            .transpose()?;
        let mut tx = scope.transaction().await?;
        let (entry, created) = store::email::suppress(
            &mut tx,
            &email,
            &reason,
            campaign_id.as_deref(),
            &scope.actor.name,
        )
        .await?;
        Ok(Json(Suppressed { entry, created }))
    }
}

impl MarketingServer {
    /// The lead model, the same version the sales server scores with.
    fn lead_model(&self) -> LeadModel {
        LeadModel::default_v1()
    }
}
