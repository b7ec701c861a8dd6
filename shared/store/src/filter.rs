//! A small builder for `WHERE` clauses with numbered placeholders (`$1`, `$2`, …), which
//! both SQLite and Postgres accept. Values are always bound, never spliced into the SQL.

/// Conditions joined by `AND`, with their bound text values in placeholder order.
#[derive(Default)]
pub(crate) struct Conditions {
    clauses: Vec<String>,
    pub(crate) values: Vec<String>,
}

impl Conditions {
    /// Adds `column <op> $n` when `value` is present. `column` and `op` come from code,
    /// never from a caller.
    pub(crate) fn add(&mut self, column: &'static str, op: &'static str, value: Option<&str>) {
        if let Some(value) = value {
            self.values.push(value.to_string());
            self.clauses
                .push(format!("{column} {op} ${}", self.values.len()));
        }
    }

    /// The next placeholder number (for binds that follow the conditions, e.g. LIMIT).
    pub(crate) fn next_placeholder(&self) -> usize {
        self.values.len() + 1
    }

    /// ` WHERE a = $1 AND b > $2`, or nothing.
    pub(crate) fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// What a paged listing selects and how it is ordered.
pub(crate) struct Listing {
    /// `SELECT … FROM table`, from code.
    pub(crate) select: String,
    /// The `ORDER BY` list, from code; the cursor condition must follow the same order.
    pub(crate) order_by: &'static str,
    /// What the listing does, for errors ("list leads").
    pub(crate) action: &'static str,
}

/// One page of a listing: the rows matching `conditions` in order, `limit + 1` fetched so the
/// page knows whether more follow, decoded and cut to `limit` with the next cursor.
pub(crate) async fn fetch_page<T>(
    store: &crate::Store,
    listing: Listing,
    conditions: &Conditions,
    limit: i64,
    decode: fn(&sqlx::any::AnyRow) -> crate::Result<T>,
    cursor_of: impl Fn(&T) -> String,
) -> crate::Result<crate::records::Page<T>> {
    let sql = format!(
        "{}{} ORDER BY {} LIMIT ${}",
        listing.select,
        conditions.where_clause(),
        listing.order_by,
        conditions.next_placeholder()
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in &conditions.values {
        query = query.bind(value.as_str());
    }
    let rows = query
        .bind(limit + 1)
        .fetch_all(store.pool())
        .await
        .map_err(|error| crate::Error::from_sqlx(listing.action, error))?;
    let mut items = rows.iter().map(decode).collect::<crate::Result<Vec<_>>>()?;
    Ok(crate::page(&mut items, limit, cursor_of))
}

/// Clamps a caller's page size into 1..=max, with a default.
pub(crate) fn page_size(requested: Option<u32>, default: u32, max: u32) -> i64 {
    i64::from(requested.unwrap_or(default).clamp(1, max))
}
