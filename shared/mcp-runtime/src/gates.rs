//! Step 4, the gates. Destructive tools pass the confirmation gate: a first call runs the
//! tool in a transaction that is always rolled back, so it shows exactly what would change
//! and changes nothing, and answers with a single-use token bound to the tool, the exact
//! arguments and the actor. Only a second call with that token acts. Destructive tools answer
//! with [`Gated`], whose schema carries the preview status and the token.
//!
//! Some writes need the same gate only for some calls: raising a budget cap, an email to
//! thousands, a change to hundreds of accounts. Such a tool declares
//! [`conditional_gate_meta`] and calls `CallScope::require_confirmation` when the call in
//! hand needs it; the pipeline then treats that call exactly like a destructive one.

use schemars::JsonSchema;
use serde::Serialize;

/// The argument that carries a confirmation token; added to every destructive tool's input.
pub const CONFIRM_TOKEN_ARG: &str = "confirm_token";

/// The variable setting how long a confirmation token lives, in seconds (default 300).
pub const CONFIRM_TTL_VAR: &str = "REVOPS_CONFIRM_TTL_SECONDS";

/// The `_meta` key by which a write tool declares that some of its calls need confirmation.
pub const GATE_META: &str = "revops/gate";

/// The `_meta` of a write tool gated only for some calls:
/// `#[tool(meta = mcp_runtime::gates::conditional_gate_meta(), …)]`. Such a tool answers with
/// [`Gated`] and calls `CallScope::require_confirmation` when a call needs the gate.
pub fn conditional_gate_meta() -> rmcp::model::MetaObject {
    let mut meta = rmcp::model::MetaObject::new();
    meta.0
        .insert(GATE_META.into(), serde_json::Value::from("conditional"));
    meta
}

/// Which calls of a tool pass the confirmation gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// None (reads and ordinary writes).
    Never,
    /// The calls that ask for it (see [`conditional_gate_meta`]).
    WhenAsked,
    /// Every call (destructive tools).
    Always,
}

impl Gate {
    pub(crate) fn of(tool: &rmcp::model::Tool) -> Gate {
        if crate::policy::ToolKind::of(tool) == crate::policy::ToolKind::Destructive {
            return Gate::Always;
        }
        let conditional = tool
            .meta
            .as_ref()
            .and_then(|meta| meta.0.get(GATE_META))
            .and_then(|value| value.as_str())
            == Some("conditional");
        if conditional && crate::policy::ToolKind::of(tool) == crate::policy::ToolKind::Write {
            Gate::WhenAsked
        } else {
            Gate::Never
        }
    }
}

/// What the gate knows of one call: whether it was confirmed, and whether the tool asked
/// for confirmation (and why).
#[derive(Debug, Default)]
pub(crate) struct GateState {
    pub(crate) confirmed: bool,
    pub(crate) asked: std::sync::Mutex<Option<String>>,
}

impl GateState {
    pub(crate) fn confirmed() -> GateState {
        GateState {
            confirmed: true,
            asked: std::sync::Mutex::new(None),
        }
    }

    /// The reason the tool gave, if it asked for confirmation.
    pub(crate) fn reason(&self) -> Option<String> {
        self.asked
            .lock()
            .map(|reason| reason.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }
}

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
        let ttl = match store::config::var(CONFIRM_TTL_VAR) {
            Some(text) => text
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
