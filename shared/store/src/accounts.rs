//! Accounts and their contacts, and the upsert of contacts pulled from a CRM (keyed by
//! their remote id, `contacts.external_id`).

use crate::filter::{Conditions, Listing, fetch_page, page_size};
use crate::records::{Account, Contact, Page};
use crate::rows::{self, ACCOUNT_COLUMNS, CONTACT_COLUMNS};
use crate::{Error, Result, Store, WriteTx};
use sqlx::AssertSqlSafe;

/// Which accounts to list; every field narrows the list when set.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub lifecycle_stage: Option<String>,
    pub plan_tier: Option<String>,
    pub segment: Option<String>,
    pub owner: Option<String>,
    pub csm_owner: Option<String>,
}

/// The account with this id.
pub async fn get(store: &Store, id: &str) -> Result<Account> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read an account", error))?;
    match row {
        Some(row) => rows::account(&row),
        None => Err(Error::NotFound {
            entity: "account",
            id: id.to_string(),
        }),
    }
}

/// The people at an account, decision makers first.
pub async fn contacts_of(store: &Store, account_id: &str) -> Result<Vec<Contact>> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = $1 \
         ORDER BY CASE role WHEN 'decision_maker' THEN 0 WHEN 'champion' THEN 1 ELSE 2 END, id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("read contacts", error))?;
    rows.iter().map(rows::contact).collect()
}

/// One page of accounts in id order; `cursor` is the last id of the previous page.
pub async fn list(
    store: &Store,
    filter: &AccountFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<Account>> {
    let mut conditions = Conditions::default();
    conditions.add("lifecycle_stage", "=", filter.lifecycle_stage.as_deref());
    conditions.add("plan_tier", "=", filter.plan_tier.as_deref());
    conditions.add("segment", "=", filter.segment.as_deref());
    conditions.add("owner", "=", filter.owner.as_deref());
    conditions.add("csm_owner", "=", filter.csm_owner.as_deref());
    conditions.add("id", ">", cursor);
    let limit = page_size(limit, 25, 200);
    let listing = Listing {
        select: format!("SELECT {ACCOUNT_COLUMNS} FROM accounts"),
        order_by: "id",
        action: "list accounts",
    };
    fetch_page(store, listing, &conditions, limit, rows::account, |a| {
        a.id.clone()
    })
    .await
}

/// Accounts and MRR in one lifecycle stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LifecycleTotal {
    /// trial, active, at_risk or churned.
    pub lifecycle_stage: String,
    pub accounts: i64,
    /// Monthly recurring revenue, minor units.
    pub mrr_minor: i64,
}

/// Account count and MRR per lifecycle stage, optionally for one CSM's book.
pub async fn totals_by_lifecycle(
    store: &Store,
    csm_owner: Option<&str>,
) -> Result<Vec<LifecycleTotal>> {
    let rows = sqlx::query(
        "SELECT lifecycle_stage, COUNT(*) AS accounts, CAST(COALESCE(SUM(mrr_minor), 0) AS BIGINT) AS mrr_minor \
         FROM accounts WHERE ($1 = '' OR csm_owner = $1) GROUP BY lifecycle_stage ORDER BY lifecycle_stage",
    )
    .bind(csm_owner.unwrap_or(""))
    .fetch_all(store.pool())
    .await
    .map_err(|error| Error::from_sqlx("total accounts by lifecycle stage", error))?;
    rows.iter()
        .map(|row| {
            Ok(LifecycleTotal {
                lifecycle_stage: rows::get(row, "lifecycle_stage")?,
                accounts: rows::get(row, "accounts")?,
                mrr_minor: rows::get(row, "mrr_minor")?,
            })
        })
        .collect()
}

/// An account to create (from a converted lead, or by hand).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub domain: Option<String>,
    pub industry: String,
    pub employee_count: i64,
    pub country: String,
    pub owner: Option<String>,
    /// trial (the default for a prospect that has not bought yet), active, at_risk or churned.
    pub lifecycle_stage: String,
}

