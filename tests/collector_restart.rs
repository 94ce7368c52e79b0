//! The collector goes away and comes back on the same address: the spans exported while it was
//! down are counted as failed, and export resumes on its own once it is back.

mod support;

use std::time::Duration;

use octollm_telemetry::{Protocol, Sampler, ShutdownError, Signal};
use support::rotel::{config_against, LogCapture, Rotel};

/// A span exported under `name` (`otel.name` renames it).
fn one_span(name: &'static str) {
    tracing::info_span!("span", otel.name = name).in_scope(|| {});
}

#[tokio::test(flavor = "multi_thread")]
async fn export_resumes_after_the_collector_restarts() {
    let Some(mut rotel) = Rotel::start() else {
        return;
    };
    let guard = config_against(
        &rotel,
        Protocol::Grpc,
        [("OTEL_SERVICE_NAME", "collector-restart")],
        &LogCapture::default(),
    )
    .sampler(Sampler::AlwaysOn)
    .schedule_delay(Duration::from_secs(60))
    .shutdown_timeout(Duration::from_secs(5))
    .init()
    .await
    .unwrap();

    one_span("before");
    guard.force_flush().expect("collector up");
    assert_eq!(rotel.wait_for_spans(1, Duration::from_secs(10)).len(), 1);

    let ports = rotel.ports();
    rotel.stop();
    assert!(!rotel.is_running());
    one_span("during");
    match guard.force_flush() {
        Err(ShutdownError::Failed {
            signal: Signal::Traces,
            ..
        })
        | Err(ShutdownError::Timeout {
            signal: Signal::Traces,
            ..
        }) => {}
        other => panic!("flush with the collector down: {other:?}"),
    }
    let stats = guard.export_stats();
    assert_eq!(stats.exported_spans, 1, "{stats:?}");
    assert_eq!(stats.failed_spans, 1, "{stats:?}");

    rotel.restart();
    assert_eq!(rotel.ports(), ports, "same address");
    one_span("after");
    guard.force_flush().expect("collector back");
    let stats = guard.export_stats();
    assert_eq!(stats.exported_spans, 2, "{stats:?}");
    assert_eq!(stats.failed_spans, 1, "{stats:?}");
    assert_eq!(stats.dropped_spans, 0, "{stats:?}");
    guard.shutdown().expect("shutdown");

    rotel.wait_for_spans(2, Duration::from_secs(10));
    let spans = rotel.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(3));
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["before", "after"], "{spans:#?}");
}
