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
//! `LOG_FORMAT=pretty` (the default in dev) writes human-readable lines instead, each ending
//! with the first 8 characters of its `trace_id`, `span_id` and `request_id`:
//!
//! ```text
//! 2026-11-24T09:12:03.512214Z  INFO detect_pii: reflex_service: pii scan finished entities=2 trace_id=4bf92f35 span_id=00f067aa request_id=c12e95ce
//! ```

mod filter;
mod json;
mod pretty;
mod writer;

use opentelemetry_sdk::logs::SdkLoggerProvider;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub(crate) use filter::build as build_filter;
pub use json::{JsonFormat, RESERVED_KEYS};
pub(crate) use writer::{LineQueue, QueuedWriter, BUFFER_BYTES};

/// The stdout line queue, for `benches/locks.rs`. Not a stable API.
#[doc(hidden)]
pub mod bench {
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    /// A line queue over `out` holding `capacity` bytes, and its drop count.
    ///
    /// # Errors
    ///
    /// When its writer thread cannot start.
    pub fn line_queue(
        out: Box<dyn std::io::Write + Send>,
        capacity: usize,
    ) -> std::io::Result<(LineQueue, Arc<AtomicU64>)> {
        let dropped = Arc::new(AtomicU64::new(0));
        let queue = crate::logs::writer::LineQueue::start(out, capacity, Arc::clone(&dropped))?;
        Ok((LineQueue(queue), dropped))
    }

    /// The line queue of [`line_queue`].
    #[derive(Debug)]
    pub struct LineQueue(crate::logs::writer::LineQueue);

    impl LineQueue {
        /// Appends one line, as the fmt layer does.
        pub fn write_line(&self, line: &[u8]) {
            let _ = std::io::Write::write(&mut &self.0, line);
        }

        /// Waits at most `timeout` for every line appended so far to be written.
        pub fn flush(&self, timeout: std::time::Duration) -> bool {
            self.0.flush(timeout)
        }
    }
}

use crate::config::{LogFormat, LogsPlan};

/// Whether events of `target` become log records: not those of the export path
/// ([`filter::HELD_AT_WARN`]: their events about an export would make more exports), nor the
/// crate's own pipeline warnings.
fn recorded(target: &str) -> bool {
    let not_recorded = filter::HELD_AT_WARN.iter().chain(&["octollm_telemetry"]);
    !not_recorded.into_iter().any(|crate_name| {
        target
            .strip_prefix(crate_name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// The layer that turns `tracing` events into OpenTelemetry log records (severity, body,
/// typed attributes, the ids of the span they were written in), except the events of the
/// crates [`recorded`] leaves out.
pub(crate) fn record_layer<S>(provider: &SdkLoggerProvider) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(provider)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            recorded(meta.target())
        }))
        .boxed()
}

/// The log-line layer of `plan`: JSON or pretty lines to `writer`.
///
/// Boxed: two `Option` layers side by side, one of them `None`, would give the pair a
/// maximum-level hint of `OFF` once composed under another layer.
pub(crate) fn format_layer<S, W>(plan: &LogsPlan, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    match plan.format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(NoSpanFields)
            .event_format(JsonFormat::new(&plan.service_name))
            .with_writer(writer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .fmt_fields(NoSpanFields)
            .event_format(pretty::PrettyFormat::default())
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_writer(writer)
            .boxed(),
    }
}

/// The span-field formatter of both line formats: nothing. Neither format writes the fields
/// of the spans a line is in (events write their own fields), so the fmt layer's rendering
/// of every new span's fields into a string (about 11,000 instructions for a span with eight
/// fields) is skipped.
struct NoSpanFields;

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for NoSpanFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        _writer: tracing_subscriber::fmt::format::Writer<'writer>,
        _fields: R,
    ) -> std::fmt::Result {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_export_path_is_not_recorded() {
        for target in [
            "opentelemetry_sdk",
            "h2::codec",
            "octollm_telemetry",
            "tonic::transport",
        ] {
            assert!(!super::recorded(target), "{target}");
        }
        for target in ["reflex_service", "hyperion", "my_app::db", "towerd"] {
            assert!(super::recorded(target), "{target}");
        }
    }
}
