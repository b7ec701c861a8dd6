//! The generation context shared by every generator: the definition, the random streams,
//! the calendar, the campaign catalog, and the id sequences. Records are numbered in the
//! order they are generated, which is fixed, so ids are as deterministic as the values.

use store::ids::fixture_id;

use crate::calendar::Calendar;
use crate::campaigns::CampaignCatalog;
use crate::definition::CompanyDefinition;
use crate::dice::Streams;

pub(crate) struct World<'d> {
    pub(crate) definition: &'d CompanyDefinition,
    pub(crate) seed: u64,
    pub(crate) streams: Streams,
    pub(crate) calendar: Calendar,
    pub(crate) catalog: CampaignCatalog,
    /// Base accounts (customers and self-serve trials) at this scale; lead companies are
    /// numbered after them so company names never repeat between the two.
    pub(crate) base_accounts: u64,
    pub(crate) sequences: Sequences,
}

/// The last number handed out per kind of record (ids start at 1).
#[derive(Debug, Default)]
pub(crate) struct Sequences {
    account: u64,
    contact: u64,
    opportunity: u64,
    budget_entry: u64,
    touch: u64,
    ticket: u64,
    nps: u64,
}

impl Sequences {
    /// The next account number (its id is [`account_id`] of it).
    pub(crate) fn next_account(&mut self) -> u64 {
        self.account += 1;
        self.account
    }

    pub(crate) fn next_contact(&mut self) -> String {
        self.contact += 1;
        fixture_id("con", self.contact)
    }

    /// The next opportunity's id and its CRM-style external id.
    pub(crate) fn next_opportunity(&mut self) -> (String, String) {
        self.opportunity += 1;
        (
            fixture_id("opp", self.opportunity),
            format!("CRM-O{:07}", self.opportunity),
        )
    }

    pub(crate) fn next_budget_entry(&mut self) -> String {
        self.budget_entry += 1;
        fixture_id("bgt", self.budget_entry)
    }

    pub(crate) fn next_touch(&mut self) -> String {
        self.touch += 1;
        fixture_id("tch", self.touch)
    }

    pub(crate) fn next_ticket(&mut self) -> String {
        self.ticket += 1;
        fixture_id("tkt", self.ticket)
    }

    pub(crate) fn next_nps(&mut self) -> String {
        self.nps += 1;
        fixture_id("nps", self.nps)
    }
}

pub(crate) fn account_id(number: u64) -> String {
    fixture_id("acc", number)
}

pub(crate) fn lead_id(number: u64) -> String {
    fixture_id("lead", number)
}

pub(crate) fn campaign_id(number: u64) -> String {
    fixture_id("cmp", number)
}
