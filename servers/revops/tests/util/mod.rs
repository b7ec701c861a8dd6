//! Shared helpers for the integration tests: a seeded database per test, the built server
//! HTTP servers on free ports, and a raw JSON-RPC line client for malformed-input tests.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is how a test fails"
)]
#![allow(dead_code, reason = "each test file uses its own part of the helpers")]
#![allow(
    clippy::disallowed_methods,
    reason = "the helpers probe the suite's own HTTP server directly, not an upstream"
)]

/// Runs one scenario on SQLite and on Postgres, as two tests.
#[allow(
    unused_macros,
    reason = "each test file uses its own part of the helpers"
)]
macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[tokio::test]
            async fn on_sqlite() {
                let db = seeded_sqlite().await;
                super::$scenario(&db).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let name = concat!(stringify!($scenario), "_on_postgres");
                let Some(db) = seeded_postgres(name).await else {
                    return;
                };
                super::$scenario(&db).await;
            }
        }
    };
}

mod scenarios;
#[allow(
    unused_imports,
    reason = "each test file uses its own part of the helpers"
)]
pub use scenarios::*;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use revops::client::{self, Handshake, Session};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The three team server binaries, as (team, path).
pub fn server_binaries() -> [(&'static str, PathBuf); 3] {
    [
        ("sales", PathBuf::from(env!("CARGO_BIN_EXE_revops-sales"))),
        (
            "marketing",
            PathBuf::from(env!("CARGO_BIN_EXE_revops-marketing")),
        ),
        ("cs", PathBuf::from(env!("CARGO_BIN_EXE_revops-cs"))),
    ]
}

pub fn binary(name: &str) -> PathBuf {
    match name {
        "revops" => PathBuf::from(env!("CARGO_BIN_EXE_revops")),
        "revops-sales" => PathBuf::from(env!("CARGO_BIN_EXE_revops-sales")),
        "revops-marketing" => PathBuf::from(env!("CARGO_BIN_EXE_revops-marketing")),
        "revops-cs" => PathBuf::from(env!("CARGO_BIN_EXE_revops-cs")),
        other => panic!("no binary {other}"),
    }
}

/// A database loaded with the demo company, and the URL servers reach it by.
pub struct SeededDatabase {
    pub url: String,
    _folder: Option<tempfile::TempDir>,
}

/// A fresh SQLite file with the demo company.
pub async fn seeded_sqlite() -> SeededDatabase {
    let folder = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", folder.path().join("revops.db").display());
    seed(&url).await;
    SeededDatabase {
        url,
        _folder: Some(folder),
    }
}

/// A fresh Postgres schema with the demo company, or `None` (skipped) without Postgres.
pub async fn seeded_postgres(test: &str) -> Option<SeededDatabase> {
    let base = store::test_support::postgres_url_or_skip(test)?;
    let location = store::test_support::fresh_postgres_location(&base)
        .await
        .unwrap();
    let store::DatabaseLocation::Postgres(url) = location else {
        unreachable!()
    };
    seed(&url).await;
    Some(SeededDatabase { url, _folder: None })
}

async fn seed(url: &str) {
    let store = store::Store::open(&store::DatabaseLocation::parse(url).unwrap())
        .await
        .unwrap();
    demo_company::seed(&store, 1).await.unwrap();
    store.close().await;
}

/// Environment for a server process on `db`.
pub fn server_env<'a>(db: &'a SeededDatabase, role: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("REVOPS_DATABASE_URL", db.url.as_str()),
        ("REVOPS_ACTOR", "test-user"),
        ("REVOPS_ROLE", role),
        ("REVOPS_LOG", "warn"),
        // A developer's own config file must not leak into a test.
        ("REVOPS_CONFIG", "none"),
    ]
}

/// Spawns a team server over stdio and opens a Claude-Desktop-style session.
pub async fn stdio_session(binary_path: &std::path::Path, db: &SeededDatabase) -> Session {
    client::spawn_stdio(
        binary_path,
        &server_env(db, "rep"),
        &Handshake::claude_desktop(),
    )
    .await
    .unwrap()
}

/// A server process killed when dropped.
pub struct ChildGuard(pub tokio::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

/// An HTTP server started for a test; stopped when dropped.
pub struct HttpServer {
    /// `127.0.0.1:PORT`, where it listens.
    pub bind: String,
    /// The process, for a test that signals it or waits for its exit.
    pub child: ChildGuard,
}

/// Starts `binary args… --bind 127.0.0.1:PORT` (a free port) with `env` and waits until its
/// `/healthz` answers.
pub async fn start_http(
    binary_path: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> HttpServer {
    // The health probe below is a reqwest client, which needs the process's TLS provider.
    resilience::install_tls_provider();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let child = tokio::process::Command::new(binary_path)
        .args(args)
        .args(["--bind", &bind])
        .env("REVOPS_CONFIG", "none")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let server = HttpServer {
        bind,
        child: ChildGuard(child),
    };
    let url = format!("http://{}/healthz", server.bind);
    for _ in 0..200 {
        if let Ok(response) = reqwest::get(&url).await
            && response.status().is_success()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the HTTP server on {} did not become healthy", server.bind);
}

/// A server process spoken to in raw JSON-RPC lines, for input no real client would send.
pub struct RawStdio {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl RawStdio {
    pub async fn start(binary_path: &std::path::Path, db: &SeededDatabase) -> RawStdio {
        RawStdio::start_with(binary_path, db, &[]).await
    }

    /// [`RawStdio::start`] with more environment variables.
    pub async fn start_with(
        binary_path: &std::path::Path,
        db: &SeededDatabase,
        extra_env: &[(&str, &str)],
    ) -> RawStdio {
        let mut child = tokio::process::Command::new(binary_path)
            .envs(server_env(db, "rep"))
            .envs(extra_env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut raw = RawStdio {
            child,
            stdin,
            lines,
        };
        let init = raw
            .request(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#)
            .await;
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
        raw.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        raw
    }

    pub async fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next message on stdout; every line must be JSON (stdout is the protocol).
    pub async fn next_message(&mut self) -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("the server answered within 20 s")
            .unwrap()
            .expect("the server is still running");
        serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("stdout carried a non-JSON line: {line:?}"))
    }

    /// Sends a request and returns the response with the same id (skipping notifications).
    pub async fn request(&mut self, line: &str) -> serde_json::Value {
        let id = serde_json::from_str::<serde_json::Value>(line)
            .map(|v| v["id"].clone())
            .unwrap_or_default();
        self.send(line).await;
        loop {
            let message = self.next_message().await;
            if message.get("id") == Some(&id) || (id.is_null() && message.get("error").is_some()) {
                return message;
            }
        }
    }

    pub async fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Kills the server with SIGKILL, as a crash or the OOM killer would: nothing it still
    /// had queued gets written.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}
