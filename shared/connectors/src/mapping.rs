//! Every field mapping between CRM records and store records, in one place.
//!
//! # HubSpot contact ↔ lead
//!
//! | lead             | HubSpot contact property | pulled when missing             |
//! |------------------|--------------------------|---------------------------------|
//! | `external_id`    | the record id            | (always present)                |
//! | `email`          | `email` (lower-cased)    | the record is **skipped**       |
//! | `first_name`     | `firstname`              | `""`                            |
//! | `last_name`      | `lastname`               | `""`                            |
//! | `company_name`   | `company`                | [`UNKNOWN`]                     |
//! | `domain`         | `website` (host only)    | `None`                          |
//! | `industry`       | `industry`               | [`UNKNOWN`]                     |
//! | `employee_count` | `numemployees`           | [`DEFAULT_EMPLOYEE_COUNT`] (0)  |
//! | `country`        | `country`                | [`UNKNOWN`]                     |
//! | `title`          | `jobtitle`               | `None`                          |
//! | `source`         | constant [`HUBSPOT_SOURCE`] |                              |
//!
//! Defaults are chosen to be visibly "not known" rather than plausible guesses: a country of
//! "US" would be wrong for every non-US contact and silently skew reports, while "unknown"
//! is honest and easy to filter. Scoring reads neither field. Owner, campaign and the
//! engagement signals are local: a pull leaves them as they are.
//!
//! # HubSpot company / Salesforce Account → account (pull only)
//!
//! | account          | HubSpot company      | Salesforce Account    | when missing           |
//! |------------------|----------------------|-----------------------|------------------------|
//! | `external_id`    | the record id        | `Id`                  |                        |
//! | `name`           | `name`               | `Name`                | the record is skipped  |
//! | `domain`         | `domain`             | `Website` (host only) | `None`                 |
//! | `industry`       | `industry`           | `Industry`            | [`UNKNOWN`]            |
//! | `employee_count` | `numberofemployees`  | `NumberOfEmployees`   | 0                      |
//! | `country`        | `country`            | `BillingCountry`      | [`UNKNOWN`]            |
//! | `lifecycle_stage`| `lifecyclestage` is `customer` or `evangelist` → `active`, else `trial` | `Type` starts with `Customer` → `active`, else `trial` | `trial` |
//!
//! `trial` is the store's stage for a company that has not bought yet. The plan tier starts
//! at `starter` and MRR at 0 (the CRMs do not hold them); the segment follows from the size.
//! After creation the lifecycle is the CS team's: a sync only promotes `trial` to `active`.
//!
//! # Salesforce Lead ↔ lead
//!
//! Same defaults; fields `Email`, `FirstName`, `LastName`, `Company`, `Website`, `Industry`,
//! `NumberOfEmployees` (a number), `Country`, `Title`; source [`SALESFORCE_SOURCE`].
//! Salesforce requires `LastName` and `Company` on a Lead, so a push sends
//! [`SALESFORCE_NOT_PROVIDED`] (Salesforce's own convention) where ours are empty or unknown.
//!
//! `numemployees` is a range on HubSpot contacts (`25-50`, `1000+`); its lower bound is
//! kept. Pushing does the reverse: the count goes back as the range that contains it, and
//! fields holding a default ("unknown", 0) are not sent, so a push never overwrites a value
//! in HubSpot with our placeholder.
//!
//! # HubSpot deal / Salesforce Opportunity → opportunity (pull)
//!
//! | opportunity      | HubSpot deal                         | Salesforce Opportunity | when missing          |
//! |------------------|--------------------------------------|------------------------|-----------------------|
//! | `external_id`    | the record id                        | `Id`                   |                       |
//! | `name`           | `dealname`                           | `Name`                 | the record is skipped |
//! | `stage`          | `dealstage` (see [`stage_from_hubspot`]) | `StageName` (see [`stage_from_salesforce`]) | the record is skipped |
//! | `amount_minor`   | `amount` (decimal text)              | `Amount` (a number)    | 0                     |
//! | `currency`       | `deal_currency_code`                 | [`DEFAULT_CURRENCY`]   | [`DEFAULT_CURRENCY`]  |
//! | `close_date`     | `closedate` (date part)              | `CloseDate`            | the record is skipped |
//! | `account_id`     | the deal's primary associated company, by its remote id | `AccountId` | the record is skipped as unlinked |
//!
//! A deal is linked to the local account that carries its company's (account's) remote id;
//! a deal whose company is not synced yet is reported, never given an invented account:
//! sync accounts first. The amount is converted to minor units by the currency's exponent
//! (JPY has none, KWD three) without going through floating point. Salesforce's
//! `CurrencyIsoCode` exists only in multi-currency orgs (asking for it elsewhere fails the
//! query), so Salesforce amounts are read in [`DEFAULT_CURRENCY`]. Owner, probability and
//! the lead stay local. A stage outside the tables is read from the CRM's own closed flags
//! (`hs_is_closed_won`/`hs_is_closed`, `IsWon`/`IsClosed`); an open stage the tables do not
//! know skips the record and names the stage, rather than guessing where it sits.
//!
//! # Salesforce Contact ↔ contact
//!
//! | contact      | Salesforce Contact | pulled when missing                  |
//! |--------------|--------------------|--------------------------------------|
//! | `account_id` | `AccountId` (the local account with that remote id, resolved by the caller) | the record is skipped |
//! | `email`      | `Email` (lower-cased) | the record is **skipped**         |
//! | `first_name` | `FirstName`        | `""`                                 |
//! | `last_name`  | `LastName`         | `""` (pushed as [`SALESFORCE_NOT_PROVIDED`], Salesforce requires it) |
//! | `phone`      | `Phone`            | `None`                               |
//! | `title`      | `Title`            | `None`                               |
//! | `role`       | (none in Salesforce) | [`DEFAULT_CONTACT_ROLE`]           |
//!
//! # HubSpot contact at a company → contact (pull only, sync kind `contacts`)
//!
//! | contact      | HubSpot contact      | pulled when missing                    |
//! |--------------|----------------------|----------------------------------------|
//! | `external_id`| the record id        |                                        |
//! | `account_id` | the contact's primary associated company (else its first), by its remote id | the record is skipped as unlinked |
//! | `email`      | `email` (lower-cased) | the record is **skipped**             |
//! | `first_name` | `firstname`          | `""`                                   |
//! | `last_name`  | `lastname`           | `""`                                   |
//! | `phone`      | `phone`              | `None`                                 |
//! | `title`      | `jobtitle`           | `None`                                 |
//! | `role`       | (none in HubSpot)    | [`DEFAULT_CONTACT_ROLE`]               |
//!
//! A pulled contact (either CRM) is linked to the local account that carries its company's
//! (account's) remote id; one whose company is not synced yet is reported as unlinked,
//! never given an invented account: sync accounts first. A HubSpot contact with no company
//! at all is a lead, not a contact: kind `leads` pulls it. On an existing contact a field
//! the CRM leaves empty keeps its local value, and the role stays local.
//!
//! # Opportunity → HubSpot deal / Salesforce Opportunity (push)
//!
//! | opportunity    | HubSpot deal                                   | Salesforce Opportunity          |
//! |----------------|------------------------------------------------|---------------------------------|
//! | `name`         | `dealname`                                     | `Name`                          |
//! | `stage`        | `dealstage`: the first default-pipeline stage of the local stage ([`hubspot_stage_of`]) | `StageName`: the first standard stage of the local stage ([`salesforce_stage_of`]) |
//! | `amount_minor` | `amount`: major units as decimal text (`1234.50`) | `Amount`: major units, a number |
//! | `currency`     | `deal_currency_code`                           | (not sent: see above)           |
//! | `close_date`   | `closedate`: midnight UTC of the date          | `CloseDate`                     |
//! | `account_id`   | associated as the primary company, when the account has a remote id | `AccountId`, when the account has a remote id |
//!
//! Amount and close date are converted here and nowhere else ([`major_units_text`],
//! [`hubspot_close_date`]); both read back to the same values by the pull. No `pipeline` is
//! sent: HubSpot puts a new deal in the default pipeline, whose stage ids these are, and an
//! update leaves a deal's pipeline as it is. Owner, probability and the lead stay local.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use store::accounts::{NewAccount, NewContact, RemoteContact};
use store::leads::NewLead;
use store::records::{Contact, Lead, Opportunity};
use store::sync::RemoteDeal;

