//! Transports: stdio (what Claude Desktop spawns) and streamable HTTP at `/mcp`, one server
//! or several in one process (`/sales/mcp`, `/marketing/mcp`, `/cs/mcp`), with `/healthz`
//! and `/metrics`.
//!
//! # HTTP, as it runs in production
//!
//! - **Authentication**: a bearer token when `REVOPS_HTTP_TOKEN` is set or the policy file
//!   names tokens; without one the server refuses to listen beyond loopback. `/mcp` and
//!   `/metrics` need the token; `/healthz` does not (load balancers) and shows no secret.
//! - **DNS rebinding**: the `Host` of an MCP request must be a loopback name or one of
//!   `REVOPS_ALLOWED_HOSTS` (comma-separated; checked by rmcp, and by `/metrics` when there
//!   is no token). A request carrying an `Origin` (a browser) is refused with 403 unless
//!   the origin is loopback over http (`http://localhost[:port]`, `http://127.0.0.1[:port]`,
//!   `http://[::1][:port]`) or listed exactly in `REVOPS_ALLOWED_ORIGINS`
//!   (comma-separated `scheme://host[:port]`). Requests without `Origin` (every non-browser
//!   client) pass.
//! - **Request size**: a body over `REVOPS_HTTP_MAX_BODY_BYTES` (default 1 MiB) is refused
//!   with 413: at once when `Content-Length` says so, else as soon as the streamed body
//!   passes the limit; the rest is read and thrown away (up to 8 MiB, 5 s) so the client
//!   sees the answer, then the connection is closed; the server keeps serving.
//! - **Shutdown**: on SIGTERM or Ctrl-C the listener closes at once; calls in flight run to
//!   their answer (and their audit entry) for up to `REVOPS_SHUTDOWN_GRACE_SECONDS`
//!   (default 10); then the MCP sessions end, queued audit entries and predictions are
//!   written ([`Runtime::shutdown`]) and [`HttpApp::serve`] returns `Ok`, so the process
//!   exits 0.
//! - **`/healthz`**: 200 when every mounted server's store answers and is migrated to the
//!   level this build knows, else 503 with the reason; it also shows the circuit breakers
//!   of the upstreams this process has opened, the servers mounted and the version.
//! - **`/metrics`**: Prometheus text ([`crate::metrics`]), one registry for the process.
//!
//! A setting that does not parse stops [`HttpApp::serve`] with its reason.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::policy::{Policy, constant_time_eq};
use crate::server::{McpServer, Runtime, TeamServer};

/// The variable holding the bearer token HTTP clients must present.
pub const HTTP_TOKEN_VAR: &str = "REVOPS_HTTP_TOKEN";
/// Extra host names (besides loopback) the HTTP server answers to.
pub const ALLOWED_HOSTS_VAR: &str = "REVOPS_ALLOWED_HOSTS";
/// Browser origins (besides loopback) allowed to call the HTTP server.
pub const ALLOWED_ORIGINS_VAR: &str = "REVOPS_ALLOWED_ORIGINS";
/// The largest request body accepted, in bytes.
pub const MAX_BODY_VAR: &str = "REVOPS_HTTP_MAX_BODY_BYTES";
/// How long, in seconds, calls in flight may run on after SIGTERM.
pub const SHUTDOWN_GRACE_VAR: &str = "REVOPS_SHUTDOWN_GRACE_SECONDS";

/// Default of [`MAX_BODY_VAR`]: 1 MiB, far above any tool call's arguments.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default of [`SHUTDOWN_GRACE_VAR`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// After the grace period the sessions are ended; connections still open this much later
/// are dropped, so a stuck client can never keep the process from exiting.
const CLOSE_AFTER_SESSIONS_END: Duration = Duration::from_secs(5);
/// How long `/healthz` waits for the store: below a load balancer's probe timeout.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

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
    #[error("{0}")]
    Setting(String),
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
    let signal = shutdown_signal();
    let signals = tokio::spawn(async move {
        signal.await;
        cancel.cancel();
    });
    let ended = service.waiting().await;
    signals.abort();
    runtime.shutdown().await;
    ended.map_err(|error| TransportError::Session(error.to_string()))?;
    Ok(())
}

