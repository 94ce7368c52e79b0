//! Per-request cost of the server layer, next to tower-http's `TraceLayer` and the two
//! OpenTelemetry peers built on the same opentelemetry 0.33.
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
//! | `ato_sampled` | axum-tracing-opentelemetry 0.42 (`OtelAxumLayer` + `OtelInResponseLayer`) with the tracing-opentelemetry 0.34 layer (its defaults) on a registry |
//! | `ato_sampled_out` | the same with a sampler that drops every root |
//! | `oit_tracing` | opentelemetry-instrumentation-tower 0.19 (`axum` feature), spans only |
//! | `oit_tracing_metrics` | the same with its metrics on |
//! | `oit_sampled_out` | spans only, sampler that drops every root |
//!
//! # Run
//!
//! ```text
//! cargo bench --bench http_layer -- --warm-up-time 1 --measurement-time 5
//! ```
//!
//! The machine below is shared and noisy: compare cases within one run, as overheads over
//! that run's `baseline`, not absolute numbers across runs.
//!
//! # Results
//!
//! AMD EPYC, 2 vCPUs shared with other work, Linux, rustc 1.95.0, release profile,
//! 2026-11-24. Two runs of the command above on a quiet machine; "ns / request" gives
//! both criterion medians and their mean; overhead = case − `baseline` of the same run,
//! averaged over the two runs. Runs taken while other processes kept a core busy moved
//! `baseline` by up to 50 % and were discarded. "Ir" is instructions per request from
//! `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*one_request*'` on the
//! bench binary with `--bench '^<case>$' --profile-time 2` (noise-free; overhead over
//! `baseline`'s 10.86 k).
//!
//! | case | ns / request (run 1 / run 2) | mean | overhead | Ir overhead |
//! |---|---:|---:|---:|---:|
//! | `baseline` | 784 / 786 | 785 | — | — |
//! | `tower_http_trace` | 1460 / 1463 | 1461 | +677 ns | +4.8 k |
//! | `ours_sampled` | 2181 / 2216 | 2199 | +1414 ns | +15.1 k |
//! | `ours_sampled_out` | 1632 / 1658 | 1645 | +860 ns | +9.4 k |
//! | `ours_metrics` | 2515 / 2562 | 2539 | +1754 ns | +19.2 k |
//! | `ours_full` | 3075 / 3085 | 3080 | +2295 ns | +28.5 k |
//! | `ato_sampled` | 3851 / 4026 | 3938 | +3154 ns | +31.8 k |
//! | `ato_sampled_out` | 3453 / 3519 | 3486 | +2702 ns | +31.1 k |
//! | `oit_tracing` | 1880 / 1953 | 1916 | +1132 ns | +10.8 k |
//! | `oit_tracing_metrics` | 2850 / 2893 | 2872 | +2087 ns | +18.1 k |
//! | `oit_sampled_out` | 1630 / 1814 | 1722 | +937 ns | +10.4 k |
//!
//! Ratios of overheads (run 1, run 2 → mean; Ir in brackets):
//!
//! - `ours_full` / `oit_tracing_metrics`: 1.11, 1.09 → 1.10 (1.57); `ours_metrics` /
//!   `oit_tracing_metrics` (the same signals, no log line): 0.84 (1.06); `ours_full` /
//!   `ato_sampled`: 0.73 (0.90).
//! - sampled out / sampled: ours 0.61, 0.61 → 0.61 (0.62); opentelemetry-instrumentation-tower
//!   0.83 (0.96); axum-tracing-opentelemetry 0.86 (0.98).
//! - `ours_sampled` / `oit_tracing`: 1.25 (1.40).

use std::convert::Infallible;
use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Bencher, Criterion};
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

/// Times `iters` requests inside one `block_on`, so the runtime entry is not counted.
fn bench_router(b: &mut Bencher<'_>, rt: &tokio::runtime::Runtime, app: &Router) {
    b.iter_custom(|iters| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(one_request(app).await);
            }
            start.elapsed()
        })
    });
}

