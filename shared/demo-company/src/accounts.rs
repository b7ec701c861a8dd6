//! Accounts and everything that hangs off them: contacts, weekly usage, support tickets,
//! NPS responses, and renewal and expansion opportunities.
//!
//! A paying customer gets a hidden health score. Health sets what a CSM can observe
//! (seat utilisation, the usage trend, how many and how urgent the tickets are, NPS), and
//! the risk read from those observations, plus noise, decides whether the account churns
//! within the usage window or sits at risk. Churned accounts' usage falls towards zero
//! over the weeks before they leave; at-risk accounts' usage declines over the last eight
//! weeks. Trial accounts (self-serve sign-ups and prospects evaluating through a sales
//! opportunity) have usage only for the weeks of their trial.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeDelta, Utc};

use crate::calendar::{date_text, plus_days, stamp};
use crate::definition::CompanyDefinition;
use crate::dice::{Dice, Stream, exp, ln, sigmoid};
use crate::names::{CompanyName, Person, company_name, phone};
use crate::rows::{AccountRow, ContactRow, NpsRow, OpportunityRow, TicketRow, UsageRow};
use crate::world::{World, account_id};
use crate::writer::Batch;

/// Who a company is, as a lead form or a CRM would record it.
#[derive(Debug, Clone)]
pub(crate) struct Firmographics {
    pub(crate) company: CompanyName,
    pub(crate) industry: String,
    /// The industry's product fit, about -1 to 1.
    pub(crate) fit: f64,
    pub(crate) employee_count: i64,
    pub(crate) country: String,
    pub(crate) calling_code: String,
}

impl Firmographics {
    pub(crate) fn random(world: &World<'_>, company_number: u64, dice: &mut Dice) -> Firmographics {
        let definition = world.definition;
        let industry = dice.weighted(&definition.industries, |i| i.share);
        let country = dice.weighted(&definition.countries, |c| c.share);
        let employee_count = dice.lognormal(150.0, 1.6).round().clamp(2.0, 150_000.0) as i64;
        Firmographics {
            company: company_name(definition, world.seed, company_number),
            industry: industry.name.clone(),
            fit: industry.fit,
            employee_count,
            country: country.code.clone(),
            calling_code: country.calling_code.clone(),
        }
    }

    pub(crate) fn segment(&self) -> &'static str {
        match self.employee_count {
            ..200 => "smb",
            200..2000 => "mid_market",
            _ => "enterprise",
        }
    }
}

/// What a company buys (or would buy): a plan, seats and the monthly price.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deal {
    pub(crate) tier: &'static str,
    pub(crate) seats: i64,
    pub(crate) mrr_minor: i64,
}

impl Deal {
    pub(crate) fn propose(
        definition: &CompanyDefinition,
        firm: &Firmographics,
        dice: &mut Dice,
    ) -> Deal {
        let (weights, adoption) = match firm.segment() {
            "smb" => ([0.65, 0.30, 0.05], 0.2),
            "mid_market" => ([0.20, 0.60, 0.20], 0.07),
            _ => ([0.05, 0.35, 0.60], 0.02),
        };
        let tiers = [
            ("starter", weights[0]),
            ("growth", weights[1]),
            ("enterprise", weights[2]),
        ];
        let tier = dice.weighted(&tiers, |(_, weight)| *weight).0;
        let plan = definition.plan(tier);
        let wanted = firm.employee_count as f64 * dice.lognormal(adoption, 0.5);
        let seats = (wanted.round() as i64).clamp(plan.min_seats, 4000);
        Deal {
            tier,
            seats,
            mrr_minor: monthly_price(definition, tier, seats),
        }
    }

    pub(crate) fn annual_minor(&self) -> i64 {
        self.mrr_minor * 12
    }
}

/// List price of `seats` on `tier` with volume discounts, rounded to whole currency units.
fn monthly_price(definition: &CompanyDefinition, tier: &str, seats: i64) -> i64 {
    let discount = match seats {
        ..=100 => 1.0,
        101..=500 => 0.9,
        _ => 0.8,
    };
    let price = seats as f64 * definition.plan(tier).seat_price_minor as f64 * discount;
    (price / 100.0).round() as i64 * 100
}

/// The lead an account came from: its person becomes the first contact.
#[derive(Debug, Clone)]
pub(crate) struct LeadOrigin {
    pub(crate) person: Person,
    pub(crate) email: String,
    pub(crate) title: Option<String>,
    /// The lead's engagement, standardised (about mean 0, sd 1): engaged buyers make
    /// healthier customers.
    pub(crate) engagement: f64,
}

