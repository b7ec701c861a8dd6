//! [`TeamServer`] (what a team's server provides) and [`McpServer`] (the one rmcp
//! `ServerHandler` of the suite, which runs every tool call through the pipeline).

use std::sync::Arc;
use std::time::Instant;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    Prompt, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use tokio::sync::Mutex;

use crate::errors::ToolResult;
use crate::gates::{CONFIRM_TOKEN_ARG, Gate, GateState, Gates};
use crate::identity::Actor;
use crate::policy::ToolKind;
use crate::recorder::{AuditRecorder, CallRecord, CallRecorder, Outcome};
use crate::scope::CallScope;

/// How a server instance runs.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// List and allow only read-only tools (`REVOPS_READ_ONLY=true`).
    pub read_only: bool,
    /// Confirmation and budget settings.
    pub gates: Gates,
    /// Who may call what; the HTTP bearer tokens.
    pub policy: Arc<crate::policy::Policy>,
    /// Sign an audit checkpoint every N entries, if set.
    pub checkpoints: Option<crate::recorder::CheckpointSchedule>,
    /// Whether a successful read waits for its audit entry to commit (`REVOPS_AUDIT_READS`).
    pub read_audit: crate::recorder::ReadAudit,
    /// The toolsets offered (`--toolsets`); the shared tools are always offered.
    pub toolsets: crate::toolsets::Selection,
}

/// What every team server shares: the store, the session's actor, the pipeline's gates and
/// recorder. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

#[derive(Debug)]
struct RuntimeInner {
    server: &'static str,
    store: store::Store,
    actor: Actor,
    options: RuntimeOptions,
    gates: Gates,
    recorder: Arc<dyn CallRecorder>,
    predictions: crate::predictions::PredictionLog,
    active_models: crate::learnt::ActiveModels,
    auditor: audit::Auditor,
    started: Instant,
}

impl Runtime {
    /// The runtime of one server on `store`, recording every call in the store's audit log.
    pub async fn open(
        server: &'static str,
        store: store::Store,
        actor: Actor,
        options: RuntimeOptions,
    ) -> Result<Runtime, audit::Error> {
        let auditor = audit::Auditor::open(&store).await?;
        auditor.register_actor(&store, &actor.name).await?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                server,
                recorder: Arc::new(AuditRecorder::start(
                    auditor.clone(),
                    store.clone(),
                    options.checkpoints.clone(),
                    options.read_audit,
                )),
                predictions: crate::predictions::PredictionLog::start(store.clone()),
                active_models: crate::learnt::ActiveModels::default(),
                auditor,
                store,
                actor,
                gates: options.gates.clone(),
                options,
                started: Instant::now(),
            }),
        })
    }

    /// Writes the audit entries and predictions still queued; call once when the server
    /// stops serving.
    pub async fn shutdown(&self) {
        self.inner.recorder.shutdown().await;
        self.inner.predictions.shutdown().await;
    }

    /// The prediction log: every score a tool gives goes here.
    pub fn predictions(&self) -> &crate::predictions::PredictionLog {
        &self.inner.predictions
    }

    /// The active model versions, cached per kind (see [`crate::learnt`]).
    pub fn active_models(&self) -> &crate::learnt::ActiveModels {
        &self.inner.active_models
    }

    /// Confirmation and budget settings.
    pub fn gates(&self) -> &Gates {
        &self.inner.gates
    }

    /// The audit log's appender (for pseudonyms of actors in queries).
    pub fn auditor(&self) -> &audit::Auditor {
        &self.inner.auditor
    }

    pub fn server(&self) -> &'static str {
        self.inner.server
    }

    pub fn store(&self) -> &store::Store {
        &self.inner.store
    }

    pub fn actor(&self) -> &Actor {
        &self.inner.actor
    }

    pub fn options(&self) -> &RuntimeOptions {
        &self.inner.options
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }
}

