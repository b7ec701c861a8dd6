//! The demo company's calendar: everything is placed relative to its reference date
//! ("today"), never the wall clock, so the same seed gives the same rows on any day.
//! Past events happen before midnight at the start of the reference date; only plans
//! (close dates, trial ends, campaign ends) lie after it.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, Utc};

use crate::dice::Dice;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Calendar {
    today: NaiveDate,
    /// Midnight UTC at the start of `today`: every past event is before it.
    now: DateTime<Utc>,
    /// Monday of the last complete week, the newest usage snapshot.
    last_week_start: NaiveDate,
}

impl Calendar {
    pub(crate) fn new(today: NaiveDate) -> Calendar {
        let now = today.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
        Calendar {
            today,
            now,
            last_week_start: monday - Days::new(7),
        }
    }

    pub(crate) fn today(&self) -> NaiveDate {
        self.today
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The date `days` days before today (after it, for negative `days`).
    pub(crate) fn days_ago(&self, days: i64) -> NaiveDate {
        self.today - TimeDelta::days(days)
    }

    /// A moment during the working day of `date` (07:00-20:00 UTC), to the microsecond.
    pub(crate) fn during(&self, date: NaiveDate, dice: &mut Dice) -> DateTime<Utc> {
        let micros = dice.between(7 * 3_600_000_000, 20 * 3_600_000_000);
        date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() + TimeDelta::microseconds(micros)
    }

    /// A moment `days` days before now, during that day's working hours; a past moment.
    pub(crate) fn moment_days_ago(&self, days: i64, dice: &mut Dice) -> DateTime<Utc> {
        self.during(self.days_ago(days.max(1)), dice)
    }

    /// The Monday of the `index`th of `weeks` snapshot weeks (0 = oldest).
    pub(crate) fn week_start(&self, index: u32, weeks: u32) -> NaiveDate {
        let back = u64::from(weeks.saturating_sub(1).saturating_sub(index)) * 7;
        self.last_week_start - Days::new(back)
    }

    /// The snapshot week (of `weeks`) containing `instant`: negative before the first,
    /// `weeks` or more after the last.
    pub(crate) fn week_index(&self, instant: DateTime<Utc>, weeks: u32) -> i64 {
        let first = self.week_start(0, weeks);
        let days = (instant.date_naive() - first).num_days();
        days.div_euclid(7)
    }
}

/// A stored timestamp.
pub(crate) fn stamp(instant: DateTime<Utc>) -> String {
    store::clock::format(instant)
}

/// A stored date.
pub(crate) fn date_text(date: NaiveDate) -> String {
    store::clock::format_date(date)
}

/// `instant` shifted by a fractional number of days (to the microsecond).
pub(crate) fn plus_days(instant: DateTime<Utc>, days: f64) -> DateTime<Utc> {
    instant + TimeDelta::microseconds((days * 86_400_000_000.0).round() as i64)
}
