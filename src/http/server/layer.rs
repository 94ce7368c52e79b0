//! [`OtelLayer`]: the server layer and its builder methods.

use std::fmt;
use std::sync::Arc;

use opentelemetry::propagation::TextMapPropagator;
use tower_layer::Layer;
use tracing::Level;

use super::service::Otel;
use super::settings::{LayerSettings, ResponseTraceHeader, DEFAULT_EXCLUDED_PATHS};
use crate::http::instruments::Instruments;
use crate::installed::{self, FromInit};
use crate::metrics::Exemplars;
use crate::propagation::SharedPropagator;

/// A [`Layer`] that traces and measures every HTTP request: build it with
/// [`layer`](crate::http::layer), adjust it with the methods below.
///
/// Spans, instruments and propagators come from the pipelines that
/// [`init_telemetry`](crate::init_telemetry) installed (whenever the first request arrives, so
/// the layer may be built before or after it) unless given explicitly.
#[derive(Clone)]
pub struct OtelLayer {
    settings: Arc<LayerSettings>,
}

impl fmt::Debug for OtelLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelLayer")
            .field("response_header", &self.settings.response_header)
            .field("access_log", &self.settings.access_log)
            .finish_non_exhaustive()
    }
}

impl Default for OtelLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl OtelLayer {
    /// The layer with its defaults: see each method.
    #[must_use]
    pub fn new() -> Self {
        Self {
            settings: Arc::new(LayerSettings {
                traced: Arc::new(|path| !DEFAULT_EXCLUDED_PATHS.contains(&path)),
                response_header: ResponseTraceHeader::Traceparent,
                access_log: Some((Level::INFO, Level::ERROR)),
                tracer: FromInit::pending(),
                instruments: FromInit::pending(),
                exemplars: None,
                propagator: FromInit::pending(),
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut LayerSettings)) -> Self {
        f(Arc::make_mut(&mut self.settings));
        self
    }

    /// Which requests are traced and measured, by path: `true` traces. Defaults to every path
    /// but [`DEFAULT_EXCLUDED_PATHS`].
    #[must_use]
    pub fn filter(self, traced: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.with(|s| s.traced = Arc::new(traced))
    }

    /// The header that returns the trace context to the client. Defaults to
    /// [`ResponseTraceHeader::Traceparent`].
    #[must_use]
    pub fn response_trace_header(self, header: ResponseTraceHeader) -> Self {
        self.with(|s| s.response_header = header)
    }

    /// The levels of the access-log line: `success` below 500, `server_error` from 500.
    /// Defaults to `INFO` and `ERROR`.
    #[must_use]
    pub fn access_log_levels(self, success: Level, server_error: Level) -> Self {
        self.with(|s| s.access_log = Some((success, server_error)))
    }

    /// Turns the access-log line off (or on again with the default levels). Defaults to on.
    #[must_use]
    pub fn access_log(self, enabled: bool) -> Self {
        self.with(|s| s.access_log = enabled.then_some((Level::INFO, Level::ERROR)))
    }

    /// Spans from this provider instead of the one `init_telemetry` installed.
    #[must_use]
    pub fn tracer_provider(self, provider: &opentelemetry_sdk::trace::SdkTracerProvider) -> Self {
        let tracer = installed::scoped_tracer(provider);
        self.with(|s| s.tracer = FromInit::given(tracer))
    }

    /// Metrics from this provider instead of the one `init_telemetry` installed. Its
    /// exemplars are kept only when [`exemplars`](Self::exemplars) gives their store, before
    /// or after this call.
    #[must_use]
    pub fn meter_provider(self, provider: &opentelemetry_sdk::metrics::SdkMeterProvider) -> Self {
        self.with(|s| {
            let exemplars = s.exemplars.clone().flatten();
            let instruments = Instruments::server(provider, exemplars);
            s.instruments = FromInit::given(Some(instruments));
        })
    }

    /// Where the sampled requests' exemplars are kept, instead of the store `init_telemetry`
    /// installed: the store of the pipeline whose meter provider this layer records to
    /// ([`Telemetry::exemplars`](crate::Telemetry::exemplars)); `None` keeps none. Without
    /// this call, a layer on a provider given in code keeps none.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let telemetry = octollm_telemetry::TelemetryConfig::from_env()?.build()?;
    /// let mut layer = octollm_telemetry::http::layer()
    ///     .tracer_provider(telemetry.tracer_provider())
    ///     .exemplars(telemetry.exemplars());
    /// if let Some(provider) = telemetry.meter_provider() {
    ///     layer = layer.meter_provider(provider);
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn exemplars(self, exemplars: Option<Exemplars>) -> Self {
        self.with(|s| {
            if let Some(Some(instruments)) = s.instruments.fixed() {
                let instruments = instruments.with_exemplars(exemplars.clone());
                s.instruments = FromInit::given(Some(instruments));
            }
            s.exemplars = Some(exemplars);
        })
    }

    /// No metrics from this layer.
    #[must_use]
    pub fn without_metrics(self) -> Self {
        self.with(|s| s.instruments = FromInit::given(None))
    }

    /// Incoming trace context read with this propagator instead of the one `init_telemetry`
    /// installed (for example [`Telemetry::propagator`](crate::Telemetry::propagator)).
    #[must_use]
    pub fn propagator(
        self,
        propagator: impl Into<Arc<dyn TextMapPropagator + Send + Sync>>,
    ) -> Self {
        let propagator: SharedPropagator = propagator.into();
        self.with(|s| s.propagator = FromInit::given(propagator))
    }
}

impl<S> Layer<S> for OtelLayer {
    type Service = Otel<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Otel::new(inner, Arc::clone(&self.settings))
    }
}
