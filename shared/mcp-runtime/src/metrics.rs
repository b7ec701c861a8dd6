//! Metrics: counters and timings of every tool call, kept in process and served as
//! Prometheus text (exposition format 0.0.4) at `/metrics` by the HTTP transport.
//!
//! One registry per process, so `revops serve all` reports its three servers together:
//!
//! - `mcp_actions_total{server,tool,outcome}`: every call the pipeline records
//!   ([`record_call`]), whatever its outcome (`ok`, `error`, `denied`,
//!   `awaiting_confirmation`).
//! - `mcp_action_duration_seconds{server,tool}`: a histogram of how long calls took, from
//!   arrival to answer; denied calls never ran, so they are counted but not timed.
//! - `mcp_circuit_breaker_state{upstream}`: 0 closed, 1 half-open, 2 open, for every upstream
//!   a server has opened and registered with [`watch_breaker`].
//! - `mcp_rate_limit_violations_total{limit}`: calls a rate limit refused
//!   ([`rate_limit_violation`]).
//! - `mcp_audit_entries`, `mcp_budget_headroom_minor`, `mcp_http_requests_in_flight`: read
//!   when scraped ([`Scrape`]).
//!
//! [`record_call`] runs on every call, so it only takes one uncontended mutex and allocates
//! only the first time it sees a tool. Nothing here measures or holds personal data: labels
//! are server, tool, outcome, upstream and limit names.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use serde::Serialize;

use crate::recorder::{CallRecord, Outcome};

/// Upper bounds of the duration histogram, in microseconds, and as Prometheus writes them.
const DURATION_BUCKETS: [(u64, &str); 13] = [
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
];

/// The outcomes in the order [`ToolStats::outcomes`] counts them.
const OUTCOMES: [Outcome; 4] = [
    Outcome::Ok,
    Outcome::Error,
    Outcome::Denied,
    Outcome::AwaitingConfirmation,
];

fn outcome_index(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Ok => 0,
        Outcome::Error => 1,
        Outcome::Denied => 2,
        Outcome::AwaitingConfirmation => 3,
    }
}

/// What one tool of one server has done since the process started.
#[derive(Debug, Default, Clone)]
struct ToolStats {
    outcomes: [u64; OUTCOMES.len()],
    /// Calls per bucket (not cumulative); the last slot holds calls over the largest bound.
    buckets: [u64; DURATION_BUCKETS.len() + 1],
    timed_calls: u64,
    timed_micros: u64,
}

/// The state of an upstream's circuit breaker, as the gauge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerPosition {
    /// Calls pass (gauge 0).
    Closed,
    /// A few trial calls pass (gauge 1).
    HalfOpen,
    /// Calls fail fast (gauge 2).
    Open,
}

impl BreakerPosition {
    /// The gauge value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> u8 {
        match self {
            BreakerPosition::Closed => 0,
            BreakerPosition::HalfOpen => 1,
            BreakerPosition::Open => 2,
        }
    }
}

/// Reads one breaker's state; `None` once the breaker is gone.
type BreakerReader = Box<dyn Fn() -> Option<BreakerPosition> + Send + Sync>;

struct BreakerWatch {
    upstream: String,
    read: BreakerReader,
}

