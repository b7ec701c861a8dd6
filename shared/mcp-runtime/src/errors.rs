//! [`ToolError`]: how a tool says it could not do what was asked, in words that tell the
//! caller what to change. It becomes a tool result with `isError: true`; the server keeps
//! serving.

use rmcp::model::{ContentBlock, IntoContents};

/// A failure a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// An argument is wrong: which one, and what would be right.
    #[error("invalid {field}: {problem}")]
    InvalidArgument {
        field: &'static str,
        problem: String,
    },
    /// A referenced record does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the data (a duplicate, a rule of the domain).
    #[error("{0}")]
    Conflict(String),
    /// The actor's role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// The store or an upstream is unavailable; trying again later may work.
    #[error("{0}")]
    Unavailable(String),
}

pub type ToolResult<T> = Result<T, ToolError>;

impl ToolError {
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> ToolError {
        ToolError::InvalidArgument {
            field,
            problem: problem.into(),
        }
    }
}

impl From<store::Error> for ToolError {
    fn from(error: store::Error) -> ToolError {
        match error {
            store::Error::NotFound { .. } => ToolError::NotFound(error.to_string()),
            store::Error::Conflict(message) => ToolError::Conflict(message),
            store::Error::Unavailable(_)
            | store::Error::Migration(_)
            | store::Error::Internal(_) => ToolError::Unavailable(error.to_string()),
        }
    }
}

impl IntoContents for ToolError {
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(self.to_string())]
    }
}

/// Checks a free-text argument: at most `max_chars` characters and no control characters
/// other than newline and tab. Returns it trimmed.
pub fn text_arg(field: &'static str, value: &str, max_chars: usize) -> ToolResult<String> {
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length > max_chars {
        return Err(ToolError::invalid(
            field,
            format!("is {length} characters long; the limit is {max_chars}"),
        ));
    }
    if let Some(c) = trimmed
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(ToolError::invalid(
            field,
            format!(
                "contains the control character U+{:04X}; remove it",
                u32::from(c)
            ),
        ));
    }
    Ok(trimmed.to_string())
}

/// Checks a record id argument against its kind's prefix (`acc`, `lead`, …).
pub fn id_arg(field: &'static str, prefix: &str, value: &str) -> ToolResult<String> {
    let value = value.trim();
    if store::ids::is_well_formed(prefix, value) {
        Ok(value.to_string())
    } else {
        let shown: String = value.chars().take(40).filter(|c| !c.is_control()).collect();
        Err(ToolError::invalid(
            field,
            format!("{shown:?} is not a {prefix} id; ids look like {prefix}_000123"),
        ))
    }
}

