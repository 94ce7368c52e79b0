//! Per-request cost of the server layer, next to tower-http's `TraceLayer` and the two
//! OpenTelemetry peers built on the same opentelemetry 0.33, measured so that the ratios hold
//! on a shared, noisy machine.
//!
//! Every case sends `GET /items/42` (with `host` and `user-agent`, no `traceparent`, no
//! `x-request-id`) through the same axum `Router` (one route `/items/{id}`, a handler that
//! extracts the id and returns a short body): a ready clone of the router is called and the
//! response body is read, in one tokio current-thread runtime. Spans go to a
//! `BatchSpanProcessor` over an exporter that only counts them; metrics go to an
//! `SdkMeterProvider` with a `ManualReader` that is never collected. Sampling is
//! `ParentBased(TraceIdRatioBased(1.0))` ("sampled") or `(0.0)` ("sampled out"), the same for
//! every case, and the global propagator is W3C trace context + baggage.
//!
//! | case | what it measures |
//! |---|---|
//! | `baseline` | the router alone |
//! | `tower_http_trace` | `TraceLayer::new_for_http()`, a registry subscriber with no output |
//! | `ours_sampled` | our layer, span only (`without_metrics().access_log(false)`) |
//! | `ours_sampled_out` | the same with a sampler that drops every root |
//! | `ours_metrics` | span + `http.server.request.duration` + `http.server.active_requests` |
//! | `ours_full` | span + metrics + one JSON access-log line (`JsonFormat` to `io::sink`) |
//! | `ours_full_sampled_out` | the same, sampled out |
//! | `ato_sampled` | axum-tracing-opentelemetry 0.42 (`OtelAxumLayer` + `OtelInResponseLayer`) with the tracing-opentelemetry 0.34 layer (its defaults) on a registry |
//! | `ato_sampled_out` | the same with a sampler that drops every root |
//! | `oit_tracing` | opentelemetry-instrumentation-tower 0.19 (`axum` feature), spans only |
//! | `oit_tracing_metrics` | the same with its metrics on |
//! | `oit_sampled_out` | spans only, sampler that drops every root |
//! | `ours_built_sampled` | our layer, span only, over a pipeline from `TelemetryConfig::build` with `parentbased_traceidratio` 1.0 (the batch processor of the crate, the same counting exporter) |
//! | `ours_built_sampled_out` | the same at 0.0 |
//! | `ours_remote_sampled` | the same pipeline with `parentbased_jaeger_remote`, after its first fetch of a per-operation strategy (from a loopback HTTP endpoint of the bench's) that keeps `GET /items/{id}` with probability 1.0 |
//! | `ours_remote_sampled_out` | the same with probability 0.0 for the route (and Jaeger's usual lower bound of one trace per minute) |
//! | `floor_sampled` | **the floor**: a minimal server-span layer written on the SDK here (a span named per route, 7 attributes at the start and the status code at the end when recording, its context attached while the handler runs; nothing else: no propagation, request id, response header or log context) |
//! | `floor_sampled_out` | the same with a sampler that drops every root |
//! | `sdk_span_sampled` | no layer; the handler starts and ends one SDK span with 8 attributes (the SDK tracer directly, batch processor): the cost of a span at the SDK's floor |
//! | `sdk_span_sampled_out` | the same, sampled out |
//! | `stack_sampled` | our layer (span only) and the installed stack: a registry with `Telemetry::layer()` of a pipeline from `TelemetryConfig::build` (JSON lines to `io::sink`, spans to the counting exporter) |
//! | `stack_sampled_out` | the same at 0.0 |
//! | `stack_span_sampled` | the same, and the handler runs its work inside one `tracing` span with 4 fields (`.instrument`): that span's cost is this case minus `stack_sampled` |
//! | `stack_span_sampled_out` | the same at 0.0: a `tracing` span inside a sampled-out trace |
//! | `worker_span_sampled` | no layer; the handler opens the same `tracing` span as a root (a worker's span, outside any request) under the installed stack |
//! | `worker_span_sampled_out` | the same at 0.0 |
//!
//! # Two measures
//!
//! - **Interleaved wall time** (the default): every case is built once; then, for each of
//!   `ROUNDS` rounds, every case runs `REQUESTS` requests, in an order shuffled per round. The
//!   overhead of a case is its time per request minus `baseline`'s in the same round, and each
//!   headline ratio is computed within a round; the report gives the median over the rounds
//!   with the 25th and 75th percentiles. A background change moves a whole round, not one case.
//! - **Instructions** (`--case <name> --requests <n>`): runs one case alone, for
//!   `valgrind --tool=callgrind`. `scripts/bench.sh` runs every case at two request counts and
//!   reports (I(n2) − I(n1)) / (n2 − n1) instructions per request, which setup and noise do
//!   not move. Each figure is read against the floor measured in the same run
//!   (`floor_*`, `sdk_span_*`).
//!
//! ```text
//! scripts/bench.sh            # both measures, every case (release build)
//! cargo bench --bench http_layer -- --rounds 31 --requests 2000
//! ```
//!
//! Results: `docs/performance.md`.

