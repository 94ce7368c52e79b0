//! The resolved plan: every default, precedence rule and invariant, in one place.
//!
//! Precedence is default < environment < code, except the service name and version, for
//! which the environment wins and code is the fallback (operators rename a deployment without
//! a rebuild). Each pipeline takes only its slice of the [`Plan`].
//!
//! A slice is named after its field of the plan (`traces: TracesPlan`, `metrics: MetricsPlan`,
//! `logs: LogsPlan`, `log_export: LogExportPlan`); where a signal goes is `<Signal>Export`
//! (`TracesExport`, `LogsExport`; the metric slice is that choice itself).

use std::time::Duration;

use super::log_filter;
use super::otlp::{OtlpSettings, LOGS, METRICS, TRACES};
use super::sampler::{Sampler, SamplerSource};
use super::settings::{BatchOptions, Propagators, Settings, Sourced};
use super::values::{
    CaptureContent, Environment, LogFormat, LogsExporter, MetricsExporter, TracesExporter,
};
#[allow(
    clippy::wildcard_imports,
    reason = "the variable names and their defaults"
)]
use super::vars::*;
use crate::error::ConfigError;

/// The deadline of the guard's shutdown when code sets none.
pub(crate) const SHUTDOWN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);

/// Everything `init` builds, decided.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) identity: Identity,
    pub(crate) sampler_source: SamplerSource,
    pub(crate) traces: TracesPlan,
    pub(crate) metrics: MetricsPlan,
    /// Whether the process and Tokio runtime instruments are registered.
    pub(crate) runtime_metrics: bool,
    /// Whether sampled requests leave exemplars for the Prometheus endpoint.
    pub(crate) exemplars: bool,
    /// What message content the GenAI instrumentation captures.
    pub(crate) genai_content: CaptureContent,
    pub(crate) logs: LogsPlan,
    /// Where `tracing` events go besides the log lines.
    pub(crate) log_export: LogExportPlan,
    pub(crate) propagators: Propagators,
    pub(crate) sdk_disabled: bool,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) warnings: Vec<String>,
}

/// Who emits the telemetry: the resource's slice.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) service_name: String,
    pub(crate) service_version: Option<String>,
    pub(crate) service_namespace: String,
    pub(crate) service_instance_id: String,
    pub(crate) environment: Environment,
    pub(crate) k8s_attributes: Vec<(&'static str, String)>,
    /// Extra attributes, the environment's first, then the code's (later ones win).
    pub(crate) attributes: Vec<(String, String)>,
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
            max_queue_size: OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT,
            max_export_batch_size: OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT,
            schedule_delay: OTEL_BSP_SCHEDULE_DELAY_DEFAULT,
            export_timeout: OTEL_BSP_EXPORT_TIMEOUT_DEFAULT,
        }
    }
}

/// Where spans go.
#[derive(Debug, Clone)]
pub(crate) enum TracesExport {
    None,
    Console,
    /// The exporter given in code.
    Custom,
    Otlp(OtlpSettings),
}

/// The traces pipeline's slice.
#[derive(Debug, Clone)]
pub(crate) struct TracesPlan {
    pub(crate) sampler: Sampler,
    pub(crate) export: TracesExport,
    pub(crate) batch: BatchSettings,
}

/// The metrics pipeline's slice.
#[derive(Debug, Clone)]
pub(crate) enum MetricsPlan {
    None,
    Prometheus,
    Otlp {
        otlp: OtlpSettings,
        interval: Duration,
    },
}

/// Where log records go besides stdout.
#[derive(Debug, Clone)]
pub(crate) enum LogsExport {
    None,
    Console,
    Otlp(OtlpSettings),
}

/// The log record pipeline's slice (`OTEL_LOGS_EXPORTER`).
#[derive(Debug, Clone)]
pub(crate) struct LogExportPlan {
    pub(crate) export: LogsExport,
    pub(crate) batch: BatchSettings,
}

impl LogExportPlan {
    pub(crate) fn exporter(&self) -> LogsExporter {
        match self.export {
            LogsExport::None => LogsExporter::None,
            LogsExport::Console => LogsExporter::Console,
            LogsExport::Otlp(_) => LogsExporter::Otlp,
        }
    }

    pub(crate) fn otlp(&self) -> Option<&OtlpSettings> {
        match &self.export {
            LogsExport::Otlp(otlp) => Some(otlp),
            _ => None,
        }
    }
}

