//! Metrics: the metric contract of the shipped dashboards and alerts, and the Prometheus
//! `/metrics` endpoint serving what [`init_telemetry`](crate::init_telemetry) installed.
//!
//! `OTEL_METRICS_EXPORTER` chooses how metrics leave the process: `prometheus` (the default)
//! serves them for a scrape through [`handler`], [`router`] or [`serve`]; `otlp` pushes them
//! every `OTEL_METRIC_EXPORT_INTERVAL` milliseconds to the collector (same endpoint rules as
//! traces, `/v1/metrics` for HTTP); `none` turns them off.
//!
//! # The metric contract
//!
//! The HTTP layer ([`crate::http`]) records the OpenTelemetry HTTP semantic-convention metrics;
//! a Prometheus scrape sees them under the names below. The shipped Prometheus rules and
//! Grafana dashboards are written against exactly these names and labels, and a test scrapes a
//! real `/metrics` endpoint to keep both in step.
//!
//! | OpenTelemetry instrument | Prometheus series | type |
//! |---|---|---|
//! | `http.server.request.duration` (s) | [`HTTP_SERVER_REQUEST_DURATION_BUCKET`], `_sum`, `_count` | histogram |
//! | `http.server.active_requests` | [`HTTP_SERVER_ACTIVE_REQUESTS`] | gauge |
//! | `http.client.request.duration` (s) | [`HTTP_CLIENT_REQUEST_DURATION_BUCKET`], `_sum`, `_count` | histogram |
//! | `octollm.telemetry.spans.dropped` | [`SPANS_DROPPED_TOTAL`] | counter |
//! | `octollm.telemetry.spans.exported` | [`SPANS_EXPORTED_TOTAL`] | counter |
//! | `octollm.telemetry.export.failures` | [`EXPORT_FAILURES_TOTAL`] | counter |
//! | `octollm.telemetry.logs.dropped`, `octollm.telemetry.logs.exported` | [`LOGS_DROPPED_TOTAL`], [`LOGS_EXPORTED_TOTAL`] | counter |
//! | `octollm.telemetry.log_lines.dropped` | [`LOG_LINES_DROPPED_TOTAL`] | counter |
//! | the resource | `target_info` | gauge |
//! | `process.cpu.time` (s) | [`PROCESS_CPU_TIME_TOTAL`] | counter |
//! | `process.memory.usage`, `process.memory.virtual` (By) | [`PROCESS_MEMORY_USAGE`], [`PROCESS_MEMORY_VIRTUAL`] | gauge |
//! | `process.thread.count`, `process.open_file_descriptor.count` | [`PROCESS_THREAD_COUNT`], [`PROCESS_OPEN_FILE_DESCRIPTORS`] | gauge |
//! | `process.uptime` (s) | [`PROCESS_UPTIME`] | gauge |
//! | `tokio.workers`, `tokio.tasks.alive`, `tokio.global_queue.depth` | [`TOKIO_WORKERS`], [`TOKIO_TASKS_ALIVE`], [`TOKIO_GLOBAL_QUEUE_DEPTH`] | gauge |
//! | `db.client.connection.count`, `.max`, `.pending_requests` ([`ConnectionPoolMetrics`]) | [`DB_CLIENT_CONNECTION_COUNT`], [`DB_CLIENT_CONNECTION_MAX`], [`DB_CLIENT_CONNECTION_PENDING_REQUESTS`] | gauge |
//! | `db.client.connection.wait_time` (s) | [`DB_CLIENT_CONNECTION_WAIT_TIME_BUCKET`], `_sum`, `_count` | histogram |
//! | `db.client.connection.timeouts` | [`DB_CLIENT_CONNECTION_TIMEOUTS_TOTAL`] | counter |
//! | `octollm.cache.lookups` ([`CacheMetrics`]) | [`CACHE_LOOKUPS_TOTAL`] | counter |
//! | `octollm.telemetry.sampling.probability`, `.sampling.rate_limit` (a remote sampler) | [`SAMPLING_PROBABILITY`], [`SAMPLING_RATE_LIMIT`] | gauge |
//! | `octollm.telemetry.sampling.fetches` (a remote sampler) | [`SAMPLING_FETCHES_TOTAL`] | counter |
//!
//! The process and runtime series are on by default (`OCTOLLM_RUNTIME_METRICS=false` or
//! [`TelemetryConfig::runtime_metrics`](crate::TelemetryConfig::runtime_metrics) turns them
//! off); the pool and cache series appear once the service creates a [`ConnectionPoolMetrics`]
//! or a [`CacheMetrics`], the sampling series with a remote sampler (`jaeger_remote`,
//! `parentbased_jaeger_remote`).
//!
//! [`SPANS_DROPPED_TOTAL`] has the label [`LABEL_REASON`] (`queue_full`, `export_failed`); its
//! sum is [`TelemetryGuard::dropped_spans`](crate::TelemetryGuard::dropped_spans).
//!
//! Labels of the HTTP series: [`LABEL_METHOD`], [`LABEL_ROUTE`], [`LABEL_STATUS_CODE`],
//! [`LABEL_URL_SCHEME`], [`LABEL_ERROR_TYPE`] (errors only), [`LABEL_PROTOCOL_VERSION`].
//! Prometheus adds `namespace`, `pod`, `container` and `service` from Kubernetes service
//! discovery (see the monitoring stack's README).

