//! Salesforce REST: Lead, Account, Contact and Opportunity: get by id, SOQL queries with
//! `nextRecordsUrl` paging, create and update; OAuth 2.0 with refresh.
//!
//! Credentials come from the vault under provider `salesforce`: `client_id`,
//! `client_secret` and `refresh_token` of a connected app, refreshed at
//! `POST /services/oauth2/token` on the login host (`https://login.salesforce.com`, or
//! `https://test.salesforce.com` for a sandbox). Each token answer names the org's API host
//! (`instance_url`); it is kept in the vault beside the access token, and every API call
//! goes to it (the resilience layer takes absolute URLs), unless the configuration pins one.
//!
//! Retries: GET and queries are retried by the resilience layer; PATCH sets absolute values,
//! so it is too. Salesforce's REST API has no idempotency key, so a create is sent once:
//! [`Crm::push_lead`] looks the lead up by email before creating, which is what makes a
//! repeated push safe here. [`Crm::push_deal`] does the same for a deal, which has no email:
//! it looks for an Opportunity with the deal's name on the same Account (or none) created
//! since this version of the deal was saved (less [`LOOKUP_CLOCK_SKEW`]): exactly what an
//! earlier push of this version could have left behind, and not an older deal that happens
//! to share the name.
//!
//! The sync pages with keyset SOQL (`WHERE Id > :last ORDER BY Id LIMIT 200`) rather than
//! query locators, because a locator (`nextRecordsUrl`) expires after about 15 minutes idle
//! and a sync must resume from its cursor hours later. [`Salesforce::query`] and
//! [`Salesforce::query_more`] offer locator paging for one-off reads.

use std::sync::Arc;
use std::time::Duration;

use resilience::{Call, Response, StatusCode, Upstream, UpstreamConfig, UpstreamHealth};
use serde_json::{Map, Value};
use store::Store;
use vault::Vault;

use crate::auth::{Auth, Grant, OAuthSession, OAuthSettings};
use crate::sync::ContactSource;
use crate::{
    ConnectorError, Crm, PageRequest, PushAction, Pushed, RemotePage, RemoteRecord, SyncKind,
    mapping,
};

/// The vault provider of Salesforce credentials.
pub const PROVIDER: &str = "salesforce";
const DISPLAY: &str = "Salesforce";
/// Records per sync page (keyset `LIMIT`).
const PAGE_SIZE: u32 = 200;
/// How far before a deal version's local save time a deal push looks for an Opportunity
/// an earlier push of it created: room for the two clocks to disagree.
pub const LOOKUP_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// A Salesforce object this connector reads and writes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub enum SObject {
    Lead,
    Account,
    Contact,
    Opportunity,
}

impl SObject {
    /// The object's API name, as in `/sobjects/{name}`.
    pub fn as_str(self) -> &'static str {
        match self {
            SObject::Lead => "Lead",
            SObject::Account => "Account",
            SObject::Contact => "Contact",
            SObject::Opportunity => "Opportunity",
        }
    }
}

/// Where Salesforce is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct SalesforceConfig {
    /// The login host's upstream (token requests; API calls go to the instance URL through
    /// the same breaker and limits).
    pub login: UpstreamConfig,
    /// The token endpoint, joined to the login URL unless absolute.
    pub token_url: String,
    /// Pins the API host instead of the `instance_url` the token endpoint names.
    pub instance_url: Option<String>,
    /// REST API version, e.g. `v62.0`.
    pub api_version: String,
    pub refresh_ahead: Duration,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        Self {
            login: UpstreamConfig::salesforce("https://login.salesforce.com"),
            token_url: "/services/oauth2/token".to_owned(),
            instance_url: None,
            api_version: "v62.0".to_owned(),
            refresh_ahead: Duration::from_secs(60),
        }
    }
}

impl SalesforceConfig {
    /// Point the login host (and a relative token URL) elsewhere: a sandbox, a test server.
    pub fn with_login_url(mut self, url: impl Into<String>) -> Self {
        self.login = self.login.with_base_url(url);
        self
    }
}