/// The segment a company of this size belongs to.
pub fn segment_for(employee_count: i64) -> &'static str {
    match employee_count {
        ..=199 => "smb",
        200..=999 => "mid_market",
        _ => "enterprise",
    }
}

/// Creates an account; a second account with the same domain is refused, naming the first.
pub async fn create(tx: &mut WriteTx, account: &NewAccount) -> Result<Account> {
    if let Some(domain) = &account.domain
        && let Some(existing) = by_domain_in(tx, domain).await?
    {
        return Err(Error::Conflict(format!(
            "account {} already has the domain {domain}; use it instead of creating a duplicate",
            existing.id
        )));
    }
    let id = crate::ids::new_id("acc");
    let now = crate::clock::now();
    sqlx::query(
        "INSERT INTO accounts (id, name, domain, industry, employee_count, country, plan_tier, lifecycle_stage, \
         segment, mrr_minor, currency, seats_purchased, owner, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'starter', $7, $8, 0, 'USD', 0, $9, $10, $10)",
    )
    .bind(&id)
    .bind(&account.name)
    .bind(account.domain.as_deref())
    .bind(&account.industry)
    .bind(account.employee_count)
    .bind(&account.country)
    .bind(&account.lifecycle_stage)
    .bind(segment_for(account.employee_count))
    .bind(account.owner.as_deref())
    .bind(&now)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("create an account", error))?;
    get_in(tx, &id).await
}

/// The account with this id, read inside a write transaction.
pub async fn get_in(tx: &mut WriteTx, id: &str) -> Result<Account> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read an account", error))?;
    match row {
        Some(row) => rows::account(&row),
        None => Err(Error::NotFound {
            entity: "account",
            id: id.to_string(),
        }),
    }
}

/// The account with this domain (case-insensitive), read inside a write transaction.
pub async fn by_domain_in(tx: &mut WriteTx, domain: &str) -> Result<Option<Account>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE LOWER(domain) = LOWER($1)");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(domain)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("find an account by domain", error))?;
    row.as_ref().map(rows::account).transpose()
}

/// How an existing account matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// Same web domain: almost certainly the same company.
    Domain,
    /// Same name once case, punctuation and legal suffixes are ignored.
    Name,
    /// A similar name (trigram similarity at or above the threshold).
    SimilarName,
}

/// An existing account that may be the company asked about.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct AccountMatch {
    pub account_id: String,
    pub name: String,
    pub domain: Option<String>,
    pub owner: Option<String>,
    pub lifecycle_stage: String,
    pub match_kind: MatchKind,
    /// 0-1; 1 for a domain or exact-name match.
    pub similarity: f64,
}

/// Accounts that may be the company with this domain and/or name, best first (at most
/// `limit`). Names are compared after dropping case, punctuation and legal suffixes
/// ("Acme, Inc." = "ACME"), then by trigram similarity (at least `min_similarity`).
pub async fn find_matches(
    store: &Store,
    domain: Option<&str>,
    name: Option<&str>,
    min_similarity: f64,
    limit: usize,
) -> Result<Vec<AccountMatch>> {
    use futures::TryStreamExt;
    let wanted_domain = domain.map(normalise_domain);
    let wanted_name = name.map(normalise_company_name);
    let wanted_grams = wanted_name.as_deref().map(trigrams);
    let mut rows = sqlx::query("SELECT id, name, domain, owner, lifecycle_stage FROM accounts")
        .fetch(store.pool());
    let mut found: Vec<AccountMatch> = Vec::new();
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|error| Error::from_sqlx("match accounts", error))?
    {
        let account_domain: Option<String> = rows::get(&row, "domain")?;
        let account_name: String = rows::get(&row, "name")?;
        let by_domain = matches!((&wanted_domain, &account_domain), (Some(w), Some(d)) if !w.is_empty() && *w == normalise_domain(d));
        let (kind, similarity) = if by_domain {
            (MatchKind::Domain, 1.0)
        } else if let (Some(wanted), Some(grams)) = (&wanted_name, &wanted_grams) {
            let normalised = normalise_company_name(&account_name);
            if !wanted.is_empty() && normalised == *wanted {
                (MatchKind::Name, 1.0)
            } else {
                let similarity = jaccard(grams, &trigrams(&normalised));
                if similarity < min_similarity {
                    continue;
                }
                (MatchKind::SimilarName, similarity)
            }
        } else {
            continue;
        };
        found.push(AccountMatch {
            account_id: rows::get(&row, "id")?,
            name: account_name,
            domain: account_domain,
            owner: rows::get(&row, "owner")?,
            lifecycle_stage: rows::get(&row, "lifecycle_stage")?,
            match_kind: kind,
            similarity: (similarity * 1000.0).round() / 1000.0,
        });
    }
    found.sort_by(|a, b| {
        (a.match_kind as u8)
            .cmp(&(b.match_kind as u8))
            .then(b.similarity.total_cmp(&a.similarity))
            .then(a.account_id.cmp(&b.account_id))
    });
    found.truncate(limit);
    Ok(found)
}