/// A paying customer to generate.
#[derive(Debug, Clone)]
pub(crate) struct CustomerStart {
    pub(crate) number: u64,
    pub(crate) firm: Firmographics,
    pub(crate) deal: Deal,
    pub(crate) customer_since: DateTime<Utc>,
    pub(crate) trial_started_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) owner: String,
    pub(crate) origin: Option<LeadOrigin>,
}

/// A trial (a self-serve sign-up, or a prospect evaluating through an opportunity).
#[derive(Debug, Clone)]
pub(crate) struct TrialStart {
    pub(crate) number: u64,
    pub(crate) firm: Firmographics,
    pub(crate) deal: Deal,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) owner: Option<String>,
    pub(crate) origin: Option<LeadOrigin>,
    /// When the product trial ran, if the prospect took one.
    pub(crate) trial: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Support tickets per week for a typical account of one seat; grows with seats^0.35.
const TICKETS_PER_WEEK_BASE: f64 = 0.034;
/// Churn odds offset; with the risk score below it makes ~20% of customers churn
/// within the usage window.
const CHURN_BASE: f64 = -1.55;
/// At-risk odds offset among the customers that stay.
const AT_RISK_BASE: f64 = -1.8;
/// An account cannot churn in its first weeks (onboarding), nor before this snapshot
/// week, so every churn shows some usage history before it.
const MIN_TENURE_WEEKS: i64 = 12;
const FIRST_CHURN_WEEK: i64 = 10;
/// How many trailing weeks an at-risk account's usage has been declining.
const AT_RISK_DECLINE_WEEKS: i64 = 8;
/// NPS surveys go out every 13 weeks; these are their days before the reference date.
const SURVEY_DAYS_AGO: [i64; 4] = [12, 103, 194, 285];
const NPS_RESPONSE_RATE: f64 = 0.45;
/// Stage win probabilities as the sales team records them.
pub(crate) const STAGE_PROBABILITY: [(&str, i64); 4] = [
    ("prospecting", 10),
    ("qualification", 25),
    ("proposal", 50),
    ("negotiation", 75),
];

/// The hidden state of a customer and what it implies.
struct Health {
    score: f64,
    utilization: f64,
    /// Log change of usage across the window.
    trend: f64,
    ticket_rate: f64,
    urgent_share: f64,
    nps_mean: f64,
    /// What an observer would read as churn risk (higher is worse), plus noise.
    risk: f64,
}

impl Health {
    fn draw(dice: &mut Dice, fit: f64, engagement: f64, seats: i64, segment: &str) -> Health {
        let score = 0.85 * dice.normal() + 0.35 * fit + 0.35 * engagement;
        let utilization = sigmoid(0.75 + 0.9 * score + 0.35 * dice.normal()).clamp(0.04, 0.98);
        let trend = 0.3 * score + 0.2 * dice.normal();
        // Tickets above or below what an account of this size usually files (log scale).
        let ticket_excess = -0.45 * score + 0.3 * dice.normal();
        let ticket_rate =
            TICKETS_PER_WEEK_BASE * exp(0.35 * ln(seats.max(1) as f64)) * exp(ticket_excess);
        let urgent_share = sigmoid(-2.3 - 0.8 * score + 0.3 * dice.normal());
        let nps_mean = 7.3 + 1.5 * score + 0.5 * dice.normal();
        let segment_risk = match segment {
            "enterprise" => -0.5,
            "mid_market" => 0.0,
            _ => 0.25,
        };
        let risk = -1.8 * trend - 3.0 * (utilization - 0.7)
            + 0.8 * ticket_excess
            + 4.0 * (urgent_share - 0.1)
            - 0.45 * (nps_mean - 7.3)
            + segment_risk
            + 0.6 * dice.normal();
        Health {
            score,
            utilization,
            trend,
            ticket_rate,
            urgent_share,
            nps_mean,
            risk,
        }
    }
}

/// Where a customer's usage is heading within the window.
#[derive(Debug, Clone, Copy)]
enum Course {
    Steady,
    /// Declining over the last weeks, down to `floor` of normal.
    AtRisk {
        floor: f64,
    },
    /// Left in week `week`, usage fading over the `fade` weeks before.
    Churns {
        week: i64,
        fade: i64,
        at: DateTime<Utc>,
    },
}

impl Course {
    /// Usage as a share of normal in snapshot week `week` of `weeks`.
    fn multiplier(self, week: i64, weeks: i64) -> f64 {
        match self {
            Course::Steady => 1.0,
            Course::AtRisk { floor } => {
                let start = weeks - 1 - AT_RISK_DECLINE_WEEKS;
                if week <= start {
                    1.0
                } else {
                    1.0 - (1.0 - floor) * (week - start) as f64 / AT_RISK_DECLINE_WEEKS as f64
                }
            }
            Course::Churns {
                week: churn_week,
                fade,
                ..
            } => {
                let start = churn_week - fade;
                if week <= start {
                    1.0
                } else {
                    let left = ((churn_week - week) as f64 / fade as f64).clamp(0.0, 1.0);
                    left * left.sqrt()
                }
            }
        }
    }
}

