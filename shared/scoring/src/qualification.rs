//! Lead qualification: where a lead stands on the way to a deal, in the spirit of BANT
//! (budget, authority, need, timing), built on the lead score.
//!
//! Five criteria, each met, not met or unknown (`met: null`), each with the facts it used:
//!
//! - **fit**: the lead model's industry fit and company size fit, averaged with the model's
//!   weights for the two. Met at 50% or more; below 25% the fit is "very poor".
//! - **intent**: a demo request, a free trial, or at least 10 website visits in 30 days.
//! - **authority**: from the title. C-level (CEO, CFO, CTO, "Chief ..."), president, VP,
//!   Head of, Director, Owner and Founder can decide: met. Interns, students, trainees and
//!   apprentices cannot: not met. Any other title (a manager, an engineer) or no title at
//!   all: unknown, to be confirmed.
//! - **budget**: `budget_confirmed` when given. When it is not, a company of 1,000 or more
//!   employees probably has budget, but that is weak evidence: the criterion stays unknown
//!   and its detail says so.
//! - **timing**: a timeline of 90 days or less is met; longer is not; none is unknown.
//!
//! The stage, checked in this order:
//!
//! 1. **disqualified** when the status is already `disqualified`, the lead has said there is
//!    no budget (`budget_confirmed: false`), or the fit is very poor;
//! 2. **opportunity** when the lead has an open opportunity or was converted, or it meets
//!    everything an SQL needs and budget and timing are both met;
//! 3. **sql** when the score is hot-ish (60 or more) with intent and authority met, or the
//!    status is already `sql` (a person's call is not demoted);
//! 4. **mql** when the score is at least warm (40), or the status is already `mql`;
//! 5. **nurture** otherwise: not disqualified, just not ready.
//!
//! All thresholds and title words are in [`QualificationParams`]; the result names both the
//! qualification rules and the lead model that scored the lead.

use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::lead::{LeadModel, LeadProfile, Tier};
use crate::{ModelRef, check_model_ref, plural, thousands};

/// The name the rule-based qualification rules are stored under.
pub const MODEL_NAME: &str = "lead_qualification";

/// What is known about a lead for qualification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QualificationFacts {
    /// The lead's company and signals, as for the lead score.
    pub profile: LeadProfile,
    /// The lead's status: new, working, mql, sql, converted or disqualified.
    pub status: String,
    /// The lead's job title, e.g. "VP of Sales"; null if unknown.
    #[serde(default)]
    pub title: Option<String>,
    /// True if the lead has confirmed budget, false if they have said there is none, null
    /// if unknown.
    #[serde(default)]
    pub budget_confirmed: Option<bool>,
    /// In how many days the lead expects to buy; null if unknown.
    #[serde(default)]
    pub timeline_days: Option<u32>,
    /// True if an open opportunity already exists for this lead.
    #[serde(default)]
    pub has_open_opportunity: bool,
}

/// Where a lead stands on the way to a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QualificationStage {
    /// Not worth pursuing: very poor fit, no budget, or already disqualified.
    Disqualified,
    /// Not disqualified but not ready: below the MQL score; keep nurturing.
    Nurture,
    /// Marketing-qualified: engaged enough for sales to look at.
    Mql,
    /// Sales-qualified: strong score, intent shown and someone who can decide.
    Sql,
    /// Ready for (or already has) an opportunity.
    Opportunity,
}

impl QualificationStage {
    /// The stage as it appears in JSON, e.g. "sql".
    pub fn as_str(self) -> &'static str {
        match self {
            QualificationStage::Disqualified => "disqualified",
            QualificationStage::Nurture => "nurture",
            QualificationStage::Mql => "mql",
            QualificationStage::Sql => "sql",
            QualificationStage::Opportunity => "opportunity",
        }
    }
}

/// One qualification criterion and whether the lead meets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Criterion {
    /// The criterion: "fit", "intent", "budget", "authority" or "timing".
    pub criterion: String,
    /// True if met, false if not, null if unknown.
    pub met: Option<bool>,
    /// The facts used, in plain words.
    pub detail: String,
}

