//! The lead score: how likely a lead is to buy, as a number from 0 to 100 and a tier.
//!
//! Four features, each worth a share of the 100 points (version 1 weights):
//!
//! - **company size** (20): the employee count falls in a size band, and each band has a fit
//!   (1-10 employees 20%, 11-50 45%, 51-200 70%, 201-1,000 90%, over 1,000 100%). An
//!   employee count of 0 means "unknown" and is scored as the smallest band.
//! - **engagement** (40): website visits in the last 30 days (35% of the feature, full at 20
//!   visits), email engagement (30%, the 0-100 score itself), whitepaper downloads (15%,
//!   full at 3) and LinkedIn engagements (20%, full at 5). Each signal counts linearly up to
//!   its cap and no further, so more engagement never lowers the score.
//! - **industry fit** (20): a table of industries and how well each fits (technology 90%,
//!   SaaS 85%, finance 80%, ... government 30%, non-profit 25%); industries not in the table
//!   get 50%. Matching ignores case, spaces and punctuation and knows common aliases
//!   ("tech" and "software" are technology); failing a whole match, the first word that
//!   names a known industry decides ("Healthcare IT" is healthcare).
//! - **buying intent** (20): a demo request (60% of the feature) and a free trial (40%).
//!
//! Tiers: **hot** at 70 and above, **warm** from 40 to 69, **cold** below 40.
//!
//! Each feature's points are computed as a fraction; the score is the rounded total, and
//! the per-feature [`Attribution`] points are whole numbers apportioned by largest
//! remainder, so they always add up exactly to the score. [`LeadModel::score_value`] is
//! the allocation-free path for ranking many leads and always agrees with
//! [`LeadModel::score`].
//!
//! Every weight, band, cap, table and threshold is in [`LeadModelParams`], which
//! round-trips through JSON: later versions of the model are different parameters loaded
//! with [`LeadModel::from_params`].

use std::cmp::Ordering;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    ModelRef, check_model_ref, is_word_byte, normalise_into, normalised, plural, thousands,
};

/// The name the rule-based lead model is stored under.
pub const MODEL_NAME: &str = "lead_scorer";

/// The most characters an industry may have (see [`validate`]).
pub const MAX_INDUSTRY_CHARS: usize = 80;
/// More employees than this is not a real company (see [`validate`]).
pub const MAX_EMPLOYEES: u32 = 10_000_000;
/// More website visits in 30 days than this is not one lead's traffic (see [`validate`]).
pub const MAX_WEBSITE_VISITS_30D: u32 = 1_000_000;
/// More whitepaper downloads than this is not one lead's reading (see [`validate`]).
pub const MAX_WHITEPAPER_DOWNLOADS: u32 = 10_000;
/// More LinkedIn engagements than this is not one lead's activity (see [`validate`]).
pub const MAX_LINKEDIN_ENGAGEMENT: u32 = 1_000_000;

/// Industry keys longer than this cannot be looked up without allocating, so
/// `from_params` refuses them (no real industry name comes close).
const MAX_INDUSTRY_KEY: usize = 64;

/// What a lead has done that shows interest. Every field may be omitted (it then counts as
/// zero or "no").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadSignals {
    /// Visits to our website in the last 30 days (0 if none or unknown).
    #[serde(default)]
    pub website_visits_30d: u32,
    /// True if the lead has asked for a product demo.
    #[serde(default)]
    pub demo_requested: bool,
    /// How many whitepapers or other gated content the lead has downloaded.
    #[serde(default)]
    pub whitepaper_downloads: u32,
    /// How engaged the lead is with our emails, from 0 (never opens) to 100 (opens and
    /// clicks everything).
    #[serde(default)]
    #[schemars(range(max = 100))]
    pub email_engagement_score: u32,
    /// How many times the lead has engaged with us on LinkedIn (likes, comments, shares,
    /// messages).
    #[serde(default)]
    pub linkedin_engagement: u32,
    /// True if the lead has started a free trial.
    #[serde(default)]
    pub free_trial_started: bool,
}

/// The facts about a lead that the score uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadProfile {
    /// The lead's company's industry in plain words, e.g. "technology", "SaaS", "retail",
    /// "financial services". Case and punctuation do not matter.
    pub industry: String,
    /// How many people the lead's company employs; 0 if unknown.
    pub employee_count: u32,
    /// What the lead has done that shows interest; omitted signals count as none.
    #[serde(default)]
    pub signals: LeadSignals,
}

/// How ready a lead is to buy, from its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Score at or above the hot threshold (70 in version 1): contact now.
    Hot,
    /// Score from the warm threshold (40 in version 1) up to the hot threshold: nurture and
    /// qualify.
    Warm,
    /// Score below the warm threshold: low priority.
    Cold,
}

impl Tier {
    /// The tier as it appears in JSON: "hot", "warm" or "cold".
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Hot => "hot",
            Tier::Warm => "warm",
            Tier::Cold => "cold",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many of the score's points one feature contributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attribution {
    /// The feature: "company_size", "engagement", "industry_fit" or "buying_intent".
    pub feature: String,
    /// The feature in plain words, e.g. "Company size".
    pub label: String,
    /// Points this feature contributed; the points of all features add up to the score.
    pub points: u32,
    /// The most points this feature can contribute (its weight).
    pub max_points: u32,
    /// The facts behind the points, e.g. "500 employees, in the 201-1,000 band: 90% fit".
    pub detail: String,
}

/// A lead's score with the reasons for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadScore {
    /// The score, from 0 (will not buy) to 100 (ready to buy).
    pub score: u32,
    /// The tier the score falls in: hot, warm or cold.
    pub tier: Tier,
    /// Each feature's share of the score; the points add up exactly to `score`.
    pub attributions: Vec<Attribution>,
    /// One or two plain sentences naming the strongest and weakest factors.
    pub explanation: String,
    /// The model (name and version) that produced this score.
    pub model: ModelRef,
}

/// A change to a lead's signals that would raise its score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Suggestion {
    /// The feature the change raises: "engagement" or "buying_intent".
    pub feature: String,
    /// The signal that would change, e.g. "demo_requested" or "website_visits_30d".
    pub signal: String,
    /// The change in plain words, e.g. "book a demo".
    pub change: String,
    /// The score the lead would have after the change.
    pub score_after: u32,
    /// How many points the change would add.
    pub gain: u32,
}

/// How many of the 100 points each feature can contribute; they add up to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadWeights {
    /// Points for company size.
    pub company_size: u32,
    /// Points for engagement (visits, email, whitepapers, LinkedIn).
    pub engagement: u32,
    /// Points for industry fit.
    pub industry_fit: u32,
    /// Points for buying intent (demo request, free trial).
    pub buying_intent: u32,
}

impl LeadWeights {
    fn total(&self) -> u64 {
        u64::from(self.company_size)
            + u64::from(self.engagement)
            + u64::from(self.industry_fit)
            + u64::from(self.buying_intent)
    }

    fn as_array(&self) -> [u32; 4] {
        [
            self.company_size,
            self.engagement,
            self.industry_fit,
            self.buying_intent,
        ]
    }
}

/// A range of company sizes and how well it fits, from `min_employees` up to the next
/// band's minimum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SizeBand {
    /// The smallest employee count in the band; the first band starts at 0.
    pub min_employees: u32,
    /// The band in words, e.g. "201-1,000".
    pub label: String,
    /// How well companies in the band fit, 0-100 (% of the company size points).
    pub fit_percent: u32,
}

/// How one engagement signal counts towards the engagement feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EngagementSignal {
    /// The signal's share of the engagement feature, in percent; the four shares add up to
    /// 100.
    pub share_percent: u32,
    /// The value at which the signal earns its full share; it counts linearly up to here.
    pub cap: u32,
    /// How much of a rise a suggestion proposes (e.g. 10 more visits).
    pub suggestion_step: u32,
}

/// The engagement signals and how each counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EngagementParams {
    /// Website visits in the last 30 days.
    pub website_visits: EngagementSignal,
    /// The 0-100 email engagement score.
    pub email_engagement: EngagementSignal,
    /// Whitepaper downloads.
    pub whitepaper_downloads: EngagementSignal,
    /// LinkedIn engagements.
    pub linkedin_engagement: EngagementSignal,
}