/// Generates as many base accounts as `numbers` holds (the next ones of the world's
/// `base_accounts`): existing customers, with `trials` self-serve trials spread evenly
/// among them.
pub(crate) fn base_accounts(
    world: &mut World<'_>,
    numbers: std::ops::Range<u64>,
    trials: u64,
    batch: &mut Batch,
) {
    let total = world.base_accounts.max(1);
    for _ in numbers {
        // Base accounts are generated before any lead, so they take the first numbers.
        let number = world.sequences.next_account();
        let mut dice = world.streams.dice(Stream::Account, number);
        let firm = Firmographics::random(world, number - 1, &mut dice);
        let deal = Deal::propose(world.definition, &firm, &mut dice);
        let owner = dice.pick(&world.definition.owners.sales_reps).clone();
        let is_trial = number * trials / total != (number - 1) * trials / total;
        if is_trial {
            let long_trial = dice.chance(0.3);
            let length = if long_trial { 30 } else { 14 };
            let started = world
                .calendar
                .moment_days_ago(dice.between(1, length - 1), &mut dice);
            let start = TrialStart {
                number,
                firm,
                deal,
                created_at: started,
                owner: dice.chance(0.6).then_some(owner),
                origin: None,
                trial: Some((started, plus_days(started, length as f64))),
            };
            trial_account(world, &mut dice, &start, batch);
            if dice.chance(0.4) {
                let opened = plus_days(started, dice.uniform(0.5, 3.0))
                    .min(world.calendar.now() - TimeDelta::hours(1));
                let stage = if dice.chance(0.6) {
                    "prospecting"
                } else {
                    "qualification"
                };
                let close = start.trial.map_or(opened, |(_, ends)| ends)
                    + TimeDelta::days(dice.between(3, 21));
                push_opportunity(
                    world,
                    batch,
                    NewOpportunity {
                        account: account_id(number),
                        lead: None,
                        name: format!("{} — New business", start.firm.company.name),
                        stage,
                        amount_minor: deal.annual_minor(),
                        close_date: close.date_naive(),
                        owner: start.owner.clone(),
                        created_at: opened,
                        closed_at: None,
                        probability_scale: 1.0,
                    },
                );
            }
        } else {
            let days_customer = dice.between(380, 1800);
            let customer_since = world.calendar.moment_days_ago(days_customer, &mut dice);
            let created_at = plus_days(customer_since, -dice.uniform(5.0, 40.0));
            customer(
                world,
                &mut dice,
                CustomerStart {
                    number,
                    firm,
                    deal,
                    customer_since,
                    trial_started_at: None,
                    created_at,
                    owner,
                    origin: None,
                },
                batch,
            );
        }
    }
}