/// A verdict on a lead: its stage, the criteria behind it and what to do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Qualification {
    /// The stage the lead belongs in.
    pub stage: QualificationStage,
    /// The lead score (0-100) from the lead model.
    pub score: u32,
    /// The lead score's tier.
    pub tier: Tier,
    /// Fit, intent, budget, authority and timing, in that order.
    pub criteria: Vec<Criterion>,
    /// One or two sentences: the stage and the facts that decided it.
    pub summary: String,
    /// The most useful next action.
    pub next_step: String,
    /// The qualification rules (name and version) that produced this verdict.
    pub model: ModelRef,
    /// The lead model (name and version) that produced the score.
    pub lead_model: ModelRef,
}

/// Every threshold and word list of the qualification rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct QualificationParams {
    /// Combined fit (0-100) at or above which the fit criterion is met.
    pub fit_met_percent: u32,
    /// Combined fit (0-100) below which the fit is very poor and the lead disqualified.
    pub fit_disqualify_percent: u32,
    /// Website visits in 30 days that show intent on their own.
    pub intent_min_visits: u32,
    /// The lowest lead score for SQL.
    pub sql_min_score: u32,
    /// The longest timeline, in days, that meets the timing criterion.
    pub timing_max_days: u32,
    /// Employees from which an unconfirmed budget is called likely (weak evidence).
    pub large_company_employees: u32,
    /// Title words and phrases of people who can decide, lowercase, e.g. "vp", "head".
    pub decision_maker_titles: Vec<String>,
    /// Title words and phrases of people who cannot, lowercase, e.g. "intern"; checked first.
    pub junior_titles: Vec<String>,
}

impl Default for QualificationParams {
    /// The rule-based version 1.
    fn default() -> QualificationParams {
        let words = |list: &[&str]| list.iter().map(|w| (*w).to_owned()).collect();
        QualificationParams {
            fit_met_percent: 50,
            fit_disqualify_percent: 25,
            intent_min_visits: 10,
            sql_min_score: 60,
            timing_max_days: 90,
            large_company_employees: 1_000,
            decision_maker_titles: words(&[
                "ceo",
                "cfo",
                "cto",
                "coo",
                "cmo",
                "cio",
                "cro",
                "ciso",
                "cpo",
                "chief",
                "president",
                "vp",
                "svp",
                "evp",
                "head",
                "director",
                "owner",
                "founder",
                "cofounder",
                "managing partner",
            ]),
            junior_titles: words(&[
                "intern",
                "internship",
                "student",
                "trainee",
                "apprentice",
                "executive assistant",
            ]),
        }
    }
}

/// Qualification rules: their name and version and their parameters.
#[derive(Debug, Clone)]
pub struct QualificationModel {
    model: ModelRef,
    params: QualificationParams,
}

static DEFAULT: LazyLock<QualificationModel> = LazyLock::new(QualificationModel::default_v1);

/// Qualifies a lead with the default rules (`lead_qualification` v1) and the given lead
/// model.
pub fn qualify(model: &LeadModel, facts: &QualificationFacts) -> Qualification {
    DEFAULT.qualify(model, facts)
}

impl QualificationModel {
    /// The rule-based version 1: `lead_qualification` v1 with the default parameters.
    pub fn default_v1() -> QualificationModel {
        QualificationModel {
            model: ModelRef::new(MODEL_NAME, 1),
            params: QualificationParams::default(),
        }
    }

    /// Rules from stored parameters, after checking them: percentages at most 100, the
    /// disqualifying fit below the fit that is met, and a title list that is not empty.
    pub fn from_params(
        name: &str,
        version: u32,
        params: QualificationParams,
    ) -> Result<QualificationModel, String> {
        check_model_ref(name, version)?;
        if params.fit_met_percent > 100 || params.sql_min_score > 100 {
            return Err(format!(
                "fit_met_percent is {} and sql_min_score {}: both are at most 100",
                params.fit_met_percent, params.sql_min_score
            ));
        }
        if params.fit_disqualify_percent > params.fit_met_percent {
            return Err(format!(
                "fit_disqualify_percent ({}) is above fit_met_percent ({}): a fit cannot be \
                 both met and very poor",
                params.fit_disqualify_percent, params.fit_met_percent
            ));
        }
        if params
            .decision_maker_titles
            .iter()
            .all(|t| words_of(t).trim().is_empty())
        {
            return Err("decision_maker_titles is empty: list at least one title word".into());
        }
        Ok(QualificationModel {
            model: ModelRef::new(name, version),
            params,
        })
    }

