//! The per-request context: what the HTTP server layer puts into the OpenTelemetry context of
//! a request, and what the log formatter reads back from it.

use std::borrow::Cow;

/// The id of the request being handled, kept in the OpenTelemetry context so that every log
/// line written while handling it carries `request_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub(crate) http::HeaderValue);

impl RequestId {
    /// The request id of the request handled on this task, if any.
    #[must_use]
    pub fn current() -> Option<Self> {
        opentelemetry::Context::map_current(|cx| cx.get::<RequestContext>().map(|r| r.id.clone()))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Visible ASCII only: checked on the way in, or generated.
        self.0.to_str().unwrap_or_default()
    }
}

/// What the server layer keeps in the OpenTelemetry context of a request, for its log lines.
#[derive(Debug)]
pub(crate) struct RequestContext {
    pub(crate) id: RequestId,
    /// The server span's name (`GET /items/{id}`), the `span` of lines logged outside any
    /// `tracing` span.
    pub(crate) span_name: Cow<'static, str>,
}

/// The request-id header, read from requests, written to responses and forwarded.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// Writes the request id of `cx` (the request being handled) as `x-request-id` into outgoing
/// request headers, unless they already carry one: one id follows a call chain through every
/// service's logs, as the trace id does.
pub(crate) fn forward_request_id(cx: &opentelemetry::Context, headers: &mut http::HeaderMap) {
    const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static(REQUEST_ID_HEADER);
    if headers.contains_key(X_REQUEST_ID) {
        return;
    }
    let Some(request) = cx.get::<RequestContext>() else {
        return;
    };
    // Checked as visible ASCII by the server layer, or generated there.
    headers.insert(X_REQUEST_ID, request.id.0.clone());
}

/// A random (version 4) UUID, its 122 random bits drawn from the OpenTelemetry SDK's
/// per-thread generator, the one trace ids come from (a seeded `SmallRng`). The server layer
/// makes one per request without an `x-request-id`: measured with `scripts/bench.sh`
/// (callgrind), a draw costs about 40 instructions here against about 340 from `rand`'s
/// `ChaCha` thread generator.
pub(crate) fn random_uuid() -> uuid::Uuid {
    use opentelemetry_sdk::trace::IdGenerator as _;
    let bits = opentelemetry_sdk::trace::RandomIdGenerator::default().new_trace_id();
    uuid::Builder::from_random_bytes(bits.to_bytes()).into_uuid()
}

/// The parent of a span the crate starts for the caller (a model call, an outgoing gRPC call):
/// the current `tracing` span's context when there is one, else the current OpenTelemetry
/// context.
pub(crate) fn parent() -> opentelemetry::Context {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let span = tracing::Span::current();
    if span.is_none() {
        opentelemetry::Context::current()
    } else {
        span.context()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_request_ids_are_distinct_version_4_uuids() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = super::random_uuid();
            assert_eq!(id.get_version(), Some(uuid::Version::Random), "{id}");
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert!(seen.insert(id), "drawn twice: {id}");
        }
        // Drawn on another thread, from that thread's generator: still distinct.
        let other =
            std::thread::spawn(|| (0..1_000).map(|_| super::random_uuid()).collect::<Vec<_>>())
                .join()
                .unwrap();
        assert!(other.iter().all(|id| seen.insert(*id)));
    }
}
