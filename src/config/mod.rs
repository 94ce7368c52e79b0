//! [`TelemetryConfig`]: what the environment and the code say, turned into one plan.
//!
//! `env.rs` reads the variables into [`Settings`], the setters below write the code's
//! [`Settings`], and `plan.rs` merges both with the defaults into the [`Plan`] that the
//! pipelines consume.

mod effective;
mod env;
pub(crate) mod log_filter;
mod otlp;
pub(crate) mod parse;
mod plan;
mod sampler;
mod settings;
mod values;
pub mod vars;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::MakeWriter;

pub use effective::Effective;
#[cfg(test)]
pub(crate) use otlp::Headers;
pub(crate) use otlp::OtlpSettings;
pub(crate) use plan::{
    BatchSettings, Identity, LogExportPlan, LogsExport, LogsPlan, MetricsPlan, Plan, TracesExport,
    TracesPlan,
};
pub(crate) use sampler::SamplerSource;
pub use sampler::{JaegerRemote, Sampler};
pub(crate) use settings::Propagators;
use settings::{Settings, Sourced};
pub use values::{
    CaptureContent, Compression, Environment, LogFormat, LogsExporter, MetricsExporter, Protocol,
    TracesExporter,
};

use crate::error::ConfigError;
use crate::user_exporter::UserExporter;
use parse::Vars;

/// The whole telemetry configuration: read it with [`TelemetryConfig::from_env`], adjust it
/// with the setters, then call [`TelemetryConfig::init`] (or [`TelemetryConfig::build`] to
/// install nothing globally).
///
/// # Precedence
///
/// For each setting: a value set in code wins over the environment, which wins over the
/// default. Two exceptions, both about identity, let operators rename a deployment without a
/// rebuild: the service name and version given in code are fallbacks used only when the
/// environment names none (see [`TelemetryConfig::service_name`] and
/// [`TelemetryConfig::service_version`]). Nothing is decided until [`init`](Self::init),
/// [`build`](Self::build) or [`effective`](Self::effective) resolves the whole configuration
/// at once, so the order of the setters does not matter.
///
/// # The resource
///
/// | attribute | source, first that is set |
/// |---|---|
/// | `service.name` | `OTEL_SERVICE_NAME`, `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, code, `unknown_service:<executable>` |
/// | `service.version` | `APP_VERSION`, `service.version` in `OTEL_RESOURCE_ATTRIBUTES`, code |
/// | `service.namespace` | code, `SERVICE_NAMESPACE`, `OTEL_RESOURCE_ATTRIBUTES`, `octollm` |
/// | `service.instance.id` | `POD_NAME`, `HOSTNAME`, `OTEL_RESOURCE_ATTRIBUTES`, a random UUID |
/// | `deployment.environment.name` and `deployment.environment` | code, `ENVIRONMENT`, `dev` |
/// | `k8s.pod.name`, `k8s.namespace.name`, `k8s.node.name` | `POD_NAME`, `POD_NAMESPACE`, `NODE_NAME` |
/// | any other key | code ([`resource_attribute`](Self::resource_attribute)), `OTEL_RESOURCE_ATTRIBUTES` |
///
/// ```no_run
/// # async fn run() -> Result<(), octollm_telemetry::InitError> {
/// use octollm_telemetry::TelemetryConfig;
///
/// let _guard = TelemetryConfig::from_env()?
///     .service_name("reflex-layer")
///     .service_version(env!("CARGO_PKG_VERSION"))
///     .init()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TelemetryConfig {
    env: Settings,
    code: Settings,
    /// The instance id when no variable names one: drawn once, so that every resolution of
    /// this configuration agrees.
    instance_id: String,
    log_writer: LogWriter,
    span_exporter: Option<UserExporter>,
}

