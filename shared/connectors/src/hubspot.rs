//! HubSpot CRM, v3 objects API: contacts, companies and deals: get by id, search with
//! `after` paging, create and update.
//!
//! Credentials come from the vault under provider `hubspot`: a private-app token
//! (`private_app_token`), or an OAuth app (`client_id`, `client_secret`, `refresh_token`),
//! refreshed at `POST /oauth/v1/token`. The private-app token wins when both are stored.
//!
//! Which calls are retried (by the resilience layer): GET always; search is a POST that
//! reads, so it is marked idempotent; PATCH sets absolute values, so it is too; a create is
//! retried only because it carries an idempotency key. A 401 is answered by one refresh
//! (OAuth) and one more try. HubSpot's search returns at most 10,000 results per query;
//! the sync narrows each pass to records modified since the last one.
//!
//! Deals: the search API returns no associations, so a page of deals is followed by one
//! batch read of their company associations (`POST /crm/v4/associations/deals/companies/
//! batch/read`, a read, retried like search); each deal's primary company id (else its
//! first) is put into the record as [`mapping::HUBSPOT_DEAL_COMPANY`].
//!
//! Pushing a deal: a deal not linked yet is created with its primary company association in
//! the same request (`associations` in the create body), so a deal never exists remotely
//! without its company; a linked deal is updated (PATCH) and its primary company set with
//! `PUT /crm/v4/objects/deals/{id}/associations/companies/{company}`, which is idempotent.
//!
//! Contacts pulled as people at accounts (sync kind `contacts`) are searched like leads and
//! followed the same way by a batch read of their company associations (`POST /crm/v4/
//! associations/contacts/companies/batch/read`); the primary company (else the first) goes
//! into the record as [`mapping::HUBSPOT_CONTACT_COMPANY`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use resilience::{Call, Response, StatusCode, Upstream, UpstreamConfig, UpstreamHealth};
use serde_json::json;
use store::Store;
use vault::Vault;

use crate::auth::{Auth, OAuthSession, OAuthSettings};
use crate::sync::ContactSource;
use crate::{
    ConnectorError, Crm, PageRequest, PushAction, Pushed, RemotePage, RemoteRecord, SyncKind,
    mapping,
};

/// The vault provider of HubSpot credentials.
pub const PROVIDER: &str = "hubspot";
/// The vault name of a private-app token.
pub const PRIVATE_APP_TOKEN: &str = "private_app_token";
const DISPLAY: &str = "HubSpot";
/// Records per search page: HubSpot's maximum.
const PAGE_SIZE: u32 = 100;
/// Batch read of deal → company associations (v4; up to 1,000 inputs, so a page fits).
pub const DEAL_COMPANIES: &str = "/crm/v4/associations/deals/companies/batch/read";
/// Batch read of contact → company associations (v4; up to 1,000 inputs, so a page fits).
pub const CONTACT_COMPANIES: &str = "/crm/v4/associations/contacts/companies/batch/read";
/// HubSpot's association type "deal to company, primary".
const DEAL_TO_PRIMARY_COMPANY: i64 = 5;
/// HubSpot's association type "contact to company, primary".
const CONTACT_TO_PRIMARY_COMPANY: i64 = 1;

/// A HubSpot CRM object type.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectType {
    Contacts,
    Companies,
    Deals,
}

impl ObjectType {
    /// The path segment in `/crm/v3/objects/{type}`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectType::Contacts => "contacts",
            ObjectType::Companies => "companies",
            ObjectType::Deals => "deals",
        }
    }

    fn singular(self) -> &'static str {
        match self {
            ObjectType::Contacts => "contact",
            ObjectType::Companies => "company",
            ObjectType::Deals => "deal",
        }
    }

    /// The property holding the last modification time (contacts name it differently).
    fn modified_property(self) -> &'static str {
        match self {
            ObjectType::Contacts => "lastmodifieddate",
            ObjectType::Companies | ObjectType::Deals => "hs_lastmodifieddate",
        }
    }
}

