//! Logging: `tracing` to stderr, without colours, filtered by `REVOPS_LOG` (default `info`).
//! In a stdio server stdout carries the protocol, so nothing else may ever be written there.

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber; safe to call more than once (later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_env("REVOPS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
