//! On a current-thread runtime (plain `#[tokio::test]`), the blocking `shutdown()` flushes to
//! a live gRPC collector and returns `Ok`: the export runs on its own thread, so blocking the
//! caller's only worker does not stall it.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octollm_telemetry::{Protocol, Sampler};
use opentelemetry::trace::TraceContextExt as _;
use support::rotel::{config_against, LogCapture, Rotel};

const N: usize = 20;
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn shutdown_on_a_current_thread_runtime_flushes() {
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::CurrentThread
    );
    let Some(rotel) = Rotel::start() else { return };
    let guard = config_against(
        &rotel,
        Protocol::Grpc,
        [("OTEL_SERVICE_NAME", "current-thread")],
        &LogCapture::default(),
    )
    .sampler(Sampler::AlwaysOn)
    // Nothing is exported on schedule before the shutdown: it has to flush them all.
    .schedule_delay(Duration::from_secs(60))
    .shutdown_timeout(SHUTDOWN_TIMEOUT)
    .init()
    .await
    .unwrap();

    let mut produced = BTreeSet::new();
    for i in 0..N {
        let span = tracing::info_span!("unit", i = i as i64);
        produced.insert(span.context().span().span_context().span_id().to_string());
        // Spans that live across an await on this runtime.
        async {
            tokio::task::yield_now().await;
        }
        .await;
        drop(span);
    }

    let started = Instant::now();
    let result = guard.shutdown();
    let took = started.elapsed();
    assert!(result.is_ok(), "shutdown after {took:?}: {result:?}");
    assert!(
        took < SHUTDOWN_TIMEOUT,
        "shutdown returned Ok but only after {took:?}"
    );

    rotel.wait_for_spans(N, Duration::from_secs(10));
    let spans = rotel.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(3));
    let received: BTreeSet<String> = spans.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(spans.len(), N, "{spans:#?}");
    assert_eq!(received, produced);
}