    /// The rules' name and version.
    pub fn model_ref(&self) -> ModelRef {
        self.model.clone()
    }

    /// The rules' parameters.
    pub fn params(&self) -> &QualificationParams {
        &self.params
    }

    /// Qualifies a lead: criteria, stage, summary and next step.
    pub fn qualify(&self, model: &LeadModel, facts: &QualificationFacts) -> Qualification {
        let p = &self.params;
        let profile = &facts.profile;
        let scored = model.score(profile);
        let (score, tier) = (scored.score, scored.tier);

        let fit = self.fit(model, profile);
        let intent = self.intent(profile);
        let budget = self.budget(facts);
        let authority = self.authority(facts.title.as_deref());
        let timing = self.timing(facts.timeline_days);

        let status = facts.status.trim().to_ascii_lowercase();
        let score_words = format!("score {score} ({tier})");
        let sql_ready =
            score >= p.sql_min_score && intent.met == Some(true) && authority.met == Some(true);

        let (stage, summary, next_step) = if status == "disqualified" {
            (
                QualificationStage::Disqualified,
                "Disqualified: the lead's status is already disqualified.".to_owned(),
                "Leave the lead closed unless something new comes in.".to_owned(),
            )
        } else if facts.budget_confirmed == Some(false) {
            (
                QualificationStage::Disqualified,
                format!(
                    "Disqualified: the lead has said there is no budget \
                     (budget_confirmed is false), despite a {score_words}."
                ),
                "Mark the lead disqualified and revisit if budget appears.".to_owned(),
            )
        } else if fit.very_poor {
            (
                QualificationStage::Disqualified,
                format!("Disqualified: very poor fit, {}.", fit.criterion.detail),
                "Mark the lead disqualified; it is outside the customers we serve well.".to_owned(),
            )
        } else if facts.has_open_opportunity {
            (
                QualificationStage::Opportunity,
                format!("Opportunity: the lead already has an open opportunity ({score_words})."),
                "Work the open opportunity rather than the lead.".to_owned(),
            )
        } else if status == "converted" {
            (
                QualificationStage::Opportunity,
                format!("Opportunity: the lead has been converted ({score_words})."),
                "Work the account and its opportunity rather than the lead.".to_owned(),
            )
        } else if sql_ready && budget.met == Some(true) && timing.met == Some(true) {
            (
                QualificationStage::Opportunity,
                format!(
                    "Opportunity: {score_words}; intent: {}; authority: {}; budget: {}; \
                     timing: {}.",
                    intent.detail, authority.detail, budget.detail, timing.detail
                ),
                "Convert the lead and open an opportunity.".to_owned(),
            )
        } else if sql_ready || status == "sql" {
            let summary = if sql_ready {
                format!(
                    "SQL: {score_words}; intent: {}; authority: {}.",
                    intent.detail, authority.detail
                )
            } else {
                format!(
                    "SQL: the lead's status is already sql, though the rules alone would not \
                     say so ({score_words}; intent: {}; authority: {}).",
                    intent.detail, authority.detail
                )
            };
            let next = match (budget.met, timing.met) {
                (Some(true), _) => "Agree a timeline, then open an opportunity.",
                (_, Some(true)) => "Confirm the budget, then open an opportunity.",
                _ => "Confirm budget and timeline, then open an opportunity.",
            };
            (QualificationStage::Sql, summary, next.to_owned())
        } else if score >= model.params().thresholds.warm || status == "mql" {
            let mut missing = Vec::new();
            if score < p.sql_min_score {
                missing.push(format!("the score is below {}", p.sql_min_score));
            }
            if intent.met != Some(true) {
                missing.push(format!("no intent yet ({})", intent.detail));
            }
            if authority.met != Some(true) {
                missing.push(format!("authority not shown ({})", authority.detail));
            }
            let why = if score < model.params().thresholds.warm {
                format!("MQL: the lead's status is already mql ({score_words})")
            } else {
                format!("MQL: {score_words}")
            };
            let summary = if missing.is_empty() {
                format!("{why}.")
            } else {
                format!("{why}; not SQL yet because {}.", missing.join(" and "))
            };
            let next = if intent.met != Some(true) {
                "Offer a demo or a free trial to draw out intent.".to_owned()
            } else if authority.met == Some(false) {
                "Find the decision maker: this contact cannot buy.".to_owned()
            } else if authority.met.is_none() {
                "Confirm the lead's role and who signs off on a purchase.".to_owned()
            } else {
                self.nurture_step(model, profile)
            };
            (QualificationStage::Mql, summary, next)
        } else {
            (
                QualificationStage::Nurture,
                format!(
                    "Nurture: {score_words}, below the {} needed for MQL; {}.",
                    model.params().thresholds.warm,
                    scored
                        .explanation
                        .split_once(": ")
                        .map_or(scored.explanation.as_str(), |(_, rest)| rest)
                        .trim_end_matches('.')
                ),
                self.nurture_step(model, profile),
            )
        };

        Qualification {
            stage,
            score,
            tier,
            criteria: vec![fit.criterion, intent, budget, authority, timing],
            summary,
            next_step,
            model: self.model_ref(),
            lead_model: model.model_ref(),
        }
    }