use std::convert::Infallible;
use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{header, Request};
use http_body_util::BodyExt as _;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use tower::Service as _;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt as _;

use octollm_telemetry::{JaegerRemote, MetricsExporter, Sampler as OurSampler, TelemetryConfig};

/// An exporter that only counts what the batch processor hands it.
#[derive(Debug, Clone, Default)]
struct CountingExporter(Arc<AtomicUsize>);

impl SpanExporter for CountingExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.fetch_add(batch.len(), Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

/// A tracer provider with a batch processor over a counting exporter.
fn tracer_provider(ratio: f64) -> (SdkTracerProvider, Arc<AtomicUsize>) {
    let exporter = CountingExporter::default();
    let count = Arc::clone(&exporter.0);
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_batch_exporter(exporter)
        .build();
    (provider, count)
}

/// Serves `strategy` (Jaeger's HTTP sampling API) on a loopback port for the rest of the run;
/// the endpoint to give the remote sampler.
fn strategy_endpoint(strategy: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{strategy}",
                strategy.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}/sampling")
}

/// A pipeline of the crate (`TelemetryConfig::build`) with `sampler`, spans to a counting
/// exporter, no metrics; it lives for the whole run.
fn built_provider(sampler: OurSampler) -> (SdkTracerProvider, Arc<AtomicUsize>) {
    let exporter = CountingExporter::default();
    let count = Arc::clone(&exporter.0);
    let telemetry = TelemetryConfig::from_vars([("OTEL_SERVICE_NAME", "bench")])
        .expect("configuration")
        .sampler(sampler)
        .span_exporter(exporter)
        .metrics_exporter(MetricsExporter::None)
        .runtime_metrics(false)
        .build()
        .expect("pipeline");
    if let Some(remote) = telemetry.remote_sampling() {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while remote.fetches() == 0 {
            assert!(Instant::now() < deadline, "no strategy fetched");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let provider = telemetry.tracer_provider().clone();
    Box::leak(Box::new(telemetry));
    (provider, count)
}

/// A meter provider whose reader is never collected during the run.
fn meter_provider() -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build()
}

async fn item(Path(id): Path<u32>) -> String {
    format!("item {id}")
}

fn router() -> Router {
    Router::new().route("/items/{id}", get(item))
}

fn request() -> Request<Body> {
    Request::builder()
        .uri("/items/42")
        .header(header::HOST, "api.octollm.local:8080")
        .header(header::USER_AGENT, "octollm-bench/1.0")
        .body(Body::empty())
        .expect("valid request")
}

async fn one_request(app: &Router) -> bytes::Bytes {
    let mut svc = app.clone();
    let ready = tower::ServiceExt::<Request<Body>>::ready(&mut svc)
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    let response = ready
        .call(request())
        .await
        .unwrap_or_else(|e: Infallible| match e {});
    assert!(response.status().is_success());
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

fn json_log_dispatch() -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(octollm_telemetry::logs::JsonFormat::new("bench"))
                .with_writer(io::sink),
        ),
    )
}