use crate::RemoteRecord;
use crate::hubspot::ObjectType;

/// The value of a text field the CRM does not fill.
pub const UNKNOWN: &str = "unknown";
/// The employee count of a contact without `numemployees`.
pub const DEFAULT_EMPLOYEE_COUNT: i64 = 0;
/// The `source` of a lead pulled from HubSpot.
pub const HUBSPOT_SOURCE: &str = "hubspot";
/// The `source` of a lead pulled from Salesforce.
pub const SALESFORCE_SOURCE: &str = "salesforce";
/// What a push sends for a Salesforce field that is required but unknown here.
pub const SALESFORCE_NOT_PROVIDED: &str = "[not provided]";

/// The Account fields a sync reads.
pub const SALESFORCE_ACCOUNT_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Website",
    "Industry",
    "NumberOfEmployees",
    "BillingCountry",
    "Type",
    "LastModifiedDate",
];

/// The Lead fields a sync reads.
pub const SALESFORCE_LEAD_FIELDS: &[&str] = &[
    "Id",
    "Email",
    "FirstName",
    "LastName",
    "Company",
    "Website",
    "Industry",
    "NumberOfEmployees",
    "Country",
    "Title",
    "LastModifiedDate",
];

const CONTACT_PROPERTIES: &[&str] = &[
    "email",
    "firstname",
    "lastname",
    "company",
    "website",
    "industry",
    "numemployees",
    "country",
    "jobtitle",
    "phone",
    "lastmodifieddate",
];
const COMPANY_PROPERTIES: &[&str] = &[
    "name",
    "domain",
    "industry",
    "numberofemployees",
    "country",
    "annualrevenue",
    "lifecyclestage",
    "hs_lastmodifieddate",
];
const DEAL_PROPERTIES: &[&str] = &[
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "pipeline",
    "closedate",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_lastmodifieddate",
];

/// The Opportunity fields a sync reads.
pub const SALESFORCE_OPPORTUNITY_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "StageName",
    "Amount",
    "CloseDate",
    "AccountId",
    "IsClosed",
    "IsWon",
    "LastModifiedDate",
];

/// The Contact fields a sync reads.
pub const SALESFORCE_CONTACT_FIELDS: &[&str] = &[
    "Id",
    "AccountId",
    "Email",
    "FirstName",
    "LastName",
    "Phone",
    "Title",
    "LastModifiedDate",
];

/// The currency of a deal whose CRM names none (and of every Salesforce deal, see above).
pub const DEFAULT_CURRENCY: &str = "USD";
/// The role of a contact pulled from a CRM that has no such field.
pub const DEFAULT_CONTACT_ROLE: &str = "user";
/// The property [`crate::HubSpot`] fills with a deal's primary associated company id (the
/// search API does not return associations).
pub const HUBSPOT_DEAL_COMPANY: &str = "revops_associated_company_id";
/// The property [`crate::HubSpot`] fills with a contact's primary associated company id,
/// when pulled for sync kind `contacts`.
pub const HUBSPOT_CONTACT_COMPANY: &str = "revops_associated_company_id";

/// The properties asked for when reading `object`.
pub fn hubspot_properties(object: ObjectType) -> &'static [&'static str] {
    match object {
        ObjectType::Contacts => CONTACT_PROPERTIES,
        ObjectType::Companies => COMPANY_PROPERTIES,
        ObjectType::Deals => DEAL_PROPERTIES,
    }
}