/// Generates a paying customer and its contacts, usage, tickets, NPS and opportunities.
pub(crate) fn customer(
    world: &mut World<'_>,
    dice: &mut Dice,
    start: CustomerStart,
    batch: &mut Batch,
) {
    let definition = world.definition;
    let calendar = world.calendar;
    let weeks = i64::from(definition.usage_weeks);
    let id = account_id(start.number);
    let segment = start.firm.segment();
    let engagement = start
        .origin
        .as_ref()
        .map_or(0.0, |origin| origin.engagement);
    let health = Health::draw(dice, start.firm.fit, engagement, start.deal.seats, segment);

    let since_week = calendar.week_index(start.customer_since, definition.usage_weeks);
    let earliest_churn = (since_week + MIN_TENURE_WEEKS).max(FIRST_CHURN_WEEK);
    let latest_churn = weeks - 2;
    let churns = earliest_churn <= latest_churn && dice.chance(sigmoid(CHURN_BASE + health.risk));
    let course = if churns {
        let week = dice.between(earliest_churn, latest_churn);
        let fade = dice.between(6, 10);
        let day =
            calendar.week_start(week as u32, definition.usage_weeks) + Days::new(dice.below(7));
        let at = calendar
            .during(day, dice)
            .max(plus_days(start.customer_since, 1.0));
        Course::Churns { week, fade, at }
    } else if since_week <= weeks - 1 - AT_RISK_DECLINE_WEEKS
        && dice.chance(sigmoid(AT_RISK_BASE + health.risk))
    {
        Course::AtRisk {
            floor: dice.uniform(0.35, 0.65),
        }
    } else {
        Course::Steady
    };
    let churned_at = match course {
        Course::Churns { at, .. } => Some(at),
        _ => None,
    };

    let contact_count = contact_count(definition, dice, segment);
    let contacts = contacts(
        world,
        dice,
        &id,
        &start.firm,
        start.origin.as_ref(),
        contact_count,
        start.created_at,
        batch,
    );

    // Weekly usage, and the tickets filed that week (more of them while usage is failing).
    let plan = definition.plan(start.deal.tier);
    let seats = start.deal.seats;
    let usage_start = start.trial_started_at.unwrap_or(start.customer_since);
    let usage_start_week = calendar.week_index(usage_start, definition.usage_weeks);
    let last_week = match course {
        Course::Churns { week, .. } => week,
        _ => weeks - 1,
    };
    for week in usage_start_week.max(0)..=last_week {
        let week_start = calendar.week_start(week as u32, definition.usage_weeks);
        let share = course.multiplier(week, weeks);
        let level = health.utilization
            * seats as f64
            * exp(health.trend * (week as f64 / (weeks - 1).max(1) as f64 - 1.0))
            * onboarding_ramp(week - usage_start_week)
            * share
            * seasonality(week_start)
            * dice.lognormal(1.0, 0.08);
        let active_users = (level.round() as i64).clamp(0, seats);
        let assigned = seats as f64
            * (health.utilization * 1.12).min(1.0)
            * (0.6 + 0.4 * share)
            * dice.lognormal(1.0, 0.03);
        let seats_used = (assigned.round() as i64).clamp(active_users, seats);
        let logins =
            (active_users as f64 * 3.0 * exp(0.15 * health.score) * dice.lognormal(1.0, 0.12))
                .round() as i64;
        let feature_events = (logins as f64 * 7.5 * dice.lognormal(1.0, 0.15)).round() as i64;
        let premium = (feature_events as f64
            * plan.premium_feature_share
            * dice.lognormal(1.0, 0.25))
        .round() as i64;
        batch.usage_snapshots.push(UsageRow {
            account_id: id.clone(),
            week_start: date_text(week_start),
            active_users,
            seats_used,
            logins,
            feature_events,
            premium_feature_events: premium,
        });
        let filed = dice.poisson(health.ticket_rate * (2.0 - share));
        for _ in 0..filed {
            let opened = calendar.during(week_start + Days::new(dice.below(7)), dice);
            if opened < usage_start || churned_at.is_some_and(|churned| opened >= churned) {
                continue;
            }
            ticket(
                world,
                dice,
                &id,
                &contacts,
                opened,
                health.urgent_share,
                health.score,
                batch,
            );
        }
    }

    nps_responses(world, dice, &id, &contacts, &start, &health, course, batch);
    opportunities(world, dice, &id, &start, &health, course, batch);

    let lifecycle_stage = match course {
        Course::Steady => "active",
        Course::AtRisk { .. } => "at_risk",
        Course::Churns { .. } => "churned",
    };
    // Small self-serve plans are looked after by the pooled team, not a named CSM.
    let csm_owner = (start.deal.tier != "starter" || dice.chance(0.5))
        .then(|| dice.pick(&definition.owners.csms).clone());
    let updated_at = churned_at
        .unwrap_or_else(|| calendar.moment_days_ago(dice.between(1, 21), dice))
        .max(start.created_at);
    let (trial_started_at, trial_ends_at) = match start.trial_started_at {
        Some(started) => (Some(stamp(started)), Some(stamp(start.customer_since))),
        None => (None, None),
    };
    batch.accounts.push(AccountRow {
        id,
        external_id: Some(format!("CRM-A{:07}", start.number)),
        name: start.firm.company.name.clone(),
        domain: Some(start.firm.company.domain.clone()),
        industry: start.firm.industry.clone(),
        employee_count: start.firm.employee_count,
        country: start.firm.country.clone(),
        plan_tier: start.deal.tier,
        lifecycle_stage,
        segment,
        // A churned account pays nothing; its last contract value is on the lost renewal.
        mrr_minor: if churned_at.is_some() {
            0
        } else {
            start.deal.mrr_minor
        },
        currency: definition.company.currency.clone(),
        seats_purchased: seats,
        owner: Some(start.owner.clone()),
        csm_owner,
        trial_started_at,
        trial_ends_at,
        customer_since: Some(stamp(start.customer_since)),
        churned_at: churned_at.map(stamp),
        created_at: stamp(start.created_at),
        updated_at: stamp(updated_at),
    });
}