/// A team's server: its tools (an rmcp `#[tool_router]`), resources and instructions.
/// Implement this, wrap the value in [`McpServer`], and the pipeline does the rest.
pub trait TeamServer: Clone + Send + Sync + 'static {
    /// The team's short name: `sales`, `marketing` or `cs`.
    const NAME: &'static str;
    /// What the server is for, shown to the model at initialization.
    const INSTRUCTIONS: &'static str;
    /// The server's tools in named groups; every tool but the shared ones is in exactly one
    /// (each server's tests check this with [`crate::toolsets::coverage_problems`]).
    const TOOLSETS: &'static [crate::toolsets::Toolset];

    fn new(runtime: Runtime) -> Self;
    fn runtime(&self) -> &Runtime;
    /// The server's tools, including the shared ones from [`crate::info`].
    fn tools(&self) -> &ToolRouter<Self>;

    /// Fixed resources (`resources/list`).
    fn resources(&self) -> Vec<Resource> {
        Vec::new()
    }

    /// Resource templates (`resources/templates/list`).
    fn resource_templates(&self) -> Vec<ResourceTemplate> {
        Vec::new()
    }

    /// Reads a resource as JSON; `Ok(None)` when the URI is not one of this server's.
    fn read_resource(
        &self,
        uri: &str,
    ) -> impl Future<Output = ToolResult<Option<serde_json::Value>>> + Send;

    /// Prompt templates (`prompts/list`).
    fn prompts(&self) -> Vec<Prompt> {
        Vec::new()
    }

    /// Fills in a prompt; `Ok(None)` when the name is not one of this server's prompts.
    fn get_prompt(
        &self,
        name: &str,
        arguments: &serde_json::Map<String, serde_json::Value>,
    ) -> impl Future<Output = ToolResult<Option<GetPromptResult>>> + Send {
        let _ = (name, arguments);
        std::future::ready(Ok(None))
    }
}

/// The rmcp handler for a [`TeamServer`]: the tool-call pipeline, written once.
#[derive(Clone)]
pub struct McpServer<T: TeamServer> {
    team: T,
}

impl<T: TeamServer> McpServer<T> {
    pub fn new(runtime: Runtime) -> McpServer<T> {
        McpServer {
            team: T::new(runtime),
        }
    }

    pub fn team(&self) -> &T {
        &self.team
    }

    /// A tool this session may see: in a selected toolset, and read-only in read-only mode.
    fn visible_tool(&self, name: &str) -> Option<Tool> {
        let tool = self.team.tools().get(name)?;
        self.offers(tool)
            .then(|| with_confirm_token_argument(tool.clone()))
    }

    /// Whether this deployment offers `tool`: its toolset is selected, and read-only mode
    /// (when on) allows it.
    fn offers(&self, tool: &Tool) -> bool {
        let options = self.team.runtime().options();
        (!options.read_only || ToolKind::of(tool) == ToolKind::Read)
            && options.toolsets.offers(T::TOOLSETS, &tool.name)
    }

    /// Records a call that changed nothing.
    async fn record(&self, record: &CallRecord) -> Result<(), store::Error> {
        crate::metrics::record_call(record);
        self.team.runtime().inner.recorder.record(record).await
    }

    /// Records a call that changed something in `tx`, and commits both.
    async fn record_and_commit(
        &self,
        record: &CallRecord,
        tx: store::WriteTx,
    ) -> Result<(), store::Error> {
        crate::metrics::record_call(record);
        self.team
            .runtime()
            .inner
            .recorder
            .record_and_commit(record, tx)
            .await
    }

    /// Records a call that did not run (denied or gated) and answers with the reason.
    /// Records a call that was not carried out and answers with `reason`, which is also the
    /// record's detail (it must hold no caller values).
    async fn refuse(
        &self,
        mut record: CallRecord,
        outcome: Outcome,
        reason: String,
    ) -> CallToolResponse {
        record.detail = reason.clone();
        self.refuse_with_detail(record, outcome, reason).await
    }
}

