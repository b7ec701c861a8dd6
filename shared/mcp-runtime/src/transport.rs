//! Transports: stdio (what Claude Desktop spawns) and streamable HTTP at `/mcp`, one server
//! or several in one process (`/sales/mcp`, `/marketing/mcp`, `/cs/mcp`), with `/healthz`.
//!
//! HTTP is protected by a bearer token when `REVOPS_HTTP_TOKEN` is set, and refuses to listen
//! beyond loopback without one. Hosts are checked against loopback names, or
//! `REVOPS_ALLOWED_HOSTS` (comma-separated) for a public name.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::policy::{Policy, constant_time_eq};
use crate::server::{McpServer, Runtime, TeamServer};

/// The variable holding the bearer token HTTP clients must present.
pub const HTTP_TOKEN_VAR: &str = "REVOPS_HTTP_TOKEN";
/// Extra host names (besides loopback) the HTTP server answers to.
pub const ALLOWED_HOSTS_VAR: &str = "REVOPS_ALLOWED_HOSTS";

/// Errors starting a transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "refusing to serve HTTP on {0} without a bearer token: set {HTTP_TOKEN_VAR} (or bind 127.0.0.1)"
    )]
    PublicWithoutToken(SocketAddr),
    #[error("the MCP session failed: {0}")]
    Session(String),
}

/// Serves one team over stdio until the client disconnects.
pub async fn serve_stdio<T: TeamServer>(runtime: Runtime) -> Result<(), TransportError> {
    let service = McpServer::<T>::new(runtime.clone())
        .serve(rmcp::transport::stdio_pipes())
        .await
        .map_err(|error| TransportError::Session(error.to_string()))?;
    // SIGTERM or Ctrl-C end the session like a closed stdin, so queued audit entries are
    // written before the process exits.
    let cancel = service.cancellation_token();
    let signals = tokio::spawn(async move {
        shutdown_signal().await;
        cancel.cancel();
    });
    let ended = service.waiting().await;
    signals.abort();
    runtime.shutdown().await;
    ended.map_err(|error| TransportError::Session(error.to_string()))?;
    Ok(())
}

/// An HTTP application hosting one or more team servers.
pub struct HttpApp {
    router: axum::Router,
    cancel: CancellationToken,
    servers: Vec<&'static str>,
    runtimes: Vec<Runtime>,
}

impl Default for HttpApp {
    fn default() -> Self {
        HttpApp::new()
    }
}

impl HttpApp {
    pub fn new() -> HttpApp {
        HttpApp {
            router: axum::Router::new(),
            cancel: CancellationToken::new(),
            servers: Vec::new(),
            runtimes: Vec::new(),
        }
    }

    /// Mounts a team's MCP endpoint at `path` (e.g. `/mcp` or `/sales/mcp`).
    pub fn mount<T: TeamServer>(mut self, path: &str, runtime: Runtime) -> HttpApp {
        let runtime_for_shutdown = runtime.clone();
        let mut hosts = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        if let Ok(extra) = std::env::var(ALLOWED_HOSTS_VAR) {
            hosts.extend(
                extra
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(String::from),
            );
        }
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .with_cancellation_token(self.cancel.child_token());
        let service: StreamableHttpService<McpServer<T>, LocalSessionManager> =
            StreamableHttpService::new(
                move || Ok(McpServer::<T>::new(runtime.clone())),
                Arc::default(),
                config,
            );
        self.router = self.router.nest_service(path, service);
        self.servers.push(T::NAME);
        self.runtimes.push(runtime_for_shutdown);
        self
    }

    /// Listens on `bind` until Ctrl-C (or SIGTERM); prints nothing to stdout.
    ///
    /// Authentication: the policy file's bearer tokens when it has any (each request acts as
    /// its token's actor), else `REVOPS_HTTP_TOKEN` (requests act as the configured actor),
    /// else none, which is allowed on loopback only.
    pub async fn serve(self, bind: SocketAddr) -> Result<(), TransportError> {
        let policy = self
            .runtimes
            .first()
            .map(|r| r.options().policy.clone())
            .unwrap_or_default();
        let shared_token = std::env::var(HTTP_TOKEN_VAR)
            .ok()
            .filter(|t| !t.trim().is_empty());
        let auth = if !policy.http_tokens.is_empty() {
            if let Some(runtime) = self.runtimes.first() {
                for token in &policy.http_tokens {
                    // Register names now, so appends in the hot path need not.
                    let _ = runtime
                        .auditor()
                        .register_actor(runtime.store(), &token.actor)
                        .await;
                }
            }
            Auth::Policy(policy)
        } else if let Some(token) = shared_token {
            Auth::SharedToken(Arc::new(token))
        } else if bind.ip().is_loopback() {
            Auth::None
        } else {
            return Err(TransportError::PublicWithoutToken(bind));
        };
        let servers = self.servers.clone();
        let router = self
            .router
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(auth),
                require_bearer,
            ))
            .route(
                "/healthz",
                axum::routing::get(move || healthz(servers.clone())),
            );
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| TransportError::Bind { addr: bind, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| TransportError::Bind { addr: bind, source })?;
        tracing::info!(address = %local, "serving MCP over streamable HTTP");
        let cancel = self.cancel.clone();
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                cancel.cancel();
            })
            .await;
        for runtime in &self.runtimes {
            runtime.shutdown().await;
        }
        served.map_err(|error| TransportError::Session(error.to_string()))
    }
}

/// How HTTP requests authenticate.
enum Auth {
    /// Loopback only: no token.
    None,
    /// One shared token; requests act as the configured actor.
    SharedToken(Arc<String>),
    /// Tokens from the policy file; each request acts as its token's actor.
    Policy(Arc<Policy>),
}

async fn healthz(servers: Vec<&'static str>) -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok", "servers": servers }))
}

async fn require_bearer(
    State(auth): State<Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_string);
    let allowed = match (auth.as_ref(), presented) {
        (Auth::None, _) => true,
        (Auth::SharedToken(expected), Some(presented)) => {
            constant_time_eq(presented.as_bytes(), expected.as_bytes())
        }
        (Auth::Policy(policy), Some(presented)) => match policy.actor_for_token(&presented) {
            Some(actor) => {
                request.extensions_mut().insert(actor);
                true
            }
            None => false,
        },
        (_, None) => false,
    };
    if allowed {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
            .into_response()
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::constant_time_eq;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-tokem", b"secret-token"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