impl EngagementParams {
    fn signals(&self) -> [(&'static str, &EngagementSignal); 4] {
        [
            ("website_visits", &self.website_visits),
            ("email_engagement", &self.email_engagement),
            ("whitepaper_downloads", &self.whitepaper_downloads),
            ("linkedin_engagement", &self.linkedin_engagement),
        ]
    }
}

/// How the buying-intent signals count; the two shares add up to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IntentParams {
    /// Share of the buying-intent feature earned by a demo request, in percent.
    pub demo_requested_percent: u32,
    /// Share of the buying-intent feature earned by a free trial, in percent.
    pub free_trial_started_percent: u32,
}

/// One industry in the fit table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IndustryFit {
    /// The industry's canonical name, e.g. "technology".
    pub industry: String,
    /// How well the industry fits, 0-100 (% of the industry fit points).
    pub fit_percent: u32,
    /// Other names for the industry, e.g. "tech", "software". Case, spaces and punctuation
    /// are ignored when matching.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// Where the tiers begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TierThresholds {
    /// The lowest hot score.
    pub hot: u32,
    /// The lowest warm score; below it a lead is cold.
    pub warm: u32,
}

impl TierThresholds {
    /// The tier a score falls in.
    pub fn tier(&self, score: u32) -> Tier {
        if score >= self.hot {
            Tier::Hot
        } else if score >= self.warm {
            Tier::Warm
        } else {
            Tier::Cold
        }
    }
}

/// Every parameter of a lead model. Stored as JSON in the `models` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeadModelParams {
    /// Points per feature; they add up to 100.
    pub weights: LeadWeights,
    /// Company size bands, smallest first; the first starts at 0 employees.
    pub size_bands: Vec<SizeBand>,
    /// How the engagement signals count.
    pub engagement: EngagementParams,
    /// How the buying-intent signals count.
    pub buying_intent: IntentParams,
    /// The industry fit table.
    pub industry_fit: Vec<IndustryFit>,
    /// The fit of an industry not in the table, 0-100.
    pub unknown_industry_fit_percent: u32,
    /// Where the tiers begin.
    pub thresholds: TierThresholds,
}

fn industry(name: &str, fit_percent: u32, aliases: &str) -> IndustryFit {
    IndustryFit {
        industry: name.to_owned(),
        fit_percent,
        aliases: aliases.split(", ").map(str::to_owned).collect(),
    }
}

fn band(min_employees: u32, label: &str, fit_percent: u32) -> SizeBand {
    SizeBand {
        min_employees,
        label: label.to_owned(),
        fit_percent,
    }
}

impl Default for LeadModelParams {
    /// The rule-based version 1.
    fn default() -> LeadModelParams {
        LeadModelParams {
            weights: LeadWeights {
                company_size: 20,
                engagement: 40,
                industry_fit: 20,
                buying_intent: 20,
            },
            // Mid-market and enterprise buy seats in numbers; very small companies rarely
            // clear procurement for a suite.
            size_bands: vec![
                band(0, "1-10", 20),
                band(11, "11-50", 45),
                band(51, "51-200", 70),
                band(201, "201-1,000", 90),
                band(1_001, "over 1,000", 100),
            ],
            engagement: EngagementParams {
                website_visits: EngagementSignal {
                    share_percent: 35,
                    cap: 20,
                    suggestion_step: 10,
                },
                email_engagement: EngagementSignal {
                    share_percent: 30,
                    cap: 100,
                    suggestion_step: 20,
                },
                whitepaper_downloads: EngagementSignal {
                    share_percent: 15,
                    cap: 3,
                    suggestion_step: 1,
                },
                linkedin_engagement: EngagementSignal {
                    share_percent: 20,
                    cap: 5,
                    suggestion_step: 2,
                },
            },
            buying_intent: IntentParams {
                demo_requested_percent: 60,
                free_trial_started_percent: 40,
            },
            // Aliases are comma-separated to keep the table readable as a table.
            industry_fit: vec![
                industry(
                    "technology",
                    90,
                    "tech, software, it, information technology, high tech, computer software, software development, internet, cloud, cybersecurity, ai, artificial intelligence, devtools",
                ),
                industry("saas", 85, "software as a service, b2b saas"),
                industry(
                    "finance",
                    80,
                    "financial, financial services, finserv, fintech, banking, bank, investment, investments, capital markets, asset management",
                ),
                industry("insurance", 70, "insurtech"),
                industry("telecommunications", 70, "telecom, telecoms, telco"),
                industry(
                    "healthcare",
                    65,
                    "health, medical, hospital, pharma, pharmaceutical, pharmaceuticals, life sciences, biotech, biotechnology, medtech",
                ),
                industry(
                    "professional_services",
                    65,
                    "consulting, consultancy, agency, legal, law, accounting",
                ),
                industry(
                    "media",
                    60,
                    "publishing, entertainment, advertising, marketing",
                ),
                industry(
                    "manufacturing",
                    60,
                    "industrial, industrials, automotive, aerospace",
                ),
                industry(
                    "logistics",
                    55,
                    "transportation, transport, shipping, supply chain, freight",
                ),
                industry("energy", 55, "utilities, utility, oil and gas, renewables"),
                industry(
                    "retail",
                    45,
                    "ecommerce, consumer goods, cpg, fmcg, wholesale, shop, store",
                ),
                industry("real_estate", 45, "property, proptech"),
                industry(
                    "education",
                    40,
                    "edu, higher education, university, school, elearning, edtech",
                ),
                industry("construction", 40, "building"),
                industry(
                    "hospitality",
                    35,
                    "hotel, hotels, travel, restaurant, restaurants, food and beverage, leisure",
                ),
                industry("agriculture", 30, "farming, agritech"),
                industry(
                    "government",
                    30,
                    "public sector, gov, govt, federal, municipal, defense, defence",
                ),
                industry("nonprofit", 25, "non profit, not for profit, ngo, charity"),
            ],
            unknown_industry_fit_percent: 50,
            thresholds: TierThresholds { hot: 70, warm: 40 },
        }
    }
}

/// One feature's share of a model's total weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FeatureImportance {
    /// The feature: "company_size", "engagement", "industry_fit" or "buying_intent".
    pub feature: String,
    /// Its share of the score, from 0 to 1; the shares add up to 1.
    pub share: f64,
}

/// What a lead model is and how it weighs things, for display and audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeadModelMetadata {
    /// The model's name and version.
    pub model: ModelRef,
    /// When the model was trained (RFC 3339), or null for the rule-based default.
    pub trained_at: Option<String>,
    /// What the model is, in one sentence.
    pub description: String,
    /// Points per feature.
    pub weights: LeadWeights,
    /// Where the tiers begin.
    pub thresholds: TierThresholds,
    /// The industry fit table.
    pub industry_fit: Vec<IndustryFit>,
    /// The fit of an industry not in the table, 0-100.
    pub unknown_industry_fit_percent: u32,
    /// The company size bands.
    pub size_bands: Vec<SizeBand>,
    /// How the engagement signals count.
    pub engagement: EngagementParams,
    /// How the buying-intent signals count.
    pub buying_intent: IntentParams,
    /// Each feature's share of the score, largest first.
    pub feature_importance: Vec<FeatureImportance>,
}

/// Why a lead profile cannot be scored as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidProfile {
    /// The field at fault, e.g. "signals.email_engagement_score".
    pub field: &'static str,
    /// What is wrong and what to change.
    pub problem: String,
}

impl fmt::Display for InvalidProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.problem)
    }
}

impl std::error::Error for InvalidProfile {}

