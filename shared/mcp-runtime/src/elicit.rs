//! Step 4's other path: asking the user through the protocol. When the client declared form
//! elicitation, a destructive tool's preview is shown to the user in an `elicitation/create`
//! request; if they confirm, the pipeline runs the call for real at once, and the token flow
//! is not needed. A decline, a cancel or no answer within the confirmation TTL changes
//! nothing and is audited as denied. Where elicitation is not possible (not declared, or the
//! newest protocol, which forbids server-to-client requests), the token flow is the fallback.

use rmcp::model::CallToolResponse;
use rmcp::{ErrorData as McpError, Peer, RoleServer};
use schemars::JsonSchema;
use serde::Deserialize;

/// The audit detail of a destructive call the user confirmed through elicitation.
pub const CONFIRMED_DETAIL: &str = "confirmed by the user through elicitation";

/// The user's answer to "go ahead?".
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Confirmation {
    /// True to make the change shown; false to change nothing.
    pub confirm: bool,
}

rmcp::elicit_safe!(Confirmation);

/// What came of asking.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Confirmed,
    /// How the user said no: "declined", "cancelled", "did not confirm", "did not answer".
    Declined(&'static str),
    /// The client could not be asked; use the token flow.
    Unavailable,
}

/// The longest preview shown in the question; the rest is cut with a note.
const MAX_PREVIEW_CHARS: usize = 4000;

/// Shows the preview of `tool` to the user and asks them to confirm it.
pub async fn ask(
    peer: &Peer<RoleServer>,
    tool: &str,
    preview: &Result<CallToolResponse, McpError>,
    ttl: chrono::Duration,
) -> Answer {
    let shown = match preview {
        Ok(CallToolResponse::Complete(done)) => done
            .structured_content
            .as_ref()
            .and_then(|value| value.get("result").cloned())
            .map(|result| serde_json::to_string_pretty(&result).unwrap_or_default())
            .unwrap_or_default(),
        _ => String::new(),
    };
    let mut shown: String = shown.chars().take(MAX_PREVIEW_CHARS).collect();
    if shown.chars().count() == MAX_PREVIEW_CHARS {
        shown.push_str("\n… (preview cut short)");
    }
    let message = format!(
        "{tool} would make this change, which cannot be undone. Nothing has changed yet.\n\n{shown}\n\nGo ahead?"
    );
    let timeout = ttl.to_std().ok();
    match peer
        .elicit_with_timeout::<Confirmation>(message, timeout)
        .await
    {
        Ok(Some(Confirmation { confirm: true })) => Answer::Confirmed,
        Ok(Some(Confirmation { confirm: false })) | Ok(None) => Answer::Declined("did not confirm"),
        Err(rmcp::service::ElicitationError::UserDeclined) => Answer::Declined("declined"),
        Err(rmcp::service::ElicitationError::UserCancelled) => Answer::Declined("cancelled"),
        Err(rmcp::service::ElicitationError::Service(rmcp::service::ServiceError::Timeout {
            ..
        })) => Answer::Declined("did not answer"),
        Err(error) => {
            tracing::debug!(%error, "elicitation unavailable; falling back to a confirmation token");
            Answer::Unavailable
        }
    }
}
