//! [`CallScope`]: what a tool gets from the pipeline for one call: the actor, the store,
//! and, for tools that write, the call's one write transaction.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMappedMutexGuard};

use crate::errors::{ToolError, ToolResult};
use crate::identity::Actor;

/// The pipeline's context for one tool call; tools take it as `Extension<CallScope>`.
#[derive(Clone, Debug)]
pub struct CallScope {
    pub actor: Actor,
    pub store: store::Store,
    transaction: Option<Arc<Mutex<Option<store::WriteTx>>>>,
    progress: Option<Progress>,
    gate: Arc<crate::gates::GateState>,
}

/// Where progress notifications of a long call go: the caller's progress token, when it
/// sent one.
#[derive(Clone)]
pub struct Progress {
    peer: rmcp::Peer<rmcp::RoleServer>,
    token: rmcp::model::ProgressToken,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").finish_non_exhaustive()
    }
}

impl Progress {
    pub(crate) fn new(
        peer: rmcp::Peer<rmcp::RoleServer>,
        token: rmcp::model::ProgressToken,
    ) -> Progress {
        Progress { peer, token }
    }
}

impl CallScope {
    pub(crate) fn new(
        actor: Actor,
        store: store::Store,
        transaction: Option<Arc<Mutex<Option<store::WriteTx>>>>,
        progress: Option<Progress>,
        gate: Arc<crate::gates::GateState>,
    ) -> CallScope {
        CallScope {
            actor,
            store,
            transaction,
            progress,
            gate,
        }
    }

    /// Says that this call needs the user's confirmation, and why (words for the user, e.g.
    /// "raising the lifetime cap from $5,000.00 to $8,000.00"). Only for tools declared with
    /// [`crate::gates::conditional_gate_meta`]; destructive tools are always gated.
    ///
    /// The tool then goes on exactly as if confirmed. When the call carried a valid
    /// confirmation (a token, or the user's answer to an elicitation) its work is kept;
    /// otherwise the pipeline rolls it back and answers with a preview and a token.
    pub fn require_confirmation(&self, why: impl Into<String>) {
        if self.gate.confirmed {
            return;
        }
        let mut asked = self
            .gate
            .asked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        asked.get_or_insert_with(|| why.into());
    }

    /// True when the caller asked for progress notifications.
    pub fn wants_progress(&self) -> bool {
        self.progress.is_some()
    }

    /// Tells the caller how far a long call has got, if it asked to be told. A caller that
    /// has gone away is not an error: the work goes on.
    pub async fn report_progress(&self, done: u64, total: Option<u64>, message: &str) {
        let Some(progress) = &self.progress else {
            return;
        };
        let mut param =
            rmcp::model::ProgressNotificationParam::new(progress.token.clone(), done as f64)
                .with_message(message);
        if let Some(total) = total {
            param = param.with_total(total as f64);
        }
        if let Err(error) = progress.peer.notify_progress(param).await {
            tracing::debug!(%error, "could not send a progress notification");
        }
    }

    /// The call's write transaction. The pipeline commits it, with the call's record, when
    /// the tool succeeds, and rolls it back when the tool fails: a tool never commits.
    pub async fn transaction(
        &self,
    ) -> ToolResult<OwnedMappedMutexGuard<Option<store::WriteTx>, store::WriteTx>> {
        let slot = self.transaction.clone().ok_or_else(|| {
            ToolError::Unavailable(
                "this tool is declared read-only, so it has no write transaction".into(),
            )
        })?;
        let guard = slot.lock_owned().await;
        tokio::sync::OwnedMutexGuard::try_map(guard, Option::as_mut)
            .map_err(|_| ToolError::Unavailable("the call's transaction has already ended".into()))
    }
}
