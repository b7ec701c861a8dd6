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

/// Clamps a caller's page size into 1..=max, with a default.
pub(crate) fn page_size(requested: Option<u32>, default: u32, max: u32) -> i64 {
    i64::from(requested.unwrap_or(default).clamp(1, max))
}