impl TelemetryConfig {
    /// Reads every variable from the process environment.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first variable whose value is malformed, with the value
    /// and what is accepted; the others are in [`ConfigError::others`]. Empty values count
    /// as unset.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| {
            std::env::var_os(name).map(|v: OsString| {
                v.into_string()
                    .map_err(|v| v.to_string_lossy().into_owned())
            })
        })
    }

    /// Reads every variable from `vars` instead of the process environment, exactly as
    /// [`from_env`](Self::from_env) would: useful in tests and for services that keep their
    /// settings elsewhere.
    ///
    /// ```
    /// use octollm_telemetry::{Environment, TelemetryConfig};
    ///
    /// let config = TelemetryConfig::from_vars([("ENVIRONMENT", "production")]).unwrap();
    /// let effective = config.effective().unwrap();
    /// assert_eq!(effective.environment(), Environment::Prod);
    /// assert_eq!(effective.sampler().root_ratio(), 0.1);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: std::collections::HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_lookup(|name| map.get(name).cloned().map(Ok))
    }

    fn from_lookup(
        lookup: impl Fn(&str) -> Option<Result<String, String>>,
    ) -> Result<Self, ConfigError> {
        let mut reader = env::Reader::new(Vars::new(lookup));
        let env = env::read(&mut reader);
        // The invariants between variables, checked now: code has not changed anything yet.
        let none = Settings::default();
        reader.check(plan::batch(&env.batch, &none.batch, &plan::BSP));
        reader.check(plan::batch(&env.log_batch, &none.log_batch, &plan::BLRP));
        reader.check(plan::metric_export_interval(&env, &none));
        reader.finish()?;
        Ok(Self {
            env,
            code: none,
            instance_id: crate::context::random_uuid().to_string(),
            log_writer: LogWriter::default(),
            span_exporter: None,
        })
    }

    /// The configuration as [`init`](Self::init) will apply it, every rule and default
    /// applied: for a start-up report or a test.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for each setting that is invalid, the first in front.
    pub fn effective(&self) -> Result<Effective, ConfigError> {
        self.plan().map(Effective::new)
    }

    /// The plan, and what it leaves out: the log writer and a span exporter given in code.
    pub(crate) fn into_plan(
        self,
    ) -> Result<(Plan, Option<BoxMakeWriter>, Option<UserExporter>), ConfigError> {
        Ok((self.plan()?, self.log_writer.0, self.span_exporter))
    }

    pub(crate) fn plan(&self) -> Result<Plan, ConfigError> {
        plan::resolve(&self.env, &self.code, &self.instance_id)
    }

    // === identity ===

    /// The service name, typically `env!("CARGO_PKG_NAME")`.
    ///
    /// A fallback: `OTEL_SERVICE_NAME`, then `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, win
    /// over it so that operators can rename a deployment. Without any of them the name is
    /// `unknown_service:<executable>`.
    #[must_use]
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.code.service_name = Some(name.into());
        self
    }

    /// The service version, meant for `env!("CARGO_PKG_VERSION")`.
    ///
    /// A fallback: `APP_VERSION`, then `service.version` in `OTEL_RESOURCE_ATTRIBUTES`, win over
    /// it (an image tag set by the deployment is more precise than the crate version).
    #[must_use]
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.code.service_version = Some(version.into());
        self
    }

    /// The deployment environment. Wins over `ENVIRONMENT`; defaults to [`Environment::Dev`].
    #[must_use]
    pub fn environment(mut self, environment: Environment) -> Self {
        self.code.environment = Some(environment);
        self
    }

    /// The service namespace. Wins over `SERVICE_NAMESPACE`; defaults to `octollm`.
    #[must_use]
    pub fn service_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.code.service_namespace = Some(namespace.into());
        self
    }

    /// An extra resource attribute. Wins over the same key in `OTEL_RESOURCE_ATTRIBUTES`;
    /// the identity keys (`service.name`, `service.version`, `service.namespace`,
    /// `service.instance.id`, `deployment.environment*`) have their own setters and are not
    /// changed by this one.
    #[must_use]
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.code.resource.push((key.into(), value.into()));
        self
    }

    // === traces ===

    /// The sampler. Wins over `OTEL_TRACES_SAMPLER`/`_ARG` and `OTEL_SAMPLING_RATE`; defaults
    /// to `parentbased_traceidratio` with 1.0 in dev and 0.1 in staging and prod.
    #[must_use]
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.code.sampler = Some((sampler, SamplerSource::Code));
        self
    }

    /// Where spans go. Wins over `OTEL_TRACES_EXPORTER`; defaults to [`TracesExporter::Otlp`].
    #[must_use]
    pub fn traces_exporter(mut self, exporter: TracesExporter) -> Self {
        self.code.traces_exporter = Some(exporter);
        self
    }

    /// Spans go to `exporter` (any OpenTelemetry [`SpanExporter`]) through the crate's batch
    /// processor, with its bounded queue, drop counting and shutdown deadline, instead of the
    /// exporter `OTEL_TRACES_EXPORTER` names; for a backend of your own, or a test that checks
    /// what was exported. [`Effective::traces_exporter`] reports [`TracesExporter::Custom`].
    ///
    /// [`SpanExporter`]: opentelemetry_sdk::trace::SpanExporter
    #[must_use]
    pub fn span_exporter(
        mut self,
        exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
    ) -> Self {
        self.span_exporter = Some(UserExporter::new(exporter));
        self.code.span_exporter = true;
        self.code.traces_exporter = Some(TracesExporter::Custom);
        self
    }

    /// Spans held in memory for export; when it is full new spans are dropped and counted.
    /// Wins over `OTEL_BSP_MAX_QUEUE_SIZE`; defaults to 2048.
    #[must_use]
    pub fn max_queue_size(mut self, size: usize) -> Self {
        self.code.batch.max_queue_size = Some(size);
        self
    }

    /// Spans per export request, at most the queue size. Wins over
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`; defaults to 512, or the queue size when that is
    /// smaller.
    #[must_use]
    pub fn max_export_batch_size(mut self, size: usize) -> Self {
        self.code.batch.max_export_batch_size = Some(size);
        self
    }

    /// Time between two exports. Wins over `OTEL_BSP_SCHEDULE_DELAY`; defaults to 5 s.
    #[must_use]
    pub fn schedule_delay(mut self, delay: Duration) -> Self {
        self.code.batch.schedule_delay = Some(delay);
        self
    }

    // === OTLP, every signal ===

    /// The OTLP transport of traces, metrics and log records. Wins over
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` and the `_TRACES_`/`_METRICS_`/`_LOGS_` forms; defaults to
    /// [`Protocol::Grpc`] (or HTTP when only the `http-proto` feature is enabled).
    #[must_use]
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.code.traces.protocol = Some(protocol);
        self.code.metrics.protocol = Some(protocol);
        self.code.logs.protocol = Some(protocol);
        self
    }

    /// The collector's base URL (`http://otel-collector:4317`); for HTTP `/v1/traces`,
    /// `/v1/metrics` and `/v1/logs` are appended. Wins over `OTEL_EXPORTER_OTLP_ENDPOINT` and the
    /// signal-specific endpoints; defaults to `http://localhost:4317` (gRPC) or
    /// `http://localhost:4318` (HTTP).
    #[must_use]
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.code.otlp_endpoint = Some(Sourced::new(url.into(), "endpoint"));
        self
    }

    /// The OTLP request timeout of traces, metrics and log records. Wins over
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` and the `_TRACES_`/`_METRICS_`/`_LOGS_` forms; defaults to
    /// 10 s.
    #[must_use]
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.code.traces.timeout = Some(timeout);
        self.code.metrics.timeout = Some(timeout);
        self.code.logs.timeout = Some(timeout);
        self
    }

    /// OTLP request compression of traces, metrics and log records. Wins over
    /// `OTEL_EXPORTER_OTLP_COMPRESSION` and the `_TRACES_`/`_METRICS_`/`_LOGS_` forms; defaults
    /// to none.
    #[must_use]
    pub fn compression(mut self, compression: Compression) -> Self {
        self.code.traces.compression = Some(compression);
        self.code.metrics.compression = Some(compression);
        self.code.logs.compression = Some(compression);
        self
    }

    /// Request headers of every OTLP export (traces, metrics and log records), for example
    /// an API key read from a secret store. Wins over `OTEL_EXPORTER_OTLP_HEADERS` and its
    /// `_TRACES_`/`_METRICS_`/`_LOGS_` forms. Their values are never shown: `Debug` of the
    /// configuration prints `<redacted>`, and a header that cannot be sent (a name that is not
    /// an HTTP token, a value that is not printable ASCII) is an init error naming the header,
    /// never its value.
    ///
    /// ```
    /// let config = octollm_telemetry::TelemetryConfig::from_vars([("OTEL_SERVICE_NAME", "arm")])
    ///     .unwrap()
    ///     .headers([("api-key", "sk-live-123")]);
    /// assert!(!format!("{config:?}").contains("sk-live-123"));
    /// ```
    #[must_use]
    pub fn headers<K, V>(mut self, headers: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let headers = otlp::Headers(
            headers
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self.code.traces.headers = Some(headers.clone());
        self.code.metrics.headers = Some(headers.clone());
        self.code.logs.headers = Some(headers);
        self
    }

    /// Trust only the CA certificates in this PEM file when verifying the collector's
    /// certificate over `https://` (a private CA), for traces, metrics and log records. Wins
    /// over `OTEL_EXPORTER_OTLP_CERTIFICATE` and its `_TRACES_`/`_METRICS_`/`_LOGS_` forms; without it the
    /// system's roots are trusted. The file is read and checked when the configuration is
    /// resolved; it is not used for an `http://` endpoint (a warning says so).
    #[must_use]
    pub fn certificate(mut self, ca_pem: impl Into<PathBuf>) -> Self {
        let ca = Sourced::new(ca_pem.into(), "certificate");
        self.code.traces.certificate = Some(ca.clone());
        self.code.metrics.certificate = Some(ca.clone());
        self.code.logs.certificate = Some(ca);
        self
    }

    /// Present this client certificate (chain) and private key, both PEM files, to a
    /// collector that asks for one (mutual TLS), for traces, metrics and log records. Wins over
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` / `OTEL_EXPORTER_OTLP_CLIENT_KEY` and their
    /// `_TRACES_`/`_METRICS_`/`_LOGS_` forms. The key must be the certificate's (PKCS#8, PKCS#1 or
    /// SEC1); a mismatch is an error when the configuration is resolved.
    #[must_use]
    pub fn client_certificate(
        mut self,
        cert_pem: impl Into<PathBuf>,
        key_pem: impl Into<PathBuf>,
    ) -> Self {
        let cert = Sourced::new(cert_pem.into(), "client_certificate");
        let key = Sourced::new(key_pem.into(), "client_certificate");
        for signal in [
            &mut self.code.traces,
            &mut self.code.metrics,
            &mut self.code.logs,
        ] {
            signal.client_certificate = Some(cert.clone());
            signal.client_key = Some(key.clone());
        }
        self
    }

    // === metrics ===

    /// How metrics leave the process. Wins over `OTEL_METRICS_EXPORTER`; defaults to
    /// [`MetricsExporter::Prometheus`].
    #[must_use]
    pub fn metrics_exporter(mut self, exporter: MetricsExporter) -> Self {
        self.code.metrics_exporter = Some(exporter);
        self
    }

    /// Whether the process (`process.cpu.time`, `process.memory.usage`, …) and Tokio runtime
    /// (`tokio.workers`, `tokio.tasks.alive`, `tokio.global_queue.depth`) metrics are
    /// exported beside the HTTP metrics. Wins over `OCTOLLM_RUNTIME_METRICS`; defaults to on.
    /// They are read when the exporter collects, never on a timer of their own.
    #[must_use]
    pub fn runtime_metrics(mut self, enabled: bool) -> Self {
        self.code.runtime_metrics = Some(enabled);
        self
    }

    /// Whether sampled requests leave exemplars (trace id, span id, value, time) on the
    /// buckets of `http_server_request_duration_seconds`, served in the OpenMetrics format to
    /// a scraper that asks for it and pushed with the histogram's points over OTLP. Wins over
    /// `OCTOLLM_EXEMPLARS`; defaults to on.
    #[must_use]
    pub fn exemplars(mut self, enabled: bool) -> Self {
        self.code.exemplars = Some(enabled);
        self
    }

    /// What message content the GenAI instrumentation ([`crate::genai`]) captures. Wins over
    /// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`; defaults to none.
    #[must_use]
    pub fn genai_content(mut self, content: CaptureContent) -> Self {
        self.code.genai_content = Some(content);
        self
    }

    /// Time between two OTLP metric pushes. Wins over `OTEL_METRIC_EXPORT_INTERVAL`; defaults
    /// to 60 s.
    #[must_use]
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.code.metric_export_interval = Some(Sourced::new(interval, "metric_export_interval"));
        self
    }

    // === logs ===

    /// Where `tracing` events go besides the log lines on stdout: [`LogsExporter::Otlp`] adds
    /// OTLP log records (same endpoint rules as traces, `/v1/logs` for HTTP). Wins over
    /// `OTEL_LOGS_EXPORTER`; defaults to [`LogsExporter::None`].
    #[must_use]
    pub fn logs_exporter(mut self, exporter: LogsExporter) -> Self {
        self.code.logs_exporter = Some(exporter);
        self
    }

    /// The log line format. Wins over `LOG_FORMAT`; defaults to pretty in dev and JSON in
    /// staging and prod.
    #[must_use]
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.code.log_format = Some(format);
        self
    }

    /// `tracing` filter directives (as in `RUST_LOG`). Wins over `RUST_LOG`; defaults to
    /// `info`. The exporter's own crates stay at `warn` unless named here.
    #[must_use]
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.code.log_filter = Some(Sourced::new(directives.into(), "log_filter"));
        self
    }

    /// Where log lines are written (any `tracing_subscriber` [`MakeWriter`], written to as the
    /// event happens); defaults to stdout, which is what Kubernetes log collection reads,
    /// through a bounded buffer and a writer thread: a line costs a copy, not a `write` system
    /// call; the lines of 2 ms go out in one write; when stdout blocks and the buffer (16 MiB)
    /// is full new lines are dropped and counted
    /// (`octollm_telemetry_log_lines_dropped_total`); the guard's shutdown writes what is
    /// queued. No environment variable.
    #[must_use]
    pub fn log_writer<W>(mut self, make_writer: W) -> Self
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        self.log_writer = LogWriter(Some(BoxMakeWriter::new(make_writer)));
        self
    }

    // === lifecycle ===

    /// The deadline of [`TelemetryGuard::shutdown`](crate::TelemetryGuard::shutdown) and of
    /// the flush on drop. Defaults to 5 s.
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.code.shutdown_timeout = Some(timeout);
        self
    }
}

/// Where log lines are written: the writer given in code, else (`None`) stdout through the
/// crate's line queue.
#[derive(Default)]
struct LogWriter(Option<BoxMakeWriter>);

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogWriter")
    }
}

#[cfg(test)]
mod tests;