/// The HTTP settings from the environment (see the module docs).
#[derive(Debug, Clone)]
struct HttpSettings {
    /// Host names (with an optional port) the server answers to.
    allowed_hosts: Vec<String>,
    /// Browser origins allowed besides loopback.
    allowed_origins: Arc<[WebOrigin]>,
    max_body_bytes: usize,
    shutdown_grace: Duration,
}

impl HttpSettings {
    fn from_env() -> Result<HttpSettings, String> {
        let mut allowed_hosts = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        allowed_hosts.extend(list_var(ALLOWED_HOSTS_VAR));
        let allowed_origins = list_var(ALLOWED_ORIGINS_VAR)
            .iter()
            .map(|text| {
                WebOrigin::parse(text.strip_suffix('/').unwrap_or(text)).ok_or_else(|| {
                    format!(
                        "{ALLOWED_ORIGINS_VAR}: {text:?} is not an origin; write scheme://host[:port], e.g. https://app.example.com"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let max_body_bytes = match store::config::var(MAX_BODY_VAR) {
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|bytes| *bytes >= 1024)
                .ok_or_else(|| {
                    format!("{MAX_BODY_VAR} must be a whole number of bytes, at least 1024, got {text:?}")
                })?,
            None => DEFAULT_MAX_BODY_BYTES,
        };
        let shutdown_grace = match store::config::var(SHUTDOWN_GRACE_VAR) {
            Some(text) => text
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|seconds| *seconds <= 3_600)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    format!("{SHUTDOWN_GRACE_VAR} must be 0 to 3600 seconds, got {text:?}")
                })?,
            None => DEFAULT_SHUTDOWN_GRACE,
        };
        Ok(HttpSettings {
            allowed_hosts,
            allowed_origins: allowed_origins.into(),
            max_body_bytes,
            shutdown_grace,
        })
    }
}

/// The non-empty, trimmed items of a comma-separated setting.
fn list_var(name: &str) -> Vec<String> {
    store::config::var(name)
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// An HTTP application hosting one or more team servers.
pub struct HttpApp {
    router: axum::Router,
    /// Ends every MCP session (and its streams) once calls in flight have finished.
    cancel: CancellationToken,
    servers: Vec<&'static str>,
    runtimes: Vec<Runtime>,
    /// Read once, when the app is made; an error is reported by [`HttpApp::serve`].
    settings: Result<HttpSettings, String>,
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
            settings: HttpSettings::from_env(),
        }
    }

