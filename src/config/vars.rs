//! Names of every environment variable the crate reads.
//!
//! The crate resolves these itself, before it builds the OpenTelemetry SDK objects, so that a
//! malformed value is an error at start-up instead of a silent fallback. The table in the
//! [crate documentation](crate#environment-variables) says what each one does and its default.

/// `service.name` of the resource; beats `service.name` in [`OTEL_RESOURCE_ATTRIBUTES`].
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// `service.namespace`; default `octollm`.
pub const SERVICE_NAMESPACE: &str = "SERVICE_NAMESPACE";
/// `service.version`.
pub const APP_VERSION: &str = "APP_VERSION";
/// `dev`, `staging` or `prod` (`development` and `production` accepted); default `dev`.
pub const ENVIRONMENT: &str = "ENVIRONMENT";
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
/// Ratio of new root traces kept, 0.0–1.0, for `parentbased_traceidratio`.
pub const OTEL_SAMPLING_RATE: &str = "OTEL_SAMPLING_RATE";

/// `true` turns export off while keeping trace ids and propagation.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// `otlp`, `console` or `none`.
pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// `tracecontext`, `baggage`, `none`, comma-separated.
pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";
/// `grpc` or `http/protobuf` for all signals.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// `grpc` or `http/protobuf` for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// Base URL of the collector; `/v1/traces` is appended for HTTP.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Full URL for traces, used as it is.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// Request headers, `k=v,…`, percent-encoded.
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Request headers for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// Export timeout in milliseconds.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// Export timeout for traces in milliseconds.
pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// `gzip` or `none`.
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// `gzip` or `none` for traces.
pub const OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
/// `true`: a gRPC endpoint without a scheme is plain text (`http://`).
pub const OTEL_EXPORTER_OTLP_INSECURE: &str = "OTEL_EXPORTER_OTLP_INSECURE";
/// `true`: a traces gRPC endpoint without a scheme is plain text.
pub const OTEL_EXPORTER_OTLP_TRACES_INSECURE: &str = "OTEL_EXPORTER_OTLP_TRACES_INSECURE";
/// Deprecated alias of [`OTEL_EXPORTER_OTLP_ENDPOINT`], honoured with a warning.
pub const JAEGER_ENDPOINT: &str = "JAEGER_ENDPOINT";

/// Spans held in memory waiting for export; more are dropped and counted.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// Spans per export request.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// Milliseconds between two exports.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// Milliseconds one export may take before it is abandoned.
pub const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";

/// `tracing` filter directives; default `info`.
pub const RUST_LOG: &str = "RUST_LOG";
/// `json` or `pretty`; default `pretty` in dev, `json` in staging and prod.
pub const LOG_FORMAT: &str = "LOG_FORMAT";

/// `prometheus` (serve `/metrics`), `otlp` (push) or `none`; default `prometheus`.
pub const OTEL_METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
/// Milliseconds between two OTLP metric pushes; default 60000.
pub const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
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