/// Where HubSpot is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct HubSpotConfig {
    /// The API upstream (base URL, quotas, retry, breaker, timeouts).
    pub api: UpstreamConfig,
    /// The OAuth token endpoint, joined to the API base URL unless absolute.
    pub token_url: String,
    /// Refresh an OAuth access token this long before it expires.
    pub refresh_ahead: Duration,
}

impl Default for HubSpotConfig {
    fn default() -> Self {
        Self {
            api: UpstreamConfig::hubspot(),
            token_url: "/oauth/v1/token".to_owned(),
            refresh_ahead: Duration::from_secs(60),
        }
    }
}

impl HubSpotConfig {
    /// Point the API (and a relative token URL) at another base URL: a sandbox or a test
    /// server.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.api = self.api.with_base_url(base_url);
        self
    }
}

/// Search criteria for [`HubSpot::search`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// The cursor from the previous page's `paging.next.after`.
    pub after: Option<String>,
    /// Only records modified at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only records whose property equals the value (e.g. `("email", "a@b.com")`).
    pub equals: Option<(String, String)>,
    /// Properties to return; the mapping's list when empty.
    pub properties: Vec<String>,
    /// Records per page (1 to 100; 100 when `None`).
    pub limit: Option<u32>,
}

/// A connection to one HubSpot account. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HubSpot {
    api: Upstream,
    auth: Auth,
}

impl HubSpot {
    /// Connects with the credentials in the vault of `store`, opened with the master key in
    /// the environment. Without a vault or credentials: [`ConnectorError::NotConfigured`],
    /// saying which commands set them up.
    pub async fn from_env(store: &Store, config: HubSpotConfig) -> Result<HubSpot, ConnectorError> {
        let vault = crate::vault_from_env(store, DISPLAY, setup_hint()).await?;
        HubSpot::from_vault(Arc::new(vault), config).await
    }

