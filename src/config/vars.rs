//! Names of every environment variable the crate reads.
//!
//! The crate resolves these itself, before it builds the OpenTelemetry SDK objects, so that a
//! malformed value is an error at start-up instead of a silent fallback. The table in the
//! [crate documentation](crate#environment-variables) says what each one does and its default.
//!
//! A variable with a fixed default has a `…_DEFAULT` constant beside it (as in the OpenTelemetry
//! SDK); where the default depends on the deployment environment there is one for dev
//! (`…_DEFAULT_DEV`) and one for staging and prod. [`ALL`] lists every name.

use std::time::Duration;

use super::values::{
    CaptureContent, Compression, Environment, LogFormat, LogsExporter, MetricsExporter, Protocol,
    TracesExporter,
};

/// `service.name` of the resource; beats `service.name` in [`OTEL_RESOURCE_ATTRIBUTES`].
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// `service.namespace`; default `octollm`.
pub const SERVICE_NAMESPACE: &str = "SERVICE_NAMESPACE";
/// Default of [`SERVICE_NAMESPACE`].
pub const SERVICE_NAMESPACE_DEFAULT: &str = "octollm";
/// `service.version`.
pub const APP_VERSION: &str = "APP_VERSION";
/// `dev`, `staging` or `prod` (`development` and `production` accepted); default `dev`.
pub const ENVIRONMENT: &str = "ENVIRONMENT";
/// Default of [`ENVIRONMENT`].
pub const ENVIRONMENT_DEFAULT: Environment = Environment::Dev;
/// Kubernetes pod name (downward API): `k8s.pod.name` and `service.instance.id`.
pub const POD_NAME: &str = "POD_NAME";
/// Kubernetes namespace (downward API): `k8s.namespace.name`.
pub const POD_NAMESPACE: &str = "POD_NAMESPACE";
/// Kubernetes node name (downward API): `k8s.node.name`.
pub const NODE_NAME: &str = "NODE_NAME";
/// Host name, the `service.instance.id` when [`POD_NAME`] is unset.
pub const HOSTNAME: &str = "HOSTNAME";
/// Extra resource attributes, `k=v,k2=v2`, percent-encoded.
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// Sampler name (spec values).
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// Sampler argument (the ratio for the ratio samplers).
pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
/// Default of [`OTEL_TRACES_SAMPLER_ARG`] for the ratio samplers (the spec's).
pub const OTEL_TRACES_SAMPLER_ARG_DEFAULT: f64 = 1.0;
/// Ratio of new root traces kept, 0.0–1.0, for `parentbased_traceidratio`.
pub const OTEL_SAMPLING_RATE: &str = "OTEL_SAMPLING_RATE";
/// Default of [`OTEL_SAMPLING_RATE`] in dev: every trace.
pub const OTEL_SAMPLING_RATE_DEFAULT_DEV: f64 = 1.0;
/// Default of [`OTEL_SAMPLING_RATE`] in staging and prod.
pub const OTEL_SAMPLING_RATE_DEFAULT: f64 = 0.1;

/// `true` turns export off while keeping trace ids and propagation.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// Default of [`OTEL_SDK_DISABLED`].
pub const OTEL_SDK_DISABLED_DEFAULT: bool = false;
/// `otlp`, `console` or `none`.
pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// Default of [`OTEL_TRACES_EXPORTER`].
pub const OTEL_TRACES_EXPORTER_DEFAULT: TracesExporter = TracesExporter::Otlp;
/// `tracecontext`, `baggage`, `none`, comma-separated.
pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";
/// Default of [`OTEL_PROPAGATORS`].
pub const OTEL_PROPAGATORS_DEFAULT: &str = "tracecontext,baggage";
/// `grpc` or `http/protobuf` for all signals.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Default of [`OTEL_EXPORTER_OTLP_PROTOCOL`]: gRPC, or HTTP/protobuf in a build with only the
/// `http-proto` feature.
pub const OTEL_EXPORTER_OTLP_PROTOCOL_DEFAULT: Protocol =
    if cfg!(feature = "grpc") || !cfg!(feature = "http-proto") {
        Protocol::Grpc
    } else {
        Protocol::HttpProtobuf
    };
