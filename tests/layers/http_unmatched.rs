//! A request that matches no route (the router's default 404, with no fallback of its own) is
//! traced like any other: a span named by the method alone, per the HTTP semantic conventions
//! (no raw path, so a scan of random URLs cannot create new span names or series), its access
//! line, its `x-request-id` and the duration series without `http_route`, in the arrangement
//! the README shows: routes and merged routers first, the layer last. (axum replaces a
//! router's default 404 by the merged router's own, so a router merged after the layer would
//! bring an untraced 404.)

use crate::support;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use opentelemetry_sdk::trace::Sampler;
use support::http::{attr, send, series_value, Pipelines};

#[tokio::test]
async fn a_request_no_route_matches_is_traced_with_a_bounded_name() {
    let pipelines = Pipelines::new(Sampler::AlwaysOn);
    let app = Router::new()
        .route("/items/{id}", get(|| async { "item" }))
        .merge(Router::new().route("/other", get(|| async { "other" })))
        .layer(pipelines.layer());
    for path in ["/nope", "/random/a1b2c3", "/items"] {
        let (response, _) = send(&app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.headers().contains_key("x-request-id"), "{path}");
        assert!(response.headers().contains_key("traceparent"), "{path}");
    }
    let spans = pipelines.finished_spans();
    assert_eq!(spans.len(), 3, "{spans:?}");
    for span in &spans {
        assert_eq!(span.name, "GET");
        assert!(attr(span, "http.route").is_none());
        assert_eq!(
            attr(span, "http.response.status_code")
                .map(ToString::to_string)
                .as_deref(),
            Some("404")
        );
    }
    let text = pipelines.metrics_text();
    assert_eq!(
        series_value(
            &text,
            "http_server_request_duration_seconds_count",
            &[
                ("http_request_method", "GET"),
                ("http_response_status_code", "404")
            ]
        ),
        Some(3.0),
        "{text}"
    );
    assert!(!text.contains("http_route=\"/nope\""), "{text}");
}