/// Runs one request of `app` with the JSON format writing into memory and returns the lines:
/// the `ours_full` case must write exactly one access-log line that carries the trace id.
fn access_log_lines(rt: &tokio::runtime::Runtime, app: &Router) -> Vec<String> {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let dispatch = Dispatch::new(
        tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(octollm_telemetry::logs::JsonFormat::new("bench"))
                .with_writer(move || writer.clone()),
        ),
    );
    tracing::dispatcher::with_default(&dispatch, || rt.block_on(one_request(app)));
    let text = String::from_utf8(buf.0.lock().expect("buffer").clone()).expect("utf-8");
    text.lines().map(str::to_owned).collect()
}

fn to_dispatch(provider: &SdkTracerProvider) -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
    )
}

/// The floor: the least a server-span layer on the SDK does. Per request, a span named
/// `{method} {route}`, 7 attributes when it is recording, its context attached while the
/// handler runs, the status code and the end when the response is ready.
#[derive(Clone)]
struct FloorLayer(opentelemetry_sdk::trace::SdkTracer);

impl<S> tower::Layer<S> for FloorLayer {
    type Service = FloorService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        FloorService {
            inner,
            tracer: self.0.clone(),
        }
    }
}

#[derive(Clone)]
struct FloorService<S> {
    inner: S,
    tracer: opentelemetry_sdk::trace::SdkTracer,
}

impl<S, B, R> tower::Service<Request<B>> for FloorService<S>
where
    S: tower::Service<Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = FloorFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _};
        use opentelemetry::KeyValue;
        let route = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or("", axum::extract::MatchedPath::as_str);
        let name = format!("{} {route}", req.method());
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .start_with_context(&self.tracer, &opentelemetry::Context::current());
        if span.is_recording() {
            let headers = req.headers();
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let (address, port) = host.rsplit_once(':').unwrap_or((host, "80"));
            span.set_attributes([
                KeyValue::new("http.request.method", req.method().as_str().to_owned()),
                KeyValue::new("http.route", route.to_owned()),
                KeyValue::new("url.path", req.uri().path().to_owned()),
                KeyValue::new("url.scheme", "http"),
                KeyValue::new("server.address", address.to_owned()),
                KeyValue::new("server.port", port.parse::<i64>().unwrap_or(80)),
                KeyValue::new(
                    "user_agent.original",
                    headers
                        .get(header::USER_AGENT)
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or_default()
                        .to_owned(),
                ),
            ]);
        }
        let cx = opentelemetry::Context::current_with_span(span);
        let inner = {
            let _attached = cx.clone().attach();
            self.inner.call(req)
        };
        FloorFuture { inner, cx }
    }
}

pin_project_lite::pin_project! {
    struct FloorFuture<F> {
        #[pin]
        inner: F,
        cx: opentelemetry::Context,
    }
}

impl<F, R, E> std::future::Future for FloorFuture<F>
where
    F: std::future::Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        task: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        use opentelemetry::trace::TraceContextExt as _;
        let this = self.project();
        let _attached = this.cx.clone().attach();
        let result = std::task::ready!(this.inner.poll(task));
        let span = this.cx.span();
        if let Ok(response) = &result {
            span.set_attribute(opentelemetry::KeyValue::new(
                "http.response.status_code",
                i64::from(response.status().as_u16()),
            ));
        }
        span.end();
        std::task::Poll::Ready(result)
    }
}

/// A router whose handler starts and ends one SDK span with 8 attributes.
fn sdk_span_router(provider: &SdkTracerProvider) -> Router {
    use opentelemetry::trace::{Span as _, Tracer as _};
    use opentelemetry::KeyValue;
    let tracer = provider.tracer("bench");
    Router::new().route(
        "/items/{id}",
        get(move |Path(id): Path<u32>| {
            let mut span = tracer
                .span_builder("load_item")
                .with_attributes([
                    KeyValue::new("item.id", i64::from(id)),
                    KeyValue::new("db.system.name", "postgresql"),
                    KeyValue::new("db.operation.name", "SELECT"),
                    KeyValue::new("db.collection.name", "items"),
                    KeyValue::new("db.namespace", "octollm"),
                    KeyValue::new("server.address", "db.octollm.local"),
                    KeyValue::new("server.port", 5432_i64),
                    KeyValue::new("db.response.returned_rows", 1_i64),
                ])
                .start(&tracer);
            let body = format!("item {id}");
            span.end();
            std::future::ready(body)
        }),
    )
}

