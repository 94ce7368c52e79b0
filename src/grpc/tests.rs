use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tower::{Layer as _, Service as _, ServiceExt as _};

use super::*;

/// A response body of given frames: messages, then trailers.
struct Frames(VecDeque<Frame<Bytes>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(Ok))
    }
}

fn trailers(code: u8) -> Frame<Bytes> {
    let mut map = HeaderMap::new();
    map.insert("grpc-status", HeaderValue::from(u16::from(code)));
    Frame::trailers(map)
}

/// How the fake server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// Messages then trailers with this code.
    Stream(usize, u8),
    /// Trailers-only: the code in the headers.
    Only(u8),
}

fn answer(answer: Answer) -> Response<Frames> {
    match answer {
        Answer::Stream(messages, code) => {
            let mut frames: VecDeque<Frame<Bytes>> = (0..messages)
                .map(|_| Frame::data(Bytes::from_static(b"\0\0\0\0\0")))
                .collect();
            frames.push_back(trailers(code));
            Response::new(Frames(frames))
        }
        Answer::Only(code) => {
            let mut response = Response::new(Frames(VecDeque::new()));
            response
                .headers_mut()
                .insert("grpc-status", HeaderValue::from(u16::from(code)));
            response
        }
    }
}

struct Pipeline {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
}

