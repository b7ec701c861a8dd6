//! From table columns to model features: which columns are numeric, which categorical,
//! which are identifiers or free text (never features), and the encoding of a row as the
//! numbers a model reads. The encoding is part of a trained model, so a prediction encodes
//! its input exactly as training did.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::table::{Column, Table};

/// A categorical column with more distinct values than this is read as free text or an
/// identifier (a surname, an email) and left out.
const MAX_LEVELS: usize = 50;

/// How one source column becomes model inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureKind {
    /// A number; missing cells stay missing (trees learn where they go).
    Numeric,
    /// One input per level (1 when the cell has that level, else 0); a level not seen in
    /// training sets none of them.
    Categorical { levels: Vec<String> },
}

/// One feature: a source column and its encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Feature {
    pub name: String,
    #[serde(flatten)]
    pub kind: FeatureKind,
}

/// A column that is not a feature, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Excluded {
    pub name: String,
    pub reason: String,
}

/// The features of a model and how to encode a row for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Encoding {
    pub features: Vec<Feature>,
}

/// Reads a number as exports write them: `1234.5`, `1,234.5`, `1234,5` (decimal comma),
/// `12%`, `$99`.
pub fn parse_number(text: &str) -> Option<f64> {
    let trimmed = text
        .trim()
        .trim_start_matches(['$', '€', '£'])
        .trim_end_matches('%')
        .trim();
    if let Ok(value) = trimmed.parse::<f64>() {
        return value.is_finite().then_some(value);
    }
    let commas = trimmed.matches(',').count();
    let candidate = if trimmed.contains('.') {
        trimmed.replace(',', "") // thousands separators
    } else if commas == 1 {
        trimmed.replace(',', ".") // a decimal comma
    } else {
        trimmed.replace(',', "")
    };
    candidate.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The words of a column name: split at `_`, spaces, `-` and lower-to-upper case changes
/// (`CustomerId` -> customer, id).
fn words(name: &str) -> Vec<String> {
    let mut words = vec![String::new()];
    let mut previous_lower = false;
    for c in name.chars() {
        if matches!(c, '_' | ' ' | '-' | '.') {
            words.push(String::new());
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(String::new());
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        if let Some(word) = words.last_mut() {
            word.extend(c.to_lowercase());
        }
    }
    words.retain(|w| !w.is_empty());
    words
}

fn looks_like_identifier_name(name: &str) -> bool {
    let words = words(name);
    let last = words.last().map(String::as_str).unwrap_or("");
    matches!(last, "id" | "uuid" | "guid" | "key" | "index")
        || (last == "number" && words.len() == 2 && matches!(words[0].as_str(), "row" | "record"))
        || words.iter().any(|w| {
            matches!(
                w.as_str(),
                "email" | "phone" | "surname" | "firstname" | "lastname"
            )
        })
        || (last == "name" && words.len() <= 2)
        || name.eq_ignore_ascii_case("surname")
}

/// Decides the features of a table, leaving out the label and `exclude`d columns,
/// identifiers (by name, or a column whose every value is distinct) and free text.
pub fn detect(table: &Table, label: &str, exclude: &[String]) -> (Encoding, Vec<Excluded>) {
    let mut features = Vec::new();
    let mut excluded = Vec::new();
    for column in &table.columns {
        if column.name.eq_ignore_ascii_case(label) {
            continue;
        }
        let mut leave_out = |reason: &str| {
            excluded.push(Excluded {
                name: column.name.clone(),
                reason: reason.into(),
            })
        };
        if exclude.iter().any(|e| e.eq_ignore_ascii_case(&column.name)) {
            leave_out("excluded by request");
            continue;
        }
        if looks_like_identifier_name(&column.name) {
            leave_out("an identifier or personal data by its name");
            continue;
        }
        let present: Vec<&str> = column.cells.iter().flatten().map(String::as_str).collect();
        if present.is_empty() {
            leave_out("every cell is empty");
            continue;
        }
        let mut distinct: Vec<&str> = present.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 2 {
            leave_out("it has one value only");
            continue;
        }
        let numeric = present.iter().all(|cell| parse_number(cell).is_some());
        if numeric {
            if distinct.len() == present.len() && is_sequence(column) {
                leave_out("an identifier: a running number");
                continue;
            }
            features.push(Feature {
                name: column.name.clone(),
                kind: FeatureKind::Numeric,
            });
        } else if distinct.len() > MAX_LEVELS {
            leave_out("free text or an identifier: too many distinct values");
        } else {
            features.push(Feature {
                name: column.name.clone(),
                kind: FeatureKind::Categorical {
                    levels: distinct.iter().map(|s| s.to_string()).collect(),
                },
            });
        }
    }
    (Encoding { features }, excluded)
}

fn is_sequence(column: &Column) -> bool {
    let values: Vec<f64> = column
        .cells
        .iter()
        .flatten()
        .filter_map(|c| parse_number(c))
        .collect();
    values.len() > 2
        && values.iter().all(|v| v.fract() == 0.0)
        && values.windows(2).all(|w| (w[1] - w[0]).abs() == 1.0)
}

impl Encoding {
    /// How many numbers a row encodes to.
    pub fn width(&self) -> usize {
        self.features
            .iter()
            .map(|feature| match &feature.kind {
                FeatureKind::Numeric => 1,
                FeatureKind::Categorical { levels } => levels.len(),
            })
            .sum()
    }

    /// For each encoded input, the index of the feature it belongs to.
    pub fn owners(&self) -> Vec<usize> {
        let mut owners = Vec::with_capacity(self.width());
        for (index, feature) in self.features.iter().enumerate() {
            match &feature.kind {
                FeatureKind::Numeric => owners.push(index),
                FeatureKind::Categorical { levels } => {
                    owners.extend(std::iter::repeat_n(index, levels.len()))
                }
            }
        }
        owners
    }

    /// Encodes one row given as cell texts in feature order (missing: None) into `out`
    /// (length [`Encoding::width`]); a missing number is NaN.
    pub fn encode_into(&self, cells: &[Option<&str>], out: &mut Vec<f64>) {
        out.clear();
        for (feature, cell) in self.features.iter().zip(cells) {
            match &feature.kind {
                FeatureKind::Numeric => {
                    out.push(cell.and_then(parse_number).unwrap_or(f64::NAN));
                }
                FeatureKind::Categorical { levels } => {
                    let level = cell.and_then(|c| levels.iter().position(|l| l == c.trim()));
                    out.extend((0..levels.len()).map(|i| if Some(i) == level { 1.0 } else { 0.0 }));
                }
            }
        }
    }

    /// Encodes every row of `table` (column-major: one Vec per encoded input).
    pub fn encode_table(&self, table: &Table) -> Result<Vec<Vec<f64>>, crate::LearnError> {
        let sources: Vec<&Column> = self
            .features
            .iter()
            .map(|feature| {
                table.column(&feature.name).ok_or_else(|| {
                    crate::LearnError::Input(format!("the table has no column {}", feature.name))
                })
            })
            .collect::<Result<_, _>>()?;
        let mut columns = vec![Vec::with_capacity(table.rows); self.width()];
        let mut row = Vec::with_capacity(self.width());
        let mut cells = Vec::with_capacity(sources.len());
        for index in 0..table.rows {
            cells.clear();
            cells.extend(sources.iter().map(|c| c.cells[index].as_deref()));
            self.encode_into(&cells, &mut row);
            for (column, value) in columns.iter_mut().zip(&row) {
                column.push(*value);
            }
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn numbers_are_read_as_exports_write_them() {
        assert_eq!(parse_number("1,234.5"), Some(1234.5));
        assert_eq!(parse_number("12,5"), Some(12.5));
        assert_eq!(parse_number("$99"), Some(99.0));
        assert_eq!(parse_number("12%"), Some(12.0));
        assert_eq!(parse_number("abc"), None);
    }

    #[test]
    fn column_names_split_into_words() {
        assert_eq!(words("CustomerId"), ["customer", "id"]);
        assert_eq!(words("amount_paid"), ["amount", "paid"]);
        assert!(!looks_like_identifier_name("amount_paid"));
        assert!(looks_like_identifier_name("RowNumber"));
        assert!(looks_like_identifier_name("contact email"));
    }

    #[test]
    fn identifiers_names_and_free_text_are_never_features() {
        let text = "RowNumber,CustomerId,Surname,Age,Country,Note,Exited\n\
            1,900,Smith,40,FR,a,1\n2,901,Jones,30,DE,b,0\n3,902,Brown,35,FR,c,0\n";
        let table = Table::parse(text.as_bytes()).unwrap();
        let (encoding, excluded) = detect(&table, "Exited", &["Note".into()]);
        let names: Vec<_> = encoding.features.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Age", "Country"]);
        let left_out: Vec<_> = excluded.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(left_out, ["RowNumber", "CustomerId", "Surname", "Note"]);
        assert_eq!(encoding.width(), 3);
        let mut row = Vec::new();
        encoding.encode_into(&[Some("41"), Some("DE")], &mut row);
        assert_eq!(row, [41.0, 1.0, 0.0], "levels in sorted order: DE, FR");
    }
}
