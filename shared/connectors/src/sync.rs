//! Sync between a CRM and the local store.
//!
//! **Pull** ([`sync_from_crm`]): a pass walks the CRM's pages; each page's records are
//! upserted keyed by the remote id (a record whose email matches an unlinked local lead or
//! contact is linked to it; a deal or a contact is linked to the local account carrying its
//! company's remote id, and a new one whose company is not linked locally is skipped and
//! reported as unlinked), and
//! the page's cursor is saved *in the same transaction*
//! (`store::sync::save_page`). A failure therefore loses nothing and repeats nothing: the
//! next run resumes from the last committed page, and re-applying a page changes nothing.
//! A completed pass remembers when it started; the next one asks only for records modified
//! since then. The failure's message is kept as the cursor's `last_error`.
//!
//! **Push** ([`push_lead`], [`push_deal`]): creates or updates the record's remote record and
//! stores the remote id as its `external_id`. The create carries an idempotency key derived
//! from the local id and its `updated_at`: the same version of the same record always sends
//! the same key, so a retried push (by the resilience layer, or by the user after a lost
//! answer) never creates a second record. A deal is linked to its account's remote
//! company/account when the account has a remote id.
//!
//! The `_in` variants work inside a caller's write transaction (a tool call's, which the
//! pipeline commits with its audit record). A tool that already holds a write transaction
//! must use them: on SQLite that transaction holds the write lock, so opening another in the
//! same process would wait for it until the busy timeout. The price: the lock is held while
//! the CRM answers (retries and `Retry-After` waits included), so keep `max_pages` small in
//! a tool. The store variants suit the CLI and background jobs.

use store::accounts::{ContactUpsert, RemoteContact};
use store::leads::{MatchBy, UpsertOutcome};
use store::sync::{AccountUpsert, DealUpsert, LeadMatch, PageCounts};
use store::{Store, WriteTx};

use crate::{ConnectorError, Crm, PageRequest, PushAction, RemoteRecord};

/// The local kind of record a sync fills.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    /// Leads, from HubSpot contacts or Salesforce Leads.
    Leads,
    /// Accounts, from HubSpot companies or Salesforce Accounts.
    Accounts,
    /// Opportunities, from HubSpot deals or Salesforce Opportunities, each linked to the
    /// local account of its company (sync accounts first).
    Deals,
    /// Contacts (people at accounts), from Salesforce Contacts or HubSpot contacts associated
    /// with a company, each linked to the local account of its company (sync accounts
    /// first). HubSpot contacts without a company are leads: [`SyncKind::Leads`].
    Contacts,
}

impl SyncKind {
    /// The sync-cursor key.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::Leads => "leads",
            SyncKind::Accounts => "accounts",
            SyncKind::Deals => "deals",
            SyncKind::Contacts => "contacts",
        }
    }
}

/// A remote record a sync did not keep, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Skipped {
    pub remote_id: String,
    pub reason: String,
}

/// What one sync run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct SyncReport {
    pub provider: String,
    pub kind: String,
    /// Whether the run continued a pass an earlier run left part-way.
    pub resumed: bool,
    /// Pages committed by this run.
    pub pages: u32,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    /// Of the skipped: deals or contacts whose company/account is not linked to a local
    /// account (each listed with the reason `unlinked: …`); sync accounts first.
    pub unlinked: u64,
    /// Of the skipped: records whose email (leads, contacts) or domain (accounts) belongs to
    /// a local record linked to another CRM record (each listed with the reason
    /// `conflict: …`); nothing was changed.
    pub conflicts: u64,
    /// The first skipped records (at most [`MAX_SKIPPED_LISTED`]).
    pub skipped_records: Vec<Skipped>,
    /// Whether the pass reached the last page; `false` when `max_pages` stopped it (run
    /// again to continue).
    pub complete: bool,
}

/// How many skipped records a report lists by id.
pub const MAX_SKIPPED_LISTED: usize = 20;

impl SyncReport {
    fn records(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }
}

/// What a contacts sync needs from a CRM beyond [`Crm`]; [`crate::HubSpot`] and
/// [`crate::Salesforce`] implement it.
pub trait ContactSource: Crm {
    /// The contact of a remote record pulled for [`SyncKind::Contacts`] (with the remote id
    /// of its company/account), or why it is skipped.
    fn contact_from(&self, record: &RemoteRecord) -> Result<RemoteContact, String>;
}

