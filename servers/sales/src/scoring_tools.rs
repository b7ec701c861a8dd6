//! Lead scoring tools: `score_lead`, `rank_leads`, `explain_lead_score`, `qualify_lead`.
//! The model is `scoring::lead`; these tools read the store, check arguments, and log every
//! score they give with the time it took (the prediction log, through the runtime's
//! background writer). When a learnt version of the lead model is active, `rank_leads` ranks
//! by its probability (`mcp_runtime::learnt`), and the single-lead tools add it.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use mcp_runtime::learnt::{Active, LearntModel};

use mcp_runtime::errors::{id_arg, optional_text, range_arg, timestamp_arg};
use mcp_runtime::{CallScope, ToolError, ToolResult};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use scoring::ModelRef;
use scoring::lead::{LeadProfile, LeadScore, LeadSignals, Suggestion, Tier};
use scoring::qualification::{Qualification, QualificationFacts, QualificationStage};
use serde::{Deserialize, Serialize};

use crate::SalesServer;

/// Engagement signals given inline; any left out count as none.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SignalsInput {
    /// Website visits in the last 30 days (0-1,000,000).
    #[serde(default)]
    pub website_visits_30d: Option<i64>,
    /// Whether they asked for a demo.
    #[serde(default)]
    pub demo_requested: Option<bool>,
    /// Whitepapers downloaded (0-10,000).
    #[serde(default)]
    pub whitepaper_downloads: Option<i64>,
    /// Email engagement, 0-100.
    #[serde(default)]
    pub email_engagement_score: Option<i64>,
    /// LinkedIn engagements (likes, comments, follows), 0-100,000.
    #[serde(default)]
    pub linkedin_engagement: Option<i64>,
    /// Whether they started a free trial.
    #[serde(default)]
    pub free_trial_started: Option<bool>,
}

impl SignalsInput {
    /// The signals as the model reads them, each checked against its range.
    pub(crate) fn checked(&self) -> ToolResult<LeadSignals> {
        let count = |field: &'static str, value: Option<i64>, max: i64| -> ToolResult<u32> {
            let value = range_arg(field, value.unwrap_or(0), 0, max)?;
            u32::try_from(value).map_err(|_| ToolError::invalid(field, "is too large"))
        };
        Ok(LeadSignals {
            website_visits_30d: count("website_visits_30d", self.website_visits_30d, 1_000_000)?,
            demo_requested: self.demo_requested.unwrap_or(false),
            whitepaper_downloads: count("whitepaper_downloads", self.whitepaper_downloads, 10_000)?,
            email_engagement_score: count(
                "email_engagement_score",
                self.email_engagement_score,
                100,
            )?,
            linkedin_engagement: count("linkedin_engagement", self.linkedin_engagement, 100_000)?,
            free_trial_started: self.free_trial_started.unwrap_or(false),
        })
    }

    /// The stored form of these signals.
    pub(crate) fn stored(&self) -> ToolResult<store::records::LeadSignals> {
        let s = self.checked()?;
        Ok(store::records::LeadSignals {
            website_visits_30d: i64::from(s.website_visits_30d),
            demo_requested: s.demo_requested,
            whitepaper_downloads: i64::from(s.whitepaper_downloads),
            email_engagement_score: i64::from(s.email_engagement_score),
            linkedin_engagement: i64::from(s.linkedin_engagement),
            free_trial_started: s.free_trial_started,
        })
    }
}

/// The model's view of a stored lead.
pub(crate) fn profile_of(lead: &store::records::Lead) -> LeadProfile {
    LeadProfile {
        industry: lead.industry.clone(),
        employee_count: u32::try_from(lead.employee_count.max(0)).unwrap_or(u32::MAX),
        signals: model_signals(&lead.signals),
    }
}