/// The lead of a HubSpot contact, or why it is skipped.
pub fn lead_from_hubspot_contact(record: &RemoteRecord) -> Result<NewLead, String> {
    if record.archived {
        return Err("archived in HubSpot".to_owned());
    }
    let Some(email) = record.property("email") else {
        return Err("no email (the store keys leads by email)".to_owned());
    };
    let email = email.to_lowercase();
    if !email.contains('@') || email.len() > 320 {
        return Err("the email is not valid".to_owned());
    }
    let text = |name: &str| record.property(name).map(str::to_owned);
    Ok(NewLead {
        email,
        first_name: text("firstname").unwrap_or_default(),
        last_name: text("lastname").unwrap_or_default(),
        company_name: text("company").unwrap_or_else(|| UNKNOWN.to_owned()),
        domain: record.property("website").and_then(host_of),
        industry: text("industry").unwrap_or_else(|| UNKNOWN.to_owned()),
        employee_count: record
            .property("numemployees")
            .and_then(lower_bound)
            .unwrap_or(DEFAULT_EMPLOYEE_COUNT),
        country: text("country").unwrap_or_else(|| UNKNOWN.to_owned()),
        title: text("jobtitle"),
        source: HUBSPOT_SOURCE.to_owned(),
        owner: None,
        campaign_id: None,
        external_id: Some(record.id.clone()),
        signals: None,
    })
}

/// The account of a HubSpot company, or why it is skipped.
pub fn account_from_hubspot_company(record: &RemoteRecord) -> Result<NewAccount, String> {
    let customer = matches!(
        record.property("lifecyclestage"),
        Some("customer" | "evangelist")
    );
    account_from(
        record,
        ["name", "domain", "industry", "numberofemployees", "country"],
        customer,
    )
}

/// The account of a Salesforce Account, or why it is skipped.
pub fn account_from_salesforce_account(record: &RemoteRecord) -> Result<NewAccount, String> {
    let customer = record
        .property("Type")
        .is_some_and(|kind| kind.starts_with("Customer"));
    account_from(
        record,
        [
            "Name",
            "Website",
            "Industry",
            "NumberOfEmployees",
            "BillingCountry",
        ],
        customer,
    )
}

/// `fields`: the remote names of name, website or domain, industry, size and country.
fn account_from(
    record: &RemoteRecord,
    [name, website, industry, size, country]: [&str; 5],
    customer: bool,
) -> Result<NewAccount, String> {
    if record.archived {
        return Err("archived in the CRM".to_owned());
    }
    let Some(account_name) = record.property(name) else {
        return Err("no company name".to_owned());
    };
    let text = |field: &str| {
        record
            .property(field)
            .map_or_else(|| UNKNOWN.to_owned(), str::to_owned)
    };
    Ok(NewAccount {
        name: account_name.to_owned(),
        domain: record.property(website).and_then(host_of),
        industry: text(industry),
        employee_count: record
            .property(size)
            .and_then(lower_bound)
            .unwrap_or(DEFAULT_EMPLOYEE_COUNT),
        country: text(country),
        owner: None,
        lifecycle_stage: if customer { "active" } else { "trial" }.to_owned(),
    })
}

/// The lead of a Salesforce Lead, or why it is skipped.
pub fn lead_from_salesforce_lead(record: &RemoteRecord) -> Result<NewLead, String> {
    let renamed = RemoteRecord {
        id: record.id.clone(),
        properties: [
            ("email", "Email"),
            ("firstname", "FirstName"),
            ("lastname", "LastName"),
            ("company", "Company"),
            ("website", "Website"),
            ("industry", "Industry"),
            ("numemployees", "NumberOfEmployees"),
            ("country", "Country"),
            ("jobtitle", "Title"),
        ]
        .into_iter()
        .map(|(ours, theirs)| {
            let value = record
                .property(theirs)
                .filter(|v| *v != SALESFORCE_NOT_PROVIDED);
            (ours.to_owned(), value.map(str::to_owned))
        })
        .collect(),
        updated_at: record.updated_at.clone(),
        archived: record.archived,
    };
    let mut lead = lead_from_hubspot_contact(&renamed)
        .map_err(|reason| reason.replace("HubSpot", "Salesforce"))?;
    lead.source = SALESFORCE_SOURCE.to_owned();
    Ok(lead)
}

/// The Salesforce Lead fields of a lead; defaults are left out, except the two Salesforce
/// requires.
pub fn salesforce_lead_from_lead(lead: &Lead) -> Map<String, Value> {
    let mut fields = Map::new();
    let mut set = |name: &str, value: &str| {
        let value = value.trim();
        if !value.is_empty() && value != UNKNOWN {
            fields.insert(name.to_owned(), Value::String(value.to_owned()));
        }
    };
    set("Email", &lead.email);
    set("FirstName", &lead.first_name);
    set("LastName", &lead.last_name);
    set("Company", &lead.company_name);
    set("Industry", &lead.industry);
    set("Country", &lead.country);
    if let Some(domain) = &lead.domain {
        set("Website", domain);
    }
    if let Some(title) = &lead.title {
        set("Title", title);
    }
    for required in ["LastName", "Company"] {
        fields
            .entry(required)
            .or_insert_with(|| Value::String(SALESFORCE_NOT_PROVIDED.to_owned()));
    }
    if lead.employee_count > 0 {
        fields.insert(
            "NumberOfEmployees".to_owned(),
            Value::from(lead.employee_count),
        );
    }
    fields
}

/// The HubSpot contact properties of a lead; defaults and empty values are left out.
pub fn hubspot_contact_from_lead(lead: &Lead) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    let mut set = |name: &str, value: &str| {
        let value = value.trim();
        if !value.is_empty() && value != UNKNOWN {
            properties.insert(name.to_owned(), value.to_owned());
        }
    };
    set("email", &lead.email);
    set("firstname", &lead.first_name);
    set("lastname", &lead.last_name);
    set("company", &lead.company_name);
    set("industry", &lead.industry);
    set("country", &lead.country);
    if let Some(domain) = &lead.domain {
        set("website", domain);
    }
    if let Some(title) = &lead.title {
        set("jobtitle", title);
    }
    if let Some(range) = employee_range(lead.employee_count) {
        set("numemployees", range);
    }
    properties
}

/// HubSpot's default-pipeline `dealstage` ids and the local stage of each.
const HUBSPOT_STAGES: &[(&str, &str)] = &[
    ("appointmentscheduled", "prospecting"),
    ("qualifiedtobuy", "qualification"),
    ("presentationscheduled", "proposal"),
    ("decisionmakerboughtin", "negotiation"),
    ("contractsent", "negotiation"),
    ("closedwon", "closed_won"),
    ("closedlost", "closed_lost"),
];