    fn nurture_step(&self, model: &LeadModel, profile: &LeadProfile) -> String {
        match model.suggestions(profile, 1).first() {
            Some(s) => format!(
                "Keep nurturing; the biggest lift would be to {} (+{} points).",
                s.change, s.gain
            ),
            None => "Keep nurturing with regular content.".to_owned(),
        }
    }

    fn fit(&self, model: &LeadModel, profile: &LeadProfile) -> Fit {
        let p = &self.params;
        let industry = model.industry_fit(&profile.industry);
        let (band, size_fit) = model.size_fit(profile.employee_count);
        let w = &model.params().weights;
        let (wi, ws) = if w.industry_fit + w.company_size == 0 {
            (1, 1)
        } else {
            (w.industry_fit, w.company_size)
        };
        let combined = ((f64::from(industry.fit_percent) * f64::from(wi)
            + f64::from(size_fit) * f64::from(ws))
            / f64::from(wi + ws))
        .round() as u32;
        let industry_words = match industry.industry {
            Some(name) => format!("industry {name} fits {}%", industry.fit_percent),
            None => format!(
                "industry \"{}\" is not in the table ({}% by default)",
                profile.industry.trim(),
                industry.fit_percent
            ),
        };
        let size_words = if profile.employee_count == 0 {
            format!("company size unknown ({size_fit}%)")
        } else {
            format!(
                "{} ({band} band) fit {size_fit}%",
                plural(profile.employee_count.into(), "employee", "employees")
            )
        };
        let very_poor = combined < p.fit_disqualify_percent;
        let verdict = if very_poor {
            format!("below the {}% floor", p.fit_disqualify_percent)
        } else if combined >= p.fit_met_percent {
            format!("at least the {}% needed", p.fit_met_percent)
        } else {
            format!("below the {}% needed", p.fit_met_percent)
        };
        Fit {
            very_poor,
            criterion: Criterion {
                criterion: "fit".into(),
                met: Some(combined >= p.fit_met_percent),
                detail: format!(
                    "{industry_words} and {size_words}: combined fit {combined}%, {verdict}"
                ),
            },
        }
    }

    fn intent(&self, profile: &LeadProfile) -> Criterion {
        let s = &profile.signals;
        let visits = s.website_visits_30d;
        let mut shown = Vec::new();
        if s.demo_requested {
            shown.push("demo requested".to_owned());
        }
        if s.free_trial_started {
            shown.push("free trial started".to_owned());
        }
        if visits >= self.params.intent_min_visits {
            shown.push(format!(
                "{} in 30 days",
                plural(visits.into(), "website visit", "website visits")
            ));
        }
        let met = !shown.is_empty();
        let detail = if met {
            shown.join(", ")
        } else {
            format!(
                "no demo request, no free trial and {} in 30 days (fewer than {})",
                plural(visits.into(), "website visit", "website visits"),
                self.params.intent_min_visits
            )
        };
        Criterion {
            criterion: "intent".into(),
            met: Some(met),
            detail,
        }
    }

