//! A deterministic demo company for the RevOps store.
//!
//! [`seed`] fills an empty store with one company's revenue data: campaigns and their
//! spend, leads with engagement signals and marketing touches, the accounts those leads
//! became, an installed base of customers with contacts, weekly product usage, support
//! tickets and NPS, and the opportunities of all of them. The company is described by
//! `fixtures/demo-company.json` (embedded; see [`definition`]); the same definition and
//! scale always produce the same rows, on any machine and any day, because every date is
//! relative to the definition's reference date and every random draw comes from a seeded
//! per-record stream.
//!
//! Outcomes follow from signals with noise, as in a real company, so models trained on the
//! data find real structure: engaged, well-fitting, mid-sized leads convert more;
//! opportunities are won more by engaged leads and for smaller deals; customers with
//! falling usage, idle seats, many or urgent tickets and low NPS churn more.
//!
//! # Layout
//! - [`definition`]: the company definition file and its types.
//! - `dice`: seeded per-record random streams and portable sampling.
//! - `calendar`: the reference date and the timestamps built from it.
//! - `names`: company names, domains, emails, phone numbers.
//! - `campaigns`, `leads`, `accounts`: the generators.
//! - `rows`, `writer`: row types and batched, chunked inserts.
//!
//! # Scale
//! Scale 1 is 500 leads, 40 campaigns and 182 base accounts (plus the accounts leads turn
//! into); scale N multiplies every count by N. Rows are generated one chunk at a time on a
//! blocking thread and written as they come, in transactions committed every few hundred
//! thousand rows, so memory stays flat at any scale (only the campaign windows, a few dozen
//! bytes per campaign, are kept for attribution).

mod accounts;
mod calendar;
mod campaigns;
pub mod definition;
mod dice;
mod error;
mod leads;
mod names;
mod rows;
mod world;
mod writer;

use std::time::Instant;

use serde::Serialize;

pub use definition::{CompanyDefinition, definition};
pub use error::SeedError;
pub use writer::RowCounts;

use calendar::Calendar;
use dice::Streams;
use world::{Sequences, World};
use writer::{Batch, Writer};

/// The largest scale accepted (5,000,000 leads).
pub const MAX_SCALE: u32 = 10_000;

/// Leads generated per chunk; the accounts they turn into come along.
const LEADS_PER_CHUNK: u64 = 4_000;
/// Base accounts per chunk (each brings ~52 usage snapshots).
const ACCOUNTS_PER_CHUNK: u64 = 1_000;
const CAMPAIGNS_PER_CHUNK: u64 = 2_000;

/// What [`seed`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedSummary {
    pub scale: u32,
    /// The seed of the definition used.
    pub seed: u64,
    /// The demo company's "today" (`YYYY-MM-DD`).
    pub reference_date: String,
    /// Rows written per table.
    pub rows: RowCounts,
    pub elapsed_ms: u64,
}

/// Seeds the embedded demo company at `scale` into `store`, which must be empty.
pub async fn seed(store: &store::Store, scale: u32) -> Result<SeedSummary, SeedError> {
    seed_with(store, definition()?, scale).await
}

