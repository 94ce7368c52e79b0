//! The server layer: one span, the RED metrics and one access-log line per request.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response, StatusCode};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Level;

use super::attributes;
use super::instruments::Instruments;
use super::{HttpRequest, RequestId};
use crate::propagation::SharedPropagator;

/// The paths that never get a span or a metric series by default: Kubernetes probes and the
/// Prometheus scrape.
pub const DEFAULT_EXCLUDED_PATHS: &[&str] = &[
    "/health", "/healthz", "/ready", "/readyz", "/live", "/livez", "/metrics",
];

/// Which header carries the server span's trace context back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseTraceHeader {
    /// `traceparent: 00-<trace id>-<span id>-<flags>` (the default): any W3C-aware client or
    /// proxy can continue from it, and a person can paste the trace id into Jaeger.
    Traceparent,
    /// `x-trace-id: <trace id>` only.
    XTraceId,
    /// Nothing.
    None,
}

type PathFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A [`Layer`] that traces and measures every HTTP request: build it with
/// [`layer`](super::layer), adjust it with the methods below.
///
/// Spans and instruments come from the pipelines that
/// [`init_telemetry`](crate::init_telemetry) installed (whenever the first request arrives, so
/// the layer may be built before or after it) unless given explicitly.
#[derive(Clone)]
pub struct OtelLayer {
    shared: Arc<Shared>,
}

#[derive(Clone)]
struct Shared {
    traced: PathFilter,
    response_header: ResponseTraceHeader,
    access_log: Option<(Level, Level)>,
    tracer: Arc<OnceLock<opentelemetry_sdk::trace::SdkTracer>>,
    instruments: Arc<OnceLock<Option<Instruments>>>,
    propagator: Arc<OnceLock<SharedPropagator>>,
}

impl fmt::Debug for OtelLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelLayer")
            .field("response_header", &self.shared.response_header)
            .field("access_log", &self.shared.access_log)
            .finish_non_exhaustive()
    }
}

impl Default for OtelLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl OtelLayer {
    /// The layer with its defaults: see each method.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                traced: Arc::new(|path| !DEFAULT_EXCLUDED_PATHS.contains(&path)),
                response_header: ResponseTraceHeader::Traceparent,
                access_log: Some((Level::INFO, Level::ERROR)),
                tracer: Arc::new(OnceLock::new()),
                instruments: Arc::new(OnceLock::new()),
                propagator: Arc::new(OnceLock::new()),
            }),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        f(Arc::make_mut(&mut self.shared));
        self
    }

    /// Which requests are traced and measured, by path: `true` traces. Defaults to every path
    /// but [`DEFAULT_EXCLUDED_PATHS`].
    pub fn filter(self, traced: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.with(|s| s.traced = Arc::new(traced))
    }

    /// The header that returns the trace context to the client. Defaults to
    /// [`ResponseTraceHeader::Traceparent`].
    pub fn response_trace_header(self, header: ResponseTraceHeader) -> Self {
        self.with(|s| s.response_header = header)
    }

    /// The levels of the access-log line: `success` below 500, `server_error` from 500.
    /// Defaults to `INFO` and `ERROR`.
    pub fn access_log_levels(self, success: Level, server_error: Level) -> Self {
        self.with(|s| s.access_log = Some((success, server_error)))
    }

    /// Turns the access-log line off (or on again with the default levels). Defaults to on.
    pub fn access_log(self, enabled: bool) -> Self {
        self.with(|s| s.access_log = enabled.then_some((Level::INFO, Level::ERROR)))
    }

    /// Spans from this provider instead of the one `init_telemetry` installed.
    pub fn tracer_provider(self, provider: &opentelemetry_sdk::trace::SdkTracerProvider) -> Self {
        let tracer = super::scoped_tracer(provider);
        self.with(|s| s.tracer = Arc::new(OnceLock::from(tracer)))
    }

    /// Metrics from this provider instead of the one `init_telemetry` installed.
    pub fn meter_provider(self, provider: &opentelemetry_sdk::metrics::SdkMeterProvider) -> Self {
        let instruments = Instruments::server(provider);
        self.with(|s| s.instruments = Arc::new(OnceLock::from(Some(instruments))))
    }

    /// No metrics from this layer.
    pub fn without_metrics(self) -> Self {
        self.with(|s| s.instruments = Arc::new(OnceLock::from(None)))
    }
}