#[derive(Default)]
struct Registry {
    /// Server, then tool name: a call is counted with one lookup per level and without
    /// allocating, once its tool has been seen.
    calls: Mutex<HashMap<&'static str, HashMap<String, ToolStats>>>,
    rate_limit_violations: Mutex<BTreeMap<String, u64>>,
    breakers: Mutex<Vec<BreakerWatch>>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

/// Counters stay meaningful after a panic elsewhere (each update is one step), so a
/// poisoned lock is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts one finished (or refused) tool call and, unless it was denied, times it.
pub fn record_call(record: &CallRecord) {
    let mut calls = lock(&REGISTRY.calls);
    let by_tool = calls.entry(record.server).or_default();
    if !by_tool.contains_key(record.tool.as_str()) {
        by_tool.insert(record.tool.clone(), ToolStats::default());
    }
    let Some(stats) = by_tool.get_mut(record.tool.as_str()) else {
        return;
    };
    stats.outcomes[outcome_index(record.outcome)] += 1;
    // A denied call never ran: its duration says nothing about the tool.
    if record.outcome != Outcome::Denied {
        let micros = record.duration_micros;
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|(bound, _)| micros <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        stats.buckets[bucket] += 1;
        stats.timed_calls += 1;
        stats.timed_micros = stats.timed_micros.saturating_add(micros);
    }
}

/// Counts one call refused by the rate limit called `limit` (e.g. `per-lead`, `global`,
/// `upstream quota`, `upstream 429`).
pub fn rate_limit_violation(limit: &str) {
    let mut violations = lock(&REGISTRY.rate_limit_violations);
    match violations.get_mut(limit) {
        Some(count) => *count += 1,
        None => {
            violations.insert(limit.to_string(), 1);
        }
    }
}

/// Registers a circuit breaker to report as `upstream` in `/metrics` and `/healthz`. `read`
/// answers its state now, or `None` once the breaker is gone (hold the connection through a
/// `Weak`), which removes it. Several breakers may share a name (one per session): the
/// worst state is shown. `read` runs under the registry's lock, so it must not call back
/// into this module.
pub fn watch_breaker(
    upstream: impl Into<String>,
    read: impl Fn() -> Option<BreakerPosition> + Send + Sync + 'static,
) {
    let mut breakers = lock(&REGISTRY.breakers);
    // Forget breakers that are gone, so sessions coming and going do not pile up.
    breakers.retain(|watch| (watch.read)().is_some());
    breakers.push(BreakerWatch {
        upstream: upstream.into(),
        read: Box::new(read),
    });
}

/// Every registered upstream with its breaker's state (the worst, when several share a
/// name), in name order.
pub fn breaker_states() -> Vec<(String, BreakerPosition)> {
    let mut breakers = lock(&REGISTRY.breakers);
    let mut states: BTreeMap<String, BreakerPosition> = BTreeMap::new();
    breakers.retain(|watch| match (watch.read)() {
        Some(position) => {
            let worst = states.entry(watch.upstream.clone()).or_insert(position);
            *worst = (*worst).max(position);
            true
        }
        None => false,
    });
    states.into_iter().collect()
}

/// What is read at scrape time rather than counted as it happens.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scrape {
    /// The audit log's last sequence number (0 when empty); `None` when it could not be read.
    pub audit_entries: Option<i64>,
    /// The organisation's monthly cap minus what this month holds; `None` without a cap.
    pub budget_headroom_minor: Option<i64>,
    /// HTTP requests carrying MCP messages whose answer is not finished.
    pub http_requests_in_flight: usize,
}

/// Reads the scrape-time values from the store of `runtime`: the audit head, and the
/// budget headroom when the organisation has a monthly cap. A value that cannot be read is
/// left out (and logged), so one slow table never hides every other metric.
pub async fn scrape(runtime: &crate::Runtime, http_requests_in_flight: usize) -> Scrape {
    let store = runtime.store();
    let audit_entries = match audit::query::head(store).await {
        Ok(head) => Some(head.map_or(0, |entry| entry.seq)),
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read the audit head");
            None
        }
    };
    let budget_headroom_minor = match runtime.gates().organisation_caps.monthly_cap_minor {
        Some(cap) => {
            let month = &store::clock::now()[..7];
            let first = format!("{month}-01");
            let last = format!("{month}-31");
            match store::campaigns::held_between(store, &first, &last).await {
                Ok(held) => Some((cap - held).max(0)),
                Err(error) => {
                    tracing::warn!(%error, "metrics: cannot total this month's spend");
                    None
                }
            }
        }
        None => None,
    };
    Scrape {
        audit_entries,
        budget_headroom_minor,
        http_requests_in_flight,
    }
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything in the registry, plus `scrape`, as Prometheus text exposition format 0.0.4.
pub fn render(scrape: &Scrape) -> String {
    let mut out = String::with_capacity(4096);
    render_calls(&mut out);
    render_breakers(&mut out);
    render_rate_limits(&mut out);
    header(
        &mut out,
        "mcp_http_requests_in_flight",
        "gauge",
        "HTTP requests carrying MCP messages whose answer is not finished.",
    );
    let _ = writeln!(
        out,
        "mcp_http_requests_in_flight {}",
        scrape.http_requests_in_flight
    );
    if let Some(seq) = scrape.audit_entries {
        header(
            &mut out,
            "mcp_audit_entries",
            "gauge",
            "The audit log's last sequence number (its length).",
        );
        let _ = writeln!(out, "mcp_audit_entries {seq}");
    }
    if let Some(headroom) = scrape.budget_headroom_minor {
        header(
            &mut out,
            "mcp_budget_headroom_minor",
            "gauge",
            "The organisation's monthly spend cap minus what this month holds (committed and reserved), minor units.",
        );
        let _ = writeln!(out, "mcp_budget_headroom_minor {headroom}");
    }
    out
}