/// `https://www.Acme.example/` → `acme.example`.
pub fn normalise_domain(domain: &str) -> String {
    let lower = domain.trim().to_ascii_lowercase();
    let without_scheme = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let host = without_scheme.split(['/', '?', '#']).next().unwrap_or("");
    host.strip_prefix("www.").unwrap_or(host).to_string()
}

/// "Acme Software, Inc." → "acme software": lower case, letters and digits, legal suffixes
/// dropped.
pub fn normalise_company_name(name: &str) -> String {
    const SUFFIXES: [&str; 14] = [
        "inc",
        "incorporated",
        "llc",
        "ltd",
        "limited",
        "gmbh",
        "corp",
        "corporation",
        "co",
        "company",
        "plc",
        "sa",
        "ag",
        "bv",
    ];
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let keep = words
        .iter()
        .rposition(|word| !SUFFIXES.contains(word))
        .map_or(0, |last| last + 1);
    words[..keep].join(" ")
}

fn trigrams(text: &str) -> Vec<[char; 3]> {
    let padded: Vec<char> = format!("  {text} ").chars().collect();
    let mut grams: Vec<[char; 3]> = padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

fn jaccard(a: &[[char; 3]], b: &[[char; 3]]) -> f64 {
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - shared;
    if union == 0 {
        0.0
    } else {
        shared as f64 / union as f64
    }
}

/// A contact to create at an account.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub account_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub title: Option<String>,
    /// decision_maker, champion, user or billing.
    pub role: String,
}

/// Creates a contact once per `request_key` (a retry returns the first and `false`); an
/// email already on file is refused, naming the contact that has it.
pub async fn create_contact(
    tx: &mut WriteTx,
    contact: &NewContact,
    request_key: Option<&str>,
) -> Result<(Contact, bool)> {
    if let Some(key) = request_key
        && let Some(existing) = contact_where(tx, "request_key", key).await?
    {
        return Ok((existing, false));
    }
    if let Some(existing) = contact_where(tx, "LOWER(email)", &contact.email.to_lowercase()).await?
    {
        return Err(Error::Conflict(format!(
            "contact {} at account {} already has this email",
            existing.id, existing.account_id
        )));
    }
    crate::require_exists(tx, "accounts", "account", &contact.account_id).await?;
    let id = crate::ids::new_id("con");
    let now = crate::clock::now();
    sqlx::query(
        "INSERT INTO contacts (id, account_id, first_name, last_name, email, phone, title, role, created_at, updated_at, request_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
    )
    .bind(&id)
    .bind(&contact.account_id)
    .bind(&contact.first_name)
    .bind(&contact.last_name)
    .bind(&contact.email)
    .bind(contact.phone.as_deref())
    .bind(contact.title.as_deref())
    .bind(&contact.role)
    .bind(&now)
    .bind(request_key)
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("create a contact", error))?;
    let created = contact_where(tx, "id", &id)
        .await?
        .ok_or(Error::Internal("read a new contact"))?;
    Ok((created, true))
}

