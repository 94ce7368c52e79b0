//! [`TelemetryConfig`]: everything `init_telemetry` needs, read from the environment and
//! adjusted in code.

mod otlp;
pub(crate) mod parse;
pub mod vars;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

pub(crate) use otlp::OtlpSignal;
pub(crate) use vars::*;

use crate::error::{ConfigError, InitError};
use crate::sampling::{self, Sampler, SamplerSource};
use parse::Vars;

/// The deployment environment, from `ENVIRONMENT`.
///
/// It selects the defaults that differ between a laptop and production: the sampling ratio
/// (1.0 in dev, 0.1 in staging and prod) and the log format (pretty in dev, JSON elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// `dev` (also `development`).
    Dev,
    /// `staging`.
    Staging,
    /// `prod` (also `production`).
    Prod,
}

impl Environment {
    /// The canonical name written to `deployment.environment.name`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "dev",
            Environment::Staging => "staging",
            Environment::Prod => "prod",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where spans go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracesExporter {
    /// OTLP to a collector (the default).
    Otlp,
    /// Human-readable spans on stderr, for a laptop without a collector.
    Console,
    /// Nowhere: spans and ids are still created and propagated.
    None,
}

impl TracesExporter {
    fn as_str(self) -> &'static str {
        match self {
            TracesExporter::Otlp => "otlp",
            TracesExporter::Console => "console",
            TracesExporter::None => "none",
        }
    }
}

/// How metrics leave the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsExporter {
    /// Served in the Prometheus text format by [`crate::metrics`] for a scrape (the default:
    /// the shipped Prometheus scrapes every service).
    Prometheus,
    /// Pushed over OTLP every `OTEL_METRIC_EXPORT_INTERVAL`.
    Otlp,
    /// Not exported (instruments are no-ops).
    None,
}

impl MetricsExporter {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MetricsExporter::Prometheus => "prometheus",
            MetricsExporter::Otlp => "otlp",
            MetricsExporter::None => "none",
        }
    }
}

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/gRPC, port 4317 (needs the `grpc` feature).
    Grpc,
    /// OTLP/HTTP with protobuf bodies, port 4318 (needs the `http-proto` feature).
    HttpProtobuf,
}

impl Protocol {
    /// The name used by `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }
}

impl Default for Protocol {
    fn default() -> Self {
        if cfg!(feature = "grpc") || !cfg!(feature = "http-proto") {
            Protocol::Grpc
        } else {
            Protocol::HttpProtobuf
        }
    }
}

/// Compression of OTLP requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression (the spec's default).
    #[default]
    None,
    /// gzip.
    Gzip,
}

/// The format of log lines on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line with `trace_id`/`span_id` (see [`crate::logs`]).
    Json,
    /// Human-readable lines for a terminal.
    Pretty,
}

/// The batch span processor's limits (`OTEL_BSP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSettings {
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
    pub(crate) schedule_delay: Duration,
    pub(crate) export_timeout: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            schedule_delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(30_000),
        }
    }
}

/// Which context propagators are installed (`OTEL_PROPAGATORS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Propagators {
    pub(crate) trace_context: bool,
    pub(crate) baggage: bool,
}

