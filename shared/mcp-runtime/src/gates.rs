//! Step 4, the gates. Destructive tools pass the confirmation gate: a first call runs the
//! tool in a transaction that is always rolled back, so it shows exactly what would change
//! and changes nothing, and answers with a single-use token bound to the tool, the exact
//! arguments and the actor. Only a second call with that token acts. Destructive tools answer
//! with [`Gated`], whose schema carries the preview status and the token.

use schemars::JsonSchema;
use serde::Serialize;

/// The argument that carries a confirmation token; added to every destructive tool's input.
pub const CONFIRM_TOKEN_ARG: &str = "confirm_token";

/// The variable setting how long a confirmation token lives, in seconds (default 300).
pub const CONFIRM_TTL_VAR: &str = "REVOPS_CONFIRM_TTL_SECONDS";

/// The gates' settings.
#[derive(Debug, Clone)]
pub struct Gates {
    pub confirmation_ttl: chrono::Duration,
    pub organisation_caps: guard::budget::OrganisationCaps,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            confirmation_ttl: chrono::Duration::seconds(300),
            organisation_caps: Default::default(),
        }
    }
}

impl Gates {
    /// Settings from `REVOPS_CONFIRM_TTL_SECONDS` and `REVOPS_MONTHLY_SPEND_CAP_MINOR`.
    pub fn from_env() -> Result<Gates, String> {
        let ttl = match std::env::var(CONFIRM_TTL_VAR) {
            Ok(text) if !text.trim().is_empty() => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .ok_or_else(|| {
                    format!("{CONFIRM_TTL_VAR} must be 1 to 86400 seconds, got {text:?}")
                })?,
            _ => 300,
        };
        Ok(Gates {
            confirmation_ttl: chrono::Duration::seconds(ttl),
            organisation_caps: guard::budget::OrganisationCaps::from_env()?,
        })
    }
}

/// Whether a destructive tool's answer is a preview or the done deed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GatedStatus {
    /// Nothing was changed; `result` shows what would change; confirm to act.
    Preview,
    /// The change was made.
    Done,
}

/// How to confirm a previewed action.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ConfirmationRequest {
    /// Pass as `confirm_token` with exactly the same arguments to act.
    pub confirm_token: String,
    /// When the token stops working (UTC).
    pub expires_at: String,
    pub instructions: String,
}

/// The answer of a destructive tool: a preview with a confirmation token, or the result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Gated<T> {
    pub status: GatedStatus,
    /// On a preview, what would change; when done, what changed.
    pub result: T,
    /// Present on a preview.
    pub confirmation: Option<ConfirmationRequest>,
}

impl<T> Gated<T> {
    /// What a destructive tool returns; the pipeline turns it into a preview on a first call.
    pub fn done(result: T) -> Gated<T> {
        Gated {
            status: GatedStatus::Done,
            result,
            confirmation: None,
        }
    }
}
