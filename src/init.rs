//! The entry points: [`TelemetryConfig::build`] assembles the pipelines of a plan without
//! installing anything; [`init_telemetry`] and [`TelemetryConfig::init`] build and install
//! them for the whole process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::config::{Plan, TelemetryConfig};
use crate::error::InitError;
use crate::export::{self, Counters, ExportContext, ExportRuntime};
use crate::guard::TelemetryGuard;
use crate::installed::{self, Installation};
use crate::telemetry::{SharedWriter, Telemetry};
use crate::user_exporter::UserExporter;

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
/// As [`TelemetryConfig::init`].
pub async fn init_telemetry() -> Result<TelemetryGuard, InitError> {
    TelemetryConfig::from_env()?.init().await
}

impl TelemetryConfig {
    /// Builds the pipelines and installs them for the whole process: the global `tracing`
    /// subscriber, the OpenTelemetry tracer and meter providers and propagator, and what the
    /// HTTP layers and [`crate::metrics::handler`] use. See [`crate::init_telemetry`].
    ///
    /// It is `async` so that the call stays the same if a pipeline ever needs the caller's
    /// runtime; today nothing is awaited (the export thread has its own runtime).
    ///
    /// # Errors
    ///
    /// [`InitError::Config`] for every invalid setting, [`InitError::AlreadyInitialized`] on a
    /// second call, [`InitError::SubscriberAlreadySet`] when another global subscriber
    /// exists, [`InitError::Exporter`] when an exporter cannot be built,
    /// [`InitError::Thread`] when the export thread cannot start.
    #[allow(clippy::unused_async, reason = "kept async on purpose, see the docs")]
    pub async fn init(self) -> Result<TelemetryGuard, InitError> {
        let (plan, writer, user) = self.into_plan()?;
        if INITIALIZED.swap(true, Ordering::SeqCst) {
            return Err(InitError::AlreadyInitialized);
        }
        let result = assemble(plan, writer, user).and_then(install);
        if result.is_err() {
            INITIALIZED.store(false, Ordering::SeqCst);
        }
        result
    }

    /// Builds the pipelines without installing any global: for an application that owns its
    /// subscriber, a test, or a benchmark. See [`Telemetry`].
    ///
    /// # Errors
    ///
    /// [`InitError::Config`] for every invalid setting, [`InitError::Exporter`] when an
    /// exporter cannot be built, [`InitError::Thread`] when the export thread cannot start.
    pub fn build(self) -> Result<Telemetry, InitError> {
        let (plan, writer, user) = self.into_plan()?;
        assemble(plan, writer, user)
    }
}

/// The crate's table of contents: resource → traces → metrics → propagators → logs.
fn assemble(
    plan: Plan,
    writer: Option<BoxMakeWriter>,
    user: Option<UserExporter>,
) -> Result<Telemetry, InitError> {
    let resource = crate::resource::build(&plan.identity);
    let counters = Arc::new(Counters::default());
    let warn_sink = crate::telemetry::warn_sink();
    let runtime = ExportRuntime::start()?;
    let ctx = ExportContext {
        runtime: &runtime,
        resource: &resource,
        counters: &counters,
        warn_sink: &warn_sink,
        flush_timeout: plan.shutdown_timeout,
    };
    let traces = export::traces::provider(&plan.traces, &ctx, user)?;
    let tracer_provider = traces.provider;
    let exemplars = exemplar_store(&plan);
    let meters = crate::metrics::pipeline::provider(&plan.metrics, &ctx, exemplars.as_ref())?;
    if let Some(meters) = &meters {
        metric_extras(&plan, meters);
        #[cfg(feature = "jaeger-remote")]
        if let Some(sampling) = &traces.remote_sampling {
            export::sampling::register_metrics(
                &opentelemetry::metrics::MeterProvider::meter(
                    &meters.provider,
                    crate::shared::SCOPE,
                ),
                sampling,
            );
        }
    }
    let logger_provider = export::logs::provider(&plan.log_export, &ctx)?;
    let (writer, log_lines) = log_writer(writer, &counters);
    let filter = crate::logs::build_filter(&plan.logs.filter)?.to_string();
    let meter_provider = meters.as_ref().map(|m| m.provider.clone());
    Ok(Telemetry {
        propagator: crate::propagation::build(plan.propagators),
        #[cfg(feature = "prometheus")]
        prometheus: meters.and_then(|m| m.prometheus),
        exemplars,
        writer: SharedWriter(Arc::new(writer)),
        filter,
        warn_sink,
        guard: TelemetryGuard {
            tracer_provider: Some(tracer_provider.clone()),
            meter_provider: meter_provider.clone(),
            logger_provider: logger_provider.clone(),
            log_lines,
            runtime: Some(runtime),
            counters,
            shutdown_timeout: plan.shutdown_timeout,
            #[cfg(feature = "jaeger-remote")]
            remote_sampling: traces.remote_sampling,
        },
        tracer_provider,
        meter_provider,
        logger_provider,
        plan,
    })
}

