//! Building and installing the pipelines, and the guard that shuts them down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::config::{LogFormat, TelemetryConfig, TracesExporter};
use crate::error::{InitError, ShutdownError};
use crate::export::{
    AnyExporter, BatchProcessor, ConsoleExporter, Counters, ExportRuntime, ExportStats,
    ExporterFactory, OtlpSettings, WarnSink,
};
use crate::logs::{self, JsonFormat};

static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// Configures telemetry from the environment and installs it for the whole process.
///
/// Equivalent to `TelemetryConfig::from_env()?.init().await`: see [`TelemetryConfig`] for the
/// settings and the [crate documentation](crate#environment-variables) for the variables.
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let _guard = octollm_telemetry::init_telemetry().await?;
///     tracing::info!("service started");
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// [`InitError::Config`] when a variable is malformed (the message names it, its value and
/// what is accepted), [`InitError::AlreadyInitialized`] on a second call,
/// [`InitError::SubscriberAlreadySet`] when another global `tracing` subscriber exists,
/// [`InitError::Exporter`] when the exporter cannot be built.
pub async fn init_telemetry() -> Result<TelemetryGuard, InitError> {
    TelemetryConfig::from_env()?.init().await
}

pub(crate) async fn init(config: TelemetryConfig) -> Result<TelemetryGuard, InitError> {
    config.validate()?;
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Err(InitError::AlreadyInitialized);
    }
    let result = install(config);
    if result.is_err() {
        INITIALIZED.store(false, Ordering::SeqCst);
    }
    result
}

fn install(mut config: TelemetryConfig) -> Result<TelemetryGuard, InitError> {
    let resource = crate::resource::build(&config);
    let (sampler, sampler_source) = config.sampler_with_source();
    let counters = Arc::new(Counters::default());
    let warn_sink: WarnSink = Arc::new(OnceLock::new());
    let runtime = ExportRuntime::start()?;
    let exporter = config.effective_traces_exporter();

    let make: Option<ExporterFactory> = match exporter {
        TracesExporter::None => None,
        TracesExporter::Console => Some(Box::new(|| {
            Ok(AnyExporter::Console(ConsoleExporter::default()))
        })),
        TracesExporter::Otlp => {
            let settings = OtlpSettings::traces(&config)?;
            let handle = runtime.handle().clone();
            Some(Box::new(move || settings.span_exporter(handle)))
        }
    };
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(sampler.to_sdk())
        .with_resource(resource.clone());
    if let Some(make) = make {
        builder = builder.with_span_processor(BatchProcessor::spawn(
            &runtime,
            make,
            resource.clone(),
            config.batch,
            Arc::clone(&counters),
            Arc::clone(&warn_sink),
            config.shutdown_timeout,
        )?);
    }
    let tracer_provider = builder.build();
    let meter_provider = crate::metrics::provider(&config, &resource, &runtime, &counters)?;

    let service_name = config.effective_service_name();
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer_provider.tracer("octollm-telemetry"))
        .with_threads(false)
        .with_tracked_inactivity(false);
    let format = config.effective_log_format();
    let log_writer = std::mem::take(&mut config.log_writer);
    let (json_layer, pretty_layer) = match format {
        LogFormat::Json => (
            Some(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonFormat::new(&service_name))
                    .with_writer(log_writer.0),
            ),
            None,
        ),
        LogFormat::Pretty => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
                    .with_writer(log_writer.0),
            ),
        ),
    };
    let subscriber = tracing_subscriber::registry()
        .with(logs::build_filter(&config.log_filter)?)
        .with(otel_layer)
        .with(json_layer)
        .with(pretty_layer);
    let dispatch = Dispatch::new(subscriber);
    tracing::dispatcher::set_global_default(dispatch.clone())
        .map_err(|e| InitError::SubscriberAlreadySet(e.to_string()))?;
    // `log` records from dependencies join the same pipeline; another logger may own `log`.
    let _ = tracing_log::LogTracer::init();
    let _ = warn_sink.set(dispatch);

    crate::propagation::install(config.propagators);
    crate::http::install(&tracer_provider, meter_provider.as_ref());
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());
    if let Some(provider) = &meter_provider {
        opentelemetry::global::set_meter_provider(provider.clone());
    }

    let traces_endpoint =
        (exporter == TracesExporter::Otlp).then(|| config.traces_endpoint().unwrap_or_default());
    tracing::info!(
        target: "octollm_telemetry",
        service_name = %service_name,
        service_version = config.effective_service_version().unwrap_or(""),
        environment = %config.effective_environment(),
        sampler = %sampler,
        sampling_ratio = sampler.root_ratio(),
        sampler_source = sampler_source.as_str(),
        exporter = config.traces_exporter_name(),
        endpoint = traces_endpoint.as_deref().unwrap_or("-"),
        protocol = if exporter == TracesExporter::Otlp { config.traces.protocol.as_str() } else { "-" },
        metrics_exporter = config.effective_metrics_exporter().as_str(),
        sdk_disabled = config.sdk_disabled,
        log_format = match format { LogFormat::Json => "json", LogFormat::Pretty => "pretty" },
        "telemetry initialized"
    );
    for warning in &config.warnings {
        tracing::warn!(target: "octollm_telemetry", "{warning}");
    }

    Ok(TelemetryGuard {
        tracer_provider: Some(tracer_provider),
        meter_provider,
        runtime: Some(runtime),
        counters,
        shutdown_timeout: config.shutdown_timeout,
    })
}

