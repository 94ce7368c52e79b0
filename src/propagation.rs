//! The W3C propagators installed by `init_telemetry`, kept where the HTTP layers can reach
//! them without the global propagator's lock on every request.

use std::sync::{Arc, OnceLock};

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::config::Propagators;

pub(crate) type SharedPropagator = Arc<dyn TextMapPropagator + Send + Sync>;

static PROPAGATOR: OnceLock<SharedPropagator> = OnceLock::new();

/// Installs the configured propagators, globally and for the HTTP layers.
pub(crate) fn install(which: Propagators) {
    let propagator = build(which);
    let _ = PROPAGATOR.set(Arc::clone(&propagator));
    opentelemetry::global::set_text_map_propagator(Shared(propagator));
}

/// The installed propagator; W3C trace context and baggage when telemetry is not initialised.
pub(crate) fn current() -> SharedPropagator {
    Arc::clone(PROPAGATOR.get_or_init(|| {
        build(Propagators {
            trace_context: true,
            baggage: true,
        })
    }))
}

fn build(which: Propagators) -> SharedPropagator {
    let mut propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
    if which.trace_context {
        propagators.push(Box::new(TraceContextPropagator::new()));
    }
    if which.baggage {
        propagators.push(Box::new(BaggagePropagator::new()));
    }
    Arc::new(TextMapCompositePropagator::new(propagators))
}

/// Lets the global propagator share the instance the layers use.
#[derive(Debug)]
struct Shared(SharedPropagator);

impl TextMapPropagator for Shared {
    fn inject_context(
        &self,
        cx: &opentelemetry::Context,
        injector: &mut dyn opentelemetry::propagation::Injector,
    ) {
        self.0.inject_context(cx, injector);
    }

    fn extract_with_context(
        &self,
        cx: &opentelemetry::Context,
        extractor: &dyn opentelemetry::propagation::Extractor,
    ) -> opentelemetry::Context {
        self.0.extract_with_context(cx, extractor)
    }

    fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
        self.0.fields()
    }
}