/// The whole telemetry configuration: read it with [`TelemetryConfig::from_env`], adjust it
/// with the setters, then call [`TelemetryConfig::init`].
///
/// # Precedence
///
/// For each setting: a value set in code wins over the environment, which wins over the
/// default. Two exceptions, both about identity, let operators rename a deployment without a
/// rebuild: the service name and version given in code are fallbacks used only when the
/// environment names none (see [`TelemetryConfig::service_name`] and
/// [`TelemetryConfig::service_version`]).
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
    pub(crate) service_name_env: Option<String>,
    pub(crate) service_name_code: Option<String>,
    pub(crate) service_version_env: Option<String>,
    pub(crate) service_version_code: Option<String>,
    pub(crate) service_namespace: String,
    pub(crate) service_instance_id: String,
    pub(crate) environment: Environment,
    pub(crate) k8s_attributes: Vec<(&'static str, String)>,
    pub(crate) resource_env: Vec<(String, String)>,
    pub(crate) resource_code: Vec<(String, String)>,
    pub(crate) sampler: Option<(Sampler, SamplerSource)>,
    pub(crate) sdk_disabled: bool,
    pub(crate) traces_exporter: TracesExporter,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (or the code's `endpoint`), shared by the signals.
    pub(crate) otlp_endpoint: Option<(String, &'static str)>,
    pub(crate) traces: OtlpSignal,
    pub(crate) metrics: OtlpSignal,
    pub(crate) metrics_exporter: MetricsExporter,
    pub(crate) metric_export_interval: Duration,
    pub(crate) batch: BatchSettings,
    pub(crate) propagators: Propagators,
    pub(crate) log_format: Option<LogFormat>,
    pub(crate) log_filter: String,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) log_writer: crate::logs::LogWriter,
    /// Whether the export batch size was chosen (else it follows the queue size).
    pub(crate) batch_size_set: bool,
    /// Deprecation notices, logged once the subscriber is installed.
    pub(crate) warnings: Vec<String>,
}

impl TelemetryConfig {
    /// Reads every variable from the process environment.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first variable whose value is malformed, with the value
    /// and what is accepted. Empty values count as unset.
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
    /// assert_eq!(config.effective_environment(), Environment::Prod);
    /// assert_eq!(config.effective_sampler().root_ratio(), 0.1);
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
        let map: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from_lookup(|name| map.get(name).cloned().map(Ok))
    }

    fn from_lookup(
        lookup: impl Fn(&str) -> Option<Result<String, String>>,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let mut warnings = Vec::new();

        let environment = match vars.get(ENVIRONMENT)? {
            None => Environment::Dev,
            Some(v) => parse::one_of(
                ENVIRONMENT,
                &v,
                &[
                    ("dev", Environment::Dev),
                    ("staging", Environment::Staging),
                    ("prod", Environment::Prod),
                    ("development", Environment::Dev),
                    ("production", Environment::Prod),
                ],
            )?,
        };

        let resource_env = match vars.get(OTEL_RESOURCE_ATTRIBUTES)? {
            Some(v) => parse::key_value_list(OTEL_RESOURCE_ATTRIBUTES, &v)?,
            None => Vec::new(),
        };
        let from_resource = |key: &str| {
            resource_env
                .iter()
                .rev()
                .find(|(k, v)| k == key && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let service_name_env = vars
            .get(OTEL_SERVICE_NAME)?
            .or_else(|| from_resource("service.name"));
        let service_version_env = vars
            .get(APP_VERSION)?
            .or_else(|| from_resource("service.version"));
        let service_namespace = vars
            .get(SERVICE_NAMESPACE)?
            .or_else(|| from_resource("service.namespace"))
            .unwrap_or_else(|| "octollm".to_owned());
        let pod_name = vars.get(POD_NAME)?;
        let service_instance_id = match (&pod_name, vars.get(HOSTNAME)?) {
            (Some(pod), _) => pod.clone(),
            (None, Some(host)) => host,
            (None, None) => from_resource("service.instance.id")
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        };
        let mut k8s_attributes = Vec::new();
        for (key, value) in [
            ("k8s.pod.name", pod_name),
            ("k8s.namespace.name", vars.get(POD_NAMESPACE)?),
            ("k8s.node.name", vars.get(NODE_NAME)?),
        ] {
            if let Some(v) = value {
                k8s_attributes.push((key, v));
            }
        }

        let sampler = sampling::from_vars(&vars)?;

        let sdk_disabled = match vars.get(OTEL_SDK_DISABLED)? {
            Some(v) => parse::boolean(OTEL_SDK_DISABLED, &v)?,
            None => false,
        };
        let traces_exporter = match vars.get(OTEL_TRACES_EXPORTER)? {
            Some(v) => parse::one_of(
                OTEL_TRACES_EXPORTER,
                &v,
                &[
                    ("otlp", TracesExporter::Otlp),
                    ("console", TracesExporter::Console),
                    ("none", TracesExporter::None),
                ],
            )?,
            None => TracesExporter::Otlp,
        };
        let propagators = match vars.get(OTEL_PROPAGATORS)? {
            Some(v) => parse_propagators(&v)?,
            None => Propagators {
                trace_context: true,
                baggage: true,
            },
        };

        let traces = OtlpSignal::from_vars(&vars, &otlp::TRACES)?;
        let metrics = OtlpSignal::from_vars(&vars, &otlp::METRICS)?;
        let mut otlp_endpoint = vars
            .get(OTEL_EXPORTER_OTLP_ENDPOINT)?
            .map(|v| (v, OTEL_EXPORTER_OTLP_ENDPOINT));
        if let Some(jaeger) = vars.get(JAEGER_ENDPOINT)? {
            if otlp_endpoint.is_none() && traces.endpoint.is_none() {
                warnings.push(format!(
                    "{JAEGER_ENDPOINT} is deprecated: set {OTEL_EXPORTER_OTLP_ENDPOINT} instead \
                     (using {jaeger:?} as the OTLP endpoint)"
                ));
                otlp_endpoint = Some((jaeger, JAEGER_ENDPOINT));
            } else {
                warnings.push(format!(
                    "{JAEGER_ENDPOINT} is deprecated and ignored because an OTEL_EXPORTER_OTLP_* endpoint is set"
                ));
            }
        }
        let metrics_exporter = match vars.get(OTEL_METRICS_EXPORTER)? {
            Some(v) => parse::one_of(
                OTEL_METRICS_EXPORTER,
                &v,
                &[
                    ("prometheus", MetricsExporter::Prometheus),
                    ("otlp", MetricsExporter::Otlp),
                    ("none", MetricsExporter::None),
                ],
            )?,
            None => MetricsExporter::Prometheus,
        };
        let metric_export_interval = match vars.get(OTEL_METRIC_EXPORT_INTERVAL)? {
            Some(v) => match parse::millis(OTEL_METRIC_EXPORT_INTERVAL, &v)? {
                d if d.is_zero() => {
                    return Err(ConfigError::new(
                        OTEL_METRIC_EXPORT_INTERVAL,
                        v,
                        "a whole number of milliseconds greater than 0",
                    ))
                }
                d => d,
            },
            None => Duration::from_millis(60_000),
        };

        let mut batch = BatchSettings::default();
        if let Some(v) = vars.get(OTEL_BSP_MAX_QUEUE_SIZE)? {
            batch.max_queue_size = parse::positive(OTEL_BSP_MAX_QUEUE_SIZE, &v)?;
        }
        let batch_size_set = match vars.get(OTEL_BSP_MAX_EXPORT_BATCH_SIZE)? {
            Some(v) => {
                batch.max_export_batch_size = parse::positive(OTEL_BSP_MAX_EXPORT_BATCH_SIZE, &v)?;
                true
            }
            None => false,
        };
        batch = effective_batch(batch, batch_size_set);
        if let Some(v) = vars.get(OTEL_BSP_SCHEDULE_DELAY)? {
            batch.schedule_delay = parse::millis(OTEL_BSP_SCHEDULE_DELAY, &v)?;
        }
        if let Some(v) = vars.get(OTEL_BSP_EXPORT_TIMEOUT)? {
            batch.export_timeout = parse::millis(OTEL_BSP_EXPORT_TIMEOUT, &v)?;
        }
        validate_batch(&batch)?;

        let log_format = match vars.get(LOG_FORMAT)? {
            Some(v) => Some(parse::one_of(
                LOG_FORMAT,
                &v,
                &[("json", LogFormat::Json), ("pretty", LogFormat::Pretty)],
            )?),
            None => None,
        };
        let log_filter = vars.get(RUST_LOG)?.unwrap_or_else(|| "info".to_owned());
        crate::logs::validate_filter(RUST_LOG, &log_filter)?;

        Ok(Self {
            service_name_env,
            service_name_code: None,
            service_version_env,
            service_version_code: None,
            service_namespace,
            service_instance_id,
            environment,
            k8s_attributes,
            resource_env,
            resource_code: Vec::new(),
            sampler,
            sdk_disabled,
            traces_exporter,
            otlp_endpoint,
            traces,
            metrics,
            metrics_exporter,
            metric_export_interval,
            batch,
            propagators,
            log_format,
            log_filter,
            shutdown_timeout: Duration::from_secs(5),
            log_writer: crate::logs::LogWriter::default(),
            batch_size_set,
            warnings,
        })
    }

    // === setters ===

    /// The service name, typically `env!("CARGO_PKG_NAME")`.
    ///
    /// A fallback: `OTEL_SERVICE_NAME`, then `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, win
    /// over it so that operators can rename a deployment. Without any of them the name is
    /// `unknown_service:<executable>`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name_code = Some(name.into());
        self
    }

    /// The service version, meant for `env!("CARGO_PKG_VERSION")`.
    ///
    /// A fallback: `APP_VERSION`, then `service.version` in `OTEL_RESOURCE_ATTRIBUTES`, win over
    /// it (an image tag set by the deployment is more precise than the crate version).
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version_code = Some(version.into());
        self
    }

    /// The deployment environment. Wins over `ENVIRONMENT`; defaults to [`Environment::Dev`].
    pub fn environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// The service namespace. Wins over `SERVICE_NAMESPACE`; defaults to `octollm`.
    pub fn service_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.service_namespace = namespace.into();
        self
    }

    /// An extra resource attribute. Wins over the same key in `OTEL_RESOURCE_ATTRIBUTES`;
    /// the identity keys (`service.name`, `service.version`, `service.namespace`,
    /// `service.instance.id`, `deployment.environment*`) have their own setters and are not
    /// changed by this one.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource_code.push((key.into(), value.into()));
        self
    }

    /// The sampler. Wins over `OTEL_TRACES_SAMPLER`/`_ARG` and `OTEL_SAMPLING_RATE`; defaults
    /// to `parentbased_traceidratio` with 1.0 in dev and 0.1 in staging and prod.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some((sampler, SamplerSource::Code));
        self
    }

    /// Where spans go. Wins over `OTEL_TRACES_EXPORTER`; defaults to [`TracesExporter::Otlp`].
    pub fn traces_exporter(mut self, exporter: TracesExporter) -> Self {
        self.traces_exporter = exporter;
        self
    }

    /// The OTLP transport. Wins over `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`; defaults to
    /// [`Protocol::Grpc`] (or HTTP when only the `http-proto` feature is enabled).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.traces.protocol = protocol;
        self.metrics.protocol = protocol;
        self
    }

    /// The collector's base URL (`http://otel-collector:4317`); for HTTP `/v1/traces` is
    /// appended. Wins over `OTEL_EXPORTER_OTLP_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; defaults to `http://localhost:4317` (gRPC) or
    /// `http://localhost:4318/v1/traces` (HTTP).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp_endpoint = Some((url.into(), "endpoint"));
        self.traces.endpoint = None;
        self.metrics.endpoint = None;
        self
    }

    /// The OTLP export timeout. Wins over `OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT`; defaults to
    /// 10 s.
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.traces.timeout = timeout;
        self.metrics.timeout = timeout;
        self
    }

    /// OTLP request compression. Wins over `OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION`;
    /// defaults to none.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.traces.compression = compression;
        self.metrics.compression = compression;
        self
    }

    /// Spans held in memory for export; when it is full new spans are dropped and counted.
    /// Wins over `OTEL_BSP_MAX_QUEUE_SIZE`; defaults to 2048.
    pub fn max_queue_size(mut self, size: usize) -> Self {
        self.batch.max_queue_size = size;
        if !self.batch_size_set {
            self.batch.max_export_batch_size = BatchSettings::default().max_export_batch_size;
            self.batch = effective_batch(self.batch, false);
        }
        self
    }

    /// Spans per export request, at most the queue size. Wins over
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`; defaults to 512, or the queue size when that is
    /// smaller.
    pub fn max_export_batch_size(mut self, size: usize) -> Self {
        self.batch.max_export_batch_size = size;
        self.batch_size_set = true;
        self
    }

    /// Time between two exports. Wins over `OTEL_BSP_SCHEDULE_DELAY`; defaults to 5 s.
    pub fn schedule_delay(mut self, delay: Duration) -> Self {
        self.batch.schedule_delay = delay;
        self
    }

    /// The log line format. Wins over `LOG_FORMAT`; defaults to pretty in dev and JSON in
    /// staging and prod.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = Some(format);
        self
    }

    /// `tracing` filter directives (as in `RUST_LOG`). Wins over `RUST_LOG`; defaults to
    /// `info`. The exporter's own crates stay at `warn` unless named here.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = directives.into();
        self
    }

    /// The deadline of [`TelemetryGuard::shutdown`](crate::TelemetryGuard::shutdown) and of
    /// the flush on drop. Defaults to 5 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    // === effective values ===

    /// The effective service name.
    pub fn effective_service_name(&self) -> String {
        self.service_name_env
            .clone()
            .or_else(|| self.service_name_code.clone())
            .unwrap_or_else(|| {
                let exe = std::env::current_exe()
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_default();
                format!("unknown_service:{exe}")
            })
    }

    /// The effective service version, if any.
    pub fn effective_service_version(&self) -> Option<&str> {
        self.service_version_env
            .as_deref()
            .or(self.service_version_code.as_deref())
    }

    /// The deployment environment.
    pub fn effective_environment(&self) -> Environment {
        self.environment
    }

    /// The effective sampler.
    pub fn effective_sampler(&self) -> Sampler {
        self.sampler_with_source().0
    }

    pub(crate) fn sampler_with_source(&self) -> (Sampler, SamplerSource) {
        self.sampler.unwrap_or((
            Sampler::default_for(self.environment),
            SamplerSource::EnvironmentDefault,
        ))
    }

    /// The effective log format.
    pub fn effective_log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(match self.environment {
            Environment::Dev => LogFormat::Pretty,
            Environment::Staging | Environment::Prod => LogFormat::Json,
        })
    }

    /// Where traces are exported: [`TracesExporter::None`] when `OTEL_SDK_DISABLED=true`.
    pub fn effective_traces_exporter(&self) -> TracesExporter {
        if self.sdk_disabled {
            TracesExporter::None
        } else {
            self.traces_exporter
        }
    }

    /// The OTLP transport of traces.
    pub fn effective_protocol(&self) -> Protocol {
        self.traces.protocol
    }

    /// The URL spans are sent to, following the spec's rules: the traces endpoint as it is,
    /// else the base endpoint (+ `/v1/traces` for HTTP), else the protocol's default. A gRPC
    /// endpoint without a scheme is `https://` unless `OTEL_EXPORTER_OTLP_INSECURE=true`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the variable when the result is not an `http(s)` URL.
    pub fn traces_endpoint(&self) -> Result<String, ConfigError> {
        self.traces.url(self.otlp_endpoint.as_ref())
    }

    /// The URL metrics are pushed to with `OTEL_METRICS_EXPORTER=otlp` (rules as for
    /// [`traces_endpoint`](Self::traces_endpoint), with `/v1/metrics`).
    ///
    /// # Errors
    ///
    /// As [`traces_endpoint`](Self::traces_endpoint).
    pub fn metrics_endpoint(&self) -> Result<String, ConfigError> {
        self.metrics.url(self.otlp_endpoint.as_ref())
    }

    /// How metrics leave the process.
    pub fn effective_metrics_exporter(&self) -> MetricsExporter {
        if self.sdk_disabled {
            MetricsExporter::None
        } else {
            self.metrics_exporter
        }
    }

    /// How metrics leave the process. Wins over `OTEL_METRICS_EXPORTER`; defaults to
    /// [`MetricsExporter::Prometheus`].
    pub fn metrics_exporter(mut self, exporter: MetricsExporter) -> Self {
        self.metrics_exporter = exporter;
        self
    }

    /// Time between two OTLP metric pushes. Wins over `OTEL_METRIC_EXPORT_INTERVAL`; defaults
    /// to 60 s.
    pub fn metric_export_interval(mut self, interval: Duration) -> Self {
        self.metric_export_interval = interval;
        self
    }

    /// Where log lines are written (any `tracing_subscriber` [`MakeWriter`]); defaults to
    /// stdout, which is what Kubernetes log collection reads. No environment variable.
    ///
    /// [`MakeWriter`]: tracing_subscriber::fmt::MakeWriter
    pub fn log_writer<W>(mut self, make_writer: W) -> Self
    where
        W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
    {
        self.log_writer = crate::logs::LogWriter::new(make_writer);
        self
    }

    /// Builds the pipelines and installs them; see [`crate::init_telemetry`].
    ///
    /// # Errors
    ///
    /// [`InitError::Config`] for a setting made invalid in code, [`InitError::AlreadyInitialized`]
    /// on a second call, [`InitError::SubscriberAlreadySet`] when another global subscriber
    /// exists, [`InitError::Exporter`] when the exporter cannot be built.
    pub async fn init(self) -> Result<crate::TelemetryGuard, InitError> {
        crate::init::init(self).await
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        validate_batch(&self.batch)?;
        self.sampler_with_source().0.validate("sampler")?;
        crate::logs::validate_filter("log_filter", &self.log_filter)?;
        if self.effective_traces_exporter() == TracesExporter::Otlp {
            self.traces_endpoint()?;
        }
        if self.effective_metrics_exporter() == MetricsExporter::Otlp {
            self.metrics_endpoint()?;
        }
        if self.metric_export_interval.is_zero() {
            return Err(ConfigError::new(
                "metric_export_interval",
                "0",
                "a duration greater than 0",
            ));
        }
        Ok(())
    }

    pub(crate) fn traces_exporter_name(&self) -> &'static str {
        self.effective_traces_exporter().as_str()
    }
}

