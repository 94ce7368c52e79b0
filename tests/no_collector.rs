//! Nothing listens on the endpoint: init succeeds, the application keeps creating spans and
//! writing log lines, failed exports are counted (nothing is counted as exported), and
//! `shutdown` returns within its deadline.

mod support;

use std::time::{Duration, Instant};

use octollm_telemetry::{LogFormat, Protocol, Sampler, ShutdownError, Signal, TelemetryConfig};
use support::rotel::LogCapture;

const FIRST: u64 = 200;
const SECOND: u64 = 100;
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);
/// Scheduling slack on top of the deadline (not a performance bound).
const SLACK: Duration = Duration::from_millis(400);

fn work(n: u64, logs: &LogCapture) {
    let started = Instant::now();
    for i in 0..n {
        let span = tracing::info_span!("work", i = i as i64);
        span.in_scope(|| tracing::info!(i = i as i64, "working"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{n} spans took {:?}",
        started.elapsed()
    );
    assert!(!logs.text().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_absent_collector_costs_nothing_but_the_spans() {
    // A port nobody listens on: connections are refused.
    let port = support::free_port();
    let logs = LogCapture::default();
    let guard = TelemetryConfig::from_vars([("OTEL_SERVICE_NAME", "no-collector")])
        .unwrap()
        .sampler(Sampler::AlwaysOn)
        .endpoint(format!("http://127.0.0.1:{port}"))
        .protocol(Protocol::Grpc)
        .schedule_delay(Duration::from_millis(100))
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .log_format(LogFormat::Json)
        .log_filter("info")
        .log_writer(logs.clone())
        .init()
        .await
        .expect("init does not need the collector");

    // Phase 1: the spans are exported in the background and fail; every one is accounted for.
    work(FIRST, &logs);
    let deadline = Instant::now() + Duration::from_secs(15);
    let stats = loop {
        let stats = guard.export_stats();
        if stats.failed_spans + stats.dropped_spans >= FIRST || Instant::now() >= deadline {
            break stats;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(stats.exported_spans, 0, "{stats:?}");
    assert_eq!(
        stats.dropped_spans, 0,
        "the queue (2048) had room: {stats:?}"
    );
    assert_eq!(stats.failed_spans, FIRST, "{stats:?}");
    assert!(stats.failed_exports >= 1, "{stats:?}");

    // The application carried on: every log line, each with the ids of its span.
    let lines = logs.with_message("working");
    assert_eq!(lines.len() as u64, FIRST);
    assert!(lines.iter().all(
        |l| l["trace_id"].as_str().is_some_and(|t| t.len() == 32) && l["trace_sampled"] == true
    ));

    // Phase 2: spans still pending at shutdown cannot be delivered; shutdown says so, in time.
    work(SECOND, &logs);
    assert_eq!(logs.with_message("working").len() as u64, FIRST + SECOND);
    let before = guard.export_stats();
    assert_eq!(before.exported_spans, 0, "{before:?}");
    let started = Instant::now();
    let result = guard.shutdown();
    let took = started.elapsed();
    assert!(
        took < SHUTDOWN_TIMEOUT + SLACK,
        "shutdown took {took:?} with a {SHUTDOWN_TIMEOUT:?} deadline"
    );
    match result {
        Err(ShutdownError::Timeout {
            signal: Signal::Traces,
            deadline,
        }) => {
            assert_eq!(deadline, SHUTDOWN_TIMEOUT)
        }
        Err(ShutdownError::Failed {
            signal: Signal::Traces,
            ..
        }) => {}
        other => panic!("pending spans could not be delivered, yet shutdown said {other:?}"),
    }
}
