//! The `audit_query` tool every server shares: this server's own audit entries, filtered,
//! oldest first, paged by `seq`.

use rmcp::Json;
use rmcp::handler::server::router::tool::ToolRoute;
use rmcp::handler::server::tool::{IntoCallToolResult, ToolCallContext};
use rmcp::model::{Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::errors::{ToolError, choice_arg, text_arg, timestamp_arg};
use crate::server::{Runtime, TeamServer};

/// Which audit entries to return.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct AuditQueryParams {
    /// Only calls by this actor (the name as configured, e.g. dana@example.com).
    #[serde(default)]
    pub actor: Option<String>,
    /// Only calls of this tool.
    #[serde(default)]
    pub tool: Option<String>,
    /// Only this outcome: ok, error, denied or awaiting_confirmation.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[serde(default)]
    pub until: Option<String>,
    /// Only entries after this seq (pass the last seq of the previous page).
    #[serde(default)]
    pub after_seq: Option<i64>,
    /// At most this many, 1-500 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One audit entry as the tool shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditRow {
    pub seq: i64,
    pub occurred_at: String,
    pub server: String,
    /// The actor's name, or its pseudonym when the name has been erased.
    pub actor: String,
    pub tool: String,
    pub kind: String,
    pub outcome: String,
    pub detail: String,
    pub hash: String,
}

/// A page of audit entries.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditRow>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    pub next_after_seq: Option<i64>,
}

async fn audit_query(runtime: &Runtime, params: AuditQueryParams) -> Result<AuditPage, ToolError> {
    let limit = params.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ToolError::invalid(
            "limit",
            format!("is {limit}; give 1 to 500"),
        ));
    }
    let filter = audit::query::AuditFilter {
        actor: params
            .actor
            .as_deref()
            .map(|a| text_arg("actor", a, 200))
            .transpose()?
            .map(|a| runtime.auditor().pseudonym(&a)),
        server: Some(runtime.server().to_string()),
        tool: params
            .tool
            .as_deref()
            .map(|t| text_arg("tool", t, 64))
            .transpose()?,
        outcome: params
            .outcome
            .as_deref()
            .map(|o| {
                choice_arg(
                    "outcome",
                    o,
                    &["ok", "error", "denied", "awaiting_confirmation"],
                )
            })
            .transpose()?,
        since: params
            .since
            .as_deref()
            .map(|t| timestamp_arg("since", t))
            .transpose()?,
        until: params
            .until
            .as_deref()
            .map(|t| timestamp_arg("until", t))
            .transpose()?,
    };
    let store = runtime.store();
    let entries = audit::query::find(store, &filter, params.after_seq.unwrap_or(0), limit + 1)
        .await
        .map_err(|error| ToolError::Unavailable(format!("cannot read the audit log: {error}")))?;
    let more = entries.len() > limit as usize;
    let mut rows = Vec::with_capacity(entries.len().min(limit as usize));
    for entry in entries.into_iter().take(limit as usize) {
        let name = audit::query::actor_name(store, &entry.actor)
            .await
            .map_err(|error| {
                ToolError::Unavailable(format!("cannot read the audit log: {error}"))
            })?;
        rows.push(AuditRow {
            seq: entry.seq,
            occurred_at: entry.occurred_at,
            server: entry.server,
            actor: name.unwrap_or(entry.actor),
            tool: entry.tool,
            kind: entry.kind,
            outcome: entry.outcome,
            detail: entry.detail,
            hash: entry.hash,
        });
    }
    let next_after_seq = if more {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    Ok(AuditPage {
        entries: rows,
        next_after_seq,
    })
}

/// The `audit_query` route for a team's router.
pub fn audit_query_route<S: TeamServer>() -> ToolRoute<S> {
    let tool = Tool::new(
        "audit_query",
        "What was done through this server, from its tamper-evident audit log: each tool call with its time, \
         actor, tool, kind (read/write/destructive) and outcome (ok, error, denied, awaiting_confirmation), \
         oldest first. Filter by actor, tool, outcome and time; page with after_seq. Shows this server's \
         entries only; arguments are stored as a digest, never in the clear. \
         Example: {\"outcome\": \"denied\", \"since\": \"2026-11-01T00:00:00Z\"}.",
        rmcp::handler::server::common::schema_for_type::<AuditQueryParams>(),
    )
    .with_title("Audit query")
    .with_output_schema::<AuditPage>()
    .with_annotations(
        ToolAnnotations::with_title("Audit query").read_only(true).destructive(false).idempotent(true).open_world(false),
    );
    ToolRoute::new_dyn(tool, |context: ToolCallContext<'_, S>| {
        Box::pin(async move {
            let arguments =
                serde_json::Value::Object(context.arguments.clone().unwrap_or_default());
            let params: AuditQueryParams = match serde_json::from_value(arguments) {
                Ok(params) => params,
                Err(error) => {
                    return Err::<Json<AuditPage>, _>(ToolError::InvalidArgument {
                        field: "arguments",
                        problem: format!("failed to deserialize parameters: {error}"),
                    })
                    .into_call_tool_result();
                }
            };
            audit_query(context.service.runtime(), params)
                .await
                .map(Json)
                .into_call_tool_result()
        })
    })
}
