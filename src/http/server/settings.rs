//! The settings one [`OtelLayer`](super::OtelLayer) shares with its services and their
//! futures.

use std::sync::Arc;

use opentelemetry_sdk::trace::SdkTracer;
use tracing::Level;

use crate::http::instruments::Instruments;
use crate::installed::{self, FromInit};
use crate::metrics::Exemplars;
use crate::propagation::SharedPropagator;

/// The paths that never get a span or a metric series by default: Kubernetes probes and the
/// Prometheus scrape.
pub const DEFAULT_EXCLUDED_PATHS: &[&str] = &[
    "/health", "/healthz", "/ready", "/readyz", "/live", "/livez", "/metrics",
];

/// Which header carries the server span's trace context back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseTraceHeader {
    /// `traceparent: 00-<trace id>-<span id>-<flags>` (the default): any W3C-aware client or
    /// proxy can continue from it, and a person can paste the trace id into Jaeger.
    Traceparent,
    /// `x-trace-id: <trace id>` only.
    XTraceId,
    /// Nothing.
    None,
}

pub(crate) type PathFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What every service of one layer shares.
#[derive(Clone)]
pub(crate) struct LayerSettings {
    pub(crate) traced: PathFilter,
    pub(crate) response_header: ResponseTraceHeader,
    pub(crate) access_log: Option<(Level, Level)>,
    pub(crate) tracer: FromInit<SdkTracer>,
    pub(crate) instruments: FromInit<Option<Instruments>>,
    /// The exemplar store given in code (`Some(None)`: none); else the one `init` installed.
    #[allow(
        clippy::option_option,
        reason = "not given, given as none, given a store"
    )]
    pub(crate) exemplars: Option<Option<Exemplars>>,
    pub(crate) propagator: FromInit<SharedPropagator>,
}

impl LayerSettings {
    pub(crate) fn tracer(&self) -> std::borrow::Cow<'_, SdkTracer> {
        self.tracer.get(installed::tracer, installed::noop_tracer)
    }

    pub(crate) fn instruments(&self) -> Option<Instruments> {
        self.instruments
            .get(
                || {
                    let exemplars = || self.exemplars.clone().unwrap_or_else(installed::exemplars);
                    installed::meter().map(|m| Some(Instruments::installed(&m, exemplars())))
                },
                || None,
            )
            .into_owned()
    }

    pub(crate) fn propagator(&self) -> std::borrow::Cow<'_, SharedPropagator> {
        self.propagator
            .get(installed::installed_propagator, installed::propagator)
    }
}