/// The writer given in code, else stdout through the line queue (or directly, should its
/// thread not start).
fn log_writer(
    given: Option<BoxMakeWriter>,
    counters: &Counters,
) -> (BoxMakeWriter, Option<crate::logs::LineQueue>) {
    if let Some(writer) = given {
        return (writer, None);
    }
    match crate::logs::LineQueue::start(
        Box::new(std::io::stdout()),
        crate::logs::BUFFER_BYTES,
        Arc::clone(&counters.log_lines_dropped),
    ) {
        Ok(queue) => (
            BoxMakeWriter::new(crate::logs::QueuedWriter(queue.clone())),
            Some(queue),
        ),
        Err(_) => (BoxMakeWriter::new(std::io::stdout), None),
    }
}

/// The pipeline's own exemplar store, when exemplars are on and metrics are served for
/// Prometheus or pushed over OTLP (the only two ways out that carry them).
fn exemplar_store(plan: &Plan) -> Option<crate::metrics::Exemplars> {
    use crate::config::MetricsPlan;
    let carried = matches!(
        plan.metrics,
        MetricsPlan::Prometheus | MetricsPlan::Otlp { .. }
    );
    (plan.exemplars && carried).then(crate::metrics::Exemplars::new)
}

/// The process and runtime instruments beside the HTTP ones.
fn metric_extras(plan: &Plan, meters: &crate::metrics::pipeline::MeterPipeline) {
    if plan.runtime_metrics {
        crate::metrics::process::register(
            &meters.provider,
            tokio::runtime::Handle::try_current().ok(),
        );
    }
}

/// Installs `telemetry` for the whole process.
fn install(telemetry: Telemetry) -> Result<TelemetryGuard, InitError> {
    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    tracing::subscriber::set_global_default(subscriber)?;
    // `log` records from dependencies join the same pipeline; another logger may own `log`.
    let _ = tracing_log::LogTracer::init();
    installed::set(Installation {
        tracer_provider: &telemetry.tracer_provider,
        meter_provider: telemetry.meter_provider.as_ref(),
        propagator: Arc::clone(&telemetry.propagator),
        #[cfg(feature = "prometheus")]
        prometheus: telemetry.prometheus.clone(),
        exemplars: telemetry.exemplars.clone(),
        genai_content: telemetry.plan.genai_content,
    });
    log_start(&telemetry.plan);
    Ok(telemetry.into_guard())
}

/// The start-up line, and the deprecation notices found while reading the environment.
fn log_start(plan: &Plan) {
    let otlp = plan.traces.otlp();
    tracing::info!(
        target: "octollm_telemetry",
        service_name = %plan.identity.service_name,
        service_version = plan.identity.service_version.as_deref().unwrap_or(""),
        environment = %plan.identity.environment,
        sampler = %plan.traces.sampler,
        sampling_ratio = plan.traces.sampler.root_ratio(),
        sampler_source = plan.sampler_source.as_str(),
        exporter = plan.traces.exporter().as_str(),
        endpoint = otlp.map_or("-", |o| o.endpoint.as_str()),
        protocol = otlp.map_or("-", |o| o.protocol.as_str()),
        metrics_exporter = plan.metrics.exporter().as_str(),
        sdk_disabled = plan.sdk_disabled,
        log_format = plan.logs.format.as_str(),
        "telemetry initialized"
    );
    for warning in &plan.warnings {
        tracing::warn!(target: "octollm_telemetry", "{warning}");
    }
}
