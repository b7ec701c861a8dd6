//! Step 6, "record it": every tool call becomes a [`CallRecord`], appended to the
//! hash-chained audit log ([`AuditRecorder`]) in the same transaction as the change it
//! describes, and mirrored as a `tracing` event on stderr.

use futures::future::BoxFuture;
use serde::Serialize;

use crate::policy::ToolKind;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
    Denied,
    AwaitingConfirmation,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Denied => "denied",
            Outcome::AwaitingConfirmation => "awaiting_confirmation",
        }
    }
}

/// One tool call, as the audit trail sees it. `arguments` are the caller's arguments; a
/// recorder that persists them must digest them, never store personal data in the clear.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub server: &'static str,
    pub actor: String,
    pub tool: String,
    pub kind: ToolKind,
    pub arguments: serde_json::Value,
    pub outcome: Outcome,
    /// A short, personal-data-free description (e.g. the error kind).
    pub detail: String,
    pub duration_micros: u64,
}

/// Where call records go. `tx` is the call's write transaction when it has one, so the
/// record commits with the change.
pub trait CallRecorder: Send + Sync + std::fmt::Debug {
    fn record<'a>(
        &'a self,
        record: &'a CallRecord,
        tx: Option<&'a mut store::WriteTx>,
    ) -> BoxFuture<'a, Result<(), store::Error>>;
}

/// Appends every call to the audit log of the store, and logs it on stderr.
#[derive(Debug)]
pub struct AuditRecorder {
    auditor: audit::Auditor,
    store: store::Store,
}

impl AuditRecorder {
    pub fn new(auditor: audit::Auditor, store: store::Store) -> AuditRecorder {
        AuditRecorder { auditor, store }
    }

    async fn append(
        &self,
        record: &CallRecord,
        tx: Option<&mut store::WriteTx>,
    ) -> Result<(), store::Error> {
        let entry = audit::NewEntry {
            server: record.server,
            actor_name: &record.actor,
            tool: &record.tool,
            kind: record.kind.as_str(),
            arguments: &record.arguments,
            outcome: record.outcome.as_str(),
            detail: &record.detail,
        };
        let as_store_error = |error: audit::Error| match error {
            audit::Error::Store(error) => error,
            _ => store::Error::Internal("append to the audit log"),
        };
        match tx {
            Some(tx) => {
                self.auditor
                    .append(tx, entry)
                    .await
                    .map_err(as_store_error)?;
            }
            None => {
                let mut tx = self.store.begin_write().await?;
                self.auditor
                    .append(&mut tx, entry)
                    .await
                    .map_err(as_store_error)?;
                tx.commit().await.map_err(|error| {
                    tracing::error!(%error, "audit commit failed");
                    store::Error::Internal("commit the audit entry")
                })?;
            }
        }
        Ok(())
    }
}

impl CallRecorder for AuditRecorder {
    fn record<'a>(
        &'a self,
        record: &'a CallRecord,
        tx: Option<&'a mut store::WriteTx>,
    ) -> BoxFuture<'a, Result<(), store::Error>> {
        tracing::info!(
            target: "revops::calls",
            server = record.server,
            tool = %record.tool,
            kind = record.kind.as_str(),
            outcome = record.outcome.as_str(),
            detail = %record.detail,
            micros = record.duration_micros,
            "tool call"
        );
        Box::pin(self.append(record, tx))
    }
}
