//! A layer that serves requests, and a client that propagates, before `init_telemetry` runs:
//! from the moment it has run they use the tracer and the propagators it installed, not the
//! stand-ins they met first.

use axum::body::Body;
use axum::http::Request;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::KeyValue;
use tower::ServiceExt as _;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The trace flags of the response's `traceparent`: `01` when the server span was sampled.
async fn response_flags(app: &axum::Router) -> String {
    let response = app
        .clone()
        .oneshot(
            Request::get("/items/1")
                .header("traceparent", PARENT)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let traceparent = response.headers()["traceparent"].to_str().unwrap();
    traceparent.rsplit('-').next().unwrap().to_owned()
}

/// The headers `inject_context` writes in a context that has baggage.
fn injected_with_baggage() -> Vec<String> {
    let cx = opentelemetry::Context::current_with_baggage([KeyValue::new("tenant", "octo")]);
    let _attached = cx.attach();
    let mut headers = http::HeaderMap::new();
    octollm_telemetry::http::inject_context(&mut headers);
    headers.keys().map(|k| k.as_str().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn layers_used_before_init_follow_what_init_installs() {
    let app = axum::Router::new()
        .route("/items/{id}", axum::routing::get(|| async { "item" }))
        .layer(octollm_telemetry::http::layer());

    // Before init: nothing records (a sampled parent is followed by a tracer that records
    // nothing, so the flags say not sampled), and the default propagators carry baggage.
    assert_eq!(response_flags(&app).await, "00");
    assert!(injected_with_baggage().contains(&"baggage".to_owned()));

    let guard = octollm_telemetry::TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "layer-before-init"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ("OTEL_PROPAGATORS", "tracecontext"),
    ])
    .unwrap()
    .log_writer(std::io::sink)
    .init()
    .await
    .expect("init");

    // After init: the same layer uses the installed tracer, and propagation follows
    // OTEL_PROPAGATORS (no baggage).
    assert_eq!(response_flags(&app).await, "01");
    let injected = injected_with_baggage();
    assert!(
        !injected.contains(&"baggage".to_owned()),
        "OTEL_PROPAGATORS=tracecontext: {injected:?}"
    );
    guard.shutdown().expect("shutdown");
}
