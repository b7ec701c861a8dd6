//! Reading a CSV export as real tools write them: comma or semicolon delimited (detected
//! from the header), CRLF or LF line ends, quoted fields, blank cells and placeholder values
//! ("NA", "null", "-", …) read as missing, and a trailing empty column dropped.

use std::path::Path;

use crate::LearnError;

/// Cell texts that mean "no value" in exports from CRMs, spreadsheets and databases.
const MISSING_MARKERS: [&str; 12] = [
    "", "na", "n/a", "nan", "null", "none", "nil", "-", "--", "?", "#n/a", "missing",
];

/// One column of a table: its header and its cells (None where missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub cells: Vec<Option<String>>,
}

/// A table read from a CSV file, column by column.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: usize,
}

/// True when a cell's text means "no value".
pub fn is_missing(text: &str) -> bool {
    let trimmed = text.trim();
    MISSING_MARKERS
        .iter()
        .any(|marker| trimmed.eq_ignore_ascii_case(marker))
}

/// The delimiter a header line uses: the one of `,` and `;` it holds more of, outside quotes.
fn detect_delimiter(header: &str) -> u8 {
    let (mut commas, mut semicolons, mut quoted) = (0, 0, false);
    for c in header.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => commas += 1,
            ';' if !quoted => semicolons += 1,
            _ => {}
        }
    }
    if semicolons > commas { b';' } else { b',' }
}

impl Table {
    /// Reads a CSV file.
    pub fn read(path: &Path) -> Result<Table, LearnError> {
        let bytes = std::fs::read(path).map_err(|error| {
            LearnError::Input(format!("cannot read {}: {error}", path.display()))
        })?;
        Table::parse(&bytes)
    }

    /// Parses CSV text (UTF-8; a byte-order mark is skipped).
    pub fn parse(bytes: &[u8]) -> Result<Table, LearnError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let first_line = bytes
            .split(|b| *b == b'\n')
            .next()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(detect_delimiter(&first_line))
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|error| LearnError::Input(format!("cannot read the header row: {error}")))?
            .iter()
            .map(str::to_string)
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(LearnError::Input("the file has no header row".into()));
        }
        let mut columns: Vec<Column> = headers
            .iter()
            .map(|name| Column {
                name: name.clone(),
                cells: Vec::new(),
            })
            .collect();
        let mut rows = 0;
        for (index, record) in reader.records().enumerate() {
            let record = record.map_err(|error| {
                LearnError::Input(format!("row {} is not valid CSV: {error}", index + 2))
            })?;
            if record.iter().all(is_missing) {
                continue; // a blank line or a row of separators
            }
            if record.len() > columns.len()
                && record.iter().skip(columns.len()).any(|c| !c.is_empty())
            {
                return Err(LearnError::Input(format!(
                    "row {} has {} cells but the header names {} columns",
                    index + 2,
                    record.len(),
                    columns.len()
                )));
            }
            for (position, column) in columns.iter_mut().enumerate() {
                let cell = record.get(position).unwrap_or("");
                column
                    .cells
                    .push((!is_missing(cell)).then(|| cell.to_string()));
            }
            rows += 1;
        }
        // A trailing delimiter on every line makes an empty, unnamed last column.
        columns
            .retain(|column| !(column.name.is_empty() && column.cells.iter().all(Option::is_none)));
        if let Some(unnamed) = columns.iter().position(|c| c.name.is_empty()) {
            return Err(LearnError::Input(format!(
                "column {} has values but no header; name it",
                unnamed + 1
            )));
        }
        Ok(Table { columns, rows })
    }

    /// The column with this header (case-insensitive).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|column| column.name.eq_ignore_ascii_case(name))
    }
}

/// Reads an outcome cell as a label: 0/1, true/false, yes/no, y/n in any case, or equal to
/// `positive` when it is given (any other value is then the negative class).
pub fn parse_label(text: &str, positive: Option<&str>) -> Option<bool> {
    let text = text.trim();
    if let Some(positive) = positive {
        return Some(text.eq_ignore_ascii_case(positive.trim()));
    }
    match text.to_ascii_lowercase().as_str() {
        "1" | "1.0" | "true" | "yes" | "y" | "t" => Some(true),
        "0" | "0.0" | "false" | "no" | "n" | "f" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn semicolons_crlf_quotes_placeholders_and_a_trailing_column_are_read_as_meant() {
        let text = b"id;name;amount;churned;\r\n1;\"Smith; John\";12,5;Yes;\r\n2;NA;7;no;\r\n\r\n3;\"Lee\";;TRUE;\r\n";
        let table = Table::parse(text).unwrap();
        assert_eq!(table.rows, 3);
        let names: Vec<_> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "amount", "churned"]);
        assert_eq!(table.columns[1].cells[0].as_deref(), Some("Smith; John"));
        assert_eq!(table.columns[1].cells[1], None);
        assert_eq!(table.columns[2].cells[2], None);
        let labels: Vec<_> = table.columns[3]
            .cells
            .iter()
            .map(|c| parse_label(c.as_deref().unwrap(), None))
            .collect();
        assert_eq!(labels, [Some(true), Some(false), Some(true)]);
    }

    #[test]
    fn commas_are_detected_and_a_byte_order_mark_is_skipped() {
        let table = Table::parse("\u{feff}a,b\n1,x\n2,y\n".as_bytes()).unwrap();
        assert_eq!(table.columns[0].name, "a");
        assert_eq!(table.rows, 2);
    }

    #[test]
    fn a_row_with_extra_values_is_an_error_naming_the_row() {
        let error = Table::parse(b"a,b\n1,2\n3,4,5\n").unwrap_err();
        assert!(error.to_string().contains("row 3"), "{error}");
    }

    #[test]
    fn a_positive_value_makes_everything_else_negative() {
        assert_eq!(parse_label("Churned", Some("churned")), Some(true));
        assert_eq!(parse_label("Stayed", Some("churned")), Some(false));
        assert_eq!(parse_label("maybe", None), None);
    }
}