impl Pipeline {
    fn new() -> Self {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        Self {
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

    fn spans(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().expect("spans")
    }

    /// (metric name, sorted `key=value` labels, count) of every point.
    fn points(&self) -> Vec<(String, Vec<String>, u64)> {
        self.meter_provider.force_flush().expect("flush");
        let mut out = Vec::new();
        for rm in self.metrics.get_finished_metrics().expect("metrics") {
            for sm in rm.scope_metrics() {
                for m in sm.metrics() {
                    if let AggregatedMetrics::F64(MetricData::Histogram(h)) = m.data() {
                        for p in h.data_points() {
                            let mut labels: Vec<String> = p
                                .attributes()
                                .map(|kv| format!("{}={}", kv.key, kv.value))
                                .collect();
                            labels.sort();
                            out.push((m.name().to_owned(), labels, p.count()));
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }
}

/// Calls the server layer with `path` and reads the whole body, or `read` frames of it.
async fn serve(p: &Pipeline, path: &str, reply: Answer, read: Option<usize>) -> HeaderMap {
    let layer = layer()
        .providers(&p.tracer_provider, &p.meter_provider)
        .propagator(std::sync::Arc::new(TraceContextPropagator::new())
            as std::sync::Arc<
                dyn opentelemetry::propagation::TextMapPropagator + Send + Sync,
            >);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(HeaderMap::new()));
    let seen2 = std::sync::Arc::clone(&seen);
    let mut service = layer.layer(tower::service_fn(move |req: Request<()>| {
        seen2.lock().unwrap().clone_from(req.headers());
        async move { Ok::<_, Infallible>(answer(reply)) }
    }));
    let mut request = Request::post(path).body(()).unwrap();
    request.headers_mut().insert(
        "traceparent",
        HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    let mut body = std::pin::pin!(response.into_body());
    let mut frames = 0;
    while read.is_none_or(|n| frames < n) {
        match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            Some(_) => frames += 1,
            None => break,
        }
    }
    let headers = seen.lock().unwrap().clone();
    headers
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test]
async fn a_unary_call_ends_at_its_trailers_and_a_client_fault_is_no_server_error() {
    let p = Pipeline::new();
    serve(&p, "/octollm.test.v1.Echo/Get", Answer::Stream(1, 0), None).await;
    serve(&p, "/octollm.test.v1.Echo/Get", Answer::Only(5), None).await;
    serve(&p, "/octollm.test.v1.Echo/Get", Answer::Stream(0, 13), None).await;
    let spans = p.spans();
    assert_eq!(spans.len(), 3);
    for span in &spans {
        assert_eq!(span.name, "octollm.test.v1.Echo/Get");
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(
            span.parent_span_id.to_string(),
            "00f067aa0ba902b7",
            "the caller's span is the parent"
        );
        assert_eq!(attribute(span, names::SYSTEM_NAME).as_deref(), Some("grpc"));
    }
    let codes: Vec<_> = spans
        .iter()
        .map(|s| attribute(s, names::STATUS_CODE).unwrap())
        .collect();
    assert_eq!(codes, ["OK", "NOT_FOUND", "INTERNAL"]);
    assert_eq!(spans[0].status, Status::Unset);
    assert_eq!(
        spans[1].status,
        Status::Unset,
        "NOT_FOUND is the caller's doing"
    );
    assert_eq!(
        attribute(&spans[1], names::ERROR_TYPE).as_deref(),
        Some("NOT_FOUND")
    );
    assert!(matches!(spans[2].status, Status::Error { .. }));

    let points = p.points();
    let base = |code: &str, error: bool| {
        let mut v = vec![
            format!("rpc.method=octollm.test.v1.Echo/Get"),
            format!("rpc.response.status_code={code}"),
            "rpc.system.name=grpc".to_owned(),
        ];
        if error {
            v.insert(0, format!("error.type={code}"));
        }
        v
    };
    assert_eq!(
        points,
        [
            (names::SERVER_DURATION.to_owned(), base("INTERNAL", true), 1),
            (
                names::SERVER_DURATION.to_owned(),
                base("NOT_FOUND", true),
                1
            ),
            (names::SERVER_DURATION.to_owned(), base("OK", false), 1),
        ]
    );
}

#[tokio::test]
async fn a_stream_ends_at_its_last_trailers_or_as_cancelled_when_dropped_half_way() {
    let p = Pipeline::new();
    serve(
        &p,
        "/octollm.test.v1.Echo/List",
        Answer::Stream(2, 10),
        None,
    )
    .await;
    assert_eq!(
        attribute(&p.spans()[0], names::STATUS_CODE).as_deref(),
        Some("ABORTED"),
        "the status after two messages, from the trailers"
    );
    // Two of three messages read, then the body dropped.
    serve(
        &p,
        "/octollm.test.v1.Echo/List",
        Answer::Stream(3, 0),
        Some(2),
    )
    .await;
    let spans = p.spans();
    assert_eq!(spans.len(), 2);
    assert_eq!(
        attribute(&spans[1], names::STATUS_CODE).as_deref(),
        Some("CANCELLED")
    );
    assert_eq!(spans[1].status, Status::Unset, "no server fault");
}

#[tokio::test]
async fn health_probes_get_nothing_and_an_unimplemented_method_is_other() {
    let p = Pipeline::new();
    serve(
        &p,
        "/grpc.health.v1.Health/Check",
        Answer::Stream(1, 0),
        None,
    )
    .await;
    assert!(p.spans().is_empty());
    serve(&p, "/made.up.Service/Anything", Answer::Only(12), None).await;
    let spans = p.spans();
    assert_eq!(spans[0].name, "grpc");
    assert_eq!(
        attribute(&spans[0], names::METHOD).as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        attribute(&spans[0], names::METHOD_ORIGINAL).as_deref(),
        Some("made.up.Service/Anything")
    );
    assert!(p
        .points()
        .iter()
        .all(|(_, labels, _)| labels.contains(&"rpc.method=_OTHER".to_owned())));
}

#[tokio::test]
async fn the_client_injects_its_span_and_errors_on_every_non_ok_code() {
    let p = Pipeline::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for code in [0_u8, 5] {
        let seen = std::sync::Arc::clone(&seen);
        let mut client = client_layer()
            .providers(&p.tracer_provider, &p.meter_provider)
            .propagator(std::sync::Arc::new(TraceContextPropagator::new())
                as std::sync::Arc<
                    dyn opentelemetry::propagation::TextMapPropagator + Send + Sync,
                >)
            .layer(tower::service_fn(move |req: Request<()>| {
                seen.lock().unwrap().push(
                    req.headers()
                        .get("traceparent")
                        .map(|v| v.to_str().unwrap().to_owned()),
                );
                async move { Ok::<_, Infallible>(answer(Answer::Stream(1, code))) }
            }));
        let request = Request::post("http://echo.internal:50051/octollm.test.v1.Echo/Get")
            .body(())
            .unwrap();
        let response = client.ready().await.unwrap().call(request).await.unwrap();
        let mut body = std::pin::pin!(response.into_body());
        while std::future::poll_fn(|cx| body.as_mut().poll_frame(cx))
            .await
            .is_some()
        {}
    }
    let spans = p.spans();
    assert_eq!(spans.len(), 2);
    let seen = seen.lock().unwrap();
    for (span, traceparent) in spans.iter().zip(seen.iter()) {
        assert_eq!(span.span_kind, SpanKind::Client);
        let traceparent = traceparent.as_deref().expect("a traceparent");
        assert!(
            traceparent.contains(&span.span_context.span_id().to_string()),
            "{traceparent}"
        );
        assert_eq!(
            attribute(span, names::SERVER_ADDRESS).as_deref(),
            Some("echo.internal")
        );
        assert_eq!(
            attribute(span, names::SERVER_PORT).as_deref(),
            Some("50051")
        );
    }
    assert_eq!(spans[0].status, Status::Unset);
    assert!(
        matches!(spans[1].status, Status::Error { .. }),
        "NOT_FOUND is an error to the client"
    );
    assert!(p
        .points()
        .iter()
        .all(|(name, labels, _)| name == names::CLIENT_DURATION
            && labels.contains(&"server.address=echo.internal".to_owned())));
}

#[test]
fn grpc_timeout_values_are_read_in_every_unit() {
    use std::time::Duration;
    for (value, expected) in [
        ("2H", Some(Duration::from_secs(7200))),
        ("3M", Some(Duration::from_secs(180))),
        ("200m", Some(Duration::from_millis(200))),
        ("5S", Some(Duration::from_secs(5))),
        ("7u", Some(Duration::from_micros(7))),
        ("9n", Some(Duration::from_nanos(9))),
        ("", None),
        ("m", None),
        ("10x", None),
        ("-1S", None),
    ] {
        assert_eq!(call::grpc_timeout(value), expected, "{value:?}");
    }
}

#[tokio::test]
async fn the_request_id_is_kept_for_the_handler_and_forwarded_by_the_client() {
    let p = Pipeline::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = std::sync::Arc::clone(&seen);
    let mut server = layer()
        .providers(&p.tracer_provider, &p.meter_provider)
        .layer(tower::service_fn(move |req: Request<()>| {
            seen2.lock().unwrap().push((
                crate::context::RequestId::current().map(|id| id.as_str().to_owned()),
                req.headers().get("x-request-id").cloned(),
            ));
            async move { Ok::<_, Infallible>(answer(Answer::Only(0))) }
        }));
    for given in [Some("req-42"), None] {
        let mut request = Request::post("/octollm.test.v1.Echo/Get").body(()).unwrap();
        if let Some(id) = given {
            request
                .headers_mut()
                .insert("x-request-id", HeaderValue::from_static(id));
        }
        server.ready().await.unwrap().call(request).await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].0.as_deref(), Some("req-42"));
    let generated = seen[1].0.clone().expect("a generated id");
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    assert_eq!(
        seen[1].1.as_ref().map(|v| v.to_str().unwrap().to_owned()),
        Some(generated),
        "set on the request for the handler"
    );

    // A call made while handling a request carries its id on.
    let forwarded = std::sync::Arc::new(std::sync::Mutex::new(None));
    let forwarded2 = std::sync::Arc::clone(&forwarded);
    let mut client = client_layer()
        .providers(&p.tracer_provider, &p.meter_provider)
        .layer(tower::service_fn(move |req: Request<()>| {
            *forwarded2.lock().unwrap() = req.headers().get("x-request-id").cloned();
            async move { Ok::<_, Infallible>(answer(Answer::Only(0))) }
        }));
    let cx = opentelemetry::Context::new().with_value(crate::context::RequestContext {
        id: crate::context::RequestId(http::HeaderValue::from_static("req-42")),
        span_name: "x".into(),
    });
    {
        let _attached = cx.attach();
        let request = Request::post("/octollm.test.v1.Plans/Get")
            .body(())
            .unwrap();
        client.ready().await.unwrap().call(request).await.unwrap();
    }
    assert_eq!(
        forwarded
            .lock()
            .unwrap()
            .as_ref()
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("req-42".to_owned())
    );
}

#[tokio::test]
async fn only_listed_metadata_reaches_the_span_and_never_a_credential() {
    let p = Pipeline::new();
    let mut server = layer()
        .providers(&p.tracer_provider, &p.meter_provider)
        .metadata(["X-Tenant", "authorization", "cookie", "not a name"])
        .layer(tower::service_fn(|_req: Request<()>| async {
            Ok::<_, Infallible>(answer(Answer::Only(0)))
        }));
    let mut request = Request::post("/octollm.test.v1.Echo/Get").body(()).unwrap();
    let headers = request.headers_mut();
    headers.append("x-tenant", HeaderValue::from_static("acme"));
    headers.append("x-tenant", HeaderValue::from_static("beta"));
    headers.insert("authorization", HeaderValue::from_static("Bearer s3cr3t"));
    headers.insert("cookie", HeaderValue::from_static("session=s3cr3t"));
    headers.insert("x-other", HeaderValue::from_static("unlisted"));
    server.ready().await.unwrap().call(request).await.unwrap();
    let span = &p.spans()[0];
    let metadata: Vec<String> = span
        .attributes
        .iter()
        .filter(|kv| kv.key.as_str().starts_with(names::REQUEST_METADATA_PREFIX))
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    assert_eq!(
        metadata,
        [r#"rpc.request.metadata.x-tenant=["acme","beta"]"#]
    );
    let all = format!("{:?}", span.attributes);
    assert!(
        !all.contains("s3cr3t") && !all.contains("unlisted"),
        "{all}"
    );
}