fn render_calls(out: &mut String) {
    // Copy out under the lock, write without it: a scrape never holds up tool calls for
    // longer than a copy.
    let mut rows: Vec<(&'static str, String, ToolStats)> = {
        let calls = lock(&REGISTRY.calls);
        calls
            .iter()
            .flat_map(|(server, tools)| {
                tools
                    .iter()
                    .map(|(tool, stats)| (*server, tool.clone(), stats.clone()))
            })
            .collect()
    };
    rows.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));

    header(
        out,
        "mcp_actions_total",
        "counter",
        "Tool calls by server, tool and outcome (ok, error, denied, awaiting_confirmation).",
    );
    for (server, tool, stats) in &rows {
        for (outcome, count) in OUTCOMES.iter().zip(stats.outcomes) {
            let _ = writeln!(
                out,
                "mcp_actions_total{{server=\"{}\",tool=\"{}\",outcome=\"{}\"}} {count}",
                escape_label(server),
                escape_label(tool),
                outcome.as_str()
            );
        }
    }

    header(
        out,
        "mcp_action_duration_seconds",
        "histogram",
        "How long tool calls took from arrival to answer, by server and tool (denied calls are not timed).",
    );
    for (server, tool, stats) in rows.iter().filter(|row| row.2.timed_calls > 0) {
        let labels = format!(
            "server=\"{}\",tool=\"{}\"",
            escape_label(server),
            escape_label(tool)
        );
        let mut cumulative = 0;
        for ((_, bound), count) in DURATION_BUCKETS.iter().zip(stats.buckets) {
            cumulative += count;
            let _ = writeln!(
                out,
                "mcp_action_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "mcp_action_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            stats.timed_calls
        );
        // Microseconds to seconds, exactly as a decimal, with no float rounding.
        let _ = writeln!(
            out,
            "mcp_action_duration_seconds_sum{{{labels}}} {}.{:06}",
            stats.timed_micros / 1_000_000,
            stats.timed_micros % 1_000_000
        );
        let _ = writeln!(
            out,
            "mcp_action_duration_seconds_count{{{labels}}} {}",
            stats.timed_calls
        );
    }
}

fn render_breakers(out: &mut String) {
    header(
        out,
        "mcp_circuit_breaker_state",
        "gauge",
        "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
    );
    for (upstream, position) in breaker_states() {
        let _ = writeln!(
            out,
            "mcp_circuit_breaker_state{{upstream=\"{}\"}} {}",
            escape_label(&upstream),
            position.gauge()
        );
    }
}