/// Checks that `value` is one of `allowed`.
pub fn choice_arg(field: &'static str, value: &str, allowed: &[&str]) -> ToolResult<String> {
    let value = value.trim();
    if allowed.contains(&value) {
        Ok(value.to_string())
    } else {
        let shown: String = value.chars().take(40).filter(|c| !c.is_control()).collect();
        Err(ToolError::invalid(
            field,
            format!("{shown:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

/// Checks an RFC 3339 timestamp argument and returns it in the store's UTC format.
pub fn timestamp_arg(field: &'static str, value: &str) -> ToolResult<String> {
    store::clock::parse(value.trim())
        .map(store::clock::format)
        .ok_or_else(|| {
            ToolError::invalid(
                field,
                "is not an RFC 3339 timestamp; use e.g. 2026-11-16T09:30:00Z",
            )
        })
}

/// Checks a free-text argument that must say something ([`text_arg`], and not empty).
pub fn required_text(field: &'static str, value: &str, max_chars: usize) -> ToolResult<String> {
    let text = text_arg(field, value, max_chars)?;
    if text.is_empty() {
        Err(ToolError::invalid(field, "is empty; say it in a few words"))
    } else {
        Ok(text)
    }
}

/// [`text_arg`] for an optional argument; an empty string counts as absent.
pub fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max_chars: usize,
) -> ToolResult<Option<String>> {
    match value {
        Some(value) => text_arg(field, value, max_chars).map(|t| (!t.is_empty()).then_some(t)),
        None => Ok(None),
    }
}

/// [`choice_arg`] for an optional argument.
pub fn optional_choice(
    field: &'static str,
    value: Option<&str>,
    allowed: &[&str],
) -> ToolResult<Option<String>> {
    value.map(|v| choice_arg(field, v, allowed)).transpose()
}

/// [`id_arg`] for an optional argument.
pub fn optional_id(
    field: &'static str,
    prefix: &str,
    value: Option<&str>,
) -> ToolResult<Option<String>> {
    value.map(|v| id_arg(field, prefix, v)).transpose()
}

/// Checks a calendar date argument (`YYYY-MM-DD`, years 2000-2100: a date outside them is
/// a typo, not a plan).
pub fn date_arg(field: &'static str, value: &str) -> ToolResult<String> {
    use chrono::Datelike;
    match store::clock::parse_date(value.trim()) {
        Some(date) if (2000..=2100).contains(&date.year()) => Ok(store::clock::format_date(date)),
        Some(_) => Err(ToolError::invalid(
            field,
            "must be between 2000-01-01 and 2100-12-31",
        )),
        None => Err(ToolError::invalid(
            field,
            "is not a date; use YYYY-MM-DD, e.g. 2026-12-31",
        )),
    }
}

/// Checks an email address: one `@`, a dotted domain, no spaces, at most 254 characters.
/// Returns it trimmed and lower-cased.
pub fn email_arg(field: &'static str, value: &str) -> ToolResult<String> {
    let email = text_arg(field, value, 254)?.to_lowercase();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(ToolError::invalid(
            field,
            "is not an email address; use e.g. dana@acme.example",
        ))
    }
}

/// The largest amount of money a tool accepts, in minor units (100 billion in major units).
pub const MAX_AMOUNT_MINOR: i64 = 10_000_000_000_000;

/// Checks an amount of money in minor units: not negative, not absurd.
pub fn amount_arg(field: &'static str, value: i64) -> ToolResult<i64> {
    if value < 0 {
        Err(ToolError::invalid(
            field,
            format!("is {value}; amounts cannot be negative"),
        ))
    } else if value > MAX_AMOUNT_MINOR {
        Err(ToolError::invalid(
            field,
            format!("is {value}; the largest amount accepted is {MAX_AMOUNT_MINOR} minor units"),
        ))
    } else {
        Ok(value)
    }
}

/// Checks a count or size against a range.
pub fn range_arg(field: &'static str, value: i64, min: i64, max: i64) -> ToolResult<i64> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ToolError::invalid(
            field,
            format!("is {value}; it must be between {min} and {max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_refused_with_a_reason() {
        assert!(text_arg("subject", "fine\nline two", 100).is_ok());
        let error = text_arg("subject", "bell\u{7}", 100).unwrap_err();
        assert!(error.to_string().contains("U+0007"), "{error}");
        let error = text_arg("subject", &"x".repeat(101), 100).unwrap_err();
        assert!(error.to_string().contains("limit is 100"), "{error}");
        let error = id_arg("account_id", "acc", "acc_1' OR 1=1 --").unwrap_err();
        assert!(error.to_string().contains("not a acc id"), "{error}");
    }

    #[test]
    fn dates_emails_and_amounts_out_of_range_say_what_is_allowed() {
        assert_eq!(date_arg("close_date", "2026-12-31").unwrap(), "2026-12-31");
        assert!(
            date_arg("close_date", "1900-01-01")
                .unwrap_err()
                .to_string()
                .contains("between 2000")
        );
        assert!(
            date_arg("close_date", "31/12/2026")
                .unwrap_err()
                .to_string()
                .contains("YYYY-MM-DD")
        );
        assert_eq!(
            email_arg("email", " Dana@Acme.Example ").unwrap(),
            "dana@acme.example"
        );
        assert!(email_arg("email", "dana at acme").is_err());
        assert!(email_arg("email", "dana@acme").is_err());
        assert!(
            amount_arg("amount_minor", -1)
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(range_arg("employee_count", -5, 0, 10).is_err());
    }
}