    fn budget(&self, facts: &QualificationFacts) -> Criterion {
        let employees = facts.profile.employee_count;
        let (met, detail) = match facts.budget_confirmed {
            Some(true) => (Some(true), "budget confirmed".to_owned()),
            Some(false) => (
                Some(false),
                "the lead has said there is no budget".to_owned(),
            ),
            None if employees >= self.params.large_company_employees => (
                None,
                format!(
                    "not confirmed; a company of {} employees probably has budget, but that \
                     is weak evidence: ask",
                    thousands(employees.into())
                ),
            ),
            None => (None, "not confirmed: ask about budget".to_owned()),
        };
        Criterion {
            criterion: "budget".into(),
            met,
            detail,
        }
    }

    fn authority(&self, title: Option<&str>) -> Criterion {
        let p = &self.params;
        let (met, detail) = match title.map(str::trim).filter(|t| !t.is_empty()) {
            None => (
                None,
                "no title on record: find out the lead's role".to_owned(),
            ),
            Some(title) => {
                let plain = words_of(title);
                let words = format!(" {plain} ");
                // Name the word that decided, unless it is the whole title ("CEO").
                let because = |word: &str| {
                    let word = word.trim();
                    if word == plain {
                        String::new()
                    } else {
                        format!(" ({word})")
                    }
                };
                let found = |list: &[String]| {
                    list.iter().map(|w| words_of(w)).find(|w| {
                        !w.trim().is_empty() && words.contains(&format!(" {} ", w.trim()))
                    })
                };
                if let Some(word) = found(&p.junior_titles) {
                    (
                        Some(false),
                        format!("title \"{title}\"{} is not a buying role", because(&word)),
                    )
                } else if let Some(word) = found(&p.decision_maker_titles) {
                    (
                        Some(true),
                        format!("title \"{title}\"{} can decide", because(&word)),
                    )
                } else {
                    (
                        None,
                        format!(
                            "title \"{title}\" is not clearly a decision maker: confirm who signs"
                        ),
                    )
                }
            }
        };
        Criterion {
            criterion: "authority".into(),
            met,
            detail,
        }
    }

    fn timing(&self, timeline_days: Option<u32>) -> Criterion {
        let max = self.params.timing_max_days;
        let (met, detail) = match timeline_days {
            Some(days) if days <= max => (
                Some(true),
                format!(
                    "buying within {} ({max} or fewer meets)",
                    plural(days.into(), "day", "days")
                ),
            ),
            Some(days) => (
                Some(false),
                format!(
                    "buying in {}, beyond {max}",
                    plural(days.into(), "day", "days")
                ),
            ),
            None => (
                None,
                "no timeline on record: ask when they plan to buy".to_owned(),
            ),
        };
        Criterion {
            criterion: "timing".into(),
            met,
            detail,
        }
    }
}

struct Fit {
    very_poor: bool,
    criterion: Criterion,
}