/// Generates a trial account (no revenue yet) with its contacts, trial usage and tickets.
pub(crate) fn trial_account(
    world: &mut World<'_>,
    dice: &mut Dice,
    start: &TrialStart,
    batch: &mut Batch,
) {
    let definition = world.definition;
    let calendar = world.calendar;
    let weeks = i64::from(definition.usage_weeks);
    let id = account_id(start.number);
    let plan = definition.plan(start.deal.tier);
    // A prospect has fewer known people than a customer: the low end of the range.
    let range = definition.contacts_per_account;
    let count = dice.between(
        i64::from(range.min),
        i64::from(range.max.min(range.min + 1)),
    ) as u32;
    let contacts = contacts(
        world,
        dice,
        &id,
        &start.firm,
        start.origin.as_ref(),
        count,
        start.created_at,
        batch,
    );
    let engagement = start
        .origin
        .as_ref()
        .map_or(0.0, |origin| origin.engagement);
    let interest = sigmoid(-0.2 + 0.6 * engagement + 0.5 * dice.normal());
    if let Some((started, ends)) = start.trial {
        let first = calendar.week_index(started, definition.usage_weeks).max(0);
        let last = calendar
            .week_index(ends, definition.usage_weeks)
            .min(weeks - 1);
        let trial_seats = plan.trial_seats;
        for week in first..=last {
            let week_start = calendar.week_start(week as u32, definition.usage_weeks);
            let level = trial_seats as f64
                * interest
                * onboarding_ramp(week - first)
                * dice.lognormal(1.0, 0.15);
            let active_users = (level.round() as i64).clamp(0, trial_seats);
            let seats_used = ((trial_seats as f64 * (interest + 0.2).min(1.0)).round() as i64)
                .clamp(active_users, trial_seats);
            let logins = (active_users as f64 * 2.5 * dice.lognormal(1.0, 0.2)).round() as i64;
            let feature_events = (logins as f64 * 6.0 * dice.lognormal(1.0, 0.2)).round() as i64;
            let premium =
                (feature_events as f64 * plan.premium_feature_share * dice.lognormal(1.0, 0.3))
                    .round() as i64;
            batch.usage_snapshots.push(UsageRow {
                account_id: id.clone(),
                week_start: date_text(week_start),
                active_users,
                seats_used,
                logins,
                feature_events,
                premium_feature_events: premium,
            });
            for _ in 0..dice.poisson(0.08) {
                let opened = calendar.during(week_start + Days::new(dice.below(7)), dice);
                if opened < started || opened >= calendar.now() {
                    continue;
                }
                ticket(world, dice, &id, &contacts, opened, 0.05, 0.0, batch);
            }
        }
    }
    let updated_at = start
        .trial
        .map_or(start.created_at, |(_, ends)| {
            ends.min(calendar.now() - TimeDelta::hours(2))
        })
        .max(start.created_at);
    batch.accounts.push(AccountRow {
        id,
        external_id: Some(format!("CRM-A{:07}", start.number)),
        name: start.firm.company.name.clone(),
        domain: Some(start.firm.company.domain.clone()),
        industry: start.firm.industry.clone(),
        employee_count: start.firm.employee_count,
        country: start.firm.country.clone(),
        plan_tier: start.deal.tier,
        lifecycle_stage: "trial",
        segment: start.firm.segment(),
        mrr_minor: 0,
        currency: definition.company.currency.clone(),
        seats_purchased: if start.trial.is_some() {
            plan.trial_seats
        } else {
            0
        },
        owner: start.owner.clone(),
        csm_owner: None,
        trial_started_at: start.trial.map(|(started, _)| stamp(started)),
        trial_ends_at: start.trial.map(|(_, ends)| stamp(ends)),
        customer_since: None,
        churned_at: None,
        created_at: stamp(start.created_at),
        updated_at: stamp(updated_at),
    });
}

fn contact_count(definition: &CompanyDefinition, dice: &mut Dice, segment: &str) -> u32 {
    let range = definition.contacts_per_account;
    let bonus = u32::from(segment == "enterprise");
    (dice.between(i64::from(range.min), i64::from(range.max)) as u32 + bonus).min(range.max)
}

