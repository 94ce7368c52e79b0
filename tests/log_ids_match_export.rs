//! A JSON log line written inside a span carries exactly the trace and span ids of the span the
//! collector received; outside any span it has no trace keys; inside an unsampled span it keeps
//! the ids with `trace_sampled: false`.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use octollm_telemetry::{Protocol, Sampler};
use opentelemetry::trace::TraceContextExt as _;
use serde_json::{Map, Value};
use support::rotel::{config_against, LogCapture, Rotel};
use tracing::Instrument as _;

const UNSAMPLED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const UNSAMPLED_PARENT: &str = "b7ad6b7169203331";

fn one_line(logs: &LogCapture, message: &str) -> Map<String, Value> {
    let mut lines = logs.with_message(message);
    assert_eq!(lines.len(), 1, "one line {message:?} in:\n{}", logs.text());
    lines.remove(0)
}

fn assert_no_trace_keys(line: &Map<String, Value>) {
    for key in ["trace_id", "span_id", "trace_sampled", "span"] {
        assert!(!line.contains_key(key), "{key} outside a span: {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn log_lines_carry_the_ids_of_the_exported_spans() {
    let Some(rotel) = Rotel::start() else { return };
    let logs = LogCapture::default();
    let guard = config_against(
        &rotel,
        Protocol::Grpc,
        [("OTEL_SERVICE_NAME", "log-ids")],
        &logs,
    )
    .sampler(Sampler::ParentBasedAlwaysOn)
    .init()
    .await
    .unwrap();

    tracing::info!("before any span");

    let request = tracing::info_span!("request");
    request.in_scope(|| {
        tracing::info!(user = "u1", "inside request");
        tracing::info_span!("db").in_scope(|| tracing::warn!("inside db"));
        tracing::info!("back in request");
    });
    // Across an await, on another task.
    let task = tokio::spawn(
        async {
            tokio::task::yield_now().await;
            tracing::info!("inside task");
        }
        .instrument(tracing::info_span!("task")),
    );
    task.await.unwrap();
    drop(request);

    // An unsampled caller: the span is not exported but its lines keep the ids.
    let carrier = HashMap::from([(
        "traceparent".to_owned(),
        format!("00-{UNSAMPLED_TRACE}-{UNSAMPLED_PARENT}-00"),
    )]);
    let remote = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    let declined = tracing::info_span!("declined");
    declined.set_parent(remote).expect("set_parent");
    let declined_span_id = declined
        .context()
        .span()
        .span_context()
        .span_id()
        .to_string();
    declined.in_scope(|| tracing::info!("inside declined"));
    drop(declined);

    tracing::info!("after every span");

    guard.shutdown().expect("shutdown");
    rotel.wait_for_spans(3, Duration::from_secs(10));
    let spans = rotel.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(3));
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["db", "request", "task"], "{spans:#?}");
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap();

    for (message, name) in [
        ("inside request", "request"),
        ("back in request", "request"),
        ("inside db", "db"),
        ("inside task", "task"),
    ] {
        let line = one_line(&logs, message);
        let exported = span(name);
        assert_eq!(line["trace_id"], exported.trace_id.as_str(), "{message}");
        assert_eq!(line["span_id"], exported.span_id.as_str(), "{message}");
        assert_eq!(line["trace_sampled"], true, "{message}");
        assert_eq!(line["span"], name, "{message}");
        assert_eq!(line["service"], "log-ids", "{message}");
    }
    assert_eq!(span("db").parent_span_id, span("request").span_id);
    assert_ne!(span("task").trace_id, span("request").trace_id);
    let inside_request = one_line(&logs, "inside request");
    assert_eq!(inside_request["user"], "u1");
    assert_eq!(inside_request["level"], "info");
    assert_eq!(one_line(&logs, "inside db")["level"], "warn");

    for message in ["before any span", "after every span"] {
        let line = one_line(&logs, message);
        assert_no_trace_keys(&line);
        assert_eq!(line["service"], "log-ids");
    }

    let line = one_line(&logs, "inside declined");
    assert_eq!(line["trace_id"], UNSAMPLED_TRACE);
    assert_eq!(line["span_id"], declined_span_id.as_str());
    assert_ne!(line["span_id"], UNSAMPLED_PARENT, "the local span's own id");
    assert_eq!(line["trace_sampled"], false);
    assert!(spans.iter().all(|s| s.trace_id != UNSAMPLED_TRACE));

    // Every line is one JSON object with the fixed keys.
    for line in logs.json_lines() {
        for key in ["timestamp", "level", "target", "service"] {
            assert!(line.contains_key(key), "{key} missing: {line:?}");
        }
    }
}
