//! The crate's OTLP client, for traces, metrics and log records alike: one exporter per signal
//! (`spans.rs`, `metrics.rs`, `logs.rs`) over one transport per protocol (`grpc.rs`,
//! `http.rs`), with one retry policy (`retry.rs`), in the shape of `opentelemetry-otlp`'s
//! `exporter/`.
//!
//! Why the crate keeps its own client rather than `opentelemetry-otlp`'s: a span batch is
//! moved into the request and encoded once (27k instructions per exported span against 41k,
//! callgrind of the `span_rate` example, see the README's performance section), a retry
//! resends the same bytes, and the metric request carries the exemplars the SDK does not
//! record.
//!
//! What the OTLP exporter specification asks of a client, and where it is kept:
//! - only the retryable outcomes are retried (gRPC `CANCELLED`, `DEADLINE_EXCEEDED`,
//!   `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED` only with
//!   `RetryInfo`; HTTP 429, 502, 503, 504), with exponential backoff and jitter, honouring the
//!   server's `RetryInfo` or `Retry-After` within the export deadline (`retry.rs`);
//! - a partial success (`rejected_spans`, `rejected_data_points`, `rejected_log_records`) is
//!   counted as lost under its own reason and its message warned about, rate limited
//!   ([`Report`]);
//! - every request carries a `User-Agent` naming the exporter, its language and its version
//!   ([`USER_AGENT`]);
//! - headers, gzip, TLS and the timeout are the same for the three signals.
//!
//! The collector's words (a status message, a partial success's message) are shown with every
//! configured header value blanked out, since a collector may echo a credential back.

use crate::config::{OtlpSettings, Protocol};
use crate::error::BoxError;

#[cfg(feature = "grpc")]
mod grpc;
#[cfg(feature = "http-proto")]
mod http;
#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) mod logs;
#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) mod metrics;
#[cfg(any(feature = "grpc", feature = "http-proto"))]
mod report;
#[cfg(any(feature = "grpc", feature = "http-proto"))]
mod retry;
#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) mod spans;
#[cfg(any(feature = "grpc", feature = "http-proto"))]
mod transport;

#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) use report::Report;

/// The `User-Agent` of every export request: the exporter, its language and its version, as
/// the OTLP exporter specification asks (on gRPC, tonic appends its own token).
#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) const USER_AGENT: &str =
    concat!("OctoLLM-OTLP-Exporter-Rust/", env!("CARGO_PKG_VERSION"));

/// Why OTLP export cannot work in this build, when a transport feature is missing.
pub(crate) fn missing_feature(settings: &OtlpSettings) -> BoxError {
    if cfg!(not(any(feature = "grpc", feature = "http-proto"))) {
        return "OTLP export needs the `grpc` or `http-proto` cargo feature of \
                octollm-telemetry; enable one, or choose another exporter \
                (OTEL_TRACES_EXPORTER=console|none, OTEL_METRICS_EXPORTER=prometheus|none, \
                OTEL_LOGS_EXPORTER=console|none)"
            .into();
    }
    match settings.protocol {
        Protocol::Grpc => "OTLP/gRPC needs the `grpc` cargo feature of octollm-telemetry; enable \
                           it or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
            .into(),
        Protocol::HttpProtobuf => "OTLP/HTTP needs the `http-proto` cargo feature of \
                                   octollm-telemetry; enable it or set \
                                   OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
            .into(),
    }
}

/// The headers of `OTEL_EXPORTER_OTLP_*HEADERS` (or code), checked. (They were checked when
/// the configuration was read; an error here names the header, never its value.)
#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) fn header_map(settings: &OtlpSettings) -> Result<::http::HeaderMap, BoxError> {
    let mut headers = ::http::HeaderMap::new();
    for (k, v) in settings.headers.iter() {
        let name = ::http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("the OTLP header name {k:?} is not an HTTP header name"))?;
        let value = ::http::HeaderValue::from_str(v)
            .map_err(|_| format!("the value of the OTLP header {k:?} is not printable ASCII"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The settings of a plain gRPC endpoint on `endpoint` sending one `api-key` header, and the
/// report of `signal` over them, for the transports' tests.
#[cfg(all(test, any(feature = "grpc", feature = "http-proto")))]
pub(crate) fn test_report(signal: crate::error::Signal, api_key: &str) -> (OtlpSettings, Report) {
    let settings = OtlpSettings {
        protocol: Protocol::Grpc,
        endpoint: "http://127.0.0.1:4317".into(),
        headers: crate::config::Headers(vec![("api-key".into(), api_key.into())]),
        timeout: std::time::Duration::from_secs(10),
        compression: crate::config::Compression::None,
        tls: None,
    };
    let report = Report::new(
        signal,
        &settings,
        std::sync::Arc::default(),
        crate::export::processor::WarnSink::default(),
    );
    (settings, report)
}