/// Adds `count` contacts (the lead first, when there is one) and returns their ids.
#[allow(clippy::too_many_arguments)]
fn contacts(
    world: &mut World<'_>,
    dice: &mut Dice,
    account: &str,
    firm: &Firmographics,
    origin: Option<&LeadOrigin>,
    count: u32,
    account_created: DateTime<Utc>,
    batch: &mut Batch,
) -> Vec<String> {
    let definition = world.definition;
    let roles: [&'static str; 5] = if origin.is_some() {
        ["champion", "decision_maker", "user", "billing", "user"]
    } else {
        ["decision_maker", "champion", "user", "billing", "user"]
    };
    let mut people: Vec<Person> = Vec::with_capacity(count as usize);
    let mut ids = Vec::with_capacity(count as usize);
    for index in 0..count as usize {
        let role = roles[index.min(roles.len() - 1)];
        let from_lead = if index == 0 { origin } else { None };
        let person = from_lead.map_or_else(
            || Person::random(definition, dice),
            |lead| lead.person.clone(),
        );
        let namesakes = people
            .iter()
            .filter(|p| p.first_name == person.first_name && p.last_name == person.last_name)
            .count() as u32;
        let email = match from_lead {
            Some(lead) => lead.email.clone(),
            None => person.email(&firm.company.domain, namesakes),
        };
        let title = match from_lead {
            Some(lead) => lead.title.clone(),
            None => Some(dice.pick(role_titles(definition, role)).clone()),
        };
        let created = plus_days(account_created, dice.uniform(0.0, 30.0) * index as f64)
            .min(world.calendar.now() - TimeDelta::hours(1));
        let id = world.sequences.next_contact();
        batch.contacts.push(ContactRow {
            id: id.clone(),
            account_id: account.to_string(),
            first_name: person.first_name.clone(),
            last_name: person.last_name.clone(),
            email,
            phone: dice.chance(0.7).then(|| phone(&firm.calling_code, dice)),
            title,
            role,
            created_at: stamp(created),
            updated_at: stamp(created),
        });
        people.push(person);
        ids.push(id);
    }
    ids
}

pub(crate) fn role_titles<'d>(definition: &'d CompanyDefinition, role: &str) -> &'d [String] {
    match role {
        "decision_maker" => &definition.titles.decision_maker,
        "champion" => &definition.titles.champion,
        "billing" => &definition.titles.billing,
        _ => &definition.titles.user,
    }
}

/// New users come on over the first six weeks.
fn onboarding_ramp(weeks_in: i64) -> f64 {
    (0.35 + 0.65 * weeks_in.max(0) as f64 / 6.0).min(1.0)
}

/// The year-end holidays empty the office; August is a little quieter.
fn seasonality(week_start: NaiveDate) -> f64 {
    match (week_start.month(), week_start.day()) {
        (12, 21..) | (1, ..=3) => 0.6,
        (8, _) => 0.9,
        _ => 1.0,
    }
}

/// Adds one support ticket opened at `opened`.
#[allow(clippy::too_many_arguments)]
fn ticket(
    world: &mut World<'_>,
    dice: &mut Dice,
    account: &str,
    contacts: &[String],
    opened: DateTime<Utc>,
    urgent_share: f64,
    health: f64,
    batch: &mut Batch,
) {
    let definition = world.definition;
    let now = world.calendar.now();
    let roll = dice.unit();
    let priority = if roll < urgent_share {
        "urgent"
    } else if roll < urgent_share + 0.17 {
        "high"
    } else if roll < 0.6 {
        "normal"
    } else {
        "low"
    };
    let subjects = if matches!(priority, "urgent" | "high") {
        &definition.ticket_subjects.urgent
    } else {
        &definition.ticket_subjects.routine
    };
    let median_hours = match priority {
        "urgent" => 6.0,
        "high" => 20.0,
        "normal" => 40.0,
        _ => 90.0,
    };
    let slow_support = if health < -1.0 { 1.4 } else { 1.0 };
    let hours = dice.lognormal(median_hours * slow_support, 0.8);
    let resolved = opened + TimeDelta::seconds((hours * 3600.0).round() as i64);
    let (status, resolved_at) = if resolved >= now {
        (if dice.chance(0.6) { "open" } else { "pending" }, None)
    } else if (now - resolved).num_days() < 5 {
        ("solved", Some(resolved))
    } else {
        ("closed", Some(resolved))
    };
    let csat = match resolved_at {
        Some(_) if dice.chance(0.5) => {
            let slow = if hours > 48.0 { 0.6 } else { 0.0 };
            Some(
                (3.7 + 0.6 * health - slow + 0.9 * dice.normal())
                    .round()
                    .clamp(1.0, 5.0) as i64,
            )
        }
        _ => None,
    };
    let contact_id = if !contacts.is_empty() && dice.chance(0.95) {
        Some(dice.pick(contacts).clone())
    } else {
        None
    };
    batch.support_tickets.push(TicketRow {
        id: world.sequences.next_ticket(),
        account_id: account.to_string(),
        contact_id,
        subject: dice.pick(subjects).clone(),
        priority,
        status,
        opened_at: stamp(opened),
        resolved_at: resolved_at.map(stamp),
        csat,
    });
}