/// One case: the router, the subscriber it runs under (scoped to this thread), and the span
/// counter that must (or must not) move.
struct Case {
    name: &'static str,
    app: Router,
    dispatch: Option<Dispatch>,
    spans: Option<(Arc<AtomicUsize>, SdkTracerProvider, bool)>,
}

fn run_case(c: &mut Criterion, rt: &tokio::runtime::Runtime, case: Case) {
    let _guard = case.dispatch.as_ref().map(tracing::dispatcher::set_default);
    // One request outside the timer, also a smoke test of the stack.
    rt.block_on(one_request(&case.app));
    c.bench_function(case.name, |b| bench_router(b, rt, &case.app));
    if let Some((count, provider, expect_spans)) = &case.spans {
        let _ = provider.force_flush();
        let exported = count.load(Ordering::Relaxed);
        assert_eq!(
            exported > 0,
            *expect_spans,
            "{}: {exported} spans exported",
            case.name
        );
    }
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

fn http_layer(c: &mut Criterion) {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _rt_guard = rt.enter();

    let ours = || octollm_telemetry::http::layer();

    run_case(
        c,
        &rt,
        Case {
            name: "baseline",
            app: router(),
            dispatch: None,
            spans: None,
        },
    );

    run_case(
        c,
        &rt,
        Case {
            name: "tower_http_trace",
            app: router().layer(tower_http::trace::TraceLayer::new_for_http()),
            dispatch: Some(Dispatch::new(tracing_subscriber::registry())),
            spans: None,
        },
    );

    let (tp, count) = tracer_provider(1.0);
    run_case(
        c,
        &rt,
        Case {
            name: "ours_sampled",
            app: router().layer(
                ours()
                    .tracer_provider(&tp)
                    .without_metrics()
                    .access_log(false),
            ),
            dispatch: None,
            spans: Some((count, tp, true)),
        },
    );

    let (tp, count) = tracer_provider(0.0);
    run_case(
        c,
        &rt,
        Case {
            name: "ours_sampled_out",
            app: router().layer(
                ours()
                    .tracer_provider(&tp)
                    .without_metrics()
                    .access_log(false),
            ),
            dispatch: None,
            spans: Some((count, tp, false)),
        },
    );

    let (tp, count) = tracer_provider(1.0);
    let mp = meter_provider();
    run_case(
        c,
        &rt,
        Case {
            name: "ours_metrics",
            app: router().layer(
                ours()
                    .tracer_provider(&tp)
                    .meter_provider(&mp)
                    .access_log(false),
            ),
            dispatch: None,
            spans: Some((count, tp, true)),
        },
    );

    let (tp, count) = tracer_provider(1.0);
    let mp = meter_provider();
    let app = router().layer(ours().tracer_provider(&tp).meter_provider(&mp));
    let lines = access_log_lines(&rt, &app);
    assert!(
        lines.len() == 1 && lines[0].contains("\"trace_id\":"),
        "one access-log line with a trace id expected: {lines:?}"
    );
    run_case(
        c,
        &rt,
        Case {
            name: "ours_full",
            app,
            dispatch: Some(json_log_dispatch()),
            spans: Some((count, tp, true)),
        },
    );

    for (name, ratio) in [("ato_sampled", 1.0), ("ato_sampled_out", 0.0)] {
        let (tp, count) = tracer_provider(ratio);
        run_case(
            c,
            &rt,
            Case {
                name,
                app: router()
                    .layer(axum_tracing_opentelemetry::middleware::OtelInResponseLayer)
                    .layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default()),
                dispatch: Some(to_dispatch(&tp)),
                spans: Some((count, tp, ratio > 0.0)),
            },
        );
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
        run_case(
            c,
            &rt,
            Case {
                name,
                app: router().layer(layer),
                dispatch: None,
                spans: Some((count, tp, ratio > 0.0)),
            },
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1));
    targets = http_layer
}
criterion_main!(benches);