impl<S> Layer<S> for OtelLayer {
    type Service = Otel<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Otel {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service made by [`OtelLayer`].
#[derive(Clone)]
pub struct Otel<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for Otel<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Otel")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Otel<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        if !(self.shared.traced)(req.uri().path()) {
            return ResponseFuture {
                inner: self.inner.call(req),
                state: None,
            };
        }
        let start = Instant::now();
        let shared = &self.shared;
        let (method, method_original) = attributes::method(req.method());
        let method_original = method_original.map(str::to_owned);
        let route = matched_route(&req);
        let scheme = attributes::scheme(req.uri().scheme_str(), req.headers());
        let version = attributes::protocol_version(req.version());

        let mut propagator_slot = None;
        let propagator = super::from_init(
            &shared.propagator,
            &mut propagator_slot,
            crate::propagation::installed,
            crate::propagation::default,
        );
        let headers = req.headers();
        let parent = if headers.contains_key(&attributes::TRACEPARENT)
            || headers.contains_key(&attributes::BAGGAGE)
        {
            propagator.extract(&IncomingHeaders(headers))
        } else {
            Context::current()
        };
        let mut tracer_slot = None;
        let tracer = super::from_init(
            &shared.tracer,
            &mut tracer_slot,
            super::installed_tracer,
            super::noop_tracer,
        );
        let name: std::borrow::Cow<'static, str> = match &route {
            Some(route) => {
                let mut name = String::with_capacity(method.len() + 1 + route.len());
                name.push_str(method);
                name.push(' ');
                name.push_str(route);
                name.into()
            }
            None => method.into(),
        };
        let span = tracer
            .span_builder(name.clone())
            .with_kind(SpanKind::Server)
            .with_attributes(Vec::with_capacity(16))
            .start_with_context(tracer, &parent);

        let request_id = match req.headers().get(&attributes::X_REQUEST_ID) {
            Some(v) if attributes::valid_request_id(v.as_bytes()) => v.clone(),
            _ => {
                let mut buf = uuid::Uuid::encode_buffer();
                let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
                let generated = HeaderValue::from_str(id)
                    .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
                req.headers_mut()
                    .insert(attributes::X_REQUEST_ID.clone(), generated.clone());
                generated
            }
        };
        // Visible ASCII only (checked or generated above).
        let request_id_text: Arc<str> = Arc::from(request_id.to_str().unwrap_or_default());
        let mut span = span;
        if opentelemetry::trace::Span::is_recording(&span) {
            use opentelemetry::trace::Span as _;
            let mut attrs = Vec::with_capacity(14);
            attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method));
            if let Some(original) = method_original {
                attrs.push(KeyValue::new(
                    semconv::HTTP_REQUEST_METHOD_ORIGINAL,
                    original,
                ));
            }
            if let Some(route) = &route {
                attrs.push(KeyValue::new(
                    semconv::HTTP_ROUTE,
                    StringValue::from(Arc::clone(route)),
                ));
            }
            attrs.push(KeyValue::new(
                semconv::URL_PATH,
                attributes::truncate(req.uri().path(), attributes::MAX_ATTRIBUTE_LEN).to_owned(),
            ));
            attrs.push(KeyValue::new(semconv::URL_SCHEME, scheme));
            if let Some(query) = req.uri().query().and_then(attributes::redact_query) {
                attrs.push(KeyValue::new(semconv::URL_QUERY, query));
            }
            if let Some((host, port)) = attributes::server(req.uri(), req.headers()) {
                attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, host.to_owned()));
                if let Some(port) = port {
                    attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
                }
            }
            if let Some(version) = version {
                attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
            }
            if let Some(ua) = req
                .headers()
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
            {
                attrs.push(KeyValue::new(
                    semconv::USER_AGENT_ORIGINAL,
                    attributes::truncate(ua, attributes::MAX_ATTRIBUTE_LEN).to_owned(),
                ));
            }
            if let Some(client) = client_address(&req) {
                attrs.push(KeyValue::new(semconv::CLIENT_ADDRESS, client));
            }
            attrs.push(KeyValue::new(
                "http.request.header.x-request-id",
                StringValue::from(Arc::clone(&request_id_text)),
            ));
            span.set_attributes(attrs);
        }
        let cx = parent.with_span(span).with_value(HttpRequest {
            id: RequestId(request_id_text),
            span_name: name,
        });

        let instruments = super::from_init(
            &shared.instruments,
            &mut None,
            || super::installed_meter().map(|m| Some(Instruments::installed(&m))),
            || None,
        )
        .clone();
        if let Some(i) = &instruments {
            i.active.add(method, scheme, 1);
        }
        let inner = {
            let _attached = cx.clone().attach();
            self.inner.call(req)
        };
        ResponseFuture {
            inner,
            state: Some(RequestState {
                cx,
                start,
                method,
                route,
                scheme,
                version,
                request_id,
                instruments,
                response_header: shared.response_header,
                access_log: shared.access_log,
            }),
        }
    }
}