/// The names and defaults of one batch processor's variables.
pub(crate) struct BatchVars {
    queue: &'static str,
    batch: &'static str,
    queue_default: usize,
    batch_default: usize,
    delay_default: Duration,
    timeout_default: Duration,
}

/// `OTEL_BSP_*`.
pub(crate) const BSP: BatchVars = BatchVars {
    queue: OTEL_BSP_MAX_QUEUE_SIZE,
    batch: OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    queue_default: OTEL_BSP_MAX_QUEUE_SIZE_DEFAULT,
    batch_default: OTEL_BSP_MAX_EXPORT_BATCH_SIZE_DEFAULT,
    delay_default: OTEL_BSP_SCHEDULE_DELAY_DEFAULT,
    timeout_default: OTEL_BSP_EXPORT_TIMEOUT_DEFAULT,
};

/// `OTEL_BLRP_*`.
pub(crate) const BLRP: BatchVars = BatchVars {
    queue: OTEL_BLRP_MAX_QUEUE_SIZE,
    batch: OTEL_BLRP_MAX_EXPORT_BATCH_SIZE,
    queue_default: OTEL_BLRP_MAX_QUEUE_SIZE_DEFAULT,
    batch_default: OTEL_BLRP_MAX_EXPORT_BATCH_SIZE_DEFAULT,
    delay_default: OTEL_BLRP_SCHEDULE_DELAY_DEFAULT,
    timeout_default: OTEL_BLRP_EXPORT_TIMEOUT_DEFAULT,
};

/// The logs pipeline's slice.
#[derive(Debug, Clone)]
pub(crate) struct LogsPlan {
    pub(crate) format: LogFormat,
    /// Normalised filter directives.
    pub(crate) filter: String,
    pub(crate) service_name: String,
}

impl TracesPlan {
    pub(crate) fn exporter(&self) -> TracesExporter {
        match self.export {
            TracesExport::None => TracesExporter::None,
            TracesExport::Console => TracesExporter::Console,
            TracesExport::Custom => TracesExporter::Custom,
            TracesExport::Otlp(_) => TracesExporter::Otlp,
        }
    }

    pub(crate) fn otlp(&self) -> Option<&OtlpSettings> {
        match &self.export {
            TracesExport::Otlp(otlp) => Some(otlp),
            _ => None,
        }
    }
}

impl MetricsPlan {
    pub(crate) fn exporter(&self) -> MetricsExporter {
        match self {
            MetricsPlan::None => MetricsExporter::None,
            MetricsPlan::Prometheus => MetricsExporter::Prometheus,
            MetricsPlan::Otlp { .. } => MetricsExporter::Otlp,
        }
    }

    pub(crate) fn otlp(&self) -> Option<&OtlpSettings> {
        match self {
            MetricsPlan::Otlp { otlp, .. } => Some(otlp),
            _ => None,
        }
    }
}

/// The sampler code or the environment chose, else the environment's default, checked.
fn sampler(
    env: &Settings,
    code: &Settings,
    environment: Environment,
    keep: &mut impl FnMut(ConfigError),
) -> (Sampler, SamplerSource) {
    let chosen = code
        .sampler
        .clone()
        .or_else(|| env.sampler.clone())
        .unwrap_or((
            Sampler::default_for(environment),
            SamplerSource::EnvironmentDefault,
        ));
    if let Err(e) = chosen.0.validate("sampler") {
        keep(e);
    }
    chosen
}

