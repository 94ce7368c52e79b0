//! `parentbased_traceidratio` at 0.0: no new trace is exported, but the caller's decision wins:
//! a span under a remote sampled parent is exported (with its local children), one under a
//! remote unsampled parent is not.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octollm_telemetry::{Protocol, Sampler};
use opentelemetry::trace::TraceContextExt as _;
use support::rotel::{config_against, LogCapture, Rotel};

const SAMPLED_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SAMPLED_PARENT: &str = "00f067aa0ba902b7";
const UNSAMPLED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const UNSAMPLED_PARENT: &str = "b7ad6b7169203331";
const ROOTS: usize = 50;

fn remote_parent(traceparent: &str) -> opentelemetry::Context {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier))
}

#[tokio::test(flavor = "multi_thread")]
async fn ratio_zero_exports_only_what_a_sampled_caller_asked_for() {
    let Some(rotel) = Rotel::start() else { return };
    let logs = LogCapture::default();
    let guard = config_against(
        &rotel,
        Protocol::Grpc,
        [("OTEL_SERVICE_NAME", "ratio-zero")],
        &logs,
    )
    .sampler(Sampler::ParentBasedTraceIdRatio(0.0))
    .init()
    .await
    .unwrap();

    // New traces: never sampled, though they get valid ids.
    for i in 0..ROOTS {
        let root = tracing::info_span!("root", i = i as i64);
        let cx = root.context();
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid(), "root {i} has ids");
        assert!(
            !sc.is_sampled(),
            "root {i} must not be sampled at ratio 0.0"
        );
        root.in_scope(|| {
            tracing::info_span!("root_child").in_scope(|| tracing::info!("in a new trace"));
        });
    }

    // A remote sampled parent: followed.
    let joined = tracing::info_span!("from_sampled_parent");
    joined
        .set_parent(remote_parent(&format!(
            "00-{SAMPLED_TRACE}-{SAMPLED_PARENT}-01"
        )))
        .expect("set_parent before the span starts");
    joined.in_scope(|| {
        tracing::info_span!("local_child").in_scope(|| tracing::info!("joined a sampled trace"));
    });
    let joined_cx = joined.context().span().span_context().clone();
    assert!(joined_cx.is_sampled());
    drop(joined);

    // A remote unsampled parent: followed too, so nothing is exported.
    let declined = tracing::info_span!("from_unsampled_parent");
    declined
        .set_parent(remote_parent(&format!(
            "00-{UNSAMPLED_TRACE}-{UNSAMPLED_PARENT}-00"
        )))
        .expect("set_parent before the span starts");
    declined.in_scope(|| {
        tracing::info_span!("unsampled_child")
            .in_scope(|| tracing::info!("joined an unsampled trace"));
    });
    let declined_cx = declined.context().span().span_context().clone();
    assert!(!declined_cx.is_sampled());
    assert_eq!(declined_cx.trace_id().to_string(), UNSAMPLED_TRACE);
    drop(declined);

    guard.force_flush().expect("flush to a live collector");
    let stats = guard.export_stats();
    assert_eq!(stats.exported_spans, 2, "{stats:?}");
    assert_eq!(stats.dropped_spans, 0, "{stats:?}");
    assert_eq!(stats.failed_spans, 0, "{stats:?}");
    guard.shutdown().expect("shutdown");

    rotel.wait_for_spans(2, Duration::from_secs(10));
    let spans = rotel.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(3));
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["from_sampled_parent", "local_child"],
        "only the sampled caller's trace is exported: {spans:#?}"
    );
    let joined = spans
        .iter()
        .find(|s| s.name == "from_sampled_parent")
        .unwrap();
    let child = spans.iter().find(|s| s.name == "local_child").unwrap();
    assert_eq!(joined.trace_id, SAMPLED_TRACE);
    assert_eq!(joined.parent_span_id, SAMPLED_PARENT);
    assert_eq!(joined.span_id, joined_cx.span_id().to_string());
    // Sampled, with a remote parent (OTLP span flags 0x100 | 0x200 | sampled).
    assert_eq!(joined.flags, 0x301, "flags {:#x}", joined.flags);
    assert_eq!(child.trace_id, SAMPLED_TRACE);
    assert_eq!(child.parent_span_id, joined.span_id);
    assert_eq!(child.flags, 0x101, "local parent: flags {:#x}", child.flags);

    // The log lines say which traces were sampled.
    let lines = logs.with_message("in a new trace");
    assert_eq!(lines.len(), ROOTS);
    assert!(
        lines.iter().all(|l| l["trace_sampled"] == false),
        "{lines:?}"
    );
    let joined_line = &logs.with_message("joined a sampled trace")[0];
    assert_eq!(joined_line["trace_id"], SAMPLED_TRACE);
    assert_eq!(joined_line["span_id"], child.span_id.as_str());
    assert_eq!(joined_line["trace_sampled"], true);
    let declined_line = &logs.with_message("joined an unsampled trace")[0];
    assert_eq!(declined_line["trace_id"], UNSAMPLED_TRACE);
    assert_eq!(declined_line["trace_sampled"], false);
}
