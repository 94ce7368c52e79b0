//! `TelemetryConfig::build` gives the pipelines without installing any global: an application
//! that owns its subscriber composes the crate's layer with its own, hands the providers and
//! the propagator to the HTTP layer, and gets the same trace-correlated JSON lines, spans and
//! metrics as `init` would give, while the process-wide state stays untouched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use octollm_telemetry::tracing_opentelemetry::OpenTelemetrySpanExt as _;
use opentelemetry::trace::TraceContextExt as _;
use tower::ServiceExt as _;
use tracing_subscriber::prelude::*;

use crate::support;

use support::lines::Lines;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The application's own layer: counts the events it sees.
struct Counting(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counting {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn built_pipelines_work_in_the_applications_own_subscriber() {
    let lines = Lines::default();
    let telemetry = octollm_telemetry::TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "owns-its-subscriber"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ("RUST_LOG", "info,noisy=error"),
    ])
    .unwrap()
    .log_format(octollm_telemetry::LogFormat::Json)
    .log_writer(lines.clone())
    .build()
    .unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(telemetry.layer())
        .with(Counting(Arc::clone(&seen)));
    let dispatch = tracing::Dispatch::new(subscriber);

    // Log lines carry the ids of the span they were written in; the filter applies.
    let span_cx = tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("work");
        span.in_scope(|| {
            tracing::info!(step = 1, "inside");
            tracing::warn!(target: "noisy", "filtered out");
        });
        span.context().span().span_context().clone()
    });
    let logged = lines.json();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0]["message"], "inside");
    assert_eq!(logged[0]["service"], "owns-its-subscriber");
    assert_eq!(logged[0]["trace_id"], span_cx.trace_id().to_string());
    assert_eq!(logged[0]["span_id"], span_cx.span_id().to_string());
    assert_eq!(
        seen.load(Ordering::Relaxed),
        1,
        "the application's layer sees what passes"
    );

    // The HTTP layer on the built providers and propagator.
    let app = axum::Router::new()
        .route("/items/{id}", axum::routing::get(|| async { "item" }))
        .layer(
            octollm_telemetry::http::layer()
                .tracer_provider(telemetry.tracer_provider())
                .meter_provider(telemetry.meter_provider().unwrap())
                .propagator(telemetry.propagator()),
        );
    let response = app
        .oneshot(
            Request::get("/items/7")
                .header("traceparent", PARENT)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let traceparent = response.headers()["traceparent"].to_str().unwrap();
    assert!(
        traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
            && traceparent.ends_with("-01"),
        "joined the caller's trace and sampled: {traceparent}"
    );
    let metrics = telemetry
        .encode_prometheus()
        .expect("served for Prometheus");
    assert!(
        metrics.contains(r#"http_server_request_duration_seconds_count{"#)
            && metrics.contains(r#"http_route="/items/{id}""#),
        "{metrics}"
    );

    // Nothing process-wide was installed.
    assert!(
        tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>()),
        "no global subscriber"
    );
    assert_eq!(octollm_telemetry::metrics::encode_prometheus(), None);

    telemetry
        .into_guard()
        .shutdown()
        .expect("shutdown without an exporter");
}

/// `span_exporter` puts an exporter of the application's own behind the crate's batch
/// processor, and a flush delivers the spans to it.
#[test]
fn a_span_exporter_given_in_code_receives_the_spans() {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let config = octollm_telemetry::TelemetryConfig::from_vars([("OTEL_TRACES_EXPORTER", "otlp")])
        .unwrap()
        .sampler(octollm_telemetry::Sampler::AlwaysOn)
        .span_exporter(exporter.clone())
        .log_writer(std::io::sink);
    assert_eq!(
        config.effective().unwrap().traces_exporter(),
        octollm_telemetry::TracesExporter::Custom,
        "code wins over OTEL_TRACES_EXPORTER"
    );
    let telemetry = config.build().unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info_span!("exported").in_scope(|| {});
    });
    let guard = telemetry.into_guard();
    guard.force_flush().expect("flushes to the exporter");
    // Read before shutdown: the in-memory exporter forgets its spans when shut down.
    let spans = exporter.get_finished_spans().unwrap();
    guard.shutdown().expect("shuts the exporter down");
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].name, "exported");

    let err = octollm_telemetry::TelemetryConfig::from_vars(Vec::<(String, String)>::new())
        .unwrap()
        .traces_exporter(octollm_telemetry::TracesExporter::Custom)
        .effective()
        .unwrap_err();
    assert_eq!(err.name, "traces_exporter");
}
