//! Run with
//!
//! ```not_rust
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 SPAN_RATE=20000 cargo run --release --example span_rate
//! ```
//!
//! Produces `SPAN_RATE` spans per second (each a small server-like span with 8 attributes) for
//! `DURATION_SECS` seconds (default 10) on 4 tasks, then shuts down and prints how many spans
//! were exported and dropped. `scripts/load.sh` runs it at rising rates to find the highest rate
//! a batch configuration (`OTEL_BSP_*`) delivers with no drop.

use std::time::{Duration, Instant};

use tracing::info_span;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rate: u64 = std::env::var("SPAN_RATE")
        .unwrap_or_else(|_| "10000".into())
        .parse()?;
    let secs: u64 = std::env::var("DURATION_SECS")
        .unwrap_or_else(|_| "10".into())
        .parse()?;
    let guard = octollm_telemetry::TelemetryConfig::from_env()?
        .service_name("span-rate")
        .sampler(octollm_telemetry::Sampler::AlwaysOn)
        .metrics_exporter(octollm_telemetry::MetricsExporter::None)
        .log_filter("info")
        .shutdown_timeout(Duration::from_secs(15))
        .init()
        .await?;
    let stats = guard.stats_handle();

    const TASKS: u64 = 4;
    const TICK: Duration = Duration::from_millis(10);
    let per_tick = (rate / TASKS) as f64 * TICK.as_secs_f64();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        tasks.push(tokio::spawn(async move {
            let mut produced = 0u64;
            let mut owed = 0.0;
            let mut ticker = tokio::time::interval(TICK);
            while start.elapsed() < Duration::from_secs(secs) {
                ticker.tick().await;
                owed += per_tick;
                while owed >= 1.0 {
                    let span = info_span!(
                        "POST /detect-pii",
                        http.request.method = "POST",
                        http.route = "/detect-pii",
                        http.response.status_code = 200_i64,
                        url.scheme = "http",
                        task,
                        seq = produced,
                        server.address = "reflex",
                        user_agent.original = "span-rate/1.0",
                    );
                    drop(span.entered());
                    produced += 1;
                    owed -= 1.0;
                }
            }
            produced
        }));
    }
    let mut produced = 0;
    for t in tasks {
        produced += t.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let shutdown = guard.shutdown();
    let s = stats.get();
    println!(
        "target_rate={rate} achieved_rate={:.0} produced={produced} exported={} dropped={} failed={} shutdown={}",
        produced as f64 / elapsed,
        s.exported_spans,
        s.dropped_spans,
        s.failed_spans,
        if shutdown.is_ok() { "ok" } else { "incomplete" }
    );
    Ok(())
}