/// Checks that a profile is plausible before it is scored or stored. Scoring itself never
/// fails (out-of-range signals count at their caps); this catches input mistakes early and
/// says what to change.
pub fn validate(profile: &LeadProfile) -> Result<(), InvalidProfile> {
    let industry = profile.industry.trim();
    if industry.is_empty() {
        return Err(InvalidProfile {
            field: "industry",
            problem: "is empty: give the company's industry in a word or two, e.g. \
                      \"technology\", \"SaaS\" or \"retail\""
                .into(),
        });
    }
    let chars = industry.chars().count();
    if chars > MAX_INDUSTRY_CHARS {
        return Err(InvalidProfile {
            field: "industry",
            problem: format!(
                "is {chars} characters long: give the industry in at most \
                 {MAX_INDUSTRY_CHARS} characters, e.g. \"financial services\", not a \
                 company description"
            ),
        });
    }
    if profile.employee_count > MAX_EMPLOYEES {
        return Err(InvalidProfile {
            field: "employee_count",
            problem: format!(
                "is {}: no company has more than {} employees; give the number of people \
                 the company employs, or 0 if unknown",
                thousands(profile.employee_count.into()),
                thousands(MAX_EMPLOYEES.into())
            ),
        });
    }
    let s = &profile.signals;
    if s.email_engagement_score > 100 {
        return Err(InvalidProfile {
            field: "signals.email_engagement_score",
            problem: format!(
                "is {}: it is a score from 0 (never opens emails) to 100 (opens and clicks \
                 everything); give a value from 0 to 100",
                thousands(s.email_engagement_score.into())
            ),
        });
    }
    if s.website_visits_30d > MAX_WEBSITE_VISITS_30D {
        return Err(InvalidProfile {
            field: "signals.website_visits_30d",
            problem: format!(
                "is {}: more than {} visits in 30 days is a whole site's traffic, not one \
                 lead's; give this lead's own visits",
                thousands(s.website_visits_30d.into()),
                thousands(MAX_WEBSITE_VISITS_30D.into())
            ),
        });
    }
    if s.whitepaper_downloads > MAX_WHITEPAPER_DOWNLOADS {
        return Err(InvalidProfile {
            field: "signals.whitepaper_downloads",
            problem: format!(
                "is {}: more than {} downloads is not one lead's reading; give the number \
                 of whitepapers this lead downloaded",
                thousands(s.whitepaper_downloads.into()),
                thousands(MAX_WHITEPAPER_DOWNLOADS.into())
            ),
        });
    }
    if s.linkedin_engagement > MAX_LINKEDIN_ENGAGEMENT {
        return Err(InvalidProfile {
            field: "signals.linkedin_engagement",
            problem: format!(
                "is {}: more than {} LinkedIn engagements is not one lead's activity; give \
                 the number of times this lead engaged with us",
                thousands(s.linkedin_engagement.into()),
                thousands(MAX_LINKEDIN_ENGAGEMENT.into())
            ),
        });
    }
    Ok(())
}

/// Feature order everywhere: in weights, attributions and the fractional points.
const FEATURES: [(&str, &str); 4] = [
    ("company_size", "Company size"),
    ("engagement", "Engagement"),
    ("industry_fit", "Industry fit"),
    ("buying_intent", "Buying intent"),
];

/// An industry name already read against one model's industry table (see
/// [`LeadModel::resolve_industry`]). Only meaningful for the model that resolved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResolvedIndustry {
    entry: Option<usize>,
}

/// The industry a name was read as, and its fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndustryMatch<'a> {
    /// The canonical industry from the table, or `None` when the name is not in it.
    pub industry: Option<&'a str>,
    /// The fit, 0-100: the table's, or the default for unknown industries.
    pub fit_percent: u32,
}

/// A lead model: its name and version, its parameters, and the industry lookup built from
/// them.
#[derive(Debug, Clone)]
pub struct LeadModel {
    model: ModelRef,
    params: LeadModelParams,
    trained_at: Option<String>,
    industries: IndustryIndex,
}

/// Normalised industry names and aliases with the index of their table entry, in an
/// open-addressing hash table: one hash of the (stack-normalised) name and usually one
/// probe, so the ranking path neither allocates nor walks the table.
#[derive(Debug, Clone)]
struct IndustryIndex {
    slots: Vec<Option<IndustrySlot>>,
    mask: usize,
}

#[derive(Debug, Clone)]
struct IndustrySlot {
    hash: u64,
    key: Box<[u8]>,
    entry: usize,
}

/// FNV-1a: tiny, fast on short keys and, unlike std's hasher, the same on every run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| fnv_step(h, b))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv_step(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
}

impl IndustryIndex {
    fn build(table: &[IndustryFit]) -> IndustryIndex {
        let keys: Vec<(Vec<u8>, usize)> = table
            .iter()
            .enumerate()
            .flat_map(|(i, entry)| {
                std::iter::once(&entry.industry)
                    .chain(entry.aliases.iter())
                    .map(move |name| (normalised(name), i))
            })
            .filter(|(key, _)| !key.is_empty() && key.len() <= MAX_INDUSTRY_KEY)
            .collect();
        // At most half full, so probe chains stay short.
        let size = (keys.len() * 2).next_power_of_two().max(16);
        let mask = size - 1;
        let mut slots: Vec<Option<IndustrySlot>> = vec![None; size];
        for (key, entry) in keys {
            let hash = fnv1a(&key);
            let mut at = (hash as usize) & mask;
            loop {
                match &slots[at] {
                    // Duplicates across entries are refused by `check_params`; keep the
                    // first so lookups are deterministic either way.
                    Some(slot) if slot.key.as_ref() == key.as_slice() => break,
                    Some(_) => at = (at + 1) & mask,
                    None => {
                        slots[at] = Some(IndustrySlot {
                            hash,
                            key: key.into_boxed_slice(),
                            entry,
                        });
                        break;
                    }
                }
            }
        }
        IndustryIndex { slots, mask }
    }

    fn get(&self, key: &[u8]) -> Option<usize> {
        self.get_hashed(key, fnv1a(key))
    }

    fn get_hashed(&self, key: &[u8], hash: u64) -> Option<usize> {
        let mut at = (hash as usize) & self.mask;
        // The table is at most half full, so an empty slot always ends the probe.
        while let Some(slot) = &self.slots[at] {
            if slot.hash == hash && slot.key.as_ref() == key {
                return Some(slot.entry);
            }
            at = (at + 1) & self.mask;
        }
        None
    }
}

/// The fractional points of each feature, before apportionment, and what they came from.
struct Parts {
    points: [f64; 4],
    band: usize,
    industry: Option<usize>,
}

impl Parts {
    /// The total in one fixed order, so `score` and `score_value` round the same number.
    fn total(&self) -> f64 {
        self.points[0] + self.points[1] + self.points[2] + self.points[3]
    }
}

impl LeadModel {
    /// The rule-based version 1: `lead_scorer` v1 with [`LeadModelParams::default`].
    pub fn default_v1() -> LeadModel {
        match LeadModel::from_params(MODEL_NAME, 1, LeadModelParams::default()) {
            Ok(model) => model,
            // The defaults are checked by the tests; this arm only keeps the library free
            // of panics, building the model without the checks.
            Err(_) => LeadModel::build(ModelRef::new(MODEL_NAME, 1), LeadModelParams::default()),
        }
    }

    /// A model from stored parameters, after checking them: the weights add up to 100, the
    /// thresholds are ordered (0 < warm < hot <= 100), the size bands start at 0 and rise,
    /// the engagement and intent shares each add up to 100, every fit is 0-100, every cap
    /// is above 0 and no industry name or alias belongs to two industries.
    pub fn from_params(
        name: &str,
        version: u32,
        params: LeadModelParams,
    ) -> Result<LeadModel, String> {
        check_model_ref(name, version)?;
        check_params(&params)?;
        Ok(LeadModel::build(ModelRef::new(name, version), params))
    }

    /// The same model with the time it was trained (RFC 3339), shown in its metadata.
    pub fn with_trained_at(mut self, trained_at: &str) -> LeadModel {
        self.trained_at = Some(trained_at.to_owned());
        self
    }

    fn build(model: ModelRef, params: LeadModelParams) -> LeadModel {
        let industries = IndustryIndex::build(&params.industry_fit);
        LeadModel {
            model,
            params,
            trained_at: None,
            industries,
        }
    }

    /// The model's name and version.
    pub fn model_ref(&self) -> ModelRef {
        self.model.clone()
    }

    /// The model's parameters.
    pub fn params(&self) -> &LeadModelParams {
        &self.params
    }

