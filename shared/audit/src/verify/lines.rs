//! Reading export lines (one JSON entry each) without allocating per entry: a fast path for
//! the exact form `revops audit export` writes, and `serde_json` for any other valid form
//! (other key order, whitespace, escapes), so a re-serialised export still verifies.

use std::borrow::Cow;

use serde::Deserialize;

use crate::entry::{EntryView, TEXT_FIELDS};

/// An entry as read from a line: its text borrowed from the line unless the JSON escaped it.
#[derive(Debug)]
pub(crate) enum LineEntry<'a> {
    /// The form `audit export` writes: seq and the text fields in [`TEXT_FIELDS`] order.
    Written(i64, [&'a str; 10]),
    /// Any other valid JSON form.
    Json(JsonEntry<'a>),
}

/// An entry read by `serde_json`.
#[derive(Debug, Deserialize)]
pub(crate) struct JsonEntry<'a> {
    seq: i64,
    #[serde(borrow)]
    occurred_at: Cow<'a, str>,
    #[serde(borrow)]
    server: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    tool: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    args_digest: Cow<'a, str>,
    #[serde(borrow)]
    outcome: Cow<'a, str>,
    #[serde(borrow)]
    detail: Cow<'a, str>,
    #[serde(borrow)]
    prev_hash: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
}

impl LineEntry<'_> {
    pub(crate) fn view(&self) -> EntryView<'_> {
        match self {
            LineEntry::Written(seq, fields) => EntryView::from_fields(*seq, *fields),
            LineEntry::Json(entry) => EntryView::from_fields(
                entry.seq,
                [
                    &entry.occurred_at,
                    &entry.server,
                    &entry.actor,
                    &entry.tool,
                    &entry.kind,
                    &entry.args_digest,
                    &entry.outcome,
                    &entry.detail,
                    &entry.prev_hash,
                    &entry.hash,
                ],
            ),
        }
    }
}

/// Reads one non-blank line (without its line ending).
pub(crate) fn parse(line: &[u8]) -> Result<LineEntry<'_>, String> {
    if let Some(entry) = parse_written_form(line) {
        return Ok(entry);
    }
    serde_json::from_slice(line)
        .map(LineEntry::Json)
        .map_err(|error| error.to_string())
}

/// The line exactly as `serde_json` writes an `AuditEntry`: keys in declaration order, no
/// whitespace, no escapes, no control characters. `None` for anything else, which then goes
/// through `serde_json`; so this path accepts nothing `serde_json` would reject or read
/// differently.
fn parse_written_form(line: &[u8]) -> Option<LineEntry<'_>> {
    // One vectorisable pass instead of a check per field.
    let needs_json_rules = line
        .iter()
        .fold(false, |seen, &byte| seen | (byte < 0x20) | (byte == b'\\'));
    if needs_json_rules {
        return None;
    }
    let text = std::str::from_utf8(line).ok()?;
    let rest = text.strip_prefix("{\"seq\":")?;
    let digits_end = rest
        .bytes()
        .position(|byte| !(byte.is_ascii_digit() || byte == b'-'))?;
    let digits = &rest[..digits_end];
    // JSON has no leading zeros or lone minus; leave those to serde_json's error.
    let unsigned = digits.strip_prefix('-').unwrap_or(digits);
    if unsigned.is_empty() || (unsigned.len() > 1 && unsigned.starts_with('0')) {
        return None;
    }
    let seq: i64 = digits.parse().ok()?;
    let mut rest = &rest[digits_end..];
    let mut values = [""; 10];
    for (value, name) in values.iter_mut().zip(TEXT_FIELDS) {
        rest = rest
            .strip_prefix(",\"")?
            .strip_prefix(name)?
            .strip_prefix("\":\"")?;
        let end = memchr::memchr(b'"', rest.as_bytes())?;
        *value = &rest[..end];
        rest = &rest[end + 1..];
    }
    if rest != "}" {
        return None;
    }
    Some(LineEntry::Written(seq, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::AuditEntry;

    fn entry() -> AuditEntry {
        AuditEntry {
            seq: 42,
            occurred_at: "2026-11-21T10:00:00.000000Z".into(),
            server: "sales".into(),
            actor: "u_1".into(),
            tool: "get_lead".into(),
            kind: "read".into(),
            args_digest: "ab".repeat(32),
            outcome: "ok".into(),
            detail: "not found".into(),
            prev_hash: "0".repeat(64),
            hash: "f".repeat(64),
        }
    }

    #[test]
    fn the_written_form_is_read_without_serde_and_agrees_with_it() {
        let line = serde_json::to_vec(&entry()).unwrap();
        let fast = parse_written_form(&line).expect("the written form takes the fast path");
        let slow = LineEntry::Json(serde_json::from_slice(&line).unwrap());
        assert_eq!(fast.view(), slow.view());
        assert_eq!(fast.view(), entry().view());
    }

    #[test]
    fn other_valid_forms_are_read_by_serde_json() {
        let mut escaped = entry();
        escaped.detail = "a \"quoted\" word\tand a tab".into();
        let line = serde_json::to_vec(&escaped).unwrap();
        assert!(parse_written_form(&line).is_none());
        assert_eq!(parse(&line).unwrap().view(), escaped.view());

        let pretty = serde_json::to_vec_pretty(&entry()).unwrap();
        let one_line: Vec<u8> = pretty.into_iter().filter(|b| *b != b'\n').collect();
        assert!(parse_written_form(&one_line).is_none());
        assert_eq!(parse(&one_line).unwrap().view(), entry().view());

        let mut value = serde_json::to_value(entry()).unwrap();
        let hash = value.as_object_mut().unwrap().remove("hash").unwrap();
        let mut reordered = serde_json::Map::new();
        reordered.insert("hash".into(), hash);
        reordered.extend(value.as_object().unwrap().clone());
        let line = serde_json::to_vec(&reordered).unwrap();
        assert_eq!(parse(&line).unwrap().view(), entry().view());
    }

    #[test]
    fn what_json_forbids_is_refused_on_either_path() {
        let line = serde_json::to_string(&entry()).unwrap();
        for bad in [
            line.replace("\"seq\":42", "\"seq\":042"),
            line.replace("\"seq\":42", "\"seq\":-"),
            line.replace("not found", "not\u{1}found"),
            line.replace('}', ""),
            line.replace("\"tool\"", "\"tol\""),
            format!("{line} trailing"),
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "accepted {bad}");
        }
    }
}