    /// Connects with the credentials in `vault`: the private-app token if stored, else the
    /// OAuth app's.
    pub async fn from_vault(
        vault: Arc<Vault>,
        config: HubSpotConfig,
    ) -> Result<HubSpot, ConnectorError> {
        let api = Upstream::new(config.api)?;
        match vault.get(PROVIDER, PRIVATE_APP_TOKEN).await {
            Ok(token) => return Ok(HubSpot::with_auth(api, Auth::Static(Arc::new(token)))),
            Err(vault::VaultError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        match vault.get(PROVIDER, crate::auth::REFRESH_TOKEN).await {
            Ok(_) => {}
            Err(vault::VaultError::NotFound { .. }) => {
                return Err(ConnectorError::NotConfigured {
                    provider: DISPLAY,
                    hint: format!("no HubSpot credentials are stored. {}", setup_hint()),
                });
            }
            Err(error) => return Err(error.into()),
        }
        let settings = OAuthSettings {
            display_name: DISPLAY,
            provider: PROVIDER,
            token_url: config.token_url,
            refresh_ahead: config.refresh_ahead,
            needs_instance_url: false,
        };
        let session = OAuthSession::new(settings, vault, api.clone()).await?;
        Ok(HubSpot::with_auth(api, Auth::OAuth(Arc::new(session))))
    }

    /// A connection over `api` with `auth` (tests, or credentials from elsewhere).
    pub fn with_auth(api: Upstream, auth: Auth) -> HubSpot {
        HubSpot { api, auth }
    }

    /// The API upstream's health (breaker, retries, limit hits), for a health tool.
    pub fn health(&self) -> UpstreamHealth {
        self.api.health()
    }

    pub fn upstream(&self) -> &Upstream {
        &self.api
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The record of `object` with this id.
    pub async fn get(&self, object: ObjectType, id: &str) -> Result<RemoteRecord, ConnectorError> {
        check_id(id)?;
        let path = format!("/crm/v3/objects/{}/{id}", object.as_str());
        let properties = mapping::hubspot_properties(object).join(",");
        let answer = self
            .send(|token| {
                self.api
                    .get(&path)
                    .query(&[("properties", properties.as_str())])
                    .bearer_auth(token)
            })
            .await?;
        self.read_json(answer, object, Some(id))
    }

    /// One page of `object` records matching `search`, in id order.
    pub async fn search(
        &self,
        object: ObjectType,
        search: &Search,
    ) -> Result<RemotePage, ConnectorError> {
        let path = format!("/crm/v3/objects/{}/search", object.as_str());
        let mut filters = Vec::new();
        if let Some(since) = search.since {
            filters.push(json!({
                "propertyName": object.modified_property(),
                "operator": "GTE",
                "value": since.timestamp_millis().to_string(),
            }));
        }
        if let Some((property, value)) = &search.equals {
            filters.push(json!({"propertyName": property, "operator": "EQ", "value": value}));
        }
        let properties: Vec<&str> = if search.properties.is_empty() {
            mapping::hubspot_properties(object).to_vec()
        } else {
            search.properties.iter().map(String::as_str).collect()
        };
        let mut body = json!({
            // Sorted by id so `after` walks a stable order.
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": properties,
            "limit": search.limit.unwrap_or(PAGE_SIZE).clamp(1, PAGE_SIZE),
        });
        if !filters.is_empty() {
            body["filterGroups"] = json!([{ "filters": filters }]);
        }
        if let Some(after) = &search.after {
            body["after"] = json!(after);
        }
        let answer = self
            .send(|token| {
                self.api
                    .post(&path)
                    .json(&body)
                    .bearer_auth(token)
                    .idempotent()
            })
            .await?;
        let page: SearchAnswer = self.read_json(answer, object, None)?;
        Ok(RemotePage {
            records: page.results,
            next: page
                .paging
                .and_then(|paging| paging.next)
                .map(|next| next.after)
                .filter(|after| !after.is_empty()),
        })
    }

    /// Creates a record. `idempotency_key` makes the create safe to retry: use one key per
    /// logical change, kept across retries.
    pub async fn create(
        &self,
        object: ObjectType,
        properties: &BTreeMap<String, String>,
        idempotency_key: &str,
    ) -> Result<RemoteRecord, ConnectorError> {
        let path = format!("/crm/v3/objects/{}", object.as_str());
        let body = json!({ "properties": properties });
        let answer = self
            .send(|token| {
                self.api
                    .post(&path)
                    .json(&body)
                    .idempotency_key(idempotency_key)
                    .bearer_auth(token)
            })
            .await?;
        self.read_json(answer, object, None)
    }

    /// Creates a deal, associated with `company` as its primary company when given, in one
    /// request. `idempotency_key` makes the create safe to retry, as for [`Self::create`].
    pub async fn create_deal(
        &self,
        properties: &BTreeMap<String, String>,
        company: Option<&str>,
        idempotency_key: &str,
    ) -> Result<RemoteRecord, ConnectorError> {
        let mut body = json!({ "properties": properties });
        if let Some(company) = company {
            check_id(company)?;
            body["associations"] = json!([{
                "to": { "id": company },
                "types": [primary_company_type()],
            }]);
        }
        let answer = self
            .send(|token| {
                self.api
                    .post("/crm/v3/objects/deals")
                    .json(&body)
                    .idempotency_key(idempotency_key)
                    .bearer_auth(token)
            })
            .await?;
        self.read_json(answer, ObjectType::Deals, None)
    }

    /// Makes `company` the primary company of the deal `deal_id`. Setting an association
    /// that exists changes nothing, so it is retried like an update.
    pub async fn set_deal_company(
        &self,
        deal_id: &str,
        company: &str,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id)?;
        check_id(company)?;
        let path = format!("/crm/v4/objects/deals/{deal_id}/associations/companies/{company}");
        let body = json!([primary_company_type()]);
        let answer = self
            .send(|token| {
                self.api
                    .put(&path)
                    .json(&body)
                    .idempotent()
                    .bearer_auth(token)
            })
            .await?;
        self.read_json::<serde_json::Value>(answer, ObjectType::Deals, Some(deal_id))
            .map(drop)
    }

    /// Sets `properties` on the record with this id (absolute values: safe to repeat).
    pub async fn update(
        &self,
        object: ObjectType,
        id: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<RemoteRecord, ConnectorError> {
        check_id(id)?;
        let path = format!("/crm/v3/objects/{}/{id}", object.as_str());
        let body = json!({ "properties": properties });
        let answer = self
            .send(|token| {
                self.api
                    .patch(&path)
                    .json(&body)
                    .idempotent()
                    .bearer_auth(token)
            })
            .await?;
        self.read_json(answer, object, Some(id))
    }

    /// The company each deal is associated with, by deal id: the primary association where
    /// HubSpot marks one, else the first. Deals without a company are absent.
    pub async fn deal_companies(
        &self,
        deal_ids: &[&str],
    ) -> Result<BTreeMap<String, String>, ConnectorError> {
        self.companies_of(
            ObjectType::Deals,
            DEAL_COMPANIES,
            DEAL_TO_PRIMARY_COMPANY,
            deal_ids,
        )
        .await
    }

    /// The company each contact is associated with, by contact id: the primary association
    /// where HubSpot marks one, else the first. Contacts without a company are absent.
    pub async fn contact_companies(
        &self,
        contact_ids: &[&str],
    ) -> Result<BTreeMap<String, String>, ConnectorError> {
        self.companies_of(
            ObjectType::Contacts,
            CONTACT_COMPANIES,
            CONTACT_TO_PRIMARY_COMPANY,
            contact_ids,
        )
        .await
    }

    /// One batch read of `from` → company associations at `path`; `primary_type` is the
    /// association type HubSpot gives the primary company in that direction.
    async fn companies_of(
        &self,
        from: ObjectType,
        path: &str,
        primary_type: i64,
        ids: &[&str],
    ) -> Result<BTreeMap<String, String>, ConnectorError> {
        let mut companies = BTreeMap::new();
        if ids.is_empty() {
            return Ok(companies);
        }
        let inputs: Vec<serde_json::Value> = ids.iter().map(|id| json!({ "id": id })).collect();
        let body = json!({ "inputs": inputs });
        let answer = self
            .send(|token| {
                self.api
                    .post(path)
                    .json(&body)
                    .bearer_auth(token)
                    .idempotent()
            })
            .await?;
        let batch: AssociationBatch = self.read_json(answer, from, None)?;
        for result in batch.results {
            let primary = result
                .to
                .iter()
                .find(|to| {
                    to.association_types
                        .iter()
                        .any(|kind| kind.is_primary(primary_type))
                })
                .or_else(|| result.to.first());
            if let Some(company) = primary.and_then(|to| remote_id(&to.to_object_id)) {
                companies.insert(result.from.id, company);
            }
        }
        Ok(companies)
    }

    /// The contact with this email, if any.
    pub async fn find_contact_by_email(
        &self,
        email: &str,
    ) -> Result<Option<RemoteRecord>, ConnectorError> {
        let search = Search {
            equals: Some(("email".to_owned(), email.to_owned())),
            limit: Some(1),
            ..Search::default()
        };
        Ok(self
            .search(ObjectType::Contacts, &search)
            .await?
            .records
            .into_iter()
            .next())
    }

    /// Sends the call built by `build` with the current token; on a 401, refreshes (OAuth)
    /// and sends it once more.
    async fn send(&self, build: impl Fn(&str) -> Call) -> Result<Response, ConnectorError> {
        let grant = self.auth.grant().await?;
        let answer = build(grant.secret()).send().await?;
        if answer.status() != StatusCode::UNAUTHORIZED {
            return Ok(answer);
        }
        let Some(fresh) = self.auth.after_unauthorized(&grant).await? else {
            return Ok(answer);
        };
        Ok(build(fresh.secret()).send().await?)
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        answer: Response,
        object: ObjectType,
        id: Option<&str>,
    ) -> Result<T, ConnectorError> {
        let status = answer.status();
        if status.is_success() {
            return Ok(answer.json()?);
        }
        match status {
            StatusCode::UNAUTHORIZED => Err(ConnectorError::Unauthorized {
                provider: DISPLAY,
                provider_key: PROVIDER,
                credential: match self.auth {
                    Auth::Static(_) => PRIVATE_APP_TOKEN,
                    Auth::OAuth(_) => crate::auth::REFRESH_TOKEN,
                },
                status: status.as_u16(),
            }),
            StatusCode::NOT_FOUND => Err(ConnectorError::NotFound {
                provider: DISPLAY,
                kind: object.singular(),
                id: id.unwrap_or_default().to_owned(),
            }),
            _ if status.is_client_error() => Err(ConnectorError::Rejected {
                provider: DISPLAY,
                status: status.as_u16(),
                category: category(&answer),
            }),
            _ => Err(answer.error_for_status().err().map_or_else(
                || ConnectorError::Invalid(format!("HubSpot answered HTTP {}", status.as_u16())),
                ConnectorError::from,
            )),
        }
    }
}

impl Crm for HubSpot {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn display_name(&self) -> &'static str {
        DISPLAY
    }

    async fn pull(&self, kind: SyncKind, page: &PageRequest) -> Result<RemotePage, ConnectorError> {
        let object = match kind {
            SyncKind::Leads | SyncKind::Contacts => ObjectType::Contacts,
            SyncKind::Accounts => ObjectType::Companies,
            SyncKind::Deals => ObjectType::Deals,
        };
        let search = Search {
            after: page.after.clone(),
            since: page.since,
            ..Search::default()
        };
        let mut found = self.search(object, &search).await?;
        // The search answers without associations: one batch read per page adds the company.
        let (companies, property) = match kind {
            SyncKind::Deals => {
                let ids: Vec<&str> = found.records.iter().map(|r| r.id.as_str()).collect();
                (
                    self.deal_companies(&ids).await?,
                    mapping::HUBSPOT_DEAL_COMPANY,
                )
            }
            SyncKind::Contacts => {
                let ids: Vec<&str> = found.records.iter().map(|r| r.id.as_str()).collect();
                (
                    self.contact_companies(&ids).await?,
                    mapping::HUBSPOT_CONTACT_COMPANY,
                )
            }
            SyncKind::Leads | SyncKind::Accounts => return Ok(found),
        };
        for record in &mut found.records {
            let company = companies.get(&record.id).cloned();
            record.properties.insert(property.to_owned(), company);
        }
        Ok(found)
    }

    fn lead_from(&self, record: &RemoteRecord) -> Result<store::leads::NewLead, String> {
        mapping::lead_from_hubspot_contact(record)
    }

    fn account_from(&self, record: &RemoteRecord) -> Result<store::accounts::NewAccount, String> {
        mapping::account_from_hubspot_company(record)
    }

    fn deal_from(&self, record: &RemoteRecord) -> Result<store::sync::RemoteDeal, String> {
        mapping::deal_from_hubspot_deal(record)
    }

    async fn push_lead(
        &self,
        lead: &store::records::Lead,
        idempotency_key: &str,
    ) -> Result<Pushed, ConnectorError> {
        let properties = mapping::hubspot_contact_from_lead(lead);
        if let Some(remote_id) = &lead.external_id {
            self.update(ObjectType::Contacts, remote_id, &properties)
                .await?;
            return Ok(Pushed {
                remote_id: remote_id.clone(),
                action: PushAction::Updated,
            });
        }
        // HubSpot keys contacts by email: a contact created by an earlier push whose answer
        // was lost (or made by hand) is found and linked instead of duplicated.
        if let Some(existing) = self.find_contact_by_email(&lead.email).await? {
            self.update(ObjectType::Contacts, &existing.id, &properties)
                .await?;
            return Ok(Pushed {
                remote_id: existing.id,
                action: PushAction::Linked,
            });
        }
        let created = self
            .create(ObjectType::Contacts, &properties, idempotency_key)
            .await?;
        Ok(Pushed {
            remote_id: created.id,
            action: PushAction::Created,
        })
    }

    async fn push_deal(
        &self,
        deal: &store::records::Opportunity,
        account_remote_id: Option<&str>,
        idempotency_key: &str,
    ) -> Result<Pushed, ConnectorError> {
        let properties = mapping::hubspot_deal_from_opportunity(deal);
        if let Some(remote_id) = &deal.external_id {
            self.update(ObjectType::Deals, remote_id, &properties)
                .await?;
            if let Some(company) = account_remote_id {
                self.set_deal_company(remote_id, company).await?;
            }
            return Ok(Pushed {
                remote_id: remote_id.clone(),
                action: PushAction::Updated,
            });
        }
        // Deals have no natural key to look up (a lead has its email): the idempotency key,
        // the same for every retry of this version of the deal, is what keeps a retried
        // create from making a second deal.
        let created = self
            .create_deal(&properties, account_remote_id, idempotency_key)
            .await?;
        Ok(Pushed {
            remote_id: created.id,
            action: PushAction::Created,
        })
    }
}

impl ContactSource for HubSpot {
    fn contact_from(
        &self,
        record: &RemoteRecord,
    ) -> Result<store::accounts::RemoteContact, String> {
        mapping::remote_contact_from_hubspot_contact(record)
    }
}

/// How to connect HubSpot, for error messages.
pub fn setup_hint() -> String {
    format!(
        "To connect HubSpot: run `revops vault init` (once per store), then \
         `revops vault set {PROVIDER} {PRIVATE_APP_TOKEN}` with a private-app token; or, for an OAuth \
         app, `revops vault set {PROVIDER} client_id`, `client_secret` and `refresh_token`. Without \
         credentials everything else works on the local store."
    )
}

/// Remote ids go into URL paths: HubSpot's are numeric, so anything else is refused before
/// it can change the path.
fn check_id(id: &str) -> Result<(), ConnectorError> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(ConnectorError::Invalid(
            "a HubSpot record id has only letters, digits, '-' and '_'".to_owned(),
        ))
    }
}