/// One page of a SOQL query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPage {
    pub records: Vec<RemoteRecord>,
    /// Pass to [`Salesforce::query_more`] for the next page; `None` when done.
    pub next_records_url: Option<String>,
    pub total_size: u64,
}

/// A connection to one Salesforce org. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Salesforce {
    api: Upstream,
    auth: Auth,
    instance_url: Option<Arc<str>>,
    api_version: String,
}

impl Salesforce {
    /// Connects with the credentials in the vault of `store`, opened with the master key in
    /// the environment; [`ConnectorError::NotConfigured`] says how to set them up.
    pub async fn from_env(
        store: &Store,
        config: SalesforceConfig,
    ) -> Result<Salesforce, ConnectorError> {
        let vault = crate::vault_from_env(store, DISPLAY, setup_hint()).await?;
        Salesforce::from_vault(Arc::new(vault), config).await
    }

    /// Connects with the connected app's credentials in `vault`.
    pub async fn from_vault(
        vault: Arc<Vault>,
        config: SalesforceConfig,
    ) -> Result<Salesforce, ConnectorError> {
        match vault.get(PROVIDER, crate::auth::REFRESH_TOKEN).await {
            Ok(_) => {}
            Err(vault::VaultError::NotFound { .. }) => {
                return Err(ConnectorError::NotConfigured {
                    provider: DISPLAY,
                    hint: format!("no Salesforce credentials are stored. {}", setup_hint()),
                });
            }
            Err(error) => return Err(error.into()),
        }
        let api = Upstream::new(config.login)?;
        let settings = OAuthSettings {
            display_name: DISPLAY,
            provider: PROVIDER,
            token_url: config.token_url,
            refresh_ahead: config.refresh_ahead,
            needs_instance_url: config.instance_url.is_none(),
        };
        let session = OAuthSession::new(settings, vault, api.clone()).await?;
        Ok(Salesforce {
            api,
            auth: Auth::OAuth(Arc::new(session)),
            instance_url: config
                .instance_url
                .map(|url| Arc::from(url.trim_end_matches('/'))),
            api_version: config.api_version,
        })
    }

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
    pub async fn get(&self, object: SObject, id: &str) -> Result<RemoteRecord, ConnectorError> {
        check_id(id)?;
        let path = format!("sobjects/{}/{id}", object.as_str());
        let answer = self
            .send(&path, |api, url, token| api.get(url).bearer_auth(token))
            .await?;
        let value: Value = read(answer, object.as_str(), Some(id))?;
        record_from(value)
    }

    /// The first page of a SOQL query.
    pub async fn query(&self, soql: &str) -> Result<QueryPage, ConnectorError> {
        let answer = self
            .send("query", |api, url, token| {
                api.get(url).query(&[("q", soql)]).bearer_auth(token)
            })
            .await?;
        query_page(read(answer, "query", None)?)
    }

    /// The page at a `nextRecordsUrl` from [`Self::query`] or an earlier call.
    pub async fn query_more(&self, next_records_url: &str) -> Result<QueryPage, ConnectorError> {
        let prefix = format!("/services/data/{}/query/", self.api_version);
        let Some(locator) = next_records_url.strip_prefix(&prefix) else {
            return Err(ConnectorError::Invalid(
                "a Salesforce nextRecordsUrl starts with /services/data/<version>/query/"
                    .to_owned(),
            ));
        };
        check_id(locator)?;
        let path = format!("query/{locator}");
        let answer = self
            .send(&path, |api, url, token| api.get(url).bearer_auth(token))
            .await?;
        query_page(read(answer, "query", None)?)
    }

    /// Creates a record and returns its id. Sent once: Salesforce has no idempotency key.
    pub async fn create(
        &self,
        object: SObject,
        fields: &Map<String, Value>,
    ) -> Result<String, ConnectorError> {
        let path = format!("sobjects/{}", object.as_str());
        let answer = self
            .send(&path, |api, url, token| {
                api.post(url).json(fields).bearer_auth(token)
            })
            .await?;
        #[derive(serde::Deserialize)]
        struct Created {
            id: String,
        }
        let created: Created = read(answer, object.as_str(), None)?;
        Ok(created.id)
    }

