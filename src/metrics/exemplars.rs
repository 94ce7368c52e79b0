//! Exemplars of the server duration histogram (and of the GenAI operation duration,
//! [`crate::genai`]): for each series and bucket, the last sampled
//! request that fell in it (trace id, span id, value, time), kept beside the SDK's histogram
//! (which records none) and written by the OpenMetrics encoder and the OTLP metric exporter.
//!
//! The store belongs to one pipeline ([`Exemplars`], from
//! [`Telemetry::exemplars`](crate::Telemetry::exemplars)); nothing of it is process-wide.
//!
//! A series is identified by a hash of its label pairs that does not depend on their order,
//! computed from the recorded attributes (names with `.` read as `_`, as Prometheus shows
//! them) and from the exposed labels alike, so neither side allocates.
//!
//! Recording takes no lock: each series has its slots ([`Series`]), found once (a sharded map,
//! locked only to add a series or to read them all) and then kept by the caller beside its
//! bound histogram. A slot is a sequence-numbered set of atomics: a writer claims it with one
//! compare-and-swap and never waits (when another writer holds the slot, that one's exemplar
//! stands); a reader retries a few times and otherwise leaves the slot out.
#![cfg_attr(
    not(any(feature = "_otlp", feature = "prometheus")),
    allow(
        dead_code,
        reason = "the exemplars are read by the OTLP and Prometheus exporters"
    )
)]

use std::collections::HashMap;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::SpanContext;
use opentelemetry::{KeyValue, Value};

use super::buckets::DURATION_BUCKETS;

/// Slots per series: one per bucket and `+Inf`.
pub(crate) const SLOTS: usize = DURATION_BUCKETS.len() + 1;
/// The most series kept; beyond, new series get no exemplar (the SDK bounds series as well).
const MAX_SERIES: usize = 4096;
/// Shards of the series map: adding a series locks one.
const SHARDS: usize = 16;
/// How often a reader tries a slot that a writer is changing.
const READ_TRIES: usize = 8;

/// One exemplar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) value: f64,
    /// Nanoseconds since the Unix epoch.
    pub(crate) time_unix_nano: u64,
}

impl Exemplar {
    /// The exemplar of a sampled request, now; `None` for one not sampled.
    fn of(value: f64, sc: &SpanContext) -> Option<Self> {
        sc.is_sampled().then(|| Self {
            trace_id: sc.trace_id().to_bytes(),
            span_id: sc.span_id().to_bytes(),
            value,
            time_unix_nano: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        })
    }
}

/// A series' exemplars, by slot.
pub(crate) type Slots = [Option<Exemplar>; SLOTS];

/// One slot: a sequence number (odd while written, 0 when never written) and the exemplar
/// in five words.
#[derive(Debug, Default)]
struct Cell {
    seq: AtomicU64,
    words: [AtomicU64; 5],
}

impl Cell {
    fn store(&self, e: &Exemplar) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            // Another request is writing this slot: its exemplar is as recent as this one.
            return;
        }
        // The odd sequence number is visible before any word changes.
        fence(Ordering::Release);
        let (hi, lo) = e.trace_id.split_at(8);
        let words = [
            u64::from_be_bytes(hi.try_into().unwrap_or_default()),
            u64::from_be_bytes(lo.try_into().unwrap_or_default()),
            u64::from_be_bytes(e.span_id),
            e.value.to_bits(),
            e.time_unix_nano,
        ];
        for (cell, word) in self.words.iter().zip(words) {
            cell.store(word, Ordering::Relaxed);
        }
        self.seq.store(seq + 2, Ordering::Release);
    }

    fn load(&self) -> Option<Exemplar> {
        for _ in 0..READ_TRIES {
            let before = self.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let w: [u64; 5] = std::array::from_fn(|i| self.words[i].load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) != before {
                continue;
            }
            let mut trace_id = [0; 16];
            trace_id[..8].copy_from_slice(&w[0].to_be_bytes());
            trace_id[8..].copy_from_slice(&w[1].to_be_bytes());
            return Some(Exemplar {
                trace_id,
                span_id: w[2].to_be_bytes(),
                value: f64::from_bits(w[3]),
                time_unix_nano: w[4],
            });
        }
        None
    }
}

/// The exemplar slots of one series: recorded into without a lock.
#[derive(Debug)]
pub(crate) struct Series {
    cells: [Cell; SLOTS],
}