/// The handler's work inside one `tracing` span with 4 fields, as a service author writes it.
async fn item_in_span(Path(id): Path<u32>) -> String {
    use tracing::Instrument as _;
    async move { format!("item {id}") }
        .instrument(tracing::info_span!(
            "load_item",
            item.id = id,
            db.system.name = "postgresql",
            db.operation.name = "SELECT",
            db.collection.name = "items",
        ))
        .await
}

/// A pipeline of the crate at `ratio`, with its `tracing` layers (JSON lines to `io::sink`) as
/// the subscriber: the installed stack, without installing it.
fn built_stack(ratio: f64) -> (SdkTracerProvider, Arc<AtomicUsize>, Dispatch) {
    let exporter = CountingExporter::default();
    let count = Arc::clone(&exporter.0);
    let telemetry = TelemetryConfig::from_vars([("OTEL_SERVICE_NAME", "bench")])
        .expect("configuration")
        .sampler(OurSampler::ParentBasedTraceIdRatio(ratio))
        .span_exporter(exporter)
        .metrics_exporter(MetricsExporter::None)
        .runtime_metrics(false)
        .log_writer(io::sink)
        .build()
        .expect("pipeline");
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(telemetry.layer()));
    let provider = telemetry.tracer_provider().clone();
    Box::leak(Box::new(telemetry));
    (provider, count, dispatch)
}

/// One case: its router, the subscriber it runs under, and the span counter that must (or must
/// not) move.
struct Case {
    name: &'static str,
    app: Router,
    dispatch: Option<Dispatch>,
    spans: Option<(Arc<AtomicUsize>, SdkTracerProvider, bool)>,
}

impl Case {
    /// Runs `n` requests under the case's subscriber; the time per request.
    fn run(&self, rt: &tokio::runtime::Runtime, n: usize) -> f64 {
        let _guard = self.dispatch.as_ref().map(tracing::dispatcher::set_default);
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                black_box(one_request(&self.app).await);
            }
            start.elapsed().as_secs_f64() * 1e9 / n as f64
        })
    }

    /// The spans exported match what the case should export.
    fn check(&self) {
        if let Some((count, provider, expect_spans)) = &self.spans {
            let _ = provider.force_flush();
            let exported = count.load(Ordering::Relaxed);
            assert_eq!(
                exported > 0,
                *expect_spans,
                "{}: {exported} spans exported",
                self.name
            );
        }
    }
}