/// Merges what the environment and code said with the defaults, checking every invariant and
/// reporting every error at once. `instance_id` is the instance id used when no source names
/// one (drawn once per configuration, so that every resolution agrees).
pub(crate) fn resolve(
    env: &Settings,
    code: &Settings,
    instance_id: &str,
) -> Result<Plan, ConfigError> {
    let mut errors = Vec::new();
    let mut keep = |e: ConfigError| errors.push(e);
    let identity = identity(env, code, instance_id);
    let environment = identity.environment;
    let (sampler, sampler_source) = sampler(env, code, environment, &mut keep);
    let sdk_disabled = env.sdk_disabled.unwrap_or(OTEL_SDK_DISABLED_DEFAULT);
    let span_batch = batch(&env.batch, &code.batch, &BSP)
        .map_err(&mut keep)
        .unwrap_or_default();
    let log_batch = batch(&env.log_batch, &code.log_batch, &BLRP)
        .map_err(&mut keep)
        .unwrap_or_default();
    let mut warnings = env.warnings.clone();
    let traces = traces(env, code, sdk_disabled, &mut warnings)
        .map_err(&mut keep)
        .unwrap_or(TracesExport::None);
    let metrics = metrics(env, code, sdk_disabled, &mut warnings)
        .map_err(&mut keep)
        .unwrap_or(MetricsPlan::None);
    let log_export = log_export(env, code, sdk_disabled, &mut warnings)
        .map_err(&mut keep)
        .unwrap_or(LogsExport::None);
    let filter = match &code.log_filter {
        Some(code_filter) => log_filter::parse("log_filter", &code_filter.value)
            .map_err(&mut keep)
            .unwrap_or_default(),
        None => env
            .log_filter
            .as_ref()
            .map_or_else(|| RUST_LOG_DEFAULT.to_owned(), |f| f.value.clone()),
    };
    let logs = LogsPlan {
        format: code
            .log_format
            .or(env.log_format)
            .unwrap_or(match environment {
                Environment::Dev => LOG_FORMAT_DEFAULT_DEV,
                Environment::Staging | Environment::Prod => LOG_FORMAT_DEFAULT,
            }),
        filter,
        service_name: identity.service_name.clone(),
    };
    ConfigError::all(errors)?;
    Ok(Plan {
        identity,
        sampler_source,
        traces: TracesPlan {
            sampler,
            export: traces,
            batch: span_batch,
        },
        metrics,
        runtime_metrics: code
            .runtime_metrics
            .or(env.runtime_metrics)
            .unwrap_or(OCTOLLM_RUNTIME_METRICS_DEFAULT),
        exemplars: code
            .exemplars
            .or(env.exemplars)
            .unwrap_or(OCTOLLM_EXEMPLARS_DEFAULT),
        genai_content: code
            .genai_content
            .or(env.genai_content)
            .unwrap_or(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT_DEFAULT),
        logs,
        log_export: LogExportPlan {
            export: log_export,
            batch: log_batch,
        },
        propagators: code.propagators.or(env.propagators).unwrap_or_default(),
        sdk_disabled,
        shutdown_timeout: code.shutdown_timeout.unwrap_or(SHUTDOWN_TIMEOUT_DEFAULT),
        warnings: {
            // A generic variable is used by both signals: say so once.
            let mut seen = std::collections::HashSet::new();
            warnings.retain(|w| seen.insert(w.clone()));
            warnings
        },
    })
}

fn identity(env: &Settings, code: &Settings, instance_id: &str) -> Identity {
    let service_name = env
        .service_name
        .clone()
        .or_else(|| code.service_name.clone())
        .unwrap_or_else(|| {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_default();
            format!("unknown_service:{exe}")
        });
    Identity {
        service_name,
        service_version: env
            .service_version
            .clone()
            .or_else(|| code.service_version.clone()),
        service_namespace: code
            .service_namespace
            .clone()
            .or_else(|| env.service_namespace.clone())
            .unwrap_or_else(|| SERVICE_NAMESPACE_DEFAULT.to_owned()),
        service_instance_id: env
            .service_instance_id
            .clone()
            .unwrap_or_else(|| instance_id.to_owned()),
        environment: code
            .environment
            .or(env.environment)
            .unwrap_or(ENVIRONMENT_DEFAULT),
        k8s_attributes: env.k8s_attributes.clone(),
        attributes: env.resource.iter().chain(&code.resource).cloned().collect(),
    }
}

/// The batch limits of the variables `names`. An unset batch size follows a smaller queue
/// size, as the specification asks; a batch larger than the queue is an error.
pub(crate) fn batch(
    env: &BatchOptions,
    code: &BatchOptions,
    names: &BatchVars,
) -> Result<BatchSettings, ConfigError> {
    let max_queue_size = code
        .max_queue_size
        .or(env.max_queue_size)
        .unwrap_or(names.queue_default);
    let max_export_batch_size = code
        .max_export_batch_size
        .or(env.max_export_batch_size)
        .unwrap_or(names.batch_default.min(max_queue_size));
    let positive = |name, n: usize| match n {
        0 => Err(ConfigError::new(name, "0", "a whole number greater than 0")),
        _ => Ok(()),
    };
    positive(names.queue, max_queue_size)?;
    positive(names.batch, max_export_batch_size)?;
    if max_export_batch_size > max_queue_size {
        return Err(ConfigError::new(
            names.batch,
            max_export_batch_size.to_string(),
            format!(
                "a whole number from 1 to {} ({max_queue_size})",
                names.queue
            ),
        ));
    }
    Ok(BatchSettings {
        max_queue_size,
        max_export_batch_size,
        schedule_delay: code
            .schedule_delay
            .or(env.schedule_delay)
            .unwrap_or(names.delay_default),
        export_timeout: code
            .export_timeout
            .or(env.export_timeout)
            .unwrap_or(names.timeout_default),
    })
}

