//! The check shared by `OTEL_TRACES_EXPORTER=none` and `OTEL_SDK_DISABLED=true`: a running
//! collector configured as the endpoint receives nothing, while log lines and propagation keep
//! their trace ids.

use std::collections::HashMap;
use std::time::Duration;

use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octollm_telemetry::{LogFormat, TelemetryConfig, TracesExporter};
use opentelemetry::trace::TraceContextExt as _;

use super::rotel::{LogCapture, Rotel};

/// Initialises with `vars` plus an OTLP endpoint pointing at a live collector, and checks that
/// ids are still made, logged and propagated while nothing reaches the collector. `check`
/// sees the configuration before `init`.
pub async fn nothing_exported_ids_kept(
    vars: &[(&str, &str)],
    check: impl FnOnce(&TelemetryConfig),
) {
    let Some(rotel) = Rotel::start() else { return };
    let logs = LogCapture::default();
    let endpoint = rotel.grpc_endpoint();
    let common = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_SAMPLING_RATE", "1.0"),
    ];
    let config = TelemetryConfig::from_vars(vars.iter().copied().chain(common))
        .unwrap()
        .log_format(LogFormat::Json)
        .log_writer(logs.clone());
    assert_eq!(
        config.effective().unwrap().traces_exporter(),
        TracesExporter::None
    );
    check(&config);
    let guard = config.init().await.unwrap();

    let span = tracing::info_span!("unexported", n = 1_i64);
    let sc = span.context().span().span_context().clone();
    assert!(sc.is_valid() && sc.is_sampled(), "{sc:?}");
    span.in_scope(|| {
        tracing::info_span!("unexported_child").in_scope(|| tracing::info!("inside child"));
        tracing::info!("inside span");
    });
    let mut headers = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&span.context(), &mut headers)
    });
    drop(span);

    let line = &logs.with_message("inside span")[0];
    assert_eq!(line["trace_id"], sc.trace_id().to_string().as_str());
    assert_eq!(line["span_id"], sc.span_id().to_string().as_str());
    assert_eq!(line["trace_sampled"], true);
    let child_line = &logs.with_message("inside child")[0];
    assert_eq!(child_line["trace_id"], sc.trace_id().to_string().as_str());
    assert_ne!(child_line["span_id"], sc.span_id().to_string().as_str());
    assert_eq!(
        headers.get("traceparent").map(String::as_str),
        // Sampled, and random: the trace started here, with a random trace id.
        Some(format!("00-{}-{}-03", sc.trace_id(), sc.span_id()).as_str()),
        "the context is still propagated"
    );

    let stats = guard.export_stats();
    assert_eq!(stats.exported_spans, 0, "{stats:?}");
    assert_eq!(stats.dropped_spans, 0, "{stats:?}");
    guard.shutdown().expect("shutdown with nothing to flush");

    // Give a (wrong) exporter every chance to deliver: several schedule delays.
    let spans = rotel.wait_until_quiet(Duration::from_secs(1), Duration::from_secs(3));
    assert!(spans.is_empty(), "nothing is exported: {spans:#?}");

    // The receiver works: a span sent to it directly arrives, alone.
    let control = rotel.send_control_span("control");
    let spans = rotel.wait_for_spans(1, Duration::from_secs(10));
    let spans_after = rotel.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(3));
    assert_eq!(spans.len(), 1, "{spans_after:#?}");
    assert_eq!(spans_after.len(), 1, "{spans_after:#?}");
    assert_eq!(spans_after[0].trace_id, control);
    assert_eq!(spans_after[0].name, "control");
}
