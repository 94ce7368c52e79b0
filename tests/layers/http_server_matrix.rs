//! The server layer over `oneshot`: methods × statuses × route shapes, asserting the span, its
//! attributes and their types, the status, the metric series and the access-log line.

use crate::support;

use axum::body::Body;
use axum::http::Request;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;
use opentelemetry_sdk::trace::Sampler;
use support::http::{attr, send, series_value, Pipelines};

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "PURGE"];
const OUTCOMES: &[&str] = &["200", "201", "204", "400", "404", "500", "panic"];

/// (path sent, route template expected)
const SHAPES: &[(&str, Option<&str>)] = &[
    ("/literal", Some("/literal")),
    ("/items/42", Some("/items/{id}")),
    ("/api/v1/users/7/orders", Some("/api/v1/users/{uid}/orders")),
    ("/no/such/route/123", None),
];

#[tokio::test]
async fn every_method_status_and_route_shape() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = support::http::app(pipes.layer());
    let mut expected_counts = std::collections::HashMap::new();

    for method in METHODS {
        for outcome in OUTCOMES {
            for (path, route) in SHAPES {
                pipes.spans.reset();
                pipes.logs.clear();
                let req = Request::builder()
                    .method(*method)
                    .uri(format!("{path}?q=1"))
                    .header("host", "api.octollm.test:8443")
                    .header("user-agent", "matrix/1.0")
                    .header("x-want-status", *outcome)
                    .body(Body::empty())
                    .unwrap();
                let (response, _) = send(&app, req).await;
                let status: u16 = if *outcome == "panic" {
                    500
                } else {
                    outcome.parse().unwrap()
                };
                let case = format!("{method} {path} → {outcome}");
                assert_eq!(response.status().as_u16(), status, "{case}");

                let spans = pipes.finished_spans();
                assert_eq!(spans.len(), 1, "{case}: one server span");
                let span = &spans[0];
                let otel_method = if *method == "PURGE" { "_OTHER" } else { method };
                let name = match route {
                    Some(r) => format!("{otel_method} {r}"),
                    None => otel_method.to_string(),
                };
                assert_eq!(span.name, name, "{case}");
                assert_eq!(span.span_kind, SpanKind::Server, "{case}");
                assert_eq!(
                    attr(span, "http.request.method"),
                    Some(&Value::from(otel_method)),
                    "{case}"
                );
                if *method == "PURGE" {
                    assert_eq!(
                        attr(span, "http.request.method_original"),
                        Some(&Value::from("PURGE")),
                        "{case}"
                    );
                } else {
                    assert_eq!(attr(span, "http.request.method_original"), None, "{case}");
                }
                assert_eq!(
                    attr(span, "http.route"),
                    route.map(Value::from).as_ref(),
                    "{case}"
                );
                assert_eq!(
                    attr(span, "url.path"),
                    Some(&Value::from(path.to_string())),
                    "{case}"
                );
                assert_eq!(
                    attr(span, "url.query"),
                    Some(&Value::from("q=1".to_string())),
                    "{case}"
                );
                assert_eq!(
                    attr(span, "url.scheme"),
                    Some(&Value::from("http")),
                    "{case}"
                );
                assert_eq!(
                    attr(span, "server.address"),
                    Some(&Value::from("api.octollm.test".to_string())),
                    "{case}"
                );
                assert_eq!(attr(span, "server.port"), Some(&Value::I64(8443)), "{case}");
                assert_eq!(
                    attr(span, "network.protocol.version"),
                    Some(&Value::from("1.1")),
                    "{case}"
                );
                assert_eq!(
                    attr(span, "user_agent.original"),
                    Some(&Value::from("matrix/1.0".to_string())),
                    "{case}"
                );
                assert_eq!(
                    attr(span, "http.response.status_code"),
                    Some(&Value::I64(i64::from(status))),
                    "{case}"
                );
                // No peer address in oneshot, no forwarding header: omitted, never empty.
                assert_eq!(attr(span, "client.address"), None, "{case}");
                for kv in &span.attributes {
                    assert_ne!(
                        kv.value,
                        Value::from(""),
                        "{case}: empty attribute {}",
                        kv.key
                    );
                }
                if status >= 500 {
                    assert_eq!(
                        attr(span, "error.type"),
                        Some(&Value::from("500".to_string())),
                        "{case}"
                    );
                    assert!(
                        matches!(span.status, Status::Error { .. }),
                        "{case}: {:?}",
                        span.status
                    );
                } else {
                    assert_eq!(attr(span, "error.type"), None, "{case}");
                    assert_eq!(
                        span.status,
                        Status::Unset,
                        "{case}: 4xx stays unset on the server"
                    );
                }
                if *outcome == "panic" {
                    assert!(
                        span.events.events.iter().any(|e| e.name == "exception"),
                        "{case}"
                    );
                }

                // The access-log line: level by status, the request's trace id and request id.
                let lines = pipes.logs.lines();
                let access: Vec<_> = lines
                    .iter()
                    .filter(|l| l["message"] == "request completed")
                    .collect();
                assert_eq!(access.len(), 1, "{case}: {lines:?}");
                let line = access[0];
                assert_eq!(
                    line["level"],
                    if status >= 500 { "error" } else { "info" },
                    "{case}"
                );
                assert_eq!(line["http.request.method"], otel_method, "{case}");
                assert_eq!(line["http.response.status_code"], status, "{case}");
                assert_eq!(
                    line.get("http.route").and_then(|v| v.as_str()),
                    *route,
                    "{case}"
                );
                assert!(line["duration_ms"].as_f64().unwrap() >= 0.0, "{case}");
                let trace_id = span.span_context.trace_id().to_string();
                assert_eq!(line["trace_id"], trace_id.as_str(), "{case}");
                let request_id = response.headers()["x-request-id"].to_str().unwrap();
                assert_eq!(line["request_id"], request_id, "{case}");
                // The handler's own line belongs to the same request.
                let handler_line = lines
                    .iter()
                    .find(|l| l["message"] == "handler ran")
                    .unwrap();
                assert_eq!(handler_line["trace_id"], trace_id.as_str(), "{case}");
                assert_eq!(handler_line["request_id"], request_id, "{case}");
                assert_eq!(
                    handler_line["span"],
                    name.as_str(),
                    "{case}: the server span's name"
                );
                assert_eq!(line["span"], name.as_str(), "{case}");
                if *outcome == "panic" {
                    let panic_line = lines.iter().find(|l| l.get("panic").is_some()).unwrap();
                    assert_eq!(panic_line["level"], "error", "{case}");
                    assert_eq!(panic_line["trace_id"], trace_id.as_str(), "{case}");
                }
                // The response returns the trace context: sampled, and random since the
                // trace started here.
                let traceparent = response.headers()["traceparent"].to_str().unwrap();
                assert_eq!(
                    traceparent,
                    format!("00-{trace_id}-{}-03", span.span_context.span_id()),
                    "{case}"
                );

                *expected_counts
                    .entry((otel_method.to_string(), route.map(str::to_string), status))
                    .or_insert(0u64) += 1;
            }
        }
    }

    let text = pipes.metrics_text();
    for ((method, route, status), count) in &expected_counts {
        let status = status.to_string();
        let mut labels = vec![
            ("http_request_method", method.as_str()),
            ("http_response_status_code", status.as_str()),
            ("url_scheme", "http"),
            ("network_protocol_version", "1.1"),
        ];
        if let Some(route) = route {
            labels.push(("http_route", route.as_str()));
        }
        let value = series_value(&text, "http_server_request_duration_seconds_count", &labels);
        assert_eq!(value, Some(*count as f64), "series {labels:?} in\n{text}");
    }
    // Unmatched requests collapse into series without a route label.
    let unmatched = text
        .lines()
        .filter(|l| {
            l.starts_with("http_server_request_duration_seconds_count") && !l.contains("http_route")
        })
        .count();
    assert_eq!(unmatched, METHODS.len() * 6, "{text}");
    assert!(
        text.lines().any(
            |l| l.starts_with("http_server_request_duration_seconds_count")
                && l.contains("error_type=\"500\"")
        ),
        "{text}"
    );
    // Every request has ended: nothing is active.
    for line in text
        .lines()
        .filter(|l| l.starts_with("http_server_active_requests{"))
    {
        assert!(line.ends_with(" 0"), "{line}");
    }
    // The semconv buckets.
    for le in ["0.005", "0.075", "2.5", "10", "+Inf"] {
        assert!(
            text.contains(&format!("le=\"{le}\"")),
            "bucket {le} missing"
        );
    }
}

