//! The OTLP metrics push check shared by the gRPC and HTTP test files.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

/// Pushes the HTTP metrics over `protocol` (`grpc` or `http/protobuf`) to a real collector and
/// checks that they arrive with the resource.
pub async fn http_metrics_arrive(protocol: &str) {
    let Some(collector) = super::rotel::Rotel::start() else {
        return;
    };
    let endpoint = if protocol == "grpc" {
        collector.grpc_endpoint()
    } else {
        collector.http_endpoint()
    };
    let guard = octollm_telemetry::TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "metrics-push"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
    ])
    .unwrap()
    .endpoint(endpoint)
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