/// `grpc` or `http/protobuf` for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// Base URL of the collector; `/v1/traces` is appended for HTTP.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Default collector endpoint for gRPC.
pub const OTEL_EXPORTER_OTLP_GRPC_ENDPOINT_DEFAULT: &str = "http://localhost:4317";
/// Default collector base endpoint for HTTP/protobuf (the signal path is appended).
pub const OTEL_EXPORTER_OTLP_HTTP_ENDPOINT_DEFAULT: &str = "http://localhost:4318";
/// Full URL for traces, used as it is.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// Request headers, `k=v,…`, percent-encoded.
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Request headers for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// Export timeout in milliseconds.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// Default of [`OTEL_EXPORTER_OTLP_TIMEOUT`].
pub const OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Export timeout for traces in milliseconds.
pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// `gzip` or `none`.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// Default of [`OTEL_EXPORTER_OTLP_COMPRESSION`].
pub const OTEL_EXPORTER_OTLP_COMPRESSION_DEFAULT: Compression = Compression::None;
/// `gzip` or `none` for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
/// `true`: a gRPC endpoint without a scheme is plain text (`http://`).
pub const OTEL_EXPORTER_OTLP_INSECURE: &str = "OTEL_EXPORTER_OTLP_INSECURE";
/// Default of [`OTEL_EXPORTER_OTLP_INSECURE`].
pub const OTEL_EXPORTER_OTLP_INSECURE_DEFAULT: bool = false;
/// `true`: a traces gRPC endpoint without a scheme is plain text.
pub const OTEL_EXPORTER_OTLP_TRACES_INSECURE: &str = "OTEL_EXPORTER_OTLP_TRACES_INSECURE";
/// PEM file of the CA certificates that verify the collector's certificate over `https://`
/// (in place of the system's roots).
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// [`OTEL_EXPORTER_OTLP_CERTIFICATE`] for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
/// PEM file of the client certificate (chain) presented to the collector (mTLS); needs
/// [`OTEL_EXPORTER_OTLP_CLIENT_KEY`].
pub const OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// [`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`] for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: &str =
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE";
/// PEM file of the private key of [`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`] (PKCS#8, PKCS#1
/// or SEC1).
pub const OTEL_EXPORTER_OTLP_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
/// [`OTEL_EXPORTER_OTLP_CLIENT_KEY`] for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY";
/// Deprecated alias of [`OTEL_EXPORTER_OTLP_ENDPOINT`], honoured with a warning.
pub const JAEGER_ENDPOINT: &str = "JAEGER_ENDPOINT";

/// Spans held in memory waiting for export; more are dropped and counted.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// Default of [`OTEL_BSP_MAX_QUEUE_SIZE`].
pub const OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT: usize = 2048;
/// Spans per export request.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// Default of [`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`], or the queue size when that is smaller.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT: usize = 512;
/// Milliseconds between two exports.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// Default of [`OTEL_BSP_SCHEDULE_DELAY`].
pub const OTEL_BSP_SCHEDULE_DELAY_DEFAULT: Duration = Duration::from_secs(5);
/// Milliseconds one export may take before it is abandoned.
pub const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";
/// Default of [`OTEL_BSP_EXPORT_TIMEOUT`].
pub const OTEL_BSP_EXPORT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// `tracing` filter directives; default `info`.
pub const RUST_LOG: &str = "RUST_LOG";
/// Default of [`RUST_LOG`].
pub const RUST_LOG_DEFAULT: &str = "info";
/// `json` or `pretty`; default `pretty` in dev, `json` in staging and prod.
pub const LOG_FORMAT: &str = "LOG_FORMAT";
/// Default of [`LOG_FORMAT`] in dev.
pub const LOG_FORMAT_DEFAULT_DEV: LogFormat = LogFormat::Pretty;
/// Default of [`LOG_FORMAT`] in staging and prod.
pub const LOG_FORMAT_DEFAULT: LogFormat = LogFormat::Json;

/// `prometheus` (serve `/metrics`), `otlp` (push) or `none`; default `prometheus`.
pub const OTEL_METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
/// Default of [`OTEL_METRICS_EXPORTER`].
pub const OTEL_METRICS_EXPORTER_DEFAULT: MetricsExporter = MetricsExporter::Prometheus;
/// Milliseconds between two OTLP metric pushes; default 60000.
pub const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
/// Default of [`OTEL_METRIC_EXPORT_INTERVAL`].
pub const OTEL_METRIC_EXPORT_INTERVAL_DEFAULT: Duration = Duration::from_secs(60);
/// Full URL for metrics, used as it is.
pub const OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// `grpc` or `http/protobuf` for metrics.
pub const OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
/// Request headers for metrics.
pub const OTEL_EXPORTER_OTLP_METRICS_HEADERS: &str = "OTEL_EXPORTER_OTLP_METRICS_HEADERS";
/// Export timeout for metrics in milliseconds.
pub const OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT";
/// `gzip` or `none` for metrics.
pub const OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION";
/// `true`: a metrics gRPC endpoint without a scheme is plain text.
pub const OTEL_EXPORTER_OTLP_METRICS_INSECURE: &str = "OTEL_EXPORTER_OTLP_METRICS_INSECURE";
/// [`OTEL_EXPORTER_OTLP_CERTIFICATE`] for metrics.
pub const OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE";
/// [`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`] for metrics.
pub const OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE: &str =
    "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE";
/// [`OTEL_EXPORTER_OTLP_CLIENT_KEY`] for metrics.
pub const OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY";