/// Quarterly NPS answers from customers (not in their first month, not after leaving).
#[allow(clippy::too_many_arguments)]
fn nps_responses(
    world: &mut World<'_>,
    dice: &mut Dice,
    account: &str,
    contacts: &[String],
    start: &CustomerStart,
    health: &Health,
    course: Course,
    batch: &mut Batch,
) {
    let definition = world.definition;
    let calendar = world.calendar;
    let weeks = i64::from(definition.usage_weeks);
    for days_ago in SURVEY_DAYS_AGO {
        let survey_day = calendar.days_ago(days_ago);
        let surveyed = calendar.during(survey_day, dice);
        let responded = plus_days(surveyed, dice.uniform(0.0, 6.0));
        let settled = plus_days(start.customer_since, 30.0) <= surveyed;
        let still_customer = match course {
            Course::Churns { at, .. } => responded < at,
            _ => true,
        };
        if !settled || !still_customer || !dice.chance(NPS_RESPONSE_RATE) {
            continue;
        }
        let share = course.multiplier(calendar.week_index(surveyed, definition.usage_weeks), weeks);
        let score = (health.nps_mean + 1.3 * dice.normal() - 2.5 * (1.0 - share))
            .round()
            .clamp(0.0, 10.0) as i64;
        let comments = match score {
            9.. => &definition.nps_comments.promoter,
            7..=8 => &definition.nps_comments.passive,
            _ => &definition.nps_comments.detractor,
        };
        let comment = dice.chance(0.55).then(|| dice.pick(comments).clone());
        let contact_id = if contacts.is_empty() {
            None
        } else {
            Some(dice.pick(contacts).clone())
        };
        batch.nps_responses.push(NpsRow {
            id: world.sequences.next_nps(),
            account_id: account.to_string(),
            contact_id,
            score,
            comment,
            responded_at: stamp(responded),
        });
    }
}

/// An opportunity to record.
pub(crate) struct NewOpportunity {
    pub(crate) account: String,
    pub(crate) lead: Option<String>,
    pub(crate) name: String,
    pub(crate) stage: &'static str,
    pub(crate) amount_minor: i64,
    pub(crate) close_date: NaiveDate,
    pub(crate) owner: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) closed_at: Option<DateTime<Utc>>,
    /// Scales an open stage's recorded probability (a rep discounting a shaky deal).
    pub(crate) probability_scale: f64,
}

pub(crate) fn push_opportunity(
    world: &mut World<'_>,
    batch: &mut Batch,
    opportunity: NewOpportunity,
) {
    let now = world.calendar.now();
    let probability = match opportunity.stage {
        "closed_won" => 100,
        "closed_lost" => 0,
        stage => {
            let base = STAGE_PROBABILITY
                .iter()
                .find(|(name, _)| *name == stage)
                .map_or(10, |(_, p)| *p);
            ((base as f64 * opportunity.probability_scale).round() as i64).clamp(1, 99)
        }
    };
    let updated_at = opportunity
        .closed_at
        .unwrap_or_else(|| {
            plus_days(
                opportunity.created_at,
                ((now - opportunity.created_at).num_hours() as f64 / 24.0) * 0.6,
            )
        })
        .max(opportunity.created_at);
    let (id, external_id) = world.sequences.next_opportunity();
    batch.opportunities.push(OpportunityRow {
        id,
        external_id: Some(external_id),
        account_id: opportunity.account,
        lead_id: opportunity.lead,
        name: opportunity.name,
        stage: opportunity.stage,
        amount_minor: opportunity.amount_minor,
        currency: world.definition.company.currency.clone(),
        probability,
        close_date: date_text(opportunity.close_date),
        owner: opportunity.owner,
        created_at: stamp(opportunity.created_at),
        updated_at: stamp(updated_at),
        closed_at: opportunity.closed_at.map(stamp),
    });
}

/// The open stage a deal has reached, `progress` of the way from opening to its close.
pub(crate) fn open_stage(progress: f64) -> &'static str {
    match progress {
        p if p < 0.25 => "prospecting",
        p if p < 0.5 => "qualification",
        p if p < 0.75 => "proposal",
        _ => "negotiation",
    }
}

