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
}

impl CallScope {
    pub(crate) fn new(
        actor: Actor,
        store: store::Store,
        transaction: Option<Arc<Mutex<Option<store::WriteTx>>>>,
    ) -> CallScope {
        CallScope {
            actor,
            store,
            transaction,
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