    /// Scores a lead, with attributions that add up to the score and an explanation.
    pub fn score(&self, profile: &LeadProfile) -> LeadScore {
        let parts = self.parts(&profile.industry, profile.employee_count, &profile.signals);
        let score = round_score(parts.total());
        let tier = self.params.thresholds.tier(score);
        let weights = self.params.weights.as_array();
        let points = apportion(&parts.points, &weights, score);
        let details = [
            self.size_detail(profile.employee_count, parts.band),
            engagement_detail(&profile.signals),
            self.industry_detail(&profile.industry, parts.industry),
            intent_detail(&profile.signals),
        ];
        let attributions: Vec<Attribution> = FEATURES
            .iter()
            .zip(details)
            .enumerate()
            .map(|(i, ((feature, label), detail))| Attribution {
                feature: (*feature).to_owned(),
                label: (*label).to_owned(),
                points: points[i],
                max_points: weights[i],
                detail,
            })
            .collect();
        let explanation = explain(score, tier, &parts.points, &weights, &attributions);
        LeadScore {
            score,
            tier,
            attributions,
            explanation,
            model: self.model_ref(),
        }
    }

    /// Fast path for ranking 100,000 leads: no strings, no allocation. Always the same
    /// score and tier as [`LeadModel::score`].
    pub fn score_value(
        &self,
        profile_industry: &str,
        employee_count: u32,
        signals: &LeadSignals,
    ) -> (u32, Tier) {
        let parts = self.parts(profile_industry, employee_count, signals);
        let score = round_score(parts.total());
        (score, self.params.thresholds.tier(score))
    }

    /// Reads an industry name against this model's table once, for
    /// [`LeadModel::score_value_resolved`]: when ranking many leads, resolve each distinct
    /// industry once and skip the name matching per lead.
    pub fn resolve_industry(&self, industry: &str) -> ResolvedIndustry {
        ResolvedIndustry {
            entry: self.industry_index(industry),
        }
    }

    /// [`LeadModel::score_value`] with the industry already resolved by this model: the
    /// same score and tier, without reading the name again.
    pub fn score_value_resolved(
        &self,
        industry: ResolvedIndustry,
        employee_count: u32,
        signals: &LeadSignals,
    ) -> (u32, Tier) {
        let parts = self.parts_resolved(industry.entry, employee_count, signals);
        let score = round_score(parts.total());
        (score, self.params.thresholds.tier(score))
    }

    /// The two or three changes that would raise the score most, best first; empty when
    /// nothing can be raised. Only things a team can influence are suggested (engagement
    /// and buying intent, not company size or industry); each `score_after` is exactly what
    /// [`LeadModel::score`] would give the changed profile.
    pub fn suggestions(&self, profile: &LeadProfile, max: usize) -> Vec<Suggestion> {
        if max == 0 {
            return Vec::new();
        }
        let signals = profile.signals;
        let (before, _) = self.score_value(&profile.industry, profile.employee_count, &signals);
        let e = &self.params.engagement;
        let mut candidates: Vec<(&str, &str, String, LeadSignals)> = Vec::new();
        if !signals.demo_requested {
            let changed = LeadSignals {
                demo_requested: true,
                ..signals
            };
            candidates.push((
                "buying_intent",
                "demo_requested",
                "book a demo".into(),
                changed,
            ));
        }
        if !signals.free_trial_started {
            let changed = LeadSignals {
                free_trial_started: true,
                ..signals
            };
            candidates.push((
                "buying_intent",
                "free_trial_started",
                "start a free trial".into(),
                changed,
            ));
        }
        if let Some(to) = raised(signals.website_visits_30d, &e.website_visits) {
            let from = signals.website_visits_30d;
            let changed = LeadSignals {
                website_visits_30d: to,
                ..signals
            };
            let change = format!(
                "bring {} to the website in 30 days (from {from} to {to})",
                plural(u64::from(to - from), "more visit", "more visits")
            );
            candidates.push(("engagement", "website_visits_30d", change, changed));
        }
        if let Some(to) = raised(signals.email_engagement_score, &e.email_engagement) {
            let from = signals.email_engagement_score;
            let changed = LeadSignals {
                email_engagement_score: to,
                ..signals
            };
            let change = format!("raise email engagement from {from} to {to}");
            candidates.push(("engagement", "email_engagement_score", change, changed));
        }
        if let Some(to) = raised(signals.whitepaper_downloads, &e.whitepaper_downloads) {
            let from = signals.whitepaper_downloads;
            let changed = LeadSignals {
                whitepaper_downloads: to,
                ..signals
            };
            let change = format!(
                "get {} (from {from} to {to})",
                plural(
                    u64::from(to - from),
                    "more whitepaper download",
                    "more whitepaper downloads"
                )
            );
            candidates.push(("engagement", "whitepaper_downloads", change, changed));
        }
        if let Some(to) = raised(signals.linkedin_engagement, &e.linkedin_engagement) {
            let from = signals.linkedin_engagement;
            let changed = LeadSignals {
                linkedin_engagement: to,
                ..signals
            };
            let change = format!(
                "get {} (from {from} to {to})",
                plural(
                    u64::from(to - from),
                    "more LinkedIn engagement",
                    "more LinkedIn engagements"
                )
            );
            candidates.push(("engagement", "linkedin_engagement", change, changed));
        }
        let mut out: Vec<Suggestion> = candidates
            .into_iter()
            .filter_map(|(feature, signal, change, changed)| {
                let (after, _) =
                    self.score_value(&profile.industry, profile.employee_count, &changed);
                (after > before).then(|| Suggestion {
                    feature: feature.to_owned(),
                    signal: signal.to_owned(),
                    change,
                    score_after: after,
                    gain: after - before,
                })
            })
            .collect();
        // Stable: equal gains keep the candidate order (intent before engagement).
        out.sort_by_key(|s| std::cmp::Reverse(s.gain));
        out.truncate(max);
        out
    }

    /// The model's name, version, weights, thresholds, tables and feature importance.
    pub fn metadata(&self) -> LeadModelMetadata {
        let p = &self.params;
        let total = p.weights.total().max(1) as f64;
        let mut feature_importance: Vec<FeatureImportance> = FEATURES
            .iter()
            .zip(p.weights.as_array())
            .map(|((feature, _), weight)| FeatureImportance {
                feature: (*feature).to_owned(),
                share: f64::from(weight) / total,
            })
            .collect();
        feature_importance.sort_by(|a, b| b.share.partial_cmp(&a.share).unwrap_or(Ordering::Equal));
        LeadModelMetadata {
            model: self.model_ref(),
            trained_at: self.trained_at.clone(),
            description: format!(
                "Rule-based lead score from 0 to 100: company size ({}), engagement ({}), \
                 industry fit ({}) and buying intent ({}) points; hot from {}, warm from {}.",
                p.weights.company_size,
                p.weights.engagement,
                p.weights.industry_fit,
                p.weights.buying_intent,
                p.thresholds.hot,
                p.thresholds.warm
            ),
            weights: p.weights,
            thresholds: p.thresholds,
            industry_fit: p.industry_fit.clone(),
            unknown_industry_fit_percent: p.unknown_industry_fit_percent,
            size_bands: p.size_bands.clone(),
            engagement: p.engagement,
            buying_intent: p.buying_intent,
            feature_importance,
        }
    }

