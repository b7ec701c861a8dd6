//! Lead routing: which rep gets each new lead. Rules are tried in order; the first whose
//! conditions (countries, industries, company size) all hold picks the lead's owner from its
//! reps; a lead no rule matches goes to the default pool. Within a set of reps the lead goes
//! to the one with the fewest open leads (ties by name), so leads are dealt round-robin and
//! nobody passes the capacity limit. Pure: the tool reads the store and applies the plan.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One routing rule. Every condition given must hold; conditions left out hold for all.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct RoutingRule {
    /// A name for the rule, shown in the plan (e.g. "EMEA enterprise").
    #[serde(default)]
    pub name: Option<String>,
    /// ISO country codes the lead's company must be in, e.g. ["DE", "FR"].
    #[serde(default)]
    pub countries: Vec<String>,
    /// Industries the lead must be in, e.g. ["finance", "healthcare"].
    #[serde(default)]
    pub industries: Vec<String>,
    /// Fewest employees (inclusive).
    #[serde(default)]
    pub min_employees: Option<i64>,
    /// Most employees (inclusive).
    #[serde(default)]
    pub max_employees: Option<i64>,
    /// The reps this rule deals leads to (at least one).
    pub owners: Vec<String>,
}

/// What routing needs to know of a lead.
#[derive(Debug, Clone)]
pub struct LeadToRoute {
    pub id: String,
    pub country: String,
    pub industry: String,
    pub employee_count: i64,
    pub current_owner: Option<String>,
}

/// The plan for one lead.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Assignment {
    pub lead_id: String,
    pub from_owner: Option<String>,
    pub to_owner: String,
    /// The rule that matched, or "default pool".
    pub rule: String,
}

/// A lead that could not be assigned, and why.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Unrouted {
    pub lead_id: String,
    pub reason: String,
}

impl RoutingRule {
    fn matches(&self, lead: &LeadToRoute) -> bool {
        let in_list = |list: &[String], value: &str| {
            list.is_empty() || list.iter().any(|item| item.eq_ignore_ascii_case(value))
        };
        in_list(&self.countries, &lead.country)
            && in_list(&self.industries, &lead.industry)
            && self
                .min_employees
                .is_none_or(|min| lead.employee_count >= min)
            && self
                .max_employees
                .is_none_or(|max| lead.employee_count <= max)
    }

    fn label(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("rule {}", index + 1))
    }
}

/// Deals `leads` to reps. `load` is each rep's open leads now (reps absent count as 0) and
/// is updated as leads are dealt; no rep goes past `capacity`.
pub fn plan(
    leads: &[LeadToRoute],
    rules: &[RoutingRule],
    default_pool: &[String],
    load: &mut BTreeMap<String, i64>,
    capacity: i64,
) -> (Vec<Assignment>, Vec<Unrouted>) {
    let mut assignments = Vec::new();
    let mut unrouted = Vec::new();
    for lead in leads {
        let (rule, pool) = match rules.iter().enumerate().find(|(_, r)| r.matches(lead)) {
            Some((index, rule)) => (rule.label(index), rule.owners.as_slice()),
            None => ("default pool".to_string(), default_pool),
        };
        let pick = pool
            .iter()
            .map(|owner| (load.get(owner).copied().unwrap_or(0), owner))
            .filter(|(open, _)| *open < capacity)
            .min();
        match pick {
            Some((_, owner)) => {
                *load.entry(owner.clone()).or_insert(0) += 1;
                assignments.push(Assignment {
                    lead_id: lead.id.clone(),
                    from_owner: lead.current_owner.clone(),
                    to_owner: owner.clone(),
                    rule,
                });
            }
            None if pool.is_empty() => unrouted.push(Unrouted {
                lead_id: lead.id.clone(),
                reason: format!("{rule} has no reps; give owners for it"),
            }),
            None => unrouted.push(Unrouted {
                lead_id: lead.id.clone(),
                reason: format!("every rep of {rule} is at capacity ({capacity} open leads)"),
            }),
        }
    }
    (assignments, unrouted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(id: &str, country: &str, industry: &str, employees: i64) -> LeadToRoute {
        LeadToRoute {
            id: id.into(),
            country: country.into(),
            industry: industry.into(),
            employee_count: employees,
            current_owner: None,
        }
    }

    #[test]
    fn the_first_matching_rule_picks_the_least_loaded_of_its_reps() {
        let rules = vec![RoutingRule {
            name: Some("DACH".into()),
            countries: vec!["DE".into(), "AT".into()],
            industries: vec![],
            min_employees: None,
            max_employees: None,
            owners: vec!["Ana".into(), "Ben".into()],
        }];
        let mut load = BTreeMap::from([("Ana".to_string(), 3)]);
        let leads = [
            lead("lead_1", "de", "retail", 10),
            lead("lead_2", "DE", "retail", 10),
            lead("lead_3", "US", "tech", 10),
        ];
        let (plan, unrouted) = plan(&leads, &rules, &["Cy".into()], &mut load, 100);
        let owners: Vec<&str> = plan.iter().map(|a| a.to_owner.as_str()).collect();
        assert_eq!(owners, ["Ben", "Ben", "Cy"]);
        assert_eq!(plan[2].rule, "default pool");
        assert!(unrouted.is_empty());
    }

    #[test]
    fn reps_at_capacity_get_no_more_leads_and_the_lead_says_why() {
        let mut load = BTreeMap::from([("Ana".to_string(), 2)]);
        let (plan, unrouted) = plan(
            &[lead("lead_1", "US", "tech", 5)],
            &[],
            &["Ana".into()],
            &mut load,
            2,
        );
        assert!(plan.is_empty());
        assert!(unrouted[0].reason.contains("capacity"), "{:?}", unrouted);
    }
}