/// Salesforce's standard `StageName` values and the local stage of each; the first of each
/// local stage is what a push sends.
const SALESFORCE_STAGES: &[(&str, &str)] = &[
    ("Prospecting", "prospecting"),
    ("Qualification", "qualification"),
    ("Needs Analysis", "qualification"),
    ("Proposal/Price Quote", "proposal"),
    ("Value Proposition", "proposal"),
    ("Id. Decision Makers", "proposal"),
    ("Perception Analysis", "proposal"),
    ("Negotiation/Review", "negotiation"),
    ("Closed Won", "closed_won"),
    ("Closed Lost", "closed_lost"),
];

/// The local stage of a HubSpot `dealstage` id (case-insensitive); `None` for a stage of a
/// custom pipeline.
pub fn stage_from_hubspot(dealstage: &str) -> Option<&'static str> {
    let dealstage = dealstage.trim();
    HUBSPOT_STAGES
        .iter()
        .find(|(theirs, _)| theirs.eq_ignore_ascii_case(dealstage))
        .map(|(_, ours)| *ours)
}

/// The local stage of a Salesforce `StageName` (case-insensitive); `None` for an org's own
/// stage names.
pub fn stage_from_salesforce(stage_name: &str) -> Option<&'static str> {
    let stage_name = stage_name.trim();
    SALESFORCE_STAGES
        .iter()
        .find(|(theirs, _)| theirs.eq_ignore_ascii_case(stage_name))
        .map(|(_, ours)| *ours)
}

/// The Salesforce `StageName` a push sends for a local stage.
pub fn salesforce_stage_of(stage: &str) -> Option<&'static str> {
    SALESFORCE_STAGES
        .iter()
        .find(|(_, ours)| *ours == stage)
        .map(|(theirs, _)| *theirs)
}

/// The HubSpot `dealstage` id a push sends for a local stage (default pipeline).
pub fn hubspot_stage_of(stage: &str) -> Option<&'static str> {
    HUBSPOT_STAGES
        .iter()
        .find(|(_, ours)| *ours == stage)
        .map(|(theirs, _)| *theirs)
}

/// The HubSpot deal properties of a deal (see the push table above).
pub fn hubspot_deal_from_opportunity(deal: &Opportunity) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    properties.insert("dealname".to_owned(), deal.name.clone());
    if let Some(stage) = hubspot_stage_of(&deal.stage) {
        properties.insert("dealstage".to_owned(), stage.to_owned());
    }
    properties.insert(
        "amount".to_owned(),
        major_units_text(deal.amount_minor, &deal.currency),
    );
    properties.insert("deal_currency_code".to_owned(), deal.currency.clone());
    properties.insert("closedate".to_owned(), hubspot_close_date(&deal.close_date));
    properties
}

/// A close date (`2026-12-31`) as HubSpot's `closedate`, a date-time: midnight UTC of that
/// day, which the pull reads back as the same date.
pub fn hubspot_close_date(close_date: &str) -> String {
    format!("{close_date}T00:00:00.000Z")
}

/// The opportunity of a HubSpot deal, or why it is skipped.
pub fn deal_from_hubspot_deal(record: &RemoteRecord) -> Result<RemoteDeal, String> {
    let currency = record
        .property("deal_currency_code")
        .unwrap_or(DEFAULT_CURRENCY);
    deal_from(
        record,
        DealFields {
            name: "dealname",
            stage: record.property("dealstage").and_then(stage_from_hubspot),
            stage_name: record.property("dealstage"),
            won: "hs_is_closed_won",
            closed: "hs_is_closed",
            amount: "amount",
            close_date: "closedate",
            account: HUBSPOT_DEAL_COMPANY,
        },
        currency,
    )
}

/// The opportunity of a Salesforce Opportunity, or why it is skipped.
pub fn deal_from_salesforce_opportunity(record: &RemoteRecord) -> Result<RemoteDeal, String> {
    deal_from(
        record,
        DealFields {
            name: "Name",
            stage: record.property("StageName").and_then(stage_from_salesforce),
            stage_name: record.property("StageName"),
            won: "IsWon",
            closed: "IsClosed",
            amount: "Amount",
            close_date: "CloseDate",
            account: "AccountId",
        },
        DEFAULT_CURRENCY,
    )
}

/// Where a CRM keeps each field of a deal; `stage` is the mapped stage, if the table knows
/// `stage_name`.
struct DealFields<'a> {
    name: &'a str,
    stage: Option<&'static str>,
    stage_name: Option<&'a str>,
    won: &'a str,
    closed: &'a str,
    amount: &'a str,
    close_date: &'a str,
    account: &'a str,
}

fn deal_from(
    record: &RemoteRecord,
    fields: DealFields<'_>,
    currency: &str,
) -> Result<RemoteDeal, String> {
    if record.archived {
        return Err("archived in the CRM".to_owned());
    }
    let Some(name) = record.property(fields.name) else {
        return Err("no deal name".to_owned());
    };
    let flag = |field: &str| record.property(field) == Some("true");
    let stage = match fields.stage {
        Some(stage) => stage,
        None if flag(fields.won) => "closed_won",
        None if flag(fields.closed) => "closed_lost",
        None => {
            return Err(match fields.stage_name {
                Some(stage) => format!("its stage {stage:?} has no local stage in the mapping"),
                None => "no stage".to_owned(),
            });
        }
    };
    let currency = currency.trim().to_ascii_uppercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("its currency {currency:?} is not an ISO 4217 code"));
    }
    let amount_minor = match record.property(fields.amount) {
        Some(amount) => minor_units(amount, &currency)?,
        None => 0,
    };
    let Some(close_date) = record.property(fields.close_date).and_then(date_part) else {
        return Err("no valid close date".to_owned());
    };
    Ok(RemoteDeal {
        name: name.to_owned(),
        stage: stage.to_owned(),
        amount_minor,
        currency,
        close_date,
        account_external_id: record.property(fields.account).map(str::to_owned),
    })
}