fn render_rate_limits(out: &mut String) {
    let violations: Vec<(String, u64)> = lock(&REGISTRY.rate_limit_violations)
        .iter()
        .map(|(limit, count)| (limit.clone(), *count))
        .collect();
    header(
        out,
        "mcp_rate_limit_violations_total",
        "counter",
        "Calls refused by a rate limit, by limit.",
    );
    for (limit, count) in violations {
        let _ = writeln!(
            out,
            "mcp_rate_limit_violations_total{{limit=\"{}\"}} {count}",
            escape_label(&limit)
        );
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the format requires: backslash, double quote and line feed escaped.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// HELP text as the format requires: backslash and line feed escaped.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::policy::ToolKind;

    fn call(server: &'static str, tool: &str, outcome: Outcome, micros: u64) -> CallRecord {
        CallRecord {
            server,
            actor: "someone".into(),
            tool: tool.into(),
            kind: ToolKind::Read,
            arguments: serde_json::json!({}),
            outcome,
            detail: String::new(),
            duration_micros: micros,
        }
    }

    fn lines_with(text: &str, needle: &str) -> Vec<String> {
        text.lines()
            .filter(|line| line.contains(needle))
            .map(String::from)
            .collect()
    }

    #[test]
    fn label_values_escape_backslash_quote_and_line_feed() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
    }

    #[test]
    fn calls_are_counted_by_outcome_and_timed_in_cumulative_buckets() {
        // Each test uses its own server name: the registry is the process's.
        let server = "metrics-test-counts";
        record_call(&call(server, "score_lead", Outcome::Ok, 800));
        record_call(&call(server, "score_lead", Outcome::Ok, 30_000));
        record_call(&call(server, "score_lead", Outcome::Error, 20_000_000));
        record_call(&call(server, "score_lead", Outcome::Denied, 0));
        let text = render(&Scrape::default());

        let counts = lines_with(&text, &format!("mcp_actions_total{{server=\"{server}\""));
        assert_eq!(
            counts,
            [
                format!(
                    "mcp_actions_total{{server=\"{server}\",tool=\"score_lead\",outcome=\"ok\"}} 2"
                ),
                format!(
                    "mcp_actions_total{{server=\"{server}\",tool=\"score_lead\",outcome=\"error\"}} 1"
                ),
                format!(
                    "mcp_actions_total{{server=\"{server}\",tool=\"score_lead\",outcome=\"denied\"}} 1"
                ),
                format!(
                    "mcp_actions_total{{server=\"{server}\",tool=\"score_lead\",outcome=\"awaiting_confirmation\"}} 0"
                ),
            ]
        );
        let histogram = lines_with(&text, &format!("server=\"{server}\",tool=\"score_lead\""));
        let bucket = |le: &str| {
            histogram
                .iter()
                .find(|line| line.contains(&format!("le=\"{le}\"}}")))
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(bucket("0.001"), "1");
        assert_eq!(bucket("0.025"), "1");
        assert_eq!(bucket("0.05"), "2");
        assert_eq!(bucket("10"), "2");
        assert_eq!(bucket("+Inf"), "3", "the denied call is not timed");
        assert!(histogram.contains(&format!(
            "mcp_action_duration_seconds_sum{{server=\"{server}\",tool=\"score_lead\"}} 20.030800"
        )));
        assert!(histogram.contains(&format!(
            "mcp_action_duration_seconds_count{{server=\"{server}\",tool=\"score_lead\"}} 3"
        )));
    }

    #[test]
    fn every_metric_has_help_and_type_once() {
        record_call(&call("metrics-test-format", "a\"b", Outcome::Ok, 5));
        rate_limit_violation("per-lead");
        let text = render(&Scrape {
            audit_entries: Some(42),
            budget_headroom_minor: Some(1_000),
            http_requests_in_flight: 1,
        });
        for name in [
            "mcp_actions_total",
            "mcp_action_duration_seconds",
            "mcp_circuit_breaker_state",
            "mcp_rate_limit_violations_total",
            "mcp_http_requests_in_flight",
            "mcp_audit_entries",
            "mcp_budget_headroom_minor",
        ] {
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}\n{text}"
            );
            assert_eq!(text.matches(&format!("# HELP {name} ")).count(), 1);
        }
        assert!(text.contains("tool=\"a\\\"b\""), "{text}");
        assert!(text.contains("mcp_audit_entries 42\n"));
        assert!(text.contains("mcp_budget_headroom_minor 1000\n"));
        assert!(text.contains("mcp_rate_limit_violations_total{limit=\"per-lead\"}"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn a_breaker_shows_its_worst_state_and_disappears_when_gone() {
        let alive = std::sync::Arc::new(());
        let weak = std::sync::Arc::downgrade(&alive);
        watch_breaker("MetricsTestCRM", move || {
            weak.upgrade().map(|_| BreakerPosition::HalfOpen)
        });
        watch_breaker("MetricsTestCRM", || Some(BreakerPosition::Closed));
        let states = breaker_states();
        assert!(states.contains(&("MetricsTestCRM".into(), BreakerPosition::HalfOpen)));
        assert!(
            render(&Scrape::default())
                .contains("mcp_circuit_breaker_state{upstream=\"MetricsTestCRM\"} 1\n")
        );
        drop(alive);
        assert!(breaker_states().contains(&("MetricsTestCRM".into(), BreakerPosition::Closed)));
    }
}