/// Reads the span pipeline's counters; see [`TelemetryGuard::stats_handle`].
#[derive(Debug, Clone)]
pub struct StatsHandle(Arc<Counters>);

impl StatsHandle {
    /// The counters now.
    pub fn get(&self) -> ExportStats {
        self.0.snapshot()
    }
}

/// Keeps the telemetry pipelines running; flushes and stops them when shut down or dropped.
///
/// Hold it for the life of the service (`let _guard = …`, not `let _ = …`, which drops it at
/// once). [`shutdown`](Self::shutdown) reports what could not be flushed; dropping the guard
/// does the same flush, best effort, within the same deadline. Both work on any Tokio runtime
/// flavour and outside one: the export thread has its own runtime.
#[must_use = "dropping the guard shuts telemetry down; bind it: `let _guard = ...`"]
#[derive(Debug)]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    /// Dropped last: the exporters run on it until both providers are shut down.
    runtime: Option<ExportRuntime>,
    counters: Arc<Counters>,
    shutdown_timeout: Duration,
}

impl TelemetryGuard {
    /// Spans dropped so far, for any reason: because the export queue was full, or because
    /// the export request that carried them failed or timed out. A running count, equal to the
    /// spans produced minus those the collector received, and exposed as
    /// `octollm_telemetry_spans_dropped_total` (label `reason`); both causes are also reported
    /// by rate-limited warnings in the logs. [`export_stats`](Self::export_stats) has the
    /// breakdown.
    pub fn dropped_spans(&self) -> u64 {
        self.counters.snapshot().lost_spans()
    }

    /// A snapshot of the span pipeline's counters.
    pub fn export_stats(&self) -> ExportStats {
        self.counters.snapshot()
    }

    /// A handle that reads the span pipeline's counters, also after the guard is shut down
    /// (so the spans dropped or lost during shutdown can be reported).
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::clone(&self.counters))
    }

    /// Exports every finished span now, waiting at most the shutdown deadline.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] when the deadline ran out, [`ShutdownError::Failed`] when the
    /// export failed.
    pub fn force_flush(&self) -> Result<(), ShutdownError> {
        let mut errors = Vec::new();
        if let Some(provider) = &self.meter_provider {
            if let Err(e) = provider.force_flush() {
                errors.push(to_shutdown_error("metrics", e, self.shutdown_timeout));
            }
        }
        if let Some(provider) = &self.tracer_provider {
            if let Err(e) = provider.force_flush() {
                errors.push(to_shutdown_error("traces", e, self.shutdown_timeout));
            }
        }
        combine(errors)
    }

    /// Flushes the pending telemetry and stops the pipelines, within the shutdown deadline
    /// (5 s unless [`TelemetryConfig::shutdown_timeout`] says otherwise).
    ///
    /// # Errors
    ///
    /// What failed: [`ShutdownError::Timeout`] when the deadline ran out (the collector is slow
    /// or unreachable), [`ShutdownError::Failed`] when the last export was refused.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), ShutdownError> {
        let deadline = Instant::now() + self.shutdown_timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let mut errors = Vec::new();
        if let Some(provider) = self.meter_provider.take() {
            match provider.shutdown_with_timeout(left()) {
                Ok(()) | Err(OTelSdkError::AlreadyShutdown) => {}
                Err(e) => errors.push(to_shutdown_error("metrics", e, self.shutdown_timeout)),
            }
        }
        if let Some(provider) = self.tracer_provider.take() {
            match provider.shutdown_with_timeout(left()) {
                Ok(()) | Err(OTelSdkError::AlreadyShutdown) => {}
                Err(e) => errors.push(to_shutdown_error("traces", e, self.shutdown_timeout)),
            }
        }
        self.runtime.take();
        combine(errors)
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_inner() {
            tracing::warn!(target: "octollm_telemetry", error = %e, "telemetry shutdown incomplete");
        }
    }
}

fn to_shutdown_error(signal: &'static str, e: OTelSdkError, deadline: Duration) -> ShutdownError {
    match e {
        OTelSdkError::Timeout(_) => ShutdownError::Timeout { signal, deadline },
        other => ShutdownError::Failed {
            signal,
            reason: other.to_string(),
        },
    }
}

fn combine(mut errors: Vec<ShutdownError>) -> Result<(), ShutdownError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(ShutdownError::Several(errors)),
    }
}