/// Where `tracing` events go besides stdout: `otlp`, `console` or `none`.
pub const OTEL_LOGS_EXPORTER: &str = "OTEL_LOGS_EXPORTER";
/// Default of [`OTEL_LOGS_EXPORTER`].
pub const OTEL_LOGS_EXPORTER_DEFAULT: LogsExporter = LogsExporter::None;
/// The full URL OTLP log records are sent to, used as it is.
pub const OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT";
/// [`OTEL_EXPORTER_OTLP_PROTOCOL`] for logs.
pub const OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL";
/// [`OTEL_EXPORTER_OTLP_HEADERS`] for logs.
pub const OTEL_EXPORTER_OTLP_LOGS_HEADERS: &str = "OTEL_EXPORTER_OTLP_LOGS_HEADERS";
/// [`OTEL_EXPORTER_OTLP_TIMEOUT`] for logs.
pub const OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT";
/// [`OTEL_EXPORTER_OTLP_COMPRESSION`] for logs.
pub const OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION";
/// `true`: a logs gRPC endpoint without a scheme is plain text.
pub const OTEL_EXPORTER_OTLP_LOGS_INSECURE: &str = "OTEL_EXPORTER_OTLP_LOGS_INSECURE";
/// [`OTEL_EXPORTER_OTLP_CERTIFICATE`] for logs.
pub const OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE";
/// [`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`] for logs.
pub const OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE: &str =
    "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE";
/// [`OTEL_EXPORTER_OTLP_CLIENT_KEY`] for logs.
pub const OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY";
/// Log records held in memory waiting for export; more are dropped and counted.
pub const OTEL_BLRP_MAX_QUEUE_SIZE: &str = "OTEL_BLRP_MAX_QUEUE_SIZE";
/// Default of [`OTEL_BLRP_MAX_QUEUE_SIZE`].
pub const OTEL_BLRP_MAX_QUEUE_SIZE_DEFAULT: usize = 2048;
/// Log records per export request, at most the queue size.
pub const OTEL_BLRP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE";
/// Default of [`OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`], or the queue size when that is smaller.
pub const OTEL_BLRP_MAX_EXPORT_BATCH_SIZE_DEFAULT: usize = 512;
/// Milliseconds between two log exports.
pub const OTEL_BLRP_SCHEDULE_DELAY: &str = "OTEL_BLRP_SCHEDULE_DELAY";
/// Default of [`OTEL_BLRP_SCHEDULE_DELAY`].
pub const OTEL_BLRP_SCHEDULE_DELAY_DEFAULT: Duration = Duration::from_secs(1);
/// Milliseconds one log export may take in all.
pub const OTEL_BLRP_EXPORT_TIMEOUT: &str = "OTEL_BLRP_EXPORT_TIMEOUT";
/// Default of [`OTEL_BLRP_EXPORT_TIMEOUT`].
pub const OTEL_BLRP_EXPORT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// `false`: no process and Tokio runtime metrics (`process.*`, `tokio.*`).
pub const OCTOLLM_RUNTIME_METRICS: &str = "OCTOLLM_RUNTIME_METRICS";
/// Default of [`OCTOLLM_RUNTIME_METRICS`].
pub const OCTOLLM_RUNTIME_METRICS_DEFAULT: bool = true;

/// `false`: no exemplars on the Prometheus endpoint's duration histogram.
pub const OCTOLLM_EXEMPLARS: &str = "OCTOLLM_EXEMPLARS";
/// Default of [`OCTOLLM_EXEMPLARS`].
pub const OCTOLLM_EXEMPLARS_DEFAULT: bool = true;

/// `NO_CONTENT`, `SPAN_ONLY`, `EVENT_ONLY` or `SPAN_AND_EVENT` (also `false`, `true`): what
/// message content the GenAI instrumentation captures ([`crate::genai`]).
pub const OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: &str =
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";
/// Default of [`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`]: no content.
pub const OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT_DEFAULT: CaptureContent =
    CaptureContent::NoContent;

/// Every variable the crate reads, in the order of the crate documentation's table.
pub const ALL: &[&str] = &[
    OTEL_SERVICE_NAME,
    SERVICE_NAMESPACE,
    APP_VERSION,
    ENVIRONMENT,
    POD_NAME,
    POD_NAMESPACE,
    NODE_NAME,
    HOSTNAME,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG,
    OTEL_SAMPLING_RATE,
    OTEL_SDK_DISABLED,
    OTEL_TRACES_EXPORTER,
    OTEL_PROPAGATORS,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    OTEL_EXPORTER_OTLP_INSECURE,
    OTEL_EXPORTER_OTLP_TRACES_INSECURE,
    OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
    JAEGER_ENDPOINT,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_SCHEDULE_DELAY,
    OTEL_BSP_EXPORT_TIMEOUT,
    RUST_LOG,
    LOG_FORMAT,
    OTEL_METRICS_EXPORTER,
    OTEL_METRIC_EXPORT_INTERVAL,
    OCTOLLM_RUNTIME_METRICS,
    OCTOLLM_EXEMPLARS,
    OTEL_LOGS_EXPORTER,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
    OTEL_EXPORTER_OTLP_LOGS_HEADERS,
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
    OTEL_EXPORTER_OTLP_LOGS_COMPRESSION,
    OTEL_EXPORTER_OTLP_LOGS_INSECURE,
    OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY,
    OTEL_BLRP_MAX_QUEUE_SIZE,
    OTEL_BLRP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BLRP_SCHEDULE_DELAY,
    OTEL_BLRP_EXPORT_TIMEOUT,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS,
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
    OTEL_EXPORTER_OTLP_METRICS_INSECURE,
    OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY,
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
];