#[tokio::test]
async fn probes_and_scrapes_make_no_span_and_no_series() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = support::http::app(pipes.layer());
    for path in ["/health", "/metrics"] {
        let (response, _) = send(&app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("traceparent").is_none());
    }
    assert!(pipes.finished_spans().is_empty());
    assert!(!pipes
        .metrics_text()
        .contains("http_server_request_duration"));
    let custom = support::http::app(pipes.layer().filter(|path| path != "/literal"));
    send(
        &custom,
        Request::get("/literal").body(Body::empty()).unwrap(),
    )
    .await;
    send(
        &custom,
        Request::get("/health").body(Body::empty()).unwrap(),
    )
    .await;
    let names: Vec<_> = pipes.finished_spans().into_iter().map(|s| s.name).collect();
    assert_eq!(names, vec!["GET /health"]);
}

#[tokio::test]
async fn request_ids_are_kept_when_valid_and_generated_otherwise() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = support::http::app(pipes.layer());
    let (response, _) = send(
        &app,
        Request::get("/literal")
            .header("x-request-id", "req-123")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.headers()["x-request-id"], "req-123");
    assert_eq!(response.headers()["x-seen-request-id"], "req-123");
    let span = &pipes.finished_spans()[0];
    assert_eq!(
        attr(span, "http.request.header.x-request-id"),
        Some(&Value::from("req-123".to_string()))
    );

    for bad in ["", "has space", &"x".repeat(200)] {
        let (response, _) = send(
            &app,
            Request::get("/literal")
                .header("x-request-id", bad)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        assert_eq!(
            response.headers()["x-seen-request-id"],
            id,
            "the handler sees the generated id"
        );
    }
}