    /// The industry a name is read as, and its fit. Case, spaces and punctuation are
    /// ignored; failing a whole match, the first word that names a known industry (or its
    /// singular) decides.
    pub fn industry_fit(&self, industry: &str) -> IndustryMatch<'_> {
        match self.industry_index(industry) {
            Some(i) => IndustryMatch {
                industry: Some(&self.params.industry_fit[i].industry),
                fit_percent: self.params.industry_fit[i].fit_percent,
            },
            None => IndustryMatch {
                industry: None,
                fit_percent: self.params.unknown_industry_fit_percent,
            },
        }
    }

    /// The size band an employee count falls in: its label and fit (0-100).
    pub fn size_fit(&self, employee_count: u32) -> (&str, u32) {
        let b = &self.params.size_bands[self.band_index(employee_count)];
        (&b.label, b.fit_percent)
    }

    fn parts(&self, industry: &str, employee_count: u32, s: &LeadSignals) -> Parts {
        self.parts_resolved(self.industry_index(industry), employee_count, s)
    }

    fn parts_resolved(
        &self,
        industry: Option<usize>,
        employee_count: u32,
        s: &LeadSignals,
    ) -> Parts {
        let p = &self.params;
        let w = &p.weights;
        let band = self.band_index(employee_count);
        let size_fit = p.size_bands.get(band).map_or(0, |b| b.fit_percent);
        let industry_fit = industry
            .and_then(|i| p.industry_fit.get(i))
            .map_or(p.unknown_industry_fit_percent, |e| e.fit_percent);
        let e = &p.engagement;
        // Shares are whole percentages, so a fully engaged lead sums to exactly 100.0 and
        // earns exactly the feature's weight: no 39.999... to round.
        let engagement = signal_share(&e.website_visits, s.website_visits_30d)
            + signal_share(&e.email_engagement, s.email_engagement_score)
            + signal_share(&e.whitepaper_downloads, s.whitepaper_downloads)
            + signal_share(&e.linkedin_engagement, s.linkedin_engagement);
        let intent = u32::from(s.demo_requested) * p.buying_intent.demo_requested_percent
            + u32::from(s.free_trial_started) * p.buying_intent.free_trial_started_percent;
        let points = [
            feature_points(w.company_size, f64::from(size_fit)),
            feature_points(w.engagement, engagement),
            feature_points(w.industry_fit, f64::from(industry_fit)),
            feature_points(w.buying_intent, f64::from(intent)),
        ];
        Parts {
            points,
            band,
            industry,
        }
    }

    fn band_index(&self, employee_count: u32) -> usize {
        // Bands are few and sorted; the first starts at 0, so the answer always exists.
        let bands = &self.params.size_bands;
        bands
            .iter()
            .rposition(|b| b.min_employees <= employee_count)
            .unwrap_or(0)
    }

    fn industry_index(&self, industry: &str) -> Option<usize> {
        // One byte more than the longest key: a name that fills it cannot match anything
        // whole, and it never matches a key by truncation.
        let mut buf = [0u8; MAX_INDUSTRY_KEY + 1];
        // Normalise and hash in one pass: this is most of the fast path's work.
        let mut n = 0;
        let mut hash = FNV_OFFSET;
        for &b in industry.as_bytes() {
            if is_word_byte(b) {
                if n == buf.len() {
                    break;
                }
                let b = b.to_ascii_lowercase();
                buf[n] = b;
                n += 1;
                hash = fnv_step(hash, b);
            }
        }
        if n <= MAX_INDUSTRY_KEY
            && let Some(i) = self.industries.get_hashed(&buf[..n], hash)
        {
            return Some(i);
        }
        // Words are split on ASCII separators only, the same bytes normalising drops.
        for word in industry.as_bytes().split(|&b| !is_word_byte(b)) {
            let n = normalise_into(word, &mut buf);
            if n == 0 || n > MAX_INDUSTRY_KEY {
                continue;
            }
            if let Some(i) = self.industries.get(&buf[..n]) {
                return Some(i);
            }
            // "Banks", "Hospitals": try the singular.
            if n >= 4
                && buf[n - 1] == b's'
                && let Some(i) = self.industries.get(&buf[..n - 1])
            {
                return Some(i);
            }
        }
        None
    }

    fn size_detail(&self, employee_count: u32, band: usize) -> String {
        let (label, fit) = self
            .params
            .size_bands
            .get(band)
            .map_or(("unknown", 0), |b| (b.label.as_str(), b.fit_percent));
        if employee_count == 0 {
            format!("employee count unknown, scored as the {label} band: {fit}% fit")
        } else {
            format!(
                "{}, in the {label} band: {fit}% fit",
                plural(employee_count.into(), "employee", "employees")
            )
        }
    }

    fn industry_detail(&self, given: &str, matched: Option<usize>) -> String {
        let given = given.trim();
        match matched.and_then(|i| self.params.industry_fit.get(i)) {
            Some(entry) if normalised(given) == normalised(&entry.industry) => {
                format!("{}: {}% fit", entry.industry, entry.fit_percent)
            }
            Some(entry) => format!(
                "\"{given}\" read as {}: {}% fit",
                entry.industry, entry.fit_percent
            ),
            None => format!(
                "\"{given}\" is not in the industry table: default {}% fit",
                self.params.unknown_industry_fit_percent
            ),
        }
    }
}

/// The next value a suggestion proposes for an engagement signal, if it can still rise
/// within its cap.
fn raised(value: u32, signal: &EngagementSignal) -> Option<u32> {
    (value < signal.cap && signal.share_percent > 0).then(|| {
        value
            .saturating_add(signal.suggestion_step.max(1))
            .min(signal.cap)
    })
}

/// The signal's earned share of the engagement feature, in percent (0 to its share).
fn signal_share(signal: &EngagementSignal, value: u32) -> f64 {
    if signal.cap == 0 {
        return 0.0;
    }
    f64::from(signal.share_percent) * f64::from(value.min(signal.cap)) / f64::from(signal.cap)
}

/// A feature's fractional points from its weight and how much of it was earned (0-100).
fn feature_points(weight: u32, percent: f64) -> f64 {
    (f64::from(weight) * percent / 100.0).clamp(0.0, f64::from(weight))
}

fn round_score(total: f64) -> u32 {
    // Saturating float-to-int: NaN would become 0, never a panic.
    (total.round() as u32).min(100)
}

/// Whole points per feature that add up to `score`: each feature gets the floor of its
/// fractional points, and the points still owed go one each to the largest remainders
/// (ties to the earlier feature). No feature ever exceeds its weight.
fn apportion(points: &[f64; 4], weights: &[u32; 4], score: u32) -> [u32; 4] {
    let mut whole = [0u32; 4];
    let mut remainders = [(0.0f64, 0usize); 4];
    for i in 0..4 {
        let floor = points[i].floor();
        whole[i] = (floor as u32).min(weights[i]);
        remainders[i] = (points[i] - floor, i);
    }
    let mut owed = score.saturating_sub(whole.iter().sum());
    remainders.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(Ordering::Equal)
            .then(a.1.cmp(&b.1))
    });
    for &(remainder, i) in &remainders {
        if owed == 0 {
            break;
        }
        if remainder > 0.0 && whole[i] < weights[i] {
            whole[i] += 1;
            owed -= 1;
        }
    }
    // Only reachable through float edge cases: put any point still owed where there is
    // room, so the sum always holds.
    for i in 0..4 {
        while owed > 0 && whole[i] < weights[i] {
            whole[i] += 1;
            owed -= 1;
        }
    }
    whole
}

fn engagement_detail(s: &LeadSignals) -> String {
    let linkedin = if s.linkedin_engagement == 0 {
        "no LinkedIn engagement".to_owned()
    } else {
        plural(
            s.linkedin_engagement.into(),
            "LinkedIn engagement",
            "LinkedIn engagements",
        )
    };
    format!(
        "{} in 30 days, email engagement {}/100, {}, {}",
        plural(
            s.website_visits_30d.into(),
            "website visit",
            "website visits"
        ),
        s.email_engagement_score,
        plural(
            s.whitepaper_downloads.into(),
            "whitepaper download",
            "whitepaper downloads"
        ),
        linkedin
    )
}

fn intent_detail(s: &LeadSignals) -> String {
    match (s.demo_requested, s.free_trial_started) {
        (true, true) => "demo requested and free trial started".into(),
        (true, false) => "demo requested, no free trial".into(),
        (false, true) => "free trial started, no demo request".into(),
        (false, false) => "no demo request or free trial".into(),
    }
}

/// Names the strongest and weakest features by the share of their weight they earned.
fn explain(
    score: u32,
    tier: Tier,
    exact: &[f64; 4],
    weights: &[u32; 4],
    attributions: &[Attribution],
) -> String {
    let tier_word = match tier {
        Tier::Hot => "Hot",
        Tier::Warm => "Warm",
        Tier::Cold => "Cold",
    };
    let ratio = |i: usize| exact[i] / f64::from(weights[i]);
    let scored: Vec<usize> = (0..4).filter(|&i| weights[i] > 0).collect();
    let strongest = scored
        .iter()
        .copied()
        .fold(None, |best: Option<usize>, i| match best {
            Some(b) if ratio(b) >= ratio(i) => Some(b),
            _ => Some(i),
        });
    let weakest = scored
        .iter()
        .copied()
        .fold(None, |worst: Option<usize>, i| match worst {
            Some(w) if ratio(w) <= ratio(i) => Some(w),
            _ => Some(i),
        });
    let describe = |i: usize| {
        let a = &attributions[i];
        format!(
            "{}, {} of {} points ({})",
            a.label.to_lowercase(),
            a.points,
            a.max_points,
            a.detail
        )
    };
    match (strongest, weakest) {
        (Some(s), Some(w)) if s != w && ratio(s) > ratio(w) => format!(
            "{tier_word} lead at {score}/100: the strongest factor is {}. The weakest is {}.",
            describe(s),
            describe(w)
        ),
        _ => format!(
            "{tier_word} lead at {score}/100: every factor earns the same share of its points."
        ),
    }
}

