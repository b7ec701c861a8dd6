//! Step 6, "record it": every tool call becomes a [`CallRecord`]. The recorder is a seam:
//! this crate ships [`LogRecorder`] (a structured `tracing` event on stderr); the trust
//! layer installs the hash-chained audit log behind the same trait, which writes the record
//! in the same transaction as the change it describes.

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

/// Records calls as structured `tracing` events (target `revops::calls`), on stderr.
#[derive(Debug, Default)]
pub struct LogRecorder;

impl CallRecorder for LogRecorder {
    fn record<'a>(
        &'a self,
        record: &'a CallRecord,
        _tx: Option<&'a mut store::WriteTx>,
    ) -> BoxFuture<'a, Result<(), store::Error>> {
        tracing::info!(
            target: "revops::calls",
            server = record.server,
            actor = %record.actor,
            tool = %record.tool,
            kind = record.kind.as_str(),
            outcome = record.outcome.as_str(),
            detail = %record.detail,
            micros = record.duration_micros,
            "tool call"
        );
        Box::pin(std::future::ready(Ok(())))
    }
}
