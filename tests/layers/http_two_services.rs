//! Two services over real loopback sockets: A calls B through the client layer; B's server
//! span is a child of A's client span, and both services' log lines carry the same trace id
//! and the same request id.

use crate::support;

use std::net::SocketAddr;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry::trace::SpanKind;
use opentelemetry::Value;
use opentelemetry_sdk::trace::Sampler;
use support::http::{attr, Pipelines};
use tower::{Layer as _, ServiceExt as _};

type TracedClient = octollm_telemetry::http::OtelClient<
    Client<hyper_util::client::legacy::connect::HttpConnector, Empty<bytes::Bytes>>,
>;

async fn serve(app: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

#[tokio::test]
async fn b_is_a_child_of_a_and_logs_share_the_trace_id() {
    let pipes = Pipelines::new(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));

    let service_b = Router::new()
        .route(
            "/b",
            get(|| async {
                tracing::info!(side = "b", "b handled");
                "from b"
            }),
        )
        .layer(pipes.layer());
    let (b_addr, b_task) = serve(service_b).await;

    let client: TracedClient = octollm_telemetry::http::client_layer()
        .tracer_provider(&pipes.tracer_provider)
        .meter_provider(&pipes.meter_provider)
        .layer(Client::builder(TokioExecutor::new()).build_http());
    let service_a = Router::new()
        .route(
            "/a",
            get(
                |State((client, b)): State<(TracedClient, SocketAddr)>| async move {
                    tracing::info!(side = "a", "a calling b");
                    let req = http::Request::get(format!("http://{b}/b?token=hidden"))
                        .body(Empty::new())
                        .unwrap();
                    let res = client.oneshot(req).await.unwrap();
                    let body = res.into_body().collect().await.unwrap().to_bytes();
                    String::from_utf8_lossy(&body).into_owned()
                },
            ),
        )
        .with_state((client, b_addr))
        .layer(pipes.layer());
    let (a_addr, a_task) = serve(service_a).await;

    let response = reqwest::Client::new()
        .get(format!("http://{a_addr}/a"))
        .header("x-request-id", "chain-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "from b");

    // Bounded wait for the three spans (server A, client A→B, server B).
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = pipes.finished_spans();
        if spans.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let find = |name: &str, kind: SpanKind| {
        spans
            .iter()
            .find(|s| s.name == name && s.span_kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} span {name}: {spans:?}"))
            .clone()
    };
    let server_a = find("GET /a", SpanKind::Server);
    let client_a = find("GET", SpanKind::Client);
    let server_b = find("GET /b", SpanKind::Server);
    let trace = server_a.span_context.trace_id();
    assert_eq!(client_a.span_context.trace_id(), trace);
    assert_eq!(server_b.span_context.trace_id(), trace);
    assert_eq!(client_a.parent_span_id, server_a.span_context.span_id());
    assert_eq!(server_b.parent_span_id, client_a.span_context.span_id());
    assert!(server_b.parent_span_is_remote);
    assert_eq!(
        attr(&client_a, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    assert_eq!(
        attr(&client_a, "server.address"),
        Some(&Value::from("127.0.0.1".to_string()))
    );
    assert_eq!(
        attr(&client_a, "server.port"),
        Some(&Value::I64(i64::from(b_addr.port())))
    );
    assert_eq!(
        attr(&client_a, "url.full"),
        Some(&Value::from(format!("http://{b_addr}/b?token=REDACTED")))
    );
    // B saw the real peer address.
    assert_eq!(
        attr(&server_b, "client.address"),
        None,
        "no ConnectInfo without into_make_service_with_connect_info"
    );

    let lines = pipes.logs.lines();
    let line = |side: &str| {
        lines
            .iter()
            .find(|l| l["side"] == side)
            .unwrap_or_else(|| panic!("no log line from {side}: {lines:?}"))
            .clone()
    };
    assert_eq!(line("a")["trace_id"], trace.to_string().as_str());
    assert_eq!(line("b")["trace_id"], trace.to_string().as_str());
    assert_eq!(
        line("b")["span_id"],
        server_b.span_context.span_id().to_string().as_str()
    );
    // The request id follows the call chain, as the trace id does.
    assert_eq!(line("a")["request_id"], "chain-42");
    assert_eq!(line("b")["request_id"], "chain-42");
    assert_eq!(
        attr(&server_b, "http.request.header.x-request-id"),
        Some(&Value::from("chain-42".to_string()))
    );

    // The client duration metric was recorded.
    let text = pipes.metrics_text();
    assert!(
        text.lines().any(
            |l| l.starts_with("http_client_request_duration_seconds_count")
                && l.contains("http_response_status_code=\"200\"")
                && l.ends_with(" 1")
        ),
        "{text}"
    );
    a_task.abort();
    b_task.abort();
}

#[tokio::test]
async fn inject_context_writes_the_current_span() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let app = Router::new()
        .route(
            "/inject",
            get(|| async {
                let mut headers = http::HeaderMap::new();
                octollm_telemetry::http::inject_context(&mut headers);
                assert_eq!(
                    headers["x-request-id"], "inject-7",
                    "the request id goes along"
                );
                let mut own = http::HeaderMap::new();
                own.insert("x-request-id", "set-by-the-caller".parse().unwrap());
                octollm_telemetry::http::inject_context(&mut own);
                assert_eq!(
                    own["x-request-id"], "set-by-the-caller",
                    "never overwritten"
                );
                headers
                    .get("traceparent")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            }),
        )
        .layer(pipes.layer());
    let (_, body) = support::http::send(
        &app,
        axum::http::Request::get("/inject")
            .header("x-request-id", "inject-7")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    let span = &pipes.finished_spans()[0];
    assert_eq!(
        body,
        // Sampled, and random: the trace started in this service, with a random trace id.
        format!(
            "00-{}-{}-03",
            span.span_context.trace_id(),
            span.span_context.span_id()
        )
    );
}

/// The client layer forwards the request id unless told not to, and never replaces one the
/// caller set.
#[tokio::test]
async fn the_client_layer_forwards_the_request_id_unless_turned_off() {
    let pipes = Pipelines::new(Sampler::AlwaysOn);
    let outgoing = |forward: bool| {
        octollm_telemetry::http::client_layer()
            .tracer_provider(&pipes.tracer_provider)
            .forward_request_id(forward)
            .layer(tower::service_fn(|req: http::Request<()>| async move {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .map(|v| v.to_str().unwrap().to_owned());
                Ok::<_, std::convert::Infallible>(http::Response::new(id.unwrap_or_default()))
            }))
    };
    let (on, off) = (outgoing(true), outgoing(false));
    let app = Router::new()
        .route(
            "/call",
            get(move || async move {
                let plain = http::Request::get("http://b/").body(()).unwrap();
                let mut own = http::Request::get("http://b/").body(()).unwrap();
                own.headers_mut()
                    .insert("x-request-id", "callers-own".parse().unwrap());
                let a = on.clone().oneshot(plain).await.unwrap().into_body();
                let b = off.oneshot(http::Request::get("http://b/").body(()).unwrap());
                let b = b.await.unwrap().into_body();
                let c = on.oneshot(own).await.unwrap().into_body();
                format!("{a}|{b}|{c}")
            }),
        )
        .layer(pipes.layer());
    let (_, body) = support::http::send(
        &app,
        axum::http::Request::get("/call")
            .header("x-request-id", "req-9")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(body, "req-9||callers-own");
}
