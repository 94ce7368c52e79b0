//! The span export check shared by the OTLP/gRPC and OTLP/HTTP test files: the same resource
//! variables, the same two spans, the same assertions on what the collector received.

use std::time::Duration;

use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use opentelemetry::trace::{SpanContext, TraceContextExt as _};

use super::rotel::{AttrValue, LogCapture, ReceivedSpan, Rotel};

/// The environment of a pod: every resource source the crate reads.
pub const RESOURCE_VARS: &[(&str, &str)] = &[
    ("OTEL_SERVICE_NAME", "reflex-layer"),
    ("SERVICE_NAMESPACE", "octollm-test"),
    ("APP_VERSION", "1.4.2"),
    ("ENVIRONMENT", "staging"),
    ("POD_NAME", "reflex-7d9f-abcde"),
    ("POD_NAMESPACE", "octollm-ns"),
    ("NODE_NAME", "gke-node-1"),
    ("HOSTNAME", "ignored-because-pod-name-is-set"),
    (
        "OTEL_RESOURCE_ATTRIBUTES",
        "team=platform,cloud.region=europe%2Dwest1,service.name=ignored",
    ),
];

/// The span contexts the application saw.
pub struct Emitted {
    parent: SpanContext,
    child: SpanContext,
}

/// Writes a `parent` span (SERVER, typed attributes, one recorded late) with a `child` span
/// holding one event, through `tracing`.
pub fn emit_parent_and_child() -> Emitted {
    let parent = tracing::info_span!(
        "parent",
        otel.kind = "server",
        http.response.status_code = 200_i64,
        cache.hit = true,
        latency.ratio = 0.25_f64,
        user.kind = "admin",
        late.value = tracing::field::Empty,
    );
    let child = tracing::info_span!(parent: &parent, "child", db.rows = 3_i64);
    child.in_scope(|| tracing::info!(attempt = 2_i64, "inside child"));
    parent.record("late.value", -7_i64);
    Emitted {
        parent: parent.context().span().span_context().clone(),
        child: child.context().span().span_context().clone(),
    }
}

/// Waits for exactly the two spans of [`emit_parent_and_child`] and checks ids, links, kinds,
/// typed attributes, the event, the scope, every resource attribute of [`RESOURCE_VARS`] and
/// the log line written in the child.
pub fn assert_exported(rotel: &Rotel, emitted: &Emitted, logs: &LogCapture) {
    let spans = rotel.wait_for_spans(2, Duration::from_secs(10));
    assert!(spans.len() >= 2, "expected 2 spans, got {spans:#?}");
    let spans = rotel.wait_until_quiet(Duration::from_millis(300), Duration::from_secs(3));
    assert_eq!(spans.len(), 2, "exactly the two spans: {spans:#?}");
    let parent = spans.iter().find(|s| s.name == "parent").expect("parent");
    let child = spans.iter().find(|s| s.name == "child").expect("child");

    // Ids: the ones the application saw, linked parent -> child.
    assert_eq!(parent.trace_id, emitted.parent.trace_id().to_string());
    assert_eq!(parent.span_id, emitted.parent.span_id().to_string());
    assert_eq!(parent.parent_span_id, "", "the parent is a root");
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(child.span_id, emitted.child.span_id().to_string());
    assert_eq!(child.parent_span_id, parent.span_id);
    assert_ne!(child.span_id, parent.span_id);
    assert_eq!(parent.trace_id.len(), 32);
    assert_eq!(parent.span_id.len(), 16);

    // Kinds: SERVER from `otel.kind`, INTERNAL by default.
    assert_eq!(parent.kind, 2);
    assert_eq!(child.kind, 1);

    // Typed attributes.
    assert_eq!(
        parent.attr("http.response.status_code"),
        Some(&AttrValue::Int(200))
    );
    assert_eq!(parent.attr("cache.hit"), Some(&AttrValue::Bool(true)));
    assert_eq!(parent.attr("latency.ratio"), Some(&AttrValue::Double(0.25)));
    assert_eq!(
        parent.attr("user.kind"),
        Some(&AttrValue::Str("admin".into()))
    );
    assert_eq!(parent.attr("late.value"), Some(&AttrValue::Int(-7)));
    assert_eq!(child.attr("db.rows"), Some(&AttrValue::Int(3)));
    assert!(
        !parent.attributes.contains_key("otel.kind"),
        "otel.* fields configure the span, they are not attributes: {:?}",
        parent.attributes
    );

    // The event written inside the child became a span event with its typed field.
    assert_eq!(child.events.len(), 1, "{:?}", child.events);
    assert_eq!(child.events[0].name, "inside child");
    assert_eq!(
        child.events[0].attributes.get("attempt"),
        Some(&AttrValue::Int(2))
    );

    // The scope names this crate's tracer.
    assert_eq!(parent.scope_name, "octollm-telemetry");

    for span in [parent, child] {
        assert_resource(span);
    }

    // The log line written in the child names the exported child span.
    let lines = logs.with_message("inside child");
    assert_eq!(lines.len(), 1, "{}", logs.text());
    assert_eq!(lines[0]["trace_id"], child.trace_id.as_str());
    assert_eq!(lines[0]["span_id"], child.span_id.as_str());
    assert_eq!(lines[0]["service"], "reflex-layer");
}

/// Every resource attribute of [`RESOURCE_VARS`], as strings.
fn assert_resource(span: &ReceivedSpan) {
    let r = |k: &str| span.resource_str(k).map(str::to_owned);
    assert_eq!(r("service.name").as_deref(), Some("reflex-layer"));
    assert_eq!(r("service.namespace").as_deref(), Some("octollm-test"));
    assert_eq!(
        r("service.instance.id").as_deref(),
        Some("reflex-7d9f-abcde")
    );
    assert_eq!(r("service.version").as_deref(), Some("1.4.2"));
    assert_eq!(r("deployment.environment.name").as_deref(), Some("staging"));
    assert_eq!(r("deployment.environment").as_deref(), Some("staging"));
    assert_eq!(r("k8s.pod.name").as_deref(), Some("reflex-7d9f-abcde"));
    assert_eq!(r("k8s.namespace.name").as_deref(), Some("octollm-ns"));
    assert_eq!(r("k8s.node.name").as_deref(), Some("gke-node-1"));
    assert_eq!(r("team").as_deref(), Some("platform"));
    assert_eq!(r("cloud.region").as_deref(), Some("europe-west1"));
    assert_eq!(r("telemetry.sdk.language").as_deref(), Some("rust"));
    assert_eq!(r("telemetry.sdk.name").as_deref(), Some("opentelemetry"));
}
