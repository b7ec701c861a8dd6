//! CRM connectors: the suite's way to HubSpot (and, later, Salesforce), and the sync between
//! a CRM and the local store.
//!
//! # Layout
//! - [`hubspot`]: the HubSpot CRM v3 objects API (contacts, companies, deals): get, search
//!   with `after` paging, create, update; private-app token or OAuth 2.0.
//! - [`salesforce`]: Salesforce REST (Lead, Account, Contact, Opportunity): get, SOQL with
//!   `nextRecordsUrl` paging, create, update; OAuth 2.0 (`/services/oauth2/token`).
//! - [`auth`]: credentials of one connection: a static token, or an OAuth session that
//!   refreshes ahead of expiry and on a 401, one refresh in flight at a time, saving a
//!   rotated refresh token to the vault before the new access token is used.
//! - [`mapping`]: every field mapping between CRM records and store records, with the
//!   defaults for fields a CRM lacks.
//! - [`sync`]: [`sync::sync_from_crm`] (leads, accounts, deals or contacts: pull pages, upsert by
//!   remote id, a cursor committed with each page), [`sync::push_lead`] and
//!   [`sync::push_deal`] (create or update with an idempotency key, and keep the remote id).
//! - [`ConnectorError`]: errors a tool can show as they are.
//!
//! # Invariants
//! - Every request goes through a [`resilience::Upstream`] (breaker, limits, timeout, retry).
//! - Tokens stay [`secrecy::SecretString`]s from the vault to the `Authorization` header;
//!   none is logged, returned or put into an error.
//! - A write to a CRM is retried only when it is safe: an update sets absolute values, and a
//!   create carries an idempotency key derived from the local record and its version.

pub mod auth;
mod error;
pub mod hubspot;
pub mod mapping;
pub mod salesforce;
pub mod sync;

use std::future::Future;

pub use error::ConnectorError;
pub use hubspot::{HubSpot, HubSpotConfig};
pub use salesforce::{Salesforce, SalesforceConfig};
pub use sync::{
    DealPushReport, PushReport, SyncKind, SyncReport, push_deal, push_deal_in, push_lead,
    push_lead_in, sync_from_crm,
};

/// One record as a CRM returns it: its id and its properties as text (HubSpot sends every
/// property value as a string or null).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RemoteRecord {
    pub id: String,
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, Option<String>>,
    #[serde(default, rename = "updatedAt")]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub archived: bool,
}

impl RemoteRecord {
    /// A property's value, trimmed; `None` when absent, null or blank.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .and_then(Option::as_deref)
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }
}

/// One page of records and the cursor of the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePage {
    pub records: Vec<RemoteRecord>,
    pub next: Option<String>,
}

/// Which page to pull.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The cursor the previous page returned; `None` for the first page.
    pub after: Option<String>,
    /// Only records modified at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a push did remotely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushAction {
    /// A new remote record was created.
    Created,
    /// The linked remote record was updated.
    Updated,
    /// The local record had no remote id, but a remote record matching it existed (a lead:
    /// one with its email; a deal in Salesforce: one with its name and account, created since
    /// this version was saved): it was updated and linked.
    Linked,
}

/// A pushed record: its remote id and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub remote_id: String,
    pub action: PushAction,
}

/// What [`sync`] needs from a CRM connector; [`HubSpot`] and [`Salesforce`] implement it.
pub trait Crm: Send + Sync {
    /// The vault provider and sync-cursor key, e.g. `hubspot`.
    fn provider(&self) -> &'static str;

    /// The name shown to people, e.g. `HubSpot`.
    fn display_name(&self) -> &'static str;

    /// One page of the records that become `kind` locally.
    fn pull(
        &self,
        kind: SyncKind,
        page: &PageRequest,
    ) -> impl Future<Output = Result<RemotePage, ConnectorError>> + Send;

    /// The local lead of a remote record pulled for [`SyncKind::Leads`], or why it is
    /// skipped.
    fn lead_from(&self, record: &RemoteRecord) -> Result<store::leads::NewLead, String>;

    /// The local account of a remote record pulled for [`SyncKind::Accounts`], or why it
    /// is skipped.
    fn account_from(&self, record: &RemoteRecord) -> Result<store::accounts::NewAccount, String>;

    /// The local deal of a remote record pulled for [`SyncKind::Deals`], or why it is
    /// skipped.
    fn deal_from(&self, record: &RemoteRecord) -> Result<store::sync::RemoteDeal, String>;

    /// Creates or updates the remote record of `lead`. A create sends `idempotency_key`,
    /// so a retried push never creates a second record.
    fn push_lead(
        &self,
        lead: &store::records::Lead,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Pushed, ConnectorError>> + Send;

    /// Creates or updates the remote deal of `deal`, linked to the remote company/account
    /// `account_remote_id` (its account's `external_id`) when there is one. A create sends
    /// `idempotency_key` where the CRM takes one, so a retried push never creates a second
    /// record.
    fn push_deal(
        &self,
        deal: &store::records::Opportunity,
        account_remote_id: Option<&str>,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Pushed, ConnectorError>> + Send;
}

/// The vault of `store`, opened with the master key in the environment. Without a vault or a
/// key the error is [`ConnectorError::NotConfigured`] for `provider`, with `hint` saying how
/// to set the credentials up.
pub(crate) async fn vault_from_env(
    store: &store::Store,
    provider: &'static str,
    hint: String,
) -> Result<vault::Vault, ConnectorError> {
    match vault::Vault::from_env(store).await {
        Ok(vault) => Ok(vault),
        Err(error @ (vault::VaultError::NotConfigured | vault::VaultError::MasterKeyMissing)) => {
            Err(ConnectorError::NotConfigured {
                provider,
                hint: format!("{error}. {hint}"),
            })
        }
        Err(error) => Err(error.into()),
    }
}
