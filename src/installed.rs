//! What [`init_telemetry`](crate::init_telemetry) installed for the whole process, and the
//! stand-ins used before it runs. The HTTP layers and [`crate::metrics`] read it from here;
//! `init` writes it once, through [`set`].

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::config::CaptureContent;
use crate::metrics::exemplars::Exemplars;
use crate::propagation::{self, SharedPropagator};
use crate::shared::SCOPE;

static TRACER: OnceLock<SdkTracer> = OnceLock::new();
static METER: OnceLock<Meter> = OnceLock::new();
static PROPAGATOR: OnceLock<SharedPropagator> = OnceLock::new();
#[cfg(feature = "prometheus")]
static PROMETHEUS: OnceLock<prometheus::Registry> = OnceLock::new();
static EXEMPLARS: OnceLock<Option<Exemplars>> = OnceLock::new();
static GENAI_CONTENT: OnceLock<CaptureContent> = OnceLock::new();

/// The pipelines `init` installs, in one value.
pub(crate) struct Installation<'a> {
    pub(crate) tracer_provider: &'a SdkTracerProvider,
    pub(crate) meter_provider: Option<&'a SdkMeterProvider>,
    pub(crate) propagator: SharedPropagator,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus: Option<prometheus::Registry>,
    pub(crate) exemplars: Option<Exemplars>,
    pub(crate) genai_content: CaptureContent,
}

/// Records what `init` installed. Called once per process (`init` refuses a second call).
pub(crate) fn set(installation: Installation<'_>) {
    // Before the meter: a layer that finds the meter finds the store too.
    let _ = EXEMPLARS.set(installation.exemplars);
    let _ = GENAI_CONTENT.set(installation.genai_content);
    let _ = TRACER.set(scoped_tracer(installation.tracer_provider));
    if let Some(provider) = installation.meter_provider {
        let _ = METER.set(provider.meter(SCOPE));
        opentelemetry::global::set_meter_provider(provider.clone());
    }
    #[cfg(feature = "prometheus")]
    if let Some(registry) = installation.prometheus {
        let _ = PROMETHEUS.set(registry);
    }
    opentelemetry::global::set_tracer_provider(installation.tracer_provider.clone());
    opentelemetry::global::set_text_map_propagator(propagation::SharedAsGlobal(Arc::clone(
        &installation.propagator,
    )));
    let _ = PROPAGATOR.set(installation.propagator);
}

/// What message content the GenAI instrumentation captures: `init`'s setting, or none.
pub(crate) fn genai_content() -> CaptureContent {
    GENAI_CONTENT.get().copied().unwrap_or_default()
}

/// A tracer of `provider` in the crate's scope.
pub(crate) fn scoped_tracer(provider: &SdkTracerProvider) -> SdkTracer {
    use opentelemetry::trace::TracerProvider as _;
    provider.tracer_with_scope(
        opentelemetry::InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    )
}

/// The tracer `init` installed, if it has run.
pub(crate) fn tracer() -> Option<SdkTracer> {
    TRACER.get().cloned()
}

/// The meter `init` installed, if metrics are on.
pub(crate) fn meter() -> Option<Meter> {
    METER.get().cloned()
}

/// The Prometheus registry `init` installed, if metrics are served in that format.
#[cfg(feature = "prometheus")]
pub(crate) fn prometheus() -> Option<&'static prometheus::Registry> {
    PROMETHEUS.get()
}

/// The exemplar store `init` installed, if it has run and keeps exemplars.
pub(crate) fn exemplars() -> Option<Exemplars> {
    EXEMPLARS.get().cloned().flatten()
}

/// A tracer that records nothing, for requests served before `init`.
pub(crate) fn noop_tracer() -> SdkTracer {
    static NOOP: OnceLock<SdkTracer> = OnceLock::new();
    NOOP.get_or_init(|| {
        let noop = SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
            .build();
        scoped_tracer(&noop)
    })
    .clone()
}

/// The propagator `init` installed, if it has run.
pub(crate) fn installed_propagator() -> Option<SharedPropagator> {
    PROPAGATOR.get().cloned()
}

/// The installed propagator, else W3C trace context and baggage; never fixes the default in
/// place of a later `init`'s choice.
pub(crate) fn propagator() -> SharedPropagator {
    static DEFAULT: OnceLock<SharedPropagator> = OnceLock::new();
    installed_propagator().unwrap_or_else(|| {
        Arc::clone(
            DEFAULT.get_or_init(|| propagation::build(crate::config::Propagators::default())),
        )
    })
}

/// Something a layer takes from `init` (tracer, meter, propagator) unless it was given one:
/// fixed once `init` has installed it; until then a stand-in, for one request at a time, so
/// that a layer serving before `init` uses what `init` installs from then on.
pub(crate) struct FromInit<T>(Arc<OnceLock<T>>);

impl<T> Clone for FromInit<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: Clone> FromInit<T> {
    /// Follows what `init` installs.
    pub(crate) fn pending() -> Self {
        Self(Arc::new(OnceLock::new()))
    }

    /// Always `value`.
    pub(crate) fn given(value: T) -> Self {
        Self(Arc::new(OnceLock::from(value)))
    }

    /// The value, when given (or already taken from `init`).
    pub(crate) fn fixed(&self) -> Option<&T> {
        self.0.get()
    }

    /// The value: given, or installed by `init`, else `stand_in()` for this call only.
    pub(crate) fn get(
        &self,
        installed: impl FnOnce() -> Option<T>,
        stand_in: impl FnOnce() -> T,
    ) -> Cow<'_, T> {
        if let Some(value) = self.0.get() {
            return Cow::Borrowed(value);
        }
        match installed() {
            Some(value) => Cow::Borrowed(self.0.get_or_init(|| value)),
            None => Cow::Owned(stand_in()),
        }
    }
}
