//! An instrumented test app and in-memory pipelines for the HTTP layer tests.

use std::io;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use axum::routing::any;
use axum::Router;
use opentelemetry::{Key, Value};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};
use serde_json::Value as Json;
use tower::ServiceExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Span, metric and log capture for one test.
pub struct Pipelines {
    pub spans: InMemorySpanExporter,
    pub tracer_provider: SdkTracerProvider,
    pub meter_provider: SdkMeterProvider,
    pub registry: prometheus::Registry,
    pub logs: LogBuffer,
    /// This thread's subscriber, for the whole test: tests of one binary run in parallel, and a
    /// callsite first reached on a thread without any subscriber could cache "never" while
    /// another test captures logs.
    _subscriber: tracing::subscriber::DefaultGuard,
}

impl Pipelines {
    pub fn new(sampler: Sampler) -> Self {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_sampler(sampler)
            .with_simple_exporter(spans.clone())
            .build();
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .without_target_info()
            .build()
            .unwrap();
        let meter_provider = SdkMeterProvider::builder().with_reader(exporter).build();
        let logs = LogBuffer::default();
        let subscriber = capture_subscriber(&tracer_provider, &logs);
        Self {
            spans,
            tracer_provider,
            meter_provider,
            registry,
            logs,
            _subscriber: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn layer(&self) -> octollm_telemetry::http::OtelLayer {
        octollm_telemetry::http::layer()
            .tracer_provider(&self.tracer_provider)
            .meter_provider(&self.meter_provider)
    }

    /// A subscriber writing our JSON lines into `self.logs`; install with `set_default`.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        let writer = self.logs.clone();
        let otel = tracing_opentelemetry::layer().with_tracer(
            opentelemetry::trace::TracerProvider::tracer(&self.tracer_provider, "test"),
        );
        tracing_subscriber::registry().with(otel).with(
            tracing_subscriber::fmt::layer()
                .event_format(octollm_telemetry::logs::JsonFormat::new("test-service"))
                .with_writer(move || writer.clone()),
        )
    }

    pub fn finished_spans(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().unwrap()
    }

    /// The Prometheus text of the meter provider.
    pub fn metrics_text(&self) -> String {
        use prometheus::Encoder as _;
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }
}

fn capture_subscriber(
    tracer_provider: &SdkTracerProvider,
    logs: &LogBuffer,
) -> impl tracing::Subscriber + Send + Sync {
    let writer = logs.clone();
    let otel = tracing_opentelemetry::layer().with_tracer(
        opentelemetry::trace::TracerProvider::tracer(tracer_provider, "test"),
    );
    tracing_subscriber::registry().with(otel).with(
        tracing_subscriber::fmt::layer()
            .event_format(octollm_telemetry::logs::JsonFormat::new("test-service"))
            .with_writer(move || writer.clone()),
    )
}

/// A shared in-memory log sink.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    pub fn lines(&self) -> Vec<Json> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}"))
            })
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// Answers with the status asked for in `x-want-status` (`panic` panics), echoing the request
/// id the handler saw and writing one log line.
async fn handler(headers: HeaderMap) -> Response<Body> {
    let want = headers
        .get("x-want-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("200")
        .to_owned();
    tracing::info!(want = %want, "handler ran");
    if want == "panic" {
        panic!("handler asked to panic");
    }
    let status = StatusCode::from_u16(want.parse().unwrap_or(200)).unwrap_or(StatusCode::OK);
    let seen_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Response::builder()
        .status(status)
        .header("x-seen-request-id", seen_id)
        .body(Body::from("ok"))
        .unwrap()
}

/// Routes of every shape: literal, templated, nested, a probe, and a fallback.
pub fn app(layer: octollm_telemetry::http::OtelLayer) -> Router {
    let nested = Router::new().route("/users/{uid}/orders", any(handler));
    Router::new()
        .route("/literal", any(handler))
        .route("/items/{id}", any(handler))
        .route("/health", any(handler))
        .route("/metrics", any(handler))
        .nest("/api/v1", nested)
        .fallback(handler)
        .layer(layer)
}

/// Sends one request through `app` in-process and returns the response with its body.
pub async fn send(app: &Router, req: Request<Body>) -> (Response<Body>, String) {
    let response = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = http_body_util::BodyExt::collect(body)
        .await
        .unwrap()
        .to_bytes();
    (
        Response::from_parts(parts, Body::empty()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The attribute `key` of `span`.
pub fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::from(key.to_owned()))
        .map(|kv| &kv.value)
}

/// Sample value of the series `name{labels}` in Prometheus text, labels given as `k="v"`.
pub fn series_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
