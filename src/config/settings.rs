//! What one source said: the environment, or the code through the builder's setters. Every
//! field is optional; [`super::plan`] merges the two with the defaults.

use std::path::PathBuf;
use std::time::Duration;

use super::sampler::{Sampler, SamplerSource};
use super::values::{
    CaptureContent, Compression, Environment, LogFormat, LogsExporter, MetricsExporter, Protocol,
    TracesExporter,
};

/// A value with the name of the variable or setter it came from, so that an error about it
/// can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sourced<T> {
    pub(crate) value: T,
    pub(crate) from: &'static str,
}

impl<T> Sourced<T> {
    pub(crate) fn new(value: T, from: &'static str) -> Self {
        Self { value, from }
    }
}

/// Which context propagators are installed (`OTEL_PROPAGATORS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Propagators {
    pub(crate) trace_context: bool,
    pub(crate) baggage: bool,
}

impl Default for Propagators {
    fn default() -> Self {
        Self {
            trace_context: true,
            baggage: true,
        }
    }
}

/// The OTLP settings of one signal as one source gave them.
#[derive(Debug, Clone, Default)]
pub(crate) struct SignalSettings {
    pub(crate) protocol: Option<Protocol>,
    /// The signal-specific endpoint, used as it is.
    pub(crate) endpoint: Option<Sourced<String>>,
    pub(crate) insecure: Option<bool>,
    pub(crate) headers: Option<Headers>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) compression: Option<Compression>,
    /// The CA certificates to trust (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    pub(crate) certificate: Option<Sourced<PathBuf>>,
    /// The client certificate (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    pub(crate) client_certificate: Option<Sourced<PathBuf>>,
    /// The client key (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    pub(crate) client_key: Option<Sourced<PathBuf>>,
}

/// The batch span processor's limits as one source gave them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BatchOptions {
    pub(crate) max_queue_size: Option<usize>,
    pub(crate) max_export_batch_size: Option<usize>,
    pub(crate) schedule_delay: Option<Duration>,
    pub(crate) export_timeout: Option<Duration>,
}

/// Everything one source can say.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) service_namespace: Option<String>,
    pub(crate) service_instance_id: Option<String>,
    pub(crate) environment: Option<Environment>,
    pub(crate) k8s_attributes: Vec<(&'static str, String)>,
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) sampler: Option<(Sampler, SamplerSource)>,
    pub(crate) sdk_disabled: Option<bool>,
    pub(crate) traces_exporter: Option<TracesExporter>,
    pub(crate) metrics_exporter: Option<MetricsExporter>,
    pub(crate) metric_export_interval: Option<Sourced<Duration>>,
    pub(crate) runtime_metrics: Option<bool>,
    pub(crate) exemplars: Option<bool>,
    pub(crate) genai_content: Option<CaptureContent>,
    /// The base endpoint shared by the signals (`OTEL_EXPORTER_OTLP_ENDPOINT`, its
    /// `JAEGER_ENDPOINT` alias, or the `endpoint` setter).
    pub(crate) otlp_endpoint: Option<Sourced<String>>,
    pub(crate) traces: SignalSettings,
    pub(crate) metrics: SignalSettings,
    pub(crate) logs: SignalSettings,
    pub(crate) logs_exporter: Option<LogsExporter>,
    pub(crate) batch: BatchOptions,
    /// The batch log record processor's limits (`OTEL_BLRP_*`).
    pub(crate) log_batch: BatchOptions,
    pub(crate) propagators: Option<Propagators>,
    pub(crate) log_format: Option<LogFormat>,
    pub(crate) log_filter: Option<Sourced<String>>,
    pub(crate) shutdown_timeout: Option<Duration>,
    /// Whether code gave a span exporter (held by the configuration, not here).
    pub(crate) span_exporter: bool,
    /// Deprecation notices, logged once the subscriber is installed.
    pub(crate) warnings: Vec<String>,
}

/// OTLP request headers, as `(name, value)` pairs. Their values are credentials more often
/// than not, so `Debug` shows the names only, each value as `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Headers(pub(crate) Vec<(String, String)>);

impl Headers {
    /// The pairs, in order.
    #[cfg_attr(
        not(any(feature = "_otlp", test)),
        allow(dead_code, reason = "only the OTLP transports send headers")
    )]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Redacted;
        impl std::fmt::Debug for Redacted {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(crate::error::REDACTED)
            }
        }
        f.debug_map()
            .entries(self.0.iter().map(|(k, _)| (k, Redacted)))
            .finish()
    }
}
