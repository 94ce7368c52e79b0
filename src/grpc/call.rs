//! One call in flight: its span and clock, ended once with the status gRPC gave (in the
//! response headers, or in the trailers at the end of the body), or as `CANCELLED` when what
//! holds it is dropped first.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::metrics::Histogram;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;

use crate::grpc::names::{
    self, CANCELLED, CODES, DEADLINE_EXCEEDED, UNAVAILABLE, UNIMPLEMENTED, UNKNOWN,
};
use crate::grpc::settings::Settings;
use crate::http::headers::IncomingHeaders;
use crate::propagation::SharedPropagator;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

/// A call whose status is not known yet.
pub(crate) struct Call {
    cx: Context,
    start: Instant,
    side: Side,
    method: String,
    original: Option<String>,
    /// Whether `method` was given by a known-method list (a made-up method is reported as
    /// `_OTHER` only when the server answers `UNIMPLEMENTED` without a list).
    listed: bool,
    server: Option<(String, u16)>,
    duration: Option<Histogram<f64>>,
    exemplars: Option<crate::metrics::Exemplars>,
    /// The client's deadline (`grpc-timeout`): a call that fails at or after it has
    /// `DEADLINE_EXCEEDED`, whatever error the transport gave.
    deadline: Option<Duration>,
    done: bool,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// The span's name: the method, or `grpc` for one reported as `_OTHER`.
    fn span_name(&self) -> String {
        if self.original.is_some() {
            names::OTHER_SPAN_NAME.to_owned()
        } else {
            self.method.clone()
        }
    }

    /// Ends the call with status `code` (at most once).
    fn finish(&mut self, code: usize) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let seconds = self.start.elapsed().as_secs_f64();
        let name = CODES.get(code).copied().unwrap_or(CODES[UNKNOWN]);
        let span = self.cx.span();
        if self.side == Side::Server {
            if code == UNIMPLEMENTED && !self.listed && self.original.is_none() {
                // A method the server does not have: `_OTHER`, so that made-up paths add no
                // series.
                self.original = Some(std::mem::replace(&mut self.method, names::OTHER.to_owned()));
                span.update_name(names::OTHER_SPAN_NAME);
            }
            // Set at the end on the server, where the answer can make it `_OTHER`.
            span.set_attribute(KeyValue::new(names::METHOD, self.method.clone()));
            if let Some(original) = &self.original {
                span.set_attribute(KeyValue::new(names::METHOD_ORIGINAL, original.clone()));
            }
        }
        let failed = code != 0;
        span.set_attribute(KeyValue::new(names::STATUS_CODE, name));
        if failed {
            span.set_attribute(KeyValue::new(names::ERROR_TYPE, name));
        }
        let error_status = match self.side {
            Side::Client => failed,
            Side::Server => names::SERVER_FAULTS.contains(&name),
        };
        if error_status {
            span.set_status(Status::error(name));
        }
        if let Some(duration) = &self.duration {
            let mut attributes = vec![
                KeyValue::new(names::SYSTEM_NAME, names::SYSTEM),
                KeyValue::new(names::METHOD, self.method.clone()),
                KeyValue::new(names::STATUS_CODE, name),
            ];
            if failed {
                attributes.push(KeyValue::new(names::ERROR_TYPE, name));
            }
            if let (Side::Client, Some((address, port))) = (self.side, &self.server) {
                attributes.push(KeyValue::new(names::SERVER_ADDRESS, address.clone()));
                attributes.push(KeyValue::new(names::SERVER_PORT, i64::from(*port)));
            }
            duration.record(seconds, &attributes);
            if let Some(store) = &self.exemplars {
                // The RPC buckets are the HTTP ones.
                store.record_in(
                    crate::metrics::DURATION_BUCKETS,
                    &attributes,
                    seconds,
                    span.span_context(),
                );
            }
        }
        span.end();
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(CANCELLED);
    }
}

/// The status code in `grpc-status`, if the headers carry one; an unreadable value is
/// `UNKNOWN`.
fn status_of(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get("grpc-status")?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|code| *code < CODES.len())
            .unwrap_or(UNKNOWN),
    )
}

/// `server.address` and `server.port` of a request URI with a host (the port defaults to the
/// scheme's).
fn uri_server(uri: &http::Uri) -> Option<(String, u16)> {
    let host = uri.host()?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            443
        } else {
            80
        });
    Some((host.trim_matches(['[', ']']).to_owned(), port))
}

/// A `grpc-timeout` value (`<digits><unit>`, unit one of `H M S m u n`).
pub(super) fn grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The tower service of the server layer.
#[derive(Clone)]
pub struct ServerService<S> {
    inner: S,
    settings: Settings,
    duration: Option<Histogram<f64>>,
}

impl<S> std::fmt::Debug for ServerService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerService").finish_non_exhaustive()
    }
}

impl<S> ServerService<S> {
    pub(super) fn new(inner: S, settings: &Settings) -> Self {
        Self {
            inner,
            duration: settings.duration(
                names::SERVER_DURATION,
                "Measures the duration of inbound remote procedure calls (RPC).",
            ),
            settings: settings.clone(),
        }
    }