    /// Mounts a team's MCP endpoint at `path` (e.g. `/mcp` or `/sales/mcp`).
    pub fn mount<T: TeamServer>(mut self, path: &str, runtime: Runtime) -> HttpApp {
        let runtime_for_shutdown = runtime.clone();
        let (hosts, max_body_bytes) = match &self.settings {
            Ok(settings) => (settings.allowed_hosts.clone(), settings.max_body_bytes),
            // `serve` refuses to start with a bad setting; until then, the safe defaults.
            Err(_) => (
                vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
                DEFAULT_MAX_BODY_BYTES,
            ),
        };
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .with_max_request_body_bytes(max_body_bytes)
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

    /// Listens on `bind` until Ctrl-C or SIGTERM, then finishes the calls in flight and
    /// writes what is queued (see the module docs); prints nothing to stdout.
    ///
    /// Authentication: the policy file's bearer tokens when it has any (each request acts as
    /// its token's actor), else `REVOPS_HTTP_TOKEN` (requests act as the configured actor),
    /// else none, which is allowed on loopback only.
    pub async fn serve(self, bind: SocketAddr) -> Result<(), TransportError> {
        let settings = self.settings.clone().map_err(TransportError::Setting)?;
        // Listen for the signals before anything can be served, so a SIGTERM that arrives
        // as soon as the server answers is a graceful stop, never a kill.
        let signal = shutdown_signal();
        let policy = self
            .runtimes
            .first()
            .map(|r| r.options().policy.clone())
            .unwrap_or_default();
        let shared_token = store::config::var(HTTP_TOKEN_VAR);
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

        let in_flight = Arc::new(InFlight::default());
        let app = Arc::new(AppState {
            servers: self.servers.clone(),
            runtimes: self.runtimes.clone(),
            in_flight: in_flight.clone(),
            // With a token, a page that rebinds a name to this host cannot present it; without
            // one, only the Host stands between a browser and the metrics.
            metrics_hosts: matches!(auth, Auth::None).then(|| settings.allowed_hosts.clone()),
        });
        let metrics_app = app.clone();
        let router = self
            .router
            .route(
                "/metrics",
                axum::routing::get(move |headers: HeaderMap| metrics(metrics_app.clone(), headers)),
            )
            .layer(axum::middleware::from_fn_with_state(
                settings.max_body_bytes,
                limit_body,
            ))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(auth),
                require_bearer,
            ))
            .route("/healthz", axum::routing::get(move || healthz(app.clone())))
            .layer(axum::middleware::from_fn_with_state(
                in_flight.clone(),
                track_in_flight,
            ))
            .layer(axum::middleware::from_fn_with_state(
                settings.allowed_origins.clone(),
                check_origin,
            ));

        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| TransportError::Bind { addr: bind, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| TransportError::Bind { addr: bind, source })?;
        tracing::info!(address = %local, "serving MCP over streamable HTTP");

        let stopping = CancellationToken::new();
        let signals = tokio::spawn({
            let stopping = stopping.clone();
            async move {
                signal.await;
                tracing::info!("stop signal received: no new connections");
                stopping.cancel();
            }
        });
        // At the signal axum closes the listener and waits for open connections; meanwhile
        // the calls in flight finish, and only then do the sessions (and their long-lived
        // event streams, which would otherwise hold their connections forever) end.
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(stopping.clone().cancelled_owned())
            .into_future();
        let finish_then_end_sessions = finish_calls_in_flight(
            stopping,
            in_flight,
            settings.shutdown_grace,
            self.cancel.clone(),
        );
        let outcome = tokio::select! {
            served = served => served.map_err(|error| TransportError::Session(error.to_string())),
            () = finish_then_end_sessions => {
                tracing::warn!("connections were still open after the sessions ended; stopping anyway");
                Ok(())
            }
        };
        signals.abort();
        // Sessions left without a connection (their clients gone) end here too.
        self.cancel.cancel();
        for runtime in &self.runtimes {
            runtime.shutdown().await;
        }
        if outcome.is_ok() {
            tracing::info!("stopped; every call answered has been recorded");
        }
        outcome
    }
}

/// After the stop signal: waits (up to `grace`) for the calls in flight, then ends the MCP
/// sessions, then gives the connections a last moment to close. Never returns before the
/// signal.
async fn finish_calls_in_flight(
    stopping: CancellationToken,
    in_flight: Arc<InFlight>,
    grace: Duration,
    end_sessions: CancellationToken,
) {
    stopping.cancelled().await;
    if in_flight.current() > 0 {
        tracing::info!(
            in_flight = in_flight.current(),
            grace_seconds = grace.as_secs(),
            "finishing the calls in flight"
        );
    }
    if !in_flight.wait_until_idle(grace).await {
        tracing::warn!(
            in_flight = in_flight.current(),
            "the grace period ended with calls still running; ending them"
        );
    }
    end_sessions.cancel();
    tokio::time::sleep(CLOSE_AFTER_SESSIONS_END).await;
}

