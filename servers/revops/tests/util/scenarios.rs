//! What every server's scenario tests share: running one scenario on both backends, a
//! session as a given role, the record counts a failed call must leave alone, and the text of
//! an error.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test fails"
)]

use revops::client::{self, Handshake, Session};
use serde_json::Value;

use super::{SeededDatabase, binary, server_env};

/// A session with `binary` (e.g. `revops-marketing`) on `db` as `role`.
pub async fn session_as(db: &SeededDatabase, binary_name: &str, role: &str) -> Session {
    client::spawn_stdio(
        &binary(binary_name),
        &server_env(db, role),
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap()
}

/// The store's record counts, without the logs that every call adds to.
pub async fn record_counts(session: &Session) -> Value {
    let mut counts = client::call_ok(session, "server_info", serde_json::json!({}))
        .await
        .unwrap()["record_counts"]
        .clone();
    let counts_map = counts.as_object_mut().unwrap();
    counts_map.remove("audit_log");
    counts_map.remove("predictions");
    counts
}

/// The text of a call that must fail; panics when it succeeds.
pub async fn error_text(session: &Session, tool: &str, arguments: Value) -> String {
    let result = client::call(session, tool, arguments.clone())
        .await
        .unwrap();
    assert_eq!(
        result.is_error,
        Some(true),
        "{tool} {arguments} should fail, got {:?}",
        result.structured_content
    );
    client::text_of(&result)
}
