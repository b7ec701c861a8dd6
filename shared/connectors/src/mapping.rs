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

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use store::accounts::NewAccount;
use store::leads::NewLead;
use store::records::Lead;

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
    "dealstage",
    "pipeline",
    "closedate",
    "hs_lastmodifieddate",
];

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
}
