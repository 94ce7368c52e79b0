//! Caches: lookups counted by result, for hit ratios.

use opentelemetry::metrics::{Counter, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// Hit and miss counts of one cache: `octollm.cache.lookups`, which Prometheus sees as
/// `octollm_cache_lookups_total` with the labels `cache_name` and `cache_result` (`hit` |
/// `miss`). The hit ratio is
/// `sum(rate(octollm_cache_lookups_total{cache_result="hit"}[5m])) / sum(rate(octollm_cache_lookups_total[5m]))`.
///
/// ```
/// let cache = octollm_telemetry::metrics::CacheMetrics::new("reflex");
/// let found: Option<&str> = None;
/// cache.record(found.is_some());
/// ```
#[derive(Debug, Clone)]
pub struct CacheMetrics {
    lookups: Counter<u64>,
    hit: [KeyValue; 2],
    miss: [KeyValue; 2],
}

impl CacheMetrics {
    /// The counts of the cache named `name`, on the meter provider `init_telemetry` installed
    /// (create it after `init`; before, nothing is recorded).
    pub fn new(name: impl Into<String>) -> Self {
        let meter = crate::installed::meter()
            .unwrap_or_else(|| opentelemetry::global::meter(crate::shared::SCOPE));
        Self::on(&meter, name.into())
    }

    /// The same, on `provider` (from [`Telemetry::meter_provider`](crate::Telemetry::meter_provider)).
    pub fn with_meter_provider(provider: &SdkMeterProvider, name: impl Into<String>) -> Self {
        Self::on(&provider.meter(crate::shared::SCOPE), name.into())
    }

    fn on(meter: &Meter, name: String) -> Self {
        let cache = KeyValue::new("cache.name", name);
        Self {
            lookups: meter
                .u64_counter("octollm.cache.lookups")
                .with_unit("{lookup}")
                .with_description("Cache lookups, by result")
                .build(),
            hit: [cache.clone(), KeyValue::new("cache.result", "hit")],
            miss: [cache, KeyValue::new("cache.result", "miss")],
        }
    }

    /// Counts a lookup that found its entry.
    pub fn hit(&self) {
        self.lookups.add(1, &self.hit);
    }

    /// Counts a lookup that did not.
    pub fn miss(&self) {
        self.lookups.add(1, &self.miss);
    }

    /// Counts a lookup: a hit when `found`.
    pub fn record(&self, found: bool) {
        if found {
            self.hit();
        } else {
            self.miss();
        }
    }
}
