//! Confirmation tokens: a destructive tool's first call gets a preview and a token; only a
//! second call with the same arguments, by the same actor, with that token, before it
//! expires, acts. Tokens are stored as SHA-256 digests, never in the clear.

use chrono::{Duration, Utc};
use rand::RngExt;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Refusal, db_error};

/// What a token is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub tool: &'a str,
    /// Digest of the canonical arguments, without the token.
    pub args_digest: &'a str,
    /// The actor's pseudonym.
    pub actor: &'a str,
}

/// A token handed to the caller with a preview.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Issued {
    /// Pass this as `confirm_token`, with the same arguments, to act.
    pub confirm_token: String,
    /// When the token stops working (UTC).
    pub expires_at: String,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(
        format!("revops-confirm-v1\0{token}").as_bytes(),
    ))
}

/// Issues a token for `binding`, valid for `ttl`.
pub async fn issue(
    tx: &mut store::WriteTx,
    binding: Binding<'_>,
    ttl: Duration,
) -> Result<Issued, Refusal> {
    let token = {
        let mut rng = rand::rng();
        let bytes: Vec<u8> = (0..24).map(|_| rng.random()).collect();
        format!("cfm_{}", hex::encode(bytes))
    };
    let now = Utc::now();
    let expires_at = store::clock::format(now + ttl);
    sqlx::query(
        "INSERT INTO confirmations (token_digest, tool, args_digest, actor, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(digest(&token))
    .bind(binding.tool)
    .bind(binding.args_digest)
    .bind(binding.actor)
    .bind(store::clock::format(now))
    .bind(&expires_at)
    .execute(&mut **tx)
    .await
    .map_err(db_error("issue a confirmation token"))?;
    Ok(Issued {
        confirm_token: token,
        expires_at,
    })
}

/// Uses `token` for `binding` in `tx`, or says exactly why it cannot be used. The use
/// commits with the action; if the action rolls back, the token is unused again.
pub async fn consume(
    tx: &mut store::WriteTx,
    token: &str,
    binding: Binding<'_>,
) -> Result<(), Refusal> {
    let now = store::clock::now();
    let token_digest = digest(token.trim());
    let used = sqlx::query(
        "UPDATE confirmations SET used_at = $1 WHERE token_digest = $2 AND used_at IS NULL AND expires_at > $1 \
         AND tool = $3 AND args_digest = $4 AND actor = $5",
    )
    .bind(&now)
    .bind(&token_digest)
    .bind(binding.tool)
    .bind(binding.args_digest)
    .bind(binding.actor)
    .execute(&mut **tx)
    .await
    .map_err(db_error("use a confirmation token"))?;
    if used.rows_affected() == 1 {
        return Ok(());
    }
    let row = sqlx::query("SELECT tool, args_digest, actor, expires_at, used_at FROM confirmations WHERE token_digest = $1")
        .bind(&token_digest)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error("check a confirmation token"))?;
    let refuse = |why: &str| Err(Refusal::Confirmation(format!("{why}; nothing was changed")));
    let Some(row) = row else {
        return refuse(
            "that confirm_token is not one this server issued; call the tool without confirm_token to get a preview and a token",
        );
    };
    let text = |column: &str| row.try_get::<String, _>(column).unwrap_or_default();
    let used_at: Option<String> = row.try_get("used_at").ok().flatten();
    if used_at.is_some() {
        return refuse(
            "that confirm_token has already been used; each token allows one action, so ask for a new preview",
        );
    }
    if text("expires_at") <= now {
        return refuse(
            "that confirm_token has expired; call the tool again without confirm_token for a fresh preview",
        );
    }
    if text("tool") != binding.tool {
        return refuse(&format!(
            "that confirm_token was issued for {}, not {}",
            text("tool"),
            binding.tool
        ));
    }
    if text("actor") != binding.actor {
        return refuse(
            "that confirm_token was issued to another actor; only the person who saw the preview may confirm it",
        );
    }
    refuse(
        "the arguments differ from the ones previewed; confirm exactly what was previewed, or ask for a new preview",
    )
}