/// The contact with this email (case-insensitive), read inside a write transaction.
pub async fn contact_by_email_in(tx: &mut WriteTx, email: &str) -> Result<Option<Contact>> {
    contact_where(tx, "LOWER(email)", &email.to_lowercase()).await
}

async fn contact_where(
    tx: &mut WriteTx,
    column: &'static str,
    value: &str,
) -> Result<Option<Contact>> {
    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE {column} = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a contact", error))?;
    row.as_ref().map(rows::contact).transpose()
}

/// The local account linked to the CRM record `external_id`, if any.
pub async fn id_by_external_id_in(tx: &mut WriteTx, external_id: &str) -> Result<Option<String>> {
    sqlx::query_scalar("SELECT id FROM accounts WHERE external_id = $1")
        .bind(external_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("match an account by external id", error))
}

/// A CRM contact as a sync applies it: the person, already mapped (see the connectors'
/// mapping module), and the CRM id of the company or account they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteContact {
    /// `""` when the CRM has none (a stored name is then kept).
    pub first_name: String,
    /// `""` when the CRM has none (a stored name is then kept).
    pub last_name: String,
    /// Lower case.
    pub email: String,
    pub phone: Option<String>,
    pub title: Option<String>,
    /// The role of a new contact (the CRMs have no such field); an existing contact keeps
    /// its own.
    pub role: String,
    /// The CRM id of the contact's company or account, when the CRM names one.
    pub account_external_id: Option<String>,
}

/// What [`upsert_remote_contact`] did, or why it did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactUpsert {
    Done {
        contact_id: String,
        account_id: String,
        outcome: crate::leads::UpsertOutcome,
    },
    /// A new contact whose company or account is not linked to any local account (or that
    /// names none): nothing was created, because a contact belongs to an account and a sync
    /// never invents one.
    Unlinked { account_external_id: Option<String> },
    /// The local contact with the record's email is linked to another CRM record
    /// (`external_id`), or, for a linked contact whose email changed in the CRM, another
    /// local contact already has the new email: nothing was changed.
    EmailTaken {
        contact_id: String,
        external_id: Option<String>,
    },
}