impl<T: TeamServer> McpServer<T> {
    /// Appends the call's record in its transaction and commits both; on failure nothing is
    /// kept and the answer says so.
    async fn commit_with_record(
        &self,
        record: &CallRecord,
        tx: store::WriteTx,
    ) -> Result<(), CallToolResponse> {
        self.record_and_commit(record, tx).await.map_err(|error| {
            tracing::error!(%error, tool = %record.tool, "could not commit a call with its record; nothing was kept");
            CallToolResult::error(vec![ContentBlock::text(
                "the change could not be saved and nothing was changed; try again",
            )])
            .into()
        })
    }

    /// A call that did not succeed: rolls back its transaction (nothing half-applied),
    /// records it, and answers, unless it cannot be recorded (fail closed).
    async fn record_failure(
        &self,
        record: &CallRecord,
        tx: Option<store::WriteTx>,
        result: Result<CallToolResponse, McpError>,
    ) -> Result<CallToolResponse, McpError> {
        if let Some(tx) = tx
            && let Err(error) = tx.rollback().await
        {
            tracing::error!(%error, "rollback failed");
        }
        if let Err(error) = self.record(record).await {
            tracing::error!(%error, tool = %record.tool, "could not record a call");
            return Ok(CallToolResult::error(vec![ContentBlock::text(
                "the call could not be recorded in the audit log, so its answer is withheld; try again",
            )])
            .into());
        }
        result
    }

    /// Records a call that was not carried out, with the detail already set on the record
    /// (which, unlike the answer, must hold no caller values), and answers with `answer`.
    async fn refuse_with_detail(
        &self,
        mut record: CallRecord,
        outcome: Outcome,
        answer: String,
    ) -> CallToolResponse {
        record.outcome = outcome;
        if let Err(error) = self.record(&record).await {
            tracing::error!(%error, tool = %record.tool, "could not record a refused call");
        }
        CallToolResult::error(vec![ContentBlock::text(answer)]).into()
    }

    /// After a successful preview: issues the token and records the call as awaiting
    /// confirmation, together, in one transaction.
    async fn issue_confirmation(
        &self,
        runtime: &Runtime,
        record: &mut CallRecord,
        binding: guard::confirmation::Binding<'_>,
    ) -> Result<guard::confirmation::Issued, String> {
        record.outcome = Outcome::AwaitingConfirmation;
        record.detail = "preview shown; nothing changed".into();
        let failed = |error: &dyn std::fmt::Display| {
            tracing::error!(%error, "could not issue a confirmation");
            "the preview could not be recorded, so no confirmation token was issued; nothing was changed; try again".to_string()
        };
        let mut tx = runtime
            .store()
            .begin_write()
            .await
            .map_err(|e| failed(&e))?;
        let issued =
            guard::confirmation::issue(&mut tx, binding, runtime.inner.gates.confirmation_ttl)
                .await
                .map_err(|e| failed(&e))?;
        self.record_and_commit(record, tx)
            .await
            .map_err(|e| failed(&e))?;
        Ok(issued)
    }
}

