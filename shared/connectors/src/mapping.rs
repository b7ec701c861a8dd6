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
//! `numemployees` is a range on HubSpot contacts (`25-50`, `1000+`); its lower bound is
//! kept. Pushing does the reverse: the count goes back as the range that contains it, and
//! fields holding a default ("unknown", 0) are not sent, so a push never overwrites a value
//! in HubSpot with our placeholder.

use std::collections::BTreeMap;

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
