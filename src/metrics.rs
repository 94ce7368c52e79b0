//! Metrics: the meter provider that [`init_telemetry`](crate::init_telemetry) installs, the
//! Prometheus `/metrics` endpoint, and the metric contract of the shipped dashboards and alerts.
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

use std::sync::Arc;
#[cfg(feature = "prometheus")]
use std::sync::OnceLock;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::Resource;

use crate::config::{MetricsExporter, TelemetryConfig};
use crate::export::{Counters, ExportRuntime, OtlpSettings};
use crate::InitError;

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

/// The instrumentation scope of every instrument the crate creates.
pub(crate) const SCOPE: &str = "octollm-telemetry";

#[cfg(feature = "prometheus")]
static REGISTRY: OnceLock<prometheus::Registry> = OnceLock::new();

/// Builds the meter provider for `config` and registers the span pipeline's counters.
pub(crate) fn provider(
    config: &TelemetryConfig,
    resource: &Resource,
    runtime: &ExportRuntime,
    counters: &Arc<Counters>,
) -> Result<Option<SdkMeterProvider>, InitError> {
    let builder = SdkMeterProvider::builder().with_resource(resource.clone());
    let builder = match config.effective_metrics_exporter() {
        MetricsExporter::None => return Ok(None),
        MetricsExporter::Otlp => otlp_reader(builder, config, runtime)?,
        MetricsExporter::Prometheus => prometheus_reader(builder)?,
    };
    let provider = builder.build();
    register_pipeline_counters(&provider, counters);
    Ok(Some(provider))
}

#[cfg(any(feature = "grpc", feature = "http-proto"))]
fn otlp_reader(
    builder: opentelemetry_sdk::metrics::MeterProviderBuilder,
    config: &TelemetryConfig,
    runtime: &ExportRuntime,
) -> Result<opentelemetry_sdk::metrics::MeterProviderBuilder, InitError> {
    let settings = OtlpSettings::metrics(config)?;
    let handle = runtime.handle().clone();
    let error = |reason| InitError::Exporter {
        signal: "metrics",
        reason,
    };
    let exporter = runtime
        .run_on(move || settings.build_metrics(handle))
        .map_err(error)?
        .map_err(error)?;
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter)
        .with_interval(config.metric_export_interval)
        .build();
    Ok(builder.with_reader(reader))
}

#[cfg(not(any(feature = "grpc", feature = "http-proto")))]
fn otlp_reader(
    _builder: opentelemetry_sdk::metrics::MeterProviderBuilder,
    config: &TelemetryConfig,
    _runtime: &ExportRuntime,
) -> Result<opentelemetry_sdk::metrics::MeterProviderBuilder, InitError> {
    Err(InitError::Exporter {
        signal: "metrics",
        reason: OtlpSettings::metrics(config)?.missing_feature(),
    })
}

#[cfg(feature = "prometheus")]
fn prometheus_reader(
    builder: opentelemetry_sdk::metrics::MeterProviderBuilder,
) -> Result<opentelemetry_sdk::metrics::MeterProviderBuilder, InitError> {
    let registry = REGISTRY.get_or_init(prometheus::Registry::new).clone();
    let exporter = opentelemetry_prometheus::exporter()
        .with_registry(registry)
        .scope_info_enabled(false)
        .build()
        .map_err(|e| InitError::Exporter {
            signal: "metrics",
            reason: e.to_string(),
        })?;
    Ok(builder.with_reader(exporter))
}

#[cfg(not(feature = "prometheus"))]
fn prometheus_reader(
    _builder: opentelemetry_sdk::metrics::MeterProviderBuilder,
) -> Result<opentelemetry_sdk::metrics::MeterProviderBuilder, InitError> {
    Err(InitError::Config(crate::ConfigError::new(
        crate::vars::OTEL_METRICS_EXPORTER,
        "prometheus",
        "otlp or none: this build has no `prometheus` cargo feature",
    )))
}

fn register_pipeline_counters(provider: &SdkMeterProvider, counters: &Arc<Counters>) {
    let meter = provider.meter(SCOPE);
    let observe =
        |name: &'static str, description: &'static str, read: fn(&crate::ExportStats) -> u64| {
            let counters = Arc::clone(counters);
            meter
                .u64_observable_counter(name)
                .with_description(description)
                .with_callback(move |observer| observer.observe(read(&counters.snapshot()), &[]))
                .build();
        };
    let dropped = Arc::clone(counters);
    meter
        .u64_observable_counter("octollm.telemetry.spans.dropped")
        .with_description("Spans that never reached the collector, by reason")
        .with_callback(move |observer| {
            let s = dropped.snapshot();
            observer.observe(
                s.dropped_spans,
                &[KeyValue::new(LABEL_REASON, REASON_QUEUE_FULL)],
            );
            observer.observe(
                s.failed_spans,
                &[KeyValue::new(LABEL_REASON, REASON_EXPORT_FAILED)],
            );
        })
        .build();
    observe(
        "octollm.telemetry.spans.exported",
        "Spans accepted by the collector",
        |s| s.exported_spans,
    );
    observe(
        "octollm.telemetry.export.failures",
        "Span export requests that failed or timed out",
        |s| s.failed_exports,
    );
}

/// The current metrics in the Prometheus text exposition format, or `None` when metrics are
/// not exported in that format (`OTEL_METRICS_EXPORTER` is not `prometheus`, or telemetry is
/// not initialised).
pub fn encode_prometheus() -> Option<String> {
    #[cfg(feature = "prometheus")]
    {
        use prometheus::Encoder as _;
        let registry = REGISTRY.get()?;
        let mut out = Vec::with_capacity(8 * 1024);
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .ok()?;
        String::from_utf8(out).ok()
    }
    #[cfg(not(feature = "prometheus"))]
    None
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