impl Series {
    fn new() -> Self {
        Self {
            cells: std::array::from_fn(|_| Cell::default()),
        }
    }

    /// Keeps `value` of a sampled request as the exemplar of its bucket.
    pub(crate) fn record(&self, value: f64, sc: &SpanContext) {
        self.record_in(DURATION_BUCKETS, value, sc);
    }

    /// Keeps `value` of a sampled request as the exemplar of its bucket among `buckets` (at
    /// most [`SLOTS`]` - 1` bounds).
    fn record_in(&self, buckets: &[f64], value: f64, sc: &SpanContext) {
        if let Some(e) = Exemplar::of(value, sc) {
            self.cells[slot_in(buckets, value)].store(&e);
        }
    }

    fn slots(&self) -> Slots {
        std::array::from_fn(|i| self.cells[i].load())
    }
}

type SeriesMap = HashMap<u64, Arc<Series>, std::hash::BuildHasherDefault<Identity>>;

struct Store {
    shards: [RwLock<SeriesMap>; SHARDS],
    len: AtomicUsize,
}

/// The exemplar store of one pipeline: the exemplars of the server duration histogram that
/// its Prometheus endpoint serves or its OTLP exporter pushes.
///
/// Get it from [`Telemetry::exemplars`](crate::Telemetry::exemplars) and give it to the HTTP
/// layer with [`OtelLayer::exemplars`](crate::http::OtelLayer::exemplars), beside the
/// pipeline's meter provider; [`init_telemetry`](crate::init_telemetry) does both for the
/// pipeline it installs. Cloning shares the store.
#[derive(Clone)]
pub struct Exemplars {
    store: Arc<Store>,
}

impl std::fmt::Debug for Exemplars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exemplars")
            .field("series", &self.store.len.load(Ordering::Relaxed))
            .finish()
    }
}

impl Exemplars {
    /// An empty store.
    pub(crate) fn new() -> Self {
        Self {
            store: Arc::new(Store {
                shards: std::array::from_fn(|_| RwLock::new(SeriesMap::default())),
                len: AtomicUsize::new(0),
            }),
        }
    }

    fn shard(&self, key: u64) -> &RwLock<SeriesMap> {
        // The top bits: the map itself uses the low ones.
        &self.store.shards[usize::try_from(key >> 60).unwrap_or(0) % SHARDS]
    }

    /// The slots of series `key` (a series hash, see [`series_of_attributes`]), added when
    /// new; `None` once [`MAX_SERIES`] series are kept.
    pub(crate) fn series(&self, key: u64) -> Option<Arc<Series>> {
        let shard = self.shard(key);
        if let Some(series) = shard.read().ok()?.get(&key) {
            return Some(Arc::clone(series));
        }
        let mut map = shard.write().ok()?;
        if let Some(series) = map.get(&key) {
            return Some(Arc::clone(series));
        }
        if self.store.len.fetch_add(1, Ordering::Relaxed) >= MAX_SERIES {
            self.store.len.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Arc::clone(
            map.entry(key).or_insert_with(|| Arc::new(Series::new())),
        ))
    }

    /// Keeps `value` of a sampled request as the exemplar of series `key` and its bucket.
    pub(crate) fn record_series(&self, key: u64, value: f64, sc: &SpanContext) {
        if !sc.is_sampled() {
            return;
        }
        if let Some(series) = self.series(key) {
            series.record(value, sc);
        }
    }

    /// Keeps `value` of a sampled call as the exemplar of the series of `attributes` and of
    /// its bucket among `buckets`: for a histogram other than the HTTP server duration (the
    /// GenAI operation duration), whose buckets differ but number the same.
    pub(crate) fn record_in(
        &self,
        buckets: &[f64],
        attributes: &[KeyValue],
        value: f64,
        sc: &SpanContext,
    ) {
        if !sc.is_sampled() {
            return;
        }
        if let Some(series) = self.series(series_of_attributes(attributes)) {
            series.record_in(buckets, value, sc);
        }
    }

    /// Keeps `value` of a sampled request as the exemplar of its series and bucket.
    #[cfg(test)]
    pub(crate) fn record(&self, attributes: &[KeyValue], value: f64, sc: &SpanContext) {
        self.record_series(series_of_attributes(attributes), value, sc);
    }

    /// The exemplars of a series, by slot.
    pub(crate) fn of_series(&self, key: u64) -> Option<Slots> {
        let series = Arc::clone(self.shard(key).read().ok()?.get(&key)?);
        Some(series.slots())
    }

