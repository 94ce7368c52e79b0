//! OTLP settings of one signal (traces or metrics), resolved with the spec's rules: the
//! signal-specific variable wins over the generic one.

use std::time::Duration;

use super::parse::{self, Vars};
use super::vars::*;
use super::{Compression, Protocol};
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

/// The resolved OTLP settings of one signal.
#[derive(Debug, Clone)]
pub(crate) struct OtlpSignal {
    pub(crate) names: &'static SignalVars,
    pub(crate) protocol: Protocol,
    /// The signal-specific endpoint, used as it is.
    pub(crate) endpoint: Option<(String, &'static str)>,
    pub(crate) insecure: bool,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) compression: Compression,
}

impl OtlpSignal {
    pub(crate) fn from_vars(
        vars: &Vars<'_>,
        names: &'static SignalVars,
    ) -> Result<Self, ConfigError> {
        let protocol = match vars.first(&[names.protocol, OTEL_EXPORTER_OTLP_PROTOCOL])? {
            Some((name, v)) => parse::one_of(
                name,
                &v,
                &[
                    ("grpc", Protocol::Grpc),
                    ("http/protobuf", Protocol::HttpProtobuf),
                ],
            )?,
            None => Protocol::default(),
        };
        let endpoint = vars.get(names.endpoint)?.map(|v| (v, names.endpoint));
        let insecure = match vars.first(&[names.insecure, OTEL_EXPORTER_OTLP_INSECURE])? {
            Some((name, v)) => parse::boolean(name, &v)?,
            None => false,
        };
        let headers = match vars.first(&[names.headers, OTEL_EXPORTER_OTLP_HEADERS])? {
            Some((name, v)) => parse_headers(name, &v)?,
            None => Vec::new(),
        };
        let timeout = match vars.first(&[names.timeout, OTEL_EXPORTER_OTLP_TIMEOUT])? {
            Some((name, v)) => parse::millis(name, &v)?,
            None => Duration::from_millis(10_000),
        };
        let compression = match vars.first(&[names.compression, OTEL_EXPORTER_OTLP_COMPRESSION])? {
            Some((name, v)) => parse::one_of(
                name,
                &v,
                &[("gzip", Compression::Gzip), ("none", Compression::None)],
            )?,
            None => Compression::None,
        };
        Ok(Self {
            names,
            protocol,
            endpoint,
            insecure,
            headers,
            timeout,
            compression,
        })
    }

    /// The URL to export to: the signal's endpoint as it is, else the generic base endpoint
    /// (+ the signal path for HTTP), else the protocol's default. A gRPC endpoint without a
    /// scheme is `https://` unless insecure.
    pub(crate) fn url(
        &self,
        generic: Option<&(String, &'static str)>,
    ) -> Result<String, ConfigError> {
        let (raw, given, source) = match (&self.endpoint, generic) {
            (Some((url, source)), _) => (url.clone(), url, *source),
            (None, Some((base, source))) => match self.protocol {
                Protocol::Grpc => (base.clone(), base, *source),
                Protocol::HttpProtobuf => (
                    format!("{}{}", base.trim_end_matches('/'), self.names.path),
                    base,
                    *source,
                ),
            },
            (None, None) => {
                return Ok(match self.protocol {
                    Protocol::Grpc => "http://localhost:4317".to_owned(),
                    Protocol::HttpProtobuf => format!("http://localhost:4318{}", self.names.path),
                })
            }
        };
        let has_scheme = raw.starts_with("http://") || raw.starts_with("https://");
        let url = match (has_scheme, self.protocol) {
            (true, _) => raw.clone(),
            (false, Protocol::Grpc) if !raw.contains("://") => {
                let scheme = if self.insecure { "http" } else { "https" };
                format!("{scheme}://{raw}")
            }
            _ => String::new(),
        };
        match url.parse::<http::Uri>() {
            Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(url),
            _ => Err(ConfigError::new(
                source,
                given.as_str(),
                "an http:// or https:// URL with a host (e.g. http://otel-collector:4317)",
            )),
        }
    }
}

fn parse_headers(name: &str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
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