/// Renewals (won at each anniversary, lost when the customer left, open when one is near)
/// and expansions (more likely and more often won for healthy accounts and small asks).
fn opportunities(
    world: &mut World<'_>,
    dice: &mut Dice,
    account: &str,
    start: &CustomerStart,
    health: &Health,
    course: Course,
    batch: &mut Batch,
) {
    let calendar = world.calendar;
    let now = calendar.now();
    let company = &start.firm.company.name;
    let annual = start.deal.annual_minor();
    let owner = Some(start.owner.clone());
    let years_since = years_between(start.customer_since, now);
    if let Course::Churns { at, .. } = course {
        let opened =
            plus_days(at, -dice.uniform(45.0, 90.0)).max(plus_days(start.customer_since, 1.0));
        push_opportunity(
            world,
            batch,
            NewOpportunity {
                account: account.to_string(),
                lead: None,
                name: format!("{company} — Renewal {}", at.year()),
                stage: "closed_lost",
                amount_minor: annual,
                close_date: at.date_naive(),
                owner: owner.clone(),
                created_at: opened,
                closed_at: Some(at),
                probability_scale: 1.0,
            },
        );
    } else {
        if years_since >= 1 {
            let anniversary = add_years(start.customer_since, years_since);
            let closed =
                plus_days(anniversary, -dice.uniform(0.0, 14.0)).min(now - TimeDelta::hours(1));
            push_opportunity(
                world,
                batch,
                NewOpportunity {
                    account: account.to_string(),
                    lead: None,
                    name: format!("{company} — Renewal {}", anniversary.year()),
                    stage: "closed_won",
                    amount_minor: annual,
                    close_date: closed.date_naive(),
                    owner: owner.clone(),
                    created_at: plus_days(anniversary, -dice.uniform(60.0, 90.0)),
                    closed_at: Some(closed),
                    probability_scale: 1.0,
                },
            );
        }
        let next = add_years(start.customer_since, years_since + 1);
        let days_left = (next - now).num_days();
        if days_left <= 90 {
            let stage = match days_left {
                61.. => "qualification",
                31..=60 => "proposal",
                _ => "negotiation",
            };
            let opened = plus_days(next, -90.0).min(now - TimeDelta::hours(3));
            push_opportunity(
                world,
                batch,
                NewOpportunity {
                    account: account.to_string(),
                    lead: None,
                    name: format!("{company} — Renewal {}", next.year()),
                    stage,
                    amount_minor: annual,
                    close_date: next.date_naive(),
                    owner: owner.clone(),
                    created_at: opened,
                    closed_at: None,
                    probability_scale: if matches!(course, Course::AtRisk { .. }) {
                        0.6
                    } else {
                        1.0
                    },
                },
            );
        }
    }

    let window_start = calendar
        .week_start(0, world.definition.usage_weeks)
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let earliest = window_start.max(plus_days(start.customer_since, 60.0));
    let latest = match course {
        Course::Churns { at, .. } => at,
        _ => now,
    } - TimeDelta::days(1);
    let expansions = dice.poisson(0.3 * exp(0.5 * health.score));
    for _ in 0..expansions {
        if earliest >= latest {
            break;
        }
        let span_days = (latest - earliest).num_seconds() as f64 / 86_400.0;
        let opened = plus_days(earliest, dice.uniform(0.0, span_days));
        let lag_days = dice.uniform(20.0, 80.0);
        let closes = plus_days(opened, lag_days);
        let extra_seats =
            ((start.deal.seats as f64 * dice.uniform(0.1, 0.4)).round() as i64).max(2);
        let amount = monthly_price(world.definition, start.deal.tier, extra_seats) * 12;
        let ask = ln(amount.max(1) as f64 / EXPANSION_MEDIAN_MINOR);
        let (stage, closed_at) = match course {
            Course::Churns { at, .. } if closes >= at => ("closed_lost", Some(at.min(closes))),
            _ if closes < now => {
                let noise = dice.normal();
                let won = dice.chance(sigmoid(0.3 + 1.1 * health.score - 0.45 * ask + 0.5 * noise));
                (if won { "closed_won" } else { "closed_lost" }, Some(closes))
            }
            _ => (
                open_stage((now - opened).num_hours() as f64 / (lag_days * 24.0)),
                None,
            ),
        };
        push_opportunity(
            world,
            batch,
            NewOpportunity {
                account: account.to_string(),
                lead: None,
                name: format!("{company} — Expansion (+{extra_seats} seats)"),
                stage,
                amount_minor: amount,
                close_date: closed_at.unwrap_or(closes).date_naive(),
                owner: owner.clone(),
                created_at: opened,
                closed_at,
                probability_scale: 1.0,
            },
        );
    }
}

/// A typical expansion's annual value (minor units): the reference for "a big ask".
const EXPANSION_MEDIAN_MINOR: f64 = 600_000.0;

/// Whole years from `from` to `to`.
fn years_between(from: DateTime<Utc>, to: DateTime<Utc>) -> u32 {
    let mut years = 0;
    while add_years(from, years + 1) <= to {
        years += 1;
    }
    years
}

fn add_years(instant: DateTime<Utc>, years: u32) -> DateTime<Utc> {
    instant
        .checked_add_months(Months::new(12 * years))
        .unwrap_or(instant)
}
