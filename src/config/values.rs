//! The closed sets of words a variable may take, each spelt once: the table that parses a
//! value is the table that names it.

use std::fmt;

/// A value type with a fixed set of names, the canonical name first for each value.
pub(crate) trait Words: Copy + PartialEq + 'static {
    /// Every accepted word with its value; the first word of a value is its canonical name.
    const WORDS: &'static [(&'static str, Self)];

    /// The canonical name.
    fn word(self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(w, _)| w)
    }
}

/// The deployment environment, from `ENVIRONMENT`.
///
/// It selects the defaults that differ between a laptop and production: the sampling ratio
/// (1.0 in dev, 0.1 in staging and prod) and the log format (pretty in dev, JSON elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Environment {
    /// `dev` (also `development`).
    #[default]
    Dev,
    /// `staging`.
    Staging,
    /// `prod` (also `production`).
    Prod,
}

impl Words for Environment {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("dev", Self::Dev),
        ("staging", Self::Staging),
        ("prod", Self::Prod),
        ("development", Self::Dev),
        ("production", Self::Prod),
    ];
}

impl Environment {
    /// The canonical name written to `deployment.environment.name`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where spans go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TracesExporter {
    /// OTLP to a collector (the default).
    #[default]
    Otlp,
    /// Human-readable spans on stderr, for a laptop without a collector.
    Console,
    /// Nowhere: spans and ids are still created and propagated.
    None,
    /// The span exporter given in code with
    /// [`TelemetryConfig::span_exporter`](crate::TelemetryConfig::span_exporter), driven by the
    /// crate's batch processor; `OTEL_TRACES_EXPORTER` cannot name it.
    Custom,
}

impl Words for TracesExporter {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("otlp", Self::Otlp),
        ("console", Self::Console),
        ("none", Self::None),
    ];
}

impl TracesExporter {
    /// The name used by `OTEL_TRACES_EXPORTER` (`custom` for [`TracesExporter::Custom`]).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            _ => self.word(),
        }
    }
}

/// How metrics leave the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsExporter {
    /// Served in the Prometheus text format by [`crate::metrics`] for a scrape (the default:
    /// the shipped Prometheus scrapes every service).
    #[default]
    Prometheus,
    /// Pushed over OTLP every `OTEL_METRIC_EXPORT_INTERVAL`.
    Otlp,
    /// Not exported (instruments are no-ops).
    None,
}

impl Words for MetricsExporter {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("prometheus", Self::Prometheus),
        ("otlp", Self::Otlp),
        ("none", Self::None),
    ];
}

impl MetricsExporter {
    /// The name used by `OTEL_METRICS_EXPORTER`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

/// Where `tracing` events go besides the log lines on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogsExporter {
    /// Nowhere else (the default: the JSON lines on stdout are the platform's path into Loki).
    #[default]
    None,
    /// Also as OTLP log records to the collector, with the ids of the span they were written
    /// in and the service's resource.
    Otlp,
    /// Also as readable log records on stderr.
    Console,
}

impl Words for LogsExporter {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("none", Self::None),
        ("otlp", Self::Otlp),
        ("console", Self::Console),
    ];
}

impl LogsExporter {
    /// The name used by `OTEL_LOGS_EXPORTER`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

/// What message content the GenAI instrumentation ([`crate::genai`]) captures, from
/// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`; none by default.
///
/// The older `true` and `false` are accepted: `true` captured content as events in the
/// Python instrumentations that read it, and is [`CaptureContent::EventOnly`] here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaptureContent {
    /// `NO_CONTENT` (or `false`): no prompt or response text anywhere.
    #[default]
    NoContent,
    /// `SPAN_ONLY`: as the span attributes `gen_ai.input.messages`, `gen_ai.output.messages`
    /// and `gen_ai.system_instructions`.
    SpanOnly,
    /// `EVENT_ONLY` (or `true`): as `gen_ai.client.inference.operation.details` events.
    EventOnly,
    /// `SPAN_AND_EVENT`: both.
    SpanAndEvent,
}

impl Words for CaptureContent {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("NO_CONTENT", Self::NoContent),
        ("SPAN_ONLY", Self::SpanOnly),
        ("EVENT_ONLY", Self::EventOnly),
        ("SPAN_AND_EVENT", Self::SpanAndEvent),
        ("false", Self::NoContent),
        ("true", Self::EventOnly),
    ];
}

impl CaptureContent {
    /// The name used by `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.word()
    }

    pub(crate) fn on_span(self) -> bool {
        matches!(self, Self::SpanOnly | Self::SpanAndEvent)
    }

    pub(crate) fn on_event(self) -> bool {
        matches!(self, Self::EventOnly | Self::SpanAndEvent)
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC, port 4317 (needs the `grpc` feature).
    Grpc,
    /// OTLP/HTTP with protobuf bodies, port 4318 (needs the `http-proto` feature).
    HttpProtobuf,
}

impl Words for Protocol {
    const WORDS: &'static [(&'static str, Self)] =
        &[("grpc", Self::Grpc), ("http/protobuf", Self::HttpProtobuf)];
}

impl Protocol {
    /// The name used by `OTEL_EXPORTER_OTLP_PROTOCOL`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

impl Default for Protocol {
    /// gRPC, or HTTP/protobuf when only the `http-proto` feature is enabled.
    fn default() -> Self {
        if cfg!(feature = "grpc") || !cfg!(feature = "http-proto") {
            Protocol::Grpc
        } else {
            Protocol::HttpProtobuf
        }
    }
}

/// Compression of OTLP requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression (the spec's default).
    #[default]
    None,
    /// gzip.
    Gzip,
}

impl Words for Compression {
    const WORDS: &'static [(&'static str, Self)] = &[("gzip", Self::Gzip), ("none", Self::None)];
}

/// The format of log lines on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line with `trace_id`/`span_id` (see [`crate::logs`]).
    Json,
    /// Human-readable lines for a terminal.
    Pretty,
}

impl Words for LogFormat {
    const WORDS: &'static [(&'static str, Self)] =
        &[("json", Self::Json), ("pretty", Self::Pretty)];
}

impl LogFormat {
    /// The name used by `LOG_FORMAT`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.word()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Words + fmt::Debug>() {
        for (word, value) in T::WORDS {
            let canonical = value.word();
            assert!(
                T::WORDS.iter().any(|(w, v)| *w == canonical && v == value),
                "{word}"
            );
        }
    }

    #[test]
    fn every_value_is_named_by_its_first_word() {
        round_trips::<Environment>();
        round_trips::<TracesExporter>();
        round_trips::<MetricsExporter>();
        round_trips::<LogsExporter>();
        round_trips::<Protocol>();
        round_trips::<Compression>();
        round_trips::<LogFormat>();
        assert_eq!(Environment::Prod.as_str(), "prod");
        assert_eq!(Protocol::HttpProtobuf.as_str(), "http/protobuf");
    }
}