fn model_signals(s: &store::records::LeadSignals) -> LeadSignals {
    let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
    LeadSignals {
        website_visits_30d: clamp(s.website_visits_30d),
        demo_requested: s.demo_requested,
        whitepaper_downloads: clamp(s.whitepaper_downloads),
        email_engagement_score: clamp(s.email_engagement_score),
        linkedin_engagement: clamp(s.linkedin_engagement),
        free_trial_started: s.free_trial_started,
    }
}

/// Score a stored lead, or one described inline.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ScoreLeadParams {
    /// A stored lead's id, e.g. `lead_000042`. Give this, or the fields below for a lead that is
    /// not stored.
    #[serde(default)]
    pub lead_id: Option<String>,
    /// The company's name (ad-hoc lead).
    #[serde(default)]
    pub company_name: Option<String>,
    /// Its industry, e.g. technology, saas, finance, healthcare, retail (ad-hoc lead).
    #[serde(default)]
    pub industry: Option<String>,
    /// Its number of employees, 0-10,000,000 (ad-hoc lead).
    #[serde(default)]
    pub employee_count: Option<i64>,
    /// What the lead has done (ad-hoc lead); signals left out count as none.
    #[serde(default)]
    pub signals: Option<SignalsInput>,
}

/// A lead's score.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScoredLead {
    /// The stored lead scored, if it was a stored one.
    pub lead_id: Option<String>,
    pub company_name: Option<String>,
    #[serde(flatten)]
    pub result: LeadScore,
    /// A stored lead's score by the active learnt version, when one is active (the points
    /// above are the rule-based v1's; the learnt probability is the score of record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learnt: Option<mcp_runtime::learnt::LearntScore>,
}

/// Which stored leads to rank.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct RankLeadsParams {
    /// Only leads owned by this rep (exact name, e.g. "Maya Patel").
    #[serde(default)]
    pub owner: Option<String>,
    /// Only leads in this status: new, working, mql, sql, converted or disqualified.
    #[serde(default)]
    pub status: Option<String>,
    /// Only leads from this source, e.g. web, paid_search, referral, event.
    #[serde(default)]
    pub source: Option<String>,
    /// Only leads created at or after this time (RFC 3339).
    #[serde(default)]
    pub created_since: Option<String>,
    /// Page size, 1-200 (default 25).
    #[serde(default)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One ranked lead.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RankedLead {
    /// 1 = best lead matching the filter.
    pub rank: u64,
    pub lead_id: String,
    pub company_name: String,
    pub status: String,
    pub owner: Option<String>,
    /// The rule-based v1 score, 0-100 (whatever the page is ranked by).
    pub score: u32,
    pub tier: Tier,
    /// The factor that adds most to the score, in words.
    pub strongest_factor: String,
    /// The active learnt version's probability (0-1) that the lead converts, when the page is
    /// ranked by it (see `ranked_by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learnt_probability: Option<f64>,
}

/// How many matching leads fall in each tier.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct TierCounts {
    pub hot: u64,
    pub warm: u64,
    pub cold: u64,
}

/// One page of leads, best first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RankedPage {
    pub items: Vec<RankedLead>,
    /// Leads matching the filter (all pages).
    pub matched: u64,
    /// The rule-based tiers of the matching leads.
    pub tiers: TierCounts,
    /// Present when more leads follow; pass it back as `cursor`.
    pub next_cursor: Option<String>,
    /// The rule-based model that gives each item's score and tier.
    pub model: ModelRef,
    /// What the leads are ordered by: `learnt vN` (the active learnt version's probability
    /// of converting, each item's `learnt_probability`) or `rule-based v1` (the score).
    pub ranked_by: String,
    /// Why the page is ranked so, in words.
    pub ranking_note: String,
}

/// A stored lead's score, explained, with the changes that would raise it most.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LeadExplanation {
    pub lead_id: String,
    pub company_name: String,
    pub status: String,
    #[serde(flatten)]
    pub result: LeadScore,
    /// The two or three changes that would raise the score most, best first.
    pub improvements: Vec<Suggestion>,
    /// The lead's score by the active learnt version, explained feature by feature, when one
    /// is active.
    pub learnt: mcp_runtime::learnt::LearntScore,
}