/// An unset batch size follows a smaller queue size, as the specification asks.
fn effective_batch(mut batch: BatchSettings, batch_size_set: bool) -> BatchSettings {
    if !batch_size_set {
        batch.max_export_batch_size = batch.max_export_batch_size.min(batch.max_queue_size);
    }
    batch
}

fn validate_batch(batch: &BatchSettings) -> Result<(), ConfigError> {
    if batch.max_queue_size == 0 {
        return Err(ConfigError::new(
            OTEL_BSP_MAX_QUEUE_SIZE,
            "0",
            "a whole number greater than 0",
        ));
    }
    if batch.max_export_batch_size > batch.max_queue_size {
        return Err(ConfigError::new(
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
            batch.max_export_batch_size.to_string(),
            format!(
                "a whole number from 1 to {OTEL_BSP_MAX_QUEUE_SIZE} ({})",
                batch.max_queue_size
            ),
        ));
    }
    if batch.max_export_batch_size == 0 {
        return Err(ConfigError::new(
            OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
            "0",
            "a whole number greater than 0",
        ));
    }
    Ok(())
}

fn parse_propagators(value: &str) -> Result<Propagators, ConfigError> {
    let mut p = Propagators {
        trace_context: false,
        baggage: false,
    };
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.to_ascii_lowercase().as_str() {
            "tracecontext" => p.trace_context = true,
            "baggage" => p.baggage = true,
            "none" => {}
            _ => {
                return Err(ConfigError::new(
                    OTEL_PROPAGATORS,
                    value,
                    "a comma-separated list of tracecontext, baggage, none",
                ))
            }
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests;
