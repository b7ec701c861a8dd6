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
}
