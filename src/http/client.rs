//! The client layer: a client span per outgoing request, `http.client.request.duration`, and
//! the trace context injected into the request headers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use tower_layer::Layer;
use tower_service::Service;

use super::attributes;

/// The client layer with its defaults: wrap an HTTP client service with it.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower::{Layer as _, Service as _, ServiceExt as _};
///
/// let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
///     .build_http::<http_body_util::Empty<bytes::Bytes>>();
/// let mut client = octollm_telemetry::http::client_layer().layer(client);
/// let request = http::Request::get("http://127.0.0.1:8080/items/1")
///     .body(http_body_util::Empty::new())?;
/// let response = client.ready().await?.call(request).await?;
/// # Ok(()) }
/// ```
pub fn client_layer() -> ClientLayer {
    ClientLayer::default()
}

/// A [`Layer`] for outgoing HTTP requests; see [`client_layer`].
#[derive(Clone, Default)]
pub struct ClientLayer {
    tracer: Arc<OnceLock<opentelemetry_sdk::trace::SdkTracer>>,
    duration: Arc<OnceLock<Option<Histogram<f64>>>>,
}

impl fmt::Debug for ClientLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLayer").finish_non_exhaustive()
    }
}

impl ClientLayer {
    /// Spans from this provider instead of the one `init_telemetry` installed.
    pub fn tracer_provider(
        mut self,
        provider: &opentelemetry_sdk::trace::SdkTracerProvider,
    ) -> Self {
        self.tracer = Arc::new(OnceLock::from(super::scoped_tracer(provider)));
        self
    }

    /// Metrics from this provider instead of the one `init_telemetry` installed.
    pub fn meter_provider(
        mut self,
        provider: &opentelemetry_sdk::metrics::SdkMeterProvider,
    ) -> Self {
        use opentelemetry::metrics::MeterProvider as _;
        let meter = provider.meter(crate::metrics::SCOPE);
        self.duration = Arc::new(OnceLock::from(Some(super::instruments::client_duration(
            &meter,
        ))));
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = OtelClient<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OtelClient {
            inner,
            layer: self.clone(),
        }
    }
}

/// The client service made by [`ClientLayer`].
#[derive(Clone)]
pub struct OtelClient<S> {
    inner: S,
    layer: ClientLayer,
}

impl<S: fmt::Debug> fmt::Debug for OtelClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelClient")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for OtelClient<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: fmt::Display,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ClientResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let (method, original) = attributes::method(req.method());
        let mut tracer_slot = None;
        let tracer = super::from_init(
            &self.layer.tracer,
            &mut tracer_slot,
            super::installed_tracer,
            super::noop_tracer,
        );
        let parent = Context::current();
        let mut span = tracer
            .span_builder(method)
            .with_kind(SpanKind::Client)
            .start_with_context(tracer, &parent);
        let server = req.uri().host().map(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']').to_owned();
            let port = req.uri().port_u16().or(match req.uri().scheme_str() {
                Some("https") => Some(443),
                Some("http") => Some(80),
                _ => None,
            });
            (h, port)
        });
        let scheme = match req.uri().scheme_str() {
            Some("https") => "https",
            _ => "http",
        };
        if span.is_recording() {
            let mut attrs = Vec::with_capacity(8);
            attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, method));
            if let Some(original) = original {
                attrs.push(KeyValue::new(
                    semconv::HTTP_REQUEST_METHOD_ORIGINAL,
                    original.to_owned(),
                ));
            }
            if let Some((host, port)) = &server {
                attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, host.clone()));
                if let Some(port) = port {
                    attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(*port)));
                }
            }
            attrs.push(KeyValue::new(semconv::URL_FULL, redacted_url(req.uri())));
            if let Some(version) = attributes::protocol_version(req.version()) {
                attrs.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
            }
            span.set_attributes(attrs);
        }
        let cx = parent.with_span(span);
        super::inject_context_from(&cx, req.headers_mut());
        let duration = super::from_init(
            &self.layer.duration,
            &mut None,
            || super::installed_meter().map(|m| Some(super::instruments::client_duration(&m))),
            || None,
        )
        .clone();
        ClientResponseFuture {
            inner: self.inner.call(req),
            state: Some(ClientState {
                cx,
                start,
                method,
                server,
                scheme,
                duration,
            }),
        }
    }
}

/// `url.full` with sensitive query values redacted and no user info.
fn redacted_url(uri: &http::Uri) -> String {
    let mut out = String::new();
    if let Some(scheme) = uri.scheme_str() {
        out.push_str(scheme);
        out.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        let host_port = authority.as_str().rsplit('@').next().unwrap_or_default();
        out.push_str(host_port);
    }
    out.push_str(uri.path());
    if let Some(query) = uri.query().and_then(attributes::redact_query) {
        out.push('?');
        out.push_str(&query);
    }
    out
}

struct ClientState {
    cx: Context,
    start: Instant,
    method: &'static str,
    server: Option<(String, Option<u16>)>,
    scheme: &'static str,
    duration: Option<Histogram<f64>>,
}

pin_project_lite::pin_project! {
    /// The response future of [`OtelClient`].
    pub struct ClientResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<ClientState>,
    }
}

impl<F> fmt::Debug for ClientResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponseFuture")
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ClientResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: fmt::Display,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _attached = this.state.as_ref().map(|s| s.cx.clone().attach());
            match this.inner.poll(task) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            }
        };
        if let Some(state) = this.state.take() {
            state.finish(&result);
        }
        Poll::Ready(result)
    }
}

impl ClientState {
    fn finish<B, E: fmt::Display>(self, result: &Result<Response<B>, E>) {
        let span = self.cx.span();
        let mut attrs = Vec::with_capacity(6);
        attrs.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, self.method));
        attrs.push(KeyValue::new(semconv::URL_SCHEME, self.scheme));
        if let Some((host, port)) = self.server {
            attrs.push(KeyValue::new(semconv::SERVER_ADDRESS, host));
            if let Some(port) = port {
                attrs.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
        }
        match result {
            Ok(response) => {
                let status = response.status();
                let code = KeyValue::new(
                    semconv::HTTP_RESPONSE_STATUS_CODE,
                    i64::from(status.as_u16()),
                );
                span.set_attribute(code.clone());
                attrs.push(code);
                // Client side: 4xx and 5xx are errors.
                if status.is_client_error() || status.is_server_error() {
                    let error = KeyValue::new(semconv::ERROR_TYPE, status.as_u16().to_string());
                    span.set_attribute(error.clone());
                    span.set_status(Status::error(""));
                    attrs.push(error);
                }
            }
            Err(e) => {
                let kind = std::any::type_name::<E>();
                let kind = kind.split('<').next().unwrap_or(kind);
                let error = KeyValue::new(semconv::ERROR_TYPE, kind);
                span.set_attribute(error.clone());
                span.set_status(Status::error(e.to_string()));
                attrs.push(error);
            }
        }
        span.end();
        if let Some(duration) = self.duration {
            duration.record(self.start.elapsed().as_secs_f64(), &attrs);
        }
    }
}