/// What the HTTP endpoints besides `/mcp` read.
struct AppState {
    servers: Vec<&'static str>,
    runtimes: Vec<Runtime>,
    in_flight: Arc<InFlight>,
    /// Hosts `/metrics` answers to; `None` when a bearer token protects it.
    metrics_hosts: Option<Vec<String>>,
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

/// `/healthz`: the store answers and is migrated to this build's level; the upstreams'
/// breakers; the servers; the version. Never the database's address or any secret.
async fn healthz(app: Arc<AppState>) -> Response {
    let mut problem: Option<String> = None;
    let mut store_status = serde_json::Value::Null;
    let mut migrations = serde_json::Value::Null;
    for runtime in &app.runtimes {
        let store = runtime.store();
        let backend = store.backend().as_str();
        match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, store.migration_level()).await {
            Ok(Ok(applied)) => {
                let known = store.known_migration_level();
                store_status = serde_json::json!({ "backend": backend, "reachable": true });
                migrations = serde_json::json!({
                    "applied": applied,
                    "known": known,
                    "current": applied >= known,
                });
                if applied < known {
                    problem = Some(format!(
                        "the database is at migration {applied} but this build needs {known}; run `revops db migrate`"
                    ));
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, server = runtime.server(), "healthz: the store did not answer");
                store_status = serde_json::json!({ "backend": backend, "reachable": false });
                problem = Some("the store cannot be reached".into());
            }
            Err(_elapsed) => {
                tracing::warn!(
                    server = runtime.server(),
                    "healthz: the store did not answer in time"
                );
                store_status = serde_json::json!({ "backend": backend, "reachable": false });
                problem = Some(format!(
                    "the store did not answer within {} s",
                    HEALTH_CHECK_TIMEOUT.as_secs()
                ));
            }
        }
        if problem.is_some() {
            break;
        }
    }
    let upstreams: Vec<serde_json::Value> = crate::metrics::breaker_states()
        .into_iter()
        .map(|(upstream, breaker)| serde_json::json!({ "upstream": upstream, "breaker": breaker }))
        .collect();
    let mut body = serde_json::json!({
        "status": if problem.is_none() { "ok" } else { "unavailable" },
        "version": env!("CARGO_PKG_VERSION"),
        "servers": app.servers,
        "store": store_status,
        "migrations": migrations,
        "upstreams": upstreams,
    });
    let status = match problem {
        None => StatusCode::OK,
        Some(reason) => {
            body["reason"] = serde_json::Value::String(reason);
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (status, axum::Json(body)).into_response()
}

/// `/metrics`: the process's metrics in Prometheus text.
async fn metrics(app: Arc<AppState>, headers: HeaderMap) -> Response {
    if let Some(hosts) = &app.metrics_hosts
        && !host_is_allowed(&headers, hosts)
    {
        return (
            StatusCode::FORBIDDEN,
            "the Host header is not one this server answers to",
        )
            .into_response();
    }
    let scrape = match app.runtimes.first() {
        Some(runtime) => crate::metrics::scrape(runtime, app.in_flight.current()).await,
        None => crate::metrics::Scrape {
            http_requests_in_flight: app.in_flight.current(),
            ..Default::default()
        },
    };
    (
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        crate::metrics::render(&scrape),
    )
        .into_response()
}

/// Whether the request's `Host` is one of `allowed` (`name` matches any port, `name:port`
/// only that port), as rmcp checks it for `/mcp`.
fn host_is_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some((host, port)) = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .and_then(split_authority)
    else {
        return false;
    };
    allowed
        .iter()
        .filter_map(|entry| split_authority(entry))
        .any(|(allowed_host, allowed_port)| {
            allowed_host == host && (allowed_port.is_none() || allowed_port == port)
        })
}

/// `host[:port]` or `[v6]:port` as a lowercase host without brackets and its port.
fn split_authority(text: &str) -> Option<(String, Option<u16>)> {
    let text = text.trim();
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (host, port)
    } else if text.matches(':').count() > 1 {
        // A bare IPv6 address, as in the default "::1" entry.
        (text, None)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// A web origin, `scheme://host:port`, normalised: lowercase, no IPv6 brackets, the
/// scheme's default port when none is written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WebOrigin {
    scheme: String,
    host: String,
    port: u16,
}

impl WebOrigin {
    /// Parses an `Origin` header value (or an entry of the allow list); `None` for `null`
    /// and anything that is not `http(s)://host[:port]`.
    fn parse(text: &str) -> Option<WebOrigin> {
        let (scheme, authority) = text.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        if authority.contains(['/', '?', '#', '@']) {
            return None;
        }
        let (host, port) = split_authority(authority)?;
        if authority.matches(':').count() > 1 && !authority.starts_with('[') {
            // An IPv6 host must be bracketed in an origin.
            return None;
        }
        Some(WebOrigin {
            scheme,
            host,
            port: port.unwrap_or(default_port),
        })
    }

