//! [`Telemetry`]: the pipelines built from a configuration, installed nowhere yet.

use std::sync::{Arc, OnceLock};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Plan;
use crate::export::WarnSink;
use crate::guard::TelemetryGuard;
use crate::metrics::exemplars::Exemplars;
use crate::propagation::SharedPropagator;

/// The tracer provider, meter provider, propagator and `tracing` layers of a configuration,
/// from [`TelemetryConfig::build`](crate::TelemetryConfig::build), with no global installed.
///
/// For an application that owns its subscriber, a test or a benchmark: compose
/// [`layer`](Self::layer) into your subscriber, give the providers to the HTTP layers
/// ([`OtelLayer::tracer_provider`](crate::http::OtelLayer::tracer_provider) and friends), and
/// keep the [guard](Self::into_guard) for the life of the pipelines.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tracing_subscriber::prelude::*;
///
/// let telemetry = octollm_telemetry::TelemetryConfig::from_env()?.build()?;
/// let subscriber = tracing_subscriber::registry()
///     .with(telemetry.layer())
///     .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
/// let _default = tracing::subscriber::set_default(subscriber);
/// let app: axum::Router = axum::Router::new().layer(
///     octollm_telemetry::http::layer()
///         .tracer_provider(telemetry.tracer_provider())
///         .propagator(telemetry.propagator()),
/// );
/// let _guard = telemetry.into_guard();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Telemetry {
    pub(crate) plan: Plan,
    pub(crate) tracer_provider: SdkTracerProvider,
    pub(crate) meter_provider: Option<SdkMeterProvider>,
    pub(crate) logger_provider: Option<SdkLoggerProvider>,
    pub(crate) propagator: SharedPropagator,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus: Option<prometheus::Registry>,
    pub(crate) exemplars: Option<Exemplars>,
    pub(crate) writer: SharedWriter,
    pub(crate) filter: String,
    pub(crate) warn_sink: WarnSink,
    pub(crate) guard: TelemetryGuard,
}

impl Telemetry {
    /// The tracer provider: the configured sampler, resource and batch export.
    #[must_use]
    pub fn tracer_provider(&self) -> &SdkTracerProvider {
        &self.tracer_provider
    }

    /// The remote sampler at work, when the sampler is `jaeger_remote` or
    /// `parentbased_jaeger_remote`: the probability in force per operation and what its
    /// fetches did.
    #[cfg(feature = "jaeger-remote")]
    #[must_use]
    pub fn remote_sampling(&self) -> Option<&crate::export::RemoteSampling> {
        self.guard.remote_sampling()
    }

