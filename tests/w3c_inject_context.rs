//! `inject_context` (the installed propagator) writes what the W3C specifications say to
//! forward: the received `tracestate` list (rebuilt as one header, a key the SDK's type
//! refuses included), the caller's `random` flag, the received baggage, and no empty
//! `tracestate` header; baggage set in code goes out percent-encoded, without the members
//! whose key or properties would corrupt the header.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use opentelemetry::baggage::{Baggage, BaggageExt as _};
use tower::ServiceExt as _;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inject_context_forwards_what_the_specifications_say() {
    let _guard = octollm_telemetry::TelemetryConfig::from_vars([
        ("OTEL_SERVICE_NAME", "w3c-inject"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none"),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
    ])
    .unwrap()
    .log_writer(std::io::sink)
    .init()
    .await
    .unwrap();

    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let app = axum::Router::new()
        .route(
            "/in",
            axum::routing::get(move || {
                let sink = Arc::clone(&sink);
                async move {
                    let mut out = HeaderMap::new();
                    octollm_telemetry::http::inject_context(&mut out);
                    sink.lock().unwrap().push(out);
                    "ok"
                }
            }),
        )
        .layer(octollm_telemetry::http::layer());
    let call = |headers: Vec<(&'static str, String)>| {
        let app = app.clone();
        async move {
            let mut req = Request::get("/in");
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let response = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(response.status(), 200);
        }
    };

    // A continued trace: the list as received (two headers, one key the SDK refuses), the
    // caller's random flag, and the baggage.
    call(vec![
        ("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-03")),
        (
            "tracestate",
            "tenant@abcdefghijklmn=1, rojo=00f067aa0ba902b7".to_owned(),
        ),
        ("tracestate", "congo=t61rcWkgMzE".to_owned()),
        ("baggage", "userId=alice,note=a%20b;p=1".to_owned()),
    ])
    .await;
    // A new trace: sampled and random, no tracestate.
    call(vec![]).await;

    let seen = seen.lock().unwrap();
    let get = |h: &HeaderMap, name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
    let continued = &seen[0];
    let tp = get(continued, "traceparent").unwrap();
    assert!(
        tp.starts_with(&format!("00-{TRACE}-")) && tp.ends_with("-03"),
        "{tp}"
    );
    assert_eq!(
        get(continued, "tracestate").as_deref(),
        Some("tenant@abcdefghijklmn=1,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
    );
    assert_eq!(
        get(continued, "baggage").as_deref(),
        Some("userId=alice,note=a%20b;p=1")
    );
    let root = &seen[1];
    let tp = get(root, "traceparent").unwrap();
    assert!(!tp.contains(TRACE) && tp.ends_with("-03"), "{tp}");
    assert!(
        root.get("tracestate").is_none(),
        "no empty tracestate header"
    );
    assert!(root.get("baggage").is_none());

    // Outside any request there is nothing to inject.
    let mut out = HeaderMap::new();
    octollm_telemetry::http::inject_context(&mut out);
    assert!(out.get("traceparent").is_none() && out.get("tracestate").is_none());

    // Baggage set in code.
    let mut baggage = Baggage::new();
    // A key holding `,` and `=` would add a member `c=x` if written raw (the SDK refuses it
    // today; the propagator does not rely on that).
    let _ = baggage.insert_with_metadata("a,c=x,b", "1", "");
    // A property with a quote and a space is not a valid property.
    let _ = baggage.insert_with_metadata("bad", "1", "p=\"q r\"");
    let _ = baggage.insert_with_metadata("good", "hello world, é;%", "p=1;flag");
    let _attached = opentelemetry::Context::current()
        .with_baggage(baggage)
        .attach();
    let mut out = HeaderMap::new();
    octollm_telemetry::http::inject_context(&mut out);
    assert_eq!(
        out.get("baggage").map(|v| v.to_str().unwrap()),
        Some("good=hello%20world%2C%20%C3%A9%3B%25;p=1;flag")
    );
}