    /// A page served from this machine over plain http.
    fn is_loopback(&self) -> bool {
        self.scheme == "http" && matches!(self.host.as_str(), "localhost" | "127.0.0.1" | "::1")
    }
}

/// Refuses browser requests from origins that are neither loopback nor allowed: a page on
/// another site (or a rebound DNS name) must not drive the tools with the user's access.
async fn check_origin(
    State(allowed): State<Arc<[WebOrigin]>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(value) = request.headers().get(header::ORIGIN) else {
        return next.run(request).await;
    };
    let origin = value.to_str().ok().and_then(WebOrigin::parse);
    match origin {
        Some(origin) if origin.is_loopback() || allowed.contains(&origin) => {
            next.run(request).await
        }
        _ => {
            tracing::warn!(origin = ?value, path = %request.uri().path(), "refused a request from a browser origin that is not allowed");
            (
                StatusCode::FORBIDDEN,
                format!("requests from this Origin are not allowed; the server's operator can allow it in {ALLOWED_ORIGINS_VAR}"),
            )
                .into_response()
        }
    }
}

/// Refuses a body over `max_bytes` with 413, before reading it when `Content-Length` says
/// so, else as soon as the streamed body passes the limit. A body within the limit is passed
/// on whole (the MCP transport reads it whole anyway).
async fn limit_body(State(max_bytes): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        discard_the_rest(request.into_body().into_data_stream());
        return body_too_large(max_bytes);
    }
    let (parts, body) = request.into_parts();
    let mut chunks = body.into_data_stream();
    let mut collected: Vec<u8> = Vec::new();
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(chunk) if collected.len() + chunk.len() > max_bytes => {
                discard_the_rest(chunks);
                return body_too_large(max_bytes);
            }
            Ok(chunk) => collected.extend_from_slice(&chunk),
            Err(error) => {
                tracing::debug!(%error, "could not read a request body");
                return (
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read",
                )
                    .into_response();
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(collected)))
        .await
}

/// The most of a refused body read and thrown away, and for how long.
const DISCARD_AT_MOST_BYTES: usize = 8 * 1024 * 1024;
const DISCARD_AT_MOST_FOR: Duration = Duration::from_secs(5);

/// Reads and throws away what is left of a refused body (a "lingering close"): closing a
/// connection with unread data resets it, and a client still sending would then see the
/// reset instead of the 413. Bounded, so a huge body is cut off all the same.
fn discard_the_rest(mut chunks: axum::body::BodyDataStream) {
    tokio::spawn(async move {
        let drained = async {
            let mut read = 0;
            while let Some(Ok(chunk)) = chunks.next().await {
                read += chunk.len();
                if read > DISCARD_AT_MOST_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DISCARD_AT_MOST_FOR, drained).await;
    });
}

fn body_too_large(max_bytes: usize) -> Response {
    tracing::warn!(max_bytes, "refused a request body over the limit");
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONNECTION, "close")],
        format!("the request body is larger than this server accepts ({max_bytes} bytes)"),
    )
        .into_response()
}

