//! Connection pools: the semantic-convention `db.client.connection.*` metrics, fed by the
//! numbers of the service's own pool.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use super::buckets::DURATION_BUCKETS;

/// A pool's numbers at one moment, as [`ConnectionPoolMetrics`] reads them at each collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections handed out and in use.
    pub used: u64,
    /// Open connections waiting in the pool.
    pub idle: u64,
    /// The most connections the pool opens.
    pub max: u64,
    /// Callers waiting for a connection.
    pub pending: u64,
}

/// The `db.client.connection.*` metrics of one pool.
///
/// The pool's state is read from `stats` when the exporter collects (a Prometheus scrape, an
/// OTLP push), never on a timer; the wait for a connection and the timeouts are recorded
/// where the service acquires one. Prometheus sees `db_client_connection_count` (label
/// `db_client_connection_state` = `idle` | `used`), `db_client_connection_max`,
/// `db_client_connection_pending_requests`, `db_client_connection_wait_time_seconds`
/// (histogram) and `db_client_connection_timeouts_total`, each with
/// `db_client_connection_pool_name`.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Instant;
/// use octollm_telemetry::metrics::{ConnectionPoolMetrics, PoolStats};
///
/// // Any pool that can tell its numbers: here two counters stand for one.
/// let in_use = Arc::new(AtomicU64::new(0));
/// let seen = Arc::clone(&in_use);
/// let metrics = ConnectionPoolMetrics::new("orders-db", move || {
///     let used = seen.load(Ordering::Relaxed);
///     PoolStats { used, idle: 10 - used, max: 10, pending: 0 }
/// });
/// let asked = Instant::now();
/// in_use.fetch_add(1, Ordering::Relaxed); // the pool hands out a connection
/// metrics.record_wait(asked.elapsed());
/// ```
#[derive(Clone)]
pub struct ConnectionPoolMetrics {
    pool: [KeyValue; 1],
    wait: Histogram<f64>,
    timeouts: Counter<u64>,
}

impl fmt::Debug for ConnectionPoolMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionPoolMetrics")
            .field("pool", &self.pool[0].value.as_str())
            .finish_non_exhaustive()
    }
}

impl ConnectionPoolMetrics {
    /// The metrics of the pool named `pool_name`, on the meter provider `init_telemetry`
    /// installed (create it after `init`; before, nothing is recorded). `stats` is called at
    /// each collection.
    pub fn new<F>(pool_name: impl Into<String>, stats: F) -> Self
    where
        F: Fn() -> PoolStats + Send + Sync + 'static,
    {
        let meter = crate::installed::meter()
            .unwrap_or_else(|| opentelemetry::global::meter(crate::shared::SCOPE));
        Self::on(&meter, pool_name.into(), stats)
    }

    /// The same, on `provider` (from [`Telemetry::meter_provider`](crate::Telemetry::meter_provider)).
    pub fn with_meter_provider<F>(
        provider: &SdkMeterProvider,
        pool_name: impl Into<String>,
        stats: F,
    ) -> Self
    where
        F: Fn() -> PoolStats + Send + Sync + 'static,
    {
        Self::on(
            &provider.meter(crate::shared::SCOPE),
            pool_name.into(),
            stats,
        )
    }

    fn on<F>(meter: &Meter, name: String, stats: F) -> Self
    where
        F: Fn() -> PoolStats + Send + Sync + 'static,
    {
        let pool = KeyValue::new("db.client.connection.pool.name", name);
        let stats = Arc::new(stats);
        let (read, p) = (Arc::clone(&stats), pool.clone());
        let (idle, used) = (
            [
                p.clone(),
                KeyValue::new("db.client.connection.state", "idle"),
            ],
            [p, KeyValue::new("db.client.connection.state", "used")],
        );
        meter
            .i64_observable_up_down_counter("db.client.connection.count")
            .with_unit("{connection}")
            .with_description("Connections of the pool, by state")
            .with_callback(move |o| {
                let s = read();
                o.observe(i64::try_from(s.idle).unwrap_or(i64::MAX), &idle);
                o.observe(i64::try_from(s.used).unwrap_or(i64::MAX), &used);
            })
            .build();
        let one = |name: &'static str, description: &'static str, field: fn(&PoolStats) -> u64| {
            let (read, attrs) = (Arc::clone(&stats), [pool.clone()]);
            meter
                .i64_observable_up_down_counter(name)
                .with_unit(if name.ends_with("pending_requests") {
                    "{request}"
                } else {
                    "{connection}"
                })
                .with_description(description)
                .with_callback(move |o| {
                    o.observe(i64::try_from(field(&read())).unwrap_or(i64::MAX), &attrs);
                })
                .build();
        };
        one(
            "db.client.connection.max",
            "The most connections the pool opens",
            |s| s.max,
        );
        one(
            "db.client.connection.pending_requests",
            "Callers waiting for a connection",
            |s| s.pending,
        );
        Self {
            wait: meter
                .f64_histogram("db.client.connection.wait_time")
                .with_unit("s")
                .with_description("Time it took to obtain a connection from the pool")
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            timeouts: meter
                .u64_counter("db.client.connection.timeouts")
                .with_unit("{timeout}")
                .with_description("Attempts to obtain a connection that timed out")
                .build(),
            pool: [pool],
        }
    }

    /// Records how long obtaining a connection took.
    pub fn record_wait(&self, wait: Duration) {
        self.wait.record(wait.as_secs_f64(), &self.pool);
    }

    /// Counts an attempt to obtain a connection that timed out.
    pub fn record_timeout(&self) {
        self.timeouts.add(1, &self.pool);
    }
}
