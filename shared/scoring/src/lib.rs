//! The suite's predictive models as pure functions: no store, no MCP, no I/O, no async.
//!
//! - [`lead`]: the lead score (0-100, hot/warm/cold) with per-feature attributions that add
//!   up exactly to the score, a plain-language explanation and the changes that would raise
//!   it most.
//! - [`qualification`]: a BANT-style verdict on a lead (disqualified, nurture, MQL, SQL,
//!   opportunity) built on the lead score, with each criterion and the facts it used.
//! - [`deals`]: a deal's win probability (stage base rate plus factors that add up exactly
//!   to the percentage), its risks and its forecast category.
//!
//! Every result carries the [`ModelRef`] (name and version) of the model that produced it,
//! so a logged prediction can always be traced to the parameters behind it. Models are
//! versioned records: the rule-based defaults ship as version 1, and every weight,
//! threshold and table lives in a `Params` struct that round-trips through JSON, so later
//! versions (learnt from the store's own outcomes) are just different parameters stored in
//! the `models` table and loaded with `from_params`.
//!
//! Everything here is deterministic: the same inputs and parameters always give the same
//! answer, on every machine.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod attribution;
pub mod churn;
pub mod conversion;
pub mod deals;
pub mod health;
pub mod lead;
pub mod qualification;

/// Which model produced a result: its name and version, as stored in the `models` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ModelRef {
    /// The model's name, e.g. `lead_scorer` or `win_probability`.
    pub name: String,
    /// The model's version; the rule-based defaults are version 1.
    pub version: u32,
}

impl ModelRef {
    /// A model reference from its name and version.
    pub fn new(name: &str, version: u32) -> ModelRef {
        ModelRef {
            name: name.to_owned(),
            version,
        }
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{}", self.name, self.version)
    }
}

/// Checks shared by every model's `from_params`: a name to store it under and a version
/// that counts from 1.
pub(crate) fn check_model_ref(name: &str, version: u32) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(
            "the model name is empty: give the model a name such as \"lead_scorer\"".into(),
        );
    }
    if name.len() > 80 {
        return Err(format!(
            "the model name is {} characters long: use at most 80",
            name.len()
        ));
    }
    if version == 0 {
        return Err("the model version is 0: versions count from 1".into());
    }
    Ok(())
}

/// Bytes that belong to a word when names are compared: ASCII letters and digits, and any
/// non-ASCII byte (so accented names keep their letters).
pub(crate) fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// Lowercases ASCII letters and keeps only word bytes, so "Health-Care", "health care" and
/// "HEALTHCARE" compare equal. Writes into `buf` and returns the length; stops when `buf`
/// is full.
pub(crate) fn normalise_into(text: &[u8], buf: &mut [u8]) -> usize {
    let mut len = 0;
    for &b in text {
        if len == buf.len() {
            break;
        }
        if is_word_byte(b) {
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
    }
    len
}

/// [`normalise_into`] into a fresh vector, for building lookup tables.
pub(crate) fn normalised(text: &str) -> Vec<u8> {
    text.bytes()
        .filter(|&b| is_word_byte(b))
        .map(|b| b.to_ascii_lowercase())
        .collect()
}

/// Formats a count with thousands separators ("12,500") for explanations.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "1 visit" / "3 visits".
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated_with_commas() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_500), "12,500");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }

    #[test]
    fn normalising_ignores_case_spaces_and_punctuation() {
        assert_eq!(normalised("Health-Care"), b"healthcare".to_vec());
        assert_eq!(
            normalised(" professional_services "),
            b"professionalservices".to_vec()
        );
        let mut buf = [0u8; 4];
        assert_eq!(normalise_into(b"Technology", &mut buf), 4);
        assert_eq!(&buf, b"tech");
    }

    #[test]
    fn a_model_ref_needs_a_name_and_a_version_from_one() {
        assert!(check_model_ref("lead_scorer", 1).is_ok());
        assert!(check_model_ref(" ", 1).is_err());
        assert!(check_model_ref("lead_scorer", 0).is_err());
        assert_eq!(
            ModelRef::new("lead_scorer", 2).to_string(),
            "lead_scorer v2"
        );
    }
}
