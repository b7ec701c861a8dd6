//! The credentials of one CRM connection: a static token (HubSpot private app, an API key),
//! or an OAuth 2.0 session with a refresh token, written once for every connector.
//!
//! An [`OAuthSession`] keeps its access token behind a `tokio::sync::Mutex`, and refreshes
//! while holding it, so however many calls wait, one refresh is in flight per connection:
//! the others wait on the lock and then use the token it produced. Each token has a
//! generation; a call that got a 401 asks for a refresh *of the token it used*, so a 401 on
//! a token already replaced does not refresh again.
//!
//! A refresh reads the client id, client secret and refresh token from the vault, posts the
//! `refresh_token` grant (form-encoded) to the token endpoint, and, when the answer carries
//! a new refresh token (rotation), saves it. The token request is sent once, never retried:
//! with rotation a repeated grant may be refused, and the caller's own retry is the safe
//! place.
//!
//! Once the endpoint has rotated, the old refresh token is spent, so the new one must not be
//! lost, and saving it cannot fail the refresh. It is kept in memory (the next refresh uses
//! it) and saved to the vault in a transaction of its own, by a task that retries until the
//! save lands. The refresh waits for that save, unless a write of this process holds the
//! store: a refresh inside a tool's write transaction (a sync that finds its token expired)
//! would wait for its own transaction, since on SQLite that transaction holds the process's
//! turn to write. Then it goes on, and the save lands the moment that transaction ends,
//! ahead of the next writer. Until it lands, only this process knows the token: a process
//! killed in that window leaves the spent one in the vault, and the next refresh is refused
//! with the command to store a new one. HubSpot does not rotate refresh tokens; Salesforce
//! does only when the connected app asks for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use resilience::Upstream;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use vault::Vault;

use crate::ConnectorError;

/// Vault names of an OAuth connection's credentials (under the connector's provider).
pub const CLIENT_ID: &str = "client_id";
pub const CLIENT_SECRET: &str = "client_secret";
pub const REFRESH_TOKEN: &str = "refresh_token";
/// An access token stored by hand (with [`INSTANCE_URL`] where the provider needs one):
/// used until the CRM refuses it. Refreshed tokens are kept in memory only.
pub const ACCESS_TOKEN: &str = "access_token";
/// The API host of a stored [`ACCESS_TOKEN`] (Salesforce's `instance_url`).
pub const INSTANCE_URL: &str = "instance_url";

/// Where and how an [`OAuthSession`] refreshes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// Shown in messages, e.g. `HubSpot`.
    pub display_name: &'static str,
    /// The vault provider holding the credentials, e.g. `hubspot`.
    pub provider: &'static str,
    /// The token endpoint: a path joined to the upstream's base URL, or an absolute URL.
    pub token_url: String,
    /// Refresh this long before the access token expires, so a call never starts with a
    /// token about to lapse (default 60 s).
    pub refresh_ahead: Duration,
    /// The token endpoint names the API host with each token (Salesforce).
    pub needs_instance_url: bool,
}

/// An access token handed to one call, with the generation it belongs to.
pub struct Grant {
    token: Arc<SecretString>,
    generation: u64,
    instance_url: Option<Arc<str>>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("token", &"[REDACTED]")
            .field("generation", &self.generation)
            .field("instance_url", &self.instance_url)
            .finish()
    }
}

impl Grant {
    /// The token, for the `Authorization` header only.
    pub fn secret(&self) -> &str {
        self.token.expose_secret()
    }

    /// The API host the token endpoint named with this token, if it named one.
    pub fn instance_url(&self) -> Option<&str> {
        self.instance_url.as_deref()
    }
}

/// How a connection authenticates.
#[derive(Clone)]
pub enum Auth {
    /// A token that does not expire by itself (HubSpot private app, an API key).
    Static(Arc<SecretString>),
    /// OAuth 2.0 with refresh.
    OAuth(Arc<OAuthSession>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Static(_) => f.write_str("Auth::Static([REDACTED])"),
            Auth::OAuth(session) => f
                .debug_tuple("Auth::OAuth")
                .field(&session.settings.provider)
                .finish(),
        }
    }
}

impl Auth {
    /// The token for the next call, refreshed first when it is missing or about to expire.
    pub async fn grant(&self) -> Result<Grant, ConnectorError> {
        match self {
            Auth::Static(token) => Ok(Grant {
                token: Arc::clone(token),
                generation: 0,
                instance_url: None,
            }),
            Auth::OAuth(session) => session.grant().await,
        }
    }

    /// After a 401 on `used`: a fresh token to retry with, or `None` when there is nothing to
    /// refresh (a static token).
    pub async fn after_unauthorized(&self, used: &Grant) -> Result<Option<Grant>, ConnectorError> {
        match self {
            Auth::Static(_) => Ok(None),
            Auth::OAuth(session) => session.after_unauthorized(used).await.map(Some),
        }
    }
}

