//! Entry points for the fuzz targets in `fuzz/` (cargo feature `_fuzz`): each feeds outside
//! input to one parser the crate applies to requests or to the environment. Not a stable API.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TraceContextExt as _;

/// The `traceparent` parser, then extraction through the crate's propagator: whatever the
/// parser accepts becomes the remote parent, with the same ids. Returns whether it did.
pub fn traceparent(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    let parsed = crate::propagation::parse_traceparent(text);
    let carrier = HashMap::from([("traceparent".to_owned(), text.to_owned())]);
    let cx = crate::propagation::TraceContext.extract(&carrier);
    let sc = cx.span().span_context().clone();
    assert_eq!(
        parsed.map(|p| (p.trace_id, p.span_id)),
        sc.is_valid().then(|| (sc.trace_id(), sc.span_id())),
        "the parser and the propagator agree on {text:?}"
    );
    sc.is_valid()
}

/// `tracestate` with a valid `traceparent`, through the installed propagators.
pub fn tracestate(value: &str) {
    let carrier = HashMap::from([
        (
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        ),
        ("tracestate".to_owned(), value.to_owned()),
    ]);
    let _ = crate::installed::propagator().extract(&carrier);
}

/// `baggage`, through the installed propagators.
pub fn baggage(value: &str) {
    let carrier = HashMap::from([("baggage".to_owned(), value.to_owned())]);
    let _ = crate::installed::propagator().extract(&carrier);
}

/// The `x-request-id` check.
pub fn request_id(value: &[u8]) -> bool {
    crate::http::headers::valid_request_id(value)
}

/// `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto`: the client address and scheme.
pub fn forwarded(value: &[u8]) {
    use crate::http::headers;
    let Ok(value) = http::HeaderValue::from_bytes(value) else {
        return;
    };
    let mut map = http::HeaderMap::new();
    for name in ["forwarded", "x-forwarded-for", "x-forwarded-proto"] {
        map.insert(name, value.clone());
    }
    if let Some(addr) = headers::forwarded_client(&map) {
        assert!(addr.len() <= 256);
    }
    let _ = headers::scheme(None, &map);
}

/// The query-string redaction.
pub fn query(value: &str) {
    if let Some(out) = crate::http::headers::redact_query(value) {
        assert!(out.len() <= 1024 + 16, "redacted query is bounded");
    }
}

/// Every environment parser: `input` is read as `NAME=value` lines.
pub fn environment(input: &str) {
    let vars = input
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    if let Ok(config) = crate::config::TelemetryConfig::from_vars(vars) {
        if let Ok(effective) = config.effective() {
            let _ = (effective.traces_endpoint(), effective.metrics_endpoint());
        }
    }
}

/// `OTEL_RESOURCE_ATTRIBUTES` alone.
pub fn resource_attributes(value: &str) {
    let _ = crate::config::TelemetryConfig::from_vars([("OTEL_RESOURCE_ATTRIBUTES", value)]);
}

/// `OTEL_EXPORTER_OTLP_HEADERS` alone.
pub fn otlp_headers(value: &str) {
    let _ = crate::config::TelemetryConfig::from_vars([("OTEL_EXPORTER_OTLP_HEADERS", value)]);
}

/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (split at the first newline), then
/// `OTEL_SAMPLING_RATE`.
pub fn sampler(input: &str) {
    let (name, arg) = input.split_once('\n').unwrap_or((input, ""));
    let _ = crate::config::TelemetryConfig::from_vars([
        ("OTEL_TRACES_SAMPLER", name),
        ("OTEL_TRACES_SAMPLER_ARG", arg),
    ]);
    let _ = crate::config::TelemetryConfig::from_vars([("OTEL_SAMPLING_RATE", input)]);
}