/// Pulls up to `max_pages` pages (at least one) of `kind` from `crm` into `store`, one
/// transaction per page, resuming a pass an earlier run left part-way. On a failure the
/// pages before it stay committed, the error is recorded on the cursor, and
/// [`ConnectorError::SyncInterrupted`] says how far it got.
pub async fn sync_from_crm<C: ContactSource>(
    store: &Store,
    crm: &C,
    kind: SyncKind,
    max_pages: u32,
) -> Result<SyncReport, ConnectorError> {
    let provider = crm.provider();
    let mut tx = store.begin_write().await?;
    let cursor = store::sync::start_run(&mut tx, provider, kind.as_str()).await?;
    commit(tx).await?;
    let mut report = new_report(crm, kind, cursor.page_cursor.is_some());
    let mut request = page_request(&cursor)?;
    for _ in 0..max_pages.max(1) {
        let outcome = async {
            let page = crm.pull(kind, &request).await?;
            let mut tx = store.begin_write().await?;
            let counts = apply_page(&mut tx, crm, kind, &page, &mut report).await?;
            store::sync::save_page(
                &mut tx,
                provider,
                kind.as_str(),
                page.next.as_deref(),
                counts,
            )
            .await?;
            commit(tx).await?;
            Ok::<_, ConnectorError>(page.next)
        }
        .await;
        match outcome {
            Ok(next) => {
                report.pages += 1;
                request.after = next;
                if request.after.is_none() {
                    report.complete = true;
                    break;
                }
            }
            Err(error) => {
                record_failure(store, provider, kind, &error).await;
                return Err(interrupted(crm, kind, &report, error));
            }
        }
    }
    tracing::info!(
        provider,
        kind = kind.as_str(),
        pages = report.pages,
        created = report.created,
        updated = report.updated,
        skipped = report.skipped,
        complete = report.complete,
        "CRM sync run finished"
    );
    Ok(report)
}

/// [`sync_from_crm`] inside the caller's transaction. A CRM failure does not fail the
/// call: it comes back beside the report (`complete: false`, and
/// [`ConnectorError::SyncInterrupted`]) and is recorded on the cursor, so the caller commits
/// the pages pulled so far with their cursor and the next run resumes. A store error fails
/// the call (the caller rolls back: nothing half-applied).
pub async fn sync_from_crm_in<C: ContactSource>(
    tx: &mut WriteTx,
    crm: &C,
    kind: SyncKind,
    max_pages: u32,
) -> Result<(SyncReport, Option<ConnectorError>), ConnectorError> {
    let provider = crm.provider();
    let cursor = store::sync::start_run(tx, provider, kind.as_str()).await?;
    let mut report = new_report(crm, kind, cursor.page_cursor.is_some());
    let mut request = page_request(&cursor)?;
    for _ in 0..max_pages.max(1) {
        // A failed page must leave nothing behind: pull first, then apply; a store error
        // while applying fails the whole call (the caller's transaction rolls back).
        let page = match crm.pull(kind, &request).await {
            Ok(page) => page,
            Err(error) => {
                store::sync::record_error(tx, provider, kind.as_str(), &error.to_string()).await?;
                let error = interrupted(crm, kind, &report, error);
                return Ok((report, Some(error)));
            }
        };
        let counts = apply_page(tx, crm, kind, &page, &mut report).await?;
        store::sync::save_page(tx, provider, kind.as_str(), page.next.as_deref(), counts).await?;
        report.pages += 1;
        request.after = page.next;
        if request.after.is_none() {
            report.complete = true;
            break;
        }
    }
    Ok((report, None))
}

fn new_report<C: Crm>(crm: &C, kind: SyncKind, resumed: bool) -> SyncReport {
    SyncReport {
        provider: crm.provider().to_owned(),
        kind: kind.as_str().to_owned(),
        resumed,
        ..SyncReport::default()
    }
}

fn page_request(cursor: &store::sync::SyncCursor) -> Result<PageRequest, ConnectorError> {
    let since = match &cursor.pass_since {
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    ConnectorError::Invalid(
                        "the sync cursor's time is not a valid timestamp".to_owned(),
                    )
                })?
                .with_timezone(&chrono::Utc),
        ),
        None => None,
    };
    Ok(PageRequest {
        after: cursor.page_cursor.clone(),
        since,
    })
}

