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

mod buckets;
mod cache;
pub(crate) mod exemplars;
#[cfg(feature = "prometheus")]
mod openmetrics;
mod pool;

pub use buckets::DURATION_BUCKETS;
pub use cache::CacheMetrics;
pub use exemplars::Exemplars;

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
pub use pool::{ConnectionPoolMetrics, PoolStats};

/// `http_server_request_duration_seconds_bucket`: request duration histogram buckets.
pub const HTTP_SERVER_REQUEST_DURATION_BUCKET: &str = "http_server_request_duration_seconds_bucket";
/// `http_server_request_duration_seconds_sum`.
pub const HTTP_SERVER_REQUEST_DURATION_SUM: &str = "http_server_request_duration_seconds_sum";
/// `http_server_request_duration_seconds_count`: the request count (rate = throughput).
pub const HTTP_SERVER_REQUEST_DURATION_COUNT: &str = "http_server_request_duration_seconds_count";
/// `http_server_active_requests`: requests in flight.
pub const HTTP_SERVER_ACTIVE_REQUESTS: &str = "http_server_active_requests";
/// `http_client_request_duration_seconds_bucket`: outgoing request duration buckets.
pub const HTTP_CLIENT_REQUEST_DURATION_BUCKET: &str = "http_client_request_duration_seconds_bucket";
/// `http_client_request_duration_seconds_sum`.
pub const HTTP_CLIENT_REQUEST_DURATION_SUM: &str = "http_client_request_duration_seconds_sum";
/// `http_client_request_duration_seconds_count`.
pub const HTTP_CLIENT_REQUEST_DURATION_COUNT: &str = "http_client_request_duration_seconds_count";
/// `octollm_telemetry_spans_dropped_total`: spans that never reached the collector, by
/// [`LABEL_REASON`]. Summed over the reasons it is the spans produced minus those received.
pub const SPANS_DROPPED_TOTAL: &str = "octollm_telemetry_spans_dropped_total";
/// `octollm_telemetry_spans_exported_total`: spans the collector accepted.
pub const SPANS_EXPORTED_TOTAL: &str = "octollm_telemetry_spans_exported_total";
/// `octollm_telemetry_export_failures_total`: span export requests that failed or timed out.
pub const EXPORT_FAILURES_TOTAL: &str = "octollm_telemetry_export_failures_total";

/// Label `http_request_method` (`GET`, …, `_OTHER` for non-standard methods).
pub const LABEL_METHOD: &str = "http_request_method";
/// Label `http_route`: the route template (`/items/{id}`); absent when no route matched.
pub const LABEL_ROUTE: &str = "http_route";
/// Label `http_response_status_code`.
pub const LABEL_STATUS_CODE: &str = "http_response_status_code";
/// Label `url_scheme` (`http`, `https`).
pub const LABEL_URL_SCHEME: &str = "url_scheme";
/// Label `error_type`: the status code for 5xx, or the failure kind; absent on success.
pub const LABEL_ERROR_TYPE: &str = "error_type";
/// Label `network_protocol_version` (`1.1`, `2`).
pub const LABEL_PROTOCOL_VERSION: &str = "network_protocol_version";
/// Label `reason` of [`SPANS_DROPPED_TOTAL`] and [`LOGS_DROPPED_TOTAL`]: [`REASON_QUEUE_FULL`],
/// [`REASON_EXPORT_FAILED`] or [`REASON_REJECTED`].
pub const LABEL_REASON: &str = "reason";
/// `reason="queue_full"`: dropped as the span ended because the export queue was full.
pub const REASON_QUEUE_FULL: &str = "queue_full";
/// `reason="export_failed"`: lost in an export request that failed or timed out.
pub const REASON_EXPORT_FAILED: &str = "export_failed";
/// `reason="rejected"`: the collector accepted the request but rejected these items (OTLP
/// partial success).
pub const REASON_REJECTED: &str = "rejected";