    /// Sets `fields` on the record (absolute values: safe to repeat).
    pub async fn update(
        &self,
        object: SObject,
        id: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), ConnectorError> {
        check_id(id)?;
        let path = format!("sobjects/{}/{id}", object.as_str());
        let answer = self
            .send(&path, |api, url, token| {
                api.patch(url).json(fields).idempotent().bearer_auth(token)
            })
            .await?;
        if answer.status() == StatusCode::NO_CONTENT {
            return Ok(());
        }
        read::<Value>(answer, object.as_str(), Some(id)).map(drop)
    }

    /// The lead with this email, if any.
    pub async fn find_lead_by_email(
        &self,
        email: &str,
    ) -> Result<Option<RemoteRecord>, ConnectorError> {
        let soql = format!(
            "SELECT {} FROM Lead WHERE Email = '{}' ORDER BY Id LIMIT 1",
            mapping::SALESFORCE_LEAD_FIELDS.join(", "),
            soql_escape(email)
        );
        Ok(self.query(&soql).await?.records.into_iter().next())
    }

    /// The Opportunity named `name` on the Account `account` (`None`: on no Account) created
    /// at or after `created_since`, if any; the lowest Id when there are several.
    pub async fn find_opportunity(
        &self,
        name: &str,
        account: Option<&str>,
        created_since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<RemoteRecord>, ConnectorError> {
        let account = match account {
            Some(id) => {
                check_id(id)?;
                format!("AccountId = '{id}'")
            }
            None => "AccountId = null".to_owned(),
        };
        let soql = format!(
            "SELECT {} FROM Opportunity WHERE Name = '{}' AND {account} AND CreatedDate >= {} \
             ORDER BY Id LIMIT 1",
            mapping::SALESFORCE_OPPORTUNITY_FIELDS.join(", "),
            soql_escape(name),
            created_since.format("%Y-%m-%dT%H:%M:%SZ")
        );
        Ok(self.query(&soql).await?.records.into_iter().next())
    }

    /// `https://{instance}/services/data/{version}/{path}` for this grant.
    fn url(&self, grant: &Grant, path: &str) -> Result<String, ConnectorError> {
        let host = self
            .instance_url
            .as_deref()
            .or(grant.instance_url())
            .ok_or_else(|| {
                ConnectorError::Invalid(
                    "Salesforce's API host is unknown: the token endpoint did not name one"
                        .to_owned(),
                )
            })?;
        Ok(format!("{host}/services/data/{}/{path}", self.api_version))
    }

    /// Sends the call with the current token; on a 401, refreshes and sends it once more.
    async fn send(
        &self,
        path: &str,
        build: impl Fn(&Upstream, &str, &str) -> Call,
    ) -> Result<Response, ConnectorError> {
        let grant = self.auth.grant().await?;
        let answer = build(&self.api, &self.url(&grant, path)?, grant.secret())
            .send()
            .await?;
        if answer.status() != StatusCode::UNAUTHORIZED {
            return Ok(answer);
        }
        let Some(fresh) = self.auth.after_unauthorized(&grant).await? else {
            return Ok(answer);
        };
        Ok(build(&self.api, &self.url(&fresh, path)?, fresh.secret())
            .send()
            .await?)
    }
}

impl Crm for Salesforce {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn display_name(&self) -> &'static str {
        DISPLAY
    }

