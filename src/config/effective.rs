//! [`Effective`]: a read-only view of the resolved plan.

use super::plan::Plan;
use super::sampler::Sampler;
use super::values::{
    CaptureContent, Environment, LogFormat, LogsExporter, MetricsExporter, Protocol, TracesExporter,
};

/// The configuration with every default and rule applied, as
/// [`TelemetryConfig::init`](crate::TelemetryConfig::init) will install it; from
/// [`TelemetryConfig::effective`](crate::TelemetryConfig::effective).
///
/// ```
/// use octollm_telemetry::{Protocol, TelemetryConfig, TracesExporter};
///
/// let config = TelemetryConfig::from_vars([("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")])
///     .unwrap();
/// let effective = config.effective().unwrap();
/// assert_eq!(effective.traces_exporter(), TracesExporter::Otlp);
/// assert_eq!(effective.traces_protocol(), Some(Protocol::HttpProtobuf));
/// assert_eq!(effective.traces_endpoint(), Some("http://localhost:4318/v1/traces"));
/// ```
#[derive(Debug, Clone)]
pub struct Effective {
    plan: Plan,
}

impl Effective {
    pub(crate) fn new(plan: Plan) -> Self {
        Self { plan }
    }

    /// `service.name`.
    #[must_use]
    pub fn service_name(&self) -> &str {
        &self.plan.identity.service_name
    }

    /// `service.version`, if any source names one.
    #[must_use]
    pub fn service_version(&self) -> Option<&str> {
        self.plan.identity.service_version.as_deref()
    }

    /// `service.namespace`.
    #[must_use]
    pub fn service_namespace(&self) -> &str {
        &self.plan.identity.service_namespace
    }

    /// `service.instance.id`.
    #[must_use]
    pub fn service_instance_id(&self) -> &str {
        &self.plan.identity.service_instance_id
    }

    /// The deployment environment.
    #[must_use]
    pub fn environment(&self) -> Environment {
        self.plan.identity.environment
    }

    /// The sampler.
    #[must_use]
    pub fn sampler(&self) -> Sampler {
        self.plan.traces.sampler.clone()
    }

    /// Where spans go: [`TracesExporter::None`] when `OTEL_SDK_DISABLED=true`.
    #[must_use]
    pub fn traces_exporter(&self) -> TracesExporter {
        self.plan.traces.exporter()
    }

    /// The URL spans are sent to, when they go over OTLP.
    #[must_use]
    pub fn traces_endpoint(&self) -> Option<&str> {
        self.plan.traces.otlp().map(|o| o.endpoint.as_str())
    }

    /// The OTLP transport of spans, when they go over OTLP.
    #[must_use]
    pub fn traces_protocol(&self) -> Option<Protocol> {
        self.plan.traces.otlp().map(|o| o.protocol)
    }

    /// How metrics leave the process: [`MetricsExporter::None`] when `OTEL_SDK_DISABLED=true`.
    #[must_use]
    pub fn metrics_exporter(&self) -> MetricsExporter {
        self.plan.metrics.exporter()
    }

    /// The URL metrics are pushed to, when they go over OTLP.
    #[must_use]
    pub fn metrics_endpoint(&self) -> Option<&str> {
        self.plan.metrics.otlp().map(|o| o.endpoint.as_str())
    }

    /// The OTLP transport of metrics, when they go over OTLP.
    #[must_use]
    pub fn metrics_protocol(&self) -> Option<Protocol> {
        self.plan.metrics.otlp().map(|o| o.protocol)
    }

    /// The log line format.
    #[must_use]
    pub fn log_format(&self) -> LogFormat {
        self.plan.logs.format
    }

    /// The `tracing` filter directives, normalised.
    #[must_use]
    pub fn log_filter(&self) -> &str {
        &self.plan.logs.filter
    }

    /// Whether spans are exported over TLS (an `https://` endpoint).
    #[must_use]
    pub fn traces_tls(&self) -> bool {
        self.plan.traces.otlp().is_some_and(|o| o.tls.is_some())
    }

    /// Whether metrics are pushed over TLS (an `https://` endpoint).
    #[must_use]
    pub fn metrics_tls(&self) -> bool {
        self.plan.metrics.otlp().is_some_and(|o| o.tls.is_some())
    }

    /// The warnings `init` logs once the subscriber is installed: deprecated variables, and
    /// settings that are given but not used (certificate files for an `http://` endpoint).
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.plan.warnings
    }

    /// What message content the GenAI instrumentation captures.
    #[must_use]
    pub fn genai_content(&self) -> CaptureContent {
        self.plan.genai_content
    }

    /// Where `tracing` events go besides stdout.
    #[must_use]
    pub fn logs_exporter(&self) -> LogsExporter {
        self.plan.log_export.exporter()
    }

    /// The URL log records are sent to, when they are exported over OTLP.
    #[must_use]
    pub fn logs_endpoint(&self) -> Option<&str> {
        self.plan.log_export.otlp().map(|o| o.endpoint.as_str())
    }

    /// The logs' OTLP transport, when they are exported over OTLP.
    #[must_use]
    pub fn logs_protocol(&self) -> Option<Protocol> {
        self.plan.log_export.otlp().map(|o| o.protocol)
    }
}
