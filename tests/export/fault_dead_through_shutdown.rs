//! Fault injection: the collector stops answering (a black hole that accepts connections and
//! never answers, or a dead collector) and stays so through `shutdown()`. With an export of
//! each pipeline under way and full queues behind it, shutdown runs out of its deadline; by
//! the time it returns, every span and log record the collector did not receive is counted
//! as lost, exactly, and nothing is counted twice afterwards.

use crate::support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use octollm_telemetry::{ExportStats, ShutdownError, Signal, TelemetryConfig};
use support::fault::{Mode, Proxy};
use support::rotel::Rotel;
use tracing_subscriber::prelude::*;

const WARM_UP: u64 = 50;
/// More than a full queue (2,048) and a batch in flight (512).
const BURST: u64 = 3000;
const DEADLINE: Duration = Duration::from_secs(2);
/// The body of the log record written in each span.
const MESSAGE: &str = "unit of work done";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    BlackHole,
    Dead,
}

/// The log records of this test that rotel printed.
fn received_records(rotel: &Rotel) -> u64 {
    rotel
        .log()
        .split("LogRecord #")
        .skip(1)
        .filter(|block| block.contains(MESSAGE))
        .count() as u64
}

fn received_spans(rotel: &Rotel) -> u64 {
    rotel.spans().iter().filter(|s| s.name == "work").count() as u64
}

/// Every error of a shutdown, flattened.
fn kinds(error: &ShutdownError) -> Vec<(Signal, &'static str)> {
    match error {
        ShutdownError::Timeout { signal, .. } => vec![(*signal, "timeout")],
        ShutdownError::Failed { signal, .. } => vec![(*signal, "failed")],
        ShutdownError::Several(all) => all.iter().flat_map(kinds).collect(),
        _ => vec![],
    }
}

async fn lost_through_shutdown(fault: Fault) {
    let Some(mut rotel) = Rotel::start() else {
        return;
    };
    let upstream: SocketAddr = rotel
        .grpc_endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(upstream, Mode::Forward).await;
    let endpoint = proxy.endpoint();
    let telemetry = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "dead-through-shutdown"),
        ("OTEL_TRACES_SAMPLER", "always_on"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_LOGS_EXPORTER", "otlp"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        // An export hangs (or retries) far longer than the shutdown deadline.
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "30000"),
        ("OTEL_BLRP_EXPORT_TIMEOUT", "30000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_BLRP_SCHEDULE_DELAY", "100"),
        ("LOG_FORMAT", "json"),
    ])
    .unwrap()
    .shutdown_timeout(DEADLINE)
    .log_writer(std::io::sink)
    .build()
    .unwrap();
    let stats = telemetry.guard().stats_handle();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
    let produce = |first: u64, count: u64| {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in first..first + count {
                let span = tracing::info_span!("work", i = i as i64);
                span.in_scope(|| tracing::info!(i = i as i64, "{MESSAGE}"));
            }
        });
    };

    // A healthy start: the warm-up arrives whole.
    produce(0, WARM_UP);
    let deadline = Instant::now() + Duration::from_secs(15);
    while received_spans(&rotel) < WARM_UP || received_records(&rotel) < WARM_UP {
        assert!(
            Instant::now() < deadline,
            "the warm-up did not arrive: {:?}\n{}",
            stats.get(),
            rotel.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The collector stops answering, for good.
    match fault {
        Fault::BlackHole => proxy.set_mode(Mode::BlackHole),
        Fault::Dead => {
            rotel.stop();
            proxy.set_mode(Mode::Forward);
        }
    }
    produce(WARM_UP, BURST);
    // Each pipeline sends its next batch into the fault and waits for the answer.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let result = telemetry.into_guard().shutdown_async().await;
    let after = stats.get();
    rotel.wait_until_quiet(Duration::from_millis(700), Duration::from_secs(10));
    let (spans_in, records_in) = (received_spans(&rotel), received_records(&rotel));
    let produced = WARM_UP + BURST;
    eprintln!("{fault:?}: produced {produced} spans and records, received {spans_in} spans and {records_in} records | {after:?} | {result:?}");
    check(fault, &result, &after, produced, spans_in, records_in);

    // The export thread is gone: nothing changes any more, nothing is counted twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stats.get(), after, "{fault:?}: the counts are final");
}

fn check(
    fault: Fault,
    result: &Result<(), ShutdownError>,
    after: &ExportStats,
    produced: u64,
    spans_in: u64,
    records_in: u64,
) {
    assert_eq!(spans_in, WARM_UP, "{fault:?}: only the warm-up arrives");
    assert_eq!(records_in, WARM_UP, "{fault:?}: only the warm-up arrives");
    if fault == Fault::BlackHole {
        // The export under way never answers: the deadline runs out for both pipelines.
        let error = result
            .as_ref()
            .expect_err("the pipelines could not be flushed");
        let kinds = kinds(error);
        assert!(
            kinds.contains(&(Signal::Traces, "timeout"))
                && kinds.contains(&(Signal::Logs, "timeout")),
            "{fault:?}: {kinds:?}"
        );
    }
    // A dead collector fails each export at once: whether a failure is left for the shutdown
    // to report depends on how far the pipelines got, so only the counts are checked.
    assert_eq!(
        after.lost_spans(),
        produced - spans_in,
        "{fault:?}: lost spans == produced - received: {after:?}"
    );
    assert_eq!(after.exported_spans, spans_in, "{after:?}");
    assert_eq!(
        after.lost_logs(),
        produced - records_in,
        "{fault:?}: lost log records == produced - received: {after:?}"
    );
    assert_eq!(after.exported_logs, records_in, "{after:?}");
    // An export failed (or was cut by the deadline); behind a black hole, whose export hangs,
    // the queue is lost too.
    assert!(
        after.failed_spans > 0 && after.failed_exports > 0,
        "{fault:?}: {after:?}"
    );
    assert!(
        after.failed_logs > 0 && after.failed_log_exports > 0,
        "{fault:?}: {after:?}"
    );
    if fault == Fault::BlackHole {
        assert!(
            after.dropped_spans > 0 && after.dropped_logs > 0,
            "{fault:?}: {after:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_hole_through_shutdown_counts_every_lost_item() {
    lost_through_shutdown(Fault::BlackHole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_collector_through_shutdown_counts_every_lost_item() {
    lost_through_shutdown(Fault::Dead).await;
}