/// Creates or updates the contact of a CRM record, matched by its remote id
/// (`contacts.external_id`, unique), else by email: a local contact with the same email
/// and no remote id is linked rather than duplicated; one linked to another remote id is
/// reported ([`ContactUpsert::EmailTaken`]). A new contact goes to the local account that
/// carries its company's remote id; an existing one follows the CRM to another linked
/// account, and keeps its account when the CRM names one that is not linked here. Names,
/// email, phone and title come from the CRM where it fills them (an empty CRM field never
/// erases a local value); the role stays local. Running it twice changes nothing.
pub async fn upsert_remote_contact(
    tx: &mut WriteTx,
    external_id: &str,
    remote: &RemoteContact,
) -> Result<ContactUpsert> {
    use crate::leads::UpsertOutcome;
    let email = remote.email.to_lowercase();
    let account_id = match &remote.account_external_id {
        Some(account) => id_by_external_id_in(tx, account).await?,
        None => None,
    };
    let existing = match linked_contact_where(tx, "external_id", external_id).await? {
        Some(found) => Some(found),
        None => match linked_contact_where(tx, "LOWER(email)", &email).await? {
            Some((contact, Some(other))) => {
                return Ok(ContactUpsert::EmailTaken {
                    contact_id: contact.id,
                    external_id: Some(other),
                });
            }
            found => found,
        },
    };
    let Some((existing, linked_to)) = existing else {
        let Some(account_id) = account_id else {
            return Ok(ContactUpsert::Unlinked {
                account_external_id: remote.account_external_id.clone(),
            });
        };
        let new = NewContact {
            account_id: account_id.clone(),
            first_name: remote.first_name.clone(),
            last_name: remote.last_name.clone(),
            email,
            phone: remote.phone.clone(),
            title: remote.title.clone(),
            role: remote.role.clone(),
        };
        let (created, _) = create_contact(tx, &new, None).await?;
        set_contact_external_id(tx, &created.id, external_id).await?;
        return Ok(ContactUpsert::Done {
            contact_id: created.id,
            account_id,
            outcome: UpsertOutcome::Created,
        });
    };
    let mut updated = existing.clone();
    if let Some(account_id) = account_id {
        updated.account_id = account_id;
    }
    if !remote.first_name.is_empty() {
        updated.first_name = remote.first_name.clone();
    }
    if !remote.last_name.is_empty() {
        updated.last_name = remote.last_name.clone();
    }
    if existing.email.to_lowercase() != email {
        if let Some((other, other_link)) = linked_contact_where(tx, "LOWER(email)", &email).await? {
            return Ok(ContactUpsert::EmailTaken {
                contact_id: other.id,
                external_id: other_link,
            });
        }
        updated.email = email;
    }
    if remote.phone.is_some() {
        updated.phone = remote.phone.clone();
    }
    if remote.title.is_some() {
        updated.title = remote.title.clone();
    }
    let relink = linked_to.as_deref() != Some(external_id);
    if updated == existing && !relink {
        return Ok(ContactUpsert::Done {
            contact_id: existing.id,
            account_id: existing.account_id,
            outcome: UpsertOutcome::Unchanged,
        });
    }
    sqlx::query(
        "UPDATE contacts SET external_id = $2, account_id = $3, first_name = $4, last_name = $5, \
         email = $6, phone = $7, title = $8, updated_at = $9 WHERE id = $1",
    )
    .bind(&updated.id)
    .bind(external_id)
    .bind(&updated.account_id)
    .bind(&updated.first_name)
    .bind(&updated.last_name)
    .bind(&updated.email)
    .bind(updated.phone.as_deref())
    .bind(updated.title.as_deref())
    .bind(crate::clock::now())
    .execute(&mut **tx)
    .await
    .map_err(|error| Error::from_sqlx("update a contact from its CRM record", error))?;
    Ok(ContactUpsert::Done {
        contact_id: updated.id,
        account_id: updated.account_id,
        outcome: UpsertOutcome::Updated,
    })
}

/// The remote id a contact is linked to, if any.
pub async fn contact_external_id(store: &Store, contact_id: &str) -> Result<Option<String>> {
    let linked: Option<Option<String>> =
        sqlx::query_scalar("SELECT external_id FROM contacts WHERE id = $1")
            .bind(contact_id)
            .fetch_optional(store.pool())
            .await
            .map_err(|error| Error::from_sqlx("read a contact's CRM link", error))?;
    linked.ok_or_else(|| Error::NotFound {
        entity: "contact",
        id: contact_id.to_string(),
    })
}

async fn set_contact_external_id(
    tx: &mut WriteTx,
    contact_id: &str,
    external_id: &str,
) -> Result<()> {
    sqlx::query("UPDATE contacts SET external_id = $2 WHERE id = $1")
        .bind(contact_id)
        .bind(external_id)
        .execute(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("link a contact to its CRM record", error))?;
    Ok(())
}

/// A contact and the remote id it is linked to, by one column (a constant).
async fn linked_contact_where(
    tx: &mut WriteTx,
    column: &'static str,
    value: &str,
) -> Result<Option<(Contact, Option<String>)>> {
    let sql = format!("SELECT {CONTACT_COLUMNS}, external_id FROM contacts WHERE {column} = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("read a contact", error))?;
    row.as_ref()
        .map(|row| Ok((rows::contact(row)?, rows::get(row, "external_id")?)))
        .transpose()
}

/// The most accounts one bulk update may touch.
pub const MAX_BULK_UPDATE: usize = 5_000;

/// Ids bound per statement in bulk reads and updates (well under both backends' limits).
const BULK_CHUNK: usize = 500;

/// What a bulk update sets on every account it touches; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChanges {
    pub owner: Option<String>,
    pub csm_owner: Option<String>,
    /// smb, mid_market or enterprise.
    pub segment: Option<String>,
    /// trial, active, at_risk or churned.
    pub lifecycle_stage: Option<String>,
}