/// Requests carrying MCP messages (POST) whose answer is not finished: a tool call's answer
/// may stream after the handler returns, so a call counts until its response body ends.
#[derive(Debug, Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// One request in flight; dropping it ends it.
struct InFlightRequest(Arc<InFlight>);

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl InFlight {
    fn begin(self: &Arc<Self>) -> InFlightRequest {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightRequest(self.clone())
    }

    fn current(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Waits until nothing is in flight, at most `grace`; whether it got there.
    async fn wait_until_idle(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read, so a call ending in between still wakes us.
            idle.as_mut().enable();
            if self.current() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.current() == 0;
            }
        }
    }
}

/// Counts each POST from its arrival to the end of its response body.
async fn track_in_flight(
    State(in_flight): State<Arc<InFlight>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let call = in_flight.begin();
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    if body.size_hint().exact().is_some() {
        // A complete answer (JSON, 202): the work is done; keep its framing as it is.
        drop(call);
        return Response::from_parts(parts, body);
    }
    let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
        // The stream owns the guard: it ends when the body is finished or dropped.
        let _call = &call;
        chunk
    }));
    Response::from_parts(parts, body)
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

/// Resolves at SIGTERM or Ctrl-C. The handlers are installed when this is called, not when
/// the future is first polled, so no signal between the two is lost.
#[cfg(unix)]
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::policy::constant_time_eq;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-tokem", b"secret-token"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    fn origin(text: &str) -> Option<WebOrigin> {
        WebOrigin::parse(text)
    }

    #[test]
    fn loopback_origins_over_http_are_recognised_on_any_port() {
        for text in [
            "http://localhost",
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
            "HTTP://LOCALHOST:1",
        ] {
            assert!(origin(text).is_some_and(|o| o.is_loopback()), "{text}");
        }
        for text in [
            "https://localhost",
            "http://localhost.evil.example",
            "http://127.0.0.2",
        ] {
            assert!(!origin(text).is_some_and(|o| o.is_loopback()), "{text}");
        }
    }

    #[test]
    fn origins_compare_by_scheme_host_and_port_with_default_ports() {
        assert_eq!(
            origin("https://app.example.com"),
            origin("https://App.Example.com:443")
        );
        assert_ne!(
            origin("https://app.example.com"),
            origin("http://app.example.com")
        );
        assert_ne!(
            origin("https://app.example.com:8443"),
            origin("https://app.example.com")
        );
        for bad in [
            "null",
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "https://",
            "http://::1",
            "https://app.example.com:99999",
        ] {
            assert_eq!(origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn hosts_match_by_name_and_by_port_when_the_entry_has_one() {
        let allowed = vec![
            "localhost".to_string(),
            "::1".to_string(),
            "mcp.example.com:8443".to_string(),
        ];
        let with_host = |host: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, host.parse().unwrap());
            host_is_allowed(&headers, &allowed)
        };
        assert!(with_host("localhost:8080"));
        assert!(with_host("LOCALHOST"));
        assert!(with_host("[::1]:8080"));
        assert!(with_host("mcp.example.com:8443"));
        assert!(!with_host("mcp.example.com:443"));
        assert!(!with_host("evil.example.com"));
        assert!(!host_is_allowed(&HeaderMap::new(), &allowed));
    }

    #[tokio::test]
    async fn waiting_for_calls_in_flight_ends_when_the_last_one_ends_or_at_the_grace() {
        let in_flight = Arc::new(InFlight::default());
        assert!(in_flight.wait_until_idle(Duration::from_secs(1)).await);

        let call = in_flight.begin();
        assert!(!in_flight.wait_until_idle(Duration::from_millis(10)).await);

        let waiter = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.wait_until_idle(Duration::from_secs(60)).await }
        });
        tokio::task::yield_now().await;
        drop(call);
        assert!(waiter.await.unwrap());
        assert_eq!(in_flight.current(), 0);
    }
}