    /// The exemplars of the series of recorded attributes, by slot.
    #[cfg(feature = "_otlp")]
    pub(crate) fn of_attributes(&self, attributes: &[KeyValue]) -> Option<Slots> {
        self.of_series(series_of_attributes(attributes))
    }
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

/// The GenAI operation duration keeps its exemplars in slots of the same number.
const _: () = assert!(crate::genai::names::DURATION_BUCKETS.len() == DURATION_BUCKETS.len());

/// The bucket slot of `value` among the HTTP server duration's buckets.
#[cfg(test)]
fn slot(value: f64) -> usize {
    slot_in(DURATION_BUCKETS, value)
}

/// The bucket slot of `value` among `buckets`: the first bound it does not exceed, else
/// `+Inf`.
fn slot_in(buckets: &[f64], value: f64) -> usize {
    buckets
        .iter()
        .position(|bound| value <= *bound)
        .unwrap_or(buckets.len())
        .min(SLOTS - 1)
}

/// The slot of a bucket's upper bound among `buckets`.
#[cfg(feature = "prometheus")]
pub(crate) fn slot_of_bound(buckets: &[f64], bound: f64) -> Option<usize> {
    if bound.is_infinite() {
        return Some(buckets.len());
    }
    buckets.iter().position(|b| (*b - bound).abs() < 1e-12)
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
        assert_eq!(slot_of_bound(DURATION_BUCKETS, 0.005), Some(0));
        assert_eq!(
            slot_of_bound(DURATION_BUCKETS, f64::INFINITY),
            Some(DURATION_BUCKETS.len())
        );
        assert_eq!(slot_of_bound(DURATION_BUCKETS, 0.3), None);
        // The GenAI operation duration's own bounds.
        let genai = &crate::genai::names::DURATION_BUCKETS;
        assert_eq!(slot_in(genai, 0.015), 1);
        assert_eq!(slot_of_bound(genai, 81.92), Some(13));
        assert_eq!(slot_in(genai, 100.0), genai.len());
    }

    fn span(n: u64) -> SpanContext {
        use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};
        SpanContext::new(
            TraceId::from(u128::from(n) << 64 | u128::from(n)),
            SpanId::from(n),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        )
    }

    #[test]
    fn readers_never_see_an_exemplar_mixed_from_two_writers() {
        let store = Exemplars::new();
        let series = store.series(7).unwrap();
        std::thread::scope(|s| {
            for t in 1..=4_u64 {
                let series = &series;
                s.spawn(move || {
                    for i in 0..20_000 {
                        let n = t << 32 | i;
                        // Same bucket for all: the value carries the writer's number.
                        #[allow(clippy::cast_precision_loss, reason = "small numbers")]
                        series.record(0.001 + (n as f64) * 1e-18, &span(n));
                    }
                });
            }
            for _ in 0..20_000 {
                if let Some(e) = store.of_series(7).unwrap()[0] {
                    let n = u64::from_be_bytes(e.span_id);
                    assert_eq!(e.trace_id[..8], n.to_be_bytes());
                    assert_eq!(e.trace_id[8..], n.to_be_bytes());
                    #[allow(clippy::cast_precision_loss, reason = "small numbers")]
                    let value = 0.001 + (n as f64) * 1e-18;
                    assert_eq!(e.value.to_bits(), value.to_bits());
                }
            }
        });
        assert!(store.of_series(7).unwrap()[0].is_some());
    }

    #[test]
    fn stores_are_separate_and_bounded() {
        let (one, two) = (Exemplars::new(), Exemplars::new());
        one.record_series(1, 0.02, &span(1));
        assert!(two.of_series(1).is_none());
        assert_eq!(
            one.of_series(1).unwrap()[slot(0.02)].map(|e| e.span_id),
            Some(1_u64.to_be_bytes())
        );
        // Not sampled: nothing kept.
        one.record_series(2, 0.02, &SpanContext::empty_context());
        assert!(one.of_series(2).is_none());
        for key in 0..MAX_SERIES as u64 + 10 {
            one.record_series(key.wrapping_mul(0x9e37_79b9_7f4a_7c15), 0.02, &span(1));
        }
        assert_eq!(one.store.len.load(Ordering::Relaxed), MAX_SERIES);
        assert!(one.series(u64::MAX - 1).is_none());
    }
}
