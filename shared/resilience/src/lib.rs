//! Outbound calls done safely: every HTTP request the suite sends to HubSpot, Salesforce or
//! any other upstream goes through an [`Upstream`], which applies, per attempt and in this
//! order:
//!
//! 1. a **circuit breaker** per upstream ([`breaker`]): after repeated failures calls fail
//!    fast, without touching the network, until a pause has passed and trial calls succeed;
//! 2. **rate limits** ([`limit`]): per lead, per account, global, and the upstream's own
//!    documented quota; an excess call waits (bounded) or is refused with the time to retry;
//! 3. a **timeout** covering connect, headers and body;
//! 4. **retry** ([`retry`]) with full-jitter exponential backoff on `backon`, only for
//!    transient failures (connect errors, timeouts, 408, 429, 5xx), honouring `Retry-After`,
//!    and never for a non-idempotent write without an idempotency key.
//!
//! Every outcome is counted for [`Upstream::health`] and reported as a `tracing` event. Neither
//! events nor errors ever carry headers, query strings or bodies, because they may hold
//! tokens. Errors ([`Error`]) are written for the person using a tool: what happened and what
//! to do.
//!
//! Outbound HTTP anywhere else in the workspace is refused by clippy (`disallowed-methods` in
//! `clippy.toml`), so this crate is the only way out.
//!
//! ```no_run
//! # async fn demo() -> Result<(), resilience::Error> {
//! use resilience::{Upstream, UpstreamConfig};
//!
//! let hubspot = Upstream::new(UpstreamConfig::hubspot())?;
//! let contact: serde_json::Value = hubspot
//!     .get("/crm/v3/objects/contacts/42")
//!     .bearer_auth("token from the vault")
//!     .lead("lead_000042")
//!     .send()
//!     .await?
//!     .error_for_status()?
//!     .json()?;
//! # let _ = contact;
//! # Ok(())
//! # }
//! ```

pub mod breaker;
mod error;
pub mod health;
pub mod limit;
pub mod retry;
mod upstream;

pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker, OpenReason};
pub use error::Error;
pub use health::UpstreamHealth;
pub use limit::{Denied, LimitKeys, LimitMode, LimitScope, RateLimit, RateLimits, ScopeLimits};
pub use retry::RetryPolicy;
pub use upstream::{
    Call, CallOptions, IDEMPOTENCY_KEY, Response, Timeouts, Upstream, UpstreamBuilder,
    UpstreamConfig, install_tls_provider,
};

// Re-exported so connectors name the same types this crate takes and returns.
pub use reqwest::{Method, StatusCode, header};
