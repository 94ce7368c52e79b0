//! A collector that accepts connections and never answers, and a queue of 8: the application
//! never waits for the export, the spans that do not fit are dropped and counted, and every
//! span produced ends up counted exactly once (dropped or failed; none exported).

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use octollm_telemetry::{LogFormat, Protocol, Sampler, TelemetryConfig};

const PRODUCED: u64 = 500;
const QUEUE: usize = 8;
/// Each export request hangs this long before it fails.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(1);

/// Accepts TCP connections, keeps them open and never reads or writes.
fn black_hole() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Lives until the test process ends, holding every connection open.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_drops_and_counts_without_blocking() {
    let port = black_hole();
    let guard = TelemetryConfig::from_vars([("OTEL_SERVICE_NAME", "drop-counting")])
        .unwrap()
        .sampler(Sampler::AlwaysOn)
        .endpoint(format!("http://127.0.0.1:{port}"))
        .protocol(Protocol::Grpc)
        .max_queue_size(QUEUE)
        .export_timeout(EXPORT_TIMEOUT)
        .schedule_delay(Duration::from_millis(50))
        .shutdown_timeout(Duration::from_secs(2))
        .log_format(LogFormat::Json)
        .log_writer(std::io::sink)
        .init()
        .await
        .unwrap();

    // Producing is never held up by the hanging export: a blocking queue would need at least
    // PRODUCED / QUEUE exports of EXPORT_TIMEOUT each.
    let started = Instant::now();
    for i in 0..PRODUCED {
        let span = tracing::info_span!("burst", i = i as i64);
        span.in_scope(|| tracing::info!("in burst"));
    }
    let took = started.elapsed();
    assert!(
        took < EXPORT_TIMEOUT,
        "{PRODUCED} spans took {took:?}: the application waited for the export"
    );
    let after_burst = guard.export_stats();
    // At most one batch being exported plus a full queue are held; the rest is dropped.
    assert!(
        after_burst.dropped_spans >= PRODUCED - 2 * QUEUE as u64,
        "{after_burst:?}"
    );

    // Let the held spans fail (each export hangs until its timeout), then account for all.
    let deadline = Instant::now() + Duration::from_secs(20);
    let settled = loop {
        let s = guard.export_stats();
        if s.dropped_spans + s.failed_spans + s.exported_spans >= PRODUCED
            || Instant::now() >= deadline
        {
            break s;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(settled.exported_spans, 0, "{settled:?}");
    assert!(settled.failed_exports >= 1, "{settled:?}");
    assert!(settled.failed_spans >= 1, "{settled:?}");
    assert_eq!(
        settled.dropped_spans + settled.failed_spans,
        PRODUCED,
        "every span counted exactly once: {settled:?}"
    );
    // The count the guard exposes is every span that did not reach the collector.
    assert_eq!(guard.dropped_spans(), PRODUCED, "{settled:?}");
    assert_eq!(settled.lost_spans(), PRODUCED, "{settled:?}");
    assert!(
        settled.failed_spans <= 2 * QUEUE as u64,
        "only the held spans were sent: {settled:?}"
    );
    // Nothing was dropped after the burst: the later failures are failures, not drops.
    assert_eq!(
        settled.dropped_spans, after_burst.dropped_spans,
        "{settled:?}"
    );

    // Nothing is pending any more: shutdown has nothing to flush.
    let started = Instant::now();
    guard.shutdown().expect("nothing left to flush");
    assert!(started.elapsed() < Duration::from_secs(2) + Duration::from_millis(400));
}
