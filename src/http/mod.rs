//! HTTP instrumentation for Axum and any Tower HTTP service: server spans and RED metrics that
//! follow the OpenTelemetry HTTP semantic conventions, W3C trace-context propagation in and
//! out, one access-log line per request.
//!
//! ```
//! use axum::{routing::get, Router};
//!
//! let app: Router = Router::new()
//!     .route("/items/{id}", get(|| async { "item" }))
//!     .layer(octollm_telemetry::http::layer());
//! ```
//!
//! Add the layer last: it traces what the router holds when `.layer()` is called, and a router
//! merged after it would replace the default 404 with an untraced one.
//!
//! # What a request produces
//!
//! - A server span named `{METHOD} {route}` with the route template from axum's
//!   `MatchedPath` (`GET /items/{id}`), or just `{METHOD}` when no route matched — never the
//!   raw path. It joins the caller's trace from `traceparent`/`tracestate`/`baggage`, read
//!   as W3C Trace Context Level 2 and W3C Baggage define them (every header of the name, in
//!   order); a malformed or repeated `traceparent` starts a new trace. Attributes: `http.request.method` (`_OTHER` plus
//!   `http.request.method_original` for non-standard methods), `http.route`, `url.path`,
//!   `url.scheme`, `url.query` (values of keys such as `token`, `password`, `secret`, `key`,
//!   `signature` replaced by `REDACTED`, see [`SENSITIVE_QUERY_KEYS`]), `server.address`,
//!   `server.port`, `network.protocol.version`, `user_agent.original`, `client.address` (first
//!   hop of `Forwarded`/`X-Forwarded-For`, else the peer address when axum's `ConnectInfo` is
//!   available), `http.request.header.x-request-id`, `http.response.status_code` (an integer)
//!   and `error.type`. Missing values are omitted. The status is error for 5xx and for service
//!   errors, unset for 4xx. No header value other than the user agent and the request id is
//!   recorded: `Authorization`, `Cookie` and the like never are.
//! - The metrics `http.server.request.duration` and `http.server.active_requests` (see
//!   [`crate::metrics`] for their Prometheus names).
//! - One access-log line when the response is ready (`info` below 500, `error` from 500), with
//!   method, route, status and duration; like every log line written while the request is
//!   handled it carries the request's `trace_id`, `span_id` and `request_id`.
//! - Response headers `x-request-id` (the incoming one when it is 1–128 visible ASCII
//!   characters, else a new UUID, also set on the request for the handler) and `traceparent`
//!   of the server span ([`ResponseTraceHeader`]).
//! - A panicking handler becomes a `500` with the span marked as an error and one error log
//!   line; the server keeps serving.
//!
//! Probes and scrapes ([`DEFAULT_EXCLUDED_PATHS`]) get neither span nor metric series; change
//! that with [`OtelLayer::filter`].
//!
//! Both layers follow what [`init_telemetry`](crate::init_telemetry) installed; for pipelines
//! built with [`TelemetryConfig::build`](crate::TelemetryConfig::build), give them the
//! providers and propagator of the [`Telemetry`](crate::Telemetry) value.
//!
//! # Outgoing requests
//!
//! [`client_layer`] wraps an HTTP client service (hyper-util's `Client`, or anything that is a
//! Tower `Service<http::Request<B>>`) so that each call makes a client span, records
//! `http.client.request.duration` and carries the trace on; [`inject_context`] does the
//! propagation part for any `http::HeaderMap` (reqwest's included).

/// `get_ref`, `get_mut` and `into_inner` of a service whose wrapped service is its `inner`
/// field, written once for the server and the client service.
macro_rules! inner_service_accessors {
    () => {
        /// The wrapped service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The wrapped service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// The wrapped service, unwrapped.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

mod client;
pub(crate) mod headers;
mod instruments;
mod names;
mod semconv;
mod server;

pub use crate::context::RequestId;
pub use client::{client_layer, ClientResponseFuture, OtelClient, OtelClientLayer};
pub use headers::SENSITIVE_QUERY_KEYS;
pub use server::{Otel, OtelLayer, ResponseFuture, ResponseTraceHeader, DEFAULT_EXCLUDED_PATHS};

/// The request-id header, read from requests and written to responses.
pub const REQUEST_ID_HEADER: &str = crate::context::REQUEST_ID_HEADER;

/// The server layer with its defaults; see [`OtelLayer`] to adjust it.
#[must_use]
pub fn layer() -> OtelLayer {
    OtelLayer::new()
}

/// Writes the current trace context (the active span, its trace state and the baggage) into
/// `headers` with the propagators `init_telemetry` installed, and the `x-request-id` of the
/// request being handled unless `headers` already has one: call it on any outgoing request,
/// for example one built with reqwest.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// octollm_telemetry::http::inject_context(&mut headers);
/// // Outside any span there is nothing to propagate.
/// assert!(headers.get("traceparent").is_none());
/// ```
pub fn inject_context(headers: &mut http::HeaderMap) {
    let cx = opentelemetry::Context::current();
    crate::propagation::inject(&*crate::installed::propagator(), &cx, headers);
    crate::context::forward_request_id(&cx, headers);
}
