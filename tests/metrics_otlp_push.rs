//! `OTEL_METRICS_EXPORTER=otlp`: the HTTP metrics are pushed to a real collector, over gRPC.

#[path = "support/rotel.rs"]
mod rotel;
mod support;

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_metrics_arrive_at_the_collector() {
    let Some(collector) = rotel::Rotel::start() else {
        return;
    };
    let guard = octollm_telemetry::TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "metrics-push"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ])
    .unwrap()
    .endpoint(collector.grpc_endpoint())
    .log_writer(std::io::sink)
    .init()
    .await
    .unwrap();

    let app = axum::Router::new()
        .route("/items/{id}", axum::routing::get(|| async { "item" }))
        .layer(octollm_telemetry::http::layer());
    for i in 0..5 {
        let response = app
            .clone()
            .oneshot(
                Request::get(format!("/items/{i}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = collector.metrics_log();
        if log.contains("http.server.request.duration") && log.contains("/items/{id}") {
            assert!(log.contains("http.server.active_requests"), "{log}");
            assert!(log.contains("octollm.telemetry.spans.dropped"), "{log}");
            assert!(
                log.contains("metrics-push"),
                "the resource travels with the metrics: {log}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no HTTP metrics reached the collector:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    guard.shutdown().expect("metrics flushed at shutdown");
}