/// Lowercase words separated by single spaces, so "Co-Founder & CEO" reads
/// "co founder ceo" and "VP, Sales" reads "vp sales".
fn words_of(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::LeadSignals;

    fn facts(industry: &str, employees: u32, signals: LeadSignals) -> QualificationFacts {
        QualificationFacts {
            profile: LeadProfile {
                industry: industry.into(),
                employee_count: employees,
                signals,
            },
            status: "working".into(),
            title: None,
            budget_confirmed: None,
            timeline_days: None,
            has_open_opportunity: false,
        }
    }

    fn hot_vp() -> QualificationFacts {
        QualificationFacts {
            title: Some("VP of Engineering".into()),
            ..facts(
                "technology",
                500,
                LeadSignals {
                    website_visits_30d: 25,
                    demo_requested: true,
                    email_engagement_score: 80,
                    whitepaper_downloads: 2,
                    ..LeadSignals::default()
                },
            )
        }
    }

    fn criterion<'a>(q: &'a Qualification, name: &str) -> &'a Criterion {
        q.criteria.iter().find(|c| c.criterion == name).unwrap()
    }

    fn run(f: &QualificationFacts) -> Qualification {
        qualify(&LeadModel::default_v1(), f)
    }

    #[test]
    fn a_hot_lead_with_intent_and_a_vp_is_sql() {
        let q = run(&hot_vp());
        assert_eq!(q.stage, QualificationStage::Sql, "{q:?}");
        assert!(q.summary.contains("demo requested"), "{}", q.summary);
        assert!(q.summary.contains("VP of Engineering"), "{}", q.summary);
        assert_eq!(
            q.next_step,
            "Confirm budget and timeline, then open an opportunity."
        );
        assert_eq!(q.model, ModelRef::new("lead_qualification", 1));
        assert_eq!(q.lead_model, ModelRef::new("lead_scorer", 1));
        let names: Vec<&str> = q.criteria.iter().map(|c| c.criterion.as_str()).collect();
        assert_eq!(names, ["fit", "intent", "budget", "authority", "timing"]);
    }

    #[test]
    fn an_sql_with_budget_and_a_near_timeline_is_an_opportunity() {
        let q = run(&QualificationFacts {
            budget_confirmed: Some(true),
            timeline_days: Some(30),
            ..hot_vp()
        });
        assert_eq!(q.stage, QualificationStage::Opportunity, "{q:?}");
        assert!(q.summary.contains("budget confirmed"), "{}", q.summary);
        assert!(q.summary.contains("30 days"), "{}", q.summary);
        let far = run(&QualificationFacts {
            budget_confirmed: Some(true),
            timeline_days: Some(180),
            ..hot_vp()
        });
        assert_eq!(far.stage, QualificationStage::Sql);
        assert_eq!(criterion(&far, "timing").met, Some(false));
        assert_eq!(far.next_step, "Agree a timeline, then open an opportunity.");
    }

    #[test]
    fn an_open_opportunity_makes_any_live_lead_an_opportunity() {
        let q = run(&QualificationFacts {
            has_open_opportunity: true,
            ..facts("retail", 30, LeadSignals::default())
        });
        assert_eq!(q.stage, QualificationStage::Opportunity);
        assert!(q.summary.contains("open opportunity"));
    }

    #[test]
    fn no_budget_disqualifies_even_a_hot_lead() {
        let q = run(&QualificationFacts {
            budget_confirmed: Some(false),
            ..hot_vp()
        });
        assert_eq!(q.stage, QualificationStage::Disqualified);
        assert!(
            q.summary.contains("budget_confirmed is false"),
            "{}",
            q.summary
        );
        assert_eq!(criterion(&q, "budget").met, Some(false));
    }

    #[test]
    fn a_disqualified_status_stays_disqualified() {
        let q = run(&QualificationFacts {
            status: "Disqualified".into(),
            ..hot_vp()
        });
        assert_eq!(q.stage, QualificationStage::Disqualified);
        assert!(q.summary.contains("status"));
    }

    #[test]
    fn a_very_poor_fit_is_disqualified_and_says_why() {
        let q = run(&facts("nonprofit", 4, LeadSignals::default()));
        assert_eq!(q.stage, QualificationStage::Disqualified, "{q:?}");
        assert!(q.summary.contains("nonprofit fits 25%"), "{}", q.summary);
        assert!(q.summary.contains("4 employees"), "{}", q.summary);
        assert_eq!(criterion(&q, "fit").met, Some(false));
    }

    #[test]
    fn a_warm_lead_without_authority_is_an_mql() {
        let q = run(&facts(
            "saas",
            120,
            LeadSignals {
                website_visits_30d: 10,
                email_engagement_score: 50,
                ..LeadSignals::default()
            },
        ));
        assert_eq!(q.tier, Tier::Warm);
        assert_eq!(q.stage, QualificationStage::Mql, "{q:?}");
        assert!(q.summary.contains("below 60"), "{}", q.summary);
        assert_eq!(
            q.next_step,
            "Confirm the lead's role and who signs off on a purchase."
        );
    }

    #[test]
    fn a_cold_lead_with_a_fair_fit_is_nurtured_with_the_best_suggestion() {
        let q = run(&facts(
            "retail",
            5,
            LeadSignals {
                website_visits_30d: 2,
                ..LeadSignals::default()
            },
        ));
        assert_eq!(q.stage, QualificationStage::Nurture, "{q:?}");
        assert!(
            q.summary
                .starts_with("Nurture: score 14 (cold), below the 40"),
            "{}",
            q.summary
        );
        assert!(q.next_step.contains("book a demo"), "{}", q.next_step);
    }

    #[test]
    fn a_hot_lead_whose_contact_is_an_intern_is_not_sql() {
        let q = run(&QualificationFacts {
            title: Some("Marketing Intern".into()),
            ..hot_vp()
        });
        assert_eq!(q.stage, QualificationStage::Mql);
        assert_eq!(criterion(&q, "authority").met, Some(false));
        assert_eq!(
            q.next_step,
            "Find the decision maker: this contact cannot buy."
        );
    }

    #[test]
    fn authority_is_read_from_the_title() {
        let rules = QualificationModel::default_v1();
        for title in [
            "CEO",
            "Co-Founder & CTO",
            "Chief Revenue Officer",
            "VP, Sales",
            "Vice President of Marketing",
            "Head of Growth",
            "Director of IT",
            "Owner",
            "Founder",
        ] {
            assert_eq!(rules.authority(Some(title)).met, Some(true), "{title}");
        }
        for title in [
            "Sales Intern",
            "PhD student",
            "Executive Assistant to the CEO",
        ] {
            assert_eq!(rules.authority(Some(title)).met, Some(false), "{title}");
        }
        for title in ["Marketing Manager", "Software Engineer", "Headhunter"] {
            assert_eq!(rules.authority(Some(title)).met, None, "{title}");
        }
        assert_eq!(rules.authority(None).met, None);
        assert_eq!(rules.authority(Some("  ")).met, None);
        assert!(rules.authority(None).detail.contains("no title"));
    }

    #[test]
    fn a_large_company_is_only_weak_evidence_of_budget() {
        let q = run(&facts("finance", 5_000, LeadSignals::default()));
        let budget = criterion(&q, "budget");
        assert_eq!(budget.met, None);
        assert!(
            budget.detail.contains("5,000 employees"),
            "{}",
            budget.detail
        );
        assert!(budget.detail.contains("weak evidence"), "{}", budget.detail);
    }

    #[test]
    fn timing_is_met_within_ninety_days() {
        let rules = QualificationModel::default_v1();
        assert_eq!(rules.timing(Some(90)).met, Some(true));
        assert_eq!(rules.timing(Some(91)).met, Some(false));
        assert_eq!(rules.timing(None).met, None);
    }

    #[test]
    fn an_sql_status_is_not_demoted_and_says_so() {
        let q = run(&QualificationFacts {
            status: "sql".into(),
            ..facts("saas", 120, LeadSignals::default())
        });
        assert_eq!(q.stage, QualificationStage::Sql);
        assert!(q.summary.contains("already sql"), "{}", q.summary);
    }

    #[test]
    fn stages_serialise_in_snake_case() {
        assert_eq!(
            serde_json::to_value(QualificationStage::Mql).unwrap(),
            "mql"
        );
        assert_eq!(
            serde_json::to_value(QualificationStage::Opportunity).unwrap(),
            QualificationStage::Opportunity.as_str()
        );
        let f: QualificationFacts = serde_json::from_str(
            r#"{"profile":{"industry":"saas","employee_count":50},"status":"new"}"#,
        )
        .unwrap();
        assert_eq!(f.title, None);
        assert!(!f.has_open_opportunity);
    }

    #[test]
    fn qualification_params_round_trip_and_bad_ones_are_refused() {
        let params = QualificationParams::default();
        let json = serde_json::to_string(&params).unwrap();
        let back: QualificationParams = serde_json::from_str(&json).unwrap();
        assert_eq!(back, params);
        assert!(QualificationModel::from_params("lead_qualification", 2, back).is_ok());
        let bad = QualificationParams {
            fit_disqualify_percent: 60,
            ..QualificationParams::default()
        };
        assert!(QualificationModel::from_params("lead_qualification", 2, bad).is_err());
        let mut empty = QualificationParams::default();
        empty.decision_maker_titles.clear();
        assert!(QualificationModel::from_params("lead_qualification", 2, empty).is_err());
    }
}