impl AccountChanges {
    /// True when it sets nothing.
    pub fn is_empty(&self) -> bool {
        self.owner.is_none()
            && self.csm_owner.is_none()
            && self.segment.is_none()
            && self.lifecycle_stage.is_none()
    }
}

/// The fields of an account a bulk update can change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct AccountAssignment {
    /// Account executive.
    pub owner: Option<String>,
    /// Customer success manager.
    pub csm_owner: Option<String>,
    /// smb, mid_market or enterprise.
    pub segment: String,
    /// trial, active, at_risk or churned.
    pub lifecycle_stage: String,
}

impl AccountAssignment {
    fn with(&self, changes: &AccountChanges) -> AccountAssignment {
        AccountAssignment {
            owner: changes.owner.clone().or(self.owner.clone()),
            csm_owner: changes.csm_owner.clone().or(self.csm_owner.clone()),
            segment: changes.segment.clone().unwrap_or(self.segment.clone()),
            lifecycle_stage: changes
                .lifecycle_stage
                .clone()
                .unwrap_or(self.lifecycle_stage.clone()),
        }
    }
}

/// One account's assignment before and after a bulk update.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct AccountChangeSample {
    pub account_id: String,
    pub name: String,
    pub before: AccountAssignment,
    pub after: AccountAssignment,
}

/// What a bulk update did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct BulkAccountUpdate {
    /// Accounts named or matched.
    pub matched: i64,
    /// Accounts whose values changed.
    pub changed: i64,
    /// Accounts that already had the values asked for (left as they were).
    pub unchanged: i64,
    /// The first changed accounts in id order, before and after.
    pub sample: Vec<AccountChangeSample>,
}

/// The ids of the accounts matching `filter`, in id order, at most `limit + 1` of them (so
/// a caller can tell that more than `limit` match).
pub async fn ids_matching_in(
    tx: &mut WriteTx,
    filter: &AccountFilter,
    limit: usize,
) -> Result<Vec<String>> {
    let mut conditions = Conditions::default();
    conditions.add("lifecycle_stage", "=", filter.lifecycle_stage.as_deref());
    conditions.add("plan_tier", "=", filter.plan_tier.as_deref());
    conditions.add("segment", "=", filter.segment.as_deref());
    conditions.add("owner", "=", filter.owner.as_deref());
    conditions.add("csm_owner", "=", filter.csm_owner.as_deref());
    let sql = format!(
        "SELECT id FROM accounts{} ORDER BY id LIMIT ${}",
        conditions.where_clause(),
        conditions.next_placeholder()
    );
    let mut query = sqlx::query_scalar(AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    query
        .bind(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1))
        .fetch_all(&mut **tx)
        .await
        .map_err(|error| Error::from_sqlx("find accounts by filter", error))
}

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The current assignment and name of each existing account among `ids`.
async fn assignments_in(
    tx: &mut WriteTx,
    ids: &[String],
) -> Result<std::collections::BTreeMap<String, (String, AccountAssignment)>> {
    let mut found = std::collections::BTreeMap::new();
    for chunk in ids.chunks(BULK_CHUNK) {
        let sql = format!(
            "SELECT id, name, owner, csm_owner, segment, lifecycle_stage FROM accounts WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.as_str());
        }
        let rows = query
            .fetch_all(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("read accounts", error))?;
        for row in &rows {
            found.insert(
                rows::get::<String>(row, "id")?,
                (
                    rows::get(row, "name")?,
                    AccountAssignment {
                        owner: rows::get(row, "owner")?,
                        csm_owner: rows::get(row, "csm_owner")?,
                        segment: rows::get(row, "segment")?,
                        lifecycle_stage: rows::get(row, "lifecycle_stage")?,
                    },
                ),
            );
        }
    }
    Ok(found)
}