/// Seeds the company `definition` describes at `scale` into `store`, which must be empty.
pub async fn seed_with(
    store: &store::Store,
    definition: &CompanyDefinition,
    scale: u32,
) -> Result<SeedSummary, SeedError> {
    let started = Instant::now();
    if scale == 0 || scale > MAX_SCALE {
        return Err(SeedError::InvalidScale {
            scale,
            max: MAX_SCALE,
        });
    }
    refuse_unless_empty(store).await?;

    let today = definition.reference_date()?;
    tracing::info!(scale, seed = definition.seed, "seeding the demo company");

    // Generating and writing each take a core: a blocking thread generates chunk after
    // chunk while this task writes the previous one. The channel holds one chunk, so at
    // most three are in memory.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Batch>(1);
    let owned_definition = definition.clone();
    let generator = tokio::task::spawn_blocking(move || {
        generate_company(&owned_definition, today, u64::from(scale), &sender);
    });
    let mut writer = Writer::new(store);
    while let Some(batch) = receiver.recv().await {
        // An error returns here and drops the receiver, which stops the generator.
        writer.write(batch).await?;
    }
    // A generator that died ended the stream early: leave its last group uncommitted.
    generator
        .await
        .map_err(|error| SeedError::Generator(error.to_string()))?;
    let counts = writer.finish().await?;

    let summary = SeedSummary {
        scale,
        seed: definition.seed,
        reference_date: definition.reference_date.clone(),
        rows: counts,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    tracing::info!(?summary, "demo company seeded");
    Ok(summary)
}

/// Generates the whole company, one chunk of rows at a time, into `chunks`; stops early
/// when the receiving side has gone away (a write failed).
fn generate_company(
    definition: &CompanyDefinition,
    today: chrono::NaiveDate,
    units: u64,
    chunks_out: &tokio::sync::mpsc::Sender<Batch>,
) {
    let per_unit = definition.per_scale_unit;
    let campaign_total = u64::from(per_unit.campaigns) * units;
    let customers = u64::from(per_unit.customer_accounts) * units;
    let trials = u64::from(per_unit.self_serve_trials) * units;
    let lead_total = u64::from(per_unit.leads) * units;
    let mut world = World {
        definition,
        seed: definition.seed,
        streams: Streams::new(definition.seed),
        calendar: Calendar::new(today),
        catalog: campaigns::CampaignCatalog::default(),
        base_accounts: customers + trials,
        sequences: Sequences::default(),
    };
    let send = |batch: Batch| chunks_out.blocking_send(batch).is_ok();

    // Campaigns first: leads are attributed to them, so the catalog must be complete.
    for chunk in chunks(campaign_total, CAMPAIGNS_PER_CHUNK) {
        let mut batch = Batch::default();
        campaigns::generate(&mut world, campaign_total, chunk, &mut batch);
        if !send(batch) {
            return;
        }
    }
    campaigns::finish_catalog(&mut world.catalog);
    for chunk in chunks(customers + trials, ACCOUNTS_PER_CHUNK) {
        let mut batch = Batch::default();
        accounts::base_accounts(&mut world, chunk, trials, &mut batch);
        if !send(batch) {
            return;
        }
    }
    for chunk in chunks(lead_total, LEADS_PER_CHUNK) {
        let mut batch = Batch::default();
        leads::generate(&mut world, chunk, &mut batch);
        if !send(batch) {
            return;
        }
    }
}

/// Record numbers `1..=total` in ranges of at most `size`.
fn chunks(total: u64, size: u64) -> impl Iterator<Item = std::ops::Range<u64>> {
    (0..total.div_ceil(size)).map(move |index| {
        let first = index * size + 1;
        first..(first + size).min(total + 1)
    })
}

/// Fails with [`SeedError::AlreadySeeded`] when the store holds accounts, leads or
/// campaigns: the generated ids would collide with them.
async fn refuse_unless_empty(store: &store::Store) -> Result<(), SeedError> {
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM accounts) AS accounts, \
                (SELECT COUNT(*) FROM leads) AS leads, \
                (SELECT COUNT(*) FROM campaigns) AS campaigns",
    )
    .fetch_one(store.pool())
    .await
    .map_err(|source| SeedError::Database {
        action: "check that the store is empty",
        source,
    })?;
    let count = |column: &str| -> Result<i64, SeedError> {
        row.try_get::<i64, _>(column)
            .map_err(|source| SeedError::Database {
                action: "check that the store is empty",
                source,
            })
    };
    let (accounts, leads, campaigns) = (count("accounts")?, count("leads")?, count("campaigns")?);
    if accounts > 0 || leads > 0 || campaigns > 0 {
        return Err(SeedError::AlreadySeeded {
            accounts,
            leads,
            campaigns,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_record_once() {
        let ranges: Vec<_> = chunks(10, 4).collect();
        assert_eq!(ranges, vec![1..5, 5..9, 9..11]);
        assert_eq!(chunks(0, 4).count(), 0);
    }

    #[test]
    fn the_embedded_definition_is_usable() {
        let definition = definition().expect("the embedded definition parses");
        assert_eq!(
            definition.reference_date().ok().map(|d| d.to_string()),
            Some("2026-11-16".into())
        );
    }
}