#[tokio::test]
async fn response_trace_header_is_configurable() {
    use octollm_telemetry::http::ResponseTraceHeader;
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = support::http::app(
        pipes
            .layer()
            .response_trace_header(ResponseTraceHeader::XTraceId),
    );
    let (response, _) = send(&app, Request::get("/literal").body(Body::empty()).unwrap()).await;
    let trace_id = pipes.finished_spans()[0]
        .span_context
        .trace_id()
        .to_string();
    assert_eq!(response.headers()["x-trace-id"], trace_id.as_str());
    assert!(response.headers().get("traceparent").is_none());
    let app = support::http::app(
        pipes
            .layer()
            .response_trace_header(ResponseTraceHeader::None),
    );
    let (response, _) = send(&app, Request::get("/literal").body(Body::empty()).unwrap()).await;
    assert!(response.headers().get("traceparent").is_none());
    assert!(response.headers().get("x-trace-id").is_none());
}

#[tokio::test]
async fn access_log_can_be_turned_off_or_releveled() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = support::http::app(pipes.layer().access_log(false));
    send(&app, Request::get("/literal").body(Body::empty()).unwrap()).await;
    assert!(!pipes.logs.text().contains("request completed"));
    let app = support::http::app(
        pipes
            .layer()
            .access_log_levels(tracing::Level::DEBUG, tracing::Level::WARN),
    );
    send(
        &app,
        Request::get("/literal")
            .header("x-want-status", "503")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let lines = pipes.logs.lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "request completed")
        .unwrap();
    assert_eq!(line["level"], "warn");
}

#[tokio::test]
async fn forwarded_client_address_and_scheme() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = support::http::app(pipes.layer());
    send(
        &app,
        Request::get("/literal")
            .header("x-forwarded-for", "203.0.113.7, 10.0.0.1")
            .header("x-forwarded-proto", "https")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let span = &pipes.finished_spans()[0];
    assert_eq!(
        attr(span, "client.address"),
        Some(&Value::from("203.0.113.7".to_string()))
    );
    assert_eq!(attr(span, "url.scheme"), Some(&Value::from("https")));
    assert_eq!(attr(span, "url.query"), None, "no query, no attribute");
}
