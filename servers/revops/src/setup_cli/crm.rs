//! Connecting a CRM during set-up: the credentials are tested with one cheap live read
//! over the suite's outbound HTTP layer (`resilience`: timeouts, retry, TLS), a failure is
//! explained in words a person can act on, and only credentials that worked are stored, in
//! the vault (never in the config file), under the names the connectors read them by.
//!
//! HubSpot takes a private-app token, tested by searching one contact (the sync's first
//! call). Salesforce takes a connected app's client id, client secret and refresh token (the
//! connector refreshes access tokens itself; an access token alone would stop working
//! within hours), tested by a refresh and a one-row SOQL query on the instance the refresh
//! names; when the refresh rotates the refresh token, the new one is what gets stored.

use resilience::{RetryPolicy, StatusCode, Upstream, UpstreamConfig};
use serde_json::json;
use vault::{ExposeSecret, SecretString, Vault};

/// Vault names, as `connectors` reads them (`connectors::hubspot::PROVIDER`,
/// `PRIVATE_APP_TOKEN`, `connectors::salesforce::PROVIDER`, `connectors::auth::*`).
const HUBSPOT: &str = "hubspot";
const PRIVATE_APP_TOKEN: &str = "private_app_token";
const SALESFORCE: &str = "salesforce";
const CLIENT_ID: &str = "client_id";
const CLIENT_SECRET: &str = "client_secret";
const REFRESH_TOKEN: &str = "refresh_token";
/// The REST API version the Salesforce connector speaks.
const SALESFORCE_API_VERSION: &str = "v62.0";

/// Where HubSpot's API is unless `REVOPS_HUBSPOT_URL` says otherwise.
pub const HUBSPOT_DEFAULT_URL: &str = "https://api.hubapi.com";
/// Where Salesforce logins go unless `REVOPS_SALESFORCE_LOGIN_URL` says otherwise.
pub const SALESFORCE_DEFAULT_LOGIN_URL: &str = "https://login.salesforce.com";

/// CRM credentials that passed their test, to be stored in the vault.
pub enum Credentials {
    HubSpot {
        token: SecretString,
        base_url: String,
    },
    Salesforce {
        login_url: String,
        client_id: SecretString,
        client_secret: SecretString,
        refresh_token: SecretString,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.display_name())?;
        f.write_str("([REDACTED])")
    }
}

impl Credentials {
    pub fn display_name(&self) -> &'static str {
        match self {
            Credentials::HubSpot { .. } => "HubSpot",
            Credentials::Salesforce { .. } => "Salesforce",
        }
    }

    /// The vault entries: (provider, name, secret).
    fn entries(&self) -> Vec<(&'static str, &'static str, &SecretString)> {
        match self {
            Credentials::HubSpot { token, .. } => vec![(HUBSPOT, PRIVATE_APP_TOKEN, token)],
            Credentials::Salesforce {
                client_id,
                client_secret,
                refresh_token,
                ..
            } => vec![
                (SALESFORCE, CLIENT_ID, client_id),
                (SALESFORCE, CLIENT_SECRET, client_secret),
                (SALESFORCE, REFRESH_TOKEN, refresh_token),
            ],
        }
    }

    /// The base-URL setting the servers need to reach the same place the test did, when it
    /// is not the default.
    pub fn url_setting(&self) -> Option<(&'static str, String)> {
        match self {
            Credentials::HubSpot { base_url, .. } if base_url != HUBSPOT_DEFAULT_URL => {
                Some((super::answers::HUBSPOT_URL, base_url.clone()))
            }
            Credentials::Salesforce { login_url, .. }
                if login_url != SALESFORCE_DEFAULT_LOGIN_URL =>
            {
                Some((super::answers::SALESFORCE_LOGIN_URL, login_url.clone()))
            }
            _ => None,
        }
    }

    /// Stores the credentials in `vault`; returns what was stored as `provider/name`.
    pub async fn store(&self, vault: &Vault) -> anyhow::Result<Vec<String>> {
        let mut stored = Vec::new();
        for (provider, name, secret) in self.entries() {
            vault.put(provider, name, secret.clone()).await?;
            stored.push(format!("{provider}/{name}"));
        }
        Ok(stored)
    }
}

/// An upstream for one test call: it gives up quickly (a person is waiting and can retry
/// themselves).
fn upstream(name: &str, base_url: &str) -> Result<Upstream, String> {
    let config =
        UpstreamConfig::new(name, base_url.trim_end_matches('/')).with_retry(RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        });
    Upstream::new(config).map_err(|error| error.to_string())
}

/// Why a test failed, before it is put into words.
#[derive(Debug)]
pub enum Failure {
    /// The CRM answered with this status.
    Refused { status: u16, refreshing: bool },
    /// No usable answer (network, timeout, 5xx after retries…).
    Upstream(resilience::Error),
    /// An answer that could not be understood.
    Unreadable(String),
}

impl From<resilience::Error> for Failure {
    fn from(error: resilience::Error) -> Failure {
        Failure::Upstream(error)
    }
}

/// Searches one contact with the token: proves the token, its scope and the network at once.
pub async fn test_hubspot(token: &SecretString, base_url: &str) -> Result<(), String> {
    let attempt = async {
        let api = upstream("HubSpot", base_url).map_err(Failure::Unreadable)?;
        let answer = api
            .post("/crm/v3/objects/contacts/search")
            .json(&json!({"limit": 1, "properties": ["email"]}))
            .bearer_auth(token.expose_secret())
            .idempotent()
            .send()
            .await?;
        match answer.status() {
            status if status.is_success() => Ok(()),
            status => Err(Failure::Refused {
                status: status.as_u16(),
                refreshing: false,
            }),
        }
    };
    attempt
        .await
        .map_err(|failure| explain("HubSpot", base_url, &failure))
}

