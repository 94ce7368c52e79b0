//! What the exporters of every signal share: the checked headers, the `User-Agent`, and the
//! error of a build without the transport the plan asks for.

use crate::config::{OtlpSettings, Protocol};
use crate::error::BoxError;

/// The `User-Agent` of every export request: the exporter, its language and its version, as
/// the OTLP exporter specification asks (on gRPC, tonic appends its own token).
#[cfg(feature = "_otlp")]
pub(crate) const USER_AGENT: &str =
    concat!("OctoLLM-OTLP-Exporter-Rust/", env!("CARGO_PKG_VERSION"));

/// Why OTLP export cannot work in this build, when a transport feature is missing.
pub(crate) fn missing_feature(settings: &OtlpSettings) -> BoxError {
    if cfg!(not(feature = "_otlp")) {
        return "OTLP export needs the `grpc` or `http-proto` cargo feature of \
                octollm-telemetry; enable one, or choose another exporter \
                (OTEL_TRACES_EXPORTER=console|none, OTEL_METRICS_EXPORTER=prometheus|none, \
                OTEL_LOGS_EXPORTER=console|none)"
            .into();
    }
    match settings.protocol {
        Protocol::Grpc => "OTLP/gRPC needs the `grpc` cargo feature of octollm-telemetry; enable \
                           it or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"
            .into(),
        Protocol::HttpProtobuf => "OTLP/HTTP needs the `http-proto` cargo feature of \
                                   octollm-telemetry; enable it or set \
                                   OTEL_EXPORTER_OTLP_PROTOCOL=grpc"
            .into(),
    }
}

/// The headers of `OTEL_EXPORTER_OTLP_*HEADERS` (or code), checked. (They were checked when
/// the configuration was read; an error here names the header, never its value.)
#[cfg(feature = "_otlp")]
pub(crate) fn header_map(settings: &OtlpSettings) -> Result<::http::HeaderMap, BoxError> {
    let mut headers = ::http::HeaderMap::new();
    for (k, v) in settings.headers.iter() {
        let name = ::http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("the OTLP header name {k:?} is not an HTTP header name"))?;
        let value = ::http::HeaderValue::from_str(v)
            .map_err(|_| format!("the value of the OTLP header {k:?} is not printable ASCII"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}