fn interrupted<C: Crm>(
    crm: &C,
    kind: SyncKind,
    report: &SyncReport,
    cause: ConnectorError,
) -> ConnectorError {
    ConnectorError::SyncInterrupted {
        provider: crm.display_name(),
        kind: kind.as_str(),
        pages: report.pages,
        records: report.records(),
        cause: Box::new(cause),
    }
}

async fn record_failure(store: &Store, provider: &str, kind: SyncKind, error: &ConnectorError) {
    let message = error.to_string();
    tracing::warn!(provider, kind = kind.as_str(), error = %message, "CRM sync run failed");
    let recorded = async {
        let mut tx = store.begin_write().await?;
        store::sync::record_error(&mut tx, provider, kind.as_str(), &message).await?;
        tx.commit()
            .await
            .map_err(|_| store::Error::Internal("commit a sync error"))
    }
    .await;
    if let Err(error) = recorded {
        tracing::warn!(provider, %error, "could not record the sync failure");
    }
}

/// Upserts one page's records; counts go into `report` and are returned for the cursor.
async fn apply_page<C: ContactSource>(
    tx: &mut WriteTx,
    crm: &C,
    kind: SyncKind,
    page: &crate::RemotePage,
    report: &mut SyncReport,
) -> Result<PageCounts, ConnectorError> {
    let mut counts = PageCounts::default();
    match kind {
        SyncKind::Leads => {
            for record in &page.records {
                let lead = match crm.lead_from(record) {
                    Ok(lead) => lead,
                    Err(reason) => {
                        skip(report, &mut counts, &record.id, reason);
                        continue;
                    }
                };
                let by = match store::sync::match_lead(tx, &record.id, &lead.email).await? {
                    LeadMatch::ExternalId(_) | LeadMatch::New => MatchBy::ExternalId,
                    LeadMatch::Email(_) => MatchBy::Email,
                    LeadMatch::EmailTaken { lead_id, .. } => {
                        let reason = format!(
                            "conflict: its email belongs to lead {lead_id}, linked to another {} record",
                            crm.display_name()
                        );
                        report.conflicts += 1;
                        skip(report, &mut counts, &record.id, reason);
                        continue;
                    }
                };
                let (_, outcome) = store::leads::upsert(tx, &lead, by).await?;
                tally(&mut counts, outcome);
            }
        }
        SyncKind::Accounts => {
            for record in &page.records {
                let account = match crm.account_from(record) {
                    Ok(account) => account,
                    Err(reason) => {
                        skip(report, &mut counts, &record.id, reason);
                        continue;
                    }
                };
                match store::sync::upsert_account(tx, &record.id, &account).await? {
                    AccountUpsert::Done { outcome, .. } => tally(&mut counts, outcome),
                    AccountUpsert::DomainTaken { account_id, .. } => {
                        let reason = format!(
                            "conflict: its domain belongs to account {account_id}, linked to another {} record",
                            crm.display_name()
                        );
                        report.conflicts += 1;
                        skip(report, &mut counts, &record.id, reason);
                    }
                }
            }
        }
        SyncKind::Deals => {
            let actor = format!("{}-sync", crm.provider());
            for record in &page.records {
                let deal = match crm.deal_from(record) {
                    Ok(deal) => deal,
                    Err(reason) => {
                        skip(report, &mut counts, &record.id, reason);
                        continue;
                    }
                };
                match store::sync::upsert_deal(tx, &record.id, &deal, &actor).await? {
                    DealUpsert::Done { outcome, .. } => tally(&mut counts, outcome),
                    DealUpsert::Unlinked {
                        account_external_id,
                    } => {
                        report.unlinked += 1;
                        counts.unlinked += 1;
                        let reason = match account_external_id {
                            Some(remote) => format!(
                                "unlinked: its {} company/account {remote} is not linked to a local \
                                 account; sync accounts first, then deals again",
                                crm.display_name()
                            ),
                            None => format!(
                                "unlinked: it has no company/account in {}, and a deal needs one",
                                crm.display_name()
                            ),
                        };
                        skip(report, &mut counts, &record.id, reason);
                    }
                    DealUpsert::ClosedLocally {
                        opportunity_id,
                        stage,
                    } => {
                        let reason = format!(
                            "deal {opportunity_id} is {stage} here and closed deals are final; \
                             the {} change was not applied",
                            crm.display_name()
                        );
                        skip(report, &mut counts, &record.id, reason);
                    }
                }
            }
        }
        SyncKind::Contacts => {
            for record in &page.records {
                let contact = match crm.contact_from(record) {
                    Ok(contact) => contact,
                    Err(reason) => {
                        skip(report, &mut counts, &record.id, reason);
                        continue;
                    }
                };
                match store::accounts::upsert_remote_contact(tx, &record.id, &contact).await? {
                    ContactUpsert::Done { outcome, .. } => tally(&mut counts, outcome),
                    ContactUpsert::Unlinked {
                        account_external_id,
                    } => {
                        report.unlinked += 1;
                        counts.unlinked += 1;
                        let reason = match account_external_id {
                            Some(remote) => format!(
                                "unlinked: its {} company/account {remote} is not linked to a local \
                                 account; sync accounts first, then contacts again",
                                crm.display_name()
                            ),
                            None if crm.provider() == crate::hubspot::PROVIDER => {
                                "unlinked: it has no company in HubSpot, and a contact belongs to \
                                 an account; HubSpot contacts without a company sync as leads \
                                 (kind leads)"
                                    .to_owned()
                            }
                            None => format!(
                                "unlinked: it has no account in {}, and a contact belongs to one",
                                crm.display_name()
                            ),
                        };
                        skip(report, &mut counts, &record.id, reason);
                    }
                    ContactUpsert::EmailTaken {
                        contact_id,
                        external_id,
                    } => {
                        report.conflicts += 1;
                        let reason = match external_id {
                            Some(other) => format!(
                                "conflict: its email belongs to contact {contact_id}, linked to \
                                 another {} record ({other})",
                                crm.display_name()
                            ),
                            None => format!(
                                "conflict: its new email belongs to another local contact, \
                                 {contact_id}; nothing was changed"
                            ),
                        };
                        skip(report, &mut counts, &record.id, reason);
                    }
                }
            }
        }
    }
    report.created += count(counts.created);
    report.updated += count(counts.updated);
    report.unchanged += count(counts.unchanged);
    Ok(counts)
}

