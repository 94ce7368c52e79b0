//! The OTLP slice of the plan: per-signal variable names, the specification's endpoint rules,
//! and the resolved settings an exporter is built from.

use std::time::Duration;

use super::parse;
use super::settings::{SignalSettings, Sourced};
use super::values::{Compression, Protocol};
use super::vars::{
    OTEL_EXPORTER_OTLP_COMPRESSION_DEFAULT, OTEL_EXPORTER_OTLP_GRPC_ENDPOINT_DEFAULT,
    OTEL_EXPORTER_OTLP_HTTP_ENDPOINT_DEFAULT, OTEL_EXPORTER_OTLP_INSECURE_DEFAULT,
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS, OTEL_EXPORTER_OTLP_METRICS_INSECURE,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_EXPORTER_OTLP_PROTOCOL_DEFAULT, OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS, OTEL_EXPORTER_OTLP_TRACES_INSECURE,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
};
use crate::error::ConfigError;

/// The variable names of one signal.
#[derive(Debug)]
pub(crate) struct SignalVars {
    pub(crate) endpoint: &'static str,
    pub(crate) protocol: &'static str,
    pub(crate) headers: &'static str,
    pub(crate) timeout: &'static str,
    pub(crate) compression: &'static str,
    pub(crate) insecure: &'static str,
    /// Appended to the generic endpoint for HTTP.
    pub(crate) path: &'static str,
}

pub(crate) static TRACES: SignalVars = SignalVars {
    endpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    protocol: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    headers: OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    timeout: OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    compression: OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    insecure: OTEL_EXPORTER_OTLP_TRACES_INSECURE,
    path: "/v1/traces",
};

pub(crate) static METRICS: SignalVars = SignalVars {
    endpoint: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    protocol: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    headers: OTEL_EXPORTER_OTLP_METRICS_HEADERS,
    timeout: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    compression: OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
    insecure: OTEL_EXPORTER_OTLP_METRICS_INSECURE,
    path: "/v1/metrics",
};

/// What an OTLP exporter of one signal is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OtlpSettings {
    pub(crate) protocol: Protocol,
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
}

impl OtlpSettings {
    /// Merges what code and the environment said about one signal. A base endpoint set in
    /// code wins over both endpoints of the environment.
    pub(crate) fn resolve(
        names: &SignalVars,
        env: &SignalSettings,
        code: &SignalSettings,
        env_base: Option<&Sourced<String>>,
        code_base: Option<&Sourced<String>>,
    ) -> Result<Self, ConfigError> {
        let protocol = code
            .protocol
            .or(env.protocol)
            .unwrap_or(OTEL_EXPORTER_OTLP_PROTOCOL_DEFAULT);
        let insecure = code
            .insecure
            .or(env.insecure)
            .unwrap_or(OTEL_EXPORTER_OTLP_INSECURE_DEFAULT);
        let endpoint = match code_base {
            Some(base) => Endpoint::Base(base),
            None => match (&env.endpoint, env_base) {
                (Some(full), _) => Endpoint::Full(full),
                (None, Some(base)) => Endpoint::Base(base),
                (None, None) => Endpoint::Default,
            },
        };
        Ok(Self {
            protocol,
            endpoint: url(&endpoint, protocol, insecure, names.path)?,
            headers: code
                .headers
                .clone()
                .or_else(|| env.headers.clone())
                .unwrap_or_default(),
            timeout: code
                .timeout
                .or(env.timeout)
                .unwrap_or(OTEL_EXPORTER_OTLP_TIMEOUT_DEFAULT),
            compression: code
                .compression
                .or(env.compression)
                .unwrap_or(OTEL_EXPORTER_OTLP_COMPRESSION_DEFAULT),
        })
    }
}

enum Endpoint<'a> {
    /// A signal's own endpoint, used as it is.
    Full(&'a Sourced<String>),
    /// A base endpoint; HTTP appends the signal's path.
    Base(&'a Sourced<String>),
    Default,
}

/// The URL to export to, following the specification. A gRPC endpoint without a scheme is
/// `https://` unless insecure.
fn url(
    endpoint: &Endpoint<'_>,
    protocol: Protocol,
    insecure: bool,
    path: &str,
) -> Result<String, ConfigError> {
    let (raw, given) = match endpoint {
        Endpoint::Full(full) => (full.value.clone(), *full),
        Endpoint::Base(base) => match protocol {
            Protocol::Grpc => (base.value.clone(), *base),
            Protocol::HttpProtobuf => {
                (format!("{}{path}", base.value.trim_end_matches('/')), *base)
            }
        },
        Endpoint::Default => {
            return Ok(match protocol {
                Protocol::Grpc => OTEL_EXPORTER_OTLP_GRPC_ENDPOINT_DEFAULT.to_owned(),
                Protocol::HttpProtobuf => {
                    format!("{OTEL_EXPORTER_OTLP_HTTP_ENDPOINT_DEFAULT}{path}")
                }
            })
        }
    };
    let has_scheme = raw.starts_with("http://") || raw.starts_with("https://");
    let url = match (has_scheme, protocol) {
        (true, _) => raw,
        (false, Protocol::Grpc) if !raw.contains("://") => {
            let scheme = if insecure { "http" } else { "https" };
            format!("{scheme}://{raw}")
        }
        _ => String::new(),
    };
    match url.parse::<http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(url),
        _ => Err(ConfigError::new(
            given.from,
            given.value.as_str(),
            "an http:// URL with a host (e.g. http://otel-collector:4317)",
        )),
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: a `key=value` list of HTTP header names and values.
pub(crate) fn parse_headers(name: &str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let headers = parse::key_value_list(name, value)?;
    for (k, v) in &headers {
        let ok = http::HeaderName::from_bytes(k.as_bytes()).is_ok()
            && http::HeaderValue::from_str(v).is_ok();
        if !ok {
            return Err(ConfigError::new(
                name,
                value,
                "key=value pairs whose keys are HTTP header names and values printable ASCII",
            ));
        }
    }
    Ok(headers)
}
