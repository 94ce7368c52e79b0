//! The client layer: a client span per outgoing request, `http.client.request.duration`, and
//! the trace context injected into the request headers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::metrics::{Histogram, MeterProvider as _};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use tower_layer::Layer;
use tower_service::Service;

use super::semconv::{self, ClientRequest};
use crate::installed::{self, FromInit};
use crate::propagation::SharedPropagator;

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
#[must_use]
pub fn client_layer() -> OtelClientLayer {
    OtelClientLayer::default()
}

/// A [`Layer`] for outgoing HTTP requests; see [`client_layer`].
///
/// Like the server layer, it follows what `init_telemetry` installed unless given explicit
/// providers or a propagator.
#[derive(Clone)]
pub struct OtelClientLayer {
    tracer: FromInit<SdkTracer>,
    duration: FromInit<Option<Histogram<f64>>>,
    propagator: FromInit<SharedPropagator>,
    forward_request_id: bool,
}

impl Default for OtelClientLayer {
    fn default() -> Self {
        Self {
            tracer: FromInit::pending(),
            duration: FromInit::pending(),
            propagator: FromInit::pending(),
            forward_request_id: true,
        }
    }
}

impl fmt::Debug for OtelClientLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelClientLayer").finish_non_exhaustive()
    }
}

impl OtelClientLayer {
    /// Spans from this provider instead of the one `init_telemetry` installed.
    #[must_use]
    pub fn tracer_provider(
        mut self,
        provider: &opentelemetry_sdk::trace::SdkTracerProvider,
    ) -> Self {
        self.tracer = FromInit::given(installed::scoped_tracer(provider));
        self
    }

    /// Metrics from this provider instead of the one `init_telemetry` installed.
    #[must_use]
    pub fn meter_provider(
        mut self,
        provider: &opentelemetry_sdk::metrics::SdkMeterProvider,
    ) -> Self {
        let meter = provider.meter(crate::shared::SCOPE);
        self.duration = FromInit::given(Some(super::instruments::client_duration(&meter)));
        self
    }

    /// Trace context written with this propagator instead of the one `init_telemetry`
    /// installed.
    #[must_use]
    pub fn propagator(
        mut self,
        propagator: impl Into<Arc<dyn TextMapPropagator + Send + Sync>>,
    ) -> Self {
        self.propagator = FromInit::given(propagator.into());
        self
    }

    /// Whether an outgoing request carries the `x-request-id` of the request being handled
    /// (unless it has one already), so that one id follows the call chain through every
    /// service's logs. Defaults to `true`.
    #[must_use]
    pub fn forward_request_id(mut self, forward: bool) -> Self {
        self.forward_request_id = forward;
        self
    }
}

impl<S> Layer<S> for OtelClientLayer {
    type Service = OtelClient<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OtelClient {
            inner,
            layer: self.clone(),
        }
    }
}

/// The client service made by [`OtelClientLayer`].
#[derive(Clone)]
pub struct OtelClient<S> {
    inner: S,
    layer: OtelClientLayer,
}

impl<S> OtelClient<S> {
    inner_service_accessors!();
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
        let request = ClientRequest::read(&req);
        let tracer = self
            .layer
            .tracer
            .get(installed::tracer, installed::noop_tracer);
        let parent = Context::current();
        let mut span = tracer
            .span_builder(request.method)
            .with_kind(SpanKind::Client)
            .start_with_context(&*tracer, &parent);
        if span.is_recording() {
            span.set_attributes(semconv::client_span(&request, &req));
        }
        let cx = parent.with_span(span);
        let propagator = self
            .layer
            .propagator
            .get(installed::installed_propagator, installed::propagator);
        crate::propagation::inject(&**propagator, &cx, req.headers_mut());
        if self.layer.forward_request_id {
            crate::context::forward_request_id(&cx, req.headers_mut());
        }
        let duration = self
            .layer
            .duration
            .get(
                || installed::meter().map(|m| Some(super::instruments::client_duration(&m))),
                || None,
            )
            .into_owned();
        ClientResponseFuture {
            inner: self.inner.call(req),
            state: Some(ClientState {
                cx,
                start,
                labels: semconv::client_duration(request),
                duration,
            }),
        }
    }
}

struct ClientState {
    cx: Context,
    start: Instant,
    /// The duration's labels known before the response.
    labels: Vec<KeyValue>,
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
    fn finish<B, E: fmt::Display>(mut self, result: &Result<Response<B>, E>) {
        let span = self.cx.span();
        let error = match result {
            Ok(response) => {
                let status = response.status();
                let code = semconv::status_code(status);
                span.set_attribute(code.clone());
                self.labels.push(code);
                // Client side: 4xx and 5xx are errors.
                (status.is_client_error() || status.is_server_error()).then(|| {
                    span.set_status(Status::error(""));
                    semconv::error(status.as_u16().to_string())
                })
            }
            Err(e) => {
                span.set_status(Status::error(e.to_string()));
                Some(semconv::error(semconv::error_type::<E>()))
            }
        };
        if let Some(error) = error {
            span.set_attribute(error.clone());
            self.labels.push(error);
        }
        span.end();
        if let Some(duration) = self.duration {
            duration.record(self.start.elapsed().as_secs_f64(), &self.labels);
        }
    }
}
