//! Run with `cargo run --example db_pool`.
//!
//! A connection pool's health next to the service's RED metrics: a
//! [deadpool](https://docs.rs/deadpool) pool reports the semantic-convention
//! `db.client.connection.*` metrics through `ConnectionPoolMetrics` (connections by state, the
//! maximum, callers waiting, the wait for a connection, timeouts). The pool's numbers are read
//! when the exporter collects; the wait is recorded where the service asks for a connection.
//! The connections here are stand-ins (the pattern is the same for deadpool-postgres,
//! deadpool-redis or any other pool that can report its size); the example prints what
//! `/metrics` would serve and exits.

use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, Pool, PoolError, RecycleResult};
use octollm_telemetry::metrics::{ConnectionPoolMetrics, PoolStats};

/// A stand-in for a database connection.
struct Connection {
    id: u32,
}

/// Opens stand-in connections.
struct Manager;

impl managed::Manager for Manager {
    type Type = Connection;
    type Error = std::convert::Infallible;

    async fn create(&self) -> Result<Connection, Self::Error> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        Ok(Connection {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    async fn recycle(&self, _: &mut Connection, _: &Metrics) -> RecycleResult<Self::Error> {
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _guard = octollm_telemetry::TelemetryConfig::from_env()?
        .service_name("orders")
        .traces_exporter(octollm_telemetry::TracesExporter::None)
        .init()
        .await?;

    let pool: Pool<Manager> = Pool::builder(Manager)
        .max_size(4)
        .wait_timeout(Some(Duration::from_millis(50)))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?;
    // Reported at each collection from deadpool's own status.
    let watched = pool.clone();
    let metrics = ConnectionPoolMetrics::new("orders-db", move || {
        let status = watched.status();
        let to_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        PoolStats {
            used: to_u64(status.size - status.available),
            idle: to_u64(status.available),
            max: to_u64(status.max_size),
            pending: to_u64(status.waiting),
        }
    });

    // Ask a pool of four for six connections: the last two time out.
    let mut held = Vec::new();
    for _ in 0..6 {
        let asked = Instant::now();
        match pool.get().await {
            Ok(connection) => {
                metrics.record_wait(asked.elapsed());
                held.push(connection);
            }
            Err(PoolError::Timeout(_)) => metrics.record_timeout(),
            Err(e) => return Err(e.into()),
        }
    }
    println!(
        "holding connections {:?}",
        held.iter().map(|c| c.id).collect::<Vec<_>>()
    );
    drop(held.pop());

    let text = octollm_telemetry::metrics::encode_prometheus()
        .ok_or("metrics are not served in the Prometheus format")?;
    for line in text
        .lines()
        .filter(|l| l.starts_with("db_client_connection"))
    {
        println!("{line}");
    }
    Ok(())
}
