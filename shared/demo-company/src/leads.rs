//! Leads, their engagement signals, their marketing touches, and what became of them.
//!
//! Each lead has a hidden buying intent (raised by good sources and industries) that
//! drives its observable signals: website visits, demo request, whitepapers, email
//! engagement, LinkedIn engagement, free trial. Whether it converts is a logistic function
//! of those observed signals, the industry's fit, the company's size and the deal's size,
//! plus noise: the same model a lead-scoring model can later recover. A converted lead
//! gets a customer account and a won opportunity; some near misses get an opportunity that
//! was lost, or is still open, on a trial account; the rest sit in the funnel
//! (new, working, mql) or were disqualified. Leads too young for a decision are still open.

use chrono::{DateTime, TimeDelta, Utc};

use crate::accounts::{
    self, CustomerStart, Deal, Firmographics, LeadOrigin, NewOpportunity, TrialStart, open_stage,
    push_opportunity,
};
use crate::calendar::{plus_days, stamp};
use crate::dice::{Dice, Stream, exp, ln, sigmoid};
use crate::names::Person;
use crate::rows::{LeadRow, TouchRow};
use crate::world::{World, account_id, campaign_id, lead_id};
use crate::writer::Batch;

/// Conversion odds offset: puts about a fifth of all leads at 'converted'.
const CONVERSION_BASE: f64 = -2.55;
/// The engagement score's rough mean and spread, to standardise it for account health.
const ENGAGEMENT_MEAN: f64 = 0.75;
const ENGAGEMENT_SD: f64 = 1.0;
/// A typical first-year contract (minor units): deals far above it close less often.
const TYPICAL_DEAL_MINOR: f64 = 1_500_000.0;

/// What a lead has visibly done.
#[derive(Debug, Clone, Copy)]
struct Signals {
    website_visits_30d: i64,
    demo_requested: bool,
    whitepaper_downloads: i64,
    email_engagement_score: i64,
    linkedin_engagement: i64,
    free_trial_started: bool,
}

impl Signals {
    fn draw(dice: &mut Dice, intent: f64) -> Signals {
        Signals {
            website_visits_30d: dice.poisson(exp(0.9 + 0.55 * intent)).min(400) as i64,
            demo_requested: dice.chance(sigmoid(-2.0 + 1.2 * intent)),
            whitepaper_downloads: dice.poisson(exp(-0.9 + 0.5 * intent)).min(40) as i64,
            email_engagement_score: (45.0 + 14.0 * intent + 12.0 * dice.normal())
                .round()
                .clamp(0.0, 100.0) as i64,
            linkedin_engagement: dice.poisson(exp(0.2 + 0.45 * intent)).min(200) as i64,
            free_trial_started: dice.chance(sigmoid(-1.6 + 0.9 * intent)),
        }
    }

    /// The engagement part of the conversion log-odds (capped so one runaway signal
    /// cannot decide alone).
    fn engagement(&self) -> f64 {
        0.05 * self.website_visits_30d.min(40) as f64
            + if self.demo_requested { 1.0 } else { 0.0 }
            + 0.2 * self.whitepaper_downloads.min(8) as f64
            + 0.025 * (self.email_engagement_score - 45) as f64
            + 0.08 * self.linkedin_engagement.min(20) as f64
            + if self.free_trial_started { 0.8 } else { 0.0 }
    }
}

/// Mid-sized companies buy most readily; the very small lack budget, the very large
/// take procurement.
fn size_effect(employee_count: i64) -> f64 {
    let distance = ln(employee_count.max(1) as f64) - 5.5;
    (0.3 - 0.06 * distance * distance).max(-1.2)
}

