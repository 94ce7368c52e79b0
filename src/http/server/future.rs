//! [`ResponseFuture`]: what happens when the response is ready (or the handler panics).

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use http::{HeaderValue, Response, StatusCode};
use opentelemetry::trace::{SpanRef, Status, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semconv;
use tracing::Level;

use super::settings::ResponseTraceHeader;
use crate::http::headers;
use crate::http::instruments::Instruments;
use crate::http::semconv::{self as attrs, ServerRequest};

/// What a traced request carries from its start to its response.
pub(crate) struct RequestState {
    pub(crate) cx: Context,
    pub(crate) start: Instant,
    pub(crate) request: ServerRequest,
    pub(crate) request_id: HeaderValue,
    pub(crate) instruments: Option<Instruments>,
    pub(crate) response_header: ResponseTraceHeader,
    pub(crate) access_log: Option<(Level, Level)>,
}

pin_project_lite::pin_project! {
    /// The response future of [`Otel`](super::Otel).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        state: Option<RequestState>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn untraced(inner: F) -> Self {
        Self { inner, state: None }
    }

    pub(crate) fn traced(inner: F, state: RequestState) -> Self {
        Self {
            inner,
            state: Some(state),
        }
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
        let Some(state) = this.state.take() else {
            // Not traced: only turn a panic into a 500.
            return match catch_unwind(AssertUnwindSafe(|| this.inner.poll(task))) {
                Ok(poll) => poll,
                Err(_) => Poll::Ready(Ok(internal_error())),
            };
        };
        let attached = state.cx.clone().attach();
        let outcome = match catch_unwind(AssertUnwindSafe(|| this.inner.poll(task))) {
            Ok(Poll::Pending) => {
                drop(attached);
                *this.state = Some(state);
                return Poll::Pending;
            }
            Ok(Poll::Ready(result)) => result.map_err(Failure::Service),
            Err(payload) => Err(Failure::Panic(panic_message(&payload))),
        };
        let result = state.finish(outcome);
        drop(attached);
        Poll::Ready(result)
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

/// How a request ended: the result for the caller, its status and its `error.type`.
struct Outcome<B, E> {
    result: Result<Response<B>, E>,
    status: Option<StatusCode>,
    error_type: Option<String>,
}

impl RequestState {
    fn finish<B: Default, E: fmt::Display>(
        self,
        outcome: Result<Response<B>, Failure<E>>,
    ) -> Result<Response<B>, E> {
        let duration = self.start.elapsed();
        let span = self.cx.span();
        let mut outcome = classify(&span, outcome);
        if let Some(status) = outcome.status {
            span.set_attribute(attrs::status_code(status));
            if status.is_server_error() {
                span.set_status(Status::error(""));
            }
        }
        if let Some(error) = &outcome.error_type {
            span.set_attribute(attrs::error(error.clone()));
        }
        span.end();
        if let Some(instruments) = &self.instruments {
            instruments.duration.record(
                duration.as_secs_f64(),
                &self.request,
                outcome.status,
                outcome.error_type.as_deref(),
                span.span_context(),
            );
            instruments
                .active
                .add(self.request.method, self.request.scheme, -1);
        }
        if let Some(levels) = self.access_log {
            access_log(
                levels,
                &self.request,
                outcome.status,
                duration.as_secs_f64(),
            );
        }
        if let Ok(response) = &mut outcome.result {
            let headers = response.headers_mut();
            headers.insert(headers::X_REQUEST_ID.clone(), self.request_id);
            trace_header(self.response_header, &self.cx, headers);
        }
        outcome.result
    }
}

/// The status and error of an outcome; a panic becomes a 500 with an `exception` event.
fn classify<B: Default, E: fmt::Display>(
    span: &SpanRef<'_>,
    outcome: Result<Response<B>, Failure<E>>,
) -> Outcome<B, E> {
    match outcome {
        Ok(response) => {
            let status = response.status();
            Outcome {
                error_type: status
                    .is_server_error()
                    .then(|| status.as_u16().to_string()),
                status: Some(status),
                result: Ok(response),
            }
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
            Outcome {
                result: Ok(internal_error()),
                status: Some(StatusCode::INTERNAL_SERVER_ERROR),
                error_type: Some("500".to_owned()),
            }
        }
        Err(Failure::Service(e)) => {
            span.set_status(Status::error(e.to_string()));
            Outcome {
                result: Err(e),
                status: None,
                error_type: Some(attrs::error_type::<E>().to_owned()),
            }
        }
    }
}

/// The response header that returns the trace context.
fn trace_header(which: ResponseTraceHeader, cx: &Context, headers: &mut http::HeaderMap) {
    let span = cx.span();
    let sc = span.span_context();
    match which {
        ResponseTraceHeader::Traceparent if sc.is_valid() => {
            let flags = crate::propagation::outgoing_flags(cx, sc);
            headers.insert(
                headers::TRACEPARENT.clone(),
                headers::traceparent(sc, flags),
            );
        }
        ResponseTraceHeader::XTraceId if sc.is_valid() => {
            if let Ok(v) = HeaderValue::from_str(&sc.trace_id().to_string()) {
                headers.insert("x-trace-id", v);
            }
        }
        _ => {}
    }
}

/// One line per request; the trace id and request id come from the attached context.
fn access_log(
    (success, server_error): (Level, Level),
    request: &ServerRequest,
    status: Option<StatusCode>,
    seconds: f64,
) {
    let code = status.map(|s| s.as_u16());
    let level = if code.is_none_or(|c| c >= 500) {
        server_error
    } else {
        success
    };
    let method = request.method;
    let route = request.route.as_deref();
    // Microsecond precision: `0.286`, not `0.28563500000000003`.
    let duration_ms = (seconds * 1_000_000.0).round() / 1000.0;
    macro_rules! line {
        ($lvl:expr) => {
            tracing::event!(
                target: "octollm_telemetry::http",
                $lvl,
                http.request.method = method,
                http.route = route,
                http.response.status_code = code,
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