    async fn pull(&self, kind: SyncKind, page: &PageRequest) -> Result<RemotePage, ConnectorError> {
        let (object, fields) = match kind {
            SyncKind::Leads => (SObject::Lead, mapping::SALESFORCE_LEAD_FIELDS),
            SyncKind::Accounts => (SObject::Account, mapping::SALESFORCE_ACCOUNT_FIELDS),
            SyncKind::Deals => (SObject::Opportunity, mapping::SALESFORCE_OPPORTUNITY_FIELDS),
            SyncKind::Contacts => (SObject::Contact, mapping::SALESFORCE_CONTACT_FIELDS),
        };
        let mut conditions = Vec::new();
        if let Some(after) = &page.after {
            check_id(after)?;
            conditions.push(format!("Id > '{after}'"));
        }
        if let Some(since) = page.since {
            conditions.push(format!(
                "LastModifiedDate >= {}",
                since.format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let soql = format!(
            "SELECT {} FROM {}{filter} ORDER BY Id LIMIT {PAGE_SIZE}",
            fields.join(", "),
            object.as_str()
        );
        let result = self.query(&soql).await?;
        // A full page may have more after it; the cursor is its last id.
        let full = result.records.len() >= PAGE_SIZE as usize;
        let next = if full {
            result.records.last().map(|record| record.id.clone())
        } else {
            None
        };
        Ok(RemotePage {
            records: result.records,
            next,
        })
    }

    fn lead_from(&self, record: &RemoteRecord) -> Result<store::leads::NewLead, String> {
        mapping::lead_from_salesforce_lead(record)
    }

    fn account_from(&self, record: &RemoteRecord) -> Result<store::accounts::NewAccount, String> {
        mapping::account_from_salesforce_account(record)
    }

    fn deal_from(&self, record: &RemoteRecord) -> Result<store::sync::RemoteDeal, String> {
        mapping::deal_from_salesforce_opportunity(record)
    }

    async fn push_lead(
        &self,
        lead: &store::records::Lead,
        _idempotency_key: &str,
    ) -> Result<Pushed, ConnectorError> {
        let fields = mapping::salesforce_lead_from_lead(lead);
        if let Some(remote_id) = &lead.external_id {
            self.update(SObject::Lead, remote_id, &fields).await?;
            return Ok(Pushed {
                remote_id: remote_id.clone(),
                action: PushAction::Updated,
            });
        }
        // No idempotency key in Salesforce: the email lookup is what keeps a repeated push
        // (after a lost answer) from creating a second lead.
        if let Some(existing) = self.find_lead_by_email(&lead.email).await? {
            self.update(SObject::Lead, &existing.id, &fields).await?;
            return Ok(Pushed {
                remote_id: existing.id,
                action: PushAction::Linked,
            });
        }
        let id = self.create(SObject::Lead, &fields).await?;
        Ok(Pushed {
            remote_id: id,
            action: PushAction::Created,
        })
    }

    async fn push_deal(
        &self,
        deal: &store::records::Opportunity,
        account_remote_id: Option<&str>,
        _idempotency_key: &str,
    ) -> Result<Pushed, ConnectorError> {
        let fields = mapping::salesforce_opportunity_from_opportunity(deal, account_remote_id);
        if let Some(remote_id) = &deal.external_id {
            self.update(SObject::Opportunity, remote_id, &fields)
                .await?;
            return Ok(Pushed {
                remote_id: remote_id.clone(),
                action: PushAction::Updated,
            });
        }
        // No idempotency key in Salesforce: the lookup is what keeps a repeated push (after a
        // lost answer) from creating a second Opportunity, as the email lookup does for a lead.
        let saved = chrono::DateTime::parse_from_rfc3339(&deal.updated_at).map_err(|_| {
            ConnectorError::Invalid(format!(
                "deal {} has no valid update time, so an earlier push of it cannot be looked up",
                deal.id
            ))
        })?;
        let skew = chrono::Duration::from_std(LOOKUP_CLOCK_SKEW).unwrap_or_default();
        let since = saved.with_timezone(&chrono::Utc) - skew;
        if let Some(existing) = self
            .find_opportunity(&deal.name, account_remote_id, since)
            .await?
        {
            self.update(SObject::Opportunity, &existing.id, &fields)
                .await?;
            return Ok(Pushed {
                remote_id: existing.id,
                action: PushAction::Linked,
            });
        }
        let id = self.create(SObject::Opportunity, &fields).await?;
        Ok(Pushed {
            remote_id: id,
            action: PushAction::Created,
        })
    }
}

impl ContactSource for Salesforce {
    fn contact_from(
        &self,
        record: &RemoteRecord,
    ) -> Result<store::accounts::RemoteContact, String> {
        mapping::remote_contact_from_salesforce_contact(record)
    }
}

/// How to connect Salesforce, for error messages.
pub fn setup_hint() -> String {
    format!(
        "To connect Salesforce: run `revops vault init` (once per store), then store the connected \
         app's credentials with `revops vault set {PROVIDER} client_id`, `revops vault set {PROVIDER} \
         client_secret` and `revops vault set {PROVIDER} refresh_token`. Without credentials \
         everything else works on the local store."
    )
}

/// Salesforce ids (and query locators) are letters, digits and '-': anything else is
/// refused before it reaches a URL or a SOQL literal.
fn check_id(id: &str) -> Result<(), ConnectorError> {
    if !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(())
    } else {
        Err(ConnectorError::Invalid(
            "a Salesforce record id has only letters, digits and '-'".to_owned(),
        ))
    }
}

/// A string literal's content for SOQL: backslash and quote escaped.
fn soql_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\'' => escaped.push_str("\\'"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            _ => escaped.push(c),
        }
    }
    escaped
}

