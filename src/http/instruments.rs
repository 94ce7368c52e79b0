//! The HTTP metric instruments (semantic-convention names, units and buckets).
//!
//! `http.server.active_requests` is kept in atomics, one per (method, scheme), and reported by
//! an observable up-down counter: two fewer metric lookups on every request.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use opentelemetry::metrics::{Histogram, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::{attribute, metric as semconv};

use crate::installed::SCOPE;
use crate::metrics::DURATION_BUCKETS;

/// The method names of `http.request.method` (see `headers::method`).
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "_OTHER",
];
const SCHEMES: [&str; 2] = ["http", "https"];

/// Requests in flight per (method, scheme).
#[derive(Debug, Default)]
pub(crate) struct ActiveRequests {
    count: [[AtomicI64; 2]; 10],
    seen: [[AtomicBool; 2]; 10],
}

impl ActiveRequests {
    fn slot(method: &str, scheme: &str) -> (usize, usize) {
        let m = METHODS
            .iter()
            .position(|x| *x == method)
            .unwrap_or(METHODS.len() - 1);
        let s = usize::from(scheme == "https");
        (m, s)
    }

    pub(crate) fn add(&self, method: &str, scheme: &str, delta: i64) {
        let (m, s) = Self::slot(method, scheme);
        self.count[m][s].fetch_add(delta, Ordering::Relaxed);
        if !self.seen[m][s].load(Ordering::Relaxed) {
            self.seen[m][s].store(true, Ordering::Relaxed);
        }
    }

    fn register(self: &Arc<Self>, meter: &Meter) {
        let me = Arc::clone(self);
        meter
            .i64_observable_up_down_counter(semconv::HTTP_SERVER_ACTIVE_REQUESTS)
            .with_unit("{request}")
            .with_description("Number of active HTTP server requests")
            .with_callback(move |observer| {
                for (m, method) in METHODS.iter().enumerate() {
                    for (s, scheme) in SCHEMES.iter().enumerate() {
                        if me.seen[m][s].load(Ordering::Relaxed) {
                            observer.observe(
                                me.count[m][s].load(Ordering::Relaxed),
                                &[
                                    KeyValue::new(attribute::HTTP_REQUEST_METHOD, *method),
                                    KeyValue::new(attribute::URL_SCHEME, *scheme),
                                ],
                            );
                        }
                    }
                }
            })
            .build();
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Instruments {
    pub(crate) duration: Histogram<f64>,
    pub(crate) active: Arc<ActiveRequests>,
}

/// The active-request counts of the meter `init_telemetry` installed, shared by every layer
/// so that one callback reports them.
static INSTALLED_ACTIVE: OnceLock<Arc<ActiveRequests>> = OnceLock::new();

impl Instruments {
    /// Instruments on a provider given in code (each call registers its own counts).
    pub(crate) fn server(provider: &opentelemetry_sdk::metrics::SdkMeterProvider) -> Self {
        let meter = provider.meter(SCOPE);
        let active = Arc::new(ActiveRequests::default());
        active.register(&meter);
        Self {
            duration: server_duration(&meter),
            active,
        }
    }

    /// Instruments on the meter `init_telemetry` installed.
    pub(crate) fn installed(meter: &Meter) -> Self {
        let active = INSTALLED_ACTIVE.get_or_init(|| {
            let active = Arc::new(ActiveRequests::default());
            active.register(meter);
            active
        });
        Self {
            duration: server_duration(meter),
            active: Arc::clone(active),
        }
    }
}

fn server_duration(meter: &Meter) -> Histogram<f64> {
    meter
        .f64_histogram(semconv::HTTP_SERVER_REQUEST_DURATION)
        .with_unit("s")
        .with_description("Duration of HTTP server requests")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
}

/// The client-side duration histogram.
pub(crate) fn client_duration(meter: &Meter) -> Histogram<f64> {
    meter
        .f64_histogram(semconv::HTTP_CLIENT_REQUEST_DURATION)
        .with_unit("s")
        .with_description("Duration of HTTP client requests")
        .with_boundaries(DURATION_BUCKETS.to_vec())
        .build()
}