struct TokenState {
    access: Option<Arc<SecretString>>,
    /// `None`: expiry unknown (a token loaded from the vault); used until a 401.
    expires_at: Option<Instant>,
    generation: u64,
    instance_url: Option<Arc<str>>,
    /// The refresh token the endpoint last refused, and its status: asking again with the
    /// same token would only be refused again, so calls fail at once until someone stores
    /// a new one (`revops vault set`), which works without a restart.
    refused: Option<(SecretString, u16)>,
}

/// An OAuth 2.0 session: the current access token and the means to refresh it.
pub struct OAuthSession {
    settings: OAuthSettings,
    vault: Arc<Vault>,
    upstream: Upstream,
    state: tokio::sync::Mutex<TokenState>,
    /// A rotated refresh token not yet known to be in the vault; refreshes use it first.
    unsaved_rotation: Arc<std::sync::Mutex<Option<SecretString>>>,
    /// Held by each attempt to save a rotated token, so an older token's retry can never
    /// land after a newer token's save and put a spent token back in the vault.
    saving_rotation: Arc<tokio::sync::Mutex<()>>,
    refreshes: AtomicU64,
}

/// The longest a refresh waits for its rotated refresh token to be saved before going on
/// (the save goes on too), when nothing in the process holds the store's write lock.
const ROTATION_SAVE_WAIT: Duration = Duration::from_secs(10);

impl std::fmt::Debug for OAuthSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSession")
            .field("settings", &self.settings)
            .field("refreshes", &self.refreshes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The token endpoint's answer. No `Debug`: it holds tokens.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    instance_url: Option<String>,
}

impl OAuthSession {
    /// A session sending its token requests through `upstream`. It starts with the access
    /// token saved in the vault, if any (expiry unknown: used until the CRM answers 401).
    pub async fn new(
        settings: OAuthSettings,
        vault: Arc<Vault>,
        upstream: Upstream,
    ) -> Result<OAuthSession, ConnectorError> {
        let mut access = match vault.get(settings.provider, ACCESS_TOKEN).await {
            Ok(token) => Some(Arc::new(token)),
            Err(vault::VaultError::NotFound { .. }) => None,
            Err(error) => return Err(error.into()),
        };
        let instance_url = match vault.get(settings.provider, INSTANCE_URL).await {
            Ok(url) => Some(Arc::from(url.expose_secret())),
            Err(vault::VaultError::NotFound { .. }) => None,
            Err(error) => return Err(error.into()),
        };
        // A token whose host is unknown is useless where the host comes with the token.
        if settings.needs_instance_url && instance_url.is_none() {
            access = None;
        }
        Ok(OAuthSession {
            settings,
            vault,
            upstream,
            state: tokio::sync::Mutex::new(TokenState {
                access,
                expires_at: None,
                generation: 0,
                instance_url,
                refused: None,
            }),
            unsaved_rotation: Arc::default(),
            saving_rotation: Arc::default(),
            refreshes: AtomicU64::new(0),
        })
    }