/// `octollm_telemetry_logs_dropped_total`: log records that never reached the collector
/// (`OTEL_LOGS_EXPORTER=otlp`), label [`LABEL_REASON`].
pub const LOGS_DROPPED_TOTAL: &str = "octollm_telemetry_logs_dropped_total";
/// `octollm_telemetry_log_lines_dropped_total`: log lines not written to stdout because its
/// buffer was full (stdout blocked) or the write failed.
pub const LOG_LINES_DROPPED_TOTAL: &str = "octollm_telemetry_log_lines_dropped_total";
/// `octollm_telemetry_logs_exported_total`: log records the collector accepted.
pub const LOGS_EXPORTED_TOTAL: &str = "octollm_telemetry_logs_exported_total";
/// `process_cpu_time_seconds_total`: CPU seconds, label `cpu_mode` (`user`, `system`).
pub const PROCESS_CPU_TIME_TOTAL: &str = "process_cpu_time_seconds_total";
/// `process_memory_usage_bytes`: resident memory.
pub const PROCESS_MEMORY_USAGE: &str = "process_memory_usage_bytes";
/// `process_memory_virtual_bytes`: virtual memory.
pub const PROCESS_MEMORY_VIRTUAL: &str = "process_memory_virtual_bytes";
/// `process_thread_count`: threads.
pub const PROCESS_THREAD_COUNT: &str = "process_thread_count";
/// `process_open_file_descriptor_count`: open file descriptors.
pub const PROCESS_OPEN_FILE_DESCRIPTORS: &str = "process_open_file_descriptor_count";
/// `process_uptime_seconds`: time since the process started.
pub const PROCESS_UPTIME: &str = "process_uptime_seconds";
/// `tokio_workers`: worker threads of the runtime `init` ran on.
pub const TOKIO_WORKERS: &str = "tokio_workers";
/// `tokio_tasks_alive`: tasks alive in that runtime.
pub const TOKIO_TASKS_ALIVE: &str = "tokio_tasks_alive";
/// `tokio_global_queue_depth`: tasks waiting in its global queue.
pub const TOKIO_GLOBAL_QUEUE_DEPTH: &str = "tokio_global_queue_depth";
/// `db_client_connection_count`: pool connections, labels `db_client_connection_pool_name`,
/// `db_client_connection_state` (`idle`, `used`).
pub const DB_CLIENT_CONNECTION_COUNT: &str = "db_client_connection_count";
/// `db_client_connection_max`: the most connections a pool opens.
pub const DB_CLIENT_CONNECTION_MAX: &str = "db_client_connection_max";
/// `db_client_connection_pending_requests`: callers waiting for a connection.
pub const DB_CLIENT_CONNECTION_PENDING_REQUESTS: &str = "db_client_connection_pending_requests";
/// `db_client_connection_wait_time_seconds_bucket`: time to obtain a connection.
pub const DB_CLIENT_CONNECTION_WAIT_TIME_BUCKET: &str =
    "db_client_connection_wait_time_seconds_bucket";
/// `db_client_connection_wait_time_seconds_sum`.
pub const DB_CLIENT_CONNECTION_WAIT_TIME_SUM: &str = "db_client_connection_wait_time_seconds_sum";
/// `db_client_connection_wait_time_seconds_count`.
pub const DB_CLIENT_CONNECTION_WAIT_TIME_COUNT: &str =
    "db_client_connection_wait_time_seconds_count";