/// The Salesforce Opportunity fields of a deal; `account_remote_id` is the `Id` of its
/// account's Salesforce record, when linked.
pub fn salesforce_opportunity_from_opportunity(
    deal: &Opportunity,
    account_remote_id: Option<&str>,
) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("Name".to_owned(), Value::String(deal.name.clone()));
    if let Some(stage) = salesforce_stage_of(&deal.stage) {
        fields.insert("StageName".to_owned(), Value::String(stage.to_owned()));
    }
    if let Some(amount) = major_units(deal.amount_minor, &deal.currency) {
        fields.insert("Amount".to_owned(), amount);
    }
    fields.insert(
        "CloseDate".to_owned(),
        Value::String(deal.close_date.clone()),
    );
    if let Some(account) = account_remote_id {
        fields.insert("AccountId".to_owned(), Value::String(account.to_owned()));
    }
    fields
}

/// The contact of a Salesforce Contact under the local account `account_id` (the one
/// linked to the Contact's `AccountId`), or why it is skipped.
pub fn contact_from_salesforce_contact(
    record: &RemoteRecord,
    account_id: &str,
) -> Result<NewContact, String> {
    let remote = remote_contact_from_salesforce_contact(record)?;
    Ok(NewContact {
        account_id: account_id.to_owned(),
        first_name: remote.first_name,
        last_name: remote.last_name,
        email: remote.email,
        phone: remote.phone,
        title: remote.title,
        role: remote.role,
    })
}

/// The contact of a Salesforce Contact, with the `Id` of its Account, or why it is skipped.
pub fn remote_contact_from_salesforce_contact(
    record: &RemoteRecord,
) -> Result<RemoteContact, String> {
    contact_from(
        record,
        [
            "Email",
            "FirstName",
            "LastName",
            "Phone",
            "Title",
            "AccountId",
        ],
        "Salesforce",
    )
}

/// The contact of a HubSpot contact, with the id of its company (put into the record as
/// [`HUBSPOT_CONTACT_COMPANY`] by the pull), or why it is skipped.
pub fn remote_contact_from_hubspot_contact(record: &RemoteRecord) -> Result<RemoteContact, String> {
    contact_from(
        record,
        [
            "email",
            "firstname",
            "lastname",
            "phone",
            "jobtitle",
            HUBSPOT_CONTACT_COMPANY,
        ],
        "HubSpot",
    )
}

/// `fields`: the remote names of email, first name, last name, phone, title and the
/// company/account id.
fn contact_from(
    record: &RemoteRecord,
    [email, first_name, last_name, phone, title, account]: [&str; 6],
    crm: &str,
) -> Result<RemoteContact, String> {
    if record.archived {
        return Err(format!("archived in {crm}"));
    }
    let Some(address) = record.property(email) else {
        return Err("no email (the store keys contacts by email)".to_owned());
    };
    let address = address.to_lowercase();
    if !address.contains('@') || address.len() > 320 {
        return Err("the email is not valid".to_owned());
    }
    // Salesforce's placeholder for a required field is not a name.
    let text = |name: &str| {
        record
            .property(name)
            .filter(|value| *value != SALESFORCE_NOT_PROVIDED)
            .map(str::to_owned)
    };
    Ok(RemoteContact {
        first_name: text(first_name).unwrap_or_default(),
        last_name: text(last_name).unwrap_or_default(),
        email: address,
        phone: text(phone),
        title: text(title),
        role: DEFAULT_CONTACT_ROLE.to_owned(),
        account_external_id: record.property(account).map(str::to_owned),
    })
}

/// The Salesforce Contact fields of a contact; `account_remote_id` is the `Id` of its
/// account's Salesforce record, when linked. `LastName` is required there.
pub fn salesforce_contact_from_contact(
    contact: &Contact,
    account_remote_id: Option<&str>,
) -> Map<String, Value> {
    let mut fields = Map::new();
    let mut set = |name: &str, value: &str| {
        let value = value.trim();
        if !value.is_empty() && value != UNKNOWN {
            fields.insert(name.to_owned(), Value::String(value.to_owned()));
        }
    };
    set("Email", &contact.email);
    set("FirstName", &contact.first_name);
    set("LastName", &contact.last_name);
    if let Some(phone) = &contact.phone {
        set("Phone", phone);
    }
    if let Some(title) = &contact.title {
        set("Title", title);
    }
    if let Some(account) = account_remote_id {
        set("AccountId", account);
    }
    fields
        .entry("LastName")
        .or_insert_with(|| Value::String(SALESFORCE_NOT_PROVIDED.to_owned()));
    fields
}

/// How many decimal places a currency's minor unit has (ISO 4217).
fn currency_exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `"1234.5"` in USD → `123450`; digits past the minor unit are rounded half up. Decimal
/// text only (with an optional exponent, as a JSON number may be written): no floating
/// point, so no cent is lost.
fn minor_units(amount: &str, currency: &str) -> Result<i64, String> {
    let invalid = || format!("its amount {amount:?} is not a non-negative number");
    let text = amount.trim().replace(',', "");
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().map_err(|_| invalid())?),
        None => (text.as_str(), 0),
    };
    let mantissa = mantissa.strip_prefix('+').unwrap_or(mantissa);
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(invalid());
    }
    let digits = format!("{whole}{fraction}");
    // The value is digits × 10^(shift) in minor units.
    let scale = i32::try_from(currency_exponent(currency)).unwrap_or(2);
    let fraction_len = i32::try_from(fraction.len()).map_err(|_| invalid())?;
    let shift = exponent + scale - fraction_len;
    let too_large = || format!("its amount {amount:?} is too large");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    if shift >= 0 {
        let value: i64 = digits.parse().map_err(|_| too_large())?;
        let factor = 10_i64
            .checked_pow(u32::try_from(shift).map_err(|_| too_large())?)
            .ok_or_else(too_large)?;
        return value.checked_mul(factor).ok_or_else(too_large);
    }
    let cut = usize::try_from(-shift).map_err(|_| invalid())?;
    if cut > digits.len() {
        return Ok(0);
    }
    let (kept, dropped) = digits.split_at(digits.len() - cut);
    let kept: i64 = if kept.is_empty() {
        0
    } else {
        kept.parse().map_err(|_| too_large())?
    };
    let round_up = dropped.as_bytes().first().is_some_and(|b| *b >= b'5');
    kept.checked_add(i64::from(round_up)).ok_or_else(too_large)
}