    /// The meter provider, unless metrics are off (`OTEL_METRICS_EXPORTER=none`).
    #[must_use]
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.meter_provider.as_ref()
    }

    /// The GenAI instruments of this pipeline ([`crate::genai`]), with its content setting
    /// (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`); with metrics off, only spans.
    #[must_use]
    pub fn genai(&self) -> crate::genai::GenAi {
        let genai = match &self.meter_provider {
            Some(meters) => crate::genai::GenAi::with_providers(&self.tracer_provider, meters),
            None => crate::genai::GenAi::with_providers(
                &self.tracer_provider,
                &opentelemetry_sdk::metrics::SdkMeterProvider::default(),
            ),
        };
        genai
            .capture_content(self.plan.genai_content)
            .exemplars(self.exemplars.clone())
    }

    /// The exemplar store of this pipeline, when it keeps exemplars: exemplars are on
    /// ([`TelemetryConfig::exemplars`](crate::TelemetryConfig::exemplars), `OCTOLLM_EXEMPLARS`)
    /// and metrics are served for Prometheus or pushed over OTLP. Give it to the HTTP layer
    /// with [`OtelLayer::exemplars`](crate::http::OtelLayer::exemplars) beside
    /// [`meter_provider`](Self::meter_provider); [`encode_openmetrics`](Self::encode_openmetrics)
    /// and the OTLP metric exporter read it. Each `build` has its own.
    #[must_use]
    pub fn exemplars(&self) -> Option<Exemplars> {
        self.exemplars.clone()
    }

    /// The propagators `OTEL_PROPAGATORS` names (W3C trace context and baggage by default).
    #[must_use]
    pub fn propagator(&self) -> Arc<dyn TextMapPropagator + Send + Sync> {
        Arc::clone(&self.propagator)
    }

    /// The metrics of this meter provider in the Prometheus text format, when metrics are
    /// served in that format; `init` serves the same through [`crate::metrics::handler`].
    #[must_use]
    pub fn encode_prometheus(&self) -> Option<String> {
        #[cfg(feature = "prometheus")]
        return crate::metrics::exposition::text(self.prometheus.as_ref()?);
        #[cfg(not(feature = "prometheus"))]
        None
    }

    /// The same in the OpenMetrics format, with the exemplars of the server duration
    /// histogram (see [`crate::metrics::encode_openmetrics`]).
    #[must_use]
    pub fn encode_openmetrics(&self) -> Option<String> {
        #[cfg(feature = "prometheus")]
        return Some(crate::metrics::exposition::openmetrics(
            self.prometheus.as_ref()?,
            self.exemplars.as_ref(),
        ));
        #[cfg(not(feature = "prometheus"))]
        None
    }

    /// Every `tracing` layer of the configuration in one: the filter (`RUST_LOG`), spans to
    /// the tracer provider (tracing-opentelemetry) and the log lines (JSON or pretty). Like
    /// any `EnvFilter` layer, its filter applies to the whole subscriber; use
    /// [`unfiltered_layer`](Self::unfiltered_layer) and [`filter`](Self::filter) to place the
    /// filter yourself.
    #[must_use]
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        self.filter().and_then(self.unfiltered_layer())
    }

    /// Spans and log lines, without the filter.
    #[must_use]
    pub fn unfiltered_layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    {
        let spans = tracing_opentelemetry::layer()
            .with_tracer(crate::export::bridge::BridgeTracer::new(
                crate::installed::scoped_tracer(&self.tracer_provider),
                self.plan.traces.sampler.drops_unsampled_children(),
            ))
            .with_threads(false)
            .with_tracked_inactivity(false);
        let lines = crate::logs::format_layer(&self.plan.logs, self.writer.clone());
        // Not an `Option` layer: a `None` one would give the stack a level hint of `OFF`.
        let records = match &self.logger_provider {
            Some(provider) => crate::logs::record_layer(provider),
            None => tracing_subscriber::layer::Identity::new().boxed(),
        };
        WarnSinkHook(Arc::clone(&self.warn_sink))
            .and_then(spans)
            .and_then(lines)
            .and_then(records)
    }

    /// The logger provider, when log records are exported (`OTEL_LOGS_EXPORTER`).
    #[must_use]
    pub fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.logger_provider.as_ref()
    }

    /// The filter of `RUST_LOG` (or the `log_filter` setter), with the export path's own
    /// crates held at `warn`.
    #[must_use]
    pub fn filter(&self) -> EnvFilter {
        EnvFilter::builder().parse_lossy(&self.filter)
    }

    /// The guard that flushes and shuts the pipelines down.
    pub fn guard(&self) -> &TelemetryGuard {
        &self.guard
    }

    /// Keeps only the guard: the layers and providers already handed out keep working until
    /// it is shut down or dropped.
    pub fn into_guard(self) -> TelemetryGuard {
        self.guard
    }
}

/// The configured writer, shared by every layer made from one [`Telemetry`].
#[derive(Clone)]
pub(crate) struct SharedWriter(pub(crate) Arc<BoxMakeWriter>);

impl std::fmt::Debug for SharedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedWriter")
    }
}

impl<'a> MakeWriter<'a> for SharedWriter {
    type Writer = <BoxMakeWriter as MakeWriter<'a>>::Writer;

    fn make_writer(&'a self) -> Self::Writer {
        self.0.make_writer()
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        self.0.make_writer_for(meta)
    }
}

/// Tells the export thread which subscriber to write its warnings to, once the layers are part
/// of one.
struct WarnSinkHook(WarnSink);

impl<S: Subscriber> Layer<S> for WarnSinkHook {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.0.set(subscriber.downgrade());
    }
}

/// A fresh warn sink.
pub(crate) fn warn_sink() -> WarnSink {
    Arc::new(OnceLock::new())
}