// The metrics wing, below the public contract and endpoint of this file: the names, the
// instruments the crate offers or registers, the exemplar store, the encoders and the pipeline.
mod buckets;
mod cache;
pub(crate) mod exemplars;
#[cfg(feature = "prometheus")]
pub(crate) mod exposition;
mod names;
#[cfg(feature = "prometheus")]
mod openmetrics;
pub(crate) mod pipeline;
mod pool;
pub(crate) mod process;

pub use buckets::DURATION_BUCKETS;
pub use cache::CacheMetrics;
pub use exemplars::Exemplars;
pub use names::*;
pub use pool::{ConnectionPoolMetrics, PoolStats};

/// The exemplar store's recording path, for `benches/locks.rs`. Not a stable API.
#[doc(hidden)]
pub mod bench {
    use std::sync::Arc;

    use opentelemetry::trace::SpanContext;

    /// The slots of one series of a fresh store, as a bound label set keeps them.
    #[derive(Debug)]
    pub struct SeriesSlots(Arc<crate::metrics::exemplars::Series>);

    /// The slots of series 1 of a fresh store.
    #[must_use]
    pub fn series_slots() -> Option<SeriesSlots> {
        crate::metrics::Exemplars::new().series(1).map(SeriesSlots)
    }

    impl SeriesSlots {
        /// Keeps `value` of a sampled request as the exemplar of its bucket.
        pub fn record(&self, value: f64, span: &SpanContext) {
            self.0.record(value, span);
        }
    }
}
/// The current metrics in the Prometheus text exposition format, or `None` when metrics are
/// not exported in that format (`OTEL_METRICS_EXPORTER` is not `prometheus`, or telemetry is
/// not initialised).
#[must_use]
pub fn encode_prometheus() -> Option<String> {
    #[cfg(feature = "prometheus")]
    return exposition::text(crate::installed::prometheus()?);
    #[cfg(not(feature = "prometheus"))]
    None
}

/// The content type of [`encode_prometheus`]'s text.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The content type of [`encode_openmetrics`]'s text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The current metrics in the OpenMetrics text format, with exemplars on the buckets of
/// `http_server_request_duration_seconds`: for each series and bucket, the trace and span of
/// the last sampled request that fell in it. `None` as for [`encode_prometheus`].
#[must_use]
pub fn encode_openmetrics() -> Option<String> {
    #[cfg(feature = "prometheus")]
    return Some(exposition::openmetrics(
        crate::installed::prometheus()?,
        crate::installed::exemplars().as_ref(),
    ));
    #[cfg(not(feature = "prometheus"))]
    None
}

/// Whether a scraper's `Accept` header asks for OpenMetrics (Prometheus does, and then
/// stores exemplars when its exemplar storage is on).
#[must_use]
pub fn wants_openmetrics(accept: Option<&http::HeaderValue>) -> bool {
    accept
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"))
}

/// An axum handler serving the metrics: the OpenMetrics format, with exemplars, when the
/// scraper's `Accept` header asks for it ([`encode_openmetrics`]), else the Prometheus text
/// format ([`encode_prometheus`]); `404` when metrics are not exported in the Prometheus
/// format.
///
/// ```
/// let app: axum::Router = axum::Router::new()
///     .route("/metrics", axum::routing::get(octollm_telemetry::metrics::handler));
/// ```
#[cfg(feature = "axum")]
pub async fn handler(headers: http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let encoded = if wants_openmetrics(headers.get(http::header::ACCEPT)) {
        encode_openmetrics().map(|text| (OPENMETRICS_CONTENT_TYPE, text))
    } else {
        encode_prometheus().map(|text| (PROMETHEUS_CONTENT_TYPE, text))
    };
    match encoded {
        Some((content_type, text)) => {
            ([(http::header::CONTENT_TYPE, content_type)], text).into_response()
        }
        None => (
            http::StatusCode::NOT_FOUND,
            "metrics are not served in the Prometheus format (OTEL_METRICS_EXPORTER is not prometheus)\n",
        )
            .into_response(),
    }
}

/// A router serving `GET /metrics` with [`handler`]; merge it into the service's router or
/// give it its own listener with [`serve`].
#[cfg(feature = "axum")]
pub fn router() -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(handler))
}

/// Serves `/metrics` on its own listener, so that it need not share a public port: bind the
/// listener to a port that only the cluster's Prometheus can reach.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:9464").await?;
/// tokio::spawn(octollm_telemetry::metrics::serve(listener));
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The I/O error that stopped the server.
#[cfg(feature = "axum")]
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router()).await
}
