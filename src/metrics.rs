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
//! | the resource | `target_info` | gauge |
//!
//! [`SPANS_DROPPED_TOTAL`] has the label [`LABEL_REASON`] (`queue_full`, `export_failed`); its
//! sum is [`TelemetryGuard::dropped_spans`](crate::TelemetryGuard::dropped_spans).
//!
//! Labels of the HTTP series: [`LABEL_METHOD`], [`LABEL_ROUTE`], [`LABEL_STATUS_CODE`],
//! [`LABEL_URL_SCHEME`], [`LABEL_ERROR_TYPE`] (errors only), [`LABEL_PROTOCOL_VERSION`].
//! Prometheus adds `namespace`, `pod`, `container` and `service` from Kubernetes service
//! discovery (see the monitoring stack's README).

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
/// Label `reason` of [`SPANS_DROPPED_TOTAL`]: [`REASON_QUEUE_FULL`] or [`REASON_EXPORT_FAILED`].
pub const LABEL_REASON: &str = "reason";
/// `reason="queue_full"`: dropped as the span ended because the export queue was full.
pub const REASON_QUEUE_FULL: &str = "queue_full";
/// `reason="export_failed"`: lost in an export request that failed or timed out.
pub const REASON_EXPORT_FAILED: &str = "export_failed";

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
];

/// The duration histogram's bucket boundaries in seconds (the semantic conventions' advice).
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
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

/// An axum handler serving [`encode_prometheus`]: `200` with the text, or `404` when metrics
/// are not exported in the Prometheus format.
///
/// ```
/// let app: axum::Router = axum::Router::new()
///     .route("/metrics", axum::routing::get(octollm_telemetry::metrics::handler));
/// ```
#[cfg(feature = "axum")]
pub async fn handler() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match encode_prometheus() {
        Some(text) => ([(http::header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response(),
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