fn tally(counts: &mut PageCounts, outcome: UpsertOutcome) {
    match outcome {
        UpsertOutcome::Created => counts.created += 1,
        UpsertOutcome::Updated => counts.updated += 1,
        UpsertOutcome::Unchanged => counts.unchanged += 1,
    }
}

fn skip(report: &mut SyncReport, counts: &mut PageCounts, remote_id: &str, reason: String) {
    counts.skipped += 1;
    report.skipped += 1;
    if report.skipped_records.len() < MAX_SKIPPED_LISTED {
        report.skipped_records.push(Skipped {
            remote_id: remote_id.to_owned(),
            reason,
        });
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

async fn commit(tx: WriteTx) -> Result<(), ConnectorError> {
    tx.commit().await.map_err(|error| {
        tracing::error!(%error, "could not commit a sync transaction");
        ConnectorError::Store(store::Error::Internal("commit a sync page"))
    })
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct PushReport {
    pub lead_id: String,
    pub provider: String,
    /// The remote record's id, now the lead's `external_id`.
    pub remote_id: String,
    pub action: PushAction,
    /// The key a create was sent with (the same for every retry of this version of the lead).
    pub idempotency_key: String,
}

/// The idempotency key of a push of this version of `lead`.
pub fn idempotency_key(lead: &store::records::Lead) -> String {
    push_key(&lead.id, &lead.updated_at)
}

/// The idempotency key of a push of this version of `deal`.
pub fn deal_idempotency_key(deal: &store::records::Opportunity) -> String {
    push_key(&deal.id, &deal.updated_at)
}

/// One derivation for every kind: ids carry their kind's prefix (`lead_`, `opp_`), so two
/// kinds never share a key, and a new version (a later `updated_at`) gets a new one.
fn push_key(id: &str, updated_at: &str) -> String {
    format!("revops-push-{id}-{updated_at}")
}

/// Pushes the lead to `crm` and links it (`external_id`), in a transaction of its own.
pub async fn push_lead<C: Crm>(
    store: &Store,
    crm: &C,
    lead_id: &str,
) -> Result<PushReport, ConnectorError> {
    let lead = store::leads::get(store, lead_id).await?;
    let report = push(crm, &lead).await?;
    let mut tx = store.begin_write().await?;
    store::sync::set_lead_external_id(&mut tx, &lead.id, &report.remote_id).await?;
    commit(tx).await?;
    Ok(report)
}

/// [`push_lead`] inside the caller's transaction.
pub async fn push_lead_in<C: Crm>(
    tx: &mut WriteTx,
    crm: &C,
    lead_id: &str,
) -> Result<PushReport, ConnectorError> {
    let lead = store::leads::get_in(tx, lead_id).await?;
    let report = push(crm, &lead).await?;
    store::sync::set_lead_external_id(tx, &lead.id, &report.remote_id).await?;
    Ok(report)
}

async fn push<C: Crm>(crm: &C, lead: &store::records::Lead) -> Result<PushReport, ConnectorError> {
    let key = idempotency_key(lead);
    let pushed = crm.push_lead(lead, &key).await?;
    tracing::info!(
        provider = crm.provider(),
        lead_id = %lead.id,
        action = ?pushed.action,
        "lead pushed to the CRM"
    );
    Ok(PushReport {
        lead_id: lead.id.clone(),
        provider: crm.provider().to_owned(),
        remote_id: pushed.remote_id,
        action: pushed.action,
        idempotency_key: key,
    })
}

/// What a deal push did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct DealPushReport {
    pub opportunity_id: String,
    pub provider: String,
    /// The remote deal's id, now the opportunity's `external_id`.
    pub remote_id: String,
    pub action: PushAction,
    /// The remote company/account the deal was linked to (its account's `external_id`);
    /// `None` when the account is not linked to a CRM record (sync accounts first to link
    /// it).
    pub account_remote_id: Option<String>,
    /// The key a create was sent with (the same for every retry of this version of the deal).
    pub idempotency_key: String,
}

/// Pushes the deal (a local opportunity) to `crm` and links it (`external_id`), in a
/// transaction of its own.
pub async fn push_deal<C: Crm>(
    store: &Store,
    crm: &C,
    opportunity_id: &str,
) -> Result<DealPushReport, ConnectorError> {
    let deal = store::opportunities::get_one(store, opportunity_id).await?;
    let account = store::accounts::get(store, &deal.account_id).await?;
    let report = push_opportunity(crm, &deal, account.external_id).await?;
    let mut tx = store.begin_write().await?;
    store::sync::set_opportunity_external_id(&mut tx, &deal.id, &report.remote_id).await?;
    commit(tx).await?;
    Ok(report)
}

/// [`push_deal`] inside the caller's transaction.
pub async fn push_deal_in<C: Crm>(
    tx: &mut WriteTx,
    crm: &C,
    opportunity_id: &str,
) -> Result<DealPushReport, ConnectorError> {
    let deal = store::opportunities::get_in(tx, opportunity_id).await?;
    let account = store::accounts::get_in(tx, &deal.account_id).await?;
    let report = push_opportunity(crm, &deal, account.external_id).await?;
    store::sync::set_opportunity_external_id(tx, &deal.id, &report.remote_id).await?;
    Ok(report)
}

async fn push_opportunity<C: Crm>(
    crm: &C,
    deal: &store::records::Opportunity,
    account_remote_id: Option<String>,
) -> Result<DealPushReport, ConnectorError> {
    let key = deal_idempotency_key(deal);
    let pushed = crm
        .push_deal(deal, account_remote_id.as_deref(), &key)
        .await?;
    tracing::info!(
        provider = crm.provider(),
        opportunity_id = %deal.id,
        action = ?pushed.action,
        linked_to_account = account_remote_id.is_some(),
        "deal pushed to the CRM"
    );
    Ok(DealPushReport {
        opportunity_id: deal.id.clone(),
        provider: crm.provider().to_owned(),
        remote_id: pushed.remote_id,
        action: pushed.action,
        account_remote_id,
        idempotency_key: key,
    })
}
