//! [`Otel`]: what happens when a request arrives.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{Request, Response};
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::Context;
use tower_service::Service;

use super::future::{RequestState, ResponseFuture};
use super::settings::LayerSettings;
use crate::context::{RequestContext, RequestId};
use crate::http::headers;
use crate::http::semconv::{self, ServerRequest};

/// The service made by [`OtelLayer`](super::OtelLayer).
#[derive(Clone)]
pub struct Otel<S> {
    inner: S,
    settings: Arc<LayerSettings>,
}

impl<S> Otel<S> {
    pub(crate) fn new(inner: S, settings: Arc<LayerSettings>) -> Self {
        Self { inner, settings }
    }

    inner_service_accessors!();
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
        if !(self.settings.traced)(req.uri().path()) {
            return ResponseFuture::untraced(self.inner.call(req));
        }
        let start = Instant::now();
        let mut request = ServerRequest::read(&req, matched_route(&req));
        let parent = self.parent_context(req.headers());
        let request_id = headers::request_id(&mut req);
        let name = request.span_name.clone();
        let tracer = self.settings.tracer();
        let mut span = tracer
            .span_builder(name.clone())
            .with_kind(SpanKind::Server)
            .with_attributes(Vec::with_capacity(16))
            .start_with_context(&*tracer, &parent);
        let instruments = self.settings.instruments();
        let recording = span.is_recording();
        if recording || instruments.is_some() {
            request.resolve_scheme(&req);
        }
        if recording {
            let client = client_address(&req);
            span.set_attributes(semconv::server_span(
                &request,
                &req,
                client,
                // Visible ASCII only (checked or generated).
                request_id.to_str().unwrap_or_default(),
            ));
        }
        let cx = parent.with_span(span).with_value(RequestContext {
            id: RequestId(request_id.clone()),
            span_name: name,
        });
        if let Some(i) = &instruments {
            i.active.add(request.method, request.scheme, 1);
        }
        let inner = {
            let _attached = cx.clone().attach();
            self.inner.call(req)
        };
        ResponseFuture::traced(
            inner,
            RequestState {
                cx,
                start,
                request,
                request_id,
                instruments,
                response_header: self.settings.response_header,
                access_log: self.settings.access_log,
            },
        )
    }
}

impl<S> Otel<S> {
    /// The caller's context from the propagation headers, else the current one.
    fn parent_context(&self, headers: &http::HeaderMap) -> Context {
        if headers.contains_key(&headers::TRACEPARENT) || headers.contains_key(&headers::BAGGAGE) {
            self.settings
                .propagator()
                .extract(&headers::IncomingHeaders(headers))
        } else {
            Context::current()
        }
    }
}

#[cfg(feature = "axum")]
fn matched_route<B>(req: &Request<B>) -> Option<&str> {
    req.extensions()
        .get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

#[cfg(not(feature = "axum"))]
fn matched_route<B>(_req: &Request<B>) -> Option<&str> {
    None
}

fn client_address<B>(req: &Request<B>) -> Option<String> {
    if let Some(forwarded) = headers::forwarded_client(req.headers()) {
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