#[cfg(feature = "axum")]
fn matched_route<B>(req: &Request<B>) -> Option<Arc<str>> {
    req.extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| Arc::from(p.as_str()))
}

#[cfg(not(feature = "axum"))]
fn matched_route<B>(_req: &Request<B>) -> Option<Arc<str>> {
    None
}

fn client_address<B>(req: &Request<B>) -> Option<String> {
    if let Some(forwarded) = attributes::forwarded_client(req.headers()) {
        return Some(forwarded.to_owned());
    }
    #[cfg(feature = "axum")]
    if let Some(info) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(info.0.ip().to_string());
    }
    None
}

/// The request headers as the propagators see them: a malformed `traceparent` (and with it
/// `tracestate`) is hidden, so the request starts a new trace instead of reusing a bad id.
struct IncomingHeaders<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for IncomingHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = match key {
            "traceparent" | "tracestate" => {
                let traceparent = self.0.get(&attributes::TRACEPARENT)?;
                if !attributes::valid_traceparent(traceparent.as_bytes()) {
                    return None;
                }
                if key == "traceparent" {
                    traceparent
                } else {
                    self.0.get(&attributes::TRACESTATE)?
                }
            }
            "baggage" => self.0.get(&attributes::BAGGAGE)?,
            other => self.0.get(other)?,
        };
        value.to_str().ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct RequestState {
    cx: Context,
    start: Instant,
    method: &'static str,
    route: Option<Arc<str>>,
    scheme: &'static str,
    version: Option<&'static str>,
    request_id: HeaderValue,
    instruments: Option<Instruments>,
    response_header: ResponseTraceHeader,
    access_log: Option<(Level, Level)>,
}

pin_project_lite::pin_project! {
    /// The response future of [`Otel`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<RequestState>,
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: fmt::Display,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(state) = this.state.as_ref() else {
            // Not traced: only turn a panic into a 500.
            return match catch_unwind(AssertUnwindSafe(|| this.inner.poll(task))) {
                Ok(poll) => poll,
                Err(_) => Poll::Ready(Ok(internal_error())),
            };
        };
        let _attached = state.cx.clone().attach();
        let outcome = match catch_unwind(AssertUnwindSafe(|| this.inner.poll(task))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result.map_err(Failure::Service),
            Err(payload) => Err(Failure::Panic(panic_message(&payload))),
        };
        let Some(state) = this.state.take() else {
            return Poll::Pending;
        };
        Poll::Ready(state.finish(outcome))
    }
}