/// Minor units as the number a CRM takes in major units: `123450` USD → `1234.5`.
fn major_units(amount_minor: i64, currency: &str) -> Option<Value> {
    major_units_text(amount_minor, currency)
        .parse::<serde_json::Number>()
        .ok()
        .map(Value::Number)
}

/// Minor units as decimal text in major units, by the currency's exponent, without going
/// through floating point: `123450` USD → `1234.50`, `5000` JPY → `5000`, `1500` KWD →
/// `1.500`. Amounts are never negative in the store.
pub fn major_units_text(amount_minor: i64, currency: &str) -> String {
    let exponent = currency_exponent(currency);
    let scale = 10_i64.pow(exponent);
    let whole = amount_minor / scale;
    let fraction = amount_minor % scale;
    if scale == 1 {
        whole.to_string()
    } else {
        let width = exponent as usize;
        format!("{whole}.{fraction:0width$}")
    }
}

/// `2026-12-31T00:00:00Z`, `2026-12-31` or milliseconds since the epoch (older HubSpot
/// answers) → `2026-12-31`, checked to be a real date.
fn date_part(text: &str) -> Option<String> {
    if text.len() > 10 && text.bytes().all(|b| b.is_ascii_digit()) {
        let millis = text.parse::<i64>().ok()?;
        let time = chrono::DateTime::from_timestamp_millis(millis)?;
        return Some(time.format("%Y-%m-%d").to_string());
    }
    let date = text.get(..10)?;
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .map(|_| date.to_owned())
}

/// `https://www.example.com/about` → `example.com`.
fn host_of(website: &str) -> Option<String> {
    let rest = website.split_once("://").map_or(website, |(_, rest)| rest);
    let host = rest
        .split(['/', '?', '#', ':'])
        .next()?
        .trim()
        .to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    (host.contains('.') && !host.contains(char::is_whitespace)).then_some(host)
}

/// The first number in `25-50`, `1000+` or `42`.
fn lower_bound(range: &str) -> Option<i64> {
    let digits: String = range
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse::<i64>().ok().filter(|n| *n >= 0)
}