    /// Refreshes done by this session (for health and tests).
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    async fn grant(&self) -> Result<Grant, ConnectorError> {
        let mut state = self.state.lock().await;
        let fresh = match (&state.access, state.expires_at) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(_), Some(expires_at)) => {
                Instant::now() + self.settings.refresh_ahead < expires_at
            }
        };
        if !fresh {
            self.refresh(&mut state).await?;
        }
        current(&state)
    }

    async fn after_unauthorized(&self, used: &Grant) -> Result<Grant, ConnectorError> {
        let mut state = self.state.lock().await;
        // Another call refreshed while this one waited: use its token.
        if state.generation == used.generation && state.access.is_some() {
            tracing::debug!(
                provider = self.settings.provider,
                "access token refused: refreshing"
            );
            self.refresh(&mut state).await?;
        } else if state.access.is_none() {
            self.refresh(&mut state).await?;
        }
        current(&state)
    }

    /// Called with the lock held: one refresh at a time per session.
    async fn refresh(&self, state: &mut TokenState) -> Result<(), ConnectorError> {
        let provider = self.settings.provider;
        let client_id = self.credential(CLIENT_ID).await?;
        let client_secret = self.credential(CLIENT_SECRET).await?;
        let unsaved = self
            .unsaved_rotation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let refresh_token = match unsaved {
            Some(rotated) => rotated,
            None => self.credential(REFRESH_TOKEN).await?,
        };
        if let Some((refused, status)) = &state.refused
            && refused.expose_secret() == refresh_token.expose_secret()
        {
            return Err(self.refused(*status));
        }
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.expose_secret()),
            ("client_secret", client_secret.expose_secret()),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        let answer = self
            .upstream
            .post(&self.settings.token_url)
            .form(&form)
            .send()
            .await?;
        let status = answer.status();
        if status.is_client_error() {
            tracing::warn!(
                provider,
                status = status.as_u16(),
                "the token endpoint refused the refresh"
            );
            state.refused = Some((refresh_token, status.as_u16()));
            return Err(self.refused(status.as_u16()));
        }
        let answer: TokenAnswer = answer.error_for_status()?.json()?;
        if answer.access_token.is_empty() {
            return Err(ConnectorError::Invalid(format!(
                "{}'s token endpoint answered without an access token",
                self.settings.display_name
            )));
        }
        let expires_in = answer.expires_in.map(Duration::from_secs);
        if let Some(rotated) = answer.refresh_token
            && !rotated.is_empty()
            && rotated != refresh_token.expose_secret()
        {
            self.keep_rotated(SecretString::from(rotated)).await;
        }
        if let Some(url) = answer.instance_url.filter(|url| !url.is_empty()) {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains('?') {
                return Err(ConnectorError::Invalid(format!(
                    "{}'s token endpoint named an API host that is not a URL",
                    self.settings.display_name
                )));
            }
            state.instance_url = Some(Arc::from(url.trim_end_matches('/')));
        } else if self.settings.needs_instance_url && state.instance_url.is_none() {
            return Err(ConnectorError::Invalid(format!(
                "{}'s token endpoint did not name the API host (instance_url)",
                self.settings.display_name
            )));
        }
        // The access token stays in memory: saving it for other processes would write to
        // the store on every refresh, and on SQLite a refresh inside a tool's write
        // transaction would wait for that transaction's own lock.
        state.access = Some(Arc::new(SecretString::from(answer.access_token)));
        state.expires_at = expires_in.map(|d| Instant::now() + d);
        state.generation += 1;
        state.refused = None;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            provider,
            generation = state.generation,
            expires_in_s = expires_in.map(|d| d.as_secs()),
            "access token refreshed"
        );
        Ok(())
    }

    fn refused(&self, status: u16) -> ConnectorError {
        ConnectorError::RefreshRefused {
            provider: self.settings.display_name,
            provider_key: self.settings.provider,
            status,
        }
    }

    /// Keeps a rotated refresh token: in memory at once, in the vault as soon as a write can
    /// be made (see the module's doc). Waits for the save (up to [`ROTATION_SAVE_WAIT`]),
    /// unless a write of this process holds the store, which may be the caller's own
    /// transaction: then the save lands when that write ends.
    async fn keep_rotated(&self, rotated: SecretString) {
        let can_wait = !self.vault.writes_must_wait();
        let provider = self.settings.provider;
        *self
            .unsaved_rotation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(rotated.clone());
        let vault = Arc::clone(&self.vault);
        let unsaved = Arc::clone(&self.unsaved_rotation);
        let one_at_a_time = Arc::clone(&self.saving_rotation);
        let saving = tokio::spawn(async move {
            let is_newest = |token: &SecretString| {
                unsaved
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_ref()
                    .is_some_and(|kept| kept.expose_secret() == token.expose_secret())
            };
            let save = || async {
                let _turn = one_at_a_time.lock().await;
                // A later rotation replaced this token: saving it would put a spent token
                // back; the later one is saved by its own task.
                if !is_newest(&rotated) {
                    return Ok(());
                }
                vault
                    .put(provider, REFRESH_TOKEN, rotated.clone())
                    .await
                    .map(|_| ())
            };
            let saved = backon::Retryable::retry(
                save,
                backon::ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_delay(Duration::from_secs(30))
                    .with_max_times(30),
            )
            .notify(|error, wait| {
                tracing::warn!(provider, %error, retry_in_ms = wait.as_millis() as u64, "the rotated refresh token is not saved yet");
            })
            .await;
            match saved {
                Ok(()) => {
                    let mut unsaved = unsaved
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if unsaved
                        .as_ref()
                        .is_some_and(|kept| kept.expose_secret() == rotated.expose_secret())
                    {
                        *unsaved = None;
                        tracing::info!(provider, "rotated refresh token saved to the vault");
                    }
                }
                Err(error) => tracing::error!(
                    provider,
                    %error,
                    "the rotated refresh token could not be saved; this process keeps using it, but after a restart store a new one with `revops vault set {provider} refresh_token`"
                ),
            }
        });
        if !can_wait
            || tokio::time::timeout(ROTATION_SAVE_WAIT, saving)
                .await
                .is_err()
        {
            tracing::info!(
                provider,
                "the rotated refresh token will be saved when the store's write lock is free"
            );
        }
    }

    async fn credential(&self, name: &'static str) -> Result<SecretString, ConnectorError> {
        match self.vault.get(self.settings.provider, name).await {
            Ok(secret) => Ok(secret),
            Err(vault::VaultError::NotFound { .. }) => Err(ConnectorError::NotConfigured {
                provider: self.settings.display_name,
                hint: format!(
                    "the OAuth credential {name} is missing; store it with `revops vault set {} {name}`",
                    self.settings.provider
                ),
            }),
            Err(error) => Err(error.into()),
        }
    }
}

fn current(state: &TokenState) -> Result<Grant, ConnectorError> {
    match &state.access {
        Some(token) => Ok(Grant {
            token: Arc::clone(token),
            generation: state.generation,
            instance_url: state.instance_url.clone(),
        }),
        None => Err(ConnectorError::Invalid(
            "no access token is available after a refresh".to_owned(),
        )),
    }
}
