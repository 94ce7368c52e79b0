//! The process, Tokio runtime, connection-pool and cache series reach the Prometheus
//! endpoint under the names of the metric contract, pass `promtool check metrics`, are read at
//! each collection, and the runtime ones can be turned off.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use octollm_telemetry::metrics::{self, CacheMetrics, ConnectionPoolMetrics, PoolStats};
use octollm_telemetry::TelemetryConfig;

fn build(vars: &[(&str, &str)]) -> octollm_telemetry::Telemetry {
    let mut all = vec![
        ("OTEL_SERVICE_NAME", "producers"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
    ];
    all.extend_from_slice(vars);
    TelemetryConfig::from_vars(all)
        .unwrap()
        .log_writer(std::io::sink)
        .build()
        .unwrap()
}

/// The value of the first sample of `series` whose line contains every one of `labels`.
fn sample(text: &str, series: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(series) && l[series.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_pool_and_cache_series_have_the_contract_names() {
    let telemetry = build(&[]);
    let provider = telemetry.meter_provider().unwrap();
    let used = Arc::new(AtomicU64::new(3));
    let seen = Arc::clone(&used);
    let pool = ConnectionPoolMetrics::with_meter_provider(provider, "orders-db", move || {
        let used = seen.load(Ordering::Relaxed);
        PoolStats {
            used,
            idle: 10 - used,
            max: 10,
            pending: 2,
        }
    });
    pool.record_wait(Duration::from_millis(30));
    pool.record_timeout();
    let cache = CacheMetrics::with_meter_provider(provider, "reflex");
    cache.hit();
    cache.hit();
    cache.record(false);

    let text = telemetry.encode_prometheus().unwrap();
    let pool_label = r#"db_client_connection_pool_name="orders-db""#;
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_COUNT,
            &[pool_label, r#"db_client_connection_state="used""#]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_COUNT,
            &[pool_label, r#"db_client_connection_state="idle""#]
        ),
        Some(7.0)
    );
    assert_eq!(
        sample(&text, metrics::DB_CLIENT_CONNECTION_MAX, &[pool_label]),
        Some(10.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_PENDING_REQUESTS,
            &[pool_label]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_WAIT_TIME_COUNT,
            &[pool_label]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_WAIT_TIME_BUCKET,
            &[pool_label, r#"le="0.05""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_TIMEOUTS_TOTAL,
            &[pool_label]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::CACHE_LOOKUPS_TOTAL,
            &[r#"cache_name="reflex""#, r#"cache_result="hit""#]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::CACHE_LOOKUPS_TOTAL,
            &[r#"cache_name="reflex""#, r#"cache_result="miss""#]
        ),
        Some(1.0)
    );

    // The pool is read at each collection.
    used.store(9, Ordering::Relaxed);
    let text = telemetry.encode_prometheus().unwrap();
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_COUNT,
            &[pool_label, r#"db_client_connection_state="used""#]
        ),
        Some(9.0)
    );

    // Process and runtime series, with plausible values.
    if cfg!(target_os = "linux") {
        for name in [
            metrics::PROCESS_MEMORY_USAGE,
            metrics::PROCESS_MEMORY_VIRTUAL,
            metrics::PROCESS_THREAD_COUNT,
            metrics::PROCESS_OPEN_FILE_DESCRIPTORS,
        ] {
            assert!(
                sample(&text, name, &[]).is_some_and(|v| v >= 1.0),
                "{name}:\n{text}"
            );
        }
        for mode in ["user", "system"] {
            let label = format!(r#"cpu_mode="{mode}""#);
            assert!(
                sample(&text, metrics::PROCESS_CPU_TIME_TOTAL, &[&label]).is_some(),
                "{text}"
            );
        }
    }
    assert!(
        sample(&text, metrics::PROCESS_UPTIME, &[]).is_some_and(|v| v >= 0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, metrics::TOKIO_WORKERS, &[]),
        Some(2.0),
        "the test's runtime has 2 workers"
    );
    assert!(sample(&text, metrics::TOKIO_TASKS_ALIVE, &[]).is_some());
    assert!(sample(&text, metrics::TOKIO_GLOBAL_QUEUE_DEPTH, &[]).is_some());

    // Every series name is one the crate declares.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        if name.starts_with("process_")
            || name.starts_with("tokio_")
            || name.starts_with("db_client_")
            || name.starts_with("octollm_cache_")
        {
            assert!(
                metrics::EXPOSED_SERIES.contains(&name),
                "undeclared series {name}"
            );
        }
    }

    // promtool accepts the exposition (but for the `_count` lint of semconv gauge names).
    if let Some(promtool) = support::require_tool("promtool") {
        support::exposition::promtool_check(&promtool, &text).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_metrics_can_be_turned_off() {
    let from_code = TelemetryConfig::from_vars([
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OCTOLLM_RUNTIME_METRICS", "true"),
    ])
    .unwrap()
    .runtime_metrics(false)
    .log_writer(std::io::sink)
    .build()
    .unwrap();
    for telemetry in [build(&[("OCTOLLM_RUNTIME_METRICS", "false")]), from_code] {
        let text = telemetry.encode_prometheus().unwrap();
        assert!(
            !text.contains("process_") && !text.contains("tokio_"),
            "{text}"
        );
    }
}
