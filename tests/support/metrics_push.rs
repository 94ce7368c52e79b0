//! The OTLP metrics push check shared by the gRPC and HTTP test files.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

/// The trace of the one request the check makes with a `traceparent`.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Pushes the HTTP metrics over `protocol` (`grpc` or `http/protobuf`), with `compression`
/// (`none` or `gzip`) and a custom header, to a real collector and
/// checks that they arrive with the resource, and that the duration histogram carries the
/// exemplar of a sampled request: its trace id and its server span's id.
pub async fn http_metrics_arrive(protocol: &str, compression: &str) {
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
        ("OTEL_TRACES_EXPORTER", "otlp"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", compression),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=octollm"),
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
    // Five untraced requests, then one that continues a known trace.
    let traced = Request::get("/items/traced")
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .body(Body::empty())
        .unwrap();
    let requests = (0..5)
        .map(|i| {
            Request::get(format!("/items/{i}"))
                .body(Body::empty())
                .unwrap()
        })
        .chain([traced]);
    for request in requests {
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let server_span = collector
        .wait_for_span(|s| s.trace_id == TRACE_ID, Duration::from_secs(15))
        .expect("the traced request's server span reached the collector");

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = collector.metrics_log();
        if log.contains("http.server.request.duration")
            && log.contains("/items/{id}")
            && !exemplar_of(&log, TRACE_ID).is_empty()
        {
            assert!(log.contains("http.server.active_requests"), "{log}");
            assert!(log.contains("octollm.telemetry.spans.dropped"), "{log}");
            assert!(
                log.contains("metrics-push"),
                "the resource travels with the metrics: {log}"
            );
            let exemplar = exemplar_of(&log, TRACE_ID);
            assert!(
                exemplar.contains(&server_span.span_id),
                "the exemplar names the server span {}: {exemplar}",
                server_span.span_id
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

/// The lines of the first exemplar block in rotel's printed metrics that names `trace_id`
/// (empty when there is none).
fn exemplar_of(log: &str, trace_id: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let Some(at) = lines
        .iter()
        .position(|l| l.contains("Trace ID") && l.contains(trace_id))
    else {
        return String::new();
    };
    let start = lines[..at]
        .iter()
        .rposition(|l| l.contains("Exemplar #"))
        .unwrap_or(at);
    lines[start..(at + 4).min(lines.len())].join("\n")
}