/// The ids among `ids` that name no account, in the order given.
pub async fn missing_ids_in(tx: &mut WriteTx, ids: &[String]) -> Result<Vec<String>> {
    let found = assignments_in(tx, ids).await?;
    Ok(ids
        .iter()
        .filter(|id| !found.contains_key(*id))
        .cloned()
        .collect())
}

/// Applies `changes` to every account in `ids` (distinct, all existing: an unknown id fails
/// the whole update) in the caller's transaction. Accounts that already have the values
/// are left untouched (their `updated_at` too). Entering `churned` stamps `churned_at` if
/// unset; leaving it clears `churned_at`.
pub async fn bulk_update(
    tx: &mut WriteTx,
    ids: &[String],
    changes: &AccountChanges,
    sample_size: usize,
) -> Result<BulkAccountUpdate> {
    let before = assignments_in(tx, ids).await?;
    if let Some(missing) = ids.iter().find(|id| !before.contains_key(*id)) {
        return Err(Error::NotFound {
            entity: "account",
            id: missing.clone(),
        });
    }
    let mut changed_ids: Vec<&String> = Vec::new();
    let mut sample = Vec::new();
    for (id, (name, current)) in &before {
        let after = current.with(changes);
        if after != *current {
            changed_ids.push(id);
            if sample.len() < sample_size {
                sample.push(AccountChangeSample {
                    account_id: id.clone(),
                    name: name.clone(),
                    before: current.clone(),
                    after,
                });
            }
        }
    }
    // Constant SQL per kind of stage change; the values are bound.
    let churned_at = match changes.lifecycle_stage.as_deref() {
        None => "churned_at",
        Some("churned") => "COALESCE(churned_at, $5)",
        Some(_) => "NULL",
    };
    let now = crate::clock::now();
    for chunk in changed_ids.chunks(BULK_CHUNK) {
        let sql = format!(
            "UPDATE accounts SET owner = COALESCE($1, owner), csm_owner = COALESCE($2, csm_owner), \
             segment = COALESCE($3, segment), lifecycle_stage = COALESCE($4, lifecycle_stage), \
             churned_at = {churned_at}, updated_at = $5 WHERE id IN ({})",
            placeholders(6, chunk.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(changes.owner.as_deref())
            .bind(changes.csm_owner.as_deref())
            .bind(changes.segment.as_deref())
            .bind(changes.lifecycle_stage.as_deref())
            .bind(&now);
        for id in chunk {
            query = query.bind(id.as_str());
        }
        query
            .execute(&mut **tx)
            .await
            .map_err(|error| Error::from_sqlx("update accounts", error))?;
    }
    let matched = i64::try_from(before.len()).unwrap_or(i64::MAX);
    let changed = i64::try_from(changed_ids.len()).unwrap_or(i64::MAX);
    Ok(BulkAccountUpdate {
        matched,
        changed,
        unchanged: matched - changed,
        sample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_names_match_without_case_punctuation_or_legal_suffix() {
        assert_eq!(
            normalise_company_name("Acme Software, Inc."),
            "acme software"
        );
        assert_eq!(normalise_company_name("ACME SOFTWARE"), "acme software");
        assert_eq!(
            normalise_domain("https://www.Acme.example/pricing"),
            "acme.example"
        );
        let close = jaccard(
            &trigrams("northwind traders"),
            &trigrams("northwind trader"),
        );
        let far = jaccard(
            &trigrams("northwind traders"),
            &trigrams("blue harbor labs"),
        );
        assert!(close > 0.7 && far < 0.2, "{close} {far}");
    }
}
