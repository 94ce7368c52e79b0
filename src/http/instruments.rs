//! The HTTP metric instruments (semantic-convention names, units and buckets).
//!
//! `http.server.active_requests` is kept in atomics, one per (method, scheme), and reported by
//! an observable up-down counter: two fewer metric lookups on every request.
//!
//! `http.server.request.duration` is recorded through bound histograms, one per label set,
//! found by a cheap key: a request neither builds its label list nor has the SDK hash and
//! compare it. Beside each bound histogram are its series' exemplar slots, found in the
//! pipeline's store once and then written with atomics only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use opentelemetry::trace::SpanContext;

use http::StatusCode;
use opentelemetry::metrics::{BoundHistogram, Histogram, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_semantic_conventions::{attribute, metric as semconv};

use crate::http::headers::METHODS;
use crate::metrics::exemplars::Series;
use crate::metrics::{Exemplars, DURATION_BUCKETS};
use crate::shared::SCOPE;

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
    pub(crate) duration: Arc<Durations>,
    pub(crate) active: Arc<ActiveRequests>,
}

/// The most label sets bound; beyond, requests record unbound (the SDK's own cardinality
/// limit still applies to both).
const MAX_BOUND: usize = 2000;

/// What tells one duration label set from another (`error.type` aside: requests that carry
/// one are rare and record unbound).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct DurationKey {
    method: &'static str,
    route: Option<Arc<str>>,
    status: Option<u16>,
    scheme: &'static str,
    version: Option<&'static str>,
}

/// One bound label set: its histogram, its exemplar series and that series' slots.
struct Bound {
    histogram: BoundHistogram<f64>,
    series: u64,
    /// The series' slots in the store, found when the first sampled request came.
    slots: OnceLock<Arc<Series>>,
}

impl Bound {
    fn record(&self, seconds: f64, exemplar: Option<(&Exemplars, &SpanContext)>) {
        self.histogram.record(seconds);
        let Some((store, span)) = exemplar else {
            return;
        };
        if let Some(series) = self.slots.get() {
            series.record(seconds, span);
        } else if let Some(series) = store.series(self.series) {
            series.record(seconds, span);
            let _ = self.slots.set(series);
        }
    }
}

/// The server duration histogram, its bound label sets, and the exemplar store its sampled
/// requests are kept in.
pub(crate) struct Durations {
    histogram: Histogram<f64>,
    bound: RwLock<HashMap<DurationKey, Bound, rustc_hash::FxBuildHasher>>,
    exemplars: Option<Exemplars>,
}

impl std::fmt::Debug for Durations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durations").finish_non_exhaustive()
    }
}

impl Durations {
    fn new(histogram: Histogram<f64>, exemplars: Option<Exemplars>) -> Self {
        Self {
            histogram,
            bound: RwLock::new(HashMap::default()),
            exemplars,
        }
    }

    /// Records one request's duration with the labels of `request`, `status` and
    /// `error_type`, and, when `span` is sampled, its exemplar in the series of those labels.
    pub(crate) fn record(
        &self,
        seconds: f64,
        request: &crate::http::semconv::ServerRequest,
        status: Option<StatusCode>,
        error_type: Option<&str>,
        span: &SpanContext,
    ) {
        let exemplar = self
            .exemplars
            .as_ref()
            .filter(|_| span.is_sampled())
            .map(|store| (store, span));
        let labels = || crate::http::semconv::server_duration(request, status, error_type);
        let unbound = |labels: Vec<KeyValue>| {
            self.histogram.record(seconds, &labels);
            if let Some((store, span)) = exemplar {
                store.record_series(series(&labels), seconds, span);
            }
        };
        if error_type.is_some() {
            return unbound(labels());
        }
        let key = DurationKey {
            method: request.method,
            route: request.route.clone(),
            status: status.map(|s| s.as_u16()),
            scheme: request.scheme,
            version: request.version,
        };
        if let Ok(bound) = self.bound.read() {
            if let Some(bound) = bound.get(&key) {
                bound.record(seconds, exemplar);
                return;
            }
        }
        let Ok(mut bound) = self.bound.write() else {
            return unbound(labels());
        };
        if bound.len() >= MAX_BOUND && !bound.contains_key(&key) {
            drop(bound);
            return unbound(labels());
        }
        bound
            .entry(key)
            .or_insert_with(|| {
                let labels = labels();
                Bound {
                    histogram: self.histogram.bind(&labels),
                    series: series(&labels),
                    slots: OnceLock::new(),
                }
            })
            .record(seconds, exemplar);
    }
}

/// The exemplar series of duration labels.
fn series(labels: &[KeyValue]) -> u64 {
    crate::metrics::exemplars::series_of_attributes(labels)
}

/// The active-request counts of the meter `init_telemetry` installed, shared by every layer
/// so that one callback reports them.
static INSTALLED_ACTIVE: OnceLock<Arc<ActiveRequests>> = OnceLock::new();

impl Instruments {
    /// Instruments on a provider given in code (each call registers its own counts), keeping
    /// exemplars in `exemplars`.
    pub(crate) fn server(
        provider: &opentelemetry_sdk::metrics::SdkMeterProvider,
        exemplars: Option<Exemplars>,
    ) -> Self {
        let meter = provider.meter(SCOPE);
        let active = Arc::new(ActiveRequests::default());
        active.register(&meter);
        Self {
            duration: Arc::new(Durations::new(server_duration(&meter), exemplars)),
            active,
        }
    }

    /// The same instruments keeping exemplars in `exemplars` instead.
    pub(crate) fn with_exemplars(&self, exemplars: Option<Exemplars>) -> Self {
        Self {
            duration: Arc::new(Durations::new(self.duration.histogram.clone(), exemplars)),
            active: Arc::clone(&self.active),
        }
    }