fn check_percent(what: &str, value: u32) -> Result<(), String> {
    if value > 100 {
        return Err(format!("{what} is {value}: a percentage is at most 100"));
    }
    Ok(())
}

fn check_params(p: &LeadModelParams) -> Result<(), String> {
    let w = &p.weights;
    if w.total() != 100 {
        return Err(format!(
            "the weights add up to {} (company_size {} + engagement {} + industry_fit {} + \
             buying_intent {}): they must add up to 100",
            w.total(),
            w.company_size,
            w.engagement,
            w.industry_fit,
            w.buying_intent
        ));
    }
    let t = &p.thresholds;
    if !(0 < t.warm && t.warm < t.hot && t.hot <= 100) {
        return Err(format!(
            "the tier thresholds are warm {} and hot {}: they must satisfy 0 < warm < hot <= 100",
            t.warm, t.hot
        ));
    }
    let Some(first) = p.size_bands.first() else {
        return Err("there are no size bands: give at least one, starting at 0 employees".into());
    };
    if first.min_employees != 0 {
        return Err(format!(
            "the first size band starts at {} employees: it must start at 0",
            first.min_employees
        ));
    }
    for pair in p.size_bands.windows(2) {
        if pair[1].min_employees <= pair[0].min_employees {
            return Err(format!(
                "size band \"{}\" starts at {} employees, not above the previous band's {}: \
                 list the bands smallest first",
                pair[1].label, pair[1].min_employees, pair[0].min_employees
            ));
        }
    }
    for b in &p.size_bands {
        if b.label.trim().is_empty() {
            return Err(format!(
                "the size band starting at {} employees has no label",
                b.min_employees
            ));
        }
        check_percent(
            &format!("the fit of size band \"{}\"", b.label),
            b.fit_percent,
        )?;
    }
    let shares: u64 = p
        .engagement
        .signals()
        .iter()
        .map(|(_, s)| u64::from(s.share_percent))
        .sum();
    if shares != 100 {
        return Err(format!(
            "the engagement signal shares add up to {shares}: they must add up to 100"
        ));
    }
    for (name, s) in p.engagement.signals() {
        if s.cap == 0 {
            return Err(format!("the {name} cap is 0: it must be at least 1"));
        }
    }
    let intent = u64::from(p.buying_intent.demo_requested_percent)
        + u64::from(p.buying_intent.free_trial_started_percent);
    if intent != 100 {
        return Err(format!(
            "the buying intent shares add up to {intent} (demo {} + trial {}): they must add \
             up to 100",
            p.buying_intent.demo_requested_percent, p.buying_intent.free_trial_started_percent
        ));
    }
    check_percent("the unknown industry fit", p.unknown_industry_fit_percent)?;
    let mut owners: Vec<(Vec<u8>, &str)> = Vec::new();
    for entry in &p.industry_fit {
        if normalised(&entry.industry).is_empty() {
            return Err("an industry in the fit table has no name".into());
        }
        check_percent(
            &format!("the fit of industry \"{}\"", entry.industry),
            entry.fit_percent,
        )?;
        for name in std::iter::once(&entry.industry).chain(entry.aliases.iter()) {
            let key = normalised(name);
            if key.is_empty() {
                return Err(format!(
                    "industry \"{}\" has an empty alias",
                    entry.industry
                ));
            }
            if key.len() > MAX_INDUSTRY_KEY {
                return Err(format!(
                    "industry name \"{name}\" is longer than {MAX_INDUSTRY_KEY} letters and digits"
                ));
            }
            owners.push((key, entry.industry.as_str()));
        }
    }
    owners.sort();
    for pair in owners.windows(2) {
        if pair[0].0 == pair[1].0 && pair[0].1 != pair[1].1 {
            return Err(format!(
                "\"{}\" names both industry \"{}\" and industry \"{}\": each name may belong to \
                 one industry",
                String::from_utf8_lossy(&pair[0].0),
                pair[0].1,
                pair[1].1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: usize = 0;
    const INDUSTRY: usize = 2;
    const INTENT: usize = 3;

    fn profile(industry: &str, employees: u32, signals: LeadSignals) -> LeadProfile {
        LeadProfile {
            industry: industry.into(),
            employee_count: employees,
            signals,
        }
    }

    fn engaged_tech_lead() -> LeadProfile {
        profile(
            "technology",
            500,
            LeadSignals {
                website_visits_30d: 50,
                demo_requested: true,
                whitepaper_downloads: 3,
                email_engagement_score: 90,
                linkedin_engagement: 5,
                free_trial_started: true,
            },
        )
    }

    fn small_retailer() -> LeadProfile {
        profile(
            "retail",
            5,
            LeadSignals {
                website_visits_30d: 2,
                ..LeadSignals::default()
            },
        )
    }

    fn points_sum(score: &LeadScore) -> u32 {
        score.attributions.iter().map(|a| a.points).sum()
    }

    #[test]
    fn an_engaged_technology_company_with_a_demo_and_a_trial_is_hot() {
        let model = LeadModel::default_v1();
        let s = model.score(&engaged_tech_lead());
        assert_eq!(s.tier, Tier::Hot, "{s:?}");
        assert_eq!(s.score, 95);
        assert_eq!(points_sum(&s), s.score);
        assert_eq!(s.model, ModelRef::new("lead_scorer", 1));
    }

    #[test]
    fn a_five_person_retailer_with_two_visits_is_cold() {
        let model = LeadModel::default_v1();
        let s = model.score(&small_retailer());
        assert_eq!(s.tier, Tier::Cold, "{s:?}");
        assert_eq!(s.score, 14);
        assert_eq!(points_sum(&s), s.score);
    }

    #[test]
    fn a_mid_sized_saas_lead_with_some_engagement_is_warm() {
        let model = LeadModel::default_v1();
        let lead = profile(
            "SaaS",
            120,
            LeadSignals {
                website_visits_30d: 10,
                email_engagement_score: 50,
                ..LeadSignals::default()
            },
        );
        assert_eq!(model.score(&lead).tier, Tier::Warm);
    }

    #[test]
    fn attributions_are_listed_in_feature_order_with_their_weights() {
        let s = LeadModel::default_v1().score(&engaged_tech_lead());
        let features: Vec<&str> = s.attributions.iter().map(|a| a.feature.as_str()).collect();
        assert_eq!(
            features,
            [
                "company_size",
                "engagement",
                "industry_fit",
                "buying_intent"
            ]
        );
        let max: Vec<u32> = s.attributions.iter().map(|a| a.max_points).collect();
        assert_eq!(max, [20, 40, 20, 20]);
        for a in &s.attributions {
            assert!(a.points <= a.max_points, "{a:?}");
            assert!(!a.detail.is_empty());
        }
    }

    #[test]
    fn attributions_add_up_to_the_score_over_a_large_grid_of_profiles() {
        let model = LeadModel::default_v1();
        let industries = [
            "technology",
            "Tech",
            "SaaS",
            "retail",
            "government",
            "Underwater basket weaving",
            "Healthcare IT",
            "nonprofit",
        ];
        let employees = [0, 1, 7, 11, 50, 51, 199, 500, 1_000, 1_001, 250_000];
        let visits = [0, 1, 3, 7, 19, 20, 1_000];
        let downloads = [0, 1, 2, 3, 9];
        let emails = [0, 1, 33, 50, 67, 99, 100, 250];
        let linkedin = [0, 1, 3, 5, 40];
        let mut checked = 0u32;
        for industry in industries {
            for &employee_count in &employees {
                for &website_visits_30d in &visits {
                    for &whitepaper_downloads in &downloads {
                        for &email_engagement_score in &emails {
                            for &linkedin_engagement in &linkedin {
                                for flags in 0..4u8 {
                                    let signals = LeadSignals {
                                        website_visits_30d,
                                        demo_requested: flags & 1 != 0,
                                        whitepaper_downloads,
                                        email_engagement_score,
                                        linkedin_engagement,
                                        free_trial_started: flags & 2 != 0,
                                    };
                                    let p = profile(industry, employee_count, signals);
                                    let s = model.score(&p);
                                    assert!(s.score <= 100);
                                    assert_eq!(points_sum(&s), s.score, "{p:?} -> {s:?}");
                                    for a in &s.attributions {
                                        assert!(a.points <= a.max_points, "{p:?} -> {s:?}");
                                    }
                                    assert_eq!(
                                        model.score_value(industry, employee_count, &signals),
                                        (s.score, s.tier),
                                        "{p:?}"
                                    );
                                    assert_eq!(
                                        model.score_value_resolved(
                                            model.resolve_industry(industry),
                                            employee_count,
                                            &signals
                                        ),
                                        (s.score, s.tier)
                                    );
                                    assert_eq!(s.tier, model.params().thresholds.tier(s.score));
                                    checked += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 100_000, "{checked}");
    }

    #[test]
    fn more_engagement_never_lowers_the_score() {
        let model = LeadModel::default_v1();
        let base = LeadSignals {
            website_visits_30d: 4,
            whitepaper_downloads: 1,
            email_engagement_score: 30,
            linkedin_engagement: 1,
            ..LeadSignals::default()
        };
        let bumps: [fn(&mut LeadSignals, u32); 4] = [
            |s, v| s.website_visits_30d = v,
            |s, v| s.whitepaper_downloads = v,
            |s, v| s.email_engagement_score = v,
            |s, v| s.linkedin_engagement = v,
        ];
        for industry in ["technology", "retail", "unknown trade"] {
            for employees in [0, 5, 300, 5_000] {
                for bump in bumps {
                    let mut last = 0;
                    for value in 0..=120 {
                        let mut s = base;
                        bump(&mut s, value);
                        let (score, _) = model.score_value(industry, employees, &s);
                        assert!(
                            score >= last,
                            "{industry} {employees} {value}: {score} < {last}"
                        );
                        last = score;
                    }
                }
            }
        }
    }

    #[test]
    fn a_demo_request_raises_the_score() {
        let model = LeadModel::default_v1();
        let lead = small_retailer();
        let mut with_demo = lead.clone();
        with_demo.signals.demo_requested = true;
        assert!(model.score(&with_demo).score > model.score(&lead).score);
    }

    #[test]
    fn a_free_trial_raises_the_score() {
        let model = LeadModel::default_v1();
        let lead = small_retailer();
        let mut with_trial = lead.clone();
        with_trial.signals.free_trial_started = true;
        assert!(model.score(&with_trial).score > model.score(&lead).score);
    }

    #[test]
    fn signals_beyond_their_caps_count_as_the_cap() {
        let model = LeadModel::default_v1();
        let capped = LeadSignals {
            website_visits_30d: 20,
            email_engagement_score: 100,
            whitepaper_downloads: 3,
            linkedin_engagement: 5,
            ..LeadSignals::default()
        };
        let beyond = LeadSignals {
            website_visits_30d: 900,
            email_engagement_score: 400,
            whitepaper_downloads: 30,
            linkedin_engagement: 50,
            ..LeadSignals::default()
        };
        assert_eq!(
            model.score_value("saas", 80, &capped),
            model.score_value("saas", 80, &beyond)
        );
    }

    #[test]
    fn industries_match_ignoring_case_spacing_and_aliases() {
        let model = LeadModel::default_v1();
        for name in [
            "technology",
            "Technology",
            "TECH",
            "tech",
            "software",
            "Software Development",
            "Enterprise Software",
            "IT services",
        ] {
            assert_eq!(
                model.industry_fit(name).industry,
                Some("technology"),
                "{name}"
            );
        }
        assert_eq!(model.industry_fit("SaaS").industry, Some("saas"));
        assert_eq!(model.industry_fit("B2B SaaS").industry, Some("saas"));
        assert_eq!(
            model.industry_fit("Financial Services").industry,
            Some("finance")
        );
        assert_eq!(model.industry_fit("Banks").industry, Some("finance"));
        assert_eq!(
            model.industry_fit("Health-care").industry,
            Some("healthcare")
        );
        assert_eq!(
            model.industry_fit("Healthcare IT").industry,
            Some("healthcare")
        );
        assert_eq!(
            model.industry_fit("professional_services").industry,
            Some("professional_services")
        );
        assert_eq!(model.industry_fit("E-commerce").industry, Some("retail"));
        let unknown = model.industry_fit("Underwater basket weaving");
        assert_eq!(unknown.industry, None);
        assert_eq!(unknown.fit_percent, 50);
        assert_eq!(model.industry_fit("").industry, None);
        let long = "x".repeat(500);
        assert_eq!(model.industry_fit(&long).industry, None);
    }

    #[test]
    fn the_demo_company_industries_are_all_in_the_table() {
        let model = LeadModel::default_v1();
        for name in [
            "saas",
            "technology",
            "finance",
            "healthcare",
            "manufacturing",
            "retail",
            "education",
            "media",
            "logistics",
            "government",
            "professional_services",
        ] {
            assert_eq!(model.industry_fit(name).industry, Some(name), "{name}");
        }
    }

    #[test]
    fn the_attribution_detail_says_how_the_industry_was_read() {
        let model = LeadModel::default_v1();
        let read = model.score(&profile("tech", 10, LeadSignals::default()));
        assert_eq!(
            read.attributions[INDUSTRY].detail,
            "\"tech\" read as technology: 90% fit"
        );
        let unknown = model.score(&profile("Widgets", 10, LeadSignals::default()));
        assert!(
            unknown.attributions[INDUSTRY]
                .detail
                .contains("not in the industry table")
        );
        let unknown_size = model.score(&profile("retail", 0, LeadSignals::default()));
        assert!(unknown_size.attributions[SIZE].detail.contains("unknown"));
    }

    #[test]
    fn the_explanation_names_the_strongest_and_weakest_factors() {
        let model = LeadModel::default_v1();
        let s = model.score(&small_retailer());
        assert!(
            s.explanation.starts_with("Cold lead at 14/100"),
            "{}",
            s.explanation
        );
        assert!(
            s.explanation.contains("strongest factor is industry fit"),
            "{}",
            s.explanation
        );
        assert!(
            s.explanation.contains("weakest is buying intent"),
            "{}",
            s.explanation
        );
        let hot = model.score(&engaged_tech_lead());
        assert!(
            hot.explanation
                .contains("strongest factor is buying intent"),
            "{}",
            hot.explanation
        );
        assert!(
            hot.explanation.contains("weakest is company size"),
            "{}",
            hot.explanation
        );
        assert!(hot.explanation.matches(". ").count() <= 2);
    }

    #[test]
    fn suggestions_are_ranked_by_gain_and_match_the_changed_score() {
        let model = LeadModel::default_v1();
        let leads = [
            small_retailer(),
            profile(
                "saas",
                120,
                LeadSignals {
                    website_visits_30d: 10,
                    email_engagement_score: 50,
                    ..LeadSignals::default()
                },
            ),
            profile(
                "technology",
                2_000,
                LeadSignals {
                    demo_requested: true,
                    ..LeadSignals::default()
                },
            ),
        ];
        for lead in &leads {
            let before = model.score(lead).score;
            let suggestions = model.suggestions(lead, 3);
            assert!(
                !suggestions.is_empty() && suggestions.len() <= 3,
                "{suggestions:?}"
            );
            for pair in suggestions.windows(2) {
                assert!(pair[0].gain >= pair[1].gain, "{suggestions:?}");
            }
            for s in &suggestions {
                let mut changed = lead.clone();
                match s.signal.as_str() {
                    "demo_requested" => changed.signals.demo_requested = true,
                    "free_trial_started" => changed.signals.free_trial_started = true,
                    "website_visits_30d" => {
                        changed.signals.website_visits_30d =
                            (lead.signals.website_visits_30d + 10).min(20)
                    }
                    "email_engagement_score" => {
                        changed.signals.email_engagement_score =
                            (lead.signals.email_engagement_score + 20).min(100)
                    }
                    "whitepaper_downloads" => changed.signals.whitepaper_downloads += 1,
                    "linkedin_engagement" => {
                        changed.signals.linkedin_engagement =
                            (lead.signals.linkedin_engagement + 2).min(5)
                    }
                    other => panic!("unexpected signal {other}"),
                }
                assert_eq!(model.score(&changed).score, s.score_after, "{s:?}");
                assert_eq!(s.score_after - before, s.gain);
                assert!(s.gain > 0);
            }
        }
        let first = &model.suggestions(&small_retailer(), 3)[0];
        assert_eq!(first.change, "book a demo");
        assert_eq!(first.feature, "buying_intent");
    }

    #[test]
    fn nothing_is_suggested_when_every_signal_is_maxed() {
        let model = LeadModel::default_v1();
        let mut lead = engaged_tech_lead();
        lead.signals.email_engagement_score = 100;
        lead.signals.website_visits_30d = 20;
        assert!(model.suggestions(&lead, 3).is_empty());
        assert!(model.suggestions(&small_retailer(), 0).is_empty());
    }

    #[test]
    fn validate_accepts_a_plausible_profile() {
        assert_eq!(validate(&engaged_tech_lead()), Ok(()));
        assert_eq!(validate(&small_retailer()), Ok(()));
    }

    #[test]
    fn validate_says_which_field_is_wrong_and_what_to_change() {
        let check = |p: LeadProfile, field: &str, hint: &str| {
            let err = validate(&p).unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.problem.contains(hint), "{err}");
            assert!(err.to_string().starts_with(field));
        };
        check(
            profile("  ", 10, LeadSignals::default()),
            "industry",
            "is empty",
        );
        check(
            profile(&"a".repeat(81), 10, LeadSignals::default()),
            "industry",
            "at most 80",
        );
        check(
            profile("retail", 20_000_000, LeadSignals::default()),
            "employee_count",
            "10,000,000",
        );
        check(
            profile(
                "retail",
                10,
                LeadSignals {
                    email_engagement_score: 101,
                    ..LeadSignals::default()
                },
            ),
            "signals.email_engagement_score",
            "from 0 to 100",
        );
        check(
            profile(
                "retail",
                10,
                LeadSignals {
                    website_visits_30d: 1_000_001,
                    ..LeadSignals::default()
                },
            ),
            "signals.website_visits_30d",
            "this lead's own visits",
        );
        check(
            profile(
                "retail",
                10,
                LeadSignals {
                    whitepaper_downloads: 50_000,
                    ..LeadSignals::default()
                },
            ),
            "signals.whitepaper_downloads",
            "10,000",
        );
        check(
            profile(
                "retail",
                10,
                LeadSignals {
                    linkedin_engagement: 2_000_000,
                    ..LeadSignals::default()
                },
            ),
            "signals.linkedin_engagement",
            "1,000,000",
        );
        assert!(validate(&profile(&"é".repeat(80), 10, LeadSignals::default())).is_ok());
    }

    #[test]
    fn params_round_trip_through_json() {
        let params = LeadModelParams::default();
        let json = serde_json::to_string(&params).unwrap();
        let back: LeadModelParams = serde_json::from_str(&json).unwrap();
        assert_eq!(back, params);
        let model = LeadModel::from_params("lead_scorer", 2, back).unwrap();
        assert_eq!(model.model_ref(), ModelRef::new("lead_scorer", 2));
        assert_eq!(
            model.score(&engaged_tech_lead()).score,
            LeadModel::default_v1().score(&engaged_tech_lead()).score
        );
    }

    #[test]
    fn omitted_signals_count_as_none() {
        let p: LeadProfile = serde_json::from_str(
            r#"{"industry":"retail","employee_count":5,"signals":{"website_visits_30d":2}}"#,
        )
        .unwrap();
        assert_eq!(p, small_retailer());
        let p: LeadProfile =
            serde_json::from_str(r#"{"industry":"retail","employee_count":5}"#).unwrap();
        assert_eq!(p.signals, LeadSignals::default());
        assert_eq!(serde_json::to_value(Tier::Hot).unwrap(), "hot");
    }

    #[test]
    fn from_params_rejects_bad_weights_thresholds_and_tables() {
        let bad = |f: fn(&mut LeadModelParams), hint: &str| {
            let mut p = LeadModelParams::default();
            f(&mut p);
            let err = LeadModel::from_params("lead_scorer", 2, p).unwrap_err();
            assert!(err.contains(hint), "{err}");
        };
        bad(|p| p.weights.engagement = 50, "add up to 110");
        bad(|p| p.thresholds.warm = 80, "0 < warm < hot");
        bad(|p| p.thresholds.hot = 101, "0 < warm < hot");
        bad(|p| p.size_bands.clear(), "no size bands");
        bad(|p| p.size_bands[0].min_employees = 1, "start at 0");
        bad(|p| p.size_bands[2].min_employees = 5, "smallest first");
        bad(|p| p.size_bands[1].fit_percent = 120, "at most 100");
        bad(
            |p| p.engagement.website_visits.share_percent = 10,
            "shares add up to 75",
        );
        bad(|p| p.engagement.whitepaper_downloads.cap = 0, "cap is 0");
        bad(
            |p| p.buying_intent.demo_requested_percent = 70,
            "add up to 110",
        );
        bad(|p| p.industry_fit[0].fit_percent = 101, "at most 100");
        bad(|p| p.unknown_industry_fit_percent = 101, "at most 100");
        bad(
            |p| p.industry_fit[1].aliases.push("Tech".into()),
            "names both",
        );
        assert!(LeadModel::from_params("", 1, LeadModelParams::default()).is_err());
        assert!(LeadModel::from_params("lead_scorer", 0, LeadModelParams::default()).is_err());
    }

    #[test]
    fn a_model_with_different_params_scores_with_them() {
        let p = LeadModelParams {
            weights: LeadWeights {
                company_size: 10,
                engagement: 30,
                industry_fit: 10,
                buying_intent: 50,
            },
            thresholds: TierThresholds { hot: 60, warm: 30 },
            ..LeadModelParams::default()
        };
        let model = LeadModel::from_params("lead_scorer", 3, p).unwrap();
        let s = model.score(&engaged_tech_lead());
        assert_eq!(points_sum(&s), s.score);
        assert_eq!(s.attributions[INTENT].max_points, 50);
        assert_eq!(s.model.version, 3);
    }

    #[test]
    fn metadata_shows_the_weights_and_importance() {
        let meta = LeadModel::default_v1()
            .with_trained_at("2026-01-01T00:00:00Z")
            .metadata();
        assert_eq!(meta.model, ModelRef::new("lead_scorer", 1));
        assert_eq!(meta.trained_at.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(meta.weights.engagement, 40);
        assert_eq!(meta.thresholds, TierThresholds { hot: 70, warm: 40 });
        assert_eq!(meta.feature_importance[0].feature, "engagement");
        let total: f64 = meta.feature_importance.iter().map(|f| f.share).sum();
        assert!((total - 1.0).abs() < 1e-9);
        assert!(
            meta.industry_fit
                .iter()
                .any(|i| i.industry == "technology" && i.fit_percent == 90)
        );
        assert!(LeadModel::default_v1().metadata().trained_at.is_none());
    }

    #[test]
    fn largest_remainder_apportionment_keeps_the_sum() {
        assert_eq!(
            apportion(&[0.5, 0.5, 0.5, 0.5], &[20, 40, 20, 20], 2),
            [1, 1, 0, 0]
        );
        assert_eq!(
            apportion(&[4.0, 1.4, 9.0, 0.0], &[20, 40, 20, 20], 14),
            [4, 1, 9, 0]
        );
        assert_eq!(
            apportion(&[3.3, 3.3, 3.4, 0.0], &[20, 40, 20, 20], 10),
            [3, 3, 4, 0]
        );
        assert_eq!(
            apportion(&[20.0, 40.0, 20.0, 20.0], &[20, 40, 20, 20], 100),
            [20, 40, 20, 20]
        );
    }

    #[test]
    fn schemas_describe_every_field() {
        let schema = serde_json::to_value(schemars::schema_for!(LeadProfile)).unwrap();
        let text = schema.to_string();
        assert!(text.contains("email_engagement_score"));
        assert!(text.contains("How engaged the lead is"));
    }
}
