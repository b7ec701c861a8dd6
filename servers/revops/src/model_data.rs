//! The store's own outcomes as tables to learn from: `store::model_features` rows (the same
//! rows the servers score with), as the learner's [`Table`].

use learn::table::{Column, Table};

/// The outcome column of every table.
pub const LABEL: &str = store::model_features::LABEL;

/// The table for `kind` (lead, churn or conversion) from the store's outcomes.
pub async fn table_for(store: &store::Store, kind: &str) -> anyhow::Result<Table> {
    let rows = store::model_features::rows(
        store,
        kind,
        store::model_features::Subjects::All,
        store::model_features::AsOf::Training,
    )
    .await?;
    Ok(table_of(rows))
}

/// Feature rows as a learner's table.
pub fn table_of(rows: store::model_features::FeatureRows) -> Table {
    let count = rows.ids.len();
    Table {
        columns: rows
            .names
            .into_iter()
            .zip(rows.columns)
            .map(|(name, cells)| Column { name, cells })
            .collect(),
        rows: count,
    }
}
