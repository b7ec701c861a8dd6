//! The connectors' one error type. Every message is written for the person using a tool:
//! what happened and what to do. None holds a token, a header, a query string or a body:
//! upstream answers are described by status code (and HubSpot's fixed error category), and
//! vault and store errors are already secret-free by their own rules.

/// What went wrong talking to a CRM or syncing with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// No usable credentials: the vault is not set up, locked, or holds nothing for the
    /// provider. `hint` says which commands fix it.
    #[error("{provider} is not connected: {hint}")]
    NotConfigured {
        provider: &'static str,
        hint: String,
    },

    /// The CRM refused our credentials, even after a fresh access token.
    #[error(
        "{provider} refused the stored credentials (HTTP {status}); they may be revoked or lack a scope. \
         Set them again with `revops vault set {provider_key} {credential}`"
    )]
    Unauthorized {
        provider: &'static str,
        provider_key: &'static str,
        /// The vault name of the credential to set again.
        credential: &'static str,
        status: u16,
    },

    /// The OAuth token endpoint refused to refresh the access token.
    #[error(
        "{provider} refused to refresh the OAuth access token (HTTP {status}); the refresh token may be \
         revoked or expired: re-authorise the app and store the new one with \
         `revops vault set {provider_key} refresh_token`"
    )]
    RefreshRefused {
        provider: &'static str,
        provider_key: &'static str,
        status: u16,
    },

    /// The remote record does not exist (or was archived).
    #[error("{provider} has no {kind} with id {id:?}")]
    NotFound {
        provider: &'static str,
        kind: &'static str,
        id: String,
    },

    /// The CRM answered, and refused the request (a 4xx other than 401, 404, 408, 429).
    #[error("{provider} refused the request (HTTP {status}{}); {}", category_note(.category), rejection_hint(*.status))]
    Rejected {
        provider: &'static str,
        status: u16,
        /// The CRM's machine-readable error category (e.g. `VALIDATION_ERROR`), when given.
        category: Option<String>,
    },

    /// A local record cannot be sent, or a remote one cannot be kept (says why).
    #[error("{0}")]
    Invalid(String),

    /// What was asked is not supported by this connector yet.
    #[error("{0}")]
    Unsupported(String),

    /// A sync pass stopped part-way. Everything before it is committed; running the sync
    /// again resumes from the last committed page.
    #[error(
        "the {provider} {kind} sync stopped after {pages} page(s) ({records} record(s) saved this run): {cause}. \
         Run it again to resume from the last saved page"
    )]
    SyncInterrupted {
        provider: &'static str,
        kind: &'static str,
        pages: u32,
        records: u64,
        cause: Box<ConnectorError>,
    },

    /// The call got no usable answer (breaker open, rate limited, timeout, 5xx, …).
    #[error(transparent)]
    Upstream(#[from] resilience::Error),

    /// The vault failed (locked, tampered, …).
    #[error(transparent)]
    Vault(vault::VaultError),

    /// The local store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<vault::VaultError> for ConnectorError {
    fn from(error: vault::VaultError) -> Self {
        ConnectorError::Vault(error)
    }
}

impl ConnectorError {
    /// Whether running the same call again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ConnectorError::Upstream(error) => error.is_transient(),
            ConnectorError::SyncInterrupted { cause, .. } => cause.is_transient(),
            ConnectorError::Store(store::Error::Unavailable(_)) => true,
            _ => false,
        }
    }
}

fn category_note(category: &Option<String>) -> String {
    match category {
        Some(category) => format!(", {category}"),
        None => String::new(),
    }
}

fn rejection_hint(status: u16) -> &'static str {
    match status {
        400 | 422 => "a field value is not accepted; check the record's fields (e.g. the email)",
        403 => "the credentials lack a scope for this object, or the API allocation is used up",
        409 => "a record with the same unique value (e.g. email) already exists there",
        _ => "the request was not retried, because repeating it would fail the same way",
    }
}