fn cases(rt: &tokio::runtime::Runtime) -> Vec<Case> {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let ours = octollm_telemetry::http::layer;
    let mut cases = vec![
        Case {
            name: "baseline",
            app: router(),
            dispatch: None,
            spans: None,
        },
        Case {
            name: "tower_http_trace",
            app: router().layer(tower_http::trace::TraceLayer::new_for_http()),
            dispatch: Some(Dispatch::new(tracing_subscriber::registry())),
            spans: None,
        },
    ];
    for (name, ratio) in [("ours_sampled", 1.0), ("ours_sampled_out", 0.0)] {
        let (tp, count) = tracer_provider(ratio);
        cases.push(Case {
            name,
            app: router().layer(
                ours()
                    .tracer_provider(&tp)
                    .without_metrics()
                    .access_log(false),
            ),
            dispatch: None,
            spans: Some((count, tp, ratio > 0.0)),
        });
    }
    let (tp, count) = tracer_provider(1.0);
    let mp = meter_provider();
    cases.push(Case {
        name: "ours_metrics",
        app: router().layer(
            ours()
                .tracer_provider(&tp)
                .meter_provider(&mp)
                .access_log(false),
        ),
        dispatch: None,
        spans: Some((count, tp, true)),
    });
    for (name, ratio) in [("ours_full", 1.0), ("ours_full_sampled_out", 0.0)] {
        let (tp, count) = tracer_provider(ratio);
        let mp = meter_provider();
        let app = router().layer(ours().tracer_provider(&tp).meter_provider(&mp));
        let lines = access_log_lines(rt, &app);
        assert!(
            lines.len() == 1 && lines[0].contains("\"trace_id\":"),
            "one access-log line with a trace id expected: {lines:?}"
        );
        cases.push(Case {
            name,
            app,
            dispatch: Some(json_log_dispatch()),
            spans: Some((count, tp, ratio > 0.0)),
        });
    }
    for (name, ratio) in [("ato_sampled", 1.0), ("ato_sampled_out", 0.0)] {
        let (tp, count) = tracer_provider(ratio);
        cases.push(Case {
            name,
            app: router()
                .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default()),
            dispatch: Some(to_dispatch(&tp)),
            spans: Some((count, tp, ratio > 0.0)),
        });
    }
    // The contrib layer reads the global providers when it is built.
    use opentelemetry_instrumentation_tower::http::server::LayerBuilder;
    for (name, ratio, metrics) in [
        ("oit_tracing", 1.0, false),
        ("oit_tracing_metrics", 1.0, true),
        ("oit_sampled_out", 0.0, false),
    ] {
        let (tp, count) = tracer_provider(ratio);
        opentelemetry::global::set_tracer_provider(tp.clone());
        let mp = meter_provider();
        opentelemetry::global::set_meter_provider(mp.clone());
        let layer = LayerBuilder::builder()
            .with_metrics(metrics)
            .build()
            .expect("oit layer");
        cases.push(Case {
            name,
            app: router().layer(layer),
            dispatch: None,
            spans: Some((count, tp, ratio > 0.0)),
        });
    }
    for (name, probability) in [
        ("ours_remote_sampled", 1.0),
        ("ours_remote_sampled_out", 0.0),
    ] {
        let strategy = format!(
            r#"{{"strategyType":"PROBABILISTIC","operationSampling":{{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0.016666666666666666,"perOperationStrategies":[{{"operation":"GET /items/{{id}}","probabilisticSampling":{{"samplingRate":{probability}}}}}]}}}}"#
        );
        let endpoint = strategy_endpoint(Box::leak(strategy.into_boxed_str()));
        let (tp, count) = built_provider(OurSampler::ParentBasedJaegerRemote(
            JaegerRemote::new(endpoint).initial_sampling_rate(0.5),
        ));
        // Sampled out, the lower bound still keeps the first root of the run: spans exported.
        cases.push(ours_span_only(name, tp, count, true));
    }
    for (name, ratio) in [("ours_built_sampled", 1.0), ("ours_built_sampled_out", 0.0)] {
        let (tp, count) = built_provider(OurSampler::ParentBasedTraceIdRatio(ratio));
        cases.push(ours_span_only(name, tp, count, ratio > 0.0));
    }
    for (name, ratio) in [("floor_sampled", 1.0), ("floor_sampled_out", 0.0)] {
        let (tp, count) = tracer_provider(ratio);
        cases.push(Case {
            name,
            app: router().layer(FloorLayer(tp.tracer("bench"))),
            dispatch: None,
            spans: Some((count, tp, ratio > 0.0)),
        });
    }
    for (name, ratio) in [("sdk_span_sampled", 1.0), ("sdk_span_sampled_out", 0.0)] {
        let (tp, count) = tracer_provider(ratio);
        cases.push(Case {
            name,
            app: sdk_span_router(&tp),
            dispatch: None,
            spans: Some((count, tp, ratio > 0.0)),
        });
    }
    for (name, ratio, spanned) in [
        ("stack_sampled", 1.0, false),
        ("stack_sampled_out", 0.0, false),
        ("stack_span_sampled", 1.0, true),
        ("stack_span_sampled_out", 0.0, true),
    ] {
        let (tp, count, dispatch) = built_stack(ratio);
        let app = if spanned {
            Router::new().route("/items/{id}", get(item_in_span))
        } else {
            router()
        };
        cases.push(Case {
            name,
            app: app.layer(
                ours()
                    .tracer_provider(&tp)
                    .without_metrics()
                    .access_log(false),
            ),
            dispatch: Some(dispatch),
            spans: Some((count, tp, ratio > 0.0)),
        });
    }
    for (name, ratio) in [
        ("worker_span_sampled", 1.0),
        ("worker_span_sampled_out", 0.0),
    ] {
        let (tp, count, dispatch) = built_stack(ratio);
        cases.push(Case {
            name,
            app: Router::new().route("/items/{id}", get(item_in_span)),
            dispatch: Some(dispatch),
            spans: Some((count, tp, ratio > 0.0)),
        });
    }
    cases
}