/// HubSpot's `numemployees` option containing `count`; `None` for 0 (unknown).
fn employee_range(count: i64) -> Option<&'static str> {
    Some(match count {
        ..=0 => return None,
        1..=4 => "1-5",
        5..=24 => "5-25",
        25..=49 => "25-50",
        50..=99 => "50-100",
        100..=499 => "100-500",
        500..=999 => "500-1000",
        _ => "1000+",
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn contact(properties: &[(&str, &str)]) -> RemoteRecord {
        RemoteRecord {
            id: "101".to_owned(),
            properties: properties
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Some((*v).to_owned())))
                .collect(),
            updated_at: None,
            archived: false,
        }
    }

    #[test]
    fn a_contact_without_optional_fields_gets_the_documented_defaults() {
        let lead = lead_from_hubspot_contact(&contact(&[("email", " Ada@Example.COM ")])).unwrap();
        assert_eq!(lead.email, "ada@example.com");
        assert_eq!(lead.industry, UNKNOWN);
        assert_eq!(lead.country, UNKNOWN);
        assert_eq!(lead.company_name, UNKNOWN);
        assert_eq!(lead.employee_count, 0);
        assert_eq!(lead.external_id.as_deref(), Some("101"));
        assert_eq!(lead.source, HUBSPOT_SOURCE);
    }

    #[test]
    fn salesforce_customers_become_active_accounts_and_prospects_trials() {
        let mut account = contact(&[
            ("Name", "Initech"),
            ("Website", "http://initech.example/"),
            ("Type", "Customer - Direct"),
            ("NumberOfEmployees", "1200"),
        ]);
        let mapped = account_from_salesforce_account(&account).unwrap();
        assert_eq!(mapped.lifecycle_stage, "active");
        assert_eq!(mapped.domain.as_deref(), Some("initech.example"));
        assert_eq!(
            (mapped.employee_count, mapped.country.as_str()),
            (1200, UNKNOWN)
        );
        account
            .properties
            .insert("Type".to_owned(), Some("Prospect".to_owned()));
        assert_eq!(
            account_from_salesforce_account(&account)
                .unwrap()
                .lifecycle_stage,
            "trial"
        );
        account.properties.remove("Name");
        assert!(account_from_salesforce_account(&account).is_err());
    }

    #[test]
    fn a_lead_pushed_to_salesforce_always_has_the_required_fields() {
        let lead = Lead {
            id: "lead_1".to_owned(),
            external_id: None,
            email: "x@y.z".to_owned(),
            first_name: String::new(),
            last_name: String::new(),
            company_name: UNKNOWN.to_owned(),
            domain: None,
            industry: UNKNOWN.to_owned(),
            employee_count: 0,
            country: UNKNOWN.to_owned(),
            title: None,
            source: "web".to_owned(),
            status: "new".to_owned(),
            owner: None,
            campaign_id: None,
            signals: Default::default(),
            converted_account_id: None,
            converted_at: None,
            created_at: "2026-11-21T00:00:00.000000Z".to_owned(),
            updated_at: "2026-11-21T00:00:00.000000Z".to_owned(),
        };
        let fields = salesforce_lead_from_lead(&lead);
        assert_eq!(fields["LastName"], SALESFORCE_NOT_PROVIDED);
        assert_eq!(fields["Company"], SALESFORCE_NOT_PROVIDED);
        assert!(!fields.contains_key("Industry") && !fields.contains_key("NumberOfEmployees"));
        let hubspot = hubspot_contact_from_lead(&lead);
        assert_eq!(hubspot.keys().collect::<Vec<_>>(), ["email"]);
    }

    #[test]
    fn a_contact_without_email_is_skipped() {
        assert!(lead_from_hubspot_contact(&contact(&[("firstname", "Ada")])).is_err());
    }

    #[test]
    fn ranges_and_websites_are_read_as_numbers_and_hosts() {
        let lead = lead_from_hubspot_contact(&contact(&[
            ("email", "a@b.co"),
            ("numemployees", "25-50"),
            ("website", "https://www.example.com/about"),
        ]))
        .unwrap();
        assert_eq!(lead.employee_count, 25);
        assert_eq!(lead.domain.as_deref(), Some("example.com"));
        assert_eq!(lower_bound("1000+"), Some(1000));
        assert_eq!(employee_range(30), Some("25-50"));
        assert_eq!(employee_range(0), None);
    }

    fn deal(properties: &[(&str, &str)]) -> RemoteRecord {
        let mut record = contact(properties);
        record.id = "9001".to_owned();
        record
    }

    #[test]
    fn every_hubspot_default_stage_and_salesforce_standard_stage_has_a_local_stage() {
        let allowed = store::opportunities::STAGE_ORDER;
        for (theirs, ours) in HUBSPOT_STAGES.iter().chain(SALESFORCE_STAGES) {
            assert!(allowed.contains(ours), "{theirs} maps to {ours}");
        }
        assert_eq!(
            stage_from_hubspot("appointmentscheduled"),
            Some("prospecting")
        );
        assert_eq!(
            stage_from_hubspot("decisionmakerboughtin"),
            Some("negotiation")
        );
        assert_eq!(stage_from_hubspot("ClosedWon"), Some("closed_won"));
        assert_eq!(stage_from_hubspot("1234567"), None);
        assert_eq!(
            stage_from_salesforce("Needs Analysis"),
            Some("qualification")
        );
        assert_eq!(
            stage_from_salesforce("Id. Decision Makers"),
            Some("proposal")
        );
        assert_eq!(
            stage_from_salesforce("Negotiation/Review"),
            Some("negotiation")
        );
        assert_eq!(stage_from_salesforce("Closed Lost"), Some("closed_lost"));
        for stage in allowed {
            let name = salesforce_stage_of(stage).unwrap();
            assert_eq!(
                stage_from_salesforce(name),
                Some(stage),
                "{stage} round trip"
            );
        }
    }

    #[test]
    fn amounts_become_minor_units_by_the_currency_without_losing_a_cent() {
        assert_eq!(minor_units("1234.5", "USD"), Ok(123_450));
        assert_eq!(minor_units("0.29", "USD"), Ok(29));
        assert_eq!(minor_units("19.999", "EUR"), Ok(2000));
        assert_eq!(minor_units("1,250,000", "USD"), Ok(125_000_000));
        assert_eq!(minor_units("5000", "JPY"), Ok(5000));
        assert_eq!(minor_units("1.5", "KWD"), Ok(1500));
        assert_eq!(minor_units("1.2E4", "USD"), Ok(1_200_000));
        assert_eq!(minor_units("0", "USD"), Ok(0));
        assert!(minor_units("-10", "USD").is_err());
        assert!(minor_units("ten", "USD").is_err());
        assert!(minor_units("99999999999999999999", "USD").is_err());
        assert_eq!(major_units(123_450, "USD"), Some(Value::from(1234.5)));
        assert_eq!(major_units(5000, "JPY"), Some(Value::from(5000)));
    }

    #[test]
    fn a_hubspot_deal_maps_its_stage_amount_currency_date_and_company() {
        let mapped = deal_from_hubspot_deal(&deal(&[
            ("dealname", "Acme renewal"),
            ("dealstage", "contractsent"),
            ("amount", "12000.50"),
            ("deal_currency_code", "eur"),
            ("closedate", "2026-12-31T00:00:00Z"),
            (HUBSPOT_DEAL_COMPANY, "501"),
        ]))
        .unwrap();
        assert_eq!(
            mapped,
            RemoteDeal {
                name: "Acme renewal".to_owned(),
                stage: "negotiation".to_owned(),
                amount_minor: 1_200_050,
                currency: "EUR".to_owned(),
                close_date: "2026-12-31".to_owned(),
                account_external_id: Some("501".to_owned()),
            }
        );
        let no_company = deal_from_hubspot_deal(&deal(&[
            ("dealname", "Loose"),
            ("dealstage", "qualifiedtobuy"),
            ("closedate", "1798675200000"),
        ]))
        .unwrap();
        assert_eq!(
            (
                no_company.account_external_id,
                no_company.amount_minor,
                no_company.currency.as_str()
            ),
            (None, 0, DEFAULT_CURRENCY)
        );
        assert_eq!(no_company.close_date, "2026-12-31");
    }

    #[test]
    fn a_custom_stage_is_read_from_the_closed_flags_or_the_deal_is_skipped_naming_it() {
        let won = deal_from_hubspot_deal(&deal(&[
            ("dealname", "Custom pipeline"),
            ("dealstage", "88123"),
            ("hs_is_closed_won", "true"),
            ("hs_is_closed", "true"),
            ("closedate", "2026-10-01"),
        ]))
        .unwrap();
        assert_eq!(won.stage, "closed_won");
        let open = deal_from_salesforce_opportunity(&deal(&[
            ("Name", "Custom"),
            ("StageName", "Discovery Call"),
            ("IsClosed", "false"),
            ("CloseDate", "2026-10-01"),
        ]))
        .unwrap_err();
        assert!(open.contains("Discovery Call"), "{open}");
        let no_date = deal_from_hubspot_deal(&deal(&[
            ("dealname", "Undated"),
            ("dealstage", "closedlost"),
        ]));
        assert!(no_date.is_err());
    }

    #[test]
    fn a_salesforce_opportunity_maps_both_ways() {
        let mapped = deal_from_salesforce_opportunity(&deal(&[
            ("Name", "Initech expansion"),
            ("StageName", "Perception Analysis"),
            ("Amount", "48000.0"),
            ("CloseDate", "2027-01-15"),
            ("AccountId", "001000000000001AAA"),
        ]))
        .unwrap();
        assert_eq!(
            (
                mapped.stage.as_str(),
                mapped.amount_minor,
                mapped.currency.as_str()
            ),
            ("proposal", 4_800_000, "USD")
        );
        assert_eq!(
            mapped.account_external_id.as_deref(),
            Some("001000000000001AAA")
        );
        let local = Opportunity {
            id: "opp_1".to_owned(),
            external_id: None,
            account_id: "acc_1".to_owned(),
            lead_id: None,
            name: mapped.name.clone(),
            stage: mapped.stage.clone(),
            amount_minor: mapped.amount_minor,
            currency: mapped.currency.clone(),
            probability: 40,
            close_date: mapped.close_date.clone(),
            owner: None,
            created_at: "2026-11-21T00:00:00.000000Z".to_owned(),
            updated_at: "2026-11-21T00:00:00.000000Z".to_owned(),
            closed_at: None,
        };
        let fields = salesforce_opportunity_from_opportunity(&local, Some("001000000000001AAA"));
        assert_eq!(fields["StageName"], "Proposal/Price Quote");
        assert_eq!(fields["Amount"], Value::from(48000.0));
        assert_eq!(fields["CloseDate"], "2027-01-15");
        assert_eq!(fields["AccountId"], "001000000000001AAA");
    }

    fn opportunity(stage: &str, amount_minor: i64, currency: &str) -> Opportunity {
        Opportunity {
            id: "opp_1".to_owned(),
            external_id: None,
            account_id: "acc_1".to_owned(),
            lead_id: None,
            name: "Acme expansion".to_owned(),
            stage: stage.to_owned(),
            amount_minor,
            currency: currency.to_owned(),
            probability: 40,
            close_date: "2027-03-31".to_owned(),
            owner: None,
            created_at: "2026-11-21T00:00:00.000000Z".to_owned(),
            updated_at: "2026-11-21T00:00:00.000000Z".to_owned(),
            closed_at: None,
        }
    }

    #[test]
    fn a_deal_pushed_to_hubspot_is_pulled_back_as_the_same_deal_in_every_stage_and_currency() {
        let cases = [
            ("prospecting", 1_200_050, "EUR", "12000.50"),
            ("qualification", 5000, "JPY", "5000"),
            ("proposal", 1500, "KWD", "1.500"),
            ("negotiation", 7, "USD", "0.07"),
            ("closed_won", 100_000_000, "USD", "1000000.00"),
            ("closed_lost", 0, "USD", "0.00"),
        ];
        for (stage, amount_minor, currency, amount_text) in cases {
            let local = opportunity(stage, amount_minor, currency);
            let properties = hubspot_deal_from_opportunity(&local);
            assert_eq!(properties["amount"], amount_text, "{stage}");
            assert_eq!(properties["closedate"], "2027-03-31T00:00:00.000Z");
            let mut record = deal(&[(HUBSPOT_DEAL_COMPANY, "501")]);
            record
                .properties
                .extend(properties.into_iter().map(|(k, v)| (k, Some(v))));
            assert_eq!(
                deal_from_hubspot_deal(&record).unwrap(),
                RemoteDeal {
                    name: local.name.clone(),
                    stage: stage.to_owned(),
                    amount_minor,
                    currency: currency.to_owned(),
                    close_date: local.close_date.clone(),
                    account_external_id: Some("501".to_owned()),
                },
                "{stage} {currency}"
            );
        }
    }

    #[test]
    fn a_deal_pushed_to_salesforce_is_pulled_back_with_the_same_stage_amount_and_date() {
        for stage in store::opportunities::STAGE_ORDER {
            let local = opportunity(stage, 4_800_099, "USD");
            let fields =
                salesforce_opportunity_from_opportunity(&local, Some("001000000000001AAA"));
            let mut record = deal(&[]);
            for (name, value) in fields {
                let text = match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                record.properties.insert(name, Some(text));
            }
            let back = deal_from_salesforce_opportunity(&record).unwrap();
            assert_eq!(
                (
                    back.stage.as_str(),
                    back.amount_minor,
                    back.close_date.as_str()
                ),
                (stage, 4_800_099, "2027-03-31")
            );
            assert_eq!(
                back.account_external_id.as_deref(),
                Some("001000000000001AAA")
            );
        }
    }

    #[test]
    fn a_salesforce_contact_maps_both_ways_and_needs_an_email() {
        let record = deal(&[
            ("Email", " Grace@Navy.Example "),
            ("FirstName", "Grace"),
            ("LastName", "Hopper"),
            ("Title", "Rear Admiral"),
            ("AccountId", "001000000000001AAA"),
        ]);
        let contact = contact_from_salesforce_contact(&record, "acc_1").unwrap();
        assert_eq!(contact.email, "grace@navy.example");
        assert_eq!(contact.account_id, "acc_1");
        assert_eq!(contact.role, DEFAULT_CONTACT_ROLE);
        assert_eq!(
            (contact.phone, contact.title.as_deref()),
            (None, Some("Rear Admiral"))
        );
        assert!(contact_from_salesforce_contact(&deal(&[("LastName", "X")]), "acc_1").is_err());

        let local = Contact {
            id: "con_1".to_owned(),
            account_id: "acc_1".to_owned(),
            first_name: "Grace".to_owned(),
            last_name: String::new(),
            email: "grace@navy.example".to_owned(),
            phone: Some("+1 555 0100".to_owned()),
            title: None,
            role: "champion".to_owned(),
        };
        let fields = salesforce_contact_from_contact(&local, Some("001000000000001AAA"));
        assert_eq!(fields["LastName"], SALESFORCE_NOT_PROVIDED);
        assert_eq!(fields["Phone"], "+1 555 0100");
        assert_eq!(fields["AccountId"], "001000000000001AAA");
        assert!(!fields.contains_key("Title"));
    }

    #[test]
    fn a_hubspot_contact_maps_to_a_contact_of_its_company() {
        let mapped = remote_contact_from_hubspot_contact(&contact(&[
            ("email", "Linus@Kernel.Example"),
            ("firstname", "Linus"),
            ("phone", "+358 555 0101"),
            ("jobtitle", "Maintainer"),
            (HUBSPOT_CONTACT_COMPANY, "501"),
        ]))
        .unwrap();
        assert_eq!(
            mapped,
            RemoteContact {
                first_name: "Linus".to_owned(),
                last_name: String::new(),
                email: "linus@kernel.example".to_owned(),
                phone: Some("+358 555 0101".to_owned()),
                title: Some("Maintainer".to_owned()),
                role: DEFAULT_CONTACT_ROLE.to_owned(),
                account_external_id: Some("501".to_owned()),
            }
        );
        let loose = remote_contact_from_hubspot_contact(&contact(&[("email", "a@b.co")])).unwrap();
        assert_eq!(loose.account_external_id, None);
        let mut archived = contact(&[("email", "a@b.co")]);
        archived.archived = true;
        assert_eq!(
            remote_contact_from_hubspot_contact(&archived).unwrap_err(),
            "archived in HubSpot"
        );
    }
}