/// Turns a destructive tool's `Gated` answer into a preview carrying the token.
fn with_confirmation(
    result: Result<CallToolResponse, McpError>,
    issued: guard::confirmation::Issued,
    reason: Option<String>,
) -> CallToolResponse {
    let why = reason
        .map(|r| format!(" It needs confirmation: {r}."))
        .unwrap_or_default();
    let instructions = format!(
        "Nothing has been changed.{why} Show this preview to the user; if they agree, call the same tool again with \
         exactly the same arguments plus confirm_token before {}.",
        issued.expires_at
    );
    let mut value = match result {
        Ok(CallToolResponse::Complete(done)) => done.structured_content.unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    if let Some(object) = value.as_object_mut() {
        object.insert("status".into(), serde_json::json!("preview"));
        object.insert(
            "confirmation".into(),
            serde_json::json!({
                "confirm_token": issued.confirm_token,
                "expires_at": issued.expires_at,
                "instructions": instructions,
            }),
        );
    }
    CallToolResult::structured(value).into()
}

/// A gated tool's input schema gains the optional `confirm_token` the gate reads.
fn with_confirm_token_argument(mut tool: Tool) -> Tool {
    if Gate::of(&tool) == Gate::Never {
        return tool;
    }
    let mut schema = (*tool.input_schema).clone();
    let properties = schema
        .entry("properties")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(properties) = properties.as_object_mut() {
        properties.insert(
            CONFIRM_TOKEN_ARG.into(),
            serde_json::json!({
                "type": "string",
                "description": "Leave out on the first call. When that call needs confirmation, its answer is a preview \
                    and a token, and nothing changes; to act, call again with the same arguments and this token \
                    (single-use, expires in minutes)."
            }),
        );
    }
    tool.input_schema = Arc::new(schema);
    tool
}

/// How a tool's answer ended, for the record.
fn outcome_of(result: &Result<CallToolResponse, McpError>) -> (Outcome, String) {
    match result {
        Ok(CallToolResponse::Complete(done)) if done.is_error == Some(true) => {
            (Outcome::Error, "the tool reported an error".into())
        }
        Ok(_) => (Outcome::Ok, String::new()),
        Err(error) => (Outcome::Error, format!("protocol error {}", error.code.0)),
    }
}

impl<T: TeamServer> ServerHandler for McpServer<T> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(
            Implementation::new(format!("revops-{}", T::NAME), env!("CARGO_PKG_VERSION"))
                .with_title(format!("RevOps {}", crate::info::team_title(T::NAME))),
        )
        .with_instructions(T::INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = self
            .team
            .tools()
            .list_all()
            .into_iter()
            .filter(|tool| self.offers(tool))
            .map(with_confirm_token_argument)
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.visible_tool(name)
    }

    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let started = Instant::now();
        let runtime = self.team.runtime().clone();

        let Some(tool) = self.visible_tool(&request.name) else {
            let shown: String = request
                .name
                .chars()
                .take(64)
                .filter(|c| !c.is_control())
                .collect();
            return Err(McpError::invalid_params(
                format!("unknown tool {shown:?}; tools/list names the tools this server offers"),
                None,
            ));
        };
        let kind = ToolKind::of(&tool);
        let gate = Gate::of(&tool);

        // The confirmation token is the gate's, not the tool's: take it out of the arguments,
        // so the record and the binding cover exactly the tool's own arguments.
        let confirm_token = match request
            .arguments
            .as_mut()
            .and_then(|a| a.remove(CONFIRM_TOKEN_ARG))
        {
            Some(serde_json::Value::String(token)) if gate != Gate::Never => Some(token),
            Some(_) if gate != Gate::Never => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(
                    "invalid confirm_token: give the token string from the preview",
                )])
                .into());
            }
            _ => None,
        };

        // 1. who: the bearer token's actor over HTTP, else the configured actor.
        let actor = context
            .extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Actor>().cloned())
            .unwrap_or_else(|| runtime.actor().clone());
        let arguments = serde_json::Value::Object(request.arguments.clone().unwrap_or_default());
        let mut record = CallRecord {
            server: T::NAME,
            actor: actor.name.clone(),
            tool: tool.name.to_string(),
            kind,
            arguments,
            outcome: Outcome::Ok,
            detail: String::new(),
            duration_micros: 0,
        };

        // 2. may they
        if let Some(reason) = runtime.options().policy.refusal(
            &tool.name,
            crate::policy::default_least_role(&tool),
            actor.role,
        ) {
            let reason = format!("{} may not call {}: {reason}", actor.name, tool.name);
            return Ok(self.refuse(record, Outcome::Denied, reason).await);
        }

        // 3. is it well-formed: the top level against the tool's input schema (naming the
        //    field), then the typed parameters in the tool router, then the tool's own checks.
        let empty = serde_json::Map::new();
        if let Some(problem) = crate::shape::problem(
            &tool.input_schema,
            request.arguments.as_ref().unwrap_or(&empty),
        ) {
            record.detail = problem.detail;
            return Ok(self
                .refuse_with_detail(record, Outcome::Error, problem.message)
                .await);
        }

        // 5. do it, in one write transaction for anything that writes
        let mut tx = if kind == ToolKind::Read {
            None
        } else {
            match runtime.store().begin_write().await {
                Ok(tx) => Some(tx),
                Err(error) => {
                    let reason = format!("nothing was changed: {error}");
                    return Ok(self.refuse(record, Outcome::Error, reason).await);
                }
            }
        };

        // 4. gates: a destructive call acts only with a valid token, consumed in the same
        //    transaction as the action; without one it runs as a preview that is rolled back.
        let binding_digest = audit::canonical::arguments_digest(&record.arguments);
        let actor_ref = runtime.auditor().pseudonym(&actor.name);
        let binding = guard::confirmation::Binding {
            tool: &tool.name,
            args_digest: &binding_digest,
            actor: &actor_ref,
        };
        // Whether this call may end as a preview: every unconfirmed call of a destructive
        // tool, and those of a conditionally gated tool that ask for confirmation.
        let may_preview = gate != Gate::Never && confirm_token.is_none();
        if let Some(token) = &confirm_token
            && let Some(open) = tx.as_mut()
            && let Err(refusal) = guard::confirmation::consume(open, token, binding).await
        {
            if let Some(open) = tx.take() {
                let _ = open.rollback().await;
            }
            return Ok(self
                .refuse(record, Outcome::Denied, refusal.to_string())
                .await);
        }

        let slot = tx.map(|tx| Arc::new(Mutex::new(Some(tx))));
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| crate::scope::Progress::new(context.peer.clone(), token));
        // Where the client can ask its user (form elicitation), the preview is shown to the
        // user through the protocol and, if they confirm, the call is run again for real; so
        // keep what that second run needs.
        let replay = (may_preview
            && context
                .peer
                .supported_elicitation_modes()
                .contains(&rmcp::service::ElicitationMode::Form))
        .then(|| {
            (
                request.clone(),
                context.clone(),
                actor.clone(),
                progress.clone(),
            )
        });
        let gate_state = Arc::new(if confirm_token.is_some() {
            GateState::confirmed()
        } else {
            GateState::default()
        });
        context.extensions.insert(CallScope::new(
            actor,
            runtime.store().clone(),
            slot.clone(),
            progress,
            gate_state.clone(),
        ));
        let mut result = self
            .team
            .tools()
            .call(ToolCallContext::new(&self.team, request, context))
            .await;
        let (outcome, detail) = outcome_of(&result);
        record.outcome = outcome;
        record.detail = detail;
        record.duration_micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let preview = match gate {
            Gate::Always => may_preview,
            Gate::WhenAsked | Gate::Never => gate_state.reason().is_some(),
        };
        if preview && gate == Gate::Never {
            // A tool asked for confirmation without declaring the gate: it cannot be
            // confirmed, so it must not act either.
            tracing::error!(tool = %tool.name, "a tool asked for confirmation without declaring conditional_gate_meta");
        }
        if preview {
            // The call is gated, so it is recorded as what it would do.
            record.kind = ToolKind::Destructive;
        }
        let tx = match &slot {
            Some(slot) => slot.lock().await.take(),
            None => None,
        };

        // 6. record it (with the change, in the same transaction) and 7. answer
        match (outcome, tx) {
            (Outcome::Ok, Some(tx)) if preview => {
                // The preview's changes are never kept.
                if let Err(error) = tx.rollback().await {
                    tracing::error!(%error, "rollback of a preview failed");
                }
                if let Some((request, mut context, actor, progress)) = replay {
                    let ttl = runtime.inner.gates.confirmation_ttl;
                    match crate::elicit::ask(&context.peer, &tool.name, &result, ttl).await {
                        crate::elicit::Answer::Confirmed => {
                            let tx = match runtime.store().begin_write().await {
                                Ok(tx) => tx,
                                Err(error) => {
                                    let reason = format!("nothing was changed: {error}");
                                    return Ok(self.refuse(record, Outcome::Error, reason).await);
                                }
                            };
                            let slot = Arc::new(Mutex::new(Some(tx)));
                            context.extensions.insert(CallScope::new(
                                actor,
                                runtime.store().clone(),
                                Some(slot.clone()),
                                progress,
                                Arc::new(GateState::confirmed()),
                            ));
                            let done = self
                                .team
                                .tools()
                                .call(ToolCallContext::new(&self.team, request, context))
                                .await;
                            let (outcome, detail) = outcome_of(&done);
                            record.outcome = outcome;
                            record.detail = if outcome == Outcome::Ok {
                                crate::elicit::CONFIRMED_DETAIL.into()
                            } else {
                                detail
                            };
                            record.duration_micros =
                                u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                            let tx = slot.lock().await.take();
                            return Ok(match (outcome, tx) {
                                (Outcome::Ok, Some(tx)) => {
                                    match self.commit_with_record(&record, tx).await {
                                        Ok(()) => done?,
                                        Err(answer) => answer,
                                    }
                                }
                                (_, tx) => self.record_failure(&record, tx, done).await?,
                            });
                        }
                        crate::elicit::Answer::Declined(how) => {
                            record.detail =
                                format!("the user {how} the confirmation; nothing changed");
                            return Ok(self
                                .refuse_with_detail(
                                    record,
                                    Outcome::Denied,
                                    format!(
                                        "Nothing was changed: the user {how} the confirmation of {}.",
                                        tool.name
                                    ),
                                )
                                .await);
                        }
                        crate::elicit::Answer::Unavailable => {}
                    }
                }
                match self
                    .issue_confirmation(&runtime, &mut record, binding)
                    .await
                {
                    Ok(issued) => {
                        result = Ok(with_confirmation(result, issued, gate_state.reason()))
                    }
                    Err(reason) => {
                        return Ok(CallToolResult::error(vec![ContentBlock::text(reason)]).into());
                    }
                }
            }
            (Outcome::Ok, Some(tx)) => {
                if let Err(answer) = self.commit_with_record(&record, tx).await {
                    return Ok(answer);
                }
            }
            (_, tx) => return self.record_failure(&record, tx, result).await,
        }
        result
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(self.team.prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        match self.team.get_prompt(&request.name, &arguments).await {
            Ok(Some(prompt)) => Ok(prompt.into()),
            Ok(None) => {
                let shown: String = request
                    .name
                    .chars()
                    .take(64)
                    .filter(|c| !c.is_control())
                    .collect();
                Err(McpError::invalid_params(
                    format!(
                        "no prompt {shown:?} on this server; prompts/list names the prompts it offers"
                    ),
                    None,
                ))
            }
            Err(error @ crate::ToolError::NotFound(_))
            | Err(error @ crate::ToolError::InvalidArgument { .. }) => {
                Err(McpError::invalid_params(error.to_string(), None))
            }
            Err(error) => Err(McpError::internal_error(error.to_string(), None)),
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut resources = self.team.resources();
        for resource in crate::model_tools::model_resources(T::NAME) {
            if !resources.iter().any(|r| r.uri == resource.uri) {
                resources.push(resource);
            }
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(
            self.team.resource_templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        let answer = match self.team.read_resource(&uri).await {
            Ok(None) => crate::model_tools::read_model_resource(self.team.runtime(), &uri).await,
            other => other,
        };
        match answer {
            Ok(Some(value)) => {
                let text = serde_json::to_string_pretty(&value)
                    .map_err(|error| McpError::internal_error(error.to_string(), None))?;
                let contents = ResourceContents::TextResourceContents {
                    uri,
                    mime_type: Some("application/json".into()),
                    text,
                    meta: None,
                };
                Ok(ReadResourceResult::new(vec![contents]).into())
            }
            Ok(None) => Err(McpError::resource_not_found(
                format!(
                    "no resource {uri:?} on this server; resources/list and resources/templates/list name what exists"
                ),
                None,
            )),
            Err(error @ crate::ToolError::NotFound(_)) => {
                Err(McpError::resource_not_found(error.to_string(), None))
            }
            Err(error @ crate::ToolError::InvalidArgument { .. }) => {
                Err(McpError::invalid_params(error.to_string(), None))
            }
            Err(error) => Err(McpError::internal_error(error.to_string(), None)),
        }
    }
}