enum Failure<E> {
    Service(E),
    Panic(String),
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

fn internal_error<B: Default>() -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

impl RequestState {
    fn finish<B: Default, E: fmt::Display>(
        self,
        outcome: Result<Response<B>, Failure<E>>,
    ) -> Result<Response<B>, E> {
        let duration = self.start.elapsed();
        let span = self.cx.span();
        let (result, status, error_type): (
            Result<Response<B>, E>,
            Option<StatusCode>,
            Option<String>,
        ) = match outcome {
            Ok(response) => {
                let status = response.status();
                let error = status
                    .is_server_error()
                    .then(|| status.as_u16().to_string());
                (Ok(response), Some(status), error)
            }
            Err(Failure::Panic(message)) => {
                span.add_event(
                    "exception",
                    vec![
                        KeyValue::new(semconv::EXCEPTION_TYPE, "panic"),
                        KeyValue::new(semconv::EXCEPTION_MESSAGE, message.clone()),
                    ],
                );
                tracing::error!(
                    target: "octollm_telemetry::http",
                    panic = %message,
                    "request handler panicked; answered 500"
                );
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                (Ok(internal_error()), Some(status), Some("500".to_owned()))
            }
            Err(Failure::Service(e)) => {
                span.set_status(Status::error(e.to_string()));
                let kind = short_type_name::<E>();
                (Err(e), None, Some(kind.to_owned()))
            }
        };
        if let Some(status) = status {
            span.set_attribute(KeyValue::new(
                semconv::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status.as_u16()),
            ));
            if status.is_server_error() {
                span.set_status(Status::error(""));
            }
        }
        if let Some(error) = &error_type {
            span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error.clone()));
        }
        span.end();

        if let Some(instruments) = &self.instruments {
            let mut attrs = Vec::with_capacity(6);
            attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, self.method));
            if let Some(route) = &self.route {
                attrs.push(KeyValue::new(
                    semconv::HTTP_ROUTE,
                    StringValue::from(Arc::clone(route)),
                ));
            }
            if let Some(status) = status {
                attrs.push(KeyValue::new(
                    semconv::HTTP_RESPONSE_STATUS_CODE,
                    i64::from(status.as_u16()),
                ));
            }
            attrs.push(KeyValue::new(semconv::URL_SCHEME, self.scheme));
            if let Some(error) = error_type {
                attrs.push(KeyValue::new(semconv::ERROR_TYPE, error));
            }
            if let Some(version) = self.version {
                attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
            }
            instruments.duration.record(duration.as_secs_f64(), &attrs);
            instruments.active.add(self.method, self.scheme, -1);
        }

        if let Some((success, server_error)) = self.access_log {
            let code = status.map(|s| s.as_u16());
            let level = if code.is_none_or(|c| c >= 500) {
                server_error
            } else {
                success
            };
            access_log(
                level,
                self.method,
                self.route.as_deref(),
                code,
                duration.as_secs_f64() * 1000.0,
            );
        }

        let mut result = result;
        if let Ok(response) = &mut result {
            let response_header = self.response_header;
            let headers = response.headers_mut();
            headers.insert(attributes::X_REQUEST_ID.clone(), self.request_id);
            let sc = span.span_context();
            match response_header {
                ResponseTraceHeader::Traceparent if sc.is_valid() => {
                    headers.insert(attributes::TRACEPARENT.clone(), super::traceparent(sc));
                }
                ResponseTraceHeader::XTraceId if sc.is_valid() => {
                    if let Ok(v) = HeaderValue::from_str(&sc.trace_id().to_string()) {
                        headers.insert("x-trace-id", v);
                    }
                }
                _ => {}
            }
        }
        result
    }
}

/// The last path segment of a type name (`hyper::Error` → `Error` is too vague, so keep the
/// full path but drop generic parameters).
fn short_type_name<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.split('<').next().unwrap_or(name)
}

/// One line per request; the trace id and request id come from the attached context.
fn access_log(
    level: Level,
    method: &str,
    route: Option<&str>,
    status: Option<u16>,
    duration_ms: f64,
) {
    macro_rules! line {
        ($lvl:expr) => {
            tracing::event!(
                target: "octollm_telemetry::http",
                $lvl,
                http.request.method = method,
                http.route = route,
                http.response.status_code = status,
                duration_ms,
                "request completed"
            )
        };
    }
    match level {
        Level::ERROR => line!(Level::ERROR),
        Level::WARN => line!(Level::WARN),
        Level::INFO => line!(Level::INFO),
        Level::DEBUG => line!(Level::DEBUG),
        _ => line!(Level::TRACE),
    }
}
