//! Log lines: JSON objects that carry the trace context, so Loki and Jaeger can be joined.
//!
//! With `LOG_FORMAT=json` (the default in staging and prod) every `tracing` event becomes one
//! line on stdout:
//!
//! ```json
//! {"timestamp":"2026-11-24T09:12:03.512214Z","level":"info","target":"reflex_service","message":"pii scan finished","entities":2,"latency_ms":3.1,"span":"detect_pii","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_sampled":true,"service":"reflex-layer"}
//! ```
//!
//! | key | always | content |
//! |---|---|---|
//! | `timestamp` | yes | RFC 3339, UTC, microseconds |
//! | `level` | yes | `trace`, `debug`, `info`, `warn`, `error` (lower case) |
//! | `target` | yes | the event's target (module path by default) |
//! | `message` | when given | the event's message |
//! | *field name* | when given | each event field at the top level: strings as strings, integers, floats and booleans as JSON numbers and booleans, anything else as its `Debug` text |
//! | `fields.<name>` | when given | an event field whose name is one of the keys of this table |
//! | `span` | inside a span | the name of the current `tracing` span, else of the HTTP layer's server span (`GET /items/{id}`) |
//! | `trace_id` | inside a span | 32 lower-case hex digits, the trace id of the exported span |
//! | `span_id` | inside a span | 16 lower-case hex digits, the span id of the exported span |
//! | `trace_sampled` | inside a span | whether the span is sampled (exported); ids are present either way |
//! | `request_id` | while an HTTP request is handled | the `x-request-id` of the request ([`crate::http`]) |
//! | `service` | yes | the `service.name` of the resource |
//!
//! Outside any span the three trace keys are absent, never empty. Field contents are escaped,
//! so quotes, newlines and control characters keep every line valid JSON.
//!
//! `LOG_FORMAT=pretty` (the default in dev) writes human-readable lines instead.

mod json;

use std::fmt;
use std::io;

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

pub use json::{JsonFormat, RESERVED_KEYS};

use crate::error::ConfigError;

/// Crates of the export path, held at `warn` unless the filter names them, so that telemetry
/// cannot feed on itself.
const HELD_AT_WARN: &[&str] = &[
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "tonic",
    "h2",
    "hyper",
    "hyper_util",
    "tower",
    "reqwest",
];

pub(crate) fn validate_filter(name: &str, directives: &str) -> Result<(), ConfigError> {
    EnvFilter::builder()
        .parse(directives)
        .map(drop)
        .map_err(|e| {
            ConfigError::new(
                name,
                directives,
                format!("tracing filter directives such as info,my_crate=debug ({e})"),
            )
        })
}

/// The filter: the user's directives plus `warn` for the export path's crates it does not name.
pub(crate) fn build_filter(directives: &str) -> Result<EnvFilter, ConfigError> {
    let mut full = directives.to_owned();
    for target in HELD_AT_WARN {
        let named = directives.split(',').any(|d| {
            let d = d.trim();
            d.strip_prefix(target).is_some_and(|rest| {
                rest.starts_with('=') || rest.starts_with("::") || rest.starts_with('[')
            })
        });
        if !named {
            full.push(',');
            full.push_str(target);
            full.push_str("=warn");
        }
    }
    validate_filter("RUST_LOG", directives)?;
    EnvFilter::builder()
        .parse(&full)
        .map_err(|e| ConfigError::new("RUST_LOG", directives, e.to_string()))
}

/// Where log lines are written; stdout unless [`TelemetryConfig::log_writer`] says otherwise.
///
/// [`TelemetryConfig::log_writer`]: crate::TelemetryConfig::log_writer
pub(crate) struct LogWriter(pub(crate) BoxMakeWriter);

impl LogWriter {
    pub(crate) fn new<W>(make_writer: W) -> Self
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        Self(BoxMakeWriter::new(make_writer))
    }
}

impl Default for LogWriter {
    fn default() -> Self {
        Self::new(io::stdout)
    }
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogWriter")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_path_is_held_at_warn_unless_named() {
        let filter = build_filter("info").unwrap().to_string();
        assert!(
            filter.contains("tonic=warn") && filter.contains("opentelemetry=warn"),
            "{filter}"
        );
        let filter = build_filter("debug,hyper=trace").unwrap().to_string();
        assert!(
            filter.contains("hyper=trace") && !filter.contains("hyper=warn"),
            "{filter}"
        );
        assert!(filter.contains("h2=warn"), "{filter}");
    }

    #[test]
    fn bad_directives_name_the_variable() {
        let err = build_filter("info,[[[").unwrap_err();
        assert_eq!(err.name, "RUST_LOG");
        assert!(validate_filter("RUST_LOG", "my_crate=loud").is_err());
        assert!(validate_filter("RUST_LOG", "warn,my_crate::db=debug").is_ok());
    }
}