/// HubSpot's error category (`VALIDATION_ERROR`, `CONFLICT`…), kept only when it is a plain
/// code: the message beside it may quote the submitted values.
fn category(answer: &Response) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        category: Option<String>,
    }
    let body: ErrorBody = answer.json().ok()?;
    body.category.filter(|c| {
        !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    })
}

#[derive(serde::Deserialize)]
struct SearchAnswer {
    #[serde(default)]
    results: Vec<RemoteRecord>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(serde::Deserialize)]
struct Paging {
    next: Option<NextPage>,
}

#[derive(serde::Deserialize)]
struct NextPage {
    after: String,
}

/// A v4 association batch read: `{"results": [{"from": {"id"}, "to": [{"toObjectId",
/// "associationTypes": [...]}]}]}` (ids of deals without a company come back in `errors`,
/// with HTTP 207, and are simply absent here).
#[derive(serde::Deserialize)]
struct AssociationBatch {
    #[serde(default)]
    results: Vec<AssociationResult>,
}

#[derive(serde::Deserialize)]
struct AssociationResult {
    from: AssociationFrom,
    #[serde(default)]
    to: Vec<AssociationTo>,
}

#[derive(serde::Deserialize)]
struct AssociationFrom {
    id: String,
}

#[derive(serde::Deserialize)]
struct AssociationTo {
    /// A number in v4 answers; text is accepted too.
    #[serde(rename = "toObjectId")]
    to_object_id: serde_json::Value,
    #[serde(default, rename = "associationTypes")]
    association_types: Vec<AssociationType>,
}

#[derive(serde::Deserialize)]
struct AssociationType {
    #[serde(default, rename = "typeId")]
    type_id: Option<i64>,
    #[serde(default)]
    label: Option<String>,
}

impl AssociationType {
    /// The primary association is labelled `Primary`, and its type id depends on the
    /// direction (deal to company 5, contact to company 1).
    fn is_primary(&self, primary_type: i64) -> bool {
        self.type_id == Some(primary_type) || self.label.as_deref() == Some("Primary")
    }
}

/// The association type of a deal's primary company, as a create or a v4 PUT takes it.
fn primary_company_type() -> serde_json::Value {
    json!({
        "associationCategory": "HUBSPOT_DEFINED",
        "associationTypeId": DEAL_TO_PRIMARY_COMPANY,
    })
}

fn remote_id(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::String(text) if !text.is_empty() => Some(text.clone()),
        _ => None,
    }
}
