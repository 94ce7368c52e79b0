//! The crate's OTLP client, for traces, metrics and log records alike: one exporter per signal
//! (`spans.rs`, `metrics.rs`, `logs.rs`) over one transport per protocol (`grpc.rs`,
//! `http.rs`), with one retry policy (`retry.rs`), in the shape of `opentelemetry-otlp`'s
//! `exporter/`.
//!
//! Why the crate keeps its own client rather than `opentelemetry-otlp`'s: a span batch is
//! moved into the request and encoded once (27k instructions per exported span against 41k,
//! callgrind of the `span_rate` example, see `docs/performance.md`), a retry
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

mod common;
#[cfg(feature = "grpc")]
mod grpc;
#[cfg(feature = "http-proto")]
mod http;
#[cfg(feature = "_otlp")]
pub(crate) mod logs;
#[cfg(feature = "_otlp")]
pub(crate) mod metrics;
#[cfg(feature = "_otlp")]
mod report;
#[cfg(feature = "_otlp")]
mod retry;
#[cfg(feature = "_otlp")]
pub(crate) mod spans;
#[cfg(feature = "_otlp")]
mod transport;

#[cfg_attr(
    feature = "_otlp",
    allow(unused_imports, reason = "called only when no transport is built")
)]
pub(crate) use common::missing_feature;
#[cfg(all(feature = "jaeger-remote", feature = "_otlp"))]
pub(crate) use common::USER_AGENT;
#[cfg(all(feature = "grpc", feature = "jaeger-remote"))]
pub(crate) use grpc::Encoded;
#[cfg(feature = "_otlp")]
pub(crate) use report::Report;

/// The settings of a plain gRPC endpoint on `endpoint` sending one `api-key` header, and the
/// report of `signal` over them, for the transports' tests.
#[cfg(test)]
#[cfg(feature = "_otlp")]
pub(crate) fn test_report(
    signal: crate::error::Signal,
    api_key: &str,
) -> (crate::config::OtlpSettings, Report) {
    let settings = crate::config::OtlpSettings {
        protocol: crate::config::Protocol::Grpc,
        endpoint: "http://127.0.0.1:4317".into(),
        headers: crate::config::Headers(vec![("api-key".into(), api_key.into())]),
        timeout: std::time::Duration::from_secs(10),
        compression: crate::config::Compression::None,
        tls: None,
    };
    let report = Report::new(
        signal,
        &settings,
        std::sync::Arc::new(|n| n),
        std::sync::Arc::default(),
    );
    (settings, report)
}
