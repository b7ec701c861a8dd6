//! Logging: `tracing` to stderr, without colours, filtered by `REVOPS_LOG` (default `info`).
//! In a stdio server stdout carries the protocol, so nothing else may ever be written there.

use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber for a server: `info` unless `REVOPS_LOG` says otherwise.
pub fn init() {
    init_with_default("info,sqlx=warn,rmcp=warn");
}

/// Installs the stderr subscriber with `default` as the filter when `REVOPS_LOG` is unset;
/// safe to call more than once (later calls do nothing).
pub fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_env("REVOPS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