    /// Instruments on the meter `init_telemetry` installed, keeping exemplars in `exemplars`.
    pub(crate) fn installed(meter: &Meter, exemplars: Option<Exemplars>) -> Self {
        let active = INSTALLED_ACTIVE.get_or_init(|| {
            let active = Arc::new(ActiveRequests::default());
            active.register(meter);
            active
        });
        Self {
            duration: Arc::new(Durations::new(server_duration(meter), exemplars)),
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

#[cfg(test)]
mod tests {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

    use super::*;
    use crate::http::semconv::ServerRequest;

    fn request(route: &str) -> ServerRequest {
        ServerRequest {
            method: "GET",
            method_original: None,
            route: Some(Arc::from(route)),
            scheme: "http",
            version: Some("1.1"),
            span_name: format!("GET {route}").into(),
        }
    }

    /// (labels sorted as `key=value`, count) of every point of the duration histogram.
    fn points(exporter: &InMemoryMetricExporter) -> Vec<(Vec<String>, u64)> {
        let mut out = Vec::new();
        for rm in exporter.get_finished_metrics().unwrap() {
            for sm in rm.scope_metrics() {
                for m in sm.metrics() {
                    if let AggregatedMetrics::F64(MetricData::Histogram(h)) = m.data() {
                        for p in h.data_points() {
                            let mut labels: Vec<String> = p
                                .attributes()
                                .map(|kv| format!("{}={}", kv.key, kv.value))
                                .collect();
                            labels.sort();
                            out.push((labels, p.count()));
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn bound_and_unbound_records_land_on_the_label_sets_of_the_conventions() {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let durations = Instruments::server(&provider, None).duration;
        let ok = Some(StatusCode::OK);
        let none = SpanContext::empty_context();
        durations.record(0.01, &request("/a"), ok, None, &none);
        durations.record(0.02, &request("/a"), ok, None, &none);
        durations.record(0.03, &request("/b"), ok, None, &none);
        durations.record(0.03, &request("/b"), ok, None, &none);
        durations.record(0.03, &request("/c"), ok, None, &none);
        durations.record(
            0.04,
            &request("/a"),
            Some(StatusCode::INTERNAL_SERVER_ERROR),
            Some("500"),
            &none,
        );
        provider.force_flush().unwrap();
        let base = |route: &str, status: &str| {
            let mut v = vec![
                "http.request.method=GET".to_owned(),
                format!("http.response.status_code={status}"),
                format!("http.route={route}"),
                "network.protocol.version=1.1".to_owned(),
                "url.scheme=http".to_owned(),
            ];
            v.sort();
            v
        };
        let mut with_error = base("/a", "500");
        with_error.push("error.type=500".to_owned());
        with_error.sort();
        let mut expected = vec![
            (base("/a", "200"), 2),
            (base("/b", "200"), 2),
            (base("/c", "200"), 1),
            (with_error, 1),
        ];
        expected.sort();
        assert_eq!(points(&exporter), expected);
    }

    fn sampled(span: u64) -> SpanContext {
        use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};
        SpanContext::new(
            TraceId::from(u128::from(span) + 1),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        )
    }

    #[test]
    fn exemplars_land_in_the_series_of_their_labels_bound_or_not() {
        let provider = SdkMeterProvider::builder().build();
        let store = Exemplars::new();
        let instruments = Instruments::server(&provider, Some(store.clone()));
        let durations = &instruments.duration;
        let ok = Some(StatusCode::OK);
        let error = Some(StatusCode::INTERNAL_SERVER_ERROR);
        let (first, second, failed) = (sampled(1), sampled(2), sampled(3));
        durations.record(0.01, &request("/b"), ok, None, &first);
        durations.record(0.02, &request("/b"), ok, None, &second);
        durations.record(
            0.01,
            &request("/b"),
            ok,
            None,
            &SpanContext::empty_context(),
        );
        durations.record(0.3, &request("/b"), error, Some("500"), &failed);
        let series = |status, error_type| {
            let labels = crate::http::semconv::server_duration(&request("/b"), status, error_type);
            crate::metrics::exemplars::series_of_attributes(&labels)
        };
        let bound = store.of_series(series(ok, None)).expect("the bound series");
        let spans: Vec<_> = bound.iter().flatten().map(|e| e.span_id).collect();
        assert_eq!(
            spans,
            [first.span_id().to_bytes(), second.span_id().to_bytes()],
            "sampled requests only, each in its bucket"
        );
        let unbound = store
            .of_series(series(error, Some("500")))
            .expect("the 5xx series");
        let spans: Vec<_> = unbound.iter().flatten().map(|e| e.span_id).collect();
        assert_eq!(spans, [failed.span_id().to_bytes()]);

        // The same instruments with another store: exemplars go there, the first keeps its own.
        let other = Exemplars::new();
        let moved = instruments.with_exemplars(Some(other.clone()));
        let third = sampled(4);
        moved
            .duration
            .record(0.01, &request("/b"), ok, None, &third);
        let slots = other.of_series(series(ok, None)).expect("the other store");
        assert_eq!(
            slots[1].map(|e| e.span_id),
            Some(third.span_id().to_bytes())
        );
        assert_eq!(store.of_series(series(ok, None)), Some(bound));
        // Without a store nothing is kept.
        let none = instruments.with_exemplars(None);
        none.duration.record(0.5, &request("/z"), ok, None, &third);
        assert_eq!(store.of_series(series(ok, None)), Some(bound));
    }
}