fn read<T: serde::de::DeserializeOwned>(
    answer: Response,
    what: &'static str,
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
            credential: crate::auth::REFRESH_TOKEN,
            status: status.as_u16(),
        }),
        StatusCode::NOT_FOUND if id.is_some() => Err(ConnectorError::NotFound {
            provider: DISPLAY,
            kind: what,
            id: id.unwrap_or_default().to_owned(),
        }),
        _ if status.is_client_error() => Err(ConnectorError::Rejected {
            provider: DISPLAY,
            status: status.as_u16(),
            category: error_code(&answer),
        }),
        _ => Err(answer.error_for_status().err().map_or_else(
            || ConnectorError::Invalid(format!("Salesforce answered HTTP {}", status.as_u16())),
            ConnectorError::from,
        )),
    }
}

/// Salesforce's `errorCode` (`REQUIRED_FIELD_MISSING`…), kept only when it is a plain code.
fn error_code(answer: &Response) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        #[serde(rename = "errorCode")]
        error_code: Option<String>,
    }
    let items: Vec<ErrorItem> = answer.json().ok()?;
    items
        .into_iter()
        .find_map(|item| item.error_code)
        .filter(|c| {
            !c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
}

fn query_page(value: Value) -> Result<QueryPage, ConnectorError> {
    let decode =
        || ConnectorError::Invalid("Salesforce answered a query in an unexpected shape".to_owned());
    let Value::Object(mut object) = value else {
        return Err(decode());
    };
    let records = match object.remove("records") {
        Some(Value::Array(records)) => records
            .into_iter()
            .map(record_from)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
        Some(_) => return Err(decode()),
    };
    let done = object.get("done").and_then(Value::as_bool).unwrap_or(true);
    let next_records_url = if done {
        None
    } else {
        object
            .get("nextRecordsUrl")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Ok(QueryPage {
        records,
        next_records_url,
        total_size: object.get("totalSize").and_then(Value::as_u64).unwrap_or(0),
    })
}

/// A Salesforce record (typed JSON fields) as a [`RemoteRecord`] (fields as text).
fn record_from(value: Value) -> Result<RemoteRecord, ConnectorError> {
    let Value::Object(fields) = value else {
        return Err(ConnectorError::Invalid(
            "a Salesforce record is not an object".to_owned(),
        ));
    };
    let mut record = RemoteRecord {
        id: String::new(),
        properties: Default::default(),
        updated_at: None,
        archived: false,
    };
    for (name, value) in fields {
        let text = match value {
            Value::Null => None,
            Value::String(text) => Some(text),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Number(number) => Some(number.to_string()),
            // `attributes` and relationship objects are not fields of the record.
            Value::Array(_) | Value::Object(_) => continue,
        };
        match name.as_str() {
            "Id" => record.id = text.clone().unwrap_or_default(),
            "IsDeleted" => record.archived = text.as_deref() == Some("true"),
            "LastModifiedDate" => record.updated_at = text.clone(),
            _ => {}
        }
        record.properties.insert(name, text);
    }
    if record.id.is_empty() {
        return Err(ConnectorError::Invalid(
            "a Salesforce record came without its Id".to_owned(),
        ));
    }
    Ok(record)
}
