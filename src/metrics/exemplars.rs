//! Exemplars of the server duration histogram: for each series and bucket, the last sampled
//! request that fell in it (trace id, span id, value, time), kept beside the SDK's histogram
//! (which records none) and written by the OpenMetrics encoder.
//!
//! A series is identified by a hash of its label pairs that does not depend on their order,
//! computed from the recorded attributes (names with `.` read as `_`, as Prometheus shows
//! them) and from the exposed labels alike, so neither side allocates.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::SpanContext;
use opentelemetry::{KeyValue, Value};

use super::buckets::DURATION_BUCKETS;

/// Slots per series: one per bucket and `+Inf`.
pub(crate) const SLOTS: usize = DURATION_BUCKETS.len() + 1;
/// The most series kept; beyond, new series get no exemplar (the SDK bounds series as well).
const MAX_SERIES: usize = 4096;

/// One exemplar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) value: f64,
    /// Nanoseconds since the Unix epoch.
    pub(crate) time_unix_nano: u64,
}

type Slots = [Option<Exemplar>; SLOTS];

static ENABLED: AtomicBool = AtomicBool::new(false);

fn store() -> &'static Mutex<SeriesMap> {
    static STORE: OnceLock<Mutex<SeriesMap>> = OnceLock::new();
    STORE.get_or_init(|| Mutex::new(SeriesMap::default()))
}

/// Turns recording on: a pipeline serves the Prometheus endpoint or pushes OTLP metrics.
pub(crate) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether exemplars are recorded.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// One label pair's hash (64-bit FNV-1a), the name read with `.` as `_`. Cheap on the
/// request path; a collision would at worst show one series' exemplar on another.
fn pair_hash(name: &str, value: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(if b == b'.' { b'_' } else { b })).wrapping_mul(PRIME);
    }
    h = (h ^ 0xff).wrapping_mul(PRIME);
    for &b in value {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    // Mix, so that the sum of several pairs' hashes stays spread.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The series map is keyed by a hash already: no second hashing.
#[derive(Default)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type SeriesMap = HashMap<u64, Slots, std::hash::BuildHasherDefault<Identity>>;

/// The series hash of exposed label pairs (`le` and the exporter's scope labels left out).
#[cfg(feature = "prometheus")]
pub(crate) fn series_of<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> u64 {
    labels
        .filter(|(name, _)| *name != "le" && !name.starts_with("otel_scope_"))
        .fold(0, |acc, (name, value)| {
            acc.wrapping_add(pair_hash(name, value.as_bytes()))
        })
}

/// The series hash of recorded attributes.
pub(crate) fn series_of_attributes(attributes: &[KeyValue]) -> u64 {
    attributes.iter().fold(0u64, |acc, kv| {
        let h = match &kv.value {
            Value::I64(n) => pair_hash(kv.key.as_str(), itoa::Buffer::new().format(*n).as_bytes()),
            Value::String(s) => pair_hash(kv.key.as_str(), s.as_str().as_bytes()),
            other => pair_hash(kv.key.as_str(), other.as_str().as_bytes()),
        };
        acc.wrapping_add(h)
    })
}

/// The bucket slot of `value`: the first bound it does not exceed, else `+Inf`.
fn slot(value: f64) -> usize {
    DURATION_BUCKETS
        .iter()
        .position(|bound| value <= *bound)
        .unwrap_or(DURATION_BUCKETS.len())
}

/// Keeps `value` of a sampled request as the exemplar of its series and bucket.
#[cfg(test)]
pub(crate) fn record(attributes: &[KeyValue], value: f64, sc: &SpanContext) {
    record_series(series_of_attributes(attributes), value, sc);
}

/// Keeps `value` of a sampled request as the exemplar of `key` (a series hash, see
/// [`series_of_attributes`]) and its bucket.
pub(crate) fn record_series(key: u64, value: f64, sc: &SpanContext) {
    if !sc.is_sampled() {
        return;
    }
    let exemplar = Exemplar {
        trace_id: sc.trace_id().to_bytes(),
        span_id: sc.span_id().to_bytes(),
        value,
        time_unix_nano: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
    };
    let Ok(mut series) = store().lock() else {
        return;
    };
    if series.len() >= MAX_SERIES && !series.contains_key(&key) {
        return;
    }
    series.entry(key).or_insert([None; SLOTS])[slot(value)] = Some(exemplar);
}

/// The exemplars of the series of recorded attributes, by slot.
#[cfg(any(feature = "grpc", feature = "http-proto"))]
pub(crate) fn of_attributes(attributes: &[KeyValue]) -> Option<Slots> {
    of_series(series_of_attributes(attributes))
}

/// The exemplars of a series, by slot.
pub(crate) fn of_series(series: u64) -> Option<Slots> {
    store().lock().ok()?.get(&series).copied()
}

/// The slot of a bucket's upper bound.
#[cfg(feature = "prometheus")]
pub(crate) fn slot_of_bound(bound: f64) -> Option<usize> {
    if bound.is_infinite() {
        return Some(DURATION_BUCKETS.len());
    }
    DURATION_BUCKETS
        .iter()
        .position(|b| (*b - bound).abs() < 1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_and_label_hashes_agree_in_any_order() {
        let attributes = [
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("http.route", "/items/{id}"),
        ];
        let labels = [
            ("le", "0.1"),
            ("http_route", "/items/{id}"),
            ("http_response_status_code", "200"),
            ("http_request_method", "GET"),
        ];
        assert_eq!(
            series_of_attributes(&attributes),
            series_of(labels.iter().copied())
        );
        let other = [("http_route", "/other"), ("http_request_method", "GET")];
        assert_ne!(
            series_of_attributes(&attributes),
            series_of(other.iter().copied())
        );
    }

    #[test]
    fn values_land_in_their_bucket() {
        assert_eq!(slot(0.001), 0);
        assert_eq!(slot(0.005), 0);
        assert_eq!(slot(0.006), 1);
        assert_eq!(slot(99.0), DURATION_BUCKETS.len());
        assert_eq!(slot_of_bound(0.005), Some(0));
        assert_eq!(slot_of_bound(f64::INFINITY), Some(DURATION_BUCKETS.len()));
        assert_eq!(slot_of_bound(0.3), None);
    }
}