/// Qualify a stored lead.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct QualifyLeadParams {
    /// The lead's id, e.g. `lead_000042`.
    pub lead_id: String,
    /// Whether the lead has confirmed a budget, if the rep knows (omit when unknown).
    #[serde(default)]
    pub budget_confirmed: Option<bool>,
    /// In how many days they intend to buy, if known (0-3650).
    #[serde(default)]
    pub timeline_days: Option<i64>,
}

/// A lead's qualification.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LeadQualification {
    pub lead_id: String,
    pub company_name: String,
    /// The lead's status now.
    pub current_status: String,
    #[serde(flatten)]
    pub qualification: Qualification,
    /// The status to set with update_lead_status (working for a lead to nurture), or "convert"
    /// when convert_lead is next.
    pub suggested_action: String,
}

/// What a lead is ranked by: its rule-based score or its learnt probability, ordered as
/// numbers.
#[derive(Debug, Clone, Copy)]
struct RankValue(f64);

impl PartialEq for RankValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for RankValue {}

impl PartialOrd for RankValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RankValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A spawned task that is stopped when its handle is dropped (a call that ends early does
/// not leave its helper running).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Ranking keys: best first is smallest (higher value, then lower id).
type RankKey = (Reverse<RankValue>, String);

/// What `rank_leads` orders the leads by.
enum Ranking {
    /// The rule-based score (v1, or a learnt version that cannot score the store's leads), and
    /// why.
    RuleBased { version: u32, why: String },
    /// The active learnt version's probability.
    Learnt(Arc<LearntModel>),
}

impl Ranking {
    fn ranked_by(&self) -> String {
        match self {
            Ranking::RuleBased { version, .. } => format!("rule-based v{version}"),
            Ranking::Learnt(model) => format!("learnt v{}", model.version),
        }
    }

    fn note(&self) -> String {
        match self {
            Ranking::RuleBased { version, why } => {
                format!("{why}; leads are ranked by the rule-based v{version} score")
            }
            Ranking::Learnt(model) => format!(
                "leads are ranked by {} v{} (learnt from {}): each one's learnt_probability of converting, highest first; score, tier and tiers are the rule-based v1's",
                model.name,
                model.version,
                model.learnt_from.as_deref().unwrap_or("a file")
            ),
        }
    }

    /// The cursor that resumes after `key`: `score:lead_id`, or `vN:probability:lead_id` for a
    /// learnt version (the probability in its shortest exact form, so it parses back to the
    /// same number).
    fn cursor_after(&self, key: &RankKey) -> String {
        let (Reverse(RankValue(value)), id) = key;
        match self {
            Ranking::RuleBased { .. } => format!("{value}:{id}"),
            Ranking::Learnt(model) => format!("v{}:{value}:{id}", model.version),
        }
    }

    /// Parses a cursor of [`Ranking::cursor_after`], refusing one from another ranking (the
    /// active lead model changed between pages).
    fn parse_cursor(&self, cursor: &str) -> ToolResult<RankKey> {
        let bad = || {
            ToolError::invalid(
                "cursor",
                "is not a cursor from rank_leads; pass next_cursor back unchanged",
            )
        };
        let (version, value, id) = match cursor.strip_prefix('v') {
            Some(rest) => {
                let (version, rest) = rest.split_once(':').ok_or_else(bad)?;
                let (probability, id) = rest.split_once(':').ok_or_else(bad)?;
                let version: i64 = version.parse().map_err(|_| bad())?;
                let probability: f64 = probability.parse().map_err(|_| bad())?;
                if !(0.0..=1.0).contains(&probability) {
                    return Err(bad());
                }
                (Some(version), probability, id)
            }
            None => {
                let (score, id) = cursor.split_once(':').ok_or_else(bad)?;
                let score: u32 = score.parse().map_err(|_| bad())?;
                (None, f64::from(score), id)
            }
        };
        let id = id_arg("cursor", "lead", id).map_err(|_| bad())?;
        let same = match (self, version) {
            (Ranking::RuleBased { .. }, None) => true,
            (Ranking::Learnt(model), Some(version)) => model.version == version,
            _ => false,
        };
        if !same {
            let from = version.map_or("the rule-based score".to_string(), |v| {
                format!("learnt v{v}")
            });
            return Err(ToolError::invalid(
                "cursor",
                format!(
                    "comes from a ranking by {from}, but leads are now ranked by {} (the active lead model changed); start again without a cursor",
                    self.ranked_by()
                ),
            ));
        }
        Ok((Reverse(RankValue(value)), id))
    }
}

/// The best `limit + 1` leads after the cursor, in a bounded heap (worst on top), and how many
/// leads rank ahead of the cursor.
struct BestLeads {
    heap: BinaryHeap<RankKey>,
    limit: usize,
    after: Option<RankKey>,
    ahead: u64,
}

impl BestLeads {
    fn new(limit: usize, after: Option<RankKey>) -> BestLeads {
        BestLeads {
            heap: BinaryHeap::with_capacity(limit + 2),
            limit,
            after,
            ahead: 0,
        }
    }

    fn offer(&mut self, key: RankKey) {
        if let Some(cursor) = &self.after
            && key <= *cursor
        {
            self.ahead += 1;
        } else if self.heap.len() <= self.limit {
            self.heap.push(key);
        } else if self.heap.peek().is_some_and(|worst| key < *worst) {
            self.heap.pop();
            self.heap.push(key);
        }
    }
}

fn lead_filter(
    owner: Option<&str>,
    status: Option<&str>,
    source: Option<&str>,
    created_since: Option<&str>,
) -> ToolResult<store::leads::LeadFilter> {
    Ok(store::leads::LeadFilter {
        owner: optional_text("owner", owner, 120)?,
        status: status
            .map(|s| mcp_runtime::errors::choice_arg("status", s, &crate::LEAD_STATUSES))
            .transpose()?,
        source: optional_text("source", source, 60)?,
        campaign_id: None,
        created_since: created_since
            .map(|t| timestamp_arg("created_since", t))
            .transpose()?,
    })
}

impl SalesServer {
    /// Queues a prediction log entry for each score given to the caller, with the time each
    /// took to compute.
    async fn log_scores(
        &self,
        actor: &str,
        scored: &[(Option<&str>, &LeadProfile, &LeadScore)],
        latency_micros: Option<i64>,
    ) {
        let now = store::clock::now();
        let entries = scored
            .iter()
            .map(
                |(lead_id, profile, result)| store::predictions::NewPrediction {
                    kind: "lead".into(),
                    subject_type: if lead_id.is_some() {
                        "lead"
                    } else {
                        "adhoc_lead"
                    }
                    .into(),
                    subject_id: lead_id.map(str::to_string),
                    model_name: result.model.name.clone(),
                    model_version: i64::from(result.model.version),
                    score: f64::from(result.score),
                    tier: Some(tier_name(result.tier).into()),
                    // Inputs and attributions only: the model's features hold no personal data.
                    payload_json: serde_json::json!({
                        "inputs": profile,
                        "attributions": result.attributions,
                    })
                    .to_string(),
                    actor: actor.to_string(),
                    created_at: now.clone(),
                    latency_micros,
                },
            )
            .collect();
        self.runtime.predictions().log(entries).await;
    }

    /// What the active lead model ranks by.
    async fn ranking(&self) -> ToolResult<Ranking> {
        let version = self.lead_model.model_ref().version;
        Ok(
            match self
                .runtime
                .active_models()
                .get(self.runtime.store(), "lead")
                .await?
            {
                Active::Learnt(model) => Ranking::Learnt(model),
                Active::RuleBased { version: active } => Ranking::RuleBased {
                    version,
                    why: format!("the active lead model is the rule-based v{active}"),
                },
                Active::Unusable { reason, .. } => Ranking::RuleBased {
                    version,
                    why: reason,
                },
            },
        )
    }
}

pub(crate) fn tier_name(tier: Tier) -> &'static str {
    match tier {
        Tier::Hot => "hot",
        Tier::Warm => "warm",
        Tier::Cold => "cold",
    }
}