/// Where a lead stands today.
enum Outcome {
    /// Still in the funnel (new, working, mql) or disqualified; no opportunity.
    Funnel(&'static str),
    /// Converted: won its opportunity and became a customer.
    Converted {
        opened: DateTime<Utc>,
        converted: DateTime<Utc>,
    },
    /// Qualified with an opportunity still open.
    Open {
        opened: DateTime<Utc>,
        decides: DateTime<Utc>,
        progress: f64,
    },
    /// Its opportunity was lost; the lead was disqualified or recycled to nurture.
    Lost {
        opened: DateTime<Utc>,
        lost: DateTime<Utc>,
        status: &'static str,
    },
}

/// Generates leads `numbers` with their accounts, opportunities and touches.
pub(crate) fn generate(world: &mut World<'_>, numbers: std::ops::Range<u64>, batch: &mut Batch) {
    for number in numbers {
        lead(world, number, batch);
    }
}

fn lead(world: &mut World<'_>, number: u64, batch: &mut Batch) {
    let definition = world.definition;
    let calendar = world.calendar;
    let now = calendar.now();
    let mut dice = world.streams.dice(Stream::Lead, number);
    let dice = &mut dice;
    let id = lead_id(number);

    let firm = Firmographics::random(world, world.base_accounts + number - 1, dice);
    let person = Person::random(definition, dice);
    let email = person.email(&firm.company.domain, 0);
    let roles = [
        ("decision_maker", 0.3),
        ("champion", 0.35),
        ("user", 0.3),
        ("billing", 0.05),
    ];
    let role = dice.weighted(&roles, |(_, weight)| *weight).0;
    let title = Some(dice.pick(accounts::role_titles(definition, role)).clone());
    let source = dice.weighted(&definition.lead_sources, |s| s.share);
    // More leads lately than a year ago: the company is growing.
    let history = f64::from(definition.lead_history_days);
    let days_ago = 1 + ((history - 1.0) * exp(1.2 * ln(dice.unit().max(1e-12)))) as i64;
    let created_at = calendar.moment_days_ago(days_ago, dice);
    let age_days = (now - created_at).num_seconds() as f64 / 86_400.0;

    let intent = dice.normal() + source.intent + 0.25 * firm.fit;
    let signals = Signals::draw(dice, intent);
    let deal = Deal::propose(definition, &firm, dice);
    let engagement = signals.engagement();
    let deal_effect = -0.45 * ln(deal.annual_minor().max(1) as f64 / TYPICAL_DEAL_MINOR);
    let log_odds = CONVERSION_BASE
        + engagement
        + 0.8 * firm.fit
        + size_effect(firm.employee_count)
        + deal_effect
        + 0.5 * dice.normal();
    let destined = dice.chance(sigmoid(log_odds));
    // Near misses got as far as an opportunity and lost it (more often the closer they were).
    let near_miss = !destined && dice.chance(0.6 * sigmoid(log_odds + 1.0));
    let decision_days = 20.0 + dice.lognormal(45.0, 0.6);
    let opens_after_days = decision_days * dice.uniform(0.25, 0.5);
    let opened = plus_days(created_at, opens_after_days);
    let decided = plus_days(created_at, decision_days);
    let recycled = dice.chance(0.3);
    let funnel_roll = dice.unit();

    let outcome = if (destined || near_miss) && age_days >= opens_after_days {
        if age_days < decision_days {
            let progress = (age_days - opens_after_days) / (decision_days - opens_after_days);
            Outcome::Open {
                opened,
                decides: decided,
                progress,
            }
        } else if destined {
            Outcome::Converted {
                opened,
                converted: decided,
            }
        } else {
            Outcome::Lost {
                opened,
                lost: decided,
                status: if recycled { "working" } else { "disqualified" },
            }
        }
    } else if age_days < 3.0 || (age_days < 10.0 && funnel_roll < 0.5) {
        Outcome::Funnel("new")
    } else if destined || near_miss || sigmoid(log_odds) >= 0.2 {
        Outcome::Funnel(if funnel_roll < 0.75 { "mql" } else { "working" })
    } else if age_days > 30.0 && funnel_roll < 0.45 {
        Outcome::Funnel("disqualified")
    } else {
        Outcome::Funnel("working")
    };

    let status = match outcome {
        Outcome::Funnel(status) => status,
        Outcome::Converted { .. } => "converted",
        Outcome::Open { .. } => "sql",
        Outcome::Lost { status, .. } => status,
    };
    let owner = dice.pick(&definition.owners.sales_reps).clone();
    let owner = (status != "new" || dice.chance(0.5)).then_some(owner);

    let campaign = source
        .campaign_channel
        .as_deref()
        .and_then(|channel| world.catalog.attribute(channel, created_at.date_naive()));
    let last_touch = touches(
        world,
        dice,
        &id,
        campaign,
        source.campaign_channel.as_deref(),
        created_at,
        engagement,
        batch,
    );

    let origin = LeadOrigin {
        person: person.clone(),
        email: email.clone(),
        title: title.clone(),
        engagement: (engagement - ENGAGEMENT_MEAN) / ENGAGEMENT_SD,
    };
    let company = firm.company.name.clone();
    let domain = firm.company.domain.clone();
    let industry = firm.industry.clone();
    let employee_count = firm.employee_count;
    let country = firm.country.clone();
    let new_business = format!("{company} — New business");
    let mut converted_account_id = None;
    let mut converted_at = None;
    let mut last_change = last_touch.unwrap_or(created_at).max(created_at);
    match outcome {
        Outcome::Funnel(_) => {}
        Outcome::Converted { opened, converted } => {
            let number = world.sequences.next_account();
            let account = account_id(number);
            let mut account_dice = world.streams.dice(Stream::Account, number);
            let trial_started_at = signals.free_trial_started.then(|| {
                plus_days(converted, -account_dice.uniform(10.0, 30.0))
                    .max(plus_days(created_at, 0.5))
            });
            push_opportunity(
                world,
                batch,
                NewOpportunity {
                    account: account.clone(),
                    lead: Some(id.clone()),
                    name: new_business,
                    stage: "closed_won",
                    amount_minor: deal.annual_minor(),
                    close_date: converted.date_naive(),
                    owner: owner.clone(),
                    created_at: opened,
                    closed_at: Some(converted),
                    probability_scale: 1.0,
                },
            );
            accounts::customer(
                world,
                &mut account_dice,
                CustomerStart {
                    number,
                    firm,
                    deal,
                    customer_since: converted,
                    trial_started_at,
                    created_at: trial_started_at.unwrap_or(opened).min(opened),
                    owner: owner
                        .clone()
                        .unwrap_or_else(|| definition.owners.sales_reps[0].clone()),
                    origin: Some(origin),
                },
                batch,
            );
            converted_account_id = Some(account);
            converted_at = Some(stamp(converted));
            last_change = last_change.max(converted);
        }
        Outcome::Open {
            opened,
            decides,
            progress,
        } => {
            let number = world.sequences.next_account();
            let mut account_dice = world.streams.dice(Stream::Account, number);
            let trial = trial_window(
                &mut account_dice,
                signals.free_trial_started,
                created_at,
                opened,
                now,
            );
            let stage = open_stage(progress);
            push_opportunity(
                world,
                batch,
                NewOpportunity {
                    account: account_id(number),
                    lead: Some(id.clone()),
                    name: new_business,
                    stage,
                    amount_minor: deal.annual_minor(),
                    close_date: decides.date_naive(),
                    owner: owner.clone(),
                    created_at: opened,
                    closed_at: None,
                    probability_scale: 1.0,
                },
            );
            let start = TrialStart {
                number,
                firm,
                deal,
                created_at: trial.map_or(opened, |(started, _)| started.min(opened)),
                owner: owner.clone(),
                origin: Some(origin),
                trial,
            };
            accounts::trial_account(world, &mut account_dice, &start, batch);
            last_change = last_change.max(opened);
        }
        Outcome::Lost { opened, lost, .. } => {
            let number = world.sequences.next_account();
            let mut account_dice = world.streams.dice(Stream::Account, number);
            let trial = trial_window(
                &mut account_dice,
                signals.free_trial_started,
                created_at,
                opened,
                now,
            );
            push_opportunity(
                world,
                batch,
                NewOpportunity {
                    account: account_id(number),
                    lead: Some(id.clone()),
                    name: new_business,
                    stage: "closed_lost",
                    amount_minor: deal.annual_minor(),
                    close_date: lost.date_naive(),
                    owner: owner.clone(),
                    created_at: opened,
                    closed_at: Some(lost),
                    probability_scale: 1.0,
                },
            );
            let start = TrialStart {
                number,
                firm,
                deal,
                created_at: trial.map_or(opened, |(started, _)| started.min(opened)),
                owner: owner.clone(),
                origin: Some(origin),
                trial,
            };
            accounts::trial_account(world, &mut account_dice, &start, batch);
            last_change = last_change.max(lost);
        }
    }

    batch.leads.push(LeadRow {
        id,
        external_id: Some(format!("MKT-L{number:07}")),
        email,
        first_name: person.first_name,
        last_name: person.last_name,
        company_name: company,
        domain: Some(domain),
        industry,
        employee_count,
        country,
        title,
        source: source.name.clone(),
        status,
        owner,
        campaign_id: campaign.map(campaign_id),
        website_visits_30d: signals.website_visits_30d,
        demo_requested: signals.demo_requested,
        whitepaper_downloads: signals.whitepaper_downloads,
        email_engagement_score: signals.email_engagement_score,
        linkedin_engagement: signals.linkedin_engagement,
        free_trial_started: signals.free_trial_started,
        converted_account_id,
        converted_at,
        created_at: stamp(created_at),
        updated_at: stamp(last_change.min(now - TimeDelta::minutes(1))),
    });
}

/// When a prospect's product trial ran, if it took one: it starts between the lead's
/// arrival and the opportunity opening, for 14 or 30 days.
fn trial_window(
    dice: &mut Dice,
    took_trial: bool,
    created_at: DateTime<Utc>,
    opened: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if !took_trial {
        return None;
    }
    let lead_time = (opened - created_at).num_seconds() as f64 / 86_400.0;
    let started = plus_days(created_at, dice.uniform(0.1, 1.0) * lead_time.max(0.2))
        .min(now - TimeDelta::hours(2));
    let length = if dice.chance(0.3) { 30.0 } else { 14.0 };
    Some((started, plus_days(started, length)))
}

/// The touches that brought the lead in (from its campaign, by channel) and the nurture
/// touches after (email and content, more for engaged leads). Returns the last one's time.
#[allow(clippy::too_many_arguments)]
fn touches(
    world: &mut World<'_>,
    dice: &mut Dice,
    lead: &str,
    campaign: Option<u64>,
    channel: Option<&str>,
    created_at: DateTime<Utc>,
    engagement: f64,
    batch: &mut Batch,
) -> Option<DateTime<Utc>> {
    let now = world.calendar.now();
    let mut last = None;
    if let (Some(campaign), Some(channel)) = (campaign, channel) {
        let journey: &[(&'static str, f64, f64)] = match channel {
            // (touch type, chance, days before the lead was created)
            "paid_search" | "paid_social" => &[
                ("impression", 0.7, 3.0),
                ("click", 1.0, 0.05),
                ("form_fill", 1.0, 0.0),
            ],
            "email" => &[
                ("email_open", 1.0, 2.0),
                ("email_click", 0.8, 0.1),
                ("form_fill", 0.5, 0.0),
            ],
            "events" => &[("event_attended", 1.0, 0.0)],
            "webinar" => &[("form_fill", 1.0, 0.0), ("event_attended", 0.7, -2.0)],
            "content" => &[("content_download", 1.0, 0.0)],
            _ => &[("click", 1.0, 0.1), ("form_fill", 1.0, 0.0)],
        };
        for (touch_type, chance, days_before) in journey {
            if !dice.chance(*chance) {
                continue;
            }
            let before = if *days_before > 0.0 {
                dice.uniform(0.2, 1.0) * days_before
            } else {
                *days_before
            };
            let at = plus_days(created_at, -before).min(now - TimeDelta::minutes(5));
            push_touch(world, batch, campaign, lead, touch_type, at);
            last = last.max(Some(at));
        }
    }
    let age_days = (now - created_at).num_seconds() as f64 / 86_400.0;
    if age_days > 2.0 {
        let nurture = dice.poisson(0.25 + 0.2 * engagement.max(0.0));
        for _ in 0..nurture {
            let at = plus_days(created_at, dice.uniform(1.0, age_days.min(120.0)));
            let (channel, touch_type) = match dice.below(4) {
                0 => ("email", "email_open"),
                1 => ("email", "email_click"),
                2 => ("email", "email_open"),
                _ => ("content", "content_download"),
            };
            if let Some(nurturing) = world.catalog.attribute(channel, at.date_naive()) {
                push_touch(world, batch, nurturing, lead, touch_type, at);
                last = last.max(Some(at));
            }
        }
    }
    last
}

fn push_touch(
    world: &mut World<'_>,
    batch: &mut Batch,
    campaign: u64,
    lead: &str,
    touch_type: &'static str,
    at: DateTime<Utc>,
) {
    batch.marketing_touches.push(TouchRow {
        id: world.sequences.next_touch(),
        request_key: None,
        campaign_id: campaign_id(campaign),
        lead_id: lead.to_string(),
        touch_type,
        occurred_at: stamp(at),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dice::Streams;

    #[test]
    fn the_engagement_standardisation_matches_the_signals() {
        let streams = Streams::new(99);
        let definition = crate::definition::definition().expect("definition");
        let n = 50_000;
        let mut values = Vec::with_capacity(n);
        for record in 0..n as u64 {
            let mut dice = streams.dice(Stream::Lead, record);
            let source = dice.weighted(&definition.lead_sources, |s| s.share);
            let fit = dice.weighted(&definition.industries, |i| i.share).fit;
            let intent = dice.normal() + source.intent + 0.25 * fit;
            values.push(Signals::draw(&mut dice, intent).engagement());
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64).sqrt();
        assert!((mean - ENGAGEMENT_MEAN).abs() < 0.15, "mean {mean}");
        assert!((sd - ENGAGEMENT_SD).abs() < 0.15, "sd {sd}");
    }
}
