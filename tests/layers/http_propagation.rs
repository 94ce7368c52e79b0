//! Incoming W3C trace context: honoured when valid (sampled or not), ignored when malformed.

use crate::support;

use axum::body::Body;
use axum::http::Request;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry::Value;
use opentelemetry_sdk::trace::Sampler;
use support::http::{attr, send, Pipelines};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn parent_based(root: Sampler) -> Sampler {
    Sampler::ParentBased(Box::new(root))
}

#[tokio::test]
async fn a_sampled_parent_is_joined_even_when_new_roots_are_not_sampled() {
    let pipes = Pipelines::new(parent_based(Sampler::AlwaysOff));
    let app = support::http::app(pipes.layer());
    let (response, _) = send(
        &app,
        Request::get("/items/1")
            .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
            .header("tracestate", "vendor=abc")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let spans = pipes.finished_spans();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex(TRACE).unwrap()
    );
    assert_eq!(span.parent_span_id, SpanId::from_hex(PARENT).unwrap());
    assert!(span.parent_span_is_remote);
    assert_eq!(span.span_context.trace_state().header(), "vendor=abc");
    let tp = response.headers()["traceparent"].to_str().unwrap();
    assert!(
        tp.starts_with(&format!("00-{TRACE}-")) && tp.ends_with("-01"),
        "{tp}"
    );
}

#[tokio::test]
async fn an_unsampled_parent_is_respected() {
    let pipes = Pipelines::new(parent_based(Sampler::AlwaysOn));
    let app = support::http::app(pipes.layer());
    let (response, _) = send(
        &app,
        Request::get("/items/1")
            .header("traceparent", format!("00-{TRACE}-{PARENT}-00"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        pipes.finished_spans().is_empty(),
        "an unsampled parent's child is not exported"
    );
    let tp = response.headers()["traceparent"].to_str().unwrap();
    assert!(
        tp.starts_with(&format!("00-{TRACE}-")) && tp.ends_with("-00"),
        "{tp}"
    );
    // The logs still carry the caller's trace id, marked unsampled.
    let lines = pipes.logs.lines();
    let line = lines
        .iter()
        .find(|l| l["message"] == "request completed")
        .unwrap();
    assert_eq!(line["trace_id"], TRACE);
    assert_eq!(line["trace_sampled"], false);
}

#[tokio::test]
async fn baggage_reaches_the_handler_context() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = axum::Router::new()
        .route(
            "/b",
            axum::routing::get(|| async {
                use opentelemetry::baggage::BaggageExt as _;
                opentelemetry::Context::map_current(|cx| {
                    cx.baggage()
                        .get("tenant")
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                })
            }),
        )
        .layer(pipes.layer());
    let (_, body) = send(
        &app,
        Request::get("/b")
            .header("baggage", "tenant=acme")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(body, "acme");
}

#[tokio::test]
async fn malformed_traceparents_start_a_new_root_and_never_panic() {
    let pipes = Pipelines::new(parent_based(Sampler::AlwaysOn));
    let app = support::http::app(pipes.layer());
    let long = format!("00-{}-{PARENT}-01", "a".repeat(10_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "wrong length",
            format!("00-{}-{PARENT}-01", &TRACE[..30]).into_bytes(),
        ),
        ("version ff", format!("ff-{TRACE}-{PARENT}-01").into_bytes()),
        (
            "all-zero trace id",
            format!("00-{}-{PARENT}-01", "0".repeat(32)).into_bytes(),
        ),
        (
            "all-zero span id",
            format!("00-{TRACE}-{}-01", "0".repeat(16)).into_bytes(),
        ),
        (
            "upper-case hex",
            format!("00-{}-{PARENT}-01", TRACE.to_uppercase()).into_bytes(),
        ),
        (
            "extra fields",
            format!("00-{TRACE}-{PARENT}-01-extra").into_bytes(),
        ),
        ("huge value", long.into_bytes()),
        ("non-UTF-8", b"00-\xff\xfe-\xc3\x28-01".to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"hello world".to_vec()),
        ("missing flags", format!("00-{TRACE}-{PARENT}").into_bytes()),
        (
            "non-hex",
            format!("00-{}-{PARENT}-01", "g".repeat(32)).into_bytes(),
        ),
    ];
    for (name, value) in cases {
        pipes.spans.reset();
        let header = axum::http::HeaderValue::from_bytes(&value).unwrap();
        let (response, _) = send(
            &app,
            Request::get("/items/9")
                .header("traceparent", header)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(response.status(), 200, "{name}");
        let spans = pipes.finished_spans();
        assert_eq!(spans.len(), 1, "{name}: a new root span is exported");
        let span = &spans[0];
        assert_eq!(span.parent_span_id, SpanId::INVALID, "{name}: no parent");
        assert!(!span.parent_span_is_remote, "{name}");
        assert_ne!(
            span.span_context.trace_id(),
            TraceId::from_hex(TRACE).unwrap(),
            "{name}: id not reused"
        );
        assert!(span.span_context.is_valid(), "{name}");
        assert_eq!(
            attr(span, "http.route"),
            Some(&Value::from("/items/{id}")),
            "{name}"
        );
    }
}