#[tool_router(router = scoring_router, vis = "pub(crate)")]
impl SalesServer {
    #[tool(
        description = "Score a lead 0-100 and put it in a tier (hot >= 70, warm 40-69, cold < 40), with the points \
            each factor adds (company size, engagement, industry fit, buying intent; they add up to the score), a \
            plain-language explanation, and the model name and version; for a stored lead, when a learnt version of \
            lead_scorer is active, `learnt` gives its conversion probability with each feature's effect. Score a stored lead with lead_id, or a lead \
            that is not stored with company_name, industry, employee_count and signals. Every score is logged. \
            Examples: {\"lead_id\": \"lead_000042\"}; {\"company_name\": \"Acme\", \"industry\": \"technology\", \
            \"employee_count\": 500, \"signals\": {\"website_visits_30d\": 50, \"demo_requested\": true}}.",
        annotations(
            title = "Score lead",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn score_lead(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<ScoreLeadParams>,
    ) -> Result<Json<ScoredLead>, ToolError> {
        let adhoc = params.company_name.is_some()
            || params.industry.is_some()
            || params.employee_count.is_some()
            || params.signals.is_some();
        let started = Instant::now();
        let (lead_id, company_name, profile) = match (&params.lead_id, adhoc) {
            (Some(_), true) => {
                return Err(ToolError::invalid(
                    "lead_id",
                    "give either lead_id (a stored lead) or the ad-hoc fields, not both",
                ));
            }
            (Some(id), false) => {
                let id = id_arg("lead_id", "lead", id)?;
                let (row, company_name) =
                    store::leads::scoring_row(self.runtime.store(), &id).await?;
                let profile = LeadProfile {
                    industry: row.industry,
                    employee_count: u32::try_from(row.employee_count.max(0)).unwrap_or(u32::MAX),
                    signals: model_signals(&row.signals),
                };
                (Some(id), Some(company_name), profile)
            }
            (None, true) => {
                let industry = params.industry.as_deref().ok_or_else(|| {
                    ToolError::invalid("industry", "is missing; an ad-hoc lead needs its industry")
                })?;
                let employees = params.employee_count.ok_or_else(|| {
                    ToolError::invalid(
                        "employee_count",
                        "is missing; an ad-hoc lead needs its number of employees",
                    )
                })?;
                let profile = LeadProfile {
                    industry: mcp_runtime::errors::required_text("industry", industry, 80)?,
                    employee_count: u32::try_from(range_arg(
                        "employee_count",
                        employees,
                        0,
                        10_000_000,
                    )?)
                    .unwrap_or(u32::MAX),
                    signals: params.signals.unwrap_or_default().checked()?,
                };
                scoring::lead::validate(&profile)
                    .map_err(|e| ToolError::invalid(e.field, e.problem))?;
                let company = optional_text("company_name", params.company_name.as_deref(), 200)?;
                (None, company, profile)
            }
            (None, false) => {
                return Err(ToolError::invalid(
                    "lead_id",
                    "is missing; give lead_id for a stored lead, or company_name, industry, employee_count and signals",
                ));
            }
        };
        let result = self.lead_model.score(&profile);
        let latency = store::predictions::latency_micros(started.elapsed(), 1);
        self.log_scores(
            &scope.actor.name,
            &[(lead_id.as_deref(), &profile, &result)],
            latency,
        )
        .await;
        let learnt = match &lead_id {
            Some(id) => Some(
                mcp_runtime::learnt::predict(&self.runtime, &scope.actor.name, "lead", "lead", id)
                    .await?,
            ),
            None => None,
        };
        Ok(Json(ScoredLead {
            lead_id,
            company_name,
            result,
            learnt,
        }))
    }

    #[tool(
        description = "Rank stored leads by score, best first, to answer \"which leads should I call today?\". \
            Filter by owner, status, source and creation time; pages of up to 200 (default 25); pass next_cursor \
            back as cursor for the next page. Gives each lead's rank, score, tier and strongest factor, plus how \
            many leads matched and how many are hot, warm and cold. When a learnt version of lead_scorer is \
            active, leads are ranked by its conversion probability instead (each item's learnt_probability; the \
            score and tier stay the rule-based v1's); ranked_by and ranking_note say which. Sends progress \
            notifications on large sets when the client asks for them. \
            Example: {\"owner\": \"Maya Patel\", \"status\": \"working\", \"limit\": 10}.",
        annotations(
            title = "Rank leads",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn rank_leads(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<RankLeadsParams>,
    ) -> Result<Json<RankedPage>, ToolError> {
        let filter = lead_filter(
            params.owner.as_deref(),
            params.status.as_deref(),
            params.source.as_deref(),
            params.created_since.as_deref(),
        )?;
        let limit = usize::try_from(params.limit.unwrap_or(25).clamp(1, 200)).unwrap_or(25);
        let ranking = self.ranking().await?;
        let after = params
            .cursor
            .as_deref()
            .map(|c| ranking.parse_cursor(c))
            .transpose()?;
        let model = self.lead_model.clone();
        let store = self.runtime.store();
        let learnt = match &ranking {
            Ranking::Learnt(learnt) => Some(learnt),
            Ranking::RuleBased { .. } => None,
        };

        // One streaming pass: score every matching lead and count its tier. Ranked by the
        // rule-based score, keep the best `limit + 1` after the cursor as the pass goes; ranked
        // by a learnt version, note which leads match, to rank them by probability next.
        let mut best = BestLeads::new(limit, after);
        let mut matching: HashSet<String> = HashSet::new();
        let mut tiers = TierCounts::default();
        let total = if scope.wants_progress() {
            Some(store::leads::count(store, &filter).await?)
        } else {
            None
        };
        let started = Instant::now();
        let (progress_tx, mut progress_rx) = tokio::sync::watch::channel(0u64);
        let scan = async {
            let scanned = store::leads::for_each_scoring_row(store, &filter, |row| {
                let (score, tier) = model.score_value(
                    &row.industry,
                    u32::try_from(row.employee_count.max(0)).unwrap_or(u32::MAX),
                    &model_signals(&row.signals),
                );
                match tier {
                    Tier::Hot => tiers.hot += 1,
                    Tier::Warm => tiers.warm += 1,
                    Tier::Cold => tiers.cold += 1,
                }
                if learnt.is_some() {
                    matching.insert(row.id);
                } else {
                    best.offer((Reverse(RankValue(f64::from(score))), row.id));
                }
                let seen = tiers.hot + tiers.warm + tiers.cold;
                if seen % 10_000 == 0 {
                    progress_tx.send_replace(seen);
                }
            })
            .await;
            drop(progress_tx);
            scanned
        };
        let forward = async {
            while progress_rx.changed().await.is_ok() {
                let seen = *progress_rx.borrow_and_update();
                scope.report_progress(seen, total, "scoring leads").await;
            }
        };
        // Ranked by a learnt version, every lead's features are read at the same time as the
        // scan, by a task of its own (so on the other core) and another connection: the two
        // reads were two thirds of the call, one after the other. A lead added between the
        // two reads is in one of them only and is left out, as a lead deleted since the scan
        // is. If this call is dropped, the guard stops the read.
        let features_read = learnt.map(|learnt| {
            let (learnt, store) = (Arc::clone(learnt), store.clone());
            AbortOnDrop(tokio::spawn(async move {
                let reading = Instant::now();
                let features = learnt.features_of_all(&store).await?;
                ToolResult::Ok((features, reading.elapsed()))
            }))
        });
        let (scanned, ()) = tokio::join!(scan, forward);
        let matched = scanned?;
        let features = match features_read {
            Some(mut task) => Some((&mut task.0).await.map_err(|_| {
                ToolError::Unavailable("reading the leads' features stopped; try again".into())
            })??),
            None => None,
        };
        let rule_based_latency = store::predictions::latency_micros(started.elapsed(), matched);
        scope
            .report_progress(matched, Some(matched), "scored every matching lead")
            .await;

        // Ranked by a learnt version: a probability for each matching lead. A lead deleted
        // since the scan has no features and drops out.
        let learnt_scores = match (learnt, features) {
            (Some(learnt), Some((features, reading))) => {
                let predicting = Instant::now();
                let mut predicted = 0u64;
                for row in 0..features.len() {
                    if matching.contains(features.id(row)) {
                        let probability = features.probability(row);
                        best.offer((
                            Reverse(RankValue(probability)),
                            features.id(row).to_string(),
                        ));
                        predicted += 1;
                    }
                }
                let latency =
                    store::predictions::latency_micros(reading + predicting.elapsed(), predicted);
                Some((learnt, features, latency))
            }
            _ => None,
        };

        let ahead = best.ahead;
        let mut keys = best.heap.into_sorted_vec();
        let next_cursor = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().map(|key| ranking.cursor_after(key))
        } else {
            None
        };
        let probabilities: HashMap<String, f64> = match learnt_scores {
            Some(_) => keys
                .iter()
                .map(|(Reverse(RankValue(p)), id)| (id.clone(), *p))
                .collect(),
            None => HashMap::new(),
        };
        let ids: Vec<String> = keys.iter().map(|(_, id)| id.clone()).collect();
        let leads = store::leads::get_many(store, &ids).await?;
        let mut items = Vec::with_capacity(leads.len());
        let mut scored = Vec::with_capacity(leads.len());
        for (index, lead) in leads.iter().enumerate() {
            let profile = profile_of(lead);
            let result = model.score(&profile);
            items.push(RankedLead {
                rank: ahead + index as u64 + 1,
                lead_id: lead.id.clone(),
                company_name: lead.company_name.clone(),
                status: lead.status.clone(),
                owner: lead.owner.clone(),
                score: result.score,
                tier: result.tier,
                strongest_factor: strongest(&result),
                learnt_probability: probabilities.get(&lead.id).copied(),
            });
            scored.push((profile, result));
        }
        let log: Vec<_> = leads
            .iter()
            .zip(&scored)
            .map(|(lead, (profile, result))| (Some(lead.id.as_str()), profile, result))
            .collect();
        self.log_scores(&scope.actor.name, &log, rule_based_latency)
            .await;
        if let Some((learnt, features, latency)) = &learnt_scores {
            let entries = (0..features.len())
                .filter_map(|row| {
                    let id = features.id(row);
                    let probability = probabilities.get(id)?;
                    Some(learnt.log_entry(
                        "lead",
                        id,
                        *probability,
                        features.inputs(row),
                        &scope.actor.name,
                        *latency,
                    ))
                })
                .collect();
            self.runtime.predictions().log(entries).await;
        }
        Ok(Json(RankedPage {
            items,
            matched,
            tiers,
            next_cursor,
            model: model.model_ref(),
            ranked_by: ranking.ranked_by(),
            ranking_note: ranking.note(),
        }))
    }

    #[tool(
        description = "Explain why a stored lead scores as it does: the points each factor adds (they sum to the \
            score), the strongest and weakest factors in words, and the two or three changes that would raise the \
            score most (e.g. \"book a demo: +12 to 64\"). Use it for \"why is this lead cold?\". \
            Example: {\"lead_id\": \"lead_000042\"}.",
        annotations(
            title = "Explain lead score",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn explain_lead_score(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<crate::LeadRef>,
    ) -> Result<Json<LeadExplanation>, ToolError> {
        let id = id_arg("lead_id", "lead", &params.lead_id)?;
        let started = Instant::now();
        let lead = store::leads::get(self.runtime.store(), &id).await?;
        let profile = profile_of(&lead);
        let result = self.lead_model.score(&profile);
        let latency = store::predictions::latency_micros(started.elapsed(), 1);
        let improvements = self.lead_model.suggestions(&profile, 3);
        self.log_scores(
            &scope.actor.name,
            &[(Some(id.as_str()), &profile, &result)],
            latency,
        )
        .await;
        let learnt =
            mcp_runtime::learnt::predict(&self.runtime, &scope.actor.name, "lead", "lead", &id)
                .await?;
        Ok(Json(LeadExplanation {
            learnt,
            lead_id: id,
            company_name: lead.company_name,
            status: lead.status,
            result,
            improvements,
        }))
    }

    #[tool(
        description = "Qualify a stored lead as disqualified, nurture (not ready yet), mql, sql or opportunity, with the reason for each \
            criterion (fit, intent, budget, authority, timing; unknown where the CRM does not say) and the next \
            step. Changes nothing: set the status with update_lead_status, or convert with convert_lead. Give \
            budget_confirmed and timeline_days when the rep knows them. \
            Example: {\"lead_id\": \"lead_000042\", \"budget_confirmed\": true, \"timeline_days\": 45}.",
        annotations(
            title = "Qualify lead",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub(crate) async fn qualify_lead(
        &self,
        Extension(scope): Extension<CallScope>,
        Parameters(params): Parameters<QualifyLeadParams>,
    ) -> Result<Json<LeadQualification>, ToolError> {
        let id = id_arg("lead_id", "lead", &params.lead_id)?;
        let timeline_days = params
            .timeline_days
            .map(|d| range_arg("timeline_days", d, 0, 3650))
            .transpose()?
            .map(|d| u32::try_from(d).unwrap_or(u32::MAX));
        let started = Instant::now();
        let lead = store::leads::get(self.runtime.store(), &id).await?;
        let profile = profile_of(&lead);
        let result = self.lead_model.score(&profile);
        let latency = store::predictions::latency_micros(started.elapsed(), 1);
        let open_deals =
            store::opportunities::open_count_for_lead(self.runtime.store(), &id).await?;
        let facts = QualificationFacts {
            profile,
            status: lead.status.clone(),
            title: lead.title.clone(),
            budget_confirmed: params.budget_confirmed,
            timeline_days,
            has_open_opportunity: open_deals > 0,
        };
        let qualification = scoring::qualification::qualify(&self.lead_model, &facts);
        self.log_scores(
            &scope.actor.name,
            &[(Some(id.as_str()), &facts.profile, &result)],
            latency,
        )
        .await;
        let suggested_action = match qualification.stage {
            QualificationStage::Disqualified => "disqualified",
            QualificationStage::Nurture => "working",
            QualificationStage::Mql => "mql",
            QualificationStage::Sql => "sql",
            QualificationStage::Opportunity => "convert",
        }
        .to_string();
        Ok(Json(LeadQualification {
            lead_id: id,
            company_name: lead.company_name,
            current_status: lead.status,
            qualification,
            suggested_action,
        }))
    }
}

/// The factor adding most to a score, in words.
pub(crate) fn strongest(result: &LeadScore) -> String {
    result
        .attributions
        .iter()
        .max_by_key(|a| a.points)
        .map(|a| format!("{} (+{})", a.label, a.points))
        .unwrap_or_default()
}