    fn start<B>(&self, req: &mut Request<B>) -> Option<Call> {
        let path = req.uri().path();
        if path.starts_with(names::HEALTH_PREFIX) {
            return None;
        }
        let (method, original) = self.settings.method(path)?;
        let headers = req.headers();
        let parent = if headers.contains_key("traceparent") || headers.contains_key("baggage") {
            self.settings
                .propagator()
                .extract(&IncomingHeaders(headers))
        } else {
            Context::current()
        };
        let request_id = crate::http::headers::request_id(req);
        // The address the caller used (HTTP/2's `:authority`), on the span only.
        let server = uri_server(req.uri());
        let mut call = start_call(
            &self.settings,
            (Side::Server, self.duration.clone()),
            (method, original),
            server,
            &parent,
            req.headers(),
        );
        // The request id and span name of the log lines written while the call is handled,
        // as the HTTP layer keeps them.
        let span_name = call.span_name();
        call.cx = call.cx.with_value(crate::context::RequestContext {
            id: crate::context::RequestId(request_id.clone()),
            span_name: span_name.into(),
        });
        req.extensions_mut().insert(call.cx.clone());
        Some(call)
    }
}

fn start_call(
    settings: &Settings,
    (side, duration): (Side, Option<Histogram<f64>>),
    (method, original): (String, Option<String>),
    server: Option<(String, u16)>,
    parent: &Context,
    headers: &http::HeaderMap,
) -> Call {
    let tracer = settings.tracer();
    let mut attributes = vec![KeyValue::new(names::SYSTEM_NAME, names::SYSTEM)];
    if side == Side::Client {
        attributes.push(KeyValue::new(names::METHOD, method.clone()));
        if let Some(original) = &original {
            attributes.push(KeyValue::new(names::METHOD_ORIGINAL, original.clone()));
        }
    }
    let name = if original.is_some() {
        names::OTHER_SPAN_NAME.to_owned()
    } else {
        method.clone()
    };
    if let Some((address, port)) = &server {
        attributes.push(KeyValue::new(names::SERVER_ADDRESS, address.clone()));
        attributes.push(KeyValue::new(names::SERVER_PORT, i64::from(*port)));
    }
    // The allowed request metadata, at the span's creation on both sides.
    attributes.extend(settings.metadata_attributes(headers));
    let kind = match side {
        Side::Server => SpanKind::Server,
        Side::Client => SpanKind::Client,
    };
    let span = tracer.build_with_context(
        tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes),
        parent,
    );
    Call {
        cx: parent.with_span(span),
        start: Instant::now(),
        side,
        listed: settings.known.is_some(),
        method,
        original,
        server,
        duration,
        deadline: None,
        exemplars: settings.exemplars(),
        done: false,
    }
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for ServerService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let call = self.start(&mut req);
        let inner = {
            let _attached = call.as_ref().map(|c| c.cx.clone().attach());
            self.inner.call(req)
        };
        ResponseFuture { inner, call }
    }
}

/// The tower service of the client layer.
#[derive(Clone)]
pub struct ClientService<S> {
    inner: S,
    settings: Settings,
    duration: Option<Histogram<f64>>,
    server: Option<(String, u16)>,
    propagator: SharedPropagator,
}

impl<S> std::fmt::Debug for ClientService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientService").finish_non_exhaustive()
    }
}

impl<S> ClientService<S> {
    pub(super) fn new(inner: S, settings: &Settings, server: Option<(String, u16)>) -> Self {
        Self {
            inner,
            duration: settings.duration(
                names::CLIENT_DURATION,
                "Measures the duration of outbound remote procedure calls (RPC).",
            ),
            propagator: settings.propagator(),
            settings: settings.clone(),
            server,
        }
    }

    fn start<B>(&self, req: &mut Request<B>) -> Option<Call> {
        let (method, original) = self.settings.method(req.uri().path())?;
        let server = uri_server(req.uri()).or_else(|| self.server.clone());
        let parent = crate::context::parent();
        let call = start_call(
            &self.settings,
            (Side::Client, self.duration.clone()),
            (method, original),
            server,
            &parent,
            req.headers(),
        );
        crate::propagation::inject(&*self.propagator, &call.cx, req.headers_mut());
        crate::context::forward_request_id(&parent, req.headers_mut());
        let mut call = call;
        call.deadline = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| grpc_timeout(v.to_str().ok()?));
        Some(call)
    }
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for ClientService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<TracedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let call = self.start(&mut req);
        ResponseFuture {
            inner: self.inner.call(req),
            call,
        }
    }
}

pin_project! {
    /// The response future of both layers: the call ends here when the status is in the
    /// headers (or the call failed), else in the body.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<TracedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _attached = this.call.as_ref().map(|c| c.cx.clone().attach());
            ready!(this.inner.poll(cx))
        };
        let mut call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                if let (Some(code), Some(c)) = (status_of(&parts.headers), call.as_mut()) {
                    // Trailers-only: the status came with the headers, the body is empty.
                    c.finish(code);
                    call = None;
                }
                Ok(Response::from_parts(
                    parts,
                    TracedBody { inner: body, call },
                ))
            }
            Err(e) => {
                if let Some(c) = call.as_mut() {
                    let past_deadline = c.deadline.is_some_and(|d| c.start.elapsed() >= d);
                    c.finish(match c.side {
                        Side::Client if past_deadline => DEADLINE_EXCEEDED,
                        Side::Client => UNAVAILABLE,
                        Side::Server => UNKNOWN,
                    });
                }
                Err(e)
            }
        })
    }
}

pin_project! {
    /// A response body that ends its call at the trailers (or at its end, or when dropped).
    pub struct TracedBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }
}

impl<B> std::fmt::Debug for TracedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedBody").finish_non_exhaustive()
    }
}

impl<B: Body> Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let code = match &frame {
            Some(Ok(frame)) => frame
                .trailers_ref()
                .map(|trailers| status_of(trailers).unwrap_or(UNKNOWN)),
            // A body that fails, or ends without trailers, never said how the call went.
            Some(Err(_)) | None => Some(UNKNOWN),
        };
        if let Some(code) = code {
            if let Some(mut call) = this.call.take() {
                call.finish(code);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
