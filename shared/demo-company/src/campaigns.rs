//! Campaigns and what they spent: each campaign gets a channel, a window spread over the
//! lead history, a daily budget and a lifetime cap, and weekly `commit` entries in the
//! budget ledger that pace around the daily budget but never pass the cap. The catalog
//! kept here lets leads be attributed to a campaign of their source's channel that was
//! running when they arrived.

use chrono::{Datelike, Days, NaiveDate};

use crate::calendar::{date_text, stamp};
use crate::dice::{Dice, Stream};
use crate::rows::{BudgetEntryRow, CampaignRow};
use crate::world::{World, campaign_id};
use crate::writer::Batch;

/// A campaign's channel and the days it ran, for attributing leads.
#[derive(Debug, Clone, Copy)]
struct Window {
    number: u64,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
}

/// Every campaign's window, by channel, in start order.
#[derive(Debug, Default)]
pub(crate) struct CampaignCatalog {
    channels: Vec<(String, Vec<Window>)>,
}

/// How far back a campaign that already ended still collects its late responders.
const LATE_ATTRIBUTION_DAYS: i64 = 45;

impl CampaignCatalog {
    fn add(&mut self, channel: &str, window: Window) {
        match self.channels.iter_mut().find(|(name, _)| name == channel) {
            Some((_, windows)) => windows.push(window),
            None => self.channels.push((channel.to_string(), vec![window])),
        }
    }

    fn finish(&mut self) {
        for (_, windows) in &mut self.channels {
            windows.sort_by_key(|window| (window.starts_on, window.number));
        }
    }

    /// The campaign of `channel` a lead arriving on `date` answered: the latest-started one
    /// running that day, else one that ended shortly before; `None` when neither exists.
    pub(crate) fn attribute(&self, channel: &str, date: NaiveDate) -> Option<u64> {
        let (_, windows) = self.channels.iter().find(|(name, _)| name == channel)?;
        let started = windows.partition_point(|window| window.starts_on <= date);
        let candidates = windows[..started].iter().rev().take(12);
        let mut late = None;
        for window in candidates {
            if window.ends_on >= date {
                return Some(window.number);
            }
            if late.is_none() && (date - window.ends_on).num_days() <= LATE_ATTRIBUTION_DAYS {
                late = Some(window.number);
            }
        }
        late
    }
}

/// Generates campaign numbers `numbers` of `total` (with their ledger entries) into
/// `batch` and records their windows in the world's catalog.
pub(crate) fn generate(
    world: &mut World<'_>,
    total: u64,
    numbers: std::ops::Range<u64>,
    batch: &mut Batch,
) {
    for number in numbers {
        let mut dice = world.streams.dice(Stream::Campaign, number);
        campaign(world, total, number, &mut dice, batch);
    }
}

/// Sorts the catalog once every campaign is in.
pub(crate) fn finish_catalog(catalog: &mut CampaignCatalog) {
    catalog.finish();
}

fn campaign(world: &mut World<'_>, total: u64, number: u64, dice: &mut Dice, batch: &mut Batch) {
    let definition = world.definition;
    let calendar = world.calendar;
    let channel = dice.weighted(&definition.campaign_channels, |c| c.share);
    // Starts spread evenly from before the oldest lead to a few weeks ahead, so every
    // stretch of the lead history has campaigns running and a few are still drafts.
    let span_start = i64::from(definition.lead_history_days) + 75;
    let span_days = span_start + 30;
    let position = ((number - 1) as f64 + dice.unit()) / total.max(1) as f64;
    let starts_on = calendar.days_ago(span_start - (position * span_days as f64) as i64);
    let duration = if channel.name == "events" {
        dice.between(21, 60)
    } else {
        dice.between(35, 150)
    };
    let ends_on = starts_on + Days::new(duration as u64);
    let today = calendar.today();

    let [low, high] = channel.daily_budget_minor;
    let daily = dice.between(low / 100, high / 100) * 100;
    let lifetime_cap =
        ((daily as f64 * duration as f64 * dice.uniform(0.72, 1.0)) / 1000.0).round() as i64 * 1000;

    let status = if starts_on >= today {
        "draft"
    } else if ends_on < today {
        "completed"
    } else if dice.chance(0.15) {
        "paused"
    } else {
        "active"
    };
    // Spending stops at the end, at a pause, or yesterday, whichever is first.
    let last_spend_day = match status {
        "draft" => None,
        "paused" => {
            let days_running = (today - starts_on).num_days().max(1);
            Some(starts_on + Days::new(dice.below(days_running as u64)))
        }
        _ => Some(ends_on.min(calendar.days_ago(1))),
    };

    let id = campaign_id(number);
    let actor = dice.pick(&definition.owners.marketers).clone();
    let mut spent = 0i64;
    let mut last_entry_at = None;
    if let Some(last_day) = last_spend_day {
        let mut period_start = starts_on;
        while period_start <= last_day && spent < lifetime_cap {
            let period_end = (period_start + Days::new(6)).min(last_day);
            let days = (period_end - period_start).num_days() + 1;
            let pace = dice.uniform(0.7, 1.12);
            let wanted = (daily as f64 * days as f64 * pace).round() as i64;
            // The cap is a hard limit: the last entry takes only what is left.
            let amount = wanted.min(lifetime_cap - spent);
            if amount > 0 {
                spent += amount;
                let created = calendar.during(period_end, dice);
                last_entry_at = Some(created);
                batch.budget_ledger.push(BudgetEntryRow {
                    id: world.sequences.next_budget_entry(),
                    campaign_id: id.clone(),
                    entry_kind: "commit",
                    amount_minor: amount,
                    spend_date: date_text(period_end),
                    request_key: None,
                    actor: actor.clone(),
                    created_at: stamp(created),
                });
            }
            period_start = period_end + Days::new(1);
        }
    }

    let impressions = if channel.cpm_minor > 0 {
        spent * 1000 / channel.cpm_minor
    } else {
        0
    };
    let clicks =
        (impressions as f64 * channel.click_rate * dice.lognormal(1.0, 0.2)).round() as i64;
    let created_at = if status == "draft" {
        calendar.moment_days_ago(dice.between(1, 14), dice)
    } else {
        let lead_time = dice.between(7, 28) as u64;
        let day = (starts_on - Days::new(lead_time)).min(calendar.days_ago(1));
        calendar.during(day, dice)
    };
    let updated_at = last_entry_at.unwrap_or(created_at).max(created_at);
    let theme = dice.pick(&definition.campaign_themes);
    let quarter = format!("Q{} {}", (starts_on.month0() / 3) + 1, starts_on.year());
    batch.campaigns.push(CampaignRow {
        id,
        name: format!("{theme} ({}, {quarter})", channel.name.replace('_', " ")),
        channel: channel.name.clone(),
        status,
        audience: Some(dice.pick(&definition.campaign_audiences).clone()),
        starts_on: date_text(starts_on),
        ends_on: Some(date_text(ends_on)),
        budget_lifetime_minor: lifetime_cap,
        budget_daily_minor: Some(daily),
        currency: definition.company.currency.clone(),
        impressions,
        clicks,
        created_at: stamp(created_at),
        updated_at: stamp(updated_at),
    });
    if status != "draft" {
        world.catalog.add(
            &channel.name,
            Window {
                number,
                starts_on,
                ends_on: last_spend_day.unwrap_or(ends_on),
            },
        );
    }
}
