//! The gRPC layers on a real tonic server and client in one process (`tests/support/
//! grpc_echo.rs`): for a unary OK, a unary `NOT_FOUND`, a server stream, a stream failing with
//! `ABORTED` after two messages, a stream the client drops half way and a client deadline, the
//! spans of both sides are one trace (the server span's parent is the client span), carry the
//! status where gRPC put it (the trailers, for every stream and every successful call), cover
//! the whole call, and the duration metrics of both sides have the same outcome.

#![cfg(feature = "tonic")]

use crate::support;

use std::time::Duration;

use octollm_telemetry::grpc::{self, names};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use support::grpc_echo::{self, EchoClient, GetRequest, ListRequest, LIST_INTERVAL};
use tonic::{Code, Request};

struct Pipeline {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
}

fn pipeline() -> Pipeline {
    let spans = InMemorySpanExporter::default();
    let metrics = InMemoryMetricExporter::default();
    Pipeline {
        tracer_provider: SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build(),
        meter_provider: SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(metrics.clone()).build())
            .build(),
        spans,
        metrics,
    }
}

fn propagator() -> std::sync::Arc<dyn TextMapPropagator + Send + Sync> {
    std::sync::Arc::new(TraceContextPropagator::new())
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// Waits (bounded) until `n` spans are finished: the server's span may end a moment after the
/// client has its answer.
async fn spans(p: &Pipeline, n: usize) -> Vec<SpanData> {
    for _ in 0..200 {
        let spans = p.spans.get_finished_spans().unwrap();
        if spans.len() >= n {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{n} spans expected, got {:?}",
        p.spans
            .get_finished_spans()
            .unwrap()
            .iter()
            .map(|s| &s.name)
            .collect::<Vec<_>>()
    );
}

/// (metric, status code, count) of every duration point.
fn outcomes(p: &Pipeline) -> Vec<(String, String, u64)> {
    p.meter_provider.force_flush().unwrap();
    let mut out = Vec::new();
    for rm in p.metrics.get_finished_metrics().unwrap() {
        for sm in rm.scope_metrics() {
            for m in sm.metrics() {
                if let AggregatedMetrics::F64(MetricData::Histogram(h)) = m.data() {
                    for point in h.data_points() {
                        let code = point
                            .attributes()
                            .find(|kv| kv.key.as_str() == names::STATUS_CODE)
                            .map(|kv| kv.value.to_string())
                            .unwrap_or_default();
                        out.push((m.name().to_owned(), code, point.count()));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// One call of each kind through both layers; the spans and outcomes of both sides.
struct Case {
    name: &'static str,
    path: &'static str,
    /// The status code on the client side, and on the server side.
    code: (&'static str, &'static str),
    server_error: bool,
    /// The least time the call takes (a stream's messages are spaced).
    at_least: Duration,
}

async fn run_case(case: &Case) {
    let p = pipeline();
    let server = grpc_echo::serve(
        grpc::layer()
            .providers(&p.tracer_provider, &p.meter_provider)
            .propagator(propagator()),
    )
    .await;
    let channel = tower::ServiceBuilder::new()
        .layer(
            grpc::client_layer()
                .providers(&p.tracer_provider, &p.meter_provider)
                .propagator(propagator())
                .server("127.0.0.1", server.addr.port()),
        )
        .service(server.channel());
    let mut client = EchoClient::new(channel);
    // A root span of the caller's around the call.
    let tracer = p.tracer_provider.tracer("caller");
    let root = tracer.start("caller");
    let cx = opentelemetry::Context::current_with_span(root);
    let trace_id = cx.span().span_context().trace_id();
    {
        let _attached = cx.clone().attach();
        match case.name {
            "unary ok" => assert!(client.get("k").await.is_ok()),
            "unary not found" => {
                assert_eq!(
                    client.get(grpc_echo::KEY_MISSING).await.unwrap_err().code(),
                    Code::NotFound
                );
            }
            "stream ok" => {
                let mut stream = client.list(3, 0).await.unwrap();
                let (items, end) = grpc_echo::collect(&mut stream).await;
                assert_eq!((items.len(), end.is_ok()), (3, true));
            }
            "stream aborted" => {
                let mut stream = client.list(5, 2).await.unwrap();
                let (items, end) = grpc_echo::collect(&mut stream).await;
                assert_eq!(items.len(), 2);
                assert_eq!(end.unwrap_err().code(), Code::Aborted);
            }
            "stream dropped" => {
                let mut stream = client
                    .list_request(Request::new(ListRequest {
                        count: 50,
                        fail_after: 0,
                    }))
                    .await
                    .unwrap()
                    .into_inner();
                assert!(stream.message().await.unwrap().is_some());
                assert!(stream.message().await.unwrap().is_some());
                drop(stream);
            }
            "deadline" => {
                let mut request = Request::new(GetRequest {
                    key: grpc_echo::KEY_SLOW.to_owned(),
                });
                request.set_timeout(Duration::from_millis(200));
                // tonic ends its own timeout as CANCELLED ("Timeout expired") to the caller.
                assert_eq!(
                    client.get_request(request).await.unwrap_err().code(),
                    Code::Cancelled
                );
            }
            other => unreachable!("{other}"),
        }
    }
    cx.span().end();
    let spans = spans(&p, 3).await;
    let client_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Client)
        .expect("a client span");
    let server_span = spans
        .iter()
        .find(|s| s.span_kind == SpanKind::Server)
        .expect("a server span");
    let what = case.name;
    for (span, code) in [(client_span, case.code.0), (server_span, case.code.1)] {
        assert_eq!(span.name, case.path, "{what}");
        assert_eq!(span.span_context.trace_id(), trace_id, "{what}: one trace");
        assert_eq!(
            attribute(span, names::STATUS_CODE).as_deref(),
            Some(code),
            "{what}: {:?}",
            span.span_kind
        );
        assert_eq!(attribute(span, names::SYSTEM_NAME).as_deref(), Some("grpc"));
        let took = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default();
        assert!(
            took >= case.at_least,
            "{what}: {:?} span took {took:?}, the call at least {:?}",
            span.span_kind,
            case.at_least
        );
    }
    assert_eq!(
        server_span.parent_span_id,
        client_span.span_context.span_id(),
        "{what}: the server span's parent is the client span"
    );
    assert_eq!(
        attribute(client_span, names::SERVER_ADDRESS).as_deref(),
        Some("127.0.0.1")
    );
    let client_error = case.code.0 != "OK";
    assert_eq!(
        matches!(client_span.status, Status::Error { .. }),
        client_error,
        "{what}: client status {:?}",
        client_span.status
    );
    assert_eq!(
        matches!(server_span.status, Status::Error { .. }),
        case.server_error,
        "{what}: server status {:?}",
        server_span.status
    );
    assert_eq!(
        outcomes(&p),
        [
            (names::CLIENT_DURATION.to_owned(), case.code.0.to_owned(), 1),
            (names::SERVER_DURATION.to_owned(), case.code.1.to_owned(), 1),
        ],
        "{what}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_is_read_where_grpc_puts_it_on_both_sides_in_one_trace() {
    let get = grpc_echo::GET_PATH.trim_start_matches('/');
    let list = grpc_echo::LIST_PATH.trim_start_matches('/');
    for case in [
        Case {
            name: "unary ok",
            path: get,
            code: ("OK", "OK"),
            server_error: false,
            at_least: Duration::ZERO,
        },
        Case {
            name: "unary not found",
            path: get,
            code: ("NOT_FOUND", "NOT_FOUND"),
            server_error: false,
            at_least: Duration::ZERO,
        },
        Case {
            name: "stream ok",
            path: list,
            code: ("OK", "OK"),
            server_error: false,
            at_least: LIST_INTERVAL * 2,
        },
        Case {
            name: "stream aborted",
            path: list,
            code: ("ABORTED", "ABORTED"),
            server_error: false,
            at_least: LIST_INTERVAL,
        },
        Case {
            name: "stream dropped",
            path: list,
            code: ("CANCELLED", "CANCELLED"),
            server_error: false,
            at_least: LIST_INTERVAL,
        },
        Case {
            name: "deadline",
            path: get,
            // The client's deadline passed: DEADLINE_EXCEEDED on its side, whatever error
            // tonic's timeout gives (CANCELLED); the server sees its caller go away.
            code: ("DEADLINE_EXCEEDED", "CANCELLED"),
            server_error: false,
            at_least: Duration::from_millis(200),
        },
    ] {
        run_case(&case).await;
    }
}
