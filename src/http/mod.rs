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
//! # What a request produces
//!
//! - A server span named `{METHOD} {route}` with the route template from axum's
//!   `MatchedPath` (`GET /items/{id}`), or just `{METHOD}` when no route matched — never the
//!   raw path. It joins the caller's trace from `traceparent`/`tracestate`/`baggage`; a
//!   malformed header starts a new trace. Attributes: `http.request.method` (`_OTHER` plus
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
//! # Outgoing requests
//!
//! [`client_layer`] wraps an HTTP client service (hyper-util's `Client`, or anything that is a
//! Tower `Service<http::Request<B>>`) so that each call makes a client span, records
//! `http.client.request.duration` and carries the trace on; [`inject_context`] does the
//! propagation part for any `http::HeaderMap` (reqwest's included).

mod attributes;
mod client;
mod instruments;
mod server;

use std::sync::{Arc, OnceLock};

use http::HeaderValue;
use opentelemetry::metrics::Meter;
use opentelemetry::trace::{SpanContext, TracerProvider as _};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

pub use attributes::{redact_query, valid_traceparent, SENSITIVE_QUERY_KEYS};
pub use client::{client_layer, ClientLayer, ClientResponseFuture, OtelClient};
pub use server::{Otel, OtelLayer, ResponseFuture, ResponseTraceHeader, DEFAULT_EXCLUDED_PATHS};

#[cfg(feature = "_fuzz")]
pub(crate) mod attributes_for_fuzzing {
    pub(crate) fn valid_request_id(value: &[u8]) -> bool {
        super::attributes::valid_request_id(value)
    }

    pub(crate) fn forwarded(value: &[u8]) {
        let Ok(value) = http::HeaderValue::from_bytes(value) else {
            return;
        };
        let mut headers = http::HeaderMap::new();
        for name in ["forwarded", "x-forwarded-for", "x-forwarded-proto"] {
            headers.insert(name, value.clone());
        }
        if let Some(addr) = super::attributes::forwarded_client(&headers) {
            assert!(addr.len() <= 256);
        }
        let _ = super::attributes::scheme(None, &headers);
    }
}

/// The request-id header, read from requests and written to responses.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The server layer with its defaults; see [`OtelLayer`] to adjust it.
pub fn layer() -> OtelLayer {
    OtelLayer::new()
}

/// The id of the request being handled, kept in the OpenTelemetry context so that every log
/// line written while handling it carries `request_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub(crate) Arc<str>);

/// What the server layer keeps in the OpenTelemetry context of a request, for its log lines.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    pub(crate) id: RequestId,
    /// The server span's name (`GET /items/{id}`), the `span` of lines logged outside any
    /// `tracing` span.
    pub(crate) span_name: std::borrow::Cow<'static, str>,
}

impl RequestId {
    /// The request id of the request handled on this task, if any.
    pub fn current() -> Option<Self> {
        opentelemetry::Context::map_current(|cx| cx.get::<HttpRequest>().map(|r| r.id.clone()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes the current trace context (the active span, its trace state and the baggage) into
/// `headers` with the propagators `init_telemetry` installed: call it on any outgoing request,
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
    inject_context_from(&cx, headers);
}

pub(crate) fn inject_context_from(cx: &opentelemetry::Context, headers: &mut http::HeaderMap) {
    crate::propagation::current()
        .inject_context(cx, &mut opentelemetry_http::HeaderInjector(headers));
}

static INSTALLED_TRACER: OnceLock<SdkTracer> = OnceLock::new();
static INSTALLED_METER: OnceLock<Meter> = OnceLock::new();

/// Called by `init_telemetry`: the pipelines the layers use by default.
pub(crate) fn install(
    tracer: &SdkTracerProvider,
    meter: Option<&opentelemetry_sdk::metrics::SdkMeterProvider>,
) {
    let _ = INSTALLED_TRACER.set(scoped_tracer(tracer));
    if let Some(meter) = meter {
        use opentelemetry::metrics::MeterProvider as _;
        let _ = INSTALLED_METER.set(meter.meter(crate::metrics::SCOPE));
    }
}

pub(crate) fn scoped_tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer_with_scope(
        opentelemetry::InstrumentationScope::builder(crate::metrics::SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    )
}

/// The tracer `init_telemetry` installed, if it has run.
pub(crate) fn installed_tracer() -> Option<SdkTracer> {
    INSTALLED_TRACER.get().cloned()
}

/// A tracer that records nothing, for requests served before `init_telemetry`.
pub(crate) fn noop_tracer() -> SdkTracer {
    static NOOP: OnceLock<SdkTracer> = OnceLock::new();
    NOOP.get_or_init(|| {
        let noop = SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff)
            .build();
        scoped_tracer(&noop)
    })
    .clone()
}

/// What a layer takes from `init_telemetry` (tracer, meter, propagators): kept in `cell` once
/// installed; before that a stand-in, held in `slot` for one request only, so that a layer
/// which serves before `init_telemetry` uses what it installs from then on.
pub(crate) fn from_init<'a, T>(
    cell: &'a OnceLock<T>,
    slot: &'a mut Option<T>,
    installed: impl FnOnce() -> Option<T>,
    stand_in: impl FnOnce() -> T,
) -> &'a T {
    if let Some(value) = cell.get() {
        return value;
    }
    match installed() {
        Some(value) => cell.get_or_init(|| value),
        None => slot.insert(stand_in()),
    }
}

/// The meter `init_telemetry` installed, if metrics are on.
pub(crate) fn installed_meter() -> Option<Meter> {
    INSTALLED_METER.get().cloned()
}

/// `00-<trace id>-<span id>-<flags>` for a response or request header.
pub(crate) fn traceparent(sc: &SpanContext) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 55];
    out[..3].copy_from_slice(b"00-");
    let mut i = 3;
    for b in sc.trace_id().to_bytes() {
        out[i] = HEX[usize::from(b >> 4)];
        out[i + 1] = HEX[usize::from(b & 0xf)];
        i += 2;
    }
    out[i] = b'-';
    i += 1;
    for b in sc.span_id().to_bytes() {
        out[i] = HEX[usize::from(b >> 4)];
        out[i + 1] = HEX[usize::from(b & 0xf)];
        i += 2;
    }
    out[i] = b'-';
    let flags = sc.trace_flags().to_u8();
    out[i + 1] = HEX[usize::from(flags >> 4)];
    out[i + 2] = HEX[usize::from(flags & 0xf)];
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}
