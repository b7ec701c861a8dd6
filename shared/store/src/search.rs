//! Finding records by text across accounts, contacts, leads and opportunities, one page at
//! a time: what `search_crm` answers.

use crate::filter::page_size;
use crate::records::Page;
use crate::rows::get;
use crate::{Error, Result, Store};
use sqlx::AssertSqlSafe;

/// The kinds of record a search covers, in the order results are listed.
pub const KINDS: [&str; 4] = ["account", "contact", "lead", "opportunity"];

/// One record that matched.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct SearchHit {
    /// account, contact, lead or opportunity.
    pub kind: String,
    pub id: String,
    /// The record's name (company, person or deal).
    pub title: String,
    /// A second line: domain, email, company or stage.
    pub subtitle: Option<String>,
    pub owner: Option<String>,
    /// Lifecycle stage, lead status or deal stage.
    pub status: Option<String>,
}

/// What to search.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Matched, case-insensitively, anywhere in names, emails, domains and company names.
    pub text: String,
    /// Only these kinds (all when empty).
    pub kinds: Vec<String>,
    /// Only records owned by this rep.
    pub owner: Option<String>,
    /// Only records in this status or stage.
    pub status: Option<String>,
}

/// Escapes `%`, `_` and `\` so the caller's text is matched literally by `LIKE`.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One page of matches, accounts first, then contacts, leads and deals, each in id order.
/// The cursor is the `kind:id` of the last hit of the previous page.
pub async fn search(
    store: &Store,
    query: &SearchQuery,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Page<SearchHit>> {
    let limit = page_size(limit, 25, 100);
    let kinds: Vec<&str> = if query.kinds.is_empty() {
        KINDS.to_vec()
    } else {
        KINDS
            .iter()
            .copied()
            .filter(|k| query.kinds.iter().any(|q| q == k))
            .collect()
    };
    // Each arm selects (rank, kind, id, title, subtitle, owner, status) for rows whose
    // searchable text contains $1; $2/$3 filter owner and status when non-empty.
    let arm = |kind: &str| -> &'static str {
        match kind {
            "account" => {
                "SELECT 0 AS rank, 'account' AS kind, id, name AS title, domain AS subtitle, owner, lifecycle_stage AS status FROM accounts \
                 WHERE (LOWER(name) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(domain, '')) LIKE $1 ESCAPE '\\') \
                 AND ($2 = '' OR owner = $2) AND ($3 = '' OR lifecycle_stage = $3)"
            }
            "contact" => {
                "SELECT 1 AS rank, 'contact' AS kind, c.id, c.first_name || ' ' || c.last_name AS title, c.email AS subtitle, a.owner, c.role AS status \
                 FROM contacts c JOIN accounts a ON a.id = c.account_id \
                 WHERE (LOWER(c.first_name || ' ' || c.last_name) LIKE $1 ESCAPE '\\' OR LOWER(c.email) LIKE $1 ESCAPE '\\') \
                 AND ($2 = '' OR a.owner = $2) AND ($3 = '' OR c.role = $3)"
            }
            "lead" => {
                "SELECT 2 AS rank, 'lead' AS kind, id, first_name || ' ' || last_name AS title, company_name AS subtitle, owner, status FROM leads \
                 WHERE (LOWER(first_name || ' ' || last_name) LIKE $1 ESCAPE '\\' OR LOWER(email) LIKE $1 ESCAPE '\\' \
                 OR LOWER(company_name) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(domain, '')) LIKE $1 ESCAPE '\\') \
                 AND ($2 = '' OR owner = $2) AND ($3 = '' OR status = $3)"
            }
            _ => {
                "SELECT 3 AS rank, 'opportunity' AS kind, id, name AS title, stage AS subtitle, owner, stage AS status FROM opportunities \
                 WHERE LOWER(name) LIKE $1 ESCAPE '\\' AND ($2 = '' OR owner = $2) AND ($3 = '' OR stage = $3)"
            }
        }
    };
    let union = kinds
        .iter()
        .map(|k| arm(k))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let (after_rank, after_id) = match cursor.and_then(|c| c.split_once(':')) {
        Some((kind, id)) => match KINDS.iter().position(|k| *k == kind) {
            Some(rank) => (rank as i64, id.to_string()),
            None => (-1, String::new()),
        },
        None => (-1, String::new()),
    };
    let sql = format!(
        "SELECT rank, kind, id, title, subtitle, owner, status FROM ({union}) hits \
         WHERE rank > $4 OR (rank = $4 AND id > $5) ORDER BY rank, id LIMIT $6"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(like_pattern(&query.text))
        .bind(query.owner.as_deref().unwrap_or(""))
        .bind(query.status.as_deref().unwrap_or(""))
        .bind(after_rank)
        .bind(after_id)
        .bind(limit + 1)
        .fetch_all(store.pool())
        .await
        .map_err(|error| Error::from_sqlx("search the CRM", error))?;
    let mut items = rows
        .iter()
        .map(|row| {
            Ok(SearchHit {
                kind: get(row, "kind")?,
                id: get(row, "id")?,
                title: get(row, "title")?,
                subtitle: get(row, "subtitle")?,
                owner: get(row, "owner")?,
                status: get(row, "status")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(crate::page(&mut items, limit, |hit| {
        format!("{}:{}", hit.kind, hit.id)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_the_search_text_match_literally() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("Acme"), "%acme%");
    }
}
