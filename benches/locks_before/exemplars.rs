//! The exemplar store at the branch point (06695dd, src/metrics/exemplars.rs): one
//! process-wide `Mutex<HashMap>` taken by every sampled request. Copied for the comparison in
//! `benches/locks.rs`; only the recording path, unchanged but for its imports.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use octollm_telemetry::metrics::DURATION_BUCKETS;
use opentelemetry::trace::SpanContext;

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

fn store() -> &'static Mutex<SeriesMap> {
    static STORE: OnceLock<Mutex<SeriesMap>> = OnceLock::new();
    STORE.get_or_init(|| Mutex::new(SeriesMap::default()))
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

/// The bucket slot of `value`: the first bound it does not exceed, else `+Inf`.
fn slot(value: f64) -> usize {
    DURATION_BUCKETS
        .iter()
        .position(|bound| value <= *bound)
        .unwrap_or(DURATION_BUCKETS.len())
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