/// `db_client_connection_timeouts_total`: attempts to obtain a connection that timed out.
pub const DB_CLIENT_CONNECTION_TIMEOUTS_TOTAL: &str = "db_client_connection_timeouts_total";
/// `octollm_cache_lookups_total`: cache lookups, labels `cache_name`, `cache_result` (`hit`,
/// `miss`).
pub const CACHE_LOOKUPS_TOTAL: &str = "octollm_cache_lookups_total";
/// `octollm_telemetry_sampling_probability`: the probability a remote sampler keeps a new
/// root with, label `operation` (the root span's name, at most 100, and `_default`).
pub const SAMPLING_PROBABILITY: &str = "octollm_telemetry_sampling_probability";
/// `octollm_telemetry_sampling_rate_limit`: the traces per second a remote rate-limiting
/// strategy keeps.
pub const SAMPLING_RATE_LIMIT: &str = "octollm_telemetry_sampling_rate_limit";
/// `octollm_telemetry_sampling_fetches_total`: a remote sampler's strategy fetches, label
/// `result` (`ok`, `failed`).
pub const SAMPLING_FETCHES_TOTAL: &str = "octollm_telemetry_sampling_fetches_total";

/// Every series name the crate can expose, for contract checks.
pub const EXPOSED_SERIES: &[&str] = &[
    HTTP_SERVER_REQUEST_DURATION_BUCKET,
    HTTP_SERVER_REQUEST_DURATION_SUM,
    HTTP_SERVER_REQUEST_DURATION_COUNT,
    HTTP_SERVER_ACTIVE_REQUESTS,
    HTTP_CLIENT_REQUEST_DURATION_BUCKET,
    HTTP_CLIENT_REQUEST_DURATION_SUM,
    HTTP_CLIENT_REQUEST_DURATION_COUNT,
    SPANS_DROPPED_TOTAL,
    SPANS_EXPORTED_TOTAL,
    EXPORT_FAILURES_TOTAL,
    "target_info",
    LOGS_DROPPED_TOTAL,
    LOGS_EXPORTED_TOTAL,
    LOG_LINES_DROPPED_TOTAL,
    PROCESS_CPU_TIME_TOTAL,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_THREAD_COUNT,
    PROCESS_OPEN_FILE_DESCRIPTORS,
    PROCESS_UPTIME,
    TOKIO_WORKERS,
    TOKIO_TASKS_ALIVE,
    TOKIO_GLOBAL_QUEUE_DEPTH,
    DB_CLIENT_CONNECTION_COUNT,
    DB_CLIENT_CONNECTION_MAX,
    DB_CLIENT_CONNECTION_PENDING_REQUESTS,
    DB_CLIENT_CONNECTION_WAIT_TIME_BUCKET,
    DB_CLIENT_CONNECTION_WAIT_TIME_SUM,
    DB_CLIENT_CONNECTION_WAIT_TIME_COUNT,
    DB_CLIENT_CONNECTION_TIMEOUTS_TOTAL,
    CACHE_LOOKUPS_TOTAL,
    SAMPLING_PROBABILITY,
    SAMPLING_RATE_LIMIT,
    SAMPLING_FETCHES_TOTAL,
];

/// The current metrics in the Prometheus text exposition format, or `None` when metrics are
/// not exported in that format (`OTEL_METRICS_EXPORTER` is not `prometheus`, or telemetry is
/// not initialised).
#[must_use]
pub fn encode_prometheus() -> Option<String> {
    #[cfg(feature = "prometheus")]
    return encode_registry(crate::installed::prometheus()?);
    #[cfg(not(feature = "prometheus"))]
    None
}

/// `registry` in the Prometheus text format.
#[cfg(feature = "prometheus")]
pub(crate) fn encode_registry(registry: &prometheus::Registry) -> Option<String> {
    use prometheus::Encoder as _;
    let mut out = Vec::with_capacity(8 * 1024);
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .ok()?;
    String::from_utf8(out).ok()
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
    return Some(openmetrics::encode(
        &crate::installed::prometheus()?.gather(),
        crate::installed::exemplars().as_ref(),
    ));
    #[cfg(not(feature = "prometheus"))]
    None
}

/// `registry` in the OpenMetrics format, with the exemplars of `exemplars`.
#[cfg(feature = "prometheus")]
pub(crate) fn encode_registry_openmetrics(
    registry: &prometheus::Registry,
    exemplars: Option<&Exemplars>,
) -> String {
    openmetrics::encode(&registry.gather(), exemplars)
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