/// The OTLP metric push interval, greater than zero.
pub(crate) fn metric_export_interval(
    env: &Settings,
    code: &Settings,
) -> Result<Duration, ConfigError> {
    let Some(Sourced { value, from }) = code.metric_export_interval.or(env.metric_export_interval)
    else {
        return Ok(OTEL_METRIC_EXPORT_INTERVAL_DEFAULT);
    };
    if !value.is_zero() {
        return Ok(value);
    }
    let expected = if from == OTEL_METRIC_EXPORT_INTERVAL {
        "a whole number of milliseconds greater than 0"
    } else {
        "a duration greater than 0"
    };
    Err(ConfigError::new(from, "0", expected))
}

/// `OTEL_SDK_DISABLED=true` turns both exporters off.
fn traces(
    env: &Settings,
    code: &Settings,
    sdk_disabled: bool,
    warnings: &mut Vec<String>,
) -> Result<TracesExport, ConfigError> {
    let exporter = code
        .traces_exporter
        .or(env.traces_exporter)
        .unwrap_or(OTEL_TRACES_EXPORTER_DEFAULT);
    Ok(match exporter {
        _ if sdk_disabled => TracesExport::None,
        TracesExporter::None => TracesExport::None,
        TracesExporter::Console => TracesExport::Console,
        TracesExporter::Custom if code.span_exporter => TracesExport::Custom,
        TracesExporter::Custom => {
            return Err(ConfigError::new(
                "traces_exporter",
                "custom",
                "otlp, console or none: a custom exporter is given with span_exporter",
            ))
        }
        TracesExporter::Otlp => TracesExport::Otlp(OtlpSettings::resolve(
            &TRACES,
            &env.traces,
            &code.traces,
            env.otlp_endpoint.as_ref(),
            code.otlp_endpoint.as_ref(),
            warnings,
        )?),
    })
}

fn metrics(
    env: &Settings,
    code: &Settings,
    sdk_disabled: bool,
    warnings: &mut Vec<String>,
) -> Result<MetricsPlan, ConfigError> {
    let exporter = code
        .metrics_exporter
        .or(env.metrics_exporter)
        .unwrap_or(OTEL_METRICS_EXPORTER_DEFAULT);
    let interval = metric_export_interval(env, code)?;
    Ok(match exporter {
        _ if sdk_disabled => MetricsPlan::None,
        MetricsExporter::None => MetricsPlan::None,
        MetricsExporter::Prometheus => MetricsPlan::Prometheus,
        MetricsExporter::Otlp => MetricsPlan::Otlp {
            otlp: OtlpSettings::resolve(
                &METRICS,
                &env.metrics,
                &code.metrics,
                env.otlp_endpoint.as_ref(),
                code.otlp_endpoint.as_ref(),
                warnings,
            )?,
            interval,
        },
    })
}

/// `OTEL_LOGS_EXPORTER`; `OTEL_SDK_DISABLED=true` turns it off.
fn log_export(
    env: &Settings,
    code: &Settings,
    sdk_disabled: bool,
    warnings: &mut Vec<String>,
) -> Result<LogsExport, ConfigError> {
    let exporter = code
        .logs_exporter
        .or(env.logs_exporter)
        .unwrap_or(OTEL_LOGS_EXPORTER_DEFAULT);
    Ok(match exporter {
        _ if sdk_disabled => LogsExport::None,
        LogsExporter::None => LogsExport::None,
        LogsExporter::Console => LogsExport::Console,
        LogsExporter::Otlp => LogsExport::Otlp(OtlpSettings::resolve(
            &LOGS,
            &env.logs,
            &code.logs,
            env.otlp_endpoint.as_ref(),
            code.otlp_endpoint.as_ref(),
            warnings,
        )?),
    })
}
