//! `OTEL_SAMPLING_RATE=1.0` keeps every new trace, even in prod (whose default is 0.1), and
//! every span arrives when the spans need several export batches.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octollm_telemetry::{LogFormat, Protocol, Sampler, TelemetryConfig};
use opentelemetry::trace::TraceContextExt as _;
use support::rotel::{AttrValue, LogCapture, Rotel};

const N: usize = 200;

#[tokio::test(flavor = "multi_thread")]
async fn ratio_one_exports_every_root_span() {
    let Some(rotel) = Rotel::start() else { return };
    let config = TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "ratio-one"),
        ("ENVIRONMENT", "prod"),
        ("OTEL_SAMPLING_RATE", "1.0"),
        // 200 spans = 4 batches of at most 64; the queue (256) holds them all.
        ("OTEL_BSP_MAX_QUEUE_SIZE", "256"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &rotel.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .unwrap()
    .log_format(LogFormat::Json)
    .log_writer(LogCapture::default());
    assert_eq!(
        config.effective().unwrap().sampler(),
        Sampler::ParentBasedTraceIdRatio(1.0)
    );
    assert_eq!(
        config.effective().unwrap().traces_protocol().unwrap(),
        Protocol::Grpc
    );
    let guard = config.init().await.unwrap();

    let mut produced = BTreeSet::new();
    for i in 0..N {
        let root = tracing::info_span!("root", i = i as i64);
        let sc = root.context().span().span_context().clone();
        assert!(sc.is_sampled(), "root {i}");
        produced.insert((sc.trace_id().to_string(), sc.span_id().to_string()));
    }
    assert_eq!(produced.len(), N, "distinct ids");

    guard.force_flush().expect("flush");
    let stats = guard.export_stats();
    assert_eq!(stats.exported_spans, N as u64, "{stats:?}");
    assert_eq!(stats.dropped_spans, 0, "{stats:?}");
    assert_eq!(stats.failed_spans, 0, "{stats:?}");
    assert_eq!(stats.failed_exports, 0, "{stats:?}");
    guard.shutdown().expect("shutdown");

    rotel.wait_for_spans(N, Duration::from_secs(10));
    let spans = rotel.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(3));
    assert_eq!(spans.len(), N);
    let received: BTreeSet<(String, String)> = spans
        .iter()
        .map(|s| (s.trace_id.clone(), s.span_id.clone()))
        .collect();
    assert_eq!(received, produced, "exactly the spans produced, once each");
    assert!(spans
        .iter()
        .all(|s| s.name == "root" && s.parent_span_id.is_empty()));
    let indexes: BTreeSet<i64> = spans
        .iter()
        .map(|s| match s.attr("i") {
            Some(AttrValue::Int(i)) => *i,
            other => panic!("attribute i: {other:?}"),
        })
        .collect();
    assert_eq!(indexes, (0..N as i64).collect());
    assert!(spans
        .iter()
        .all(|s| s.resource_str("deployment.environment.name") == Some("prod")));
}