/// The token endpoint's answer (no `Debug`: it holds tokens).
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    instance_url: Option<String>,
}

/// Refreshes an access token and reads one lead; returns the credentials to keep (with
/// the refresh token as it stands after the refresh).
pub async fn test_salesforce(
    login_url: &str,
    client_id: SecretString,
    client_secret: SecretString,
    refresh_token: SecretString,
) -> Result<Credentials, String> {
    let attempt = async {
        let login = upstream("Salesforce", login_url).map_err(Failure::Unreadable)?;
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.expose_secret()),
            ("client_secret", client_secret.expose_secret()),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        // Sent once: with rotation, a repeated refresh may be refused.
        let answer = login
            .post("/services/oauth2/token")
            .form(&form)
            .send()
            .await?;
        if !answer.status().is_success() {
            return Err(Failure::Refused {
                status: answer.status().as_u16(),
                refreshing: true,
            });
        }
        let grant: TokenAnswer = answer.json()?;
        let instance = grant
            .instance_url
            .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
            .ok_or_else(|| {
                Failure::Unreadable(
                    "the token endpoint did not name the org's API host (instance_url)".into(),
                )
            })?;
        let api = upstream("Salesforce", &instance).map_err(Failure::Unreadable)?;
        let read = api
            .get(&format!("/services/data/{SALESFORCE_API_VERSION}/query"))
            .query(&[("q", "SELECT Id FROM Lead LIMIT 1")])
            .bearer_auth(&grant.access_token)
            .send()
            .await?;
        if read.status() != StatusCode::OK {
            return Err(Failure::Refused {
                status: read.status().as_u16(),
                refreshing: false,
            });
        }
        Ok(grant.refresh_token.filter(|t| !t.is_empty()))
    };
    match attempt.await {
        Ok(rotated) => Ok(Credentials::Salesforce {
            login_url: login_url.to_string(),
            refresh_token: rotated.map_or(refresh_token, SecretString::from),
            client_id,
            client_secret,
        }),
        Err(failure) => Err(explain("Salesforce", login_url, &failure)),
    }
}

/// What a failed test means and what to do about it.
pub fn explain(crm: &str, url: &str, failure: &Failure) -> String {
    let url_hint = if crm == "HubSpot" {
        "REVOPS_HUBSPOT_URL"
    } else {
        "REVOPS_SALESFORCE_LOGIN_URL"
    };
    match failure {
        Failure::Refused {
            status,
            refreshing: true,
        } => format!(
            "{crm} refused to issue an access token (HTTP {status}): check the client id, the client \
             secret and the refresh token, that the connected app allows the refresh_token grant, and \
             that the login URL matches the org (a sandbox logs in at https://test.salesforce.com)."
        ),
        Failure::Refused { status: 401, .. } => format!(
            "{crm} refused the token (HTTP 401): the token is wrong, was revoked, or the app lacks \
             the CRM read scopes (for HubSpot: crm.objects.contacts.read). Copy it again from the \
             private app's page (HubSpot: Settings > Integrations > Private apps)."
        ),
        Failure::Refused { status: 403, .. } => format!(
            "{crm} accepted the credentials but refused to read records (HTTP 403): they lack a read \
             scope for contacts or leads; add it to the app and try again."
        ),
        Failure::Refused { status, .. } => format!(
            "{crm} answered HTTP {status} to a one-record read at {url}: check {url_hint} if you set it."
        ),
        Failure::Upstream(
            error @ (resilience::Error::Unreachable { .. } | resilience::Error::Timeout { .. }),
        ) => format!(
            "could not reach {crm} at {url}: {error}. This is the network, not the credentials: \
             check the connection, a proxy or firewall, and {url_hint} if you set it."
        ),
        Failure::Upstream(error) => format!("the {crm} test failed: {error}"),
        Failure::Unreadable(what) => format!("the {crm} test failed: {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_token_and_a_broken_network_are_told_apart() {
        let refused = Failure::Refused {
            status: 401,
            refreshing: false,
        };
        let text = explain("HubSpot", HUBSPOT_DEFAULT_URL, &refused);
        assert!(
            text.contains("HTTP 401") && text.contains("scope"),
            "{text}"
        );
        let offline = Failure::Upstream(resilience::Error::Unreachable {
            upstream: "HubSpot".into(),
            attempts: 2,
            detail: "connection refused".into(),
            unsafe_to_retry: false,
        });
        let text = explain("HubSpot", "http://127.0.0.1:9", &offline);
        assert!(
            text.contains("network") && text.contains("127.0.0.1:9"),
            "{text}"
        );
        let refresh = explain(
            "Salesforce",
            SALESFORCE_DEFAULT_LOGIN_URL,
            &Failure::Refused {
                status: 400,
                refreshing: true,
            },
        );
        assert!(refresh.contains("refresh token"), "{refresh}");
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let credentials = Credentials::HubSpot {
            token: SecretString::from("pat-na1-SECRET"),
            base_url: HUBSPOT_DEFAULT_URL.into(),
        };
        assert!(!format!("{credentials:?}").contains("SECRET"));
        assert_eq!(credentials.url_setting(), None);
    }
}
