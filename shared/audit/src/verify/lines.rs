//! Reading export lines (one JSON entry each) without allocating per entry: a fast path for
//! the exact form `revops audit export` writes, and `serde_json` for any other valid form
//! (other key order, whitespace, escapes), so a re-serialised export still verifies.

use std::borrow::Cow;

use serde::Deserialize;

use crate::entry::EntryView;

/// An entry as read from a line: its text borrowed from the line unless the JSON escaped it.
#[derive(Debug)]
pub(crate) enum LineEntry<'a> {
    /// The form `audit export` writes.
    Written(EntryView<'a>),
    /// Any other valid JSON form (boxed: it is rare, and large to move).
    Json(Box<JsonEntry<'a>>),
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
            LineEntry::Written(view) => *view,
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
    if let Some(view) = parse_written_form(line) {
        return Ok(LineEntry::Written(view));
    }
    serde_json::from_slice(line)
        .map(|entry| LineEntry::Json(Box::new(entry)))
        .map_err(|error| error.to_string())
}

/// What comes before each text field's value in the written form, in
/// [`TEXT_FIELDS`](crate::entry::TEXT_FIELDS) order.
const OPENERS: [&str; 10] = [
    ",\"occurred_at\":\"",
    ",\"server\":\"",
    ",\"actor\":\"",
    ",\"tool\":\"",
    ",\"kind\":\"",
    ",\"args_digest\":\"",
    ",\"outcome\":\"",
    ",\"detail\":\"",
    ",\"prev_hash\":\"",
    ",\"hash\":\"",
];

/// The length each value usually has (a timestamp, a pseudonym, hex digests; 0 where none
/// is usual). Only a guess to confirm: a value of another length is found by search.
const USUAL_LENGTHS: [usize; 10] = [27, 0, 26, 0, 0, 64, 0, 0, 64, 64];

/// The entry on a line exactly as `serde_json` writes an `AuditEntry`: keys in declaration order, no
/// whitespace, no escapes, no control characters. `None` for anything else, which then goes
/// through `serde_json`; so this path accepts nothing `serde_json` would reject or read
/// differently.
pub(crate) fn parse_written_form(line: &[u8]) -> Option<EntryView<'_>> {
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
    for ((value, opener), usual) in values.iter_mut().zip(OPENERS).zip(USUAL_LENGTHS) {
        if !opens_with(rest.as_bytes(), opener.as_bytes()) {
            return None;
        }
        rest = rest.get(opener.len()..)?;
        let end = value_end(rest.as_bytes(), usual)?;
        // `end` is at an ASCII quote, so both slices fall on character boundaries.
        *value = rest.get(..end)?;
        rest = rest.get(end + 1..)?;
    }
    if rest != "}" {
        return None;
    }
    Some(EntryView::from_fields(seq, values))
}

/// Whether `bytes` starts with `opener`. The openers are 9 to 16 bytes long, so two
/// overlapping 8-byte words hold all of one: two integer comparisons instead of a call to
/// `memcmp`, which cost more than the comparing for keys this short.
fn opens_with(bytes: &[u8], opener: &[u8]) -> bool {
    let edge_words = |bytes: &[u8]| -> Option<(u64, u64)> {
        Some((
            u64::from_ne_bytes(*bytes.first_chunk::<8>()?),
            u64::from_ne_bytes(*bytes.last_chunk::<8>()?),
        ))
    };
    if !(8..=16).contains(&opener.len()) {
        return bytes.starts_with(opener);
    }
    match bytes.get(..opener.len()) {
        Some(head) => edge_words(head) == edge_words(opener),
        None => false,
    }
}

/// Where the string value at the start of `bytes` ends: its first quote (the caller has
/// ruled out escapes). The usual length is tried first, with one vectorisable pass to confirm
/// no earlier quote; then a short value is looked for byte by byte. A call to `memchr` costs
/// more than either for values this short, so it is kept for long ones.
fn value_end(bytes: &[u8], usual: usize) -> Option<usize> {
    if usual > 0
        && bytes.get(usual) == Some(&b'"')
        && !bytes[..usual]
            .iter()
            .fold(false, |seen, &byte| seen | (byte == b'"'))
    {
        return Some(usual);
    }
    const SHORT: usize = 16;
    let head = &bytes[..bytes.len().min(SHORT)];
    match head.iter().position(|&byte| byte == b'"') {
        Some(end) => Some(end),
        None => memchr::memchr(b'"', &bytes[head.len()..]).map(|end| head.len() + end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{AuditEntry, TEXT_FIELDS};

    #[test]
    fn each_opener_names_its_field() {
        for (opener, name) in OPENERS.iter().zip(TEXT_FIELDS) {
            assert_eq!(*opener, format!(",\"{name}\":\""));
        }
    }

    #[test]
    fn a_value_of_an_unusual_length_is_read_whole() {
        let mut unusual = entry();
        unusual.hash = "f".repeat(63);
        unusual.prev_hash = "a\"b".into();
        unusual.occurred_at = "2026-11-21T10:00:00Z".into();
        unusual.actor = format!("u_{}", "0".repeat(40));
        let line = serde_json::to_vec(&unusual).unwrap();
        assert_eq!(parse(&line).unwrap().view(), unusual.view());
        // A quote inside the usual length ends the value there, as JSON reads it.
        let mut long = entry();
        long.detail = "a long reason, longer than sixteen bytes".into();
        long.tool = "sixteen_bytes_xx".into();
        let line = serde_json::to_vec(&long).unwrap();
        assert_eq!(parse_written_form(&line), Some(long.view()));
        let mut short = entry();
        short.args_digest = "ab".repeat(20);
        let line = serde_json::to_vec(&short).unwrap();
        let fast = parse_written_form(&line).expect("the written form");
        assert_eq!(fast, short.view());
    }

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
        let slow = LineEntry::Json(Box::new(serde_json::from_slice(&line).unwrap()));
        assert_eq!(fast, slow.view());
        assert_eq!(fast, entry().view());
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