/// Our layer, span only, over `tp`.
fn ours_span_only(
    name: &'static str,
    tp: SdkTracerProvider,
    count: Arc<AtomicUsize>,
    expect_spans: bool,
) -> Case {
    Case {
        name,
        app: router().layer(
            octollm_telemetry::http::layer()
                .tracer_provider(&tp)
                .without_metrics()
                .access_log(false),
        ),
        dispatch: None,
        spans: Some((count, tp, expect_spans)),
    }
}

/// The headline ratios: (name, case, reference), each an overhead over the round's baseline.
const RATIOS: &[(&str, &str, &str)] = &[
    (
        "our layer / floor, sampled",
        "ours_sampled",
        "floor_sampled",
    ),
    (
        "our layer / floor, sampled out",
        "ours_sampled_out",
        "floor_sampled_out",
    ),
    (
        "full stack / best peer's spans + metrics",
        "ours_full",
        "oit_tracing_metrics",
    ),
    (
        "spans + metrics / best peer's spans + metrics",
        "ours_metrics",
        "oit_tracing_metrics",
    ),
    (
        "sampled out / sampled (span only)",
        "ours_sampled_out",
        "ours_sampled",
    ),
    (
        "full stack sampled out / sampled",
        "ours_full_sampled_out",
        "ours_full",
    ),
    (
        "peer: sampled out / sampled",
        "oit_sampled_out",
        "oit_tracing",
    ),
    (
        "remote sampler / ratio sampler, sampled",
        "ours_remote_sampled",
        "ours_built_sampled",
    ),
    (
        "remote sampler / ratio sampler, sampled out",
        "ours_remote_sampled_out",
        "ours_built_sampled_out",
    ),
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn summary(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (
        percentile(&v, 0.5),
        percentile(&v, 0.25),
        percentile(&v, 0.75),
    )
}

/// A small deterministic shuffle (xorshift), so that rounds differ but runs repeat.
fn shuffle(order: &mut [usize], seed: u64) {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing to run.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _rt_guard = rt.enter();
    let cases = cases(&rt);
    let requests: usize = arg(&args, "--requests").map_or(2000, |v| v.parse().expect("--requests"));
    if let Some(name) = arg(&args, "--case") {
        let case = cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case {name}"));
        case.run(&rt, requests);
        case.check();
        return;
    }
    let rounds: usize = arg(&args, "--rounds").map_or(31, |v| v.parse().expect("--rounds"));
    // Warm-up, and a smoke test of every stack.
    for case in &cases {
        case.run(&rt, requests / 4 + 1);
    }
    let mut per_case: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut per_ratio: Vec<Vec<f64>> = vec![Vec::new(); RATIOS.len()];
    let index = |name: &str| cases.iter().position(|c| c.name == name).expect("case");
    let baseline = index("baseline");
    let mut order: Vec<usize> = (0..cases.len()).collect();
    for round in 0..rounds {
        shuffle(&mut order, round as u64 + 1);
        let mut ns = vec![0.0; cases.len()];
        for &i in &order {
            ns[i] = cases[i].run(&rt, requests);
        }
        for (i, v) in ns.iter().enumerate() {
            per_case[i].push(*v - if i == baseline { 0.0 } else { ns[baseline] });
        }
        for (r, (_, case, reference)) in RATIOS.iter().enumerate() {
            let over = |name| ns[index(name)] - ns[baseline];
            per_ratio[r].push(over(case) / over(reference));
        }
    }
    for case in &cases {
        case.check();
    }
    println!("{rounds} rounds x {requests} requests per case, order shuffled per round");
    println!("| case | ns / request (baseline) or overhead, median [p25, p75] |");
    println!("|---|---:|");
    for (i, case) in cases.iter().enumerate() {
        let (m, lo, hi) = summary(per_case[i].clone());
        println!("| `{}` | {m:.0} [{lo:.0}, {hi:.0}] |", case.name);
    }
    println!();
    println!("| ratio of overheads | median [p25, p75] |");
    println!("|---|---:|");
    for (r, (name, ..)) in RATIOS.iter().enumerate() {
        let (m, lo, hi) = summary(per_ratio[r].clone());
        println!("| {name} | {m:.2} [{lo:.2}, {hi:.2}] |");
    }
}
